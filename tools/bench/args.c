/* Command line, defaults per mode (full/quick), and where the binaries
 * are: kasboekd and kasboek-audit next to this executable in the build
 * tree, PostgreSQL in Debian's /usr/lib/postgresql/NN/bin. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *f) {
    fputs(
        "usage: kasboek-bench [--quick] [--json FILE] [--check] [--allow-missing-postgres]\n"
        "                     [--seconds S] [--log-events N] [--modes LIST]\n"
        "                     [--kasboekd PATH] [--audit PATH] [--pg-bin DIR] [--tmpdir DIR]\n"
        "\n"
        "Measures, in one run: kasboek with one command per request (1, 16, 64\n"
        "clients) and with SubmitBatch (100, 1,000 commands per request); the\n"
        "ceilings (nng REQ/REP echo of the same message sizes, RocksDB synced\n"
        "WriteBatches of the same record size at batch 1, 100, 1,000); the peer\n"
        "(PostgreSQL as an event store, driven by pgbench, single and batched);\n"
        "kasboek-audit verify/replay and restart time on a 1,000,000-event log;\n"
        "bytes on disk per event and kasboekd's peak RSS. Prints a table per mode\n"
        "and the ratios between them.\n"
        "\n"
        "  --quick                  CI smoke: 1.5 s per point, 50,000-event log\n"
        "                           (under 2 minutes; the full run is under 15)\n"
        "  --json FILE              also write the figures as JSON\n"
        "  --check                  exit 1 unless every figure is present and non-zero\n"
        "  --allow-missing-postgres skip the postgres modes when PostgreSQL is not\n"
        "                           installed (otherwise that is an error)\n"
        "  --seconds S              seconds per measured point, 0.2-30 (full 15, quick 1.5)\n"
        "  --log-events N           events in the replay log, up to 2000000\n"
        "                           (full 1000000, quick 50000)\n"
        "  --modes LIST             comma list of single,batch,echo,rocksdb,postgres,\n"
        "                           replay (default: all; --check wants all)\n"
        "  --kasboekd PATH          default: ../server/kasboekd from this binary\n"
        "  --audit PATH             default: kasboek-audit beside this binary\n"
        "  --pg-bin DIR             default: the newest /usr/lib/postgresql/*/bin\n"
        "  --tmpdir DIR             where temp dirs go (default $TMPDIR or /tmp)\n"
        "\n"
        "Everything it starts (kasboekd, postgres) it stops, and every temp dir\n"
        "it makes it removes, also on errors and on SIGINT/SIGTERM. The whole run\n"
        "is bounded (quick 240 s, full 900 s): past that it winds down the same way.\n"
        "exit status: 0 ok, 1 a mode failed or --check found a gap, 2 usage.\n",
        f);
}

static void defaults(kbb_config *c, bool quick) {
    c->quick = quick;
    c->point_s = quick ? 1.5 : 15.0;
    c->payment_ids = 100000;
    c->batch_commands_max = quick ? 300000 : 3000000;
    c->batch_clients = 4;
    c->echo_requests_max = quick ? 300000 : 3000000;
    c->rocks_records_max = quick ? 600000 : 6000000;
    c->log_events = quick ? 50000 : 1000000;
    c->log_build_s_max = quick ? 60.0 : 300.0;
    const uint32_t clients[3] = {1, 16, 64}, sizes[2] = {100, 1000}, rb[3] = {1, 100, 1000};
    memcpy(c->clients, clients, sizeof clients);
    memcpy(c->batch_sizes, sizes, sizeof sizes);
    memcpy(c->rocks_batches, rb, sizeof rb);
    c->pg_batch = 100;
}

static int parse_modes(const char *list, unsigned *out) {
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        {"single", KBB_MODE_SINGLE}, {"batch", KBB_MODE_BATCH}, {"echo", KBB_MODE_ECHO},
        {"rocksdb", KBB_MODE_ROCKS}, {"postgres", KBB_MODE_PG}, {"replay", KBB_MODE_REPLAY},
    };
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *out = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strcmp(names[i].name, t) == 0) bit = names[i].bit;
        }
        if (!bit) {
            fprintf(stderr, "kasboek-bench: unknown mode '%s'\n", t);
            return -1;
        }
        *out |= bit;
    }
    return *out ? 0 : -1;
}

static int copy_path(const char *v, char *dst) {
    if (!v || !v[0] || strlen(v) >= KBB_PATH_BYTES_MAX) return -1;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int parse_number(const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = v ? strtod(v, &end) : 0;
    if (!v || errno || end == v || *end || d < lo || d > hi) return -1;
    *out = d;
    return 0;
}

/* Options with a value; 0, or -1 on a bad value. */
static int apply_value(kbb_config *c, const char *name, const char *v, double *secs, double *events,
                       const char **modes) {
    if (!strcmp(name, "--json")) return v && v[0] ? (c->json_path = v, 0) : -1;
    if (!strcmp(name, "--kasboekd")) return copy_path(v, c->kasboekd);
    if (!strcmp(name, "--audit")) return copy_path(v, c->audit);
    if (!strcmp(name, "--pg-bin")) return copy_path(v, c->pg_bin);
    if (!strcmp(name, "--tmpdir")) return copy_path(v, c->tmp_base);
    if (!strcmp(name, "--seconds")) return parse_number(v, 0.2, 30, secs);
    if (!strcmp(name, "--log-events")) return parse_number(v, 1000, 2e6, events);
    if (!strcmp(name, "--modes")) return v ? (*modes = v, 0) : -1;
    return -2;
}

static bool is_flag(const char *a) {
    return !strcmp(a, "--quick") || !strcmp(a, "--check") ||
           !strcmp(a, "--allow-missing-postgres") || !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* Paths relative to this executable: <build>/tools/kasboek-bench. */
static int locate_binaries(kbb_config *c) {
    char self[KBB_PATH_BYTES_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash) return -1;
    *slash = 0;
    if (!c->kasboekd[0])
        snprintf(c->kasboekd, sizeof c->kasboekd, "%.400s/../server/kasboekd", self);
    if (!c->audit[0]) snprintf(c->audit, sizeof c->audit, "%.400s/kasboek-audit", self);
    const char *need[] = {c->kasboekd, c->audit};
    for (int i = 0; i < 2; i++) {
        if (access(need[i], X_OK) != 0) {
            fprintf(stderr, "kasboek-bench: %s is not executable: %s (build it, or pass %s)\n",
                    need[i], strerror(errno), i ? "--audit" : "--kasboekd");
            return -1;
        }
    }
    return 0;
}

static bool pg_bin_ok(const char *dir) {
    static const char *const tools[] = {"initdb", "postgres", "psql", "pgbench"};
    char p[KBB_PATH_BYTES_MAX + 16];
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, tools[i]);
        if (access(p, X_OK) != 0) return false;
    }
    return true;
}

/* The newest /usr/lib/postgresql/NN/bin with every tool; "" if none. */
static void locate_pg(kbb_config *c) {
    if (c->pg_bin[0]) {
        if (!pg_bin_ok(c->pg_bin)) {
            fprintf(stderr, "kasboek-bench: --pg-bin %s lacks initdb, postgres, psql or pgbench\n",
                    c->pg_bin);
            c->pg_bin[0] = 0;
        }
        return;
    }
    glob_t g;
    if (glob("/usr/lib/postgresql/*/bin", 0, NULL, &g) != 0) return;
    long best = -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
        if (v > best && pg_bin_ok(g.gl_pathv[i]) && strlen(g.gl_pathv[i]) < KBB_PATH_BYTES_MAX) {
            best = v;
            snprintf(c->pg_bin, sizeof c->pg_bin, "%s", g.gl_pathv[i]);
        }
    }
    globfree(&g);
}

static int finish(kbb_config *c, double secs, double events, const char *modes) {
    if (secs > 0) c->point_s = secs;
    if (events > 0) c->log_events = (uint64_t)events;
    c->modes = KBB_MODE_ALL;
    if (modes && parse_modes(modes, &c->modes) != 0) return 2;
    if (!c->tmp_base[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(c->tmp_base, sizeof c->tmp_base, "%s", t && t[0] && strlen(t) < 200 ? t : "/tmp");
    }
    if (locate_binaries(c) != 0) return 2;
    locate_pg(c);
    return 0;
}

int kbb_args_parse(kbb_config *c, int argc, char **argv) {
    bool quick = false;
    for (int i = 1; i < argc; i++) quick |= strcmp(argv[i], "--quick") == 0;
    memset(c, 0, sizeof *c);
    defaults(c, quick);
    double secs = 0, events = 0;
    const char *modes = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (is_flag(a)) {
            c->check |= !strcmp(a, "--check");
            c->allow_missing_pg |= !strcmp(a, "--allow-missing-postgres");
            continue;
        }
        int rc = apply_value(c, a, i + 1 < argc ? argv[i + 1] : NULL, &secs, &events, &modes);
        if (rc != 0) {
            fprintf(stderr, "kasboek-bench: %s '%s' (see --help)\n",
                    rc == -2 ? "unknown option" : "bad or missing value for", a);
            return 2;
        }
        i++;
    }
    return finish(c, secs, events, modes);
}
