/* Replay, verify, restart and footprint on one log: kasboekd builds it from
 * SubmitBatch requests (1,000 commands each, several clients), then, with
 * the server stopped, `kasboek-audit verify` and `kasboek-audit replay` run
 * on the data dir (events/s from each subprocess's wall time), and the
 * server is started again on it (restart_s: spawn to first GetStatus). */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

#define KBB_LOG_BATCH     1000
#define KBB_OUT_BYTES_MAX 8192

/* SubmitBatch requests until `events` more events are in (their own id
 * space: tag). */
static int build_part(const kbb_config *cfg, kbb_server *srv, const char *tag, uint64_t events) {
    uint32_t n = cfg->batch_clients;
    kbb_batch_ctx x = {.url = srv->url,
                       .tag = tag,
                       .batch = KBB_LOG_BATCH,
                       .ids_per_client = (uint32_t)(events / n + KBB_LOG_BATCH),
                       .events_target = events};
    atomic_init(&x.events, 0);
    kbb_load_spec spec = {.ops = &kbb_batch_ops,
                          .ctx = &x,
                          .clients = n,
                          .requests_max = x.ids_per_client * 10ull / 9 / KBB_LOG_BATCH + 2,
                          .duration_s = cfg->log_build_s_max};
    kbb_load_result lr;
    if (kbb_load_run(&spec, &lr) != 0) {
        fprintf(stderr, "kasboek-bench: log build: %s\n", lr.error);
        return -1;
    }
    return 0;
}

/* The log in two halves, kasboekd's VmHWM read after each: memory that is
 * set by its options stops growing long before the log is half built
 * (its memtables fill and flush every 100k events or so); what grows with
 * the log keeps growing. */
static int build_log(const kbb_config *cfg, kbb_server *srv, kbb_results *res) {
    fprintf(stderr, "kasboek-bench: building a %llu-event log (SubmitBatch of %d, %u clients)\n",
            (unsigned long long)cfg->log_events, KBB_LOG_BATCH, cfg->batch_clients);
    double t0 = kbb_now_s();
    if (build_part(cfg, srv, "L", cfg->log_events / 2) != 0) return -1;
    if (kbb_server_head(srv, &res->log_events_half) != 0) return -1;
    res->log_rss_half_mb = (double)kbb_proc_hwm_kb(srv->pid) / 1024.0;
    if (res->log_events_half < cfg->log_events &&
        build_part(cfg, srv, "M", cfg->log_events - res->log_events_half) != 0) {
        return -1;
    }
    res->log_build_s = kbb_now_s() - t0;
    if (kbb_server_head(srv, &res->log_events) != 0) return -1;
    res->log_rss_full_mb = (double)kbb_proc_hwm_kb(srv->pid) / 1024.0;
    if (res->log_events < cfg->log_events) {
        fprintf(stderr, "kasboek-bench: the log build stopped at %llu events (time bound)\n",
                (unsigned long long)res->log_events);
    }
    return 0;
}

/* Runs kasboek-audit CMD DIR [extra...]; stdout in out (NUL-terminated). */
/* The CPU time (user + system) of every child reaped so far. */
static double children_cpu_s(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_CHILDREN, &ru) != 0) return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* *cpu_s: its CPU time (no other child ends while it runs). */
static int audit_run(const kbb_config *cfg, const char *tmp, const char *const *args, char *out,
                     double *wall_s, double *cpu_s) {
    char out_path[KBB_PATH_BYTES_MAX + 32], err_path[KBB_PATH_BYTES_MAX + 32];
    out[0] = 0;
    snprintf(out_path, sizeof out_path, "%s/audit-%s.out", tmp, args[0]);
    snprintf(err_path, sizeof err_path, "%s/audit-%s.err", tmp, args[0]);
    const char *argv[8] = {cfg->audit};
    for (int i = 0; args[i] && i < 6; i++) argv[i + 1] = args[i];
    kbb_spawn sp = {.argv = argv,
                    .out_path = out_path,
                    .err_path = err_path,
                    .stop_sig = SIGTERM,
                    .death_sig = SIGKILL};
    double cpu0 = children_cpu_s();
    int rc = kbb_proc_run(&sp, KBB_TOOL_TIMEOUT_MS, wall_s);
    *cpu_s = children_cpu_s() - cpu0;
    if (rc != 0) {
        kbb_print_tail(out_path, 10);
        kbb_print_tail(err_path, 10);
        return -1;
    }
    /* replay prints its rebuild rate on stderr: both go into out. */
    if (kbb_read_file(out_path, out, KBB_OUT_BYTES_MAX) != 0) return -1;
    size_t n = strlen(out);
    return kbb_read_file(err_path, out + n, KBB_OUT_BYTES_MAX) == 0 ? 0 : -1;
}

static int verify_and_replay(const kbb_config *cfg, const char *tmp, const char *data,
                             kbb_results *res) {
    char out[2 * KBB_OUT_BYTES_MAX], scratch[KBB_PATH_BYTES_MAX + 16];
    double wall, cpu;
    unsigned long long n = 0;
    const char *verify[] = {"verify", data, NULL};
    fprintf(stderr, "kasboek-bench: kasboek-audit verify\n");
    if (audit_run(cfg, tmp, verify, out, &wall, &cpu) != 0 ||
        sscanf(out, "ok: %llu events", &n) != 1) {
        fprintf(stderr, "kasboek-bench: kasboek-audit verify did not say ok\n");
        return -1;
    }
    res->verify_events_per_s = (double)n / wall;
    res->verify_cpu_s = cpu;
    snprintf(scratch, sizeof scratch, "%s/scratch", tmp);
    const char *replay[] = {"replay", data, "--scratch", scratch, NULL};
    fprintf(stderr, "kasboek-bench: kasboek-audit replay\n");
    int rc = audit_run(cfg, tmp, replay, out, &wall, &cpu);
    if (kbb_rmtree(scratch) != 0) fprintf(stderr, "kasboek-bench: cannot remove %s\n", scratch);
    const char *rebuilt = strstr(out, "rebuilt ");
    double tool_eps = 0;
    if (rc != 0 || sscanf(out, "equal: %llu events", &n) != 1 || !rebuilt ||
        sscanf(rebuilt, "rebuilt %*u events in %*f s (%lf events/s)", &tool_eps) != 1) {
        fprintf(stderr, "kasboek-bench: kasboek-audit replay did not say equal\n");
        return -1;
    }
    res->replay_events_per_s = tool_eps;
    res->replay_audit_events_per_s = (double)n / wall;
    return 0;
}

static int footprint(const kbb_server *srv, kbb_results *res) {
    uint64_t alloc, apparent;
    if (res->log_events == 0 || kbb_dir_bytes(srv->data_dir, &alloc, &apparent) != 0) return -1;
    res->bytes_per_event = (double)alloc / (double)res->log_events;
    res->apparent_bytes_per_event = (double)apparent / (double)res->log_events;
    return 0;
}

/* After the figures above: flush and compact, then measure again. */
static int footprint_compacted(const kbb_server *srv, kbb_results *res) {
    uint64_t alloc, apparent;
    fprintf(stderr, "kasboek-bench: compacting the log for the compacted footprint\n");
    if (kbb_rocks_compact(srv->data_dir) != 0) return -1;
    if (kbb_dir_bytes(srv->data_dir, &alloc, &apparent) != 0) return -1;
    res->compacted_bytes_per_event = (double)alloc / (double)res->log_events;
    return 0;
}

static int restart(const kbb_config *cfg, const char *dir, kbb_results *res) {
    kbb_server srv;
    fprintf(stderr, "kasboek-bench: restarting kasboekd on the log\n");
    if (kbb_server_start(cfg, dir, &srv) != 0) return -1;
    res->restart_s = srv.ready_s;
    uint64_t head = 0;
    int rc = kbb_server_head(&srv, &head);
    if (rc == 0 && head != res->log_events) {
        fprintf(stderr, "kasboek-bench: head seq %llu after restart, %llu before\n",
                (unsigned long long)head, (unsigned long long)res->log_events);
        rc = -1;
    }
    if (kbb_server_stop(&srv) != 0) rc = -1;
    kbb_note_rss(res, &srv);
    return rc;
}

int kbb_mode_replay(const kbb_config *cfg, const char *tmp, kbb_results *res) {
    char dir[KBB_PATH_BYTES_MAX];
    snprintf(dir, sizeof dir, "%s/log", tmp);
    kbb_server srv;
    int rc = kbb_server_start(cfg, dir, &srv);
    if (rc == 0) {
        rc = build_log(cfg, &srv, res);
        if (kbb_server_stop(&srv) != 0) rc = -1;
        kbb_note_rss(res, &srv);
    }
    if (rc == 0) rc = footprint(&srv, res);
    if (rc == 0) rc = verify_and_replay(cfg, tmp, srv.data_dir, res);
    if (rc == 0) rc = kbb_replay_floor(srv.data_dir, tmp, res);
    if (rc == 0) rc = restart(cfg, dir, res);
    if (rc == 0) rc = footprint_compacted(&srv, res);
    if (kbb_rmtree(dir) != 0) fprintf(stderr, "kasboek-bench: cannot remove %s\n", dir);
    res->replay_failed = rc != 0;
    return rc;
}
