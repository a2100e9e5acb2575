/* Payment aggregate: decide() and evolve() called directly (pure), and the
 * engine pipeline on a temporary store (idempotency, versions, aliases). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregate.h"
#include "engine.h"
#include "payment.h"
#include "project.h"
#include "rebuild.h"
#include "support/engine_env.h"

typedef Kasboek__V1__Payment Payment;

#define NOW INT64_C(1767225600000000) /* 2026-01-01 */

/* ------------------------------------------------------------ pure core */

typedef struct fold {
    kb_arena arena;
    ProtobufCMessage *state;
    kb_error err;
    kb_decide_ctx dc;
} fold;

static Kasboek__V1__Money *money(fold *f, int64_t amount, const char *cur) {
    Kasboek__V1__Money *m = kb_arena_alloc(&f->arena, sizeof *m);
    kasboek__v1__money__init(m);
    m->amount = amount;
    m->currency = (char *)cur;
    return m;
}

/* Runs decide for method on the folded state; on success folds the events
 * in. Returns the code. */
static kb_code run(fold *f, const char *method, ProtobufCMessage *cmd) {
    const kb_command *c = kb_command_find(method);
    assert_non_null(c);
    kb_error_clear(&f->err);
    f->dc = (kb_decide_ctx){.tenant = "t1",
                            .id = "p1",
                            .now = NOW,
                            .occurred_at = NOW,
                            .arena = &f->arena,
                            .err = &f->err};
    kb_code code = c->decide(f->state, cmd, &f->dc);
    assert_int_equal(code, f->err.code);
    if (code != KB_CODE_OK) {
        assert_int_equal(f->dc.n_events, 0);
        return code;
    }
    assert_true(f->dc.n_events > 0);
    if (!f->state) f->state = kb_payment_aggregate.create(&f->arena, "p1");
    for (size_t i = 0; i < f->dc.n_events; i++) {
        f->dc.events[i]->occurred_at = NOW;
        kb_payment_aggregate.evolve(f->state, f->dc.events[i], &f->arena);
    }
    return code;
}

static void record(fold *f, int64_t amount, Kasboek__V1__PaymentMethod method) {
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "p1";
    r.amount = money(f, amount, "EUR");
    r.method = method;
    assert_int_equal(run(f, "RecordPayment", &r.base), KB_CODE_OK);
}

static kb_code refund(fold *f, int64_t amount, const char *cur) {
    Kasboek__V1__RefundPaymentRequest r = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    r.payment_id = "p1";
    r.amount = money(f, amount, cur);
    r.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_REQUESTED_BY_CUSTOMER;
    return run(f, "RefundPayment", &r.base);
}

static void check_parts(const Payment *p) {
    if (p->status == KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PROCESSING ||
        p->status == KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_FAILED) {
        return;
    }
    /* the parts always sum to the whole */
    assert_int_equal(
        p->amount_refunded + p->amount_refund_pending + p->amount_disputed + p->amount_refundable,
        p->amount->amount);
}

static int fold_setup(void **st) {
    fold *f = calloc(1, sizeof *f);
    kb_arena_init(&f->arena, 1u << 24);
    *st = f;
    return 0;
}

static int fold_teardown(void **st) {
    fold *f = *st;
    kb_arena_fini(&f->arena);
    free(f);
    return 0;
}

static void test_card_payment_succeeds_and_refunds(void **st) {
    fold *f = *st;
    record(f, 1250, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD);
    Payment *p = (Payment *)f->state;
    assert_int_equal(p->status, KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED);
    assert_int_equal(p->amount_refundable, 1250);
    assert_int_equal(refund(f, 500, "EUR"), KB_CODE_OK);
    assert_int_equal(f->dc.n_events, 2); /* created + settled at once */
    assert_int_equal(p->status, KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PARTIALLY_REFUNDED);
    assert_int_equal(p->amount_refunded, 500);
    check_parts(p);
    assert_int_equal(refund(f, 751, "EUR"), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(f->err.reason, KB_REASON_REFUND_EXCEEDS_AVAILABLE);
    assert_string_equal(f->err.field, "amount.amount");
    assert_int_equal(refund(f, 100, "USD"), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(f->err.reason, KB_REASON_CURRENCY_MISMATCH);
    assert_int_equal(refund(f, 0, "EUR"), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(f->err.reason, KB_REASON_INVALID_AMOUNT);
    assert_int_equal(refund(f, 750, "EUR"), KB_CODE_OK);
    assert_int_equal(p->status, KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_REFUNDED);
    assert_int_equal(p->amount_refundable, 0);
    check_parts(p);
}

static void test_bank_debit_lifecycle(void **st) {
    fold *f = *st;
    record(f, 10000, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT);
    Payment *p = (Payment *)f->state;
    assert_int_equal(p->status, KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PROCESSING);
    assert_int_equal(refund(f, 100, "EUR"), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(f->err.reason, KB_REASON_PAYMENT_NOT_SUCCEEDED);
    Kasboek__V1__SettlePaymentRequest s = KASBOEK__V1__SETTLE_PAYMENT_REQUEST__INIT;
    s.payment_id = "p1";
    assert_int_equal(run(f, "SettlePayment", &s.base), KB_CODE_OK);
    assert_int_equal(p->status, KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED);
    assert_int_equal(run(f, "SettlePayment", &s.base), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(f->err.reason, KB_REASON_PAYMENT_NOT_PROCESSING);
    assert_int_equal(refund(f, 4000, "EUR"), KB_CODE_OK);
    assert_int_equal(f->dc.n_events, 1); /* a bank debit refund waits */
    const char *rid = f->dc.created_id;
    assert_non_null(rid);
    assert_int_equal(p->status, KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_REFUND_PENDING);
    assert_int_equal(p->amount_refund_pending, 4000);
    assert_int_equal(p->amount_refundable, 6000);
    check_parts(p);
    Kasboek__V1__FailRefundRequest fr = KASBOEK__V1__FAIL_REFUND_REQUEST__INIT;
    fr.refund_id = (char *)rid;
    assert_int_equal(run(f, "FailRefund", &fr.base), KB_CODE_OK);
    assert_int_equal(p->amount_refundable, 10000); /* refundable again */
    assert_int_equal(p->status, KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED);
    assert_int_equal(run(f, "FailRefund", &fr.base), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(f->err.reason, KB_REASON_REFUND_NOT_PENDING);
    check_parts(p);
}

static void test_failed_debit_cannot_refund(void **st) {
    fold *f = *st;
    record(f, 500, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_ACH_DEBIT);
    Kasboek__V1__FailPaymentRequest r = KASBOEK__V1__FAIL_PAYMENT_REQUEST__INIT;
    r.payment_id = "p1";
    assert_int_equal(run(f, "FailPayment", &r.base), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(f->err.reason, KB_REASON_FIELD_REQUIRED); /* reason required */
    r.reason = "insufficient funds";
    assert_int_equal(run(f, "FailPayment", &r.base), KB_CODE_OK);
    Payment *p = (Payment *)f->state;
    assert_int_equal(p->status, KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_FAILED);
    assert_string_equal(p->failure_reason, "insufficient funds");
    assert_int_equal(refund(f, 100, "EUR"), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(f->err.reason, KB_REASON_PAYMENT_NOT_SUCCEEDED);
}

static kb_code dispute(fold *f, int64_t amount, int64_t fee) {
    Kasboek__V1__OpenDisputeRequest r = KASBOEK__V1__OPEN_DISPUTE_REQUEST__INIT;
    r.payment_id = "p1";
    r.amount = money(f, amount, "EUR");
    if (fee) r.fee = money(f, fee, "EUR");
    return run(f, "OpenDispute", &r.base);
}

static kb_code close_dispute(fold *f, const char *id, Kasboek__V1__DisputeOutcome o) {
    Kasboek__V1__CloseDisputeRequest r = KASBOEK__V1__CLOSE_DISPUTE_REQUEST__INIT;
    r.dispute_id = (char *)id;
    r.outcome = o;
    return run(f, "CloseDispute", &r.base);
}

static void test_disputes(void **st) {
    fold *f = *st;
    record(f, 2000, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD);
    Payment *p = (Payment *)f->state;
    assert_int_equal(dispute(f, 2001, 0), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(f->err.reason, KB_REASON_DISPUTE_EXCEEDS_AVAILABLE);
    assert_int_equal(dispute(f, 1500, 1500), KB_CODE_OK);
    const char *d1 = f->dc.created_id;
    assert_int_equal(p->amount_disputed, 1500);
    assert_int_equal(p->amount_refundable, 500);
    assert_int_equal(refund(f, 501, "EUR"), KB_CODE_FAILED_PRECONDITION);
    check_parts(p);
    assert_int_equal(close_dispute(f, d1, KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_WON),
                     KB_CODE_OK);
    assert_int_equal(p->amount_disputed, 0);
    assert_int_equal(p->amount_refundable, 2000);
    assert_int_equal(close_dispute(f, d1, KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST),
                     KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(f->err.reason, KB_REASON_DISPUTE_NOT_OPEN);
    assert_int_equal(dispute(f, 800, 0), KB_CODE_OK);
    const char *d2 = f->dc.created_id;
    assert_string_not_equal(d1, d2);
    assert_int_equal(close_dispute(f, d2, KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST),
                     KB_CODE_OK);
    assert_int_equal(p->amount_disputed, 800);
    assert_int_equal(p->amount_refundable, 1200);
    check_parts(p);
}

static void test_associate_replaces_one_kind(void **st) {
    fold *f = *st;
    Kasboek__V1__Associations as = KASBOEK__V1__ASSOCIATIONS__INIT;
    as.contact_id = "c1";
    as.deal_id = "d1";
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "p1";
    r.amount = money(f, 100, "EUR");
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_IDEAL;
    r.associations = &as;
    assert_int_equal(run(f, "RecordPayment", &r.base), KB_CODE_OK);
    Kasboek__V1__Associations as2 = KASBOEK__V1__ASSOCIATIONS__INIT;
    as2.contact_id = "c2";
    Kasboek__V1__AssociatePaymentRequest a = KASBOEK__V1__ASSOCIATE_PAYMENT_REQUEST__INIT;
    a.payment_id = "p1";
    a.associations = &as2;
    assert_int_equal(run(f, "AssociatePayment", &a.base), KB_CODE_OK);
    Payment *p = (Payment *)f->state;
    assert_string_equal(p->associations->contact_id, "c2");
    assert_string_equal(p->associations->deal_id, "d1");
    Kasboek__V1__Associations empty = KASBOEK__V1__ASSOCIATIONS__INIT;
    a.associations = &empty;
    assert_int_equal(run(f, "AssociatePayment", &a.base), KB_CODE_INVALID_ARGUMENT);
    as2.contact_id = "bad id";
    a.associations = &as2;
    assert_int_equal(run(f, "AssociatePayment", &a.base), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(f->err.reason, KB_REASON_INVALID_ID);
    assert_string_equal(f->err.field, "associations.contact_id");
}

static void test_line_items_must_sum(void **st) {
    fold *f = *st;
    Kasboek__V1__LineItem li = KASBOEK__V1__LINE_ITEM__INIT, *lis[] = {&li};
    li.name = "seat";
    li.quantity = 3;
    li.unit_price = money(f, 333, "EUR");
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "p1";
    r.amount = money(f, 1000, "EUR");
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD;
    r.n_line_items = 1;
    r.line_items = lis;
    assert_int_equal(run(f, "RecordPayment", &r.base), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(f->err.reason, KB_REASON_LINE_ITEMS_TOTAL_MISMATCH);
    li.quantity = INT64_MAX / 2;
    assert_int_equal(run(f, "RecordPayment", &r.base), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(f->err.reason, KB_REASON_AMOUNT_OVERFLOW);
    li.quantity = 3;
    r.amount->amount = 999;
    assert_int_equal(run(f, "RecordPayment", &r.base), KB_CODE_OK);
}

/* --------------------------------------------------------------- engine */

static void rec(env *e, const char *id, int64_t amount, Kasboek__V1__PaymentMethod m,
                const char *idem, kb_code want) {
    Kasboek__V1__Money mo = KASBOEK__V1__MONEY__INIT;
    mo.amount = amount;
    mo.currency = "EUR";
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    r.amount = &mo;
    r.method = m;
    assert_int_equal(exec(e, "RecordPayment", &r.base, idem, -1), want);
}

static void pipelined_payment_and_refund(env *e, Kasboek__V1__RecordPaymentRequest *r,
                                         Kasboek__V1__RefundPaymentRequest *rf, kb_sealed *s1) {
    static Kasboek__V1__Money mo = KASBOEK__V1__MONEY__INIT, rmo = KASBOEK__V1__MONEY__INIT;
    mo.amount = 3000;
    mo.currency = "EUR";
    rmo.amount = 1000;
    rmo.currency = "EUR";
    r->payment_id = "p1";
    r->amount = &mo;
    r->method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD;
    rf->payment_id = "p1";
    rf->refund_id = "r1";
    rf->amount = &rmo;
    rf->reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_DUPLICATE;
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    assert_int_equal(exec_open(e, "RecordPayment", &r->base, "k1", -1), KB_CODE_OK);
    assert_int_equal(kb_engine_batch_seal(e->engine, s1), KB_OK);
    /* The next batch runs while the first is (not yet) written: it reads
     * the sealed batch's payment, alias and idempotency key. */
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    assert_int_equal(exec_open(e, "RefundPayment", &rf->base, "k-r1", -1), KB_CODE_OK);
    assert_int_equal(exec_open(e, "RecordPayment", &r->base, "k1", -1), KB_CODE_OK);
    Kasboek__V1__CommandResult *res = result(e);
    assert_true(res->replayed);
    kasboek__v1__command_result__free_unpacked(res, NULL);
    kb_sealed again;
    assert_int_equal(kb_engine_batch_seal(e->engine, &again), KB_ERR_STATE); /* one in flight */
    kb_head stored;
    assert_int_equal(kb_log_head_read(e->store, NULL, NULL, &stored), KB_OK);
    assert_int_equal(stored.seq, 0);
}

static void test_engine_pipelined_batches(void **st) {
    env *e = *st;
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__RefundPaymentRequest rf = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    kb_sealed s1, s2;
    pipelined_payment_and_refund(e, &r, &rf, &s1);
    assert_int_equal(kb_sealed_write(&s1), KB_OK);
    kb_engine_sealed_done(e->engine, &s1, KB_OK);
    assert_int_equal(kb_engine_batch_seal(e->engine, &s2), KB_OK);
    assert_true(s2.head.seq > s1.head.seq); /* the refund's events */
    assert_int_equal(kb_sealed_write(&s2), KB_OK);
    kb_engine_sealed_done(e->engine, &s2, KB_OK);
    /* Both are stored: the refund's retry replays from the store. */
    assert_int_equal(exec(e, "RefundPayment", &rf.base, "k-r1", -1), KB_CODE_OK);
    Kasboek__V1__CommandResult *res = result(e);
    assert_true(res->replayed);
    assert_int_equal(res->payment->amount_refunded, 1000);
    assert_int_equal(res->payment->version, 3); /* recorded, refund created and settled */
    assert_int_equal(s2.head.seq, 5);           /* and two balance bookings */
    kasboek__v1__command_result__free_unpacked(res, NULL);
    uint64_t count, bad;
    char why[128];
    assert_int_equal(kb_log_verify(e->store, &count, &bad, why, sizeof why), KB_OK);
    assert_int_equal(count, s2.head.seq);
}

/* A sealed batch whose write fails takes the batch built on it down too. */
static void test_engine_pipelined_failed_write(void **st) {
    env *e = *st;
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__RefundPaymentRequest rf = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    kb_sealed s1, s2;
    pipelined_payment_and_refund(e, &r, &rf, &s1);
    kb_engine_sealed_done(e->engine, &s1, KB_ERR_IO); /* as if the write failed */
    assert_int_equal(kb_engine_batch_seal(e->engine, &s2), KB_ERR_STATE);
    kb_engine_batch_abort(e->engine);
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_ERR_STATE); /* sticky */
    assert_int_equal(kb_engine_head(e->engine).seq, 0);
    kb_head stored;
    assert_int_equal(kb_log_head_read(e->store, NULL, NULL, &stored), KB_OK);
    assert_int_equal(stored.seq, 0);
}

static void test_engine_idempotency(void **st) {
    env *e = *st;
    rec(e, "p1", 1000, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, "k1", KB_CODE_OK);
    kb_head h1 = kb_engine_head(e->engine);
    assert_int_equal(h1.seq, 2); /* PaymentRecorded, BalanceBooked */
    rec(e, "p1", 1000, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, "k1", KB_CODE_OK);
    Kasboek__V1__CommandResult *r = result(e);
    assert_true(r->replayed);
    assert_int_equal(r->last_seq, 2);
    kasboek__v1__command_result__free_unpacked(r, NULL);
    assert_int_equal(kb_engine_head(e->engine).seq, 2);
    rec(e, "p1", 999, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, "k1",
        KB_CODE_ALREADY_EXISTS);
    assert_int_equal(e->reply.err.reason, KB_REASON_IDEMPOTENCY_KEY_REUSED);
    /* no key: the payment id is the natural key */
    rec(e, "p2", 500, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, NULL, KB_CODE_OK);
    rec(e, "p2", 500, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, NULL, KB_CODE_OK);
    r = result(e);
    assert_true(r->replayed);
    kasboek__v1__command_result__free_unpacked(r, NULL);
    rec(e, "p2", 501, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, NULL,
        KB_CODE_ALREADY_EXISTS);
    assert_int_equal(e->reply.err.reason, KB_REASON_PAYMENT_EXISTS);
    assert_int_equal(kb_engine_head(e->engine).seq, 4);
    uint64_t count, bad;
    char why[128];
    assert_int_equal(kb_log_verify(e->store, &count, &bad, why, sizeof why), KB_OK);
    assert_int_equal(count, 4);
}

static void test_engine_versions_and_aliases(void **st) {
    env *e = *st;
    rec(e, "p1", 3000, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT, NULL, KB_CODE_OK);
    Kasboek__V1__SettlePaymentRequest s = KASBOEK__V1__SETTLE_PAYMENT_REQUEST__INIT;
    s.payment_id = "p1";
    assert_int_equal(exec(e, "SettlePayment", &s.base, NULL, 0), KB_CODE_ABORTED);
    assert_int_equal(e->reply.err.reason, KB_REASON_VERSION_CONFLICT);
    assert_int_equal(exec(e, "SettlePayment", &s.base, NULL, 1), KB_CODE_OK);
    Kasboek__V1__Money mo = KASBOEK__V1__MONEY__INIT;
    mo.amount = 1000;
    mo.currency = "EUR";
    Kasboek__V1__RefundPaymentRequest rf = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    rf.payment_id = "p1";
    rf.refund_id = "r1";
    rf.amount = &mo;
    rf.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_DUPLICATE;
    assert_int_equal(exec(e, "RefundPayment", &rf.base, "k-r1", -1), KB_CODE_OK);
    /* the refund id is taken tenant-wide, also from another payment */
    rec(e, "p2", 3000, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, NULL, KB_CODE_OK);
    rf.payment_id = "p2";
    assert_int_equal(exec(e, "RefundPayment", &rf.base, "k-r1b", -1), KB_CODE_ALREADY_EXISTS);
    assert_int_equal(e->reply.err.reason, KB_REASON_REFUND_EXISTS);
    Kasboek__V1__SettleRefundRequest sr = KASBOEK__V1__SETTLE_REFUND_REQUEST__INIT;
    sr.refund_id = "nope";
    assert_int_equal(exec(e, "SettleRefund", &sr.base, NULL, -1), KB_CODE_NOT_FOUND);
    assert_int_equal(e->reply.err.reason, KB_REASON_REFUND_NOT_FOUND);
    sr.refund_id = "r1"; /* routed to p1 through the alias index */
    assert_int_equal(exec(e, "SettleRefund", &sr.base, NULL, -1), KB_CODE_OK);
    Kasboek__V1__CommandResult *r = result(e);
    assert_string_equal(r->payment->payment_id, "p1");
    assert_int_equal(r->payment->amount_refunded, 1000);
    assert_int_equal(r->payment->version, 4);
    assert_int_equal(r->payment->status,
                     KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PARTIALLY_REFUNDED);
    kasboek__v1__command_result__free_unpacked(r, NULL);
}

static void test_engine_rejects_write_nothing(void **st) {
    env *e = *st;
    rec(e, "p1", 100, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, NULL, KB_CODE_OK);
    kb_head before = kb_engine_head(e->engine);
    rec(e, "bad/id", 100, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, NULL,
        KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(e->reply.err.reason, KB_REASON_INVALID_ID);
    rec(e, "p3", -5, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, NULL,
        KB_CODE_INVALID_ARGUMENT);
    rec(e, "p4", 5, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_UNSPECIFIED, NULL,
        KB_CODE_INVALID_ARGUMENT);
    kb_request rq = {.tenant = "t1",
                     .actor = "test",
                     .method = "RecordPayment",
                     .idempotency_key = "",
                     .payload = (const uint8_t *)"\xff\xff\xff",
                     .payload_len = 3,
                     .now = NOW};
    kb_reply_fini(&e->reply);
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    assert_int_equal(kb_engine_execute(e->engine, &rq, &e->reply), KB_OK);
    assert_int_equal(e->reply.err.reason, KB_REASON_MALFORMED_PAYLOAD);
    rq.method = "NoSuchMethod";
    assert_int_equal(kb_engine_execute(e->engine, &rq, &e->reply), KB_OK);
    assert_int_equal(e->reply.err.reason, KB_REASON_UNKNOWN_METHOD);
    assert_int_equal(kb_engine_batch_bytes(e->engine), 0); /* nothing in the batch */
    assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
    kb_head after = kb_engine_head(e->engine);
    assert_int_equal(after.seq, before.seq);
    assert_memory_equal(after.hash, before.hash, KB_HASH_BYTES);
}

/* Rebuilding the projections from the log gives the live state bytes. */
static void test_engine_replay_equals_live(void **st) {
    env *e = *st;
    test_engine_versions_and_aliases(st);
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/kb-test-replay-XXXXXX");
    assert_non_null(mkdtemp(dir));
    kb_store *scratch;
    assert_int_equal(kb_store_open(dir, KB_OPEN_CREATE, NULL, &scratch, NULL, 0), KB_OK);
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(scratch, &b), KB_OK);
    kb_arena a;
    kb_arena_init(&a, 1u << 24);
    uint64_t head = kb_engine_head(e->engine).seq;
    for (uint64_t seq = 1; seq <= head; seq++) {
        Kasboek__V1__EventRecord *rec_;
        assert_int_equal(kb_log_read(e->store, NULL, seq, &a, &rec_), KB_OK);
        assert_int_equal(kb_project_record(scratch, b, &a, rec_), KB_OK);
    }
    assert_int_equal(kb_store_write(scratch, b, false), KB_OK);
    const char *ids[] = {"p1", "p2"};
    for (int i = 0; i < 2; i++) {
        kb_key k;
        kb_key_state(&k, "t1", "payment", ids[i]);
        kb_value live, rebuilt;
        assert_int_equal(kb_store_get(e->store, NULL, NULL, KB_CF_STATE, k.bytes, k.len, &live),
                         KB_OK);
        assert_int_equal(kb_store_get(scratch, NULL, NULL, KB_CF_STATE, k.bytes, k.len, &rebuilt),
                         KB_OK);
        assert_int_equal(live.len, rebuilt.len);
        assert_memory_equal(live.data, rebuilt.data, live.len);
        kb_value_free(&live);
        kb_value_free(&rebuilt);
    }
    kb_arena_fini(&a);
    kb_batch_free(b);
    kb_store_close(scratch);
    nftw(dir, kbt_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Many events per payment, interleaved, with index entries that come and
 * go (contact changes) and aliases (refunds): 3 payments x 13 events. */
static void many_events_per_payment(env *e) {
    const char *ids[] = {"m1", "m2", "m3"};
    char rid[16], idem[32];
    Kasboek__V1__Money mo = KASBOEK__V1__MONEY__INIT;
    mo.amount = 100;
    mo.currency = "EUR";
    for (int i = 0; i < 3; i++) {
        rec(e, ids[i], 10000, KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD, NULL, KB_CODE_OK);
    }
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 3; i++) {
            Kasboek__V1__Associations as = KASBOEK__V1__ASSOCIATIONS__INIT;
            as.contact_id = round % 2 ? "c-odd" : "c-even";
            Kasboek__V1__AssociatePaymentRequest a = KASBOEK__V1__ASSOCIATE_PAYMENT_REQUEST__INIT;
            a.payment_id = (char *)ids[i];
            a.associations = &as;
            snprintf(idem, sizeof idem, "a-%d-%d", round, i);
            assert_int_equal(exec(e, "AssociatePayment", &a.base, idem, -1), KB_CODE_OK);
            Kasboek__V1__RefundPaymentRequest rf = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
            rf.payment_id = (char *)ids[i];
            snprintf(rid, sizeof rid, "r%d-%d", round, i);
            rf.refund_id = rid;
            rf.amount = &mo;
            rf.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_DUPLICATE;
            snprintf(idem, sizeof idem, "r-%d-%d", round, i);
            assert_int_equal(exec(e, "RefundPayment", &rf.base, idem, -1), KB_CODE_OK);
        }
    }
}

/* A write then a delete of one key in one table file keeps the delete, and
 * a later file's put of it wins again. */
static void test_store_sst_ingest_overrides(void **st) {
    (void)st;
    char dir[64], path[96];
    snprintf(dir, sizeof dir, "/tmp/kb-test-sst-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/f.sst", dir);
    kb_store *s;
    assert_int_equal(kb_store_open(dir, KB_OPEN_CREATE, NULL, &s, NULL, 0), KB_OK);
    assert_int_equal(kb_store_bulk_mode(s), KB_OK);
    const char *vals[] = {"1", "2"};
    for (int round = 0; round < 2; round++) {
        kb_sst *w;
        assert_int_equal(kb_sst_open(s, path, &w), KB_OK);
        kb_sst_put(w, "a", 1, vals[round], 1);
        if (round == 0) kb_sst_put(w, "b", 1, "x", 1);
        if (round == 1) kb_sst_delete(w, "b", 1);
        assert_int_equal(kb_sst_finish(w), KB_OK);
        assert_int_equal(kb_store_ingest(s, KB_CF_INDEX, path), KB_OK);
    }
    kb_value v;
    assert_int_equal(kb_store_get(s, NULL, NULL, KB_CF_INDEX, "a", 1, &v), KB_OK);
    assert_memory_equal(v.data, "2", 1);
    kb_value_free(&v);
    assert_int_equal(kb_store_get(s, NULL, NULL, KB_CF_INDEX, "b", 1, &v), KB_ERR_NOT_FOUND);
    kb_sst *w;
    assert_int_equal(kb_sst_open(s, path, &w), KB_OK);
    kb_sst_put(w, "b", 1, "y", 1);
    kb_sst_put(w, "a", 1, "z", 1); /* out of order: refused */
    assert_int_equal(kb_sst_finish(w), KB_ERR_IO);
    kb_store_close(s);
    nftw(dir, kbt_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* The chunked fold gives the live bytes whatever the chunk size: chunks
 * of 1 (every event loads its state), sizes that split a payment's events
 * across chunks, and one chunk for the whole log. Each chunk's table files
 * overlap the earlier ones (a payment's state and index entries rewritten,
 * contact index entries deleted) and must win over them, tombstones
 * included. */
static void test_rebuild_chunks_equal_live(void **st) {
    env *e = *st;
    many_events_per_payment(e);
    test_engine_versions_and_aliases(st);
    const size_t sizes[] = {1, 2, 3, 5, 7, 16, 4096};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) rebuild_and_compare(e, sizes[i]);
}

/* A chunk's write that fails on the write thread fails the rebuild, as a
 * write failure, and freeing it then waits for nothing. */
static void test_rebuild_write_fails(void **st) {
    env *e = *st;
    many_events_per_payment(e);
    rebuild_write_fails(e);
}

static void start_nothing(void *ctx, void (*task)(void *arg), void *arg) {
    (void)ctx, (void)task, (void)arg;
}

/* Chunk sizes outside 1..KB_REBUILD_CHUNK_EVENTS_MAX are refused, and a
 * start without a join. */
static void test_rebuild_chunk_bounds(void **st) {
    env *e = *st;
    kb_rebuild *rb = NULL;
    kb_rebuild_config cfg = {.chunk_events = 0, .sst_dir = e->dir};
    assert_int_equal(kb_rebuild_open(e->store, &cfg, &rb), KB_ERR_ARG);
    cfg.chunk_events = KB_REBUILD_CHUNK_EVENTS_MAX + 1;
    assert_int_equal(kb_rebuild_open(e->store, &cfg, &rb), KB_ERR_ARG);
    const kb_rebuild_config small = {
        .chunk_events = 1, .chunk_bytes = KB_REBUILD_CHUNK_BYTES_MIN - 1, .sst_dir = e->dir};
    assert_int_equal(kb_rebuild_open(e->store, &small, &rb), KB_ERR_ARG);
    const kb_rebuild_config no_dir = {.chunk_events = 1};
    assert_int_equal(kb_rebuild_open(e->store, &no_dir, &rb), KB_ERR_ARG);
    const kb_rebuild_config start_only = {.chunk_events = 1, .sst_dir = e->dir, .start = start_nothing};
    assert_int_equal(kb_rebuild_open(e->store, &start_only, &rb), KB_ERR_ARG);
    assert_null(rb);
}

static void batch_cmd(Kasboek__V1__BatchCommand *c, const char *method, const ProtobufCMessage *m,
                      uint8_t *buf, const char *key) {
    kasboek__v1__batch_command__init(c);
    c->method = (char *)method;
    c->idempotency_key = (char *)key;
    c->payload.data = buf;
    c->payload.len = protobuf_c_message_pack(m, buf);
}

/* Each command of a batch is atomic on its own and sees the earlier ones. */
static void test_engine_submit_batch(void **st) {
    env *e = *st;
    Kasboek__V1__Money m1 = KASBOEK__V1__MONEY__INIT, m2 = KASBOEK__V1__MONEY__INIT;
    m1.amount = 1000;
    m1.currency = "EUR";
    m2.amount = 900;
    m2.currency = "EUR";
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "b1";
    r.amount = &m1;
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD;
    Kasboek__V1__RefundPaymentRequest rf = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    rf.payment_id = "b1";
    rf.amount = &m2;
    rf.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_OTHER;
    static uint8_t bufs[5][512];
    Kasboek__V1__BatchCommand c[5], *cp[5];
    batch_cmd(&c[0], "kasboek.v1.Ledger/RecordPayment", &r.base, bufs[0], "k-b1");
    batch_cmd(&c[1], "RefundPayment", &rf.base, bufs[1], "k-b1-r1"); /* sees b1 */
    batch_cmd(&c[2], "RefundPayment", &rf.base, bufs[2], "k-b1-r2"); /* 900 > 100 left */
    batch_cmd(&c[3], "SubmitBatch", &r.base, bufs[3], "");           /* no nesting */
    batch_cmd(&c[4], "RecordPayment", &r.base, bufs[4], "k-b1");     /* replayed */
    for (int i = 0; i < 5; i++) cp[i] = &c[i];
    Kasboek__V1__SubmitBatchRequest b = KASBOEK__V1__SUBMIT_BATCH_REQUEST__INIT;
    b.n_commands = 5;
    b.commands = cp;
    assert_int_equal(exec(e, "SubmitBatch", &b.base, NULL, -1), KB_CODE_OK);
    Kasboek__V1__SubmitBatchReply *out =
        kasboek__v1__submit_batch_reply__unpack(NULL, e->reply.payload_len, e->reply.payload);
    assert_non_null(out);
    assert_int_equal(out->n_results, 5);
    assert_int_equal(out->results[0]->code, KB_CODE_OK);
    assert_int_equal(out->results[1]->code, KB_CODE_OK);
    assert_int_equal(out->results[2]->code, KB_CODE_FAILED_PRECONDITION);
    assert_string_equal(out->results[2]->reason, "REFUND_EXCEEDS_AVAILABLE");
    assert_int_equal(out->results[2]->payload.len, 0);
    assert_int_equal(out->results[3]->code, KB_CODE_UNIMPLEMENTED);
    assert_int_equal(out->results[4]->code, KB_CODE_OK);
    Kasboek__V1__CommandResult *cr = kasboek__v1__command_result__unpack(
        NULL, out->results[4]->payload.len, out->results[4]->payload.data);
    assert_true(cr->replayed);
    kasboek__v1__command_result__free_unpacked(cr, NULL);
    kasboek__v1__submit_batch_reply__free_unpacked(out, NULL);
    /* recorded, refund created+settled, and a balance booking for each */
    assert_int_equal(kb_engine_head(e->engine).seq, 5);
    b.n_commands = 0;
    assert_int_equal(exec(e, "SubmitBatch", &b.base, NULL, -1), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(e->reply.err.reason, KB_REASON_FIELD_REQUIRED);
}

/* A provider's transaction is recorded once per tenant: a webhook retry
 * under another payment id is refused; other providers are separate. */
static void test_engine_provider_transaction_unique(void **st) {
    env *e = *st;
    Kasboek__V1__Money mo = KASBOEK__V1__MONEY__INIT;
    mo.amount = 700;
    mo.currency = "EUR";
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "m1";
    r.amount = &mo;
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_IDEAL;
    r.provider = KASBOEK__V1__PROVIDER__PROVIDER_MOLLIE;
    r.provider_transaction_id = "tr_WDqYK6vllg";
    assert_int_equal(exec(e, "RecordPayment", &r.base, NULL, -1), KB_CODE_OK);
    r.payment_id = "m2";
    assert_int_equal(exec(e, "RecordPayment", &r.base, NULL, -1), KB_CODE_ALREADY_EXISTS);
    assert_int_equal(e->reply.err.reason, KB_REASON_PROVIDER_TRANSACTION_EXISTS);
    assert_string_equal(e->reply.err.field, "provider_transaction_id");
    r.provider = KASBOEK__V1__PROVIDER__PROVIDER_STRIPE;
    assert_int_equal(exec(e, "RecordPayment", &r.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(kb_engine_head(e->engine).seq, 4); /* each with its booking */
    /* the event records the natural key of a keyless command */
    kb_arena a;
    kb_arena_init(&a, 1u << 20);
    Kasboek__V1__EventRecord *rec;
    assert_int_equal(kb_log_read(e->store, NULL, 3, &a, &rec), KB_OK);
    Kasboek__V1__Event *ev = kasboek__v1__event__unpack(&a.pb, rec->payload.len, rec->payload.data);
    assert_string_equal(ev->idempotency_key, "RecordPayment/m2");
    kb_arena_fini(&a);
}

/* A payment at every bound (20 metadata entries of 500 characters, 50 line
 * items, 64 refunds, 8 disputes) still fits the per-command arena; one
 * refund more is refused, not a crash. */
static void test_engine_payment_at_every_bound(void **st) {
    env *e = *st;
    static char text[KB_TEXT_LEN_MAX + 1], keys[KB_META_ENTRIES_MAX][8],
        names[KB_LINE_ITEMS_MAX][8];
    memset(text, 'x', KB_TEXT_LEN_MAX);
    Kasboek__V1__MetadataEntry md[KB_META_ENTRIES_MAX], *mdp[KB_META_ENTRIES_MAX];
    for (int i = 0; i < KB_META_ENTRIES_MAX; i++) {
        kasboek__v1__metadata_entry__init(&md[i]);
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        md[i].key = keys[i];
        md[i].value = text;
        mdp[i] = &md[i];
    }
    Kasboek__V1__Money unit = KASBOEK__V1__MONEY__INIT, total = KASBOEK__V1__MONEY__INIT;
    unit.amount = 100000;
    unit.currency = total.currency = "EUR";
    total.amount = unit.amount * KB_LINE_ITEMS_MAX;
    Kasboek__V1__LineItem li[KB_LINE_ITEMS_MAX], *lip[KB_LINE_ITEMS_MAX];
    for (int i = 0; i < KB_LINE_ITEMS_MAX; i++) {
        kasboek__v1__line_item__init(&li[i]);
        snprintf(names[i], sizeof names[i], "n%d", i);
        li[i].name = i % 2 ? text : names[i];
        li[i].quantity = 1;
        li[i].unit_price = &unit;
        lip[i] = &li[i];
    }
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "big";
    r.amount = &total;
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD;
    r.description = text;
    r.provider_transaction_id = text;
    r.n_metadata = KB_META_ENTRIES_MAX;
    r.metadata = mdp;
    r.n_line_items = KB_LINE_ITEMS_MAX;
    r.line_items = lip;
    assert_int_equal(exec(e, "RecordPayment", &r.base, NULL, -1), KB_CODE_OK);
    Kasboek__V1__Money one = KASBOEK__V1__MONEY__INIT;
    one.amount = 1;
    one.currency = "EUR";
    Kasboek__V1__OpenDisputeRequest d = KASBOEK__V1__OPEN_DISPUTE_REQUEST__INIT;
    d.payment_id = "big";
    d.amount = &one;
    d.reason = text;
    for (int i = 0; i < KB_DISPUTES_MAX; i++) {
        assert_int_equal(exec(e, "OpenDispute", &d.base, NULL, -1), KB_CODE_OK);
    }
    assert_int_equal(exec(e, "OpenDispute", &d.base, NULL, -1), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(e->reply.err.reason, KB_REASON_TOO_MANY_DISPUTES);
    Kasboek__V1__RefundPaymentRequest rf = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    rf.payment_id = "big";
    rf.amount = &one;
    rf.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_OTHER;
    for (int i = 0; i < KB_REFUNDS_MAX; i++) {
        assert_int_equal(exec(e, "RefundPayment", &rf.base, NULL, -1), KB_CODE_OK);
    }
    assert_int_equal(exec(e, "RefundPayment", &rf.base, NULL, -1), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(e->reply.err.reason, KB_REASON_TOO_MANY_REFUNDS);
    assert_int_equal(e->reply.payload_len, 0); /* a rejection has no payload */
    uint64_t count, bad;
    char why[128];
    assert_int_equal(kb_log_verify(e->store, &count, &bad, why, sizeof why), KB_OK);
    assert_int_equal(count, 2 + KB_DISPUTES_MAX + 3 * KB_REFUNDS_MAX); /* with bookings */
}

int main(void) {
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_card_payment_succeeds_and_refunds, fold_setup,
                                        fold_teardown),
        cmocka_unit_test_setup_teardown(test_bank_debit_lifecycle, fold_setup, fold_teardown),
        cmocka_unit_test_setup_teardown(test_failed_debit_cannot_refund, fold_setup, fold_teardown),
        cmocka_unit_test_setup_teardown(test_disputes, fold_setup, fold_teardown),
        cmocka_unit_test_setup_teardown(test_associate_replaces_one_kind, fold_setup,
                                        fold_teardown),
        cmocka_unit_test_setup_teardown(test_line_items_must_sum, fold_setup, fold_teardown),
        cmocka_unit_test_setup_teardown(test_engine_idempotency, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_engine_pipelined_batches, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_engine_pipelined_failed_write, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_engine_versions_and_aliases, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_engine_rejects_write_nothing, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_engine_replay_equals_live, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_chunks_equal_live, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_chunk_bounds, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_write_fails, env_setup, env_teardown),
        cmocka_unit_test(test_store_sst_ingest_overrides),
        cmocka_unit_test_setup_teardown(test_engine_submit_batch, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_engine_provider_transaction_unique, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_engine_payment_at_every_bound, env_setup,
                                        env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
