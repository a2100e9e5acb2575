/* kasboekd as a child process: start on a data dir with an ipc:// socket,
 * wait until GetStatus answers, read VmHWM, stop with SIGTERM. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bench.h"

#define KBB_READY_POLL_MS 2
#define KBB_READY_CALL_MS 1000

int kbb_client_open(const char *url, kb_client **out) {
    kb_client_options o = {
        .url = url, .tenant = "default", .api_key = "", .timeout_ms = KBB_CALL_TIMEOUT_MS};
    return kb_client_open(&o, out) == 0 ? 0 : -1;
}

static int paths(const char *dir, kbb_server *s) {
    memset(s, 0, sizeof *s);
    int a = snprintf(s->dir, sizeof s->dir, "%s", dir);
    int b = snprintf(s->data_dir, sizeof s->data_dir, "%s/data", dir);
    int c = snprintf(s->url, sizeof s->url, "ipc://%s/k.sock", dir);
    int d = snprintf(s->log_path, sizeof s->log_path, "%s/kasboekd.log", dir);
    if (a < 0 || b < 0 || c < 0 || d < 0 || (size_t)c >= KBB_IPC_PATH_BYTES_MAX ||
        (size_t)d >= sizeof s->log_path) {
        fprintf(stderr, "kasboek-bench: path too long for an ipc socket: %s\n", dir);
        return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "kasboek-bench: mkdir %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* One GetStatus; 0 when it answered OK. */
static int status_once(const char *url, int timeout_ms, uint64_t *head_seq) {
    kb_client_options o = {
        .url = url, .tenant = "default", .api_key = "", .timeout_ms = timeout_ms};
    kb_client *c;
    if (kb_client_open(&o, &c) != 0) return -1;
    kb_client_result res;
    Kasboek__V1__StatusReply *st = NULL;
    int rv = kb_client_status(c, &res, &st);
    int rc = (rv == 0 && res.code == 0 && st) ? 0 : -1;
    if (rc == 0 && head_seq) *head_seq = st->head_seq;
    if (st) kasboek__v1__status_reply__free_unpacked(st, NULL);
    kb_client_result_fini(&res);
    kb_client_close(c);
    return rc;
}

static int wait_ready(kbb_server *s, double t0) {
    while (kbb_now_s() - t0 < KBB_SERVER_START_TIMEOUT_MS / 1000.0 && !kbb_interrupted) {
        int status;
        int w = kbb_proc_wait(s->pid, 0, &status);
        if (w == 0) {
            fprintf(stderr, "kasboek-bench: kasboekd exited with status %d while starting\n",
                    status);
            s->pid = 0;
            kbb_print_tail(s->log_path, 20);
            return -1;
        }
        if (status_once(s->url, KBB_READY_CALL_MS, NULL) == 0) {
            s->ready_s = kbb_now_s() - t0;
            return 0;
        }
        kbb_sleep_ms(KBB_READY_POLL_MS);
    }
    fprintf(stderr, "kasboek-bench: kasboekd did not answer GetStatus in time\n");
    kbb_print_tail(s->log_path, 20);
    int status;
    kbb_proc_stop(s->pid, SIGKILL, KBB_KILL_GRACE_MS, &status);
    s->pid = 0;
    return -1;
}

int kbb_server_start(const kbb_config *cfg, const char *dir, kbb_server *s) {
    if (paths(dir, s) != 0) return -1;
    /* No ticks of its own: a payout closed at start would move the head
     * the restart check compares (and add work no peer does). */
    const char *argv[] = {cfg->kasboekd, "--data-dir",        s->data_dir, "--listen", s->url,
                          "--quiet",     "--tick-interval-s", "0",         NULL};
    kbb_spawn sp = {
        .argv = argv, .out_path = s->log_path, .stop_sig = SIGTERM, .death_sig = SIGTERM};
    double t0 = kbb_now_s();
    if (kbb_proc_spawn(&sp, &s->pid) != 0) return -1;
    return wait_ready(s, t0);
}

int kbb_server_head(const kbb_server *s, uint64_t *head_seq) {
    if (status_once(s->url, KBB_CALL_TIMEOUT_MS, head_seq) != 0) {
        fprintf(stderr, "kasboek-bench: GetStatus failed\n");
        return -1;
    }
    return 0;
}

int kbb_server_stop(kbb_server *s) {
    if (!s->pid) return -1;
    s->hwm_kb = kbb_proc_hwm_kb(s->pid);
    s->cpu_s = kbb_proc_cpu_s(s->pid);
    int status = -1;
    int rc = kbb_proc_stop(s->pid, SIGTERM, KBB_SERVER_STOP_TIMEOUT_MS, &status);
    s->pid = 0;
    if (rc != 0 || status != 0) {
        fprintf(stderr, "kasboek-bench: kasboekd stopped with status %d\n", status);
        kbb_print_tail(s->log_path, 20);
        return -1;
    }
    return 0;
}

void kbb_note_rss(kbb_results *res, const kbb_server *s) {
    double mb = (double)s->hwm_kb / 1024.0;
    if (mb > res->peak_rss_mb) res->peak_rss_mb = mb;
}
