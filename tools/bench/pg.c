/* A throw-away PostgreSQL cluster (Debian's postgresql package). As root,
 * initdb and postgres run as the postgres user on a temp dir it owns;
 * psql and pgbench run as us and connect over the unix socket. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pg.h"

static int pg_paths(const kbb_config *cfg, const char *tmp, kbb_pg *pg) {
    memset(pg, 0, sizeof *pg);
    snprintf(pg->bin, sizeof pg->bin, "%s", cfg->pg_bin);
    snprintf(pg->tmp, sizeof pg->tmp, "%s", tmp);
    if (kbb_tempdir_make(cfg->tmp_base, "kasboek-bench-pg", pg->dir) != 0) return -1;
    int a = snprintf(pg->data, sizeof pg->data, "%s/data", pg->dir);
    int b = snprintf(pg->log_path, sizeof pg->log_path, "%s/postgres.log", pg->dir);
    if (a < 0 || b < 0 || (size_t)b >= sizeof pg->log_path || strlen(pg->dir) > 80) {
        fprintf(stderr, "kasboek-bench: PostgreSQL temp dir path too long\n");
        return -1;
    }
    uid_t uid;
    gid_t gid;
    if (kbb_postgres_ids(&uid, &gid) && chown(pg->dir, uid, gid) != 0) {
        fprintf(stderr, "kasboek-bench: chown %s: %s\n", pg->dir, strerror(errno));
        return -1;
    }
    if (geteuid() == 0 && !kbb_postgres_ids(&uid, &gid)) {
        fprintf(stderr, "kasboek-bench: PostgreSQL refuses root and there is no postgres user\n");
        return -1;
    }
    return 0;
}

static int pg_initdb(kbb_pg *pg) {
    char bin[KBB_PATH_BYTES_MAX + 16], log[KBB_PATH_BYTES_MAX + 16];
    snprintf(bin, sizeof bin, "%s/initdb", pg->bin);
    snprintf(log, sizeof log, "%s/initdb.log", pg->dir);
    const char *argv[] = {bin,     "-D", pg->data, "-U",         KBB_PG_USER, "-A",
                          "trust", "-E", "UTF8",   "--locale=C", "--no-sync", NULL};
    kbb_spawn sp = {.argv = argv,
                    .out_path = log,
                    .cwd = pg->dir,
                    .as_postgres = true,
                    .stop_sig = SIGTERM,
                    .death_sig = SIGKILL};
    if (kbb_proc_run(&sp, KBB_PG_TIMEOUT_MS, NULL) != 0) {
        kbb_print_tail(log, 20);
        return -1;
    }
    return 0;
}

/* postmaster.pid's 8th line says "ready" once connections are accepted. */
static bool pg_ready(const kbb_pg *pg) {
    char path[KBB_PATH_BYTES_MAX + 32], buf[1024];
    snprintf(path, sizeof path, "%s/postmaster.pid", pg->data);
    if (kbb_read_file(path, buf, sizeof buf) != 0) return false;
    const char *p = buf;
    for (int line = 1; line < 8 && p; line++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    return p && strncmp(p, "ready", 5) == 0;
}

static int pg_launch(kbb_pg *pg) {
    char bin[KBB_PATH_BYTES_MAX + 16], sock[KBB_PATH_BYTES_MAX + 32];
    snprintf(bin, sizeof bin, "%s/postgres", pg->bin);
    snprintf(sock, sizeof sock, "unix_socket_directories=%s", pg->dir);
    const char *argv[] = {bin,
                          "-D",
                          pg->data,
                          "-c",
                          "listen_addresses=",
                          "-c",
                          sock,
                          "-c",
                          "fsync=on",
                          "-c",
                          "synchronous_commit=on",
                          "-c",
                          "full_page_writes=on",
                          "-c",
                          "max_connections=100",
                          NULL};
    kbb_spawn sp = {.argv = argv,
                    .out_path = pg->log_path,
                    .cwd = pg->dir,
                    .as_postgres = true,
                    .stop_sig = SIGINT,
                    .death_sig = SIGQUIT};
    if (kbb_proc_spawn(&sp, &pg->pid) != 0) return -1;
    double t0 = kbb_now_s();
    while (kbb_now_s() - t0 < KBB_PG_TIMEOUT_MS / 1000.0 && !kbb_interrupted) {
        int status;
        if (kbb_proc_wait(pg->pid, 0, &status) == 0) {
            fprintf(stderr, "kasboek-bench: postgres exited with status %d\n", status);
            pg->pid = 0;
            kbb_print_tail(pg->log_path, 20);
            return -1;
        }
        if (pg_ready(pg)) return 0;
        kbb_sleep_ms(20);
    }
    fprintf(stderr, "kasboek-bench: postgres did not become ready\n");
    kbb_print_tail(pg->log_path, 20);
    return -1;
}

int kbb_pg_start(const kbb_config *cfg, const char *tmp, kbb_pg *pg) {
    fprintf(stderr, "kasboek-bench: starting PostgreSQL from %s\n", cfg->pg_bin);
    if (pg_paths(cfg, tmp, pg) != 0 || pg_initdb(pg) != 0 || pg_launch(pg) != 0) {
        kbb_pg_stop(pg);
        return -1;
    }
    return 0;
}

void kbb_pg_stop(kbb_pg *pg) {
    if (pg->pid) {
        int status;
        if (kbb_proc_stop(pg->pid, SIGINT, KBB_PG_TIMEOUT_MS, &status) != 0 || status != 0) {
            fprintf(stderr, "kasboek-bench: postgres stopped with status %d\n", status);
        }
        pg->pid = 0;
    }
    if (pg->dir[0]) kbb_tempdir_remove(pg->dir);
    pg->dir[0] = 0;
}

int kbb_pg_sql(const kbb_pg *pg, const char *name, const char *sql) {
    char file[KBB_PATH_BYTES_MAX + 32], log[KBB_PATH_BYTES_MAX + 32], bin[KBB_PATH_BYTES_MAX + 16];
    snprintf(file, sizeof file, "%s/%s.sql", pg->tmp, name);
    snprintf(log, sizeof log, "%s/%s.log", pg->tmp, name);
    snprintf(bin, sizeof bin, "%s/psql", pg->bin);
    if (kbb_write_file(file, sql) != 0) return -1;
    const char *argv[] = {bin,        "-X",    "-q", "-v",        "ON_ERROR_STOP=1",
                          "-h",       pg->dir, "-U", KBB_PG_USER, "-d",
                          "postgres", "-f",    file, NULL};
    kbb_spawn sp = {.argv = argv, .out_path = log, .stop_sig = SIGTERM, .death_sig = SIGKILL};
    if (kbb_proc_run(&sp, KBB_PG_TIMEOUT_MS, NULL) != 0) {
        kbb_print_tail(log, 20);
        return -1;
    }
    return 0;
}

int kbb_mode_pg(const kbb_config *cfg, const char *tmp, kbb_results *res) {
    if (!res->event_payload_bytes) kbb_workload_sizes(res, 0);
    kbb_pg pg;
    if (kbb_pg_start(cfg, tmp, &pg) != 0) {
        res->pg.failed = res->pg_batch.failed = true;
        return -1;
    }
    int rc = kbb_pgbench_modes(cfg, &pg, res);
    kbb_pg_stop(&pg);
    return rc;
}
