/* The peer: PostgreSQL holding the classic event-store design, driven by
 * pgbench custom scripts.
 *
 *   events   (seq bigserial, stream_id, stream_version, unique (stream_id,
 *            stream_version), type, payload bytea, recorded_at)
 *   payments the projection row, written in the same transaction
 *
 * postgres:       per transaction one command, as kasboek_single: record a
 *                 new payment (1 event + insert of its row) or, 1 in 10,
 *                 refund one of the client's earlier payments (lock and
 *                 update its row, 2 events, as kasboek writes for a card
 *                 refund). ops_per_s = transactions/s = commands/s.
 * postgres_batch: per transaction pg_batch new payments (set-based inserts
 *                 of the events and the rows). ops_per_s = events/s.
 * Payloads have the size of kasboek's packed events. Latencies come from
 * pgbench's per-transaction log (-l). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg.h"

#define KBB_REFUND_CREATED_BYTES 112 /* kasboek's packed RefundCreated Event */
#define KBB_REFUND_SETTLED_BYTES 90
#define KBB_SCRIPT_BYTES_MAX     16384
#define KBB_PGBENCH_GRACE_MS     60000 /* connection set-up and shutdown */

static const char schema_sql[] =
    "DROP TABLE IF EXISTS events, payments;\n"
    "CREATE TABLE events (\n"
    "  seq bigserial PRIMARY KEY,\n"
    "  stream_id text NOT NULL,\n"
    "  stream_version bigint NOT NULL,\n"
    "  type text NOT NULL,\n"
    "  payload bytea NOT NULL,\n"
    "  recorded_at timestamptz NOT NULL DEFAULT now(),\n"
    "  UNIQUE (stream_id, stream_version));\n"
    "CREATE TABLE payments (\n"
    "  payment_id text PRIMARY KEY,\n"
    "  version bigint NOT NULL,\n"
    "  status smallint NOT NULL,\n"
    "  amount bigint NOT NULL,\n"
    "  refunded bigint NOT NULL,\n"
    "  currency text NOT NULL,\n"
    "  updated_at timestamptz NOT NULL);\n";

static const char reset_sql[] = "TRUNCATE events, payments RESTART IDENTITY;\nCHECKPOINT;\n";

#define PID_R "'p' || :client_id::text || '_' || :r::text"
#define PID_N "'p' || :client_id::text || '_' || :pn::text"
#define PID_B "'q' || :client_id::text || '_' || (:b::bigint * 100000 + g)::text"
#define UPSERT_TAIL                                                        \
    " ON CONFLICT (payment_id) DO UPDATE SET version = EXCLUDED.version, " \
    "status = EXCLUDED.status, amount = EXCLUDED.amount, updated_at = EXCLUDED.updated_at;\n"

static const char single_fmt[] =
    "\\if :pn > 0 and random(1, 10) = 1\n"
    "\\set r random(1, :pn)\n"
    "BEGIN;\n"
    "UPDATE payments SET version = version + 2, refunded = refunded + 100, status = 4, "
    "updated_at = now() WHERE payment_id = " PID_R
    " RETURNING version AS v \\gset\n"
    "INSERT INTO events (stream_id, stream_version, type, payload) VALUES "
    "(" PID_R
    ", :v::bigint - 1, 'RefundCreated', '%s'::bytea), "
    "(" PID_R
    ", :v::bigint, 'RefundSettled', '%s'::bytea);\n"
    "END;\n"
    "\\else\n"
    "\\set pn :pn + 1\n"
    "BEGIN;\n"
    "INSERT INTO events (stream_id, stream_version, type, payload) VALUES "
    "(" PID_N
    ", 1, 'PaymentRecorded', '%s'::bytea);\n"
    "INSERT INTO payments (payment_id, version, status, amount, refunded, currency, updated_at) "
    "VALUES (" PID_N ", 1, 2, 10000, 0, 'EUR', now())" UPSERT_TAIL
    "END;\n"
    "\\endif\n";

static const char batch_fmt[] =
    "\\set b :b + 1\n"
    "BEGIN;\n"
    "INSERT INTO events (stream_id, stream_version, type, payload) "
    "SELECT " PID_B
    ", 1, 'PaymentRecorded', '%s'::bytea FROM generate_series(1, %u) AS g;\n"
    "INSERT INTO payments (payment_id, version, status, amount, refunded, currency, updated_at) "
    "SELECT " PID_B ", 1, 2, 10000, 0, 'EUR', now() FROM generate_series(1, %u) AS g" UPSERT_TAIL
    "END;\n";

/* '\x…' bytea literal of n pseudo-random bytes, in buf. */
static void hex_literal(char *buf, size_t cap, size_t n, unsigned seed) {
    static const char digits[] = "0123456789abcdef";
    size_t len = 2 + 2 * n < cap ? n : (cap - 3) / 2;
    buf[0] = '\\';
    buf[1] = 'x';
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[2 + 2 * i] = digits[(x >> 16) & 15];
        buf[3 + 2 * i] = digits[(x >> 20) & 15];
    }
    buf[2 + 2 * len] = 0;
}

static int write_scripts(const kbb_pg *pg, const kbb_config *cfg, const kbb_results *res) {
    char rec[2100], rc_[300], rs[300], path[KBB_PATH_BYTES_MAX + 32];
    char *text = malloc(KBB_SCRIPT_BYTES_MAX);
    if (!text) return -1;
    hex_literal(rec, sizeof rec, res->event_payload_bytes, 1);
    hex_literal(rc_, sizeof rc_, KBB_REFUND_CREATED_BYTES, 2);
    hex_literal(rs, sizeof rs, KBB_REFUND_SETTLED_BYTES, 3);
    int n = snprintf(text, KBB_SCRIPT_BYTES_MAX, single_fmt, rc_, rs, rec);
    snprintf(path, sizeof path, "%s/pg-single.sql", pg->tmp);
    int rc = n > 0 && n < KBB_SCRIPT_BYTES_MAX ? kbb_write_file(path, text) : -1;
    n = snprintf(text, KBB_SCRIPT_BYTES_MAX, batch_fmt, rec, cfg->pg_batch, cfg->pg_batch);
    snprintf(path, sizeof path, "%s/pg-batch.sql", pg->tmp);
    if (rc == 0) rc = n > 0 && n < KBB_SCRIPT_BYTES_MAX ? kbb_write_file(path, text) : -1;
    free(text);
    if (rc != 0) fprintf(stderr, "kasboek-bench: cannot write the pgbench scripts\n");
    return rc;
}

/* The figures pgbench prints at the end. */
typedef struct pgbench_out {
    double tps;
    unsigned long long processed, failed;
} pgbench_out;

static int parse_output(const char *path, pgbench_out *o) {
    char *buf = malloc(65536);
    if (!buf) return -1;
    memset(o, 0, sizeof *o);
    int rc = kbb_read_file(path, buf, 65536);
    const char *p = rc == 0 ? strstr(buf, "tps = ") : NULL;
    const char *q = rc == 0 ? strstr(buf, "actually processed: ") : NULL;
    const char *f = rc == 0 ? strstr(buf, "number of failed transactions: ") : NULL;
    if (!p || sscanf(p, "tps = %lf", &o->tps) != 1 || !q ||
        sscanf(q, "actually processed: %llu", &o->processed) != 1) {
        rc = -1;
    }
    if (f && sscanf(f, "number of failed transactions: %llu", &o->failed) != 1) rc = -1;
    free(buf);
    if (rc != 0) fprintf(stderr, "kasboek-bench: cannot read pgbench's figures in %s\n", path);
    return rc;
}

/* One log file: "client_id transaction_no time_us script_no epoch epoch_us". */
static int read_log_file(const char *path, kbb_latency *lat) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kasboek-bench: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned long long us;
        if (sscanf(line, "%*d %*d %llu", &us) == 1) kbb_latency_add(lat, us * 1000u);
    }
    fclose(f);
    return 0;
}

/* Reads and removes every per-thread log file named prefix.* in dir. */
static int read_logs(const char *dir, const char *prefix, kbb_latency *lat) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t plen = strlen(prefix);
    int rc = 0, files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0 || e->d_name[plen] != '.') continue;
        char path[KBB_PATH_BYTES_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (read_log_file(path, lat) != 0) rc = -1;
        if (unlink(path) != 0) rc = -1;
        files++;
    }
    closedir(d);
    return rc == 0 && files > 0 ? 0 : -1;
}

typedef struct pg_point {
    const char *name;   /* "single-16", "batch-100" */
    const char *script; /* "pg-single.sql" */
    uint32_t clients;
    uint32_t events_per_tx; /* ops per transaction in ops_per_s */
} pg_point;

static int pgbench_spawn(const kbb_pg *pg, const pg_point *pt, int secs, const char *out) {
    char bin[KBB_PATH_BYTES_MAX + 16], script[KBB_PATH_BYTES_MAX + 32];
    char prefix[KBB_PATH_BYTES_MAX + 64], c[16], j[16], t[16];
    snprintf(bin, sizeof bin, "%s/pgbench", pg->bin);
    snprintf(script, sizeof script, "%s/%s", pg->tmp, pt->script);
    snprintf(prefix, sizeof prefix, "--log-prefix=%s/pgb-%s", pg->tmp, pt->name);
    snprintf(c, sizeof c, "%u", pt->clients);
    snprintf(j, sizeof j, "%u", pt->clients < 2 ? 1u : 2u);
    snprintf(t, sizeof t, "%d", secs);
    const char *argv[] = {bin,  "-h",  pg->dir, "-U",   KBB_PG_USER, "-n",   "-M",       "prepared",
                          "-c", c,     "-j",    j,      "-T",        t,      "-D",       "pn=0",
                          "-D", "b=0", "-f",    script, "-l",        prefix, "postgres", NULL};
    kbb_spawn sp = {.argv = argv, .out_path = out, .stop_sig = SIGINT, .death_sig = SIGKILL};
    int rc = kbb_proc_run(&sp, secs * 1000 + KBB_PGBENCH_GRACE_MS, NULL);
    if (rc != 0) kbb_print_tail(out, 20);
    return rc;
}

static int pg_run_point(const kbb_config *cfg, const kbb_pg *pg, const pg_point *pt,
                        kbb_point *out) {
    int secs = (int)(cfg->point_s + 0.999);
    char outp[KBB_PATH_BYTES_MAX + 64], prefix[64];
    snprintf(outp, sizeof outp, "%s/pgbench-%s.out", pg->tmp, pt->name);
    snprintf(prefix, sizeof prefix, "pgb-%s", pt->name);
    if (kbb_pg_sql(pg, "pg-reset", reset_sql) != 0) return -1;
    if (pgbench_spawn(pg, pt, secs, outp) != 0) return -1;
    pgbench_out o;
    if (parse_output(outp, &o) != 0) return -1;
    if (o.failed) {
        fprintf(stderr, "kasboek-bench: pgbench: %llu failed transactions\n", o.failed);
        return -1;
    }
    kbb_latency lat;
    if (kbb_latency_init(&lat, o.processed + 1024) != 0) return -1;
    int rc = read_logs(pg->tmp, prefix, &lat);
    kbb_load_result lr = {.ops = o.processed * pt->events_per_tx,
                          .requests = o.processed,
                          .secs = o.tps > 0 ? (double)o.processed / o.tps : secs};
    kbb_latency_summary(&lat, &lr.p50_ms, &lr.p99_ms, &lr.p999_ms);
    kbb_latency_fini(&lat);
    if (rc != 0) {
        fprintf(stderr, "kasboek-bench: cannot read pgbench's transaction logs\n");
        return -1;
    }
    kbb_point_set(out, pt->events_per_tx > 1 ? pt->events_per_tx : pt->clients, pt->clients,
                  pt->events_per_tx, &lr);
    out->ops_per_s = o.tps * pt->events_per_tx;
    return 0;
}

int kbb_pgbench_modes(const kbb_config *cfg, const kbb_pg *pg, kbb_results *res) {
    if (write_scripts(pg, cfg, res) != 0 || kbb_pg_sql(pg, "pg-schema", schema_sql) != 0) {
        res->pg.failed = res->pg_batch.failed = true;
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < 4 && !kbb_interrupted; i++) {
        bool batch = i == 3;
        char name[32];
        pg_point pt = {.name = name,
                       .script = batch ? "pg-batch.sql" : "pg-single.sql",
                       .clients = batch ? cfg->batch_clients : cfg->clients[i],
                       .events_per_tx = batch ? cfg->pg_batch : 1};
        snprintf(name, sizeof name, "%s-%u", batch ? "batch" : "single",
                 batch ? cfg->pg_batch : pt.clients);
        kbb_series *sr = batch ? &res->pg_batch : &res->pg;
        fprintf(stderr, "kasboek-bench: %s, %u clients, %u events per transaction\n",
                batch ? "postgres_batch" : "postgres", pt.clients, pt.events_per_tx);
        if (pg_run_point(cfg, pg, &pt, &sr->pts[sr->n]) != 0) {
            sr->failed = true;
            rc = -1;
            continue;
        }
        sr->n++;
    }
    return rc;
}
