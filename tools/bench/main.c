/* kasboek-bench: entry point. Runs the modes in order, always cleans up
 * (children stopped, temp dirs removed), then prints the report, writes
 * the JSON and checks it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

volatile sig_atomic_t kbb_interrupted = 0;

/* The whole run is bounded: past this, every mode winds down as on SIGINT. */
#define KBB_RUN_LIMIT_FULL_S  900
#define KBB_RUN_LIMIT_QUICK_S 240

static void on_signal(int sig) {
    kbb_interrupted = sig == SIGALRM ? 2 : 1;
}

static int install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 ||
        sigaction(SIGALRM, &sa, NULL) != 0) {
        return -1;
    }
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static void results_init(kbb_results *r) {
    memset(r, 0, sizeof *r);
    r->single = (kbb_series){.json_key = "kasboek_single", .key_name = "clients"};
    r->batch = (kbb_series){.json_key = "kasboek_batch", .key_name = "batch"};
    r->echo = (kbb_series){.json_key = "nng_echo", .key_name = "clients"};
    r->rocks = (kbb_series){.json_key = "rocksdb_sync", .key_name = "batch"};
    r->shape = (kbb_series){.json_key = "rocksdb_shape", .key_name = "batch"};
    r->pg = (kbb_series){.json_key = "postgres", .key_name = "clients"};
    r->pg_batch = (kbb_series){.json_key = "postgres_batch", .key_name = "batch"};
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(r->started_at, sizeof r->started_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char buf[128];
    if (kbb_read_file("/proc/loadavg", buf, sizeof buf) == 0) r->load_avg_start = strtod(buf, NULL);
}

/* Fails early, before minutes of measuring, when PostgreSQL is missing. */
static int check_pg(const kbb_config *cfg, kbb_results *res) {
    if (!(cfg->modes & KBB_MODE_PG) || cfg->pg_bin[0]) return 0;
    if (cfg->allow_missing_pg) {
        fprintf(stderr,
                "kasboek-bench: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin "
                "with initdb, postgres, psql, pgbench): skipping the postgres modes\n");
        res->pg.skipped = res->pg_batch.skipped = true;
        return 0;
    }
    fprintf(stderr,
            "kasboek-bench: PostgreSQL is not installed (apt-get install postgresql), "
            "or pass --pg-bin DIR; --allow-missing-postgres skips the postgres modes\n");
    return -1;
}

static int run_modes(const kbb_config *cfg, const char *tmp, kbb_results *res) {
    int rc = 0;
    if (cfg->modes & KBB_MODE_SINGLE) rc |= kbb_mode_single(cfg, tmp, res);
    if (!res->request_bytes) kbb_workload_sizes(res, 0);
    if (cfg->modes & KBB_MODE_BATCH && !kbb_interrupted) rc |= kbb_mode_batch(cfg, tmp, res);
    if (cfg->modes & KBB_MODE_ECHO && !kbb_interrupted) rc |= kbb_mode_echo(cfg, tmp, res);
    if (cfg->modes & KBB_MODE_ROCKS && !kbb_interrupted) rc |= kbb_mode_rocks(cfg, tmp, res);
    if (cfg->modes & KBB_MODE_PG && !res->pg.skipped && !kbb_interrupted) {
        rc |= kbb_mode_pg(cfg, tmp, res);
    }
    if (cfg->modes & KBB_MODE_REPLAY && !kbb_interrupted) rc |= kbb_mode_replay(cfg, tmp, res);
    return rc || kbb_interrupted ? -1 : 0;
}

int main(int argc, char **argv) {
    static kbb_config cfg;
    static kbb_results res;
    int a = kbb_args_parse(&cfg, argc, argv);
    if (a != 0) return a == 1 ? 0 : 2;
    results_init(&res);
    if (install_signals() != 0 || atexit(kbb_cleanup_all) != 0) return 2;
    if (check_pg(&cfg, &res) != 0) return 2;
    char tmp[KBB_PATH_BYTES_MAX];
    if (kbb_tempdir_make(cfg.tmp_base, "kasboek-bench", tmp) != 0) return 1;
    double t0 = kbb_now_s();
    res.cpu_probe_start_ms = kbb_cpu_probe_ms();
    alarm(cfg.quick ? KBB_RUN_LIMIT_QUICK_S : KBB_RUN_LIMIT_FULL_S);
    int rc = run_modes(&cfg, tmp, &res);
    alarm(0);
    res.cpu_probe_end_ms = kbb_cpu_probe_ms();
    kbb_cleanup_all();
    fprintf(stderr, "kasboek-bench: done in %.1f s%s\n", kbb_now_s() - t0,
            kbb_interrupted == 2 ? " (time limit reached; everything it started is stopped)"
            : kbb_interrupted    ? " (interrupted; everything it started is stopped)"
            : rc                 ? " (with failures)"
                                 : "");
    kbb_report_print(&cfg, &res);
    if (cfg.json_path && kbb_report_json(&cfg, &res, cfg.json_path) != 0) rc = -1;
    if (cfg.check && kbb_report_check(&cfg, &res) != 0) rc = -1;
    return rc ? 1 : 0;
}
