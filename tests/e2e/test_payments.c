/* Happy paths of the payment commands and queries through the client
 * library against a real kasboekd (manual clock, started at 2026-03-01).
 * Each test works in its own tenant, so lists and event streams only hold
 * what the test wrote. */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0_US     INT64_C(1772323200000000) /* 2026-03-01T00:00:00Z, the clock start */
#define MINUTE_US INT64_C(60000000)
#define DAY_US    (INT64_C(86400) * 1000000)
#define IDS_MAX   64
#define ID_LEN    65

typedef Kasboek__V1__ListPaymentsRequest list_req;

static kbe_server server;

static int group_setup(void **state) {
    static const char *const flags[] = {"--manual-clock", "--clock-start", "2026-03-01T00:00:00Z",
                                        NULL};
    kbe_server_start(&server, flags);
    return 0;
}

static int group_teardown(void **state) {
    return kbe_server_teardown(&server);
}

/* ------------------------------------------------------------- helpers */

typedef struct rec_opts {
    int64_t at; /* occurred_at; 0 = the server's clock */
    const char *contact;
    const char *company;
} rec_opts;

static kbe_result *record_full(kb_client *c, const char *id, int64_t amount, const char *cur,
                               Kasboek__V1__PaymentMethod method, const rec_opts *o) {
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    Kasboek__V1__Associations as = KASBOEK__V1__ASSOCIATIONS__INIT;
    m.amount = amount;
    m.currency = (char *)cur;
    as.contact_id = (char *)(o->contact ? o->contact : "");
    as.company_id = (char *)(o->company ? o->company : "");
    r.payment_id = (char *)id;
    r.amount = &m;
    r.method = method;
    r.occurred_at = o->at;
    r.associations = (o->contact || o->company) ? &as : NULL;
    return kbe_command_ok(c, "RecordPayment", &r.base, NULL);
}

static void record_at(kb_client *c, const char *id, int64_t amount, int64_t at) {
    rec_opts o = {.at = at};
    kbe_result_free(record_full(c, id, amount, "EUR", KBE_M(CARD), &o));
}

static void expect_status(const kbe_result *r, Kasboek__V1__PaymentStatus st) {
    assert_non_null(r->payment);
    assert_int_equal(r->payment->status, st);
}

/* One ListPayments page: ids into ids[], count into *n, next cursor copied
 * into cursor (cursor_n bytes). */
static void list_page(kb_client *c, const list_req *q, char ids[][ID_LEN], size_t *n, char *cursor,
                      size_t cursor_n) {
    kb_client_result res;
    Kasboek__V1__ListPaymentsReply *l = NULL;
    int rv = kb_client_list_payments(c, q, &res, &l);
    if (rv != 0) fail_msg("ListPayments: %s", kb_client_strerror(rv));
    if (!l) kbe_fail_result("ListPayments", &res);
    assert_true(l->n_payments <= IDS_MAX);
    for (size_t i = 0; i < l->n_payments; i++) {
        kbe_check_payment(l->payments[i]);
        snprintf(ids[i], ID_LEN, "%s", l->payments[i]->payment_id);
    }
    *n = l->n_payments;
    snprintf(cursor, cursor_n, "%s", l->next_cursor);
    kasboek__v1__list_payments_reply__free_unpacked(l, NULL);
    kb_client_result_fini(&res);
}

/* One page (it must be the last) as "a,b,c". */
static void list_join(kb_client *c, const list_req *q, char *out, size_t n) {
    char ids[IDS_MAX][ID_LEN], cursor[256];
    size_t count, used = 0;
    list_page(c, q, ids, &count, cursor, sizeof cursor);
    assert_string_equal(cursor, "");
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? "," : "", ids[i]);
        assert_true(used < n);
    }
}

static void expect_list(kb_client *c, const list_req *q, const char *want) {
    char got[1024];
    list_join(c, q, got, sizeof got);
    assert_string_equal(got, want);
}

/* ------------------------------------------------------ record, settle */

static void test_record_card_succeeds(void **state) {
    kb_client *c = kbe_connect(&server, "t-record");
    kbe_head before, after;
    kbe_head_get(c, &before);
    kbe_result *r = kbe_record(c, "card-1", 12345, "EUR", KBE_M(CARD));
    const kbe_payment *p = r->payment;
    expect_status(r, KBE_ST(SUCCEEDED));
    assert_int_equal(r->version, 1);
    assert_int_equal(r->first_seq, before.seq + 1);
    assert_int_equal(r->last_seq, r->first_seq + 1); /* and its balance booking */
    assert_false(r->replayed);
    assert_string_equal(p->payment_id, "card-1");
    assert_int_equal(p->amount->amount, 12345);
    assert_string_equal(p->amount->currency, "EUR");
    assert_int_equal(p->method, KBE_M(CARD));
    assert_int_equal(p->provider, KASBOEK__V1__PROVIDER__PROVIDER_KASBOEK);
    assert_int_equal(p->amount_refundable, 12345);
    assert_int_equal(p->created_at, before.now);
    assert_int_equal(p->settled_at, p->created_at);
    kbe_head_get(c, &after);
    assert_int_equal(after.seq, r->last_seq);
    kbe_result_free(r);
    kb_client_close(c);
}

/* Card, iDEAL and PayPal are collected at once; bank debits process. */
static void test_record_status_by_method(void **state) {
    static const struct {
        const char *id;
        Kasboek__V1__PaymentMethod method;
        Kasboek__V1__PaymentStatus status;
    } cases[] = {
        {"m-ideal", KBE_M(IDEAL), KBE_ST(SUCCEEDED)},
        {"m-paypal", KBE_M(PAYPAL), KBE_ST(SUCCEEDED)},
        {"m-ach", KBE_M(ACH_DEBIT), KBE_ST(PROCESSING)},
        {"m-sepa", KBE_M(SEPA_DEBIT), KBE_ST(PROCESSING)},
    };
    kb_client *c = kbe_connect(&server, "t-methods");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kbe_result *r = kbe_record(c, cases[i].id, 500, "EUR", cases[i].method);
        expect_status(r, cases[i].status);
        kbe_result_free(r);
    }
    kb_client_close(c);
}

static void test_sepa_processing_then_settled(void **state) {
    kb_client *c = kbe_connect(&server, "t-sepa");
    kbe_result *r = kbe_record(c, "sepa-1", 4999, "EUR", KBE_M(SEPA_DEBIT));
    expect_status(r, KBE_ST(PROCESSING));
    assert_int_equal(r->payment->amount_refundable, 0);
    assert_int_equal(r->payment->settled_at, 0);
    kbe_result_free(r);
    r = kbe_settle(c, "sepa-1");
    expect_status(r, KBE_ST(SUCCEEDED));
    assert_int_equal(r->version, 2);
    assert_int_equal(r->payment->amount_refundable, 4999);
    assert_true(r->payment->settled_at > 0);
    kbe_result_free(r);
    kb_client_close(c);
}

static void test_fail_processing_payment(void **state) {
    kb_client *c = kbe_connect(&server, "t-fail");
    kbe_result_free(kbe_record(c, "sepa-f", 2500, "EUR", KBE_M(SEPA_DEBIT)));
    kbe_result *r = kbe_fail(c, "sepa-f", "insufficient_funds");
    expect_status(r, KBE_ST(FAILED));
    assert_string_equal(r->payment->failure_reason, "insufficient_funds");
    assert_int_equal(r->payment->amount_refundable, 0);
    assert_int_equal(r->version, 2);
    kbe_result_free(r);
    kb_client_close(c);
}

/* ------------------------------------------------------------- refunds */

static void test_card_partial_then_full_refund(void **state) {
    kb_client *c = kbe_connect(&server, "t-refund-card");
    kbe_result_free(kbe_record(c, "card-r", 10000, "EUR", KBE_M(CARD)));
    kbe_result *r = kbe_refund(c, "card-r", "r-part", 3000, "EUR");
    expect_status(r, KBE_ST(PARTIALLY_REFUNDED));
    assert_string_equal(r->created_id, "r-part");
    assert_int_equal(r->payment->amount_refunded, 3000);
    assert_int_equal(r->payment->amount_refundable, 7000);
    assert_int_equal(r->payment->n_refunds, 1);
    assert_int_equal(r->payment->refunds[0]->status, KBE_RS(SUCCEEDED));
    assert_int_equal(r->version, 3); /* RefundCreated + RefundSettled */
    kbe_result_free(r);
    r = kbe_refund(c, "card-r", NULL, 7000, "EUR");
    expect_status(r, KBE_ST(REFUNDED));
    assert_true(strncmp(r->created_id, "re_", 3) == 0); /* derived */
    assert_int_equal(r->payment->amount_refunded, 10000);
    assert_int_equal(r->payment->amount_refundable, 0);
    kbe_result_free(r);
    Kasboek__V1__RefundPaymentRequest q = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(1, "EUR");
    q.payment_id = "card-r";
    q.amount = &m;
    q.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_DUPLICATE;
    kbe_command_fails(c, "RefundPayment", &q.base, NULL, KBE_FAILED_PRECONDITION,
                      "REFUND_EXCEEDS_AVAILABLE", "amount.amount");
    kb_client_close(c);
}

static void test_bank_refund_pending_then_settled(void **state) {
    kb_client *c = kbe_connect(&server, "t-refund-bank");
    kbe_result_free(kbe_record(c, "sepa-r", 10000, "EUR", KBE_M(SEPA_DEBIT)));
    kbe_result_free(kbe_settle(c, "sepa-r"));
    kbe_result *r = kbe_refund(c, "sepa-r", "rb-1", 4000, "EUR");
    expect_status(r, KBE_ST(REFUND_PENDING));
    assert_int_equal(r->payment->amount_refund_pending, 4000);
    assert_int_equal(r->payment->amount_refundable, 6000);
    assert_int_equal(r->payment->refunds[0]->status, KBE_RS(PENDING));
    kbe_result_free(r);
    r = kbe_settle_refund(c, "rb-1");
    expect_status(r, KBE_ST(PARTIALLY_REFUNDED));
    assert_int_equal(r->payment->amount_refund_pending, 0);
    assert_int_equal(r->payment->amount_refunded, 4000);
    kbe_result_free(r);
    kbe_result_free(kbe_refund(c, "sepa-r", "rb-2", 6000, "EUR"));
    r = kbe_settle_refund(c, "rb-2");
    expect_status(r, KBE_ST(REFUNDED));
    assert_int_equal(r->payment->amount_refunded, 10000);
    assert_int_equal(r->payment->amount_refundable, 0);
    kbe_result_free(r);
    kb_client_close(c);
}

static void test_failed_refund_is_refundable_again(void **state) {
    kb_client *c = kbe_connect(&server, "t-refund-fail");
    kbe_result_free(kbe_record(c, "ach-r", 8000, "USD", KBE_M(ACH_DEBIT)));
    kbe_result_free(kbe_settle(c, "ach-r"));
    kbe_result *r = kbe_refund(c, "ach-r", "rf-1", 8000, "USD");
    expect_status(r, KBE_ST(REFUND_PENDING));
    assert_int_equal(r->payment->amount_refundable, 0);
    kbe_result_free(r);
    r = kbe_fail_refund(c, "rf-1", "account_closed");
    expect_status(r, KBE_ST(SUCCEEDED));
    assert_int_equal(r->payment->amount_refundable, 8000);
    assert_int_equal(r->payment->amount_refund_pending, 0);
    assert_int_equal(r->payment->refunds[0]->status, KBE_RS(FAILED));
    assert_string_equal(r->payment->refunds[0]->failure_reason, "account_closed");
    kbe_result_free(r);
    r = kbe_refund(c, "ach-r", "rf-2", 8000, "USD");
    expect_status(r, KBE_ST(REFUND_PENDING));
    kbe_result_free(r);
    kb_client_close(c);
}

/* ------------------------------------------------------------ disputes */

static void test_disputes_won_and_lost(void **state) {
    kb_client *c = kbe_connect(&server, "t-dispute");
    kbe_result_free(kbe_record(c, "card-d", 10000, "EUR", KBE_M(CARD)));
    kbe_result *r = kbe_open_dispute(c, "card-d", "dp-won", 3000, 1500, "EUR");
    assert_string_equal(r->created_id, "dp-won");
    assert_int_equal(r->payment->amount_disputed, 3000);
    assert_int_equal(r->payment->amount_refundable, 7000);
    assert_int_equal(r->payment->disputes[0]->status, KBE_DS(OPEN));
    assert_int_equal(r->payment->disputes[0]->fee->amount, 1500);
    kbe_result_free(r);
    r = kbe_close_dispute(c, "dp-won", true);
    assert_int_equal(r->payment->disputes[0]->status, KBE_DS(WON));
    assert_int_equal(r->payment->amount_disputed, 0);
    assert_int_equal(r->payment->amount_refundable, 10000);
    kbe_result_free(r);
    kbe_result_free(kbe_open_dispute(c, "card-d", "dp-lost", 5000, 0, "EUR"));
    r = kbe_close_dispute(c, "dp-lost", false);
    assert_int_equal(r->payment->disputes[1]->status, KBE_DS(LOST));
    assert_int_equal(r->payment->amount_disputed, 5000);
    assert_int_equal(r->payment->amount_refundable, 5000);
    expect_status(r, KBE_ST(SUCCEEDED));
    kbe_result_free(r);
    r = kbe_refund(c, "card-d", "rd-1", 5000, "EUR");
    expect_status(r, KBE_ST(PARTIALLY_REFUNDED));
    assert_int_equal(r->payment->amount_refundable, 0);
    kbe_result_free(r);
    kb_client_close(c);
}

/* -------------------------------------------------- associate, receipt */

static void test_associate_replaces_only_given_kinds(void **state) {
    kb_client *c = kbe_connect(&server, "t-assoc");
    rec_opts o = {.contact = "alice", .company = "acme"};
    kbe_result_free(record_full(c, "pa-1", 1000, "EUR", KBE_M(CARD), &o));
    Kasboek__V1__AssociatePaymentRequest q = KASBOEK__V1__ASSOCIATE_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Associations as = KASBOEK__V1__ASSOCIATIONS__INIT;
    as.contact_id = "bob";
    as.deal_id = "deal-7";
    q.payment_id = "pa-1";
    q.associations = &as;
    kbe_result *r = kbe_command_ok(c, "AssociatePayment", &q.base, NULL);
    const Kasboek__V1__Associations *got = r->payment->associations;
    assert_string_equal(got->contact_id, "bob");
    assert_string_equal(got->company_id, "acme");
    assert_string_equal(got->deal_id, "deal-7");
    assert_string_equal(got->subscription_id, "");
    kbe_result_free(r);
    list_req lq = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    lq.customer_id = "alice";
    expect_list(c, &lq, "");
    lq.customer_id = "bob";
    expect_list(c, &lq, "pa-1");
    kb_client_close(c);
}

static kbe_result *request_receipt(kb_client *c, const char *id, const char *email) {
    Kasboek__V1__RequestReceiptRequest q = KASBOEK__V1__REQUEST_RECEIPT_REQUEST__INIT;
    q.payment_id = (char *)id;
    q.email = (char *)email;
    return kbe_command_ok(c, "RequestReceipt", &q.base, NULL);
}

static kbe_result *report_receipt(kb_client *c, const char *id, bool sent, const char *error) {
    Kasboek__V1__ReportReceiptRequest q = KASBOEK__V1__REPORT_RECEIPT_REQUEST__INIT;
    q.payment_id = (char *)id;
    q.sent = sent;
    q.error = (char *)error;
    return kbe_command_ok(c, "ReportReceipt", &q.base, NULL);
}

static void test_receipt_sent_and_failed(void **state) {
    kb_client *c = kbe_connect(&server, "t-receipt");
    kbe_result_free(kbe_record(c, "rc-1", 1000, "EUR", KBE_M(CARD)));
    kbe_result *r = request_receipt(c, "rc-1", "anna@example.nl");
    assert_int_equal(r->payment->receipt_status, KBE_RC(REQUESTED));
    assert_string_equal(r->payment->receipt_email, "anna@example.nl");
    kbe_result_free(r);
    r = report_receipt(c, "rc-1", true, "");
    assert_int_equal(r->payment->receipt_status, KBE_RC(SENT));
    kbe_result_free(r);
    kbe_result_free(request_receipt(c, "rc-1", "anna@example.org"));
    r = report_receipt(c, "rc-1", false, "mailbox full");
    assert_int_equal(r->payment->receipt_status, KBE_RC(FAILED));
    assert_string_equal(r->payment->receipt_error, "mailbox full");
    assert_string_equal(r->payment->receipt_email, "anna@example.org");
    kbe_result_free(r);
    kb_client_close(c);
}

/* ------------------------------------------------------------ timeline */

static const char *const timeline_types[] = {
    "PaymentRecorded", "PaymentSettled",    "RefundCreated",    "RefundSettled", "DisputeOpened",
    "DisputeClosed",   "PaymentAssociated", "ReceiptRequested", "ReceiptSent",
};
static const int timeline_bodies[] = {
    KBE_EV(PAYMENT_RECORDED),   KBE_EV(PAYMENT_SETTLED),   KBE_EV(REFUND_CREATED),
    KBE_EV(REFUND_SETTLED),     KBE_EV(DISPUTE_OPENED),    KBE_EV(DISPUTE_CLOSED),
    KBE_EV(PAYMENT_ASSOCIATED), KBE_EV(RECEIPT_REQUESTED), KBE_EV(RECEIPT_SENT),
};
#define TIMELINE_N (sizeof timeline_types / sizeof timeline_types[0])

static void timeline_commands(kb_client *c) {
    kbe_result_free(kbe_record(c, "tl-1", 10000, "EUR", KBE_M(SEPA_DEBIT)));
    kbe_result_free(kbe_settle(c, "tl-1"));
    kbe_result_free(kbe_refund(c, "tl-1", "tl-r", 1000, "EUR"));
    kbe_result_free(kbe_settle_refund(c, "tl-r"));
    kbe_result_free(kbe_open_dispute(c, "tl-1", "tl-d", 2000, 0, "EUR"));
    kbe_result_free(kbe_close_dispute(c, "tl-d", true));
    Kasboek__V1__AssociatePaymentRequest q = KASBOEK__V1__ASSOCIATE_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Associations as = KASBOEK__V1__ASSOCIATIONS__INIT;
    as.subscription_id = "sub-1";
    q.payment_id = "tl-1";
    q.associations = &as;
    kbe_result_free(kbe_command_ok(c, "AssociatePayment", &q.base, NULL));
    kbe_result_free(request_receipt(c, "tl-1", "x@example.com"));
    kbe_result_free(report_receipt(c, "tl-1", true, ""));
}

static void check_timeline_event(const Kasboek__V1__EventRecord *e, size_t i, uint64_t prev_seq) {
    assert_int_equal(e->version, i + 1);
    assert_true(e->seq > prev_seq);
    assert_string_equal(e->stream, "payment/tl-1");
    assert_string_equal(e->tenant, "t-timeline");
    assert_string_equal(e->type, timeline_types[i]);
    assert_int_equal(e->hash.len, KBE_HASH_BYTES);
    Kasboek__V1__Event *ev = kasboek__v1__event__unpack(NULL, e->payload.len, e->payload.data);
    assert_non_null(ev);
    assert_int_equal(ev->body_case, timeline_bodies[i]);
    assert_true(ev->recorded_at > 0 && ev->occurred_at > 0);
    kasboek__v1__event__free_unpacked(ev, NULL);
}

static void test_timeline_lists_every_event_in_order(void **state) {
    kb_client *c = kbe_connect(&server, "t-timeline");
    timeline_commands(c);
    Kasboek__V1__GetPaymentReply *g = kbe_get(c, "tl-1");
    assert_int_equal(g->n_timeline, TIMELINE_N);
    assert_int_equal(g->payment->version, TIMELINE_N);
    uint64_t prev = 0;
    for (size_t i = 0; i < g->n_timeline; i++) {
        check_timeline_event(g->timeline[i], i, prev);
        prev = g->timeline[i]->seq;
    }
    kbe_get_free(g);
    kb_client_close(c);
}

/* --------------------------------------------------------- list filters */

static void list_filter_fixture(kb_client *c) {
    rec_opts o = {.at = T0_US - 10 * DAY_US, .contact = "alice"};
    kbe_result_free(record_full(c, "f1", 1000, "EUR", KBE_M(CARD), &o));
    o = (rec_opts){.at = T0_US - 9 * DAY_US, .contact = "bob"};
    kbe_result_free(record_full(c, "f2", 5000, "EUR", KBE_M(SEPA_DEBIT), &o));
    o = (rec_opts){.at = T0_US - 8 * DAY_US, .contact = "alice"};
    kbe_result_free(record_full(c, "f3", 2500, "USD", KBE_M(CARD), &o));
    o = (rec_opts){.at = T0_US - 7 * DAY_US};
    kbe_result_free(record_full(c, "f4", 7500, "EUR", KBE_M(IDEAL), &o));
    kbe_result_free(kbe_refund(c, "f4", "f4-r", 500, "EUR"));
    o = (rec_opts){.at = T0_US - 6 * DAY_US};
    kbe_result_free(record_full(c, "f5", 3000, "EUR", KBE_M(SEPA_DEBIT), &o));
    kbe_result_free(kbe_fail(c, "f5", "refused"));
    o = (rec_opts){.at = T0_US - 5 * DAY_US, .contact = "bob", .company = "acme"};
    kbe_result_free(record_full(c, "f6", 10000, "EUR", KBE_M(PAYPAL), &o));
}

static void test_list_filters(void **state) {
    kb_client *c = kbe_connect(&server, "t-list");
    list_filter_fixture(c);
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    expect_list(c, &q, "f6,f5,f4,f3,f2,f1");
    q.status = KBE_ST(SUCCEEDED);
    expect_list(c, &q, "f6,f3,f1");
    q.status = KBE_ST(PARTIALLY_REFUNDED);
    expect_list(c, &q, "f4");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.method = KBE_M(SEPA_DEBIT);
    expect_list(c, &q, "f5,f2");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.currency = "USD";
    expect_list(c, &q, "f3");
    q.currency = "EUR";
    q.min_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MIN_MIN_AMOUNT;
    q.min_amount = 2500;
    q.max_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MAX_MAX_AMOUNT;
    q.max_amount = 7500;
    expect_list(c, &q, "f5,f4,f2");
    kb_client_close(c);
}

static void test_list_customer_company_and_dates(void **state) {
    kb_client *c = kbe_connect(&server, "t-list");
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.customer_id = "alice";
    expect_list(c, &q, "f3,f1");
    q.customer_id = "bob";
    q.status = KBE_ST(SUCCEEDED);
    expect_list(c, &q, "f6");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.company_id = "acme";
    expect_list(c, &q, "f6");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.from = T0_US - 9 * DAY_US; /* inclusive */
    q.to = T0_US - 6 * DAY_US;   /* exclusive */
    expect_list(c, &q, "f4,f3,f2");
    q.to = 0;
    q.from = T0_US - 6 * DAY_US + 1;
    expect_list(c, &q, "f6");
    kb_client_close(c);
}

/* Moving the manual clock moves created_at of new payments. */
static void test_list_by_clock_time(void **state) {
    kb_client *c = kbe_connect(&server, "t-list-clock");
    kbe_head h;
    kbe_head_get(c, &h);
    assert_true(h.manual);
    int64_t later = h.now + 2 * DAY_US;
    record_at(c, "before", 100, 0);
    kbe_set_clock(c, later);
    kbe_result *r = kbe_record(c, "after", 100, "EUR", KBE_M(CARD));
    assert_int_equal(r->payment->created_at, later);
    kbe_result_free(r);
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.from = later;
    expect_list(c, &q, "after");
    q.from = 0;
    q.to = later;
    expect_list(c, &q, "before");
    kb_client_close(c);
}

/* ----------------------------------------------------------- pagination */

#define PAGE_TOTAL 25
#define PAGE_LIMIT 10

static void page_fixture(kb_client *c, int64_t base) {
    char id[16];
    for (int i = 0; i < PAGE_TOTAL; i++) {
        snprintf(id, sizeof id, "pg-%02d", i);
        record_at(c, id, 100 + i, base + i * MINUTE_US);
    }
}

/* Page k (0-based) of the newest-first list holds pg-(24-10k) downwards. */
static void check_page(char ids[][ID_LEN], size_t n, int first) {
    char want[16];
    for (size_t i = 0; i < n; i++) {
        snprintf(want, sizeof want, "pg-%02d", first - (int)i);
        assert_string_equal(ids[i], want);
    }
}

static void test_list_cursor_pagination(void **state) {
    kb_client *c = kbe_connect(&server, "t-page");
    kbe_head h;
    kbe_head_get(c, &h);
    page_fixture(c, h.now - DAY_US);
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    char ids[IDS_MAX][ID_LEN], cursor[256];
    size_t n, total = 0;
    q.limit = PAGE_LIMIT;
    list_page(c, &q, ids, &n, cursor, sizeof cursor);
    assert_int_equal(n, PAGE_LIMIT);
    check_page(ids, n, PAGE_TOTAL - 1);
    assert_string_not_equal(cursor, "");
    total += n;
    record_at(c, "pg-new", 1, 0); /* newer than every page: must not show up */
    for (int page = 1; cursor[0] && page < 10; page++) {
        q.cursor = cursor;
        char next[256];
        list_page(c, &q, ids, &n, next, sizeof next);
        check_page(ids, n, PAGE_TOTAL - 1 - (int)total);
        total += n;
        snprintf(cursor, sizeof cursor, "%s", next);
    }
    assert_int_equal(total, PAGE_TOTAL);
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.limit = 1;
    list_page(c, &q, ids, &n, cursor, sizeof cursor);
    assert_string_equal(ids[0], "pg-new");
    kb_client_close(c);
}

/* Payments with the same created_at come in a stable order; the cursor
 * pages through them without duplicates or gaps, and a full last page has
 * no cursor. */
static void test_list_pagination_same_time(void **state) {
    kb_client *c = kbe_connect(&server, "t-page-same");
    kbe_head h;
    kbe_head_get(c, &h);
    static const char *const id[] = {"s-a", "s-b", "s-c", "s-d", "s-e", "s-f"};
    for (size_t i = 0; i < 6; i++) record_at(c, id[i], 10, h.now - MINUTE_US);
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    char ids[IDS_MAX][ID_LEN], cursor[256], seen[512] = "";
    size_t n;
    q.limit = 3;
    list_page(c, &q, ids, &n, cursor, sizeof cursor);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) strcat(strcat(seen, ids[i]), ",");
    q.cursor = cursor;
    list_page(c, &q, ids, &n, cursor, sizeof cursor);
    assert_int_equal(n, 3);
    assert_string_equal(cursor, "");
    for (size_t i = 0; i < n; i++) strcat(strcat(seen, ids[i]), ",");
    assert_string_equal(seen, "s-f,s-e,s-d,s-c,s-b,s-a,");
    kb_client_close(c);
}

/* ----------------------------------------------------------- ReadEvents */

static void read_events_fixture(kb_client *c) {
    char id[16];
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof id, "ev-%d", i);
        kbe_result_free(kbe_record(c, id, 1000, "EUR", KBE_M(CARD)));
        if (i % 2 == 0) kbe_result_free(kbe_refund(c, id, NULL, 100, "EUR"));
    }
}

static void test_read_events_paging(void **state) {
    kb_client *c = kbe_connect(&server, "t-events");
    read_events_fixture(c); /* 6 records + 3 card refunds of 2 events, each booked = 21 */
    kbe_head h;
    kbe_head_get(c, &h);
    uint64_t from = 0, last = 0;
    size_t total = 0;
    for (int page = 0; page < 100; page++) {
        kb_client_result res;
        Kasboek__V1__ReadEventsReply *r = NULL;
        assert_int_equal(kb_client_read_events(c, from, 5, &res, &r), 0);
        if (!r) kbe_fail_result("ReadEvents", &res);
        assert_true(r->n_events <= 5);
        assert_int_equal(r->head_seq, h.seq);
        for (size_t i = 0; i < r->n_events; i++) {
            assert_true(r->events[i]->seq > last);
            assert_string_equal(r->events[i]->tenant, "t-events");
            last = r->events[i]->seq;
        }
        total += r->n_events;
        bool done = r->n_events == 0;
        if (!done) assert_true(r->next_seq > last); /* continue after the page */
        from = r->next_seq;
        kasboek__v1__read_events_reply__free_unpacked(r, NULL);
        kb_client_result_fini(&res);
        if (done) break;
    }
    assert_int_equal(total, 21);
    assert_int_equal(last, h.seq);
    kb_client_close(c);
}

/* ---------------------------------------------------------- idempotency */

static void record_with_key(kb_client *c, const char *id, int64_t amount, const char *key,
                            kb_client_result *res, kbe_result **out) {
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    kb_client_call_opts o = {.idempotency_key = key};
    m.amount = amount;
    m.currency = "EUR";
    r.payment_id = (char *)id;
    r.amount = &m;
    r.method = KBE_M(CARD);
    *out = kbe_command(c, "RecordPayment", &r.base, &o, res);
}

static void assert_same_result(const kbe_result *a, const kbe_result *b) {
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->first_seq, b->first_seq);
    assert_int_equal(a->last_seq, b->last_seq);
    assert_string_equal(a->created_id, b->created_id);
    assert_int_equal(a->payment->status, b->payment->status);
    assert_int_equal(a->payment->amount->amount, b->payment->amount->amount);
}

static void test_idempotent_replay_appends_nothing(void **state) {
    kb_client *c = kbe_connect(&server, "t-idem");
    kb_client_result res;
    kbe_result *first, *again;
    kbe_head h1, h2;
    record_with_key(c, "idem-1", 700, "key-1", &res, &first);
    assert_non_null(first);
    assert_false(first->replayed);
    kb_client_result_fini(&res);
    kbe_head_get(c, &h1);
    record_with_key(c, "idem-1", 700, "key-1", &res, &again);
    assert_non_null(again);
    assert_true(again->replayed);
    assert_same_result(first, again);
    kb_client_result_fini(&res);
    kbe_result_free(again);
    kbe_head_get(c, &h2);
    kbe_head_assert_equal(&h1, &h2, "replayed RecordPayment");
    record_with_key(c, "idem-1", 701, "key-1", &res, &again); /* other request */
    assert_null(again);
    assert_int_equal(res.code, KBE_ALREADY_EXISTS);
    assert_string_equal(res.reason, "IDEMPOTENCY_KEY_REUSED");
    kb_client_result_fini(&res);
    kbe_head_get(c, &h2);
    kbe_head_assert_equal(&h1, &h2, "reused key");
    kbe_result_free(first);
    kb_client_close(c);
}

/* Without a key, RecordPayment's payment id is the natural key. */
static void test_natural_key_of_record(void **state) {
    kb_client *c = kbe_connect(&server, "t-idem");
    kbe_result *first = kbe_record(c, "nat-1", 900, "EUR", KBE_M(CARD));
    kbe_head h1, h2;
    kbe_head_get(c, &h1);
    kbe_result *again = kbe_record(c, "nat-1", 900, "EUR", KBE_M(CARD));
    assert_true(again->replayed);
    assert_same_result(first, again);
    kbe_head_get(c, &h2);
    kbe_head_assert_equal(&h1, &h2, "replayed natural key");
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(901, "EUR");
    r.payment_id = "nat-1";
    r.amount = &m;
    r.method = KBE_M(CARD);
    kbe_command_fails(c, "RecordPayment", &r.base, NULL, KBE_ALREADY_EXISTS, "PAYMENT_EXISTS",
                      "payment_id");
    kbe_head_get(c, &h2);
    kbe_head_assert_equal(&h1, &h2, "PAYMENT_EXISTS");
    kbe_result_free(first);
    kbe_result_free(again);
    kb_client_close(c);
}

static kbe_result *refund_keyed(kb_client *c, const kb_client_call_opts *o) {
    Kasboek__V1__RefundPaymentRequest q = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(100, "EUR");
    q.payment_id = "idem-r";
    q.amount = &m;
    q.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_OTHER;
    return kbe_command_ok(c, "RefundPayment", &q.base, o);
}

/* A retried refund (derived refund id) refunds once. */
static void test_idempotent_refund(void **state) {
    kb_client *c = kbe_connect(&server, "t-idem");
    kbe_result_free(kbe_record(c, "idem-r", 1000, "EUR", KBE_M(CARD)));
    kb_client_call_opts o = {.idempotency_key = "refund-once"};
    kbe_result *a = refund_keyed(c, &o);
    kbe_result *b = refund_keyed(c, &o);
    assert_true(b->replayed);
    assert_same_result(a, b);
    Kasboek__V1__GetPaymentReply *g = kbe_get(c, "idem-r");
    assert_int_equal(g->payment->n_refunds, 1);
    assert_int_equal(g->payment->amount_refunded, 100);
    kbe_get_free(g);
    kbe_result_free(a);
    kbe_result_free(b);
    kb_client_close(c);
}

/* -------------------------------------------------------- expected_version */

static void test_expected_version(void **state) {
    kb_client *c = kbe_connect(&server, "t-version");
    kbe_result_free(kbe_record(c, "ver-1", 1000, "EUR", KBE_M(CARD)));
    Kasboek__V1__RefundPaymentRequest q = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(100, "EUR");
    q.payment_id = "ver-1";
    q.amount = &m;
    q.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_OTHER;
    kb_client_call_opts o = {.has_expected_version = true, .expected_version = 1};
    kbe_result *r = kbe_command_ok(c, "RefundPayment", &q.base, &o);
    assert_int_equal(r->version, 3);
    kbe_result_free(r);
    kbe_head h1, h2;
    kbe_head_get(c, &h1);
    kbe_command_fails(c, "RefundPayment", &q.base, &o, KBE_ABORTED, "VERSION_CONFLICT",
                      "expected_version");
    kbe_head_get(c, &h2);
    kbe_head_assert_equal(&h1, &h2, "VERSION_CONFLICT");
    o.expected_version = 3;
    r = kbe_command_ok(c, "RefundPayment", &q.base, &o);
    assert_int_equal(r->version, 5);
    kbe_result_free(r);
    kb_client_close(c);
}

/* --------------------------------------------------------------- tenants */

/* Ids, refund ids and idempotency keys are per tenant; one tenant never
 * sees another's payments. */
static void test_tenants_are_isolated(void **state) {
    kb_client *a = kbe_connect(&server, "t-iso-a");
    kb_client *b = kbe_connect(&server, "t-iso-b");
    kb_client_result res;
    kbe_result *ra, *rb;
    record_with_key(a, "same-id", 100, "same-key", &res, &ra);
    assert_non_null(ra);
    kb_client_result_fini(&res);
    record_with_key(b, "same-id", 200, "same-key", &res, &rb);
    assert_non_null(rb);
    assert_false(rb->replayed);
    assert_int_equal(rb->payment->amount->amount, 200);
    kb_client_result_fini(&res);
    kbe_result_free(kbe_refund(a, "same-id", "same-refund", 10, "EUR"));
    kbe_result_free(kbe_refund(b, "same-id", "same-refund", 20, "EUR"));
    Kasboek__V1__GetPaymentReply *g = kbe_get(a, "same-id");
    assert_int_equal(g->payment->amount->amount, 100);
    assert_int_equal(g->payment->amount_refunded, 10);
    kbe_get_free(g);
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    expect_list(b, &q, "same-id");
    Kasboek__V1__GetPaymentRequest gq = KASBOEK__V1__GET_PAYMENT_REQUEST__INIT;
    kb_client *cc = kbe_connect(&server, "t-iso-c");
    gq.payment_id = "same-id";
    assert_int_equal(kb_client_call(cc, "GetPayment", &gq.base, NULL, &res), 0);
    assert_int_equal(res.code, KBE_NOT_FOUND);
    kb_client_result_fini(&res);
    kbe_result_free(ra);
    kbe_result_free(rb);
    kb_client_close(a);
    kb_client_close(b);
    kb_client_close(cc);
}

/* ----------------------------------------------------------- SubmitBatch */

#define SB_MAX 8

typedef struct sb {
    Kasboek__V1__BatchCommand cmd[SB_MAX];
    Kasboek__V1__BatchCommand *ptr[SB_MAX];
    size_t n;
} sb;

/* Appends method with m packed as its payload (freed by sb_fini). */
static void sb_add(sb *b, const char *method, const ProtobufCMessage *m) {
    assert_true(b->n < SB_MAX);
    Kasboek__V1__BatchCommand *c = &b->cmd[b->n];
    kasboek__v1__batch_command__init(c);
    c->method = (char *)method;
    c->payload.len = protobuf_c_message_get_packed_size(m);
    c->payload.data = malloc(c->payload.len + 1);
    assert_non_null(c->payload.data);
    protobuf_c_message_pack(m, c->payload.data);
    b->ptr[b->n++] = c;
}

static void sb_fini(sb *b) {
    for (size_t i = 0; i < b->n; i++) free(b->cmd[i].payload.data);
}

static void sb_record(sb *b, const char *method, const char *id, int64_t amount,
                      Kasboek__V1__PaymentMethod pm) {
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(amount, "EUR");
    r.payment_id = (char *)id;
    r.amount = &m;
    r.method = pm;
    sb_add(b, method, &r.base);
}

static void sb_refund(sb *b, const char *id, int64_t amount) {
    Kasboek__V1__RefundPaymentRequest q = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(amount, "EUR");
    q.payment_id = (char *)id;
    q.amount = &m;
    q.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_OTHER;
    sb_add(b, "RefundPayment", &q.base);
}

static Kasboek__V1__SubmitBatchReply *sb_submit(kb_client *c, sb *b) {
    Kasboek__V1__SubmitBatchRequest q = KASBOEK__V1__SUBMIT_BATCH_REQUEST__INIT;
    kb_client_result res;
    q.n_commands = b->n;
    q.commands = b->ptr;
    assert_int_equal(kb_client_call(c, "SubmitBatch", &q.base, NULL, &res), 0);
    if (res.code != 0) kbe_fail_result("SubmitBatch", &res);
    Kasboek__V1__SubmitBatchReply *r =
        kasboek__v1__submit_batch_reply__unpack(NULL, res.payload_len, res.payload);
    assert_non_null(r);
    kb_client_result_fini(&res);
    return r;
}

/* results[i] must be OK; its CommandResult (caller frees). */
static kbe_result *sb_ok(const Kasboek__V1__SubmitBatchReply *r, size_t i) {
    const Kasboek__V1__BatchResult *br = r->results[i];
    if (br->code != 0) fail_msg("batch command %zu: %s %s", i, br->reason, br->message);
    kbe_result *cr = kasboek__v1__command_result__unpack(NULL, br->payload.len, br->payload.data);
    assert_non_null(cr);
    kbe_check_payment(cr->payment);
    return cr;
}

static void sb_fails(const Kasboek__V1__SubmitBatchReply *r, size_t i, int code,
                     const char *reason) {
    assert_int_equal(r->results[i]->code, code);
    assert_string_equal(r->results[i]->reason, reason);
    assert_int_equal(r->results[i]->payload.len, 0);
}

/* Each command of a batch is accepted or refused on its own, in order (a
 * later one sees the earlier ones), and only the accepted ones append. */
static void test_submit_batch(void **state) {
    kb_client *c = kbe_connect(&server, "t-batch");
    sb b = {.n = 0};
    sb_record(&b, "RecordPayment", "sb-1", 1000, KBE_M(CARD));
    sb_refund(&b, "sb-1", 300);
    sb_record(&b, "RecordPayment", "sb-1", 999, KBE_M(CARD)); /* PAYMENT_EXISTS */
    sb_refund(&b, "sb-1", 800);                               /* 700 left */
    sb_record(&b, "kasboek.v1.Ledger/RecordPayment", "sb-2", 500, KBE_M(SEPA_DEBIT));
    sb_record(&b, "GetPayment", "sb-3", 1, KBE_M(CARD)); /* not a command */
    kbe_head h1, h2;
    kbe_head_get(c, &h1);
    Kasboek__V1__SubmitBatchReply *r = sb_submit(c, &b);
    assert_int_equal(r->n_results, 6);
    kbe_result *r0 = sb_ok(r, 0), *r1 = sb_ok(r, 1), *r4 = sb_ok(r, 4);
    assert_int_equal(r0->first_seq, h1.seq + 1);
    assert_int_equal(r1->payment->amount_refunded, 300);
    assert_int_equal(r1->payment->amount_refundable, 700);
    sb_fails(r, 2, KBE_ALREADY_EXISTS, "PAYMENT_EXISTS");
    sb_fails(r, 3, KBE_FAILED_PRECONDITION, "REFUND_EXCEEDS_AVAILABLE");
    assert_int_equal(r4->payment->status, KBE_ST(PROCESSING));
    assert_int_equal(r4->first_seq, r1->last_seq + 1);
    sb_fails(r, 5, KBE_UNIMPLEMENTED, "UNKNOWN_METHOD");
    kbe_head_get(c, &h2);
    assert_int_equal(h2.seq, h1.seq + 6); /* 4, and two balance bookings */
    Kasboek__V1__GetPaymentReply *g = kbe_get(c, "sb-1");
    assert_int_equal(g->payment->n_refunds, 1);
    assert_int_equal(g->payment->amount->amount, 1000);
    kbe_get_free(g);
    kbe_result_free(r0);
    kbe_result_free(r1);
    kbe_result_free(r4);
    kasboek__v1__submit_batch_reply__free_unpacked(r, NULL);
    sb_fini(&b);
    kb_client_close(c);
}

/* ------------------------------------------ money model (sum invariant) */

#define MODEL_PAYMENTS 6
#define MODEL_OPS      90
#define MODEL_AMOUNT   10000

typedef struct item {
    int64_t amount;
    int state; /* refunds: 0 pending, 1 settled, 2 failed; disputes: 0 open, 1 won, 2 lost */
} item;

typedef struct model {
    char id[16];
    bool bank;
    item refunds[64];
    int n_refunds;
    item disputes[8];
    int n_disputes;
} model;

static uint32_t rng_state = 12345;

static uint32_t rnd(uint32_t n) {
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

static int64_t sum_items(const item *it, int n, int state) {
    int64_t s = 0;
    for (int i = 0; i < n; i++) s += it[i].state == state ? it[i].amount : 0;
    return s;
}

static int64_t model_refundable(const model *m) {
    return MODEL_AMOUNT - sum_items(m->refunds, m->n_refunds, 0) -
           sum_items(m->refunds, m->n_refunds, 1) - sum_items(m->disputes, m->n_disputes, 0) -
           sum_items(m->disputes, m->n_disputes, 2);
}

static Kasboek__V1__PaymentStatus model_status(const model *m) {
    int64_t refunded = sum_items(m->refunds, m->n_refunds, 1);
    if (sum_items(m->refunds, m->n_refunds, 0) > 0) return KBE_ST(REFUND_PENDING);
    if (refunded >= MODEL_AMOUNT) return KBE_ST(REFUNDED);
    return refunded > 0 ? KBE_ST(PARTIALLY_REFUNDED) : KBE_ST(SUCCEEDED);
}

static void model_compare(kb_client *c, const model *m) {
    Kasboek__V1__GetPaymentReply *g = kbe_get(c, m->id);
    const kbe_payment *p = g->payment;
    assert_int_equal(p->amount_refunded, sum_items(m->refunds, m->n_refunds, 1));
    assert_int_equal(p->amount_refund_pending, sum_items(m->refunds, m->n_refunds, 0));
    assert_int_equal(p->amount_disputed, sum_items(m->disputes, m->n_disputes, 0) +
                                             sum_items(m->disputes, m->n_disputes, 2));
    assert_int_equal(p->amount_refundable, model_refundable(m));
    assert_int_equal(p->status, model_status(m));
    assert_int_equal(p->n_refunds, m->n_refunds);
    assert_int_equal(p->n_disputes, m->n_disputes);
    kbe_get_free(g);
}

static void op_refund(kb_client *c, model *m) {
    int64_t amount = 1 + rnd(MODEL_AMOUNT / 3);
    char rid[32];
    snprintf(rid, sizeof rid, "%s-r%d", m->id, m->n_refunds);
    if (amount > model_refundable(m)) {
        Kasboek__V1__RefundPaymentRequest q = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
        Kasboek__V1__Money mo = kbe_money(amount, "EUR");
        q.payment_id = m->id;
        q.amount = &mo;
        q.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_OTHER;
        kbe_command_fails(c, "RefundPayment", &q.base, NULL, KBE_FAILED_PRECONDITION,
                          "REFUND_EXCEEDS_AVAILABLE", "amount.amount");
        return;
    }
    kbe_result_free(kbe_refund(c, m->id, rid, amount, "EUR"));
    m->refunds[m->n_refunds++] = (item){amount, m->bank ? 0 : 1};
}

static void op_dispute(kb_client *c, model *m) {
    int64_t amount = 1 + rnd(MODEL_AMOUNT / 3);
    char did[32];
    snprintf(did, sizeof did, "%s-d%d", m->id, m->n_disputes);
    if (m->n_disputes == 8 || amount > model_refundable(m)) return;
    kbe_result_free(kbe_open_dispute(c, m->id, did, amount, 0, "EUR"));
    m->disputes[m->n_disputes++] = (item){amount, 0};
}

/* Settles/fails a pending refund or closes an open dispute, if any. */
static void op_finish(kb_client *c, model *m, uint32_t how) {
    char id[32];
    for (int i = 0; how < 2 && i < m->n_refunds; i++) {
        if (m->refunds[i].state != 0) continue;
        snprintf(id, sizeof id, "%s-r%d", m->id, i);
        kbe_result_free(how ? kbe_fail_refund(c, id, "bank refused") : kbe_settle_refund(c, id));
        m->refunds[i].state = how ? 2 : 1;
        return;
    }
    for (int i = 0; how >= 2 && i < m->n_disputes; i++) {
        if (m->disputes[i].state != 0) continue;
        snprintf(id, sizeof id, "%s-d%d", m->id, i);
        kbe_result_free(kbe_close_dispute(c, id, how == 2));
        m->disputes[i].state = how == 2 ? 1 : 2;
        return;
    }
}

static void model_init(kb_client *c, model *ms) {
    for (int i = 0; i < MODEL_PAYMENTS; i++) {
        model *m = &ms[i];
        memset(m, 0, sizeof *m);
        snprintf(m->id, sizeof m->id, "mdl-%d", i);
        m->bank = i % 2 == 1;
        kbe_result_free(
            kbe_record(c, m->id, MODEL_AMOUNT, "EUR", m->bank ? KBE_M(SEPA_DEBIT) : KBE_M(CARD)));
        if (m->bank) kbe_result_free(kbe_settle(c, m->id));
    }
}

static void test_money_sums_follow_a_model(void **state) {
    kb_client *c = kbe_connect(&server, "t-model");
    model ms[MODEL_PAYMENTS];
    model_init(c, ms);
    for (int op = 0; op < MODEL_OPS; op++) {
        model *m = &ms[rnd(MODEL_PAYMENTS)];
        uint32_t kind = rnd(6);
        if (kind == 0 || kind == 1)
            op_refund(c, m);
        else if (kind == 2)
            op_dispute(c, m);
        else if (kind == 4)
            op_finish(c, m, 2 + rnd(2)); /* close a dispute */
        else
            op_finish(c, m, rnd(2)); /* settle/fail a refund */
        model_compare(c, m);
    }
    kb_client_close(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_card_succeeds),
        cmocka_unit_test(test_record_status_by_method),
        cmocka_unit_test(test_sepa_processing_then_settled),
        cmocka_unit_test(test_fail_processing_payment),
        cmocka_unit_test(test_card_partial_then_full_refund),
        cmocka_unit_test(test_bank_refund_pending_then_settled),
        cmocka_unit_test(test_failed_refund_is_refundable_again),
        cmocka_unit_test(test_disputes_won_and_lost),
        cmocka_unit_test(test_associate_replaces_only_given_kinds),
        cmocka_unit_test(test_receipt_sent_and_failed),
        cmocka_unit_test(test_timeline_lists_every_event_in_order),
        cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_list_customer_company_and_dates),
        cmocka_unit_test(test_list_by_clock_time),
        cmocka_unit_test(test_list_cursor_pagination),
        cmocka_unit_test(test_list_pagination_same_time),
        cmocka_unit_test(test_read_events_paging),
        cmocka_unit_test(test_idempotent_replay_appends_nothing),
        cmocka_unit_test(test_natural_key_of_record),
        cmocka_unit_test(test_idempotent_refund),
        cmocka_unit_test(test_expected_version),
        cmocka_unit_test(test_tenants_are_isolated),
        cmocka_unit_test(test_submit_batch),
        cmocka_unit_test(test_money_sums_follow_a_model),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
