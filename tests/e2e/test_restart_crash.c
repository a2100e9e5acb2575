/* Durability: a clean restart keeps every payment byte for byte and the
 * head; after SIGKILL during concurrent writes every acknowledged command
 * is still there, and kasboek-audit verifies and replays the data dir. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESTART_PAYMENTS        15
#define CRASH_THREADS           4
#define CRASH_CYCLES            3
#define CRASH_RUN_MS            1500
#define CRASH_CALL_TIMEOUT_MS   2000
#define ACKED_MAX               40000 /* per thread, all cycles */
#define PAYMENT_AMOUNT          10000
#define REFUND_AMOUNT           100
#define REFUNDS_PER_PAYMENT_MAX 40
#define STOP_ACKED_MAX          10000 /* per writer of a graceful-stop cycle */

static kbe_server srv; /* the server of the running test */

static int teardown_server(void **state) {
    kbe_server_fini(&srv);
    return 0;
}

/* ------------------------------------------------------------- restart */

/* The GetPayment reply bytes of id (malloc'd, *len set). */
static uint8_t *get_raw(kb_client *c, const char *id, size_t *len) {
    Kasboek__V1__GetPaymentRequest q = KASBOEK__V1__GET_PAYMENT_REQUEST__INIT;
    kb_client_result res;
    q.payment_id = (char *)id;
    assert_int_equal(kb_client_call(c, "GetPayment", &q.base, NULL, &res), 0);
    if (res.code != 0) kbe_fail_result(id, &res);
    uint8_t *copy = malloc(res.payload_len ? res.payload_len : 1);
    assert_non_null(copy);
    memcpy(copy, res.payload, res.payload_len);
    *len = res.payload_len;
    kb_client_result_fini(&res);
    return copy;
}

/* Three commands per payment of every kind of lifecycle. */
static void restart_writes(kb_client *c) {
    char id[16], rid[16];
    for (int i = 0; i < RESTART_PAYMENTS; i++) {
        snprintf(id, sizeof id, "rs-%d", i);
        snprintf(rid, sizeof rid, "rs-%d-r", i);
        bool bank = i % 3 == 0;
        kbe_result_free(kbe_record(c, id, 1000 + i, "EUR", bank ? KBE_M(SEPA_DEBIT) : KBE_M(CARD)));
        if (bank) kbe_result_free(kbe_settle(c, id));
        kbe_result_free(kbe_refund(c, id, rid, 100, "EUR"));
        if (i % 5 == 0) kbe_result_free(kbe_open_dispute(c, id, NULL, 200, 50, "EUR"));
    }
}

static void test_restart_keeps_everything(void **state) {
    kbe_server *s = &srv;
    kbe_server_start(s, NULL);
    kb_client *c = kbe_connect(s, NULL);
    restart_writes(c);
    uint8_t *before[RESTART_PAYMENTS];
    size_t before_len[RESTART_PAYMENTS];
    char id[16];
    for (int i = 0; i < RESTART_PAYMENTS; i++) {
        snprintf(id, sizeof id, "rs-%d", i);
        before[i] = get_raw(c, id, &before_len[i]);
    }
    kbe_head h1, h2;
    kbe_head_get(c, &h1);
    kb_client_close(c);
    kbe_server_restart(s);
    c = kbe_connect(s, NULL);
    kbe_head_get(c, &h2);
    kbe_head_assert_equal(&h1, &h2, "restart");
    for (int i = 0; i < RESTART_PAYMENTS; i++) {
        snprintf(id, sizeof id, "rs-%d", i);
        size_t n;
        uint8_t *after = get_raw(c, id, &n);
        assert_int_equal(n, before_len[i]);
        assert_memory_equal(after, before[i], n);
        free(after);
        free(before[i]);
    }
    kbe_result *r = kbe_record(c, "rs-after", 100, "EUR", KBE_M(CARD));
    assert_int_equal(r->first_seq, h1.seq + 1); /* the log goes on, gap-free */
    kbe_result_free(r);
    kb_client_close(c);
    kbe_server_stop_ok(s);
}

/* --------------------------------------------------------------- crash */

typedef struct acked {
    char id[32];
    int refunds; /* acknowledged refunds: ids <id>-r0 .. <id>-r<refunds-1> */
    int sent;    /* refunds sent (acknowledged or not): the next refund index */
} acked;

typedef struct writer {
    pthread_t thread;
    int t;
    int cycle;
    const kbe_server *s;
    atomic_bool *stop;
    acked *acks; /* ACKED_MAX, all cycles */
    int n_acks;
    int cycle_acks;  /* acknowledged commands this cycle */
    char error[512]; /* a reply that is neither OK nor a transport error */
} writer;

/* One RecordPayment; -1 on a transport error. */
static int crash_record(kb_client *c, writer *w, int i) {
    acked *a = &w->acks[w->n_acks];
    snprintf(a->id, sizeof a->id, "c%d-t%d-%d", w->cycle, w->t, i);
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(PAYMENT_AMOUNT, "EUR");
    kb_client_call_opts o = {.idempotency_key = a->id};
    r.payment_id = a->id;
    r.amount = &m;
    r.method = KBE_M(CARD);
    kb_client_result res;
    if (kb_client_call(c, "RecordPayment", &r.base, &o, &res) != 0) return -1;
    if (res.code == 0) {
        a->refunds = a->sent = 0;
        w->n_acks++;
        w->cycle_acks++;
    } else {
        snprintf(w->error, sizeof w->error, "record %s: %s %s", a->id, res.reason, res.message);
    }
    kb_client_result_fini(&res);
    return 0;
}

/* One refund of an acknowledged payment; -1 on a transport error. */
static int crash_refund(kb_client *c, writer *w, acked *a) {
    char rid[48];
    snprintf(rid, sizeof rid, "%s-r%d", a->id, a->sent++);
    Kasboek__V1__RefundPaymentRequest q = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(REFUND_AMOUNT, "EUR");
    kb_client_call_opts o = {.idempotency_key = rid};
    q.payment_id = a->id;
    q.refund_id = rid;
    q.amount = &m;
    q.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_OTHER;
    kb_client_result res;
    if (kb_client_call(c, "RefundPayment", &q.base, &o, &res) != 0) return -1;
    /* Only a refund right after the last acknowledged one counts: an
     * unacknowledged one before it may or may not exist. */
    if (res.code != 0) {
        snprintf(w->error, sizeof w->error, "refund %s: %s %s", rid, res.reason, res.message);
    } else if (a->refunds == a->sent - 1) {
        a->refunds++;
        w->cycle_acks++;
    }
    kb_client_result_fini(&res);
    return 0;
}

static void *writer_main(void *arg) {
    writer *w = arg;
    kb_client *c;
    kb_client_options o = {.url = w->s->url, .api_key = "", .timeout_ms = CRASH_CALL_TIMEOUT_MS};
    if (kb_client_open(&o, &c) != 0) {
        snprintf(w->error, sizeof w->error, "thread %d cannot connect", w->t);
        return NULL;
    }
    for (int i = 0; !atomic_load(w->stop) && w->n_acks < ACKED_MAX; i++) {
        acked *a = w->n_acks ? &w->acks[(unsigned)i * 7u % (unsigned)w->n_acks] : NULL;
        bool refund = i % 3 == 2 && a && a->sent < REFUNDS_PER_PAYMENT_MAX;
        int rv = refund ? crash_refund(c, w, a) : crash_record(c, w, i);
        if (rv != 0 || w->error[0]) break; /* the server is gone */
    }
    kb_client_close(c);
    return NULL;
}

/* Runs the writers for CRASH_RUN_MS, SIGKILLs the server under them and
 * joins them. */
static void crash_cycle(kbe_server *s, writer *ws, int cycle) {
    atomic_bool stop = false;
    for (int t = 0; t < CRASH_THREADS; t++) {
        ws[t].cycle = cycle;
        ws[t].stop = &stop;
        ws[t].cycle_acks = 0;
        assert_int_equal(pthread_create(&ws[t].thread, NULL, writer_main, &ws[t]), 0);
    }
    kbe_sleep_ms(CRASH_RUN_MS);
    kbe_server_kill(s);
    atomic_store(&stop, true);
    int total = 0;
    for (int t = 0; t < CRASH_THREADS; t++) {
        pthread_join(ws[t].thread, NULL);
        if (ws[t].error[0]) fail_msg("writer %d: %s", t, ws[t].error);
        total += ws[t].cycle_acks;
    }
    print_message("crash cycle %d: %d commands acknowledged before SIGKILL\n", cycle, total);
    assert_true(total > 0);
}

static void check_acked(kb_client *c, const acked *a) {
    Kasboek__V1__GetPaymentReply *g = kbe_get(c, a->id);
    const kbe_payment *p = g->payment;
    char rid[48];
    assert_int_equal(p->amount->amount, PAYMENT_AMOUNT);
    assert_true(p->n_refunds >= (size_t)a->refunds);
    assert_true(p->amount_refunded >= (int64_t)a->refunds * REFUND_AMOUNT);
    for (int k = 0; k < a->refunds; k++) {
        snprintf(rid, sizeof rid, "%s-r%d", a->id, k);
        bool found = false;
        for (size_t j = 0; j < p->n_refunds && !found; j++)
            found = !strcmp(p->refunds[j]->refund_id, rid);
        if (!found) fail_msg("acknowledged refund %s is lost after the crash", rid);
    }
    kbe_get_free(g);
}

static void check_all_acked(const kbe_server *s, const writer *ws) {
    kb_client *c = kbe_connect(s, NULL);
    for (int t = 0; t < CRASH_THREADS; t++) {
        for (int i = 0; i < ws[t].n_acks; i++) check_acked(c, &ws[t].acks[i]);
    }
    kb_client_close(c);
}


static writer ws[CRASH_THREADS];

static int teardown_crash(void **state) {
    for (int t = 0; t < CRASH_THREADS; t++) free(ws[t].acks);
    memset(ws, 0, sizeof ws);
    return teardown_server(state);
}

/* Three cycles on one data dir: write from 4 threads, SIGKILL, restart,
 * check every acknowledged command, stop cleanly, audit. */
static void test_sigkill_loses_no_acknowledged_command(void **state) {
    for (int t = 0; t < CRASH_THREADS; t++) {
        ws[t].t = t;
        ws[t].s = &srv;
        ws[t].acks = calloc(ACKED_MAX, sizeof(acked));
        assert_non_null(ws[t].acks);
    }
    kbe_server_start(&srv, NULL);
    for (int cycle = 0; cycle < CRASH_CYCLES; cycle++) {
        if (cycle > 0) kbe_server_resume(&srv);
        crash_cycle(&srv, ws, cycle);
        kbe_server_resume(&srv);
        check_all_acked(&srv, ws);
        kbe_server_stop_ok(&srv);
        kbe_audit_ok(&srv);
    }
}

/* ------------------------------------------------------- graceful stop */

typedef struct stopper {
    pthread_t thread;
    int t;
    char acked[STOP_ACKED_MAX][24]; /* answered OK */
    int n_acked;
    char lost[24];   /* the request that got no answer ("" if none) */
    char error[512]; /* an answer other than OK or SHUTTING_DOWN */
    int shutting_down;
} stopper;

static stopper *stoppers;

static void *stopper_main(void *arg) {
    stopper *w = arg;
    kb_client *c;
    kb_client_options o = {.url = srv.url, .api_key = "", .timeout_ms = CRASH_CALL_TIMEOUT_MS};
    if (kb_client_open(&o, &c) != 0) return NULL;
    for (int i = 0; w->n_acked < STOP_ACKED_MAX && !w->lost[0] && !w->error[0]; i++) {
        char id[24];
        snprintf(id, sizeof id, "g%d-%d", w->t, i);
        Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
        Kasboek__V1__Money m = kbe_money(PAYMENT_AMOUNT, "EUR");
        r.payment_id = id;
        r.amount = &m;
        r.method = KBE_M(CARD);
        kb_client_result res;
        if (kb_client_call(c, "RecordPayment", &r.base, NULL, &res) != 0) {
            snprintf(w->lost, sizeof w->lost, "%s", id);
            break;
        }
        if (res.code == 0)
            snprintf(w->acked[w->n_acked++], 24, "%s", id);
        else if (!strcmp(res.reason, "SHUTTING_DOWN"))
            w->shutting_down++;
        else
            snprintf(w->error, sizeof w->error, "%s: %s %s", id, res.reason, res.message);
        kb_client_result_fini(&res);
        if (w->shutting_down) break;
    }
    kb_client_close(c);
    return NULL;
}

static int teardown_stoppers(void **state) {
    free(stoppers);
    stoppers = NULL;
    return teardown_server(state);
}

/* Does the payment exist? (a query that must answer) */
static bool payment_exists(kb_client *c, const char *id) {
    kb_client_result res;
    Kasboek__V1__GetPaymentReply *g = NULL;
    assert_int_equal(kb_client_get_payment(c, id, &res, &g), 0);
    bool found = g != NULL;
    if (!g) assert_string_equal(res.reason, "PAYMENT_NOT_FOUND");
    kbe_get_free(g);
    kb_client_result_fini(&res);
    return found;
}

/* Writers per graceful-stop cycle, and cycles. */
#define STOP_THREADS 8
#define STOP_CYCLES  4
#define STOP_RUN_MS  300

/* Starts the writers, SIGTERMs kasboekd under them (it must exit 0) and
 * joins them. */
static void stop_cycle(int cycle) {
    for (int t = 0; t < STOP_THREADS; t++) {
        stopper *w = &stoppers[cycle * STOP_THREADS + t];
        w->t = cycle * STOP_THREADS + t;
        assert_int_equal(pthread_create(&w->thread, NULL, stopper_main, w), 0);
    }
    kbe_sleep_ms(STOP_RUN_MS);
    int code = kbe_server_stop(&srv);
    for (int t = 0; t < STOP_THREADS; t++) /* before any assert ends the test */
        pthread_join(stoppers[cycle * STOP_THREADS + t].thread, NULL);
    if (code != 0) {
        kbe_server_dump_log(&srv);
        fail_msg("kasboekd did not stop cleanly on SIGTERM: exit status %d", code);
    }
}

/* Every acknowledged payment is there; returns how many unanswered ones
 * were stored anyway. */
static int stop_check(kb_client *c, const stopper *w) {
    if (w->error[0]) fail_msg("writer %d: %s", w->t, w->error);
    for (int i = 0; i < w->n_acked; i++) assert_true(payment_exists(c, w->acked[i]));
    if (!w->lost[0] || !payment_exists(c, w->lost)) return 0;
    print_message("%s was stored, but its answer never reached the client\n", w->lost);
    return 1;
}

/* SIGTERM while 8 clients write, 4 times: kasboekd exits 0, every
 * acknowledged payment is durable, and (kasboekd --help: "in-flight
 * commands are committed and answered first") no command is stored
 * without its answer reaching the client. */
static void test_sigterm_under_load(void **state) {
    stoppers = calloc(STOP_THREADS * STOP_CYCLES, sizeof *stoppers);
    assert_non_null(stoppers);
    kbe_server_start(&srv, NULL);
    int unanswered_but_stored = 0;
    for (int cycle = 0; cycle < STOP_CYCLES; cycle++) {
        stop_cycle(cycle);
        kbe_server_resume(&srv);
        kb_client *c = kbe_connect(&srv, NULL);
        for (int t = 0; t < STOP_THREADS; t++) {
            unanswered_but_stored += stop_check(c, &stoppers[cycle * STOP_THREADS + t]);
        }
        kb_client_close(c);
    }
    assert_int_equal(unanswered_but_stored, 0);
}

/* ---------------------------------------------------------------- ticker */

#define DAY_US INT64_C(86400000000)

static size_t payouts_listed(kb_client *c) {
    Kasboek__V1__ListPayoutsRequest q = KASBOEK__V1__LIST_PAYOUTS_REQUEST__INIT;
    kb_client_result res;
    assert_int_equal(kb_client_call(c, "ListPayouts", &q.base, NULL, &res), 0);
    if (res.code != 0) kbe_fail_result("ListPayouts", &res);
    Kasboek__V1__ListPayoutsReply *l =
        kasboek__v1__list_payouts_reply__unpack(NULL, res.payload_len, res.payload);
    assert_non_null(l);
    size_t n = l->n_payouts;
    kasboek__v1__list_payouts_reply__free_unpacked(l, NULL);
    kb_client_result_fini(&res);
    return n;
}

/* On the system clock kasboekd ticks by itself: a card payment of 10 days
 * ago is paid out within a tick interval, with no admin Tick; on restart
 * the first tick comes at once. */
static void test_ticker_closes_due_payout_days(void **state) {
    const char *const extra[] = {"--tick-interval-s", "1", NULL};
    kbe_server_start(&srv, extra);
    kb_client *c = kbe_connect(&srv, "t-tick");
    kbe_head h;
    kbe_head_get(c, &h);
    assert_false(h.manual);
    Kasboek__V1__Money a = KASBOEK__V1__MONEY__INIT;
    a.amount = 2500;
    a.currency = "EUR";
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "tick-1";
    r.amount = &a;
    r.method = KBE_M(CARD);
    r.occurred_at = h.now - 10 * DAY_US;
    kbe_result_free(kbe_command_ok(c, "RecordPayment", &r.base, NULL));
    int64_t t0 = kbe_monotonic_ms();
    while (payouts_listed(c) == 0 && kbe_monotonic_ms() - t0 < 5000) kbe_sleep_ms(50);
    assert_int_equal(payouts_listed(c), 1);
    kb_client_close(c);
    kbe_server_stop_ok(&srv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_restart_keeps_everything, teardown_server),
        cmocka_unit_test_teardown(test_sigkill_loses_no_acknowledged_command, teardown_crash),
        cmocka_unit_test_teardown(test_sigterm_under_load, teardown_stoppers),
        cmocka_unit_test_teardown(test_ticker_closes_due_payout_days, teardown_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
