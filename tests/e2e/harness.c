/* End-to-end test harness (see harness.h). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KBE_POLL_MS            10
#define KBE_READY_CALL_MS      1000
#define KBE_LOG_DUMP_BYTES_MAX 16384

/* ------------------------------------------------------------ utilities */

void kbe_sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int64_t kbe_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int kbe_rmtree(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) != 0) return errno == ENOENT ? 0 : -1;
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void kbe_mkdtemp(char *out, size_t n) {
    int w = snprintf(out, n, "/tmp/kbe2e-XXXXXX");
    assert_true(w > 0 && (size_t)w < n);
    if (!mkdtemp(out)) fail_msg("mkdtemp: %s", strerror(errno));
}

/* Waits up to timeout_ms for pid; returns its wait status, or -1. */
static int reap(pid_t pid, int timeout_ms) {
    int64_t until = kbe_monotonic_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return st;
        if (r < 0 && errno != EINTR) return -1;
        if (kbe_monotonic_ms() > until) return -1;
        kbe_sleep_ms(KBE_POLL_MS);
    }
}

static int exit_code(int wait_status) {
    if (wait_status < 0) return -1;
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return -1;
}

/* A report of AddressSanitizer, LeakSanitizer or UBSan in text. */
static bool sanitizer_report(const char *text) {
    return strstr(text, "ERROR: AddressSanitizer") || strstr(text, "ERROR: LeakSanitizer") ||
           strstr(text, "runtime error:");
}

/* In the child: stdin from /dev/null, stdout/stderr as given, die with the
 * test, exec. Only async-signal-safe calls. */
static void child_exec(const char *const *argv, int fd_in, int fd_out, int fd_err) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(fd_in, 0) < 0 || dup2(fd_out, 1) < 0 || dup2(fd_err, 2) < 0) _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* ------------------------------------------------------------ kasboekd */

void kbe_server_path(const kbe_server *s, const char *name, char *out, size_t n) {
    int w = snprintf(out, n, "%s/%s", s->root, name);
    assert_true(w > 0 && (size_t)w < n);
}

/* The first bytes of the kasboekd log into buf (n bytes). */
static void read_log(const kbe_server *s, char *buf, size_t n) {
    buf[0] = '\0';
    FILE *f = fopen(s->log_path, "r");
    if (!f) return;
    size_t got = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[got] = '\0';
}

/* Scans the whole kasboekd log, line by line. */
static bool log_has_sanitizer_report(const kbe_server *s) {
    FILE *f = fopen(s->log_path, "r");
    if (!f) return false;
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) found = sanitizer_report(line);
    fclose(f);
    return found;
}

void kbe_server_dump_log(const kbe_server *s) {
    char buf[KBE_LOG_DUMP_BYTES_MAX];
    read_log(s, buf, sizeof buf);
    print_message("---- kasboekd log (%s) ----\n%s---- end of log ----\n", s->log_path, buf);
}

static void server_spawn(kbe_server *s) {
    const char *argv[KBE_EXTRA_ARGS_MAX + 8];
    int n = 0;
    argv[n++] = KB_KASBOEKD;
    argv[n++] = "--data-dir";
    argv[n++] = s->data_dir;
    argv[n++] = "--listen";
    argv[n++] = s->url;
    /* no ticks of its own: tests compare heads before and after (a test
     * of the ticker passes --tick-interval-s again, and the last wins) */
    argv[n++] = "--tick-interval-s";
    argv[n++] = "0";
    for (int i = 0; i < s->n_extra; i++) argv[n++] = s->extra[i];
    argv[n] = NULL;
    int log = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) fail_msg("open %s: %s", s->log_path, strerror(errno));
    pid_t pid = fork();
    if (pid == 0) child_exec(argv, null, log, log);
    close(log);
    close(null);
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    s->pid = pid;
}

/* One GetStatus with a short timeout. */
static bool server_answers(const kbe_server *s) {
    kb_client *c;
    kb_client_options o = {
        .url = s->url, .tenant = NULL, .api_key = "", .timeout_ms = KBE_READY_CALL_MS};
    if (kb_client_open(&o, &c) != 0) return false;
    kb_client_result res;
    Kasboek__V1__StatusReply *st = NULL;
    int rv = kb_client_status(c, &res, &st);
    bool ok = rv == 0 && res.code == 0 && st;
    if (st) kasboek__v1__status_reply__free_unpacked(st, NULL);
    if (rv == 0) kb_client_result_fini(&res);
    kb_client_close(c);
    return ok;
}

static void server_wait_ready(kbe_server *s) {
    int64_t until = kbe_monotonic_ms() + KBE_START_TIMEOUT_MS;
    while (kbe_monotonic_ms() < until) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            kbe_server_dump_log(s);
            fail_msg("kasboekd exited during start-up (status %d)", exit_code(st));
        }
        if (server_answers(s)) return;
        kbe_sleep_ms(KBE_POLL_MS);
    }
    kbe_server_dump_log(s);
    fail_msg("kasboekd did not answer GetStatus within %d ms", KBE_START_TIMEOUT_MS);
}

void kbe_server_resume(kbe_server *s) {
    assert_int_equal(s->pid, 0);
    server_spawn(s);
    server_wait_ready(s);
}

static void server_paths(kbe_server *s) {
    kbe_mkdtemp(s->root, sizeof s->root);
    kbe_server_path(s, "data", s->data_dir, sizeof s->data_dir);
    kbe_server_path(s, "kasboekd.log", s->log_path, sizeof s->log_path);
    int w = snprintf(s->url, sizeof s->url, "ipc://%s/kb.sock", s->root);
    assert_true(w > 0 && (size_t)w < sizeof s->url && strlen(s->url) - 6 < 100);
}

void kbe_server_start(kbe_server *s, const char *const *extra) {
    memset(s, 0, sizeof *s);
    server_paths(s);
    for (int i = 0; extra && extra[i]; i++) {
        assert_true(s->n_extra < KBE_EXTRA_ARGS_MAX);
        s->extra[s->n_extra++] = extra[i];
    }
    kbe_server_resume(s);
}

int kbe_server_stop(kbe_server *s) {
    if (s->pid <= 0) return -1;
    kill(s->pid, SIGTERM);
    int st = reap(s->pid, KBE_STOP_TIMEOUT_MS);
    if (st < 0) {
        kill(s->pid, SIGKILL);
        reap(s->pid, KBE_STOP_TIMEOUT_MS);
    }
    s->pid = 0;
    return exit_code(st);
}

void kbe_server_stop_ok(kbe_server *s) {
    int code = kbe_server_stop(s);
    if (code != 0) {
        kbe_server_dump_log(s);
        fail_msg("kasboekd did not stop cleanly on SIGTERM: exit status %d", code);
    }
}

void kbe_server_kill(kbe_server *s) {
    assert_true(s->pid > 0);
    kill(s->pid, SIGKILL);
    int st = reap(s->pid, KBE_STOP_TIMEOUT_MS);
    s->pid = 0;
    if (st < 0) fail_msg("kasboekd was not reaped after SIGKILL");
}

void kbe_server_restart(kbe_server *s) {
    kbe_server_stop_ok(s);
    kbe_server_resume(s);
}

void kbe_server_fini(kbe_server *s) {
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        reap(s->pid, KBE_STOP_TIMEOUT_MS);
        s->pid = 0;
    }
    if (!s->root[0]) return;
    bool report = log_has_sanitizer_report(s);
    if (report) kbe_server_dump_log(s);
    if (kbe_rmtree(s->root) != 0) {
        print_message("warning: cannot remove %s: %s\n", s->root, strerror(errno));
    }
    s->root[0] = '\0';
    if (report) fail_msg("kasboekd's log holds a sanitizer report (above)");
}

/* -------------------------------------------------------------- client */

kb_client *kbe_connect_timeout(const kbe_server *s, const char *tenant, int timeout_ms) {
    kb_client_options o = {
        .url = s->url, .tenant = tenant, .api_key = "", .timeout_ms = timeout_ms};
    kb_client *c = NULL;
    int rv = kb_client_open(&o, &c);
    if (rv != 0) fail_msg("kb_client_open %s: %s", s->url, kb_client_strerror(rv));
    return c;
}

kb_client *kbe_connect(const kbe_server *s, const char *tenant) {
    return kbe_connect_timeout(s, tenant, KBE_CALL_TIMEOUT_MS);
}

void kbe_fail_result(const char *what, const kb_client_result *res) {
    fail_msg("%s: %s %s field '%s': %s", what, kb_client_code_str(res->code), res->reason,
             res->field, res->message);
}

void kbe_head_get(kb_client *c, kbe_head *h) {
    kb_client_result res;
    Kasboek__V1__StatusReply *st = NULL;
    int rv = kb_client_status(c, &res, &st);
    if (rv != 0) fail_msg("GetStatus: %s", kb_client_strerror(rv));
    if (!st) kbe_fail_result("GetStatus", &res);
    assert_int_equal(st->head_hash.len, KBE_HASH_BYTES);
    h->seq = st->head_seq;
    memcpy(h->hash, st->head_hash.data, KBE_HASH_BYTES);
    h->now = st->now;
    h->manual = st->manual_clock;
    kasboek__v1__status_reply__free_unpacked(st, NULL);
    kb_client_result_fini(&res);
}

void kbe_head_assert_equal(const kbe_head *want, const kbe_head *got, const char *what) {
    if (want->seq != got->seq) {
        fail_msg("%s: head seq moved from %llu to %llu", what, (unsigned long long)want->seq,
                 (unsigned long long)got->seq);
    }
    if (memcmp(want->hash, got->hash, KBE_HASH_BYTES) != 0) {
        fail_msg("%s: head hash changed at seq %llu", what, (unsigned long long)got->seq);
    }
}

kbe_result *kbe_command(kb_client *c, const char *method, const ProtobufCMessage *req,
                        const kb_client_call_opts *o, kb_client_result *res) {
    kbe_result *out = NULL;
    int rv = kb_client_command(c, method, req, o, res, &out);
    if (rv != 0) fail_msg("%s: transport error %s", method, kb_client_strerror(rv));
    if (res->code == 0 && !out) fail_msg("%s: OK without a CommandResult", method);
    return out;
}

kbe_result *kbe_command_ok(kb_client *c, const char *method, const ProtobufCMessage *req,
                           const kb_client_call_opts *o) {
    kb_client_result res;
    kbe_result *out = kbe_command(c, method, req, o, &res);
    if (!out) kbe_fail_result(method, &res);
    kb_client_result_fini(&res);
    if (out->payment) kbe_check_payment(out->payment);
    return out;
}

void kbe_command_fails(kb_client *c, const char *method, const ProtobufCMessage *req,
                       const kb_client_call_opts *o, int code, const char *reason,
                       const char *field) {
    kb_client_result res;
    kbe_result *out = kbe_command(c, method, req, o, &res);
    if (out) fail_msg("%s: succeeded, expected %s %s", method, kb_client_code_str(code), reason);
    if (res.code != code || strcmp(res.reason, reason) != 0 ||
        (field && strcmp(res.field, field))) {
        print_message("expected %s %s field '%s'\n", kb_client_code_str(code), reason,
                      field ? field : "*");
        kbe_fail_result(method, &res);
    }
    kb_client_result_fini(&res);
}

void kbe_result_free(kbe_result *r) {
    if (r) kasboek__v1__command_result__free_unpacked(r, NULL);
}

/* ------------------------------------------------------ command shorthands */

Kasboek__V1__Money kbe_money(int64_t amount, const char *currency) {
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.amount = amount;
    m.currency = (char *)currency;
    return m;
}

kbe_result *kbe_record(kb_client *c, const char *id, int64_t amount, const char *currency,
                       Kasboek__V1__PaymentMethod method) {
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.amount = amount;
    m.currency = (char *)currency;
    r.payment_id = (char *)id;
    r.amount = &m;
    r.method = method;
    return kbe_command_ok(c, "RecordPayment", &r.base, NULL);
}

kbe_result *kbe_settle(kb_client *c, const char *id) {
    Kasboek__V1__SettlePaymentRequest r = KASBOEK__V1__SETTLE_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    return kbe_command_ok(c, "SettlePayment", &r.base, NULL);
}

kbe_result *kbe_fail(kb_client *c, const char *id, const char *reason) {
    Kasboek__V1__FailPaymentRequest r = KASBOEK__V1__FAIL_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    r.reason = (char *)reason;
    return kbe_command_ok(c, "FailPayment", &r.base, NULL);
}

kbe_result *kbe_refund(kb_client *c, const char *payment_id, const char *refund_id, int64_t amount,
                       const char *currency) {
    Kasboek__V1__RefundPaymentRequest r = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.amount = amount;
    m.currency = (char *)currency;
    r.payment_id = (char *)payment_id;
    r.refund_id = (char *)(refund_id ? refund_id : "");
    r.amount = &m;
    r.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_REQUESTED_BY_CUSTOMER;
    return kbe_command_ok(c, "RefundPayment", &r.base, NULL);
}

kbe_result *kbe_settle_refund(kb_client *c, const char *refund_id) {
    Kasboek__V1__SettleRefundRequest r = KASBOEK__V1__SETTLE_REFUND_REQUEST__INIT;
    r.refund_id = (char *)refund_id;
    return kbe_command_ok(c, "SettleRefund", &r.base, NULL);
}

kbe_result *kbe_fail_refund(kb_client *c, const char *refund_id, const char *reason) {
    Kasboek__V1__FailRefundRequest r = KASBOEK__V1__FAIL_REFUND_REQUEST__INIT;
    r.refund_id = (char *)refund_id;
    r.reason = (char *)reason;
    return kbe_command_ok(c, "FailRefund", &r.base, NULL);
}

kbe_result *kbe_open_dispute(kb_client *c, const char *payment_id, const char *dispute_id,
                             int64_t amount, int64_t fee, const char *currency) {
    Kasboek__V1__OpenDisputeRequest r = KASBOEK__V1__OPEN_DISPUTE_REQUEST__INIT;
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT, f = KASBOEK__V1__MONEY__INIT;
    m.amount = amount;
    m.currency = (char *)currency;
    f.amount = fee;
    f.currency = (char *)currency;
    r.payment_id = (char *)payment_id;
    r.dispute_id = (char *)(dispute_id ? dispute_id : "");
    r.amount = &m;
    r.fee = fee ? &f : NULL;
    r.reason = "fraudulent";
    return kbe_command_ok(c, "OpenDispute", &r.base, NULL);
}

kbe_result *kbe_close_dispute(kb_client *c, const char *dispute_id, bool won) {
    Kasboek__V1__CloseDisputeRequest r = KASBOEK__V1__CLOSE_DISPUTE_REQUEST__INIT;
    r.dispute_id = (char *)dispute_id;
    r.outcome = won ? KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_WON
                    : KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST;
    return kbe_command_ok(c, "CloseDispute", &r.base, NULL);
}

Kasboek__V1__GetPaymentReply *kbe_get(kb_client *c, const char *id) {
    kb_client_result res;
    Kasboek__V1__GetPaymentReply *g = NULL;
    int rv = kb_client_get_payment(c, id, &res, &g);
    if (rv != 0) fail_msg("GetPayment %s: %s", id, kb_client_strerror(rv));
    if (!g || !g->payment) kbe_fail_result(id, &res);
    kb_client_result_fini(&res);
    kbe_check_payment(g->payment);
    return g;
}

void kbe_get_free(Kasboek__V1__GetPaymentReply *g) {
    if (g) kasboek__v1__get_payment_reply__free_unpacked(g, NULL);
}

void kbe_set_clock(kb_client *c, int64_t now_us) {
    Kasboek__V1__SetClockRequest r = KASBOEK__V1__SET_CLOCK_REQUEST__INIT;
    r.now = now_us;
    kb_client_result res;
    int rv = kb_client_call(c, "SetClock", &r.base, NULL, &res);
    if (rv != 0) fail_msg("SetClock: %s", kb_client_strerror(rv));
    if (res.code != 0) kbe_fail_result("SetClock", &res);
    kb_client_result_fini(&res);
}

static bool is_collected(Kasboek__V1__PaymentStatus s) {
    return s != KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PROCESSING &&
           s != KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_FAILED &&
           s != KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_UNSPECIFIED;
}

void kbe_check_payment(const kbe_payment *p) {
    assert_non_null(p->amount);
    int64_t parts = p->amount_refunded + p->amount_refund_pending + p->amount_disputed;
    if (p->amount_refunded < 0 || p->amount_refund_pending < 0 || p->amount_disputed < 0 ||
        p->amount_refundable < 0) {
        fail_msg("payment %s: a negative amount", p->payment_id);
    }
    if (!is_collected(p->status)) {
        assert_int_equal(p->amount_refundable, 0);
        return;
    }
    if (parts + p->amount_refundable != p->amount->amount) {
        fail_msg(
            "payment %s: refunded %lld + pending %lld + disputed %lld + refundable %lld != "
            "amount %lld",
            p->payment_id, (long long)p->amount_refunded, (long long)p->amount_refund_pending,
            (long long)p->amount_disputed, (long long)p->amount_refundable,
            (long long)p->amount->amount);
    }
}

/* ------------------------------------------------------------ binaries */

typedef struct kbe_buf {
    char *data;
    size_t len, cap;
} kbe_buf;

static void buf_append(kbe_buf *b, const char *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) fail_msg("out of memory");
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Reads fd into b; false at EOF or error. */
static bool read_some(int fd, kbe_buf *b) {
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    buf_append(b, chunk, (size_t)n);
    return true;
}

/* Collects both pipes until EOF on both or the deadline. */
static bool drain_pipes(int fd_out, int fd_err, kbe_buf *out, kbe_buf *err, int64_t until) {
    struct pollfd fds[2] = {{.fd = fd_out, .events = POLLIN}, {.fd = fd_err, .events = POLLIN}};
    kbe_buf *bufs[2] = {out, err};
    int open_fds = 2;
    while (open_fds > 0 && kbe_monotonic_ms() < until) {
        if (poll(fds, 2, 100) < 0 && errno != EINTR) return false;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            if (read_some(fds[i].fd, bufs[i])) continue;
            fds[i].fd = -1;
            open_fds--;
        }
    }
    return open_fds == 0;
}

static void make_pipe(int p[2]) {
    if (pipe(p) != 0) fail_msg("pipe: %s", strerror(errno));
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
}

static void run_argv(const char *const *argv, kbe_proc *p, bool check_sanitizers) {
    int po[2], pe[2];
    memset(p, 0, sizeof *p);
    make_pipe(po);
    make_pipe(pe);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(null >= 0);
    pid_t pid = fork();
    if (pid == 0) child_exec(argv, null, po[1], pe[1]);
    close(null);
    close(po[1]);
    close(pe[1]);
    if (pid < 0) fail_msg("fork: %s", strerror(errno));
    kbe_buf out = {0}, err = {0};
    buf_append(&out, "", 0);
    buf_append(&err, "", 0);
    bool done = drain_pipes(po[0], pe[0], &out, &err, kbe_monotonic_ms() + KBE_RUN_TIMEOUT_MS);
    close(po[0]);
    close(pe[0]);
    if (!done) kill(pid, SIGKILL);
    p->status = exit_code(reap(pid, done ? KBE_RUN_TIMEOUT_MS : KBE_STOP_TIMEOUT_MS));
    p->out = out.data;
    p->out_len = out.len;
    p->err = err.data;
    p->err_len = err.len;
    if (!done) fail_msg("%s did not finish within %d ms", argv[0], KBE_RUN_TIMEOUT_MS);
    if (check_sanitizers && sanitizer_report(p->err)) {
        kbe_proc_dump(argv[0], p);
        fail_msg("%s printed a sanitizer report", argv[0]);
    }
}

void kbe_run(const char *const *argv, kbe_proc *p) {
    run_argv(argv, p, true);
}

void kbe_run_crashing(const char *const *argv, kbe_proc *p) {
    run_argv(argv, p, false);
}

void kbe_proc_fini(kbe_proc *p) {
    free(p->out);
    free(p->err);
    memset(p, 0, sizeof *p);
}

void kbe_proc_dump(const char *what, const kbe_proc *p) {
    print_message("---- %s: exit %d\n---- stdout:\n%s---- stderr:\n%s----\n", what, p->status,
                  p->out ? p->out : "", p->err ? p->err : "");
}

/* Appends the NULL-terminated va_list words to argv from *n on. */
static void argv_add(const char **argv, int *n, va_list ap) {
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(*n < KBE_ARGV_MAX - 1);
        argv[(*n)++] = a;
    }
    argv[*n] = NULL;
}

void kbe_cli(const kbe_server *s, kbe_proc *p, ...) {
    const char *argv[KBE_ARGV_MAX] = {KB_CLI, "--server", s->url};
    int n = 3;
    va_list ap;
    va_start(ap, p);
    argv_add(argv, &n, ap);
    va_end(ap);
    kbe_run(argv, p);
}

void kbe_cli_raw(kbe_proc *p, ...) {
    const char *argv[KBE_ARGV_MAX] = {KB_CLI};
    int n = 1;
    va_list ap;
    va_start(ap, p);
    argv_add(argv, &n, ap);
    va_end(ap);
    kbe_run(argv, p);
}

void kbe_audit(kbe_proc *p, const char *verb, const char *dir) {
    const char *argv[] = {KB_AUDIT, verb, dir, NULL};
    kbe_run(argv, p);
}

int kbe_server_teardown(kbe_server *s) {
    int code = kbe_server_stop(s);
    if (code != 0) kbe_server_dump_log(s);
    kbe_server_fini(s);
    return code == 0 ? 0 : -1;
}

void kbe_audit_ok(const kbe_server *s) {
    kbe_proc p;
    kbe_audit(&p, "verify", s->data_dir);
    if (p.status != 0) kbe_proc_dump("kasboek-audit verify", &p);
    assert_int_equal(p.status, 0);
    kbe_proc_fini(&p);
    char scratch[KBE_PATH_MAX];
    kbe_server_path(s, "scratch", scratch, sizeof scratch);
    const char *argv[] = {KB_AUDIT, "replay", s->data_dir, "--scratch", scratch, NULL};
    kbe_run(argv, &p);
    if (p.status != 0 || !strstr(p.out, "equal")) kbe_proc_dump("kasboek-audit replay", &p);
    assert_int_equal(p.status, 0);
    assert_non_null(strstr(p.out, "equal"));
    kbe_proc_fini(&p);
    kbe_rmtree(scratch);
}
