/* Bad requests: a table of requests kasboekd must refuse, each with the
 * gRPC code, the stable reason and (where stable) the field. For every row
 * the head seq and head hash must not move (nothing written), and the
 * server must still answer afterwards.
 *
 * The server runs on the system clock with --max-message-bytes 4096 and
 * holds a few payments (see fixture()). */
#include "harness.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define META_N  21
#define HOUR_US (INT64_C(3600) * 1000000)

typedef struct bytes {
    uint8_t *data;
    size_t len;
} bytes;

typedef struct row_ctx {
    const kbe_server *s;
    int64_t now;     /* the server's clock when the table started */
    char new_id[32]; /* a payment id no row shares */
} row_ctx;

typedef void (*build_fn)(const row_ctx *x, bytes *out);

typedef struct bad_row {
    const char *name;
    const char *method; /* NULL: build() makes the whole envelope (sent as raw bytes) */
    build_fn build;     /* the method's payload */
    const char *idempotency_key;
    bool has_expected_version;
    uint64_t expected_version;
    const char *tenant; /* NULL: the client's */
    int code;
    const char *reason;
    const char *field; /* NULL: not checked */
} bad_row;

static kbe_server server;

/* ------------------------------------------------------------ fixture */

static void fixture(kb_client *c) {
    kbe_result_free(kbe_record(c, "p-card", 10000, "EUR", KBE_M(CARD)));
    kbe_result_free(kbe_refund(c, "p-card", "r-card", 1000, "EUR")); /* version 3 */
    kbe_result_free(kbe_record(c, "p-sepa", 5000, "EUR", KBE_M(SEPA_DEBIT)));
    kbe_result_free(kbe_record(c, "p-failed", 3000, "EUR", KBE_M(SEPA_DEBIT)));
    kbe_result_free(kbe_fail(c, "p-failed", "insufficient_funds"));
    kbe_result_free(kbe_record(c, "p-disp", 2000, "EUR", KBE_M(CARD)));
    kbe_result_free(kbe_open_dispute(c, "p-disp", "d-closed", 500, 0, "EUR"));
    kbe_result_free(kbe_close_dispute(c, "d-closed", true));
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(700, "EUR");
    kb_client_call_opts o = {.idempotency_key = "key-used"};
    r.payment_id = "p-keyed";
    r.amount = &m;
    r.method = KBE_M(CARD);
    kbe_result_free(kbe_command_ok(c, "RecordPayment", &r.base, &o));
}

static int group_setup(void **state) {
    static const char *const flags[] = {"--max-message-bytes", "4096", NULL};
    kbe_server_start(&server, flags);
    kb_client *c = kbe_connect(&server, NULL);
    fixture(c);
    kb_client_close(c);
    return 0;
}

static int group_teardown(void **state) {
    return kbe_server_teardown(&server);
}

/* ----------------------------------------------------------- packing */

static void pack(const ProtobufCMessage *m, bytes *out) {
    out->len = protobuf_c_message_get_packed_size(m);
    out->data = malloc(out->len ? out->len : 1);
    assert_non_null(out->data);
    protobuf_c_message_pack(m, out->data);
}

static void envelope(const char *method, const char *api_key, const bytes *payload, bytes *out) {
    Kasboek__V1__Request q = KASBOEK__V1__REQUEST__INIT;
    q.request_id = 4242;
    q.tenant = "default";
    q.method = (char *)method;
    q.api_key = (char *)api_key;
    q.payload.data = payload->data;
    q.payload.len = payload->len;
    pack(&q.base, out);
}

static void b_empty(const row_ctx *x, bytes *out) {
    out->data = NULL;
    out->len = 0;
}

static void b_garbage(const row_ctx *x, bytes *out) {
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0x07};
    out->len = sizeof junk;
    out->data = malloc(sizeof junk);
    memcpy(out->data, junk, sizeof junk);
}

/* ---------------------------------------------------- RecordPayment */

typedef struct rec {
    Kasboek__V1__RecordPaymentRequest q;
    Kasboek__V1__Money amount, fee, price[2];
    Kasboek__V1__Associations as;
    Kasboek__V1__LineItem li[2];
    Kasboek__V1__LineItem *li_p[2];
    Kasboek__V1__MetadataEntry meta[META_N];
    Kasboek__V1__MetadataEntry *meta_p[META_N];
    char keys[META_N][24];
    char text[6000];
} rec;

static rec R; /* the one being built (tests run in one thread) */

/* A valid request for x->new_id: 10.00 EUR by card. */
static rec *rec_start(const row_ctx *x) {
    memset(&R, 0, sizeof R);
    kasboek__v1__record_payment_request__init(&R.q);
    kasboek__v1__associations__init(&R.as);
    R.amount = kbe_money(1000, "EUR");
    R.q.amount = &R.amount;
    R.q.payment_id = (char *)x->new_id;
    R.q.method = KBE_M(CARD);
    return &R;
}

/* n metadata entries k0..k<n-1>, each with value v. */
static void rec_meta(rec *r, size_t n, const char *v) {
    for (size_t i = 0; i < n; i++) {
        kasboek__v1__metadata_entry__init(&r->meta[i]);
        snprintf(r->keys[i], sizeof r->keys[i], "k%zu", i);
        r->meta[i].key = r->keys[i];
        r->meta[i].value = (char *)v;
        r->meta_p[i] = &r->meta[i];
    }
    r->q.n_metadata = n;
    r->q.metadata = r->meta_p;
}

/* n line items "item", each qty x price EUR. */
static void rec_items(rec *r, size_t n, int64_t qty, int64_t price, const char *name) {
    for (size_t i = 0; i < n; i++) {
        kasboek__v1__line_item__init(&r->li[i]);
        r->price[i] = kbe_money(price, "EUR");
        r->li[i].name = (char *)name;
        r->li[i].quantity = qty;
        r->li[i].unit_price = &r->price[i];
        r->li_p[i] = &r->li[i];
    }
    r->q.n_line_items = n;
    r->q.line_items = r->li_p;
}

/* A string of n copies of c in r->text. */
static char *rec_text(rec *r, size_t n, char c) {
    assert_true(n < sizeof r->text);
    memset(r->text, c, n);
    r->text[n] = '\0';
    return r->text;
}

/* REC(name, statements on r): a RecordPayment builder. */
#define REC(name, ...)                               \
    static void name(const row_ctx *x, bytes *out) { \
        rec *r = rec_start(x);                       \
        __VA_ARGS__;                                 \
        pack(&r->q.base, out);                       \
    }

REC(b_rec_valid, (void)r)
REC(b_rec_no_amount, r->q.amount = NULL)
REC(b_rec_zero, r->amount.amount = 0)
REC(b_rec_negative, r->amount.amount = -100)
REC(b_rec_above_max, r->amount.amount = INT64_C(1000000000000001)) /* KB_AMOUNT_MAX + 1 */
REC(b_rec_int64_max, r->amount.amount = INT64_MAX)
/* unit prices at KB_AMOUNT_MAX (10^15): 10,000 of them, or twice 5,000 */
REC(b_rec_items_overflow, rec_items(r, 1, 10000, INT64_C(1000000000000000), "item"))
REC(b_rec_items_sum_overflow, rec_items(r, 2, 5000, INT64_C(1000000000000000), "item"))
REC(b_rec_items_mismatch, rec_items(r, 2, 1, 400, "item"))
REC(b_rec_xyz, r->amount.currency = "XYZ")
REC(b_rec_lower_eur, r->amount.currency = "eur")
REC(b_rec_fee_usd, r->fee = kbe_money(10, "USD"); r->q.fee = &r->fee)
REC(b_rec_fee_big, r->fee = kbe_money(1001, "EUR"); r->q.fee = &r->fee)
REC(b_rec_id65, r->q.payment_id = rec_text(r, 65, 'a'))
REC(b_rec_id_slash, r->q.payment_id = "a/b")
REC(b_rec_id_space, r->q.payment_id = "a b")
REC(b_rec_utf8_desc, r->q.description = "caf\xc3\x28")
REC(b_rec_utf8_meta, rec_meta(r, 1, "ok \xed\xa0\x80 surrogate"))
REC(b_rec_card_meta, rec_meta(r, 1, "4111 1111 1111 1111"))
REC(b_rec_card_desc, r->q.description = "paid with 4111-1111-1111-1111 yesterday")
REC(b_rec_card_item, rec_items(r, 1, 1, 1000, "4012888888881881"))
REC(b_rec_card_after_cc, rec_meta(r, 1, "CC4111111111111111"))
REC(b_rec_long_desc, r->q.description = rec_text(r, 501, 'x'))
REC(b_rec_many_meta, rec_meta(r, META_N, "v"))
REC(b_rec_dup_meta, rec_meta(r, 2, "v"); r->keys[1][1] = '0')
REC(b_rec_enum_99, r->q.method = (Kasboek__V1__PaymentMethod)99)
REC(b_rec_no_method, r->q.method = KBE_M(UNSPECIFIED))
REC(b_rec_source, r->q.source_type = "carrier_pigeon"; r->q.source_id = "x")
REC(b_rec_email, r->q.receipt_email = "not-an-address")
REC(b_rec_contact, r->as.contact_id = "a b"; r->q.associations = &r->as)
REC(b_rec_existing, r->q.payment_id = "p-card"; r->amount.amount = 999)
REC(b_rec_future, r->q.occurred_at = x->now + HOUR_US)
REC(b_rec_negative_time, r->q.occurred_at = -1)
REC(b_rec_huge, r->q.description = rec_text(r, 5000, 'x'))

static void b_rec_truncated(const row_ctx *x, bytes *out) {
    rec *r = rec_start(x);
    r->q.description = "a description that gets cut";
    pack(&r->q.base, out);
    out->len -= 5; /* inside the description's bytes */
}

/* ---------------------------------------------------- other commands */

typedef struct ref {
    Kasboek__V1__RefundPaymentRequest q;
    Kasboek__V1__Money m;
} ref;

/* REFUND(name, statements on f): a refund of 1.00 EUR of p-card. */
#define REFUND(name, ...)                                                                        \
    static void name(const row_ctx *x, bytes *out) {                                             \
        ref f = {.q = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT, .m = KASBOEK__V1__MONEY__INIT}; \
        f.m = kbe_money(100, "EUR");                                                             \
        f.q.payment_id = "p-card";                                                               \
        f.q.amount = &f.m;                                                                       \
        f.q.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_OTHER;                            \
        __VA_ARGS__;                                                                             \
        pack(&f.q.base, out);                                                                    \
    }

REFUND(b_ref_valid, (void)f)
REFUND(b_ref_usd, f.m.currency = "USD")
REFUND(b_ref_too_much, f.m.amount = 9001)
REFUND(b_ref_failed, f.q.payment_id = "p-failed")
REFUND(b_ref_processing, f.q.payment_id = "p-sepa")
REFUND(b_ref_no_reason, f.q.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_UNSPECIFIED)
REFUND(b_ref_taken_id, f.q.payment_id = "p-disp"; f.q.refund_id = "r-card")
REFUND(b_ref_zero, f.m.amount = 0)

static void b_settle(const char *id, bytes *out) {
    Kasboek__V1__SettlePaymentRequest q = KASBOEK__V1__SETTLE_PAYMENT_REQUEST__INIT;
    q.payment_id = (char *)id;
    pack(&q.base, out);
}

static void b_settle_card(const row_ctx *x, bytes *out) {
    b_settle("p-card", out);
}

static void b_settle_unknown(const row_ctx *x, bytes *out) {
    b_settle("p-nope", out);
}

static void b_fail(const char *id, const char *reason, bytes *out) {
    Kasboek__V1__FailPaymentRequest q = KASBOEK__V1__FAIL_PAYMENT_REQUEST__INIT;
    q.payment_id = (char *)id;
    q.reason = (char *)reason;
    pack(&q.base, out);
}

static void b_fail_card(const row_ctx *x, bytes *out) {
    b_fail("p-card", "late", out);
}

static void b_fail_no_reason(const row_ctx *x, bytes *out) {
    b_fail("p-sepa", "", out);
}

static void b_fail_card_reason(const row_ctx *x, bytes *out) {
    b_fail("p-sepa", "card 5555 5555 5555 4444 declined", out);
}

static void b_settle_refund(const char *id, bytes *out) {
    Kasboek__V1__SettleRefundRequest q = KASBOEK__V1__SETTLE_REFUND_REQUEST__INIT;
    q.refund_id = (char *)id;
    pack(&q.base, out);
}

static void b_settle_refund_unknown(const row_ctx *x, bytes *out) {
    b_settle_refund("r-nope", out);
}

static void b_settle_refund_settled(const row_ctx *x, bytes *out) {
    b_settle_refund("r-card", out);
}

static void b_dispute_too_much(const row_ctx *x, bytes *out) {
    Kasboek__V1__OpenDisputeRequest q = KASBOEK__V1__OPEN_DISPUTE_REQUEST__INIT;
    Kasboek__V1__Money m = kbe_money(9001, "EUR");
    q.payment_id = "p-card";
    q.amount = &m;
    pack(&q.base, out);
}

static void b_close(const char *id, bytes *out) {
    Kasboek__V1__CloseDisputeRequest q = KASBOEK__V1__CLOSE_DISPUTE_REQUEST__INIT;
    q.dispute_id = (char *)id;
    q.outcome = KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST;
    pack(&q.base, out);
}

static void b_close_closed(const row_ctx *x, bytes *out) {
    b_close("d-closed", out);
}

static void b_close_unknown(const row_ctx *x, bytes *out) {
    b_close("d-nope", out);
}

static void b_associate_nothing(const row_ctx *x, bytes *out) {
    Kasboek__V1__AssociatePaymentRequest q = KASBOEK__V1__ASSOCIATE_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Associations as = KASBOEK__V1__ASSOCIATIONS__INIT;
    q.payment_id = "p-card";
    q.associations = &as;
    pack(&q.base, out);
}

static void b_receipt_bad_email(const row_ctx *x, bytes *out) {
    Kasboek__V1__RequestReceiptRequest q = KASBOEK__V1__REQUEST_RECEIPT_REQUEST__INIT;
    q.payment_id = "p-card";
    q.email = "anna@@example.com";
    pack(&q.base, out);
}

static void b_report_receipt(const row_ctx *x, bytes *out) {
    Kasboek__V1__ReportReceiptRequest q = KASBOEK__V1__REPORT_RECEIPT_REQUEST__INIT;
    q.payment_id = "p-card";
    q.sent = true;
    pack(&q.base, out);
}

/* ----------------------------------------------------- admin, queries */

static void b_set_clock(const row_ctx *x, bytes *out) {
    Kasboek__V1__SetClockRequest q = KASBOEK__V1__SET_CLOCK_REQUEST__INIT;
    q.now = x->now + HOUR_US;
    pack(&q.base, out);
}

static void b_checkpoint_existing(const row_ctx *x, bytes *out) {
    Kasboek__V1__CheckpointRequest q = KASBOEK__V1__CHECKPOINT_REQUEST__INIT;
    q.dir = (char *)x->s->root; /* exists */
    pack(&q.base, out);
}

typedef Kasboek__V1__ListPaymentsRequest list_req;

static void b_list_limit(const row_ctx *x, bytes *out) {
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.limit = 5000;
    pack(&q.base, out);
}

static void b_list_cursor(const row_ctx *x, bytes *out) {
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.cursor = "not-a-cursor";
    pack(&q.base, out);
}

static void b_list_amount_no_currency(const row_ctx *x, bytes *out) {
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.min_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MIN_MIN_AMOUNT;
    q.min_amount = 100;
    pack(&q.base, out);
}

static void b_read_events_limit(const row_ctx *x, bytes *out) {
    Kasboek__V1__ReadEventsRequest q = KASBOEK__V1__READ_EVENTS_REQUEST__INIT;
    q.limit = 5000;
    pack(&q.base, out);
}

static void b_get_unknown(const row_ctx *x, bytes *out) {
    Kasboek__V1__GetPaymentRequest q = KASBOEK__V1__GET_PAYMENT_REQUEST__INIT;
    q.payment_id = "p-nope";
    pack(&q.base, out);
}

static void b_batch_empty(const row_ctx *x, bytes *out) {
    Kasboek__V1__SubmitBatchRequest q = KASBOEK__V1__SUBMIT_BATCH_REQUEST__INIT;
    pack(&q.base, out);
}

/* One valid RecordPayment (the envelope's key or version is what is wrong). */
static void b_batch_one(const row_ctx *x, bytes *out) {
    bytes p;
    b_rec_valid(x, &p);
    Kasboek__V1__BatchCommand c = KASBOEK__V1__BATCH_COMMAND__INIT;
    c.method = "RecordPayment";
    c.payload.data = p.data;
    c.payload.len = p.len;
    Kasboek__V1__BatchCommand *cs[1] = {&c};
    Kasboek__V1__SubmitBatchRequest q = KASBOEK__V1__SUBMIT_BATCH_REQUEST__INIT;
    q.n_commands = 1;
    q.commands = cs;
    pack(&q.base, out);
    free(p.data);
}

/* --------------------------------------------------- whole envelopes */

static void e_no_prefix(const row_ctx *x, bytes *out) {
    bytes p;
    b_rec_valid(x, &p);
    envelope("RecordPayment", "", &p, out);
    free(p.data);
}

static void e_bad_api_key(const row_ctx *x, bytes *out) {
    bytes p;
    b_rec_valid(x, &p);
    envelope("kasboek.v1.Ledger/RecordPayment", "key\xff\xfe", &p, out);
    free(p.data);
}

/* The oversized request as raw bytes: its reply is read whatever request
 * id it carries (the library's call path insists on the echo). */
static void e_huge(const row_ctx *x, bytes *out) {
    bytes p;
    b_rec_huge(x, &p);
    envelope("kasboek.v1.Ledger/RecordPayment", "", &p, out);
    free(p.data);
}

/* --------------------------------------------------------------- table */

#define INVALID KBE_INVALID_ARGUMENT
#define PRECOND KBE_FAILED_PRECONDITION

static const bad_row rows[] = {
    /* method and envelope */
    {"unknown method", "kasboek.v1.Ledger/Frobnicate", b_rec_valid, .code = KBE_UNIMPLEMENTED,
     .reason = "UNKNOWN_METHOD", .field = "method"},
    {"method without the kasboek.v1.Ledger/ prefix", NULL, e_no_prefix, .code = KBE_UNIMPLEMENTED,
     .reason = "UNKNOWN_METHOD", .field = "method"},
    {"method of another service", "kasboek.v2.Ledger/RecordPayment", b_rec_valid,
     .code = KBE_UNIMPLEMENTED, .reason = "UNKNOWN_METHOD", .field = "method"},
    {"garbage bytes as the envelope", NULL, b_garbage, .code = INVALID,
     .reason = "MALFORMED_REQUEST", .field = ""},
    {"api key that is not UTF-8", NULL, e_bad_api_key, .code = KBE_UNAUTHENTICATED,
     .reason = "UNAUTHENTICATED", .field = "api_key"},
    {"message over --max-message-bytes", "RecordPayment", b_rec_huge,
     .code = KBE_RESOURCE_EXHAUSTED, .reason = "MESSAGE_TOO_LARGE", .field = ""},
    {"message over --max-message-bytes, sent as raw bytes", NULL, e_huge,
     .code = KBE_RESOURCE_EXHAUSTED, .reason = "MESSAGE_TOO_LARGE", .field = ""},
    {"invalid tenant on a command", "RecordPayment", b_rec_valid, .tenant = "bad/tenant",
     .code = INVALID, .reason = "INVALID_TENANT", .field = "tenant"},
    {"invalid tenant on a query", "GetPayment", b_get_unknown, .tenant = "bad tenant",
     .code = INVALID, .reason = "INVALID_TENANT", .field = "tenant"},
    /* payload decoding */
    {"truncated protobuf payload", "RecordPayment", b_rec_truncated, .code = INVALID,
     .reason = "MALFORMED_PAYLOAD", .field = "payload"},
    {"garbage payload", "RecordPayment", b_garbage, .code = INVALID, .reason = "MALFORMED_PAYLOAD",
     .field = "payload"},
    {"empty RecordPayment payload", "RecordPayment", b_empty, .code = INVALID,
     .reason = "FIELD_REQUIRED", .field = "payment_id"},
    /* amounts and currencies */
    {"missing amount", "RecordPayment", b_rec_no_amount, .code = INVALID,
     .reason = "FIELD_REQUIRED", .field = "amount"},
    {"zero amount", "RecordPayment", b_rec_zero, .code = INVALID, .reason = "INVALID_AMOUNT",
     .field = "amount.amount"},
    {"negative amount", "RecordPayment", b_rec_negative, .code = INVALID,
     .reason = "INVALID_AMOUNT", .field = "amount.amount"},
    {"amount above 10^15 minor units", "RecordPayment", b_rec_above_max, .code = INVALID,
     .reason = "INVALID_AMOUNT", .field = "amount.amount"},
    {"amount INT64_MAX", "RecordPayment", b_rec_int64_max, .code = INVALID,
     .reason = "INVALID_AMOUNT", .field = "amount.amount"},
    {"line item quantity * unit price overflows", "RecordPayment", b_rec_items_overflow,
     .code = INVALID, .reason = "AMOUNT_OVERFLOW", .field = "line_items[0].unit_price"},
    {"line item totals overflow", "RecordPayment", b_rec_items_sum_overflow, .code = INVALID,
     .reason = "AMOUNT_OVERFLOW", .field = "line_items[1].unit_price"},
    {"line items do not sum to the amount", "RecordPayment", b_rec_items_mismatch, .code = INVALID,
     .reason = "LINE_ITEMS_TOTAL_MISMATCH", .field = "line_items"},
    {"unknown currency XYZ", "RecordPayment", b_rec_xyz, .code = INVALID,
     .reason = "UNKNOWN_CURRENCY", .field = "amount.currency"},
    {"lower-case currency eur", "RecordPayment", b_rec_lower_eur, .code = INVALID,
     .reason = "UNKNOWN_CURRENCY", .field = "amount.currency"},
    {"fee in another currency", "RecordPayment", b_rec_fee_usd, .code = INVALID,
     .reason = "CURRENCY_MISMATCH", .field = "fee.currency"},
    {"fee larger than the amount", "RecordPayment", b_rec_fee_big, .code = INVALID,
     .reason = "FEE_EXCEEDS_AMOUNT", .field = "fee.amount"},
    /* refunds */
    {"refund in another currency", "RefundPayment", b_ref_usd, .code = INVALID,
     .reason = "CURRENCY_MISMATCH", .field = "amount.currency"},
    {"refund over what is refundable", "RefundPayment", b_ref_too_much, .code = PRECOND,
     .reason = "REFUND_EXCEEDS_AVAILABLE", .field = "amount.amount"},
    {"refund of zero", "RefundPayment", b_ref_zero, .code = INVALID, .reason = "INVALID_AMOUNT",
     .field = "amount.amount"},
    {"refund of a failed payment", "RefundPayment", b_ref_failed, .code = PRECOND,
     .reason = "PAYMENT_NOT_SUCCEEDED", .field = "payment_id"},
    {"refund of a processing payment", "RefundPayment", b_ref_processing, .code = PRECOND,
     .reason = "PAYMENT_NOT_SUCCEEDED", .field = "payment_id"},
    {"refund without a reason", "RefundPayment", b_ref_no_reason, .code = INVALID,
     .reason = "FIELD_REQUIRED", .field = "reason"},
    {"refund id already used by another payment", "RefundPayment", b_ref_taken_id,
     .code = KBE_ALREADY_EXISTS, .reason = "REFUND_EXISTS", .field = "refund_id"},
    {"unknown refund id", "SettleRefund", b_settle_refund_unknown, .code = KBE_NOT_FOUND,
     .reason = "REFUND_NOT_FOUND", .field = "refund_id"},
    {"settle a refund that is not pending", "SettleRefund", b_settle_refund_settled,
     .code = PRECOND, .reason = "REFUND_NOT_PENDING", .field = "refund_id"},
    /* payment state */
    {"settle of a succeeded payment", "SettlePayment", b_settle_card, .code = PRECOND,
     .reason = "PAYMENT_NOT_PROCESSING", .field = "payment_id"},
    {"fail of a succeeded payment", "FailPayment", b_fail_card, .code = PRECOND,
     .reason = "PAYMENT_NOT_PROCESSING", .field = "payment_id"},
    {"fail without a reason", "FailPayment", b_fail_no_reason, .code = INVALID,
     .reason = "FIELD_REQUIRED", .field = "reason"},
    {"unknown payment", "SettlePayment", b_settle_unknown, .code = KBE_NOT_FOUND,
     .reason = "PAYMENT_NOT_FOUND", .field = "payment_id"},
    {"GetPayment of an unknown payment", "GetPayment", b_get_unknown, .code = KBE_NOT_FOUND,
     .reason = "PAYMENT_NOT_FOUND", .field = "payment_id"},
    /* ids and text */
    {"payment id of 65 characters", "RecordPayment", b_rec_id65, .code = INVALID,
     .reason = "INVALID_ID", .field = "payment_id"},
    {"payment id with a slash", "RecordPayment", b_rec_id_slash, .code = INVALID,
     .reason = "INVALID_ID", .field = "payment_id"},
    {"payment id with a space", "RecordPayment", b_rec_id_space, .code = INVALID,
     .reason = "INVALID_ID", .field = "payment_id"},
    {"contact id with a space", "RecordPayment", b_rec_contact, .code = INVALID,
     .reason = "INVALID_ID", .field = "associations.contact_id"},
    {"invalid UTF-8 in the description", "RecordPayment", b_rec_utf8_desc, .code = INVALID,
     .reason = "INVALID_UTF8", .field = "description"},
    {"invalid UTF-8 in a metadata value", "RecordPayment", b_rec_utf8_meta, .code = INVALID,
     .reason = "INVALID_UTF8", .field = "metadata[0].value"},
    {"card number in a metadata value", "RecordPayment", b_rec_card_meta, .code = INVALID,
     .reason = "CARD_NUMBER_NOT_ALLOWED", .field = "metadata[0].value"},
    {"card number in the description", "RecordPayment", b_rec_card_desc, .code = INVALID,
     .reason = "CARD_NUMBER_NOT_ALLOWED", .field = "description"},
    {"card number as a line item name", "RecordPayment", b_rec_card_item, .code = INVALID,
     .reason = "CARD_NUMBER_NOT_ALLOWED", .field = "line_items[0].name"},
    {"card number in a failure reason", "FailPayment", b_fail_card_reason, .code = INVALID,
     .reason = "CARD_NUMBER_NOT_ALLOWED", .field = "reason"},
    {"card number after 'CC' (not an IBAN)", "RecordPayment", b_rec_card_after_cc, .code = INVALID,
     .reason = "CARD_NUMBER_NOT_ALLOWED", .field = "metadata[0].value"},
    {"card number as the idempotency key", "RecordPayment", b_rec_valid,
     .idempotency_key = "4111111111111111", .code = INVALID, .reason = "CARD_NUMBER_NOT_ALLOWED",
     .field = "idempotency_key"},
    {"description of 501 characters", "RecordPayment", b_rec_long_desc, .code = INVALID,
     .reason = "TEXT_TOO_LONG", .field = "description"},
    {"21 metadata entries", "RecordPayment", b_rec_many_meta, .code = INVALID,
     .reason = "TOO_MANY_ITEMS", .field = "metadata"},
    {"duplicate metadata key", "RecordPayment", b_rec_dup_meta, .code = INVALID,
     .reason = "DUPLICATE_KEY", .field = "metadata[1].key"},
    {"method = 99", "RecordPayment", b_rec_enum_99, .code = INVALID, .reason = "INVALID_ENUM",
     .field = "method"},
    {"method unspecified", "RecordPayment", b_rec_no_method, .code = INVALID,
     .reason = "FIELD_REQUIRED", .field = "method"},
    {"unknown source_type", "RecordPayment", b_rec_source, .code = INVALID,
     .reason = "INVALID_ENUM", .field = "source_type"},
    {"invalid receipt e-mail on record", "RecordPayment", b_rec_email, .code = INVALID,
     .reason = "INVALID_EMAIL", .field = "receipt_email"},
    /* concurrency, idempotency, time */
    {"stale expected_version", "RefundPayment", b_ref_valid, .has_expected_version = true,
     .expected_version = 1, .code = KBE_ABORTED, .reason = "VERSION_CONFLICT",
     .field = "expected_version"},
    {"expected_version 3 on a new payment", "RecordPayment", b_rec_valid,
     .has_expected_version = true, .expected_version = 3, .code = KBE_ABORTED,
     .reason = "VERSION_CONFLICT", .field = "expected_version"},
    {"idempotency key reused with another request", "RecordPayment", b_rec_valid,
     .idempotency_key = "key-used", .code = KBE_ALREADY_EXISTS, .reason = "IDEMPOTENCY_KEY_REUSED",
     .field = "idempotency_key"},
    {"idempotency key with a space", "RecordPayment", b_rec_valid,
     .idempotency_key = "key with space", .code = INVALID, .reason = "INVALID_IDEMPOTENCY_KEY",
     .field = "idempotency_key"},
    {"existing payment id with other data", "RecordPayment", b_rec_existing,
     .code = KBE_ALREADY_EXISTS, .reason = "PAYMENT_EXISTS", .field = "payment_id"},
    {"occurred_at an hour in the future", "RecordPayment", b_rec_future, .code = INVALID,
     .reason = "OCCURRED_IN_FUTURE", .field = "occurred_at"},
    {"negative occurred_at", "RecordPayment", b_rec_negative_time, .code = INVALID,
     .reason = "INVALID_TIME", .field = "occurred_at"},
    /* disputes, associations, receipts */
    {"dispute over what is available", "OpenDispute", b_dispute_too_much, .code = PRECOND,
     .reason = "DISPUTE_EXCEEDS_AVAILABLE", .field = "amount.amount"},
    {"close an already closed dispute", "CloseDispute", b_close_closed, .code = PRECOND,
     .reason = "DISPUTE_NOT_OPEN", .field = "dispute_id"},
    {"close an unknown dispute", "CloseDispute", b_close_unknown, .code = KBE_NOT_FOUND,
     .reason = "DISPUTE_NOT_FOUND", .field = "dispute_id"},
    {"associate nothing", "AssociatePayment", b_associate_nothing, .code = INVALID,
     .reason = "FIELD_REQUIRED", .field = "associations"},
    {"invalid e-mail in RequestReceipt", "RequestReceipt", b_receipt_bad_email, .code = INVALID,
     .reason = "INVALID_EMAIL", .field = "email"},
    {"ReportReceipt with no receipt requested", "ReportReceipt", b_report_receipt, .code = PRECOND,
     .reason = "RECEIPT_NOT_REQUESTED", .field = "payment_id"},
    /* admin and queries */
    {"SetClock on a system-clock server", "SetClock", b_set_clock, .code = PRECOND,
     .reason = "CLOCK_NOT_MANUAL", .field = "now"},
    {"Checkpoint into an existing directory", "Checkpoint", b_checkpoint_existing, .code = PRECOND,
     .reason = "CHECKPOINT_FAILED", .field = "dir"},
    {"ListPayments limit 5000", "ListPayments", b_list_limit, .code = INVALID,
     .reason = "INVALID_RANGE", .field = "limit"},
    {"ListPayments with a bad cursor", "ListPayments", b_list_cursor, .code = INVALID,
     .reason = "INVALID_CURSOR", .field = "cursor"},
    {"ListPayments amount filter without currency", "ListPayments", b_list_amount_no_currency,
     .code = INVALID, .reason = "FIELD_REQUIRED", .field = "currency"},
    {"ReadEvents limit 5000", "ReadEvents", b_read_events_limit, .code = INVALID,
     .reason = "INVALID_RANGE", .field = "limit"},
    /* SubmitBatch */
    {"SubmitBatch with an idempotency key on the envelope", "SubmitBatch", b_batch_one,
     .idempotency_key = "batch-key-1", .code = INVALID, .reason = "FIELD_NOT_ALLOWED",
     .field = "idempotency_key"},
    {"SubmitBatch with expected_version on the envelope", "SubmitBatch", b_batch_one,
     .has_expected_version = true, .expected_version = 99, .code = INVALID,
     .reason = "FIELD_NOT_ALLOWED", .field = "expected_version"},
    {"SubmitBatch without commands", "SubmitBatch", b_batch_empty, .code = INVALID,
     .reason = "FIELD_REQUIRED", .field = "commands"},
    {"SubmitBatch with a garbage payload", "SubmitBatch", b_garbage, .code = INVALID,
     .reason = "MALFORMED_PAYLOAD", .field = "payload"},
};

#define N_ROWS (sizeof rows / sizeof rows[0])

/* ---------------------------------------------------------------- runner */

/* Sends the row; rv is the transport outcome. */
static int send_row(kb_client *c, const bad_row *row, const row_ctx *x, kb_client_result *res) {
    bytes b = {0};
    row->build(x, &b);
    kb_client_call_opts o = {.idempotency_key = row->idempotency_key,
                             .has_expected_version = row->has_expected_version,
                             .expected_version = row->expected_version,
                             .tenant = row->tenant};
    int rv = row->method ? kb_client_call_raw(c, row->method, b.data, b.len, &o, res)
                         : kb_client_send_bytes(c, b.data, b.len, res);
    free(b.data);
    return rv;
}

/* Runs one row; prints and returns false on any mismatch. */
static bool run_row(kb_client *c, size_t i, row_ctx *x) {
    const bad_row *row = &rows[i];
    kbe_head before, after;
    kb_client_result res;
    snprintf(x->new_id, sizeof x->new_id, "bad-new-%zu", i);
    kbe_head_get(c, &before);
    int rv = send_row(c, row, x, &res);
    kbe_head_get(c, &after);
    bool moved = before.seq != after.seq || memcmp(before.hash, after.hash, KBE_HASH_BYTES);
    bool ok = rv == 0 && res.code == row->code && !strcmp(res.reason, row->reason) &&
              (!row->field || !strcmp(res.field, row->field)) && !moved;
    if (!ok) {
        print_message("row %2zu \"%s\": expected %s %s field '%s'; got %s%s %s field '%s' (%s)%s\n",
                      i, row->name, kb_client_code_str(row->code), row->reason,
                      row->field ? row->field : "*", rv ? "transport error " : "",
                      rv ? kb_client_strerror(rv) : kb_client_code_str(res.code),
                      rv ? "" : res.reason, rv ? "" : res.field, rv ? "" : res.message,
                      moved ? "; AND THE HEAD MOVED (something was written)" : "");
    }
    if (rv == 0) kb_client_result_fini(&res);
    return ok;
}

static void test_bad_request_table(void **state) {
    kb_client *c = kbe_connect_timeout(&server, NULL, 5000);
    kbe_head h;
    kbe_head_get(c, &h);
    row_ctx x = {.s = &server, .now = h.now};
    size_t failed = 0;
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!run_row(c, i, &x)) failed++;
    }
    print_message("%zu bad-request rows, %zu failed\n", N_ROWS, failed);
    kb_client_close(c);
    if (failed) fail_msg("%zu of %zu bad-request rows failed (listed above)", failed, N_ROWS);
}

/* The refusals wrote nothing: the fixture is what it was, and the server
 * still takes writes. */
static void test_server_still_serves(void **state) {
    int st;
    assert_int_equal(waitpid(server.pid, &st, WNOHANG), 0);
    kb_client *c = kbe_connect(&server, NULL);
    Kasboek__V1__GetPaymentReply *g = kbe_get(c, "p-card");
    assert_int_equal(g->payment->version, 3);
    assert_int_equal(g->payment->amount_refundable, 9000);
    kbe_get_free(g);
    kbe_result *r = kbe_record(c, "after-table", 100, "EUR", KBE_M(CARD));
    assert_int_equal(r->version, 1);
    kbe_result_free(r);
    kb_client_close(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_request_table),
        cmocka_unit_test(test_server_still_serves),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
