/* kasboekd under conditions a review found wrong (2026-12-07):
 *  - one nng context, many clients: every reply is its own command's,
 *    whole (the reply used to be freed after its context was handed back
 *    to nng, so the next request's reply could go out empty, or leak);
 *  - a disk that fails a sync: every reply of the failed batch and of the
 *    batch built on it says STORAGE_FAILED, refusals too (a PAYMENT_EXISTS
 *    decided against the unsynced payment used to go out); after a
 *    restart, retries with the same idempotency keys settle it;
 *  - the manual clock refuses a reading past the calendar's range (one set
 *    to INT64_MAX aborted kasboekd at the next card payment, and kept the
 *    data dir broken);
 *  - a tick queued behind a command sees it (it used to run in the same
 *    batch and read only the store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* --------------------------------------------- one context, many clients */

#define CLIENTS             4
#define PAYMENTS_PER_CLIENT 25

typedef struct client_run {
    const kbe_server *s;
    int index;
    int bad; /* replies that were not this command's, whole */
    char first_bad[160];
} client_run;

static void *client_main(void *p) {
    client_run *r = p;
    kb_client *c = NULL;
    kb_client_options o = {.url = r->s->url, .timeout_ms = KBE_CALL_TIMEOUT_MS};
    if (kb_client_open(&o, &c) != 0) {
        r->bad = PAYMENTS_PER_CLIENT;
        snprintf(r->first_bad, sizeof r->first_bad, "cannot connect");
        return NULL;
    }
    for (int i = 0; i < PAYMENTS_PER_CLIENT; i++) {
        char id[32];
        snprintf(id, sizeof id, "c%d-p%d", r->index, i);
        Kasboek__V1__Money m = kbe_money(1000 + r->index * 100 + i, "EUR");
        Kasboek__V1__RecordPaymentRequest q = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
        q.payment_id = id;
        q.amount = &m;
        q.method = KBE_M(CARD);
        kb_client_result res;
        kbe_result *out = NULL;
        int rv = kb_client_command(c, "RecordPayment", &q.base, NULL, &res, &out);
        bool ok = rv == 0 && res.code == 0 && out && out->payment &&
                  !strcmp(out->payment->payment_id, id) && out->payment->amount &&
                  out->payment->amount->amount == m.amount;
        if (!ok && r->bad++ == 0) {
            snprintf(r->first_bad, sizeof r->first_bad, "%s: rv %d code %d reason %s payload %zu",
                     id, rv, rv ? -1 : res.code, rv ? "" : res.reason,
                     rv ? (size_t)0 : res.payload_len);
        }
        if (out) kbe_result_free(out);
        if (rv == 0) kb_client_result_fini(&res);
    }
    kb_client_close(c);
    return NULL;
}

static void test_one_context_many_clients(void **state) {
    (void)state;
    static const char *const flags[] = {"--contexts", "1", "--pipeline-bytes", "0", NULL};
    kbe_server s = {0};
    kbe_server_start(&s, flags);
    pthread_t t[CLIENTS];
    client_run runs[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        runs[i] = (client_run){.s = &s, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, client_main, &runs[i]), 0);
    }
    int bad = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        if (runs[i].bad) print_message("client %d: %s\n", i, runs[i].first_bad);
        bad += runs[i].bad;
    }
    kb_client *c = kbe_connect(&s, NULL);
    kbe_head h;
    kbe_head_get(c, &h);
    kb_client_close(c);
    /* under LeakSanitizer a reply that leaked fails the clean stop */
    kbe_server_stop_ok(&s);
    kbe_server_fini(&s);
    assert_int_equal(bad, 0);
    assert_true(h.seq >= 2 * CLIENTS * PAYMENTS_PER_CLIENT); /* payment + its booking */
}

/* ------------------------------------------------------- a failing sync */

typedef struct dup_call {
    const kbe_server *s;
    int64_t amount;
    const char *idem;
    int rv, code;
    char reason[64];
} dup_call;

static void *dup_main(void *p) {
    dup_call *d = p;
    kb_client *c = NULL;
    kb_client_options o = {.url = d->s->url, .timeout_ms = KBE_CALL_TIMEOUT_MS};
    d->rv = kb_client_open(&o, &c);
    if (d->rv != 0) return NULL;
    Kasboek__V1__Money m = kbe_money(d->amount, "EUR");
    Kasboek__V1__RecordPaymentRequest q = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    q.payment_id = "p-dup";
    q.amount = &m;
    q.method = KBE_M(CARD);
    kb_client_call_opts co = {.idempotency_key = d->idem};
    kb_client_result res;
    kbe_result *out = NULL;
    d->rv = kb_client_command(c, "RecordPayment", &q.base, &co, &res, &out);
    if (d->rv == 0) {
        d->code = res.code;
        snprintf(d->reason, sizeof d->reason, "%s", res.reason);
        kb_client_result_fini(&res);
    }
    if (out) kbe_result_free(out);
    kb_client_close(c);
    return NULL;
}

static void test_failed_sync_fails_every_reply(void **state) {
    (void)state;
    char tdir[KBE_PATH_MAX], trigger[KBE_PATH_MAX + 8], asan[512];
    kbe_mkdtemp(tdir, sizeof tdir);
    snprintf(trigger, sizeof trigger, "%s/FAIL", tdir);
    const char *prev = getenv("ASAN_OPTIONS");
    char *prev_asan = prev ? strdup(prev) : NULL;
    /* the shim is preloaded ahead of the sanitizer's runtime */
    snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0", prev_asan ? prev_asan : "",
             prev_asan && *prev_asan ? ":" : "");
    setenv("LD_PRELOAD", KB_FAILSYNC, 1);
    setenv("ASAN_OPTIONS", asan, 1);
    setenv("KB_FAILSYNC_TRIGGER", trigger, 1);
    static const char *const flags[] = {"--pipeline-bytes", "0", "--tick-interval-s", "0", NULL};
    kbe_server s = {0};
    kbe_server_start(&s, flags);
    unsetenv("LD_PRELOAD");
    unsetenv("KB_FAILSYNC_TRIGGER");
    if (prev_asan) {
        setenv("ASAN_OPTIONS", prev_asan, 1);
        free(prev_asan);
    } else {
        unsetenv("ASAN_OPTIONS");
    }
    FILE *f = fopen(trigger, "w");
    assert_non_null(f);
    fclose(f);
    /* A's batch waits 300 ms in its sync, then fails; B comes 100 ms later
     * and is decided against A's payment in the batch built on it. */
    dup_call a = {.s = &s, .amount = 1000, .idem = "dup-a"};
    dup_call b = {.s = &s, .amount = 2000, .idem = "dup-b"};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, dup_main, &a), 0);
    kbe_sleep_ms(100);
    assert_int_equal(pthread_create(&tb, NULL, dup_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(unlink(trigger), 0);
    assert_int_equal(kbe_rmtree(tdir), 0);
    assert_int_equal(a.rv, 0);
    assert_int_equal(b.rv, 0);
    print_message("A: %d %s, B: %d %s\n", a.code, a.reason, b.code, b.reason);
    assert_int_equal(a.code, KBE_UNAVAILABLE);
    assert_string_equal(a.reason, "STORAGE_FAILED");
    assert_int_equal(b.code, KBE_UNAVAILABLE);
    assert_string_equal(b.reason, "STORAGE_FAILED");
    /* kasboekd refuses writes after a failed commit, and says so on exit */
    kb_client *c = kbe_connect(&s, NULL);
    Kasboek__V1__Money m = kbe_money(5, "EUR");
    Kasboek__V1__RecordPaymentRequest q = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    q.payment_id = "p-after";
    q.amount = &m;
    q.method = KBE_M(CARD);
    kbe_command_fails(c, "RecordPayment", &q.base, NULL, KBE_UNAVAILABLE, "STORAGE_FAILED", NULL);
    kb_client_close(c);
    assert_int_equal(kbe_server_stop(&s), 1);
    /* A's sync failed after its bytes were written: whether they reached
     * the disk is unknown (here they did not go away, and the restart
     * replays them). B's batch was never written. Retried with their
     * idempotency keys, A answers OK either way and B is refused. */
    kbe_server_resume(&s);
    c = kbe_connect(&s, NULL);
    Kasboek__V1__GetPaymentRequest g = KASBOEK__V1__GET_PAYMENT_REQUEST__INIT;
    g.payment_id = "p-dup";
    kb_client_result res;
    assert_int_equal(kb_client_call(c, "GetPayment", &g.base, NULL, &res), 0);
    print_message("after the restart p-dup is %s\n", res.code ? "absent" : "there");
    assert_true(res.code == KBE_OK || res.code == KBE_NOT_FOUND);
    kb_client_result_fini(&res);
    Kasboek__V1__Money ma = kbe_money(1000, "EUR"), mb = kbe_money(2000, "EUR");
    q.payment_id = "p-dup";
    q.amount = &ma;
    kb_client_call_opts oa = {.idempotency_key = "dup-a"}, ob = {.idempotency_key = "dup-b"};
    kbe_result *r = kbe_command_ok(c, "RecordPayment", &q.base, &oa);
    assert_int_equal(r->payment->amount->amount, 1000);
    kbe_result_free(r);
    q.amount = &mb;
    kbe_command_fails(c, "RecordPayment", &q.base, &ob, KBE_ALREADY_EXISTS, "PAYMENT_EXISTS",
                      "payment_id");
    Kasboek__V1__GetPaymentReply *got = kbe_get(c, "p-dup");
    assert_int_equal(got->payment->amount->amount, 1000);
    assert_int_equal(got->payment->version, 1);
    kbe_get_free(got);
    kb_client_close(c);
    kbe_server_stop_ok(&s);
    kbe_audit_ok(&s);
    kbe_server_fini(&s);
}

/* --------------------------------------------------- the clock's range */

static void test_clock_range(void **state) {
    (void)state;
    static const char *const flags[] = {"--manual-clock", "--clock-start", "2026-03-01T00:00:00Z",
                                        NULL};
    kbe_server s = {0};
    kbe_server_start(&s, flags);
    kb_client *c = kbe_connect(&s, NULL);
    const int64_t bad[] = {INT64_MAX, INT64_C(221845392000000001) /* 9000-01-01 + 1 us */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Kasboek__V1__SetClockRequest q = KASBOEK__V1__SET_CLOCK_REQUEST__INIT;
        q.now = bad[i];
        kb_client_result res;
        assert_int_equal(kb_client_call(c, "SetClock", &q.base, NULL, &res), 0);
        assert_int_equal(res.code, KBE_INVALID_ARGUMENT);
        assert_string_equal(res.reason, "INVALID_TIME");
        assert_string_equal(res.field, "now");
        kb_client_result_fini(&res);
    }
    kbe_head h;
    kbe_head_get(c, &h);
    assert_true(h.now < INT64_C(1800000000000000)); /* still in 2026 */
    kbe_set_clock(c, INT64_C(221845392000000000));  /* the last reading taken */
    kbe_result *r = kbe_record(c, "p-late", 100, "EUR", KBE_M(CARD));
    assert_int_equal(r->version, 1);
    kbe_result_free(r);
    kb_client_close(c);
    kbe_server_restart(&s); /* and the data dir opens again */
    c = kbe_connect(&s, NULL);
    Kasboek__V1__GetPaymentReply *g = kbe_get(c, "p-late");
    assert_int_equal(g->payment->amount->amount, 100);
    kbe_get_free(g);
    kb_client_close(c);
    kbe_server_stop_ok(&s);
    kbe_server_fini(&s);
}

/* ----------------------------------- a tick after a command in one batch */

typedef struct clock_call {
    const kbe_server *s;
    int64_t now;
    int rv, code;
    uint32_t payouts_closed;
} clock_call;

static void *clock_main(void *p) {
    clock_call *k = p;
    kb_client *c = NULL;
    kb_client_options o = {.url = k->s->url, .timeout_ms = KBE_CALL_TIMEOUT_MS};
    k->rv = kb_client_open(&o, &c);
    if (k->rv != 0) return NULL;
    Kasboek__V1__SetClockRequest q = KASBOEK__V1__SET_CLOCK_REQUEST__INIT;
    q.now = k->now;
    kb_client_result res;
    k->rv = kb_client_call(c, "SetClock", &q.base, NULL, &res);
    if (k->rv == 0) {
        k->code = res.code;
        Kasboek__V1__ClockReply *r =
            res.code ? NULL : kasboek__v1__clock_reply__unpack(NULL, res.payload_len, res.payload);
        if (r) k->payouts_closed = r->payouts_closed;
        if (r) kasboek__v1__clock_reply__free_unpacked(r, NULL);
        kb_client_result_fini(&res);
    }
    kb_client_close(c);
    return NULL;
}

/* A card payment of Monday is available on Wednesday; a SetClock to
 * Wednesday afternoon queued right behind the payment, inside the batch
 * window, used to run in the payment's batch and close no payout (the tick
 * read the store, not the batch). It runs alone after the payment's
 * commit now, and closes the day. */
static void test_tick_sees_the_command_before(void **state) {
    (void)state;
    static const char *const flags[] = {"--manual-clock",
                                        "--clock-start",
                                        "2026-03-02T10:00:00Z",
                                        "--batch-window-us",
                                        "100000",
                                        "--tick-interval-s",
                                        "0",
                                        NULL};
    kbe_server s = {0};
    kbe_server_start(&s, flags);
    dup_call a = {.s = &s, .amount = 1000, .idem = "tick-pay"};
    clock_call k = {.s = &s, .now = INT64_C(1772629200000000)}; /* 2026-03-04T13:00:00Z */
    pthread_t ta, tk;
    assert_int_equal(pthread_create(&ta, NULL, dup_main, &a), 0);
    kbe_sleep_ms(20);
    assert_int_equal(pthread_create(&tk, NULL, clock_main, &k), 0);
    pthread_join(ta, NULL);
    pthread_join(tk, NULL);
    assert_int_equal(a.rv, 0);
    assert_int_equal(a.code, KBE_OK);
    assert_int_equal(k.rv, 0);
    assert_int_equal(k.code, KBE_OK);
    assert_int_equal(k.payouts_closed, 1);
    kbe_server_stop_ok(&s);
    kbe_audit_ok(&s);
    kbe_server_fini(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_context_many_clients),
        cmocka_unit_test(test_failed_sync_fails_every_reply),
        cmocka_unit_test(test_clock_range),
        cmocka_unit_test(test_tick_sees_the_command_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
