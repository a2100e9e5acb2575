/* End-to-end test harness: a real kasboekd on a fresh temp dir, the client
 * library to talk to it, and runners for the CLI and audit binaries.
 *
 * Every helper that "must" succeed fails the running cmocka test (fail_msg)
 * instead of returning an error. Unpacked replies returned by helpers are
 * owned by the caller (free with the protobuf-c __free_unpacked(…, NULL) or
 * the kbe_*_free shorthands). */
#ifndef KB_E2E_HARNESS_H
#define KB_E2E_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/types.h>

#include "kasboek.h"

#define KBE_PATH_MAX         200 /* ipc:// paths must fit sun_path (108) */
#define KBE_EXTRA_ARGS_MAX   12  /* extra kasboekd flags */
#define KBE_ARGV_MAX         32  /* arguments of a CLI/audit run */
#define KBE_START_TIMEOUT_MS 30000
#define KBE_STOP_TIMEOUT_MS  15000
#define KBE_RUN_TIMEOUT_MS   60000 /* one CLI/audit run */
#define KBE_CALL_TIMEOUT_MS  15000 /* one client call */
#define KBE_HASH_BYTES       32

/* Short names for the generated enum values: KBE_M(CARD), KBE_ST(REFUNDED). */
#define KBE_M(x)  KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x
#define KBE_ST(x) KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_##x
#define KBE_RS(x) KASBOEK__V1__REFUND_STATUS__REFUND_STATUS_##x
#define KBE_DS(x) KASBOEK__V1__DISPUTE_STATUS__DISPUTE_STATUS_##x
#define KBE_RC(x) KASBOEK__V1__RECEIPT_STATUS__RECEIPT_STATUS_##x
#define KBE_EV(x) KASBOEK__V1__EVENT__BODY_##x

/* gRPC codes (same numbers as kb_code). */
enum {
    KBE_OK = 0,
    KBE_INVALID_ARGUMENT = 3,
    KBE_DEADLINE_EXCEEDED = 4,
    KBE_NOT_FOUND = 5,
    KBE_ALREADY_EXISTS = 6,
    KBE_RESOURCE_EXHAUSTED = 8,
    KBE_FAILED_PRECONDITION = 9,
    KBE_ABORTED = 10,
    KBE_UNIMPLEMENTED = 12,
    KBE_UNAVAILABLE = 14,
    KBE_UNAUTHENTICATED = 16,
};

typedef Kasboek__V1__Payment kbe_payment;
typedef Kasboek__V1__CommandResult kbe_result;

/* ------------------------------------------------------------ kasboekd */

typedef struct kbe_server {
    char root[KBE_PATH_MAX];               /* the mkdtemp dir; everything lives inside */
    char data_dir[KBE_PATH_MAX];           /* root/data */
    char url[KBE_PATH_MAX];                /* ipc://root/kb.sock */
    char log_path[KBE_PATH_MAX];           /* root/kasboekd.log (stdout and stderr) */
    const char *extra[KBE_EXTRA_ARGS_MAX]; /* borrowed; must outlive the server */
    int n_extra;
    pid_t pid; /* 0 when not running */
} kbe_server;

/* Creates a fresh temp root and starts kasboekd on it with the extra flags
 * (a NULL-terminated list, may be NULL). Waits until GetStatus answers. */
void kbe_server_start(kbe_server *s, const char *const *extra);
/* Starts kasboekd again on the same data dir (it must not be running). */
void kbe_server_resume(kbe_server *s);
/* SIGTERM, wait; returns the exit status (128+sig if killed by a signal,
 * -1 if it did not exit in time: it is then SIGKILLed). */
int kbe_server_stop(kbe_server *s);
/* SIGTERM; the test fails unless kasboekd exits with status 0. */
void kbe_server_stop_ok(kbe_server *s);
/* SIGKILL and reap: a crash. */
void kbe_server_kill(kbe_server *s);
/* stop_ok + resume. */
void kbe_server_restart(kbe_server *s);
/* Kills kasboekd if it still runs and removes the temp root. Safe to call
 * on a zeroed or already finished server. */
void kbe_server_fini(kbe_server *s);
/* A group teardown: SIGTERM (log printed if the exit is not clean), then
 * fini. 0 when kasboekd exited 0, else -1. */
int kbe_server_teardown(kbe_server *s);
/* Prints the kasboekd log (on failures). */
void kbe_server_dump_log(const kbe_server *s);
/* A path inside the temp root (for checkpoints, scratch dirs). */
void kbe_server_path(const kbe_server *s, const char *name, char *out, size_t n);

/* rm -rf dir (nftw, no symlinks followed). 0 on success. */
int kbe_rmtree(const char *dir);
/* A fresh mkdtemp dir under /tmp. */
void kbe_mkdtemp(char *out, size_t n);
void kbe_sleep_ms(long ms);
int64_t kbe_monotonic_ms(void);

/* -------------------------------------------------------------- client */

/* A client of s for tenant (NULL = default); timeout_ms 0 = the default. */
kb_client *kbe_connect(const kbe_server *s, const char *tenant);
kb_client *kbe_connect_timeout(const kbe_server *s, const char *tenant, int timeout_ms);

typedef struct kbe_head {
    uint64_t seq;
    uint8_t hash[KBE_HASH_BYTES];
    int64_t now;
    bool manual;
} kbe_head;

/* GetStatus; must answer OK. */
void kbe_head_get(kb_client *c, kbe_head *h);
void kbe_head_assert_equal(const kbe_head *want, const kbe_head *got, const char *what);

/* Calls a command. Transport errors fail the test. Returns the reply on OK
 * (caller frees with kbe_result_free), NULL otherwise; *res is always
 * filled and must be released with kb_client_result_fini. */
kbe_result *kbe_command(kb_client *c, const char *method, const ProtobufCMessage *req,
                        const kb_client_call_opts *o, kb_client_result *res);
/* The command must succeed (else the test fails with code/reason/message). */
kbe_result *kbe_command_ok(kb_client *c, const char *method, const ProtobufCMessage *req,
                           const kb_client_call_opts *o);
/* The command must fail with code and reason (and field, when non-NULL). */
void kbe_command_fails(kb_client *c, const char *method, const ProtobufCMessage *req,
                       const kb_client_call_opts *o, int code, const char *reason,
                       const char *field);
void kbe_result_free(kbe_result *r);
/* Fails the test with res's code, reason, field and message. */
void kbe_fail_result(const char *what, const kb_client_result *res);

/* A Money value (currency borrowed). */
Kasboek__V1__Money kbe_money(int64_t amount, const char *currency);

/* Shorthands for the payment commands; each must succeed. */
kbe_result *kbe_record(kb_client *c, const char *id, int64_t amount, const char *currency,
                       Kasboek__V1__PaymentMethod method);
kbe_result *kbe_settle(kb_client *c, const char *id);
kbe_result *kbe_fail(kb_client *c, const char *id, const char *reason);
kbe_result *kbe_refund(kb_client *c, const char *payment_id, const char *refund_id, int64_t amount,
                       const char *currency);
kbe_result *kbe_settle_refund(kb_client *c, const char *refund_id);
kbe_result *kbe_fail_refund(kb_client *c, const char *refund_id, const char *reason);
kbe_result *kbe_open_dispute(kb_client *c, const char *payment_id, const char *dispute_id,
                             int64_t amount, int64_t fee, const char *currency);
kbe_result *kbe_close_dispute(kb_client *c, const char *dispute_id, bool won);

/* GetPayment; must answer OK. */
Kasboek__V1__GetPaymentReply *kbe_get(kb_client *c, const char *id);
void kbe_get_free(Kasboek__V1__GetPaymentReply *g);
/* SetClock on a --manual-clock server; must answer OK. */
void kbe_set_clock(kb_client *c, int64_t now_us);

/* The money invariants of one payment: amounts >= 0; for a collected
 * payment refunded + pending + disputed + refundable == amount; nothing
 * refundable otherwise. */
void kbe_check_payment(const kbe_payment *p);

/* ------------------------------------------------------- binaries */

typedef struct kbe_proc {
    int status; /* exit code; 128+sig when killed by a signal */
    char *out;  /* stdout, NUL-terminated */
    size_t out_len;
    char *err; /* stderr, NUL-terminated */
    size_t err_len;
} kbe_proc;

/* Runs argv (NULL-terminated; argv[0] an absolute path; no shell), stdin
 * from /dev/null, capturing stdout and stderr. Killed after
 * KBE_RUN_TIMEOUT_MS (the test then fails). */
void kbe_run(const char *const *argv, kbe_proc *p);
/* kbe_run for a run in which a process is meant to crash (a child of the
 * program run): a sanitizer's report of it does not fail the test. */
void kbe_run_crashing(const char *const *argv, kbe_proc *p);
void kbe_proc_fini(kbe_proc *p);
/* KB_CLI --server <s's url> args... (NULL-terminated). */
void kbe_cli(const kbe_server *s, kbe_proc *p, ...);
/* KB_CLI args... without --server (NULL-terminated). */
void kbe_cli_raw(kbe_proc *p, ...);
/* KB_AUDIT verb dir. */
void kbe_audit(kbe_proc *p, const char *verb, const char *dir);
/* kasboek-audit verify and replay of s's data dir (kasboekd stopped) must
 * both pass, replay finding every projection equal. */
void kbe_audit_ok(const kbe_server *s);
/* Prints a run's status and output (on failures). */
void kbe_proc_dump(const char *what, const kbe_proc *p);

#endif
