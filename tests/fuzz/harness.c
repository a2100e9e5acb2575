#include "harness.h"

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"
#include "validate.h"

typedef Kasboek__V1__Payment Payment;
typedef Kasboek__V1__Money Money;

_Noreturn void fz_fail(const char *file, int line, const char *what) {
    fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n", file, line, what);
    abort();
}

bool fz_heads_equal(const kb_head *a, const kb_head *b) {
    return a->seq == b->seq && memcmp(a->hash, b->hash, KB_HASH_BYTES) == 0;
}

/* ------------------------------------------------------------ requests */

static uint8_t *pack(const ProtobufCMessage *m, size_t *n) {
    *n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(*n ? *n : 1);
    FZ_CHECK(buf);
    FZ_CHECK(protobuf_c_message_pack(m, buf) == *n);
    return buf;
}

void fz_exec_commit(fz_env *e, const char *tenant, const char *method, const ProtobufCMessage *m,
                    const char *idem, kb_reply *out) {
    size_t n;
    uint8_t *buf = pack(m, &n);
    kb_request rq = {.tenant = tenant,
                     .actor = "fuzz-seed",
                     .method = method,
                     .idempotency_key = idem ? idem : "",
                     .payload = buf,
                     .payload_len = n,
                     .now = FZ_NOW};
    FZ_CHECK(kb_engine_batch_begin(e->engine) == KB_OK);
    FZ_CHECK(kb_engine_execute(e->engine, &rq, out) == KB_OK);
    FZ_CHECK(kb_engine_batch_commit(e->engine) == KB_OK);
    free(buf);
}

void fz_query(fz_env *e, const char *tenant, const char *method, const ProtobufCMessage *m,
              kb_reply *out) {
    size_t n;
    uint8_t *buf = pack(m, &n);
    kb_request rq = {.tenant = tenant,
                     .actor = "",
                     .method = method,
                     .idempotency_key = "",
                     .payload = buf,
                     .payload_len = n,
                     .now = FZ_NOW};
    FZ_CHECK(kb_query_execute(e->store, &rq, out) == KB_OK);
    free(buf);
}

/* ---------------------------------------------------------------- seeds */

static void seed(fz_env *e, const char *tenant, const char *method, const ProtobufCMessage *m,
                 const char *idem) {
    kb_reply r;
    fz_exec_commit(e, tenant, method, m, idem, &r);
    if (r.err.code != KB_CODE_OK) {
        fprintf(stderr, "seed %s: %s %s: %s\n", method, kb_reason_str(r.err.reason), r.err.field,
                r.err.message);
    }
    FZ_CHECK(r.err.code == KB_CODE_OK);
    kb_reply_fini(&r);
}

static Money *money(Money *m, int64_t amount, const char *currency) {
    kasboek__v1__money__init(m);
    m->amount = amount;
    m->currency = (char *)currency;
    return m;
}

static void seed_record(fz_env *e, const char *tenant, const char *id, int64_t amount,
                        const char *currency, Kasboek__V1__PaymentMethod method) {
    Money mo;
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    r.amount = money(&mo, amount, currency);
    r.method = method;
    r.occurred_at = FZ_NOW - INT64_C(86400000000); /* a day before */
    seed(e, tenant, "RecordPayment", &r.base, NULL);
}

/* "pc": a card payment with every optional part, under idempotency key k1. */
static void seed_card(fz_env *e) {
    Money total, unit;
    Kasboek__V1__Associations as = KASBOEK__V1__ASSOCIATIONS__INIT;
    as.contact_id = "c1";
    as.company_id = "co1";
    Kasboek__V1__LineItem li = KASBOEK__V1__LINE_ITEM__INIT, *lis[] = {&li};
    li.name = "seat";
    li.quantity = 2;
    li.unit_price = money(&unit, 5000, "EUR");
    Kasboek__V1__MetadataEntry md = KASBOEK__V1__METADATA_ENTRY__INIT, *mds[] = {&md};
    md.key = "order";
    md.value = "A-1";
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "pc";
    r.amount = money(&total, 10000, "EUR");
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD;
    r.provider = KASBOEK__V1__PROVIDER__PROVIDER_STRIPE;
    r.provider_transaction_id = "ch_1";
    r.source_type = "invoice";
    r.source_id = "inv1";
    r.associations = &as;
    r.n_line_items = 1;
    r.line_items = lis;
    r.receipt_email = "a@b.co";
    r.n_metadata = 1;
    r.metadata = mds;
    r.description = "seed";
    seed(e, "t1", "RecordPayment", &r.base, "k1");
}

static void seed_refund(fz_env *e, const char *payment, const char *refund, int64_t amount) {
    Money mo;
    Kasboek__V1__RefundPaymentRequest r = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)payment;
    r.refund_id = (char *)refund;
    r.amount = money(&mo, amount, "EUR");
    r.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_REQUESTED_BY_CUSTOMER;
    seed(e, "t1", "RefundPayment", &r.base, NULL);
}

static void seed_dispute(fz_env *e, const char *dispute, int64_t amount,
                         Kasboek__V1__DisputeOutcome close) {
    Money mo, fee;
    Kasboek__V1__OpenDisputeRequest r = KASBOEK__V1__OPEN_DISPUTE_REQUEST__INIT;
    r.payment_id = "pc";
    r.dispute_id = (char *)dispute;
    r.amount = money(&mo, amount, "EUR");
    r.fee = money(&fee, 1500, "EUR");
    r.reason = "fraudulent";
    seed(e, "t1", "OpenDispute", &r.base, NULL);
    if (!close) return;
    Kasboek__V1__CloseDisputeRequest c = KASBOEK__V1__CLOSE_DISPUTE_REQUEST__INIT;
    c.dispute_id = (char *)dispute;
    c.outcome = close;
    seed(e, "t1", "CloseDispute", &c.base, NULL);
}

/* inv1 and inv3: open, 2 x 100.00 EUR at 21 % (242.00); inv2: a draft
 * with one line and a 10 % discount line. */
static void seed_invoices(fz_env *e) {
    const char *ids[] = {"inv1", "inv2", "inv3"};
    for (size_t i = 0; i < 3; i++) {
        Kasboek__V1__CreateInvoiceRequest c = KASBOEK__V1__CREATE_INVOICE_REQUEST__INIT;
        c.invoice_id = (char *)ids[i];
        c.currency = "EUR";
        c.customer_id = "c1";
        seed(e, "t1", "CreateInvoice", &c.base, NULL);
        Kasboek__V1__AddInvoiceLineRequest l = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__INIT;
        l.invoice_id = (char *)ids[i];
        l.description = "seat";
        l.quantity_milli = 2000;
        l.unit_price = 10000;
        l.tax_bp = 2100;
        seed(e, "t1", "AddInvoiceLine", &l.base, NULL);
    }
    Kasboek__V1__FinalizeInvoiceRequest f = KASBOEK__V1__FINALIZE_INVOICE_REQUEST__INIT;
    f.invoice_id = "inv1";
    seed(e, "t1", "FinalizeInvoice", &f.base, NULL);
    f.invoice_id = "inv3";
    seed(e, "t1", "FinalizeInvoice", &f.base, NULL);
    Kasboek__V1__AddInvoiceLineRequest d = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__INIT;
    d.invoice_id = "inv2";
    d.kind = KASBOEK__V1__INVOICE_LINE_KIND__INVOICE_LINE_KIND_DISCOUNT;
    d.description = "loyalty";
    d.discount_case = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_BP;
    d.discount_bp = 1000;
    seed(e, "t1", "AddInvoiceLine", &d.base, NULL);
}

/* pl1: an active plan of 300.00 EUR in 3 monthly instalments over a
 * collection case, 120.00 paid by payment "pp" (the first instalment and
 * 20.00 of the second); pl2 over invoice inv3. */
static void seed_plan(fz_env *e) {
    Kasboek__V1__PlanCase pc = KASBOEK__V1__PLAN_CASE__INIT, *pcs[] = {&pc};
    pc.ref = "case-1";
    pc.amount = 30000;
    Kasboek__V1__CreatePlanRequest c = KASBOEK__V1__CREATE_PLAN_REQUEST__INIT;
    c.plan_id = "pl1";
    c.customer_id = "c1";
    c.method = KASBOEK__V1__PLAN_METHOD__PLAN_METHOD_SCT;
    c.cases = pcs;
    c.n_cases = 1;
    c.currency = "EUR";
    c.start_date = "2026-01-15";
    c.period = KASBOEK__V1__PLAN_PERIOD__PLAN_PERIOD_MONTHLY;
    c.split_case = KASBOEK__V1__CREATE_PLAN_REQUEST__SPLIT_COUNT;
    c.count = 3;
    seed(e, "t1", "CreatePlan", &c.base, NULL);
    Kasboek__V1__ActivatePlanRequest a = KASBOEK__V1__ACTIVATE_PLAN_REQUEST__INIT;
    a.plan_id = "pl1";
    seed(e, "t1", "ActivatePlan", &a.base, NULL);
    Money mo;
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = "pp";
    r.amount = money(&mo, 12000, "EUR");
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_BANK_TRANSFER;
    r.source_type = "plan";
    r.source_id = "pl1";
    seed(e, "t1", "RecordPayment", &r.base, NULL);
    /* pl2: active over invoice inv3 (242.00, planned), 100.00 paid by "pq"
     * and passed on to the invoice */
    char *inv3[] = {"inv3"};
    c.plan_id = "pl2";
    c.cases = NULL;
    c.n_cases = 0;
    c.invoice_ids = inv3;
    c.n_invoice_ids = 1;
    c.currency = "";
    seed(e, "t1", "CreatePlan", &c.base, NULL);
    a.plan_id = "pl2";
    seed(e, "t1", "ActivatePlan", &a.base, NULL);
    r.payment_id = "pq";
    r.amount = money(&mo, 10000, "EUR");
    r.source_id = "pl2";
    seed(e, "t1", "RecordPayment", &r.base, NULL);
}

/* pc: card, partially refunded (rc1), dispute dc1 open, dc2 lost, receipt
 * requested. ps: SEPA processing. pb: SEPA settled, refund rb1 pending, rb2
 * failed. pj: JPY card. pf: ACH failed. Tenant t2 has its own "pc". */
static void seed_all(fz_env *e) {
    seed_invoices(e);
    seed_plan(e);
    seed_card(e); /* pays 100.00 of inv1 */
    seed_refund(e, "pc", "rc1", 1000);
    seed_dispute(e, "dc1", 2000, KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_UNSPECIFIED);
    seed_dispute(e, "dc2", 500, KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST);
    Kasboek__V1__RequestReceiptRequest rr = KASBOEK__V1__REQUEST_RECEIPT_REQUEST__INIT;
    rr.payment_id = "pc";
    rr.email = "x@y.nl";
    seed(e, "t1", "RequestReceipt", &rr.base, NULL);
    seed_record(e, "t1", "ps", 5000, "EUR", KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT);
    seed_record(e, "t1", "pb", 8000, "EUR", KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT);
    Kasboek__V1__SettlePaymentRequest s = KASBOEK__V1__SETTLE_PAYMENT_REQUEST__INIT;
    s.payment_id = "pb";
    seed(e, "t1", "SettlePayment", &s.base, NULL);
    seed_refund(e, "pb", "rb1", 3000);
    seed_refund(e, "pb", "rb2", 1000);
    Kasboek__V1__FailRefundRequest fr = KASBOEK__V1__FAIL_REFUND_REQUEST__INIT;
    fr.refund_id = "rb2";
    fr.reason = "account closed";
    seed(e, "t1", "FailRefund", &fr.base, NULL);
    seed_record(e, "t1", "pj", 500, "JPY", KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD);
    seed_record(e, "t1", "pf", 700, "USD", KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_ACH_DEBIT);
    Kasboek__V1__FailPaymentRequest f = KASBOEK__V1__FAIL_PAYMENT_REQUEST__INIT;
    f.payment_id = "pf";
    f.reason = "insufficient funds";
    seed(e, "t1", "FailPayment", &f.base, NULL);
    seed_record(e, "t2", "pc", 100, "EUR", KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD);
}

/* ----------------------------------------------------------- lifecycle */

static fz_env *g_env;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void env_close(void) {
    if (!g_env) return;
    uint64_t count, bad;
    char why[128] = "";
    kb_status st = kb_log_verify(g_env->store, &count, &bad, why, sizeof why);
    if (st != KB_OK)
        fprintf(stderr, "log verify at exit: seq %llu: %s\n", (unsigned long long)bad, why);
    kb_engine_close(g_env->engine);
    kb_store_close(g_env->store);
    nftw(g_env->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(g_env);
    g_env = NULL;
    FZ_CHECK(st == KB_OK);
}

fz_env *fz_env_open(void) {
    FZ_CHECK(sodium_init() >= 0);
    fz_env *e = calloc(1, sizeof *e);
    FZ_CHECK(e);
    snprintf(e->dir, sizeof e->dir, "/tmp/kb-fuzz-XXXXXX");
    FZ_CHECK(mkdtemp(e->dir));
    char err[256] = "";
    FZ_CHECK(kb_store_open(e->dir, KB_OPEN_CREATE, NULL, &e->store, err, sizeof err) == KB_OK);
    FZ_CHECK(kb_engine_open(e->store, &e->engine) == KB_OK);
    g_env = e;
    atexit(env_close);
    seed_all(e);
    return e;
}

/* ----------------------------------------------------------- rejections */

static bool utf8(const char *s) {
    return kb_utf8_valid(s, strlen(s));
}

void fz_check_rejection(const kb_reply *r) {
    const kb_error *e = &r->err;
    FZ_CHECK(e->code != KB_CODE_OK);
    FZ_CHECK(e->reason != KB_REASON_NONE && e->reason < KB_REASON_COUNT_);
    FZ_CHECK(e->code == kb_reason_code(e->reason));
    FZ_CHECK(e->reason != KB_REASON_INTERNAL_ERROR && e->reason != KB_REASON_RECORD_CORRUPT);
    FZ_CHECK(e->field[0] != '\0'); /* the offending field */
    FZ_CHECK(utf8(e->field) && utf8(e->message));
    FZ_CHECK(r->payload_len == 0);
}

void fz_check_batch_rejection(const Kasboek__V1__BatchResult *r) {
    FZ_CHECK(r->code != KASBOEK__V1__CODE__OK);
    FZ_CHECK(r->reason[0] && strcmp(r->reason, "INTERNAL_ERROR") != 0);
    FZ_CHECK(r->field[0] != '\0');
    FZ_CHECK(utf8(r->reason) && utf8(r->field) && utf8(r->message));
    FZ_CHECK(r->payload.len == 0);
}

/* ---------------------------------------------------------------- clean */

static void clean_value(const ProtobufCFieldDescriptor *f, const void *p) {
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = *(char *const *)p;
        FZ_CHECK(s && utf8(s));
        FZ_CHECK(!kb_contains_card_number(s, strlen(s)));
    } else if (f->type == PROTOBUF_C_TYPE_ENUM) {
        FZ_CHECK(protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p));
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (sub) fz_check_clean(sub);
    }
}

static size_t elem_size(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
        case PROTOBUF_C_TYPE_MESSAGE:
            return sizeof(void *);
        case PROTOBUF_C_TYPE_ENUM:
            return sizeof(int);
        default:
            return 0; /* numbers and bytes: nothing to check */
    }
}

void fz_check_clean(const ProtobufCMessage *m) {
    FZ_CHECK(m->n_unknown_fields == 0);
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            clean_value(f, base + f->offset);
            continue;
        }
        size_t n = *(const size_t *)(base + f->quantifier_offset), sz = elem_size(f);
        const char *arr = *(char *const *)(base + f->offset);
        for (size_t k = 0; sz && k < n; k++) clean_value(f, arr + k * sz);
    }
}

/* -------------------------------------------------------------- payment */

static bool is_collected(const Payment *p) {
    return p->status != KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PROCESSING &&
           p->status != KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_FAILED &&
           p->status != KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_UNSPECIFIED;
}

static bool is_bank_debit(const Payment *p) {
    return p->method == KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_ACH_DEBIT ||
           p->method == KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT;
}

static void add(int64_t *sum, int64_t v) {
    FZ_CHECK(!__builtin_add_overflow(*sum, v, sum));
}

/* Sums the refunds by status; ids unique, currency the payment's, and a
 * pending refund only on a bank debit (a card refund settles at once). */
static void refund_sums(const Payment *p, int64_t *refunded, int64_t *pending) {
    *refunded = *pending = 0;
    FZ_CHECK(p->n_refunds <= KB_REFUNDS_MAX);
    for (size_t i = 0; i < p->n_refunds; i++) {
        const Kasboek__V1__Refund *r = p->refunds[i];
        FZ_CHECK(r->amount && r->amount->amount > 0);
        FZ_CHECK(strcmp(r->amount->currency, p->amount->currency) == 0);
        FZ_CHECK(kb_id_valid(r->refund_id));
        for (size_t j = 0; j < i; j++) FZ_CHECK(strcmp(p->refunds[j]->refund_id, r->refund_id));
        if (r->status == KASBOEK__V1__REFUND_STATUS__REFUND_STATUS_SUCCEEDED)
            add(refunded, r->amount->amount);
        if (r->status == KASBOEK__V1__REFUND_STATUS__REFUND_STATUS_PENDING) {
            FZ_CHECK(is_bank_debit(p));
            add(pending, r->amount->amount);
        }
    }
}

static int64_t dispute_sum(const Payment *p) {
    int64_t disputed = 0;
    FZ_CHECK(p->n_disputes <= KB_DISPUTES_MAX);
    for (size_t i = 0; i < p->n_disputes; i++) {
        const Kasboek__V1__Dispute *d = p->disputes[i];
        FZ_CHECK(d->amount && d->amount->amount > 0);
        FZ_CHECK(kb_id_valid(d->dispute_id));
        for (size_t j = 0; j < i; j++) FZ_CHECK(strcmp(p->disputes[j]->dispute_id, d->dispute_id));
        if (d->status != KASBOEK__V1__DISPUTE_STATUS__DISPUTE_STATUS_WON)
            add(&disputed, d->amount->amount);
    }
    return disputed;
}

static Kasboek__V1__PaymentStatus collected_status(const Payment *p) {
    if (p->amount_refund_pending > 0)
        return KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_REFUND_PENDING;
    if (p->amount_refunded >= p->amount->amount)
        return KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_REFUNDED;
    if (p->amount_refunded > 0)
        return KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PARTIALLY_REFUNDED;
    return KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED;
}

void fz_check_payment(const Payment *p) {
    FZ_CHECK(kb_id_valid(p->payment_id) && p->version > 0);
    FZ_CHECK(p->amount && p->amount->amount > 0 && kb_currency_exponent(p->amount->currency) >= 0);
    FZ_CHECK(p->amount_refunded >= 0 && p->amount_refund_pending >= 0);
    FZ_CHECK(p->amount_disputed >= 0 && p->amount_refundable >= 0);
    int64_t refunded, pending, parts = 0;
    refund_sums(p, &refunded, &pending);
    FZ_CHECK(p->amount_refunded == refunded && p->amount_refund_pending == pending);
    FZ_CHECK(p->amount_disputed == dispute_sum(p));
    if (!is_collected(p)) {
        FZ_CHECK(p->n_refunds == 0 && p->n_disputes == 0 && p->amount_refundable == 0);
        return;
    }
    add(&parts, p->amount_refunded);
    add(&parts, p->amount_refund_pending);
    add(&parts, p->amount_disputed);
    add(&parts, p->amount_refundable);
    FZ_CHECK(parts == p->amount->amount); /* the parts sum to the whole */
    FZ_CHECK(p->status == collected_status(p));
}

void fz_check_invoice(const Kasboek__V1__Invoice *inv) {
    FZ_CHECK(kb_id_valid(inv->invoice_id) && inv->version > 0);
    FZ_CHECK(kb_currency_exponent(inv->currency) >= 0);
    /* a plan's invoice: what the plan collects is set with it, and such an
     * invoice is a finalized one */
    FZ_CHECK(inv->plan_id[0] ? inv->plan_amount > 0 : inv->plan_amount == 0);
    FZ_CHECK(!inv->plan_id[0] || inv->number[0]);
    FZ_CHECK(inv->amount_refund_pending >= 0);
    int64_t lines = 0, taxes = 0, paid = 0, pending = 0;
    for (size_t i = 0; i < inv->n_lines; i++) add(&lines, inv->lines[i]->total);
    for (size_t i = 0; i < inv->n_taxes; i++) add(&taxes, inv->taxes[i]->tax);
    for (size_t i = 0; i < inv->n_payments; i++) {
        add(&paid, inv->payments[i]->amount);
        add(&pending, inv->payments[i]->pending);
    }
    /* the parts sum to the whole */
    FZ_CHECK(lines == inv->total && taxes == inv->tax);
    FZ_CHECK(inv->subtotal - inv->discount + inv->fees + inv->tax == inv->total);
    FZ_CHECK(paid == inv->amount_paid && pending == inv->amount_pending);
    FZ_CHECK(inv->amount_paid >= 0 && inv->amount_pending >= 0 && inv->amount_written_off >= 0);
    FZ_CHECK(inv->amount_due >= 0 && inv->amount_overpaid >= 0);
    FZ_CHECK(inv->amount_pending <= inv->amount_due);
    if (inv->status != KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_VOID) {
        FZ_CHECK(inv->amount_paid + inv->amount_written_off + inv->amount_due -
                     inv->amount_overpaid ==
                 inv->total);
    }
    bool numbered = inv->status != KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_DRAFT;
    FZ_CHECK(numbered == (inv->number[0] != 0));
    if (inv->status == KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN) FZ_CHECK(inv->amount_due > 0);
    if (inv->status == KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_PAID) FZ_CHECK(inv->amount_due == 0);
    if (inv->overdue) FZ_CHECK(inv->status == KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN);
}

void fz_check_plan(const Kasboek__V1__PaymentPlan *p) {
    FZ_CHECK(kb_id_valid(p->plan_id) && p->version > 0 && p->total > 0);
    int64_t sum = 0, paid = 0;
    for (size_t i = 0; i < p->n_instalments; i++) {
        const Kasboek__V1__Instalment *in = p->instalments[i];
        FZ_CHECK(in->amount > 0 && in->number == i + 1);
        FZ_CHECK(in->paid >= 0 && in->paid <= in->amount);
        /* paid off exactly when PAID, unless left SKIPPED by a cancel */
        FZ_CHECK(in->status == KASBOEK__V1__INSTALMENT_STATUS__INSTALMENT_STATUS_SKIPPED ||
                 (in->status == KASBOEK__V1__INSTALMENT_STATUS__INSTALMENT_STATUS_PAID) ==
                     (in->paid == in->amount));
        add(&sum, p->instalments[i]->amount);
        add(&paid, p->instalments[i]->paid);
    }
    /* the sum of instalments is the total; paid + remaining is the total */
    FZ_CHECK(sum == p->total && p->n_instalments == p->count);
    FZ_CHECK(paid == p->paid && p->paid + p->remaining == p->total);
    int64_t items = 0;
    for (size_t i = 0; i < p->n_items; i++) add(&items, p->items[i]->amount);
    FZ_CHECK(items == p->total);
}
