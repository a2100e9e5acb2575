/* Invoices through the engine and the queries (issue 5): worked examples
 * of totals and rounding in 2-, 0- and 3-decimal currencies, numbering,
 * every illegal transition (its code and reason, and nothing appended),
 * payments applied and reversed, paid invoices of payment links, overdue
 * once by Tick, lists, and replay equal to the live projections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "invoice.h"
#include "query.h"
#include "support/engine_env.h"

typedef Kasboek__V1__Invoice Invoice;

#define ST(x)   KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_##x
#define KIND(x) KASBOEK__V1__INVOICE_LINE_KIND__INVOICE_LINE_KIND_##x
#define TERMS(x) KASBOEK__V1__INVOICE_TERMS__INVOICE_TERMS_##x
#define CARD    KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD
#define SEPA    KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT
#define DISC_BP KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_BP
#define DISC_AM KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_AMOUNT

/* ------------------------------------------------------------- commands */

static kb_code create_terms(env *e, const char *id, const char *cur, const char *customer,
                            Kasboek__V1__InvoiceTerms terms, const char *due) {
    Kasboek__V1__CreateInvoiceRequest r = KASBOEK__V1__CREATE_INVOICE_REQUEST__INIT;
    r.invoice_id = (char *)id;
    r.currency = (char *)cur;
    r.customer_id = (char *)customer;
    r.terms = terms;
    r.due_date = (char *)(due ? due : "");
    return exec(e, "CreateInvoice", &r.base, NULL, -1);
}

static void create(env *e, const char *id, const char *cur) {
    assert_int_equal(create_terms(e, id, cur, "c1", 0, NULL), KB_CODE_OK);
}

typedef struct line_spec {
    Kasboek__V1__InvoiceLineKind kind;
    const char *id;
    int64_t qty_milli, price;
    int disc_case;
    uint32_t disc_bp;
    int64_t disc_amount;
    uint32_t tax_bp;
} line_spec;

static kb_code add(env *e, const char *inv, line_spec s) {
    Kasboek__V1__AddInvoiceLineRequest r = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__INIT;
    r.invoice_id = (char *)inv;
    r.line_id = (char *)(s.id ? s.id : "");
    r.kind = s.kind;
    r.description = "thing";
    r.quantity_milli = s.qty_milli;
    r.unit_price = s.price;
    r.discount_case = s.disc_case; /* a oneof: one union member */
    if (s.disc_case == DISC_BP) r.discount_bp = s.disc_bp;
    if (s.disc_case == DISC_AM) r.discount_amount = s.disc_amount;
    r.tax_bp = s.tax_bp;
    kb_code c = exec(e, "AddInvoiceLine", &r.base, NULL, -1);
    if (c && getenv("KBT_VERBOSE"))
        fprintf(stderr, "add: %s %s %s\n", kb_reason_str(e->reply.err.reason), e->reply.err.field,
                e->reply.err.message);
    return c;
}

static kb_code item(env *e, const char *inv, int64_t qty_milli, int64_t price, uint32_t tax_bp) {
    return add(e, inv, (line_spec){.qty_milli = qty_milli, .price = price, .tax_bp = tax_bp});
}

static kb_code finalize(env *e, const char *inv) {
    Kasboek__V1__FinalizeInvoiceRequest r = KASBOEK__V1__FINALIZE_INVOICE_REQUEST__INIT;
    r.invoice_id = (char *)inv;
    return exec(e, "FinalizeInvoice", &r.base, NULL, -1);
}

static kb_code void_inv(env *e, const char *inv, const char *reason) {
    Kasboek__V1__VoidInvoiceRequest r = KASBOEK__V1__VOID_INVOICE_REQUEST__INIT;
    r.invoice_id = (char *)inv;
    r.reason = (char *)reason;
    return exec(e, "VoidInvoice", &r.base, NULL, -1);
}

static kb_code write_off(env *e, const char *inv) {
    Kasboek__V1__WriteOffInvoiceRequest r = KASBOEK__V1__WRITE_OFF_INVOICE_REQUEST__INIT;
    r.invoice_id = (char *)inv;
    r.reason = "customer insolvent";
    return exec(e, "WriteOffInvoice", &r.base, NULL, -1);
}

static kb_code mark_paid(env *e, const char *inv, int64_t amount, const char *cur,
                         const char *ref) {
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.amount = amount;
    m.currency = (char *)cur;
    Kasboek__V1__MarkInvoicePaidRequest r = KASBOEK__V1__MARK_INVOICE_PAID_REQUEST__INIT;
    r.invoice_id = (char *)inv;
    r.amount = &m;
    r.reference = (char *)ref;
    return exec(e, "MarkInvoicePaid", &r.base, NULL, -1);
}

static kb_code pay_for(env *e, const char *pid, const char *stype, const char *sid, int64_t amount,
                       Kasboek__V1__PaymentMethod m, Kasboek__V1__LineItem **items, size_t n) {
    Kasboek__V1__Money a = KASBOEK__V1__MONEY__INIT;
    a.amount = amount;
    a.currency = "EUR";
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)pid;
    r.amount = &a;
    r.method = m;
    r.source_type = (char *)stype;
    r.source_id = (char *)sid;
    r.line_items = items;
    r.n_line_items = n;
    r.description = "checkout";
    return exec(e, "RecordPayment", &r.base, NULL, -1);
}

static Invoice *get(env *e, const char *id) {
    return kbt_get_invoice(e, id);
}

static void inv_free(Invoice *inv) {
    kasboek__v1__invoice__free_unpacked(inv, NULL);
}

static const Kasboek__V1__InvoiceLine *line(const Invoice *inv, size_t i) {
    assert_true(i < inv->n_lines);
    return inv->lines[i];
}

static void assert_line(const Invoice *inv, size_t i, int64_t sub, int64_t disc, int64_t tax,
                        int64_t total) {
    const Kasboek__V1__InvoiceLine *l = line(inv, i);
    assert_int_equal(l->subtotal, sub);
    assert_int_equal(l->discount, disc);
    assert_int_equal(l->tax, tax);
    assert_int_equal(l->total, total);
}

/* ---------------------------------------------------------------- totals */

/* README "Invoice totals", worked in EUR (2 decimals). */
static void test_totals_eur(void **st) {
    env *e = *st;
    create(e, "i1", "EUR");
    /* 3 x 19.99 less 10 %, at 21 % */
    assert_int_equal(add(e, "i1", (line_spec){.qty_milli = 3000, .price = 1999, .disc_case = DISC_BP,
                                              .disc_bp = 1000, .tax_bp = 2100}),
                     KB_CODE_OK);
    /* 1.5 x 0.99 = 1.485: half up to 1.49, at 9 % */
    assert_int_equal(item(e, "i1", 1500, 99, 900), KB_CODE_OK);
    /* a shipping fee of 4.95 at 21 %, and 5.00 off the whole invoice */
    assert_int_equal(add(e, "i1", (line_spec){.kind = KIND(FEE), .price = 495, .tax_bp = 2100}),
                     KB_CODE_OK);
    assert_int_equal(add(e, "i1", (line_spec){.kind = KIND(DISCOUNT), .disc_case = DISC_AM,
                                              .disc_amount = 500}),
                     KB_CODE_OK);
    Invoice *inv = get(e, "i1");
    /* item 1: 59.97, own discount 6.00 (5.997 up), share of the 5.00: 4.87
     * (4.8656..., the larger remainder takes the spare cent) */
    assert_line(inv, 0, 5997, 600 + 487, 1031, 5941);
    /* item 2: 1.49, share 0.13; tax 9 % of 1.36 = 0.1224 -> 0.12 */
    assert_line(inv, 1, 149, 13, 12, 148);
    assert_line(inv, 2, 495, 0, 104, 599); /* 21 % of 4.95 = 1.0395 -> 1.04 */
    assert_int_equal(line(inv, 3)->discount, 500);
    assert_int_equal(line(inv, 3)->total, 0);
    assert_int_equal(inv->subtotal, 6146);
    assert_int_equal(inv->discount, 1100);
    assert_int_equal(inv->fees, 495);
    assert_int_equal(inv->tax, 1147);
    assert_int_equal(inv->total, 6688);
    assert_int_equal(inv->amount_due, 6688);
    assert_int_equal(inv->n_taxes, 2);
    assert_int_equal(inv->taxes[0]->tax_bp, 900);
    assert_int_equal(inv->taxes[0]->taxable, 136);
    assert_int_equal(inv->taxes[0]->tax, 12);
    assert_int_equal(inv->taxes[1]->tax_bp, 2100);
    assert_int_equal(inv->taxes[1]->taxable, 4910 + 495);
    assert_int_equal(inv->taxes[1]->tax, 1031 + 104);
    inv_free(inv);
    rebuild_and_compare(e, 3);
}

/* JPY has no minor unit: everything rounds to whole yen. */
static void test_totals_jpy(void **st) {
    env *e = *st;
    create(e, "j1", "JPY");
    assert_int_equal(item(e, "j1", 3000, 333, 1000), KB_CODE_OK); /* 999 at 10 % */
    assert_int_equal(item(e, "j1", 500, 125, 800), KB_CODE_OK);   /* 62.5 -> 63 at 8 % */
    assert_int_equal(add(e, "j1", (line_spec){.kind = KIND(DISCOUNT), .disc_case = DISC_BP,
                                              .disc_bp = 1000}),
                     KB_CODE_OK); /* 10 % of 1062 = 106.2 -> 106: 100 + 6 */
    Invoice *inv = get(e, "j1");
    assert_line(inv, 0, 999, 100, 90, 989); /* 89.9 -> 90 */
    assert_line(inv, 1, 63, 6, 5, 62);      /* 4.56 -> 5 */
    assert_int_equal(inv->discount, 106);
    assert_int_equal(inv->tax, 95);
    assert_int_equal(inv->total, 1051);
    inv_free(inv);
}

/* BHD has three decimals. */
static void test_totals_bhd(void **st) {
    env *e = *st;
    create(e, "b1", "BHD");
    assert_int_equal(item(e, "b1", 2500, 1999, 500), KB_CODE_OK); /* 4.9975 -> 4.998 */
    assert_int_equal(add(e, "b1", (line_spec){.qty_milli = 1000, .price = 333, .disc_case = DISC_BP,
                                              .disc_bp = 1250, .tax_bp = 500}),
                     KB_CODE_OK); /* 12.5 % of 0.333 = 0.041625 -> 0.042 */
    Invoice *inv = get(e, "b1");
    assert_line(inv, 0, 4998, 0, 250, 5248); /* 0.2499 -> 0.250 */
    assert_line(inv, 1, 333, 42, 15, 306);   /* 5 % of 0.291 = 0.01455 -> 0.015 */
    assert_int_equal(inv->subtotal, 5331);
    assert_int_equal(inv->total, 5554);
    inv_free(inv);
}

/* ------------------------------------------------------------- numbering */

static void finalized_as(env *e, const char *id, const char *want) {
    create(e, id, "EUR");
    assert_int_equal(item(e, id, 1000, 1000, 0), KB_CODE_OK);
    assert_int_equal(finalize(e, id), KB_CODE_OK);
    Invoice *inv = get(e, id);
    assert_string_equal(inv->number, want);
    assert_int_equal(inv->status, ST(OPEN));
    inv_free(inv);
}

static kb_code settings(env *e, const char *prefix, int digits, int without_year) {
    Kasboek__V1__UpdateTenantSettingsRequest r = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__INIT;
    if (prefix) {
        r.prefix_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__PREFIX_INVOICE_PREFIX;
        r.invoice_prefix = (char *)prefix;
    }
    if (digits) {
        r.digits_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__DIGITS_INVOICE_NUMBER_DIGITS;
        r.invoice_number_digits = (uint32_t)digits;
    }
    if (without_year >= 0) {
        r.year_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__YEAR_INVOICE_NUMBER_WITHOUT_YEAR;
        r.invoice_number_without_year = without_year;
    }
    return exec(e, "UpdateTenantSettings", &r.base, NULL, -1);
}

static void test_numbering(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-01");
    finalized_as(e, "a", "INV-2026-000001");
    /* refusals take no number */
    create(e, "empty", "EUR");
    assert_int_equal(finalize(e, "empty"), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(finalize(e, "a"), KB_CODE_FAILED_PRECONDITION);
    finalized_as(e, "b", "INV-2026-000002");
    /* a new year starts the series again */
    e->now = kbt_at("2027-01-02");
    finalized_as(e, "c", "INV-2027-000001");
    assert_int_equal(settings(e, "ACME", 4, -1), KB_CODE_OK);
    finalized_as(e, "d", "ACME-2027-0002");
    assert_int_equal(settings(e, NULL, 0, 1), KB_CODE_OK);
    finalized_as(e, "f", "ACME-0003");
    /* the year on again in a new year, then off: numbers without a year
     * never repeat (they used to restart from the yearly counter, and
     * every finalize was refused INVOICE_NUMBER_TAKEN from then on) */
    e->now = kbt_at("2028-01-03");
    assert_int_equal(settings(e, NULL, 0, 0), KB_CODE_OK);
    finalized_as(e, "g", "ACME-2028-0001");
    assert_int_equal(settings(e, NULL, 0, 1), KB_CODE_OK);
    finalized_as(e, "h", "ACME-0004");
    finalized_as(e, "i", "ACME-0005");
    assert_int_equal(settings(e, NULL, 0, 0), KB_CODE_OK);
    finalized_as(e, "j", "ACME-2028-0006");
    /* prefixes that could make a card-number-like run are refused */
    assert_int_equal(settings(e, "INV1", 0, -1), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(settings(e, NULL, 9, -1), KB_CODE_INVALID_ARGUMENT);
    /* the number finds the invoice */
    Kasboek__V1__GetInvoiceRequest r = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    r.number = "ACME-2027-0002";
    assert_int_equal(query(e, "GetInvoice", &r.base), KB_CODE_OK);
    Kasboek__V1__GetInvoiceReply *g =
        kasboek__v1__get_invoice_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_string_equal(g->invoice->invoice_id, "d");
    assert_true(g->n_timeline == 3); /* created, line added, finalized */
    kasboek__v1__get_invoice_reply__free_unpacked(g, NULL);
    rebuild_and_compare(e, 5);
}

/* ----------------------------------------------------- illegal transitions */

typedef struct refusal {
    const char *what;
    kb_code code;
    kb_reason reason;
    const char *field;
} refusal;

/* The last command was refused as want says, and appended nothing. */
static void refused(env *e, kb_code got, uint64_t head, refusal want) {
    if (got != want.code || e->reply.err.reason != want.reason ||
        strcmp(e->reply.err.field, want.field) != 0) {
        fail_msg("%s: got %d %s %s (%s)", want.what, got, kb_reason_str(e->reply.err.reason),
                 e->reply.err.field, e->reply.err.message);
    }
    assert_int_equal(kb_engine_head(e->engine).seq, head);
}

#define REFUSED(call, c, r, f)                                                                    \
    do {                                                                                          \
        uint64_t h_ = kb_engine_head(e->engine).seq;                                              \
        refused(e, (call), h_, (refusal){#call, KB_CODE_##c, KB_REASON_##r, f});                  \
    } while (0)

static void test_illegal_transitions(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-01");
    create(e, "open", "EUR");
    assert_int_equal(item(e, "open", 2000, 10000, 2100), KB_CODE_OK); /* 242.00 */
    assert_int_equal(finalize(e, "open"), KB_CODE_OK);
    create(e, "draft", "EUR");
    assert_int_equal(add(e, "draft", (line_spec){.id = "x", .qty_milli = 1000, .price = 1000}),
                     KB_CODE_OK);

    /* creating */
    REFUSED(create_terms(e, "open", "USD", "c1", 0, NULL), ALREADY_EXISTS, INVOICE_EXISTS,
            "invoice_id");
    REFUSED(create_terms(e, "n1", "XYZ", "c1", 0, NULL), INVALID_ARGUMENT, UNKNOWN_CURRENCY,
            "currency");
    REFUSED(create_terms(e, "n1", "EUR", "", 0, NULL), INVALID_ARGUMENT, FIELD_REQUIRED,
            "customer_id");
    REFUSED(create_terms(e, "n1", "EUR", "c1", TERMS(NET_30), "2026-04-01"), INVALID_ARGUMENT,
            DUE_DATE_WITH_TERMS, "due_date");
    REFUSED(create_terms(e, "n1", "EUR", "c1", TERMS(CUSTOM), NULL), INVALID_ARGUMENT,
            FIELD_REQUIRED, "due_date");
    REFUSED(create_terms(e, "n1", "EUR", "c1", 0, "2026-02-30"), INVALID_ARGUMENT, INVALID_DATE,
            "due_date");
    /* editing lines */
    REFUSED(item(e, "open", 1000, 100, 0), FAILED_PRECONDITION, INVOICE_NOT_DRAFT, "invoice_id");
    REFUSED(item(e, "nope", 1000, 100, 0), NOT_FOUND, INVOICE_NOT_FOUND, "invoice_id");
    REFUSED(item(e, "draft", 0, 100, 0), INVALID_ARGUMENT, INVALID_QUANTITY, "quantity_milli");
    REFUSED(item(e, "draft", 1000, 100, 10001), INVALID_ARGUMENT, INVALID_RATE, "tax_bp");
    REFUSED(item(e, "draft", 1000, -1, 0), INVALID_ARGUMENT, INVALID_AMOUNT, "unit_price");
    REFUSED(add(e, "draft", (line_spec){.id = "x", .qty_milli = 1000, .price = 5}),
            ALREADY_EXISTS, INVOICE_LINE_EXISTS, "line_id");
    REFUSED(add(e, "draft", (line_spec){.qty_milli = 1000, .price = 500, .disc_case = DISC_AM,
                                       .disc_amount = 501}),
            INVALID_ARGUMENT, DISCOUNT_EXCEEDS_LINE, "discount_amount");
    REFUSED(add(e, "draft", (line_spec){.kind = KIND(DISCOUNT), .disc_case = DISC_AM,
                                       .disc_amount = 1001}),
            INVALID_ARGUMENT, DISCOUNT_EXCEEDS_SUBTOTAL, "discount_amount");
    REFUSED(add(e, "draft", (line_spec){.kind = KIND(FEE), .price = 100, .disc_case = DISC_BP,
                                       .disc_bp = 10}),
            INVALID_ARGUMENT, FIELD_NOT_ALLOWED, "discount");
    REFUSED(add(e, "draft", (line_spec){.kind = KIND(DISCOUNT)}), INVALID_ARGUMENT,
            FIELD_REQUIRED, "discount_bp");
    assert_int_equal(add(e, "draft", (line_spec){.kind = KIND(DISCOUNT), .disc_case = DISC_AM,
                                                 .disc_amount = 900}),
                     KB_CODE_OK);
    Kasboek__V1__RemoveInvoiceLineRequest rl = KASBOEK__V1__REMOVE_INVOICE_LINE_REQUEST__INIT;
    rl.invoice_id = "draft";
    rl.line_id = "x"; /* the discount would exceed what is left */
    REFUSED(exec(e, "RemoveInvoiceLine", &rl.base, NULL, -1), INVALID_ARGUMENT,
            DISCOUNT_EXCEEDS_SUBTOTAL, "line_id");
    rl.line_id = "zz";
    REFUSED(exec(e, "RemoveInvoiceLine", &rl.base, NULL, -1), NOT_FOUND, INVOICE_LINE_NOT_FOUND,
            "line_id");
    Kasboek__V1__UpdateInvoiceRequest up = KASBOEK__V1__UPDATE_INVOICE_REQUEST__INIT;
    up.invoice_id = "open";
    up.customer_id = "c2";
    REFUSED(exec(e, "UpdateInvoice", &up.base, NULL, -1), FAILED_PRECONDITION, INVOICE_NOT_DRAFT,
            "invoice_id");
    /* lifecycle */
    REFUSED(finalize(e, "open"), FAILED_PRECONDITION, INVOICE_NOT_DRAFT, "invoice_id");
    create_terms(e, "past", "EUR", "c1", 0, "2026-02-01");
    assert_int_equal(item(e, "past", 1000, 100, 0), KB_CODE_OK);
    REFUSED(finalize(e, "past"), FAILED_PRECONDITION, DUE_DATE_IN_PAST, "due_date");
    REFUSED(void_inv(e, "draft", "typo"), FAILED_PRECONDITION, INVOICE_NOT_OPEN, "invoice_id");
    REFUSED(void_inv(e, "open", ""), INVALID_ARGUMENT, FIELD_REQUIRED, "reason");
    REFUSED(write_off(e, "draft"), FAILED_PRECONDITION, INVOICE_NOT_OPEN, "invoice_id");
    REFUSED(mark_paid(e, "draft", 100, "EUR", "bank-1"), FAILED_PRECONDITION, INVOICE_NOT_OPEN,
            "invoice_id");
    /* money */
    REFUSED(mark_paid(e, "open", 24201, "EUR", "bank-1"), FAILED_PRECONDITION,
            INVOICE_OVERPAYMENT, "amount.amount");
    REFUSED(mark_paid(e, "open", 100, "USD", "bank-1"), INVALID_ARGUMENT, CURRENCY_MISMATCH,
            "amount.currency");
    REFUSED(mark_paid(e, "open", 100, "EUR", ""), INVALID_ARGUMENT, FIELD_REQUIRED, "reference");
    REFUSED(mark_paid(e, "open", 0, "EUR", "bank-1"), INVALID_ARGUMENT, INVALID_AMOUNT,
            "amount.amount");
    REFUSED(pay_for(e, "p1", "invoice", "nope", 100, CARD, NULL, 0), NOT_FOUND, INVOICE_NOT_FOUND,
            "source_id");
    REFUSED(pay_for(e, "p1", "invoice", "draft", 100, CARD, NULL, 0), FAILED_PRECONDITION,
            INVOICE_NOT_OPEN, "source_id");
    REFUSED(pay_for(e, "p1", "invoice", "open", 24201, CARD, NULL, 0), FAILED_PRECONDITION,
            INVOICE_OVERPAYMENT, "amount.amount");
    assert_int_equal(mark_paid(e, "open", 24200, "EUR", "bank-1"), KB_CODE_OK);
    REFUSED(void_inv(e, "open", "late"), FAILED_PRECONDITION, INVOICE_ALREADY_PAID, "invoice_id");
    REFUSED(write_off(e, "open"), FAILED_PRECONDITION, INVOICE_ALREADY_PAID, "invoice_id");
    REFUSED(pay_for(e, "p2", "invoice", "open", 1, CARD, NULL, 0), FAILED_PRECONDITION,
            INVOICE_ALREADY_PAID, "source_id");
    Kasboek__V1__MarkInvoiceOverdueRequest od = KASBOEK__V1__MARK_INVOICE_OVERDUE_REQUEST__INIT;
    od.invoice_id = "draft";
    REFUSED(exec(e, "MarkInvoiceOverdue", &od.base, NULL, -1), FAILED_PRECONDITION,
            INVOICE_NOT_OVERDUE, "invoice_id");
    /* a void invoice keeps its number and takes no money */
    finalized_as(e, "v", "INV-2026-000002");
    assert_int_equal(void_inv(e, "v", "sent twice"), KB_CODE_OK);
    REFUSED(mark_paid(e, "v", 100, "EUR", "bank-1"), FAILED_PRECONDITION, INVOICE_NOT_OPEN,
            "invoice_id");
    REFUSED(pay_for(e, "p3", "invoice", "v", 100, CARD, NULL, 0), FAILED_PRECONDITION,
            INVOICE_NOT_OPEN, "source_id");
    Invoice *inv = get(e, "v");
    assert_string_equal(inv->number, "INV-2026-000002");
    assert_int_equal(inv->status, ST(VOID));
    assert_int_equal(inv->amount_due, 0);
    assert_string_equal(inv->close_reason, "sent twice");
    inv_free(inv);
    /* partly paid: no void, but a write-off of the rest */
    finalized_as(e, "w", "INV-2026-000003");
    assert_int_equal(mark_paid(e, "w", 400, "EUR", "bank-2"), KB_CODE_OK);
    REFUSED(void_inv(e, "w", "x"), FAILED_PRECONDITION, INVOICE_HAS_PAYMENTS, "invoice_id");
    assert_int_equal(write_off(e, "w"), KB_CODE_OK);
    inv = get(e, "w");
    assert_int_equal(inv->status, ST(WRITTEN_OFF));
    assert_int_equal(inv->amount_written_off, 600);
    assert_int_equal(inv->amount_paid, 400);
    assert_int_equal(inv->amount_due, 0);
    inv_free(inv);
    /* a bank refund not final yet: no void (it may fail and bring the
     * money back onto a void invoice, with nothing showing it is owed) */
    finalized_as(e, "y", "INV-2026-000004");
    assert_int_equal(pay_for(e, "y-pay", "invoice", "y", 1000, SEPA, NULL, 0), KB_CODE_OK);
    assert_int_equal(kbt_settle(e, "y-pay"), KB_CODE_OK);
    assert_int_equal(kbt_refund(e, "y-pay", "y-ref", 1000, "EUR"), KB_CODE_OK);
    inv = get(e, "y");
    assert_int_equal(inv->amount_paid, 0);
    assert_int_equal(inv->amount_refund_pending, 1000);
    inv_free(inv);
    REFUSED(void_inv(e, "y", "wrong customer"), FAILED_PRECONDITION, INVOICE_REFUND_PENDING,
            "invoice_id");
    Kasboek__V1__SettleRefundRequest sr = KASBOEK__V1__SETTLE_REFUND_REQUEST__INIT;
    sr.refund_id = "y-ref";
    assert_int_equal(exec(e, "SettleRefund", &sr.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(void_inv(e, "y", "wrong customer"), KB_CODE_OK);
    rebuild_and_compare(e, 7);
}

/* ------------------------------------------------------------- payments */

static int64_t due(env *e, const char *id, Kasboek__V1__InvoiceStatus *status) {
    Invoice *inv = get(e, id);
    int64_t d = inv->amount_due;
    *status = inv->status;
    int64_t paid = 0;
    for (size_t i = 0; i < inv->n_payments; i++) paid += inv->payments[i]->amount;
    assert_int_equal(paid, inv->amount_paid);
    inv_free(inv);
    return d;
}

static void test_payments_apply_and_reverse(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-01");
    create(e, "i", "EUR");
    assert_int_equal(item(e, "i", 2000, 10000, 2100), KB_CODE_OK); /* 242.00 */
    assert_int_equal(finalize(e, "i"), KB_CODE_OK);
    Kasboek__V1__InvoiceStatus s;
    assert_int_equal(pay_for(e, "card", "invoice", "i", 10000, CARD, NULL, 0), KB_CODE_OK);
    assert_int_equal(due(e, "i", &s), 14200);
    assert_int_equal(s, ST(OPEN));
    /* a processing debit reserves the rest: nothing more may come in */
    assert_int_equal(pay_for(e, "sepa", "invoice", "i", 14200, SEPA, NULL, 0), KB_CODE_OK);
    Invoice *inv = get(e, "i");
    assert_int_equal(inv->amount_pending, 14200);
    inv_free(inv);
    assert_int_equal(mark_paid(e, "i", 1, "EUR", "bank"), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(kbt_settle(e, "sepa"), KB_CODE_OK);
    assert_int_equal(due(e, "i", &s), 0);
    assert_int_equal(s, ST(PAID));
    /* a refund reopens what it takes back; a failed refund applies it again */
    assert_int_equal(kbt_refund(e, "sepa", "r1", 4200, "EUR"), KB_CODE_OK);
    assert_int_equal(due(e, "i", &s), 4200);
    assert_int_equal(s, ST(OPEN));
    Kasboek__V1__FailRefundRequest fr = KASBOEK__V1__FAIL_REFUND_REQUEST__INIT;
    fr.refund_id = "r1";
    fr.reason = "account closed";
    assert_int_equal(exec(e, "FailRefund", &fr.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(due(e, "i", &s), 0);
    assert_int_equal(s, ST(PAID));
    /* a lost dispute reopens its amount */
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.amount = 3000;
    m.currency = "EUR";
    Kasboek__V1__OpenDisputeRequest od = KASBOEK__V1__OPEN_DISPUTE_REQUEST__INIT;
    od.payment_id = "card";
    od.dispute_id = "d1";
    od.amount = &m;
    od.reason = "fraudulent";
    assert_int_equal(exec(e, "OpenDispute", &od.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(due(e, "i", &s), 0); /* open disputes move nothing yet */
    Kasboek__V1__CloseDisputeRequest cd = KASBOEK__V1__CLOSE_DISPUTE_REQUEST__INIT;
    cd.dispute_id = "d1";
    cd.outcome = KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST;
    assert_int_equal(exec(e, "CloseDispute", &cd.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(due(e, "i", &s), 3000);
    assert_int_equal(s, ST(OPEN));
    assert_int_equal(mark_paid(e, "i", 3000, "EUR", "NL-bank-77"), KB_CODE_OK);
    inv = get(e, "i");
    assert_int_equal(inv->status, ST(PAID));
    assert_int_equal(inv->amount_paid, 24200);
    assert_int_equal(inv->n_payments, 3);
    assert_string_equal(inv->payments[2]->reference, "NL-bank-77");
    inv_free(inv);
    /* a failed debit releases its reservation */
    create(e, "j", "EUR");
    assert_int_equal(item(e, "j", 1000, 5000, 0), KB_CODE_OK);
    assert_int_equal(finalize(e, "j"), KB_CODE_OK);
    assert_int_equal(pay_for(e, "sepa2", "invoice", "j", 5000, SEPA, NULL, 0), KB_CODE_OK);
    assert_int_equal(kbt_fail_payment(e, "sepa2"), KB_CODE_OK);
    inv = get(e, "j");
    assert_int_equal(inv->amount_pending, 0);
    assert_int_equal(inv->amount_due, 5000);
    assert_int_equal(inv->status, ST(OPEN));
    inv_free(inv);
    /* a zero invoice is paid once finalized */
    create(e, "z", "EUR");
    assert_int_equal(item(e, "z", 1000, 0, 0), KB_CODE_OK);
    assert_int_equal(finalize(e, "z"), KB_CODE_OK);
    assert_int_equal(due(e, "z", &s), 0);
    assert_int_equal(s, ST(PAID));
    rebuild_and_compare(e, 4);
}

/* A payment link's (or quote's) succeeded payment makes its invoice, paid. */
static void test_payment_link_invoice(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-01");
    Kasboek__V1__Money unit = KASBOEK__V1__MONEY__INIT;
    unit.amount = 2500;
    unit.currency = "EUR";
    Kasboek__V1__LineItem li = KASBOEK__V1__LINE_ITEM__INIT, *lis[] = {&li};
    li.name = "ticket";
    li.quantity = 2;
    li.unit_price = &unit;
    assert_int_equal(pay_for(e, "pl-pay", "payment_link", "pl_1", 5000, CARD, lis, 1), KB_CODE_OK);
    Invoice *inv = get(e, "pl-pay");
    assert_int_equal(inv->status, ST(PAID));
    assert_string_equal(inv->number, "INV-2026-000001");
    assert_string_equal(inv->source_type, "payment_link");
    assert_string_equal(inv->source_id, "pl_1");
    assert_int_equal(inv->n_lines, 1);
    assert_int_equal(inv->lines[0]->quantity_milli, 2000);
    assert_int_equal(inv->total, 5000);
    assert_int_equal(inv->amount_paid, 5000);
    assert_string_equal(inv->due_date, "2026-03-01");
    inv_free(inv);
    /* a quote paid by debit: the invoice comes when the money does */
    assert_int_equal(pay_for(e, "q-pay", "quote", "q_9", 7000, SEPA, NULL, 0), KB_CODE_OK);
    Kasboek__V1__GetInvoiceRequest r = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    r.invoice_id = "q-pay";
    assert_int_equal(query(e, "GetInvoice", &r.base), KB_CODE_NOT_FOUND);
    assert_int_equal(kbt_settle(e, "q-pay"), KB_CODE_OK);
    inv = get(e, "q-pay");
    assert_int_equal(inv->status, ST(PAID));
    assert_string_equal(inv->number, "INV-2026-000002");
    assert_int_equal(inv->total, 7000);
    inv_free(inv);
    /* its refund reopens the amount, like any applied payment */
    assert_int_equal(kbt_refund(e, "pl-pay", "plr", 2500, "EUR"), KB_CODE_OK);
    inv = get(e, "pl-pay");
    assert_int_equal(inv->status, ST(OPEN));
    assert_int_equal(inv->amount_due, 2500);
    inv_free(inv);
    /* an invoice id a caller took already refuses the payment that needs it */
    create(e, "taken", "EUR");
    assert_int_equal(pay_for(e, "taken", "quote", "q_1", 100, CARD, NULL, 0),
                     KB_CODE_ALREADY_EXISTS);
    assert_int_equal(e->reply.err.reason, KB_REASON_INVOICE_EXISTS);
    rebuild_and_compare(e, 3);
}

/* ------------------------------------------------------- overdue and lists */

static kb_tick_result tick(env *e, int64_t now) {
    kb_tick_result t;
    e->now = now;
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    assert_int_equal(kb_engine_tick(e->engine, now, &t), KB_OK);
    assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
    return t;
}

static Kasboek__V1__ListInvoicesReply *list(env *e, Kasboek__V1__ListInvoicesRequest *r) {
    kb_code c = query(e, "ListInvoices", &r->base);
    if (c) fail_msg("ListInvoices: %s %s %s", kb_reason_str(e->qreply.err.reason),
                    e->qreply.err.field, e->qreply.err.message);
    Kasboek__V1__ListInvoicesReply *l = kasboek__v1__list_invoices_reply__unpack(
        NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(l);
    return l;
}

static void test_overdue_once_by_tick(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-01");
    assert_int_equal(create_terms(e, "n15", "EUR", "c1", TERMS(NET_15), NULL), KB_CODE_OK);
    assert_int_equal(item(e, "n15", 1000, 9900, 0), KB_CODE_OK);
    assert_int_equal(finalize(e, "n15"), KB_CODE_OK);
    assert_int_equal(create_terms(e, "rcpt", "EUR", "c2", TERMS(DUE_ON_RECEIPT), NULL), KB_CODE_OK);
    assert_int_equal(item(e, "rcpt", 1000, 500, 0), KB_CODE_OK);
    assert_int_equal(finalize(e, "rcpt"), KB_CODE_OK);
    Invoice *inv = get(e, "n15");
    assert_string_equal(inv->due_date, "2026-03-16");
    inv_free(inv);
    assert_int_equal(tick(e, kbt_at("2026-03-01")).invoices_overdue, 0); /* due today */
    assert_int_equal(tick(e, kbt_at("2026-03-02")).invoices_overdue, 1); /* rcpt */
    assert_int_equal(tick(e, kbt_at("2026-03-16")).invoices_overdue, 0); /* n15: its last day */
    assert_int_equal(tick(e, kbt_at("2026-03-17")).invoices_overdue, 1);
    assert_int_equal(tick(e, kbt_at("2026-03-18")).invoices_overdue, 0); /* once */
    inv = get(e, "n15");
    assert_true(inv->overdue);
    inv_free(inv);
    Kasboek__V1__ListInvoicesRequest r = KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    r.overdue = true;
    r.totals = true;
    Kasboek__V1__ListInvoicesReply *l = list(e, &r);
    assert_int_equal(l->n_invoices, 2);
    assert_string_equal(l->plan, "overdue");
    assert_int_equal(l->n_totals, 1);
    assert_int_equal(l->totals[0]->amount, 10400);
    kasboek__v1__list_invoices_reply__free_unpacked(l, NULL);
    /* paid: no longer overdue; reopened by a refund: overdue again, with no
     * second event */
    assert_int_equal(pay_for(e, "p", "invoice", "n15", 9900, CARD, NULL, 0), KB_CODE_OK);
    l = list(e, &r);
    assert_int_equal(l->n_invoices, 1);
    kasboek__v1__list_invoices_reply__free_unpacked(l, NULL);
    assert_int_equal(kbt_refund(e, "p", "pr", 100, "EUR"), KB_CODE_OK);
    assert_int_equal(tick(e, kbt_at("2026-03-19")).invoices_overdue, 0);
    inv = get(e, "n15");
    assert_true(inv->overdue);
    assert_int_equal(inv->amount_due, 100);
    inv_free(inv);
    Kasboek__V1__GetInvoiceRequest g = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    g.invoice_id = "n15";
    assert_int_equal(query(e, "GetInvoice", &g.base), KB_CODE_OK);
    Kasboek__V1__GetInvoiceReply *gr =
        kasboek__v1__get_invoice_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    size_t overdue_events = 0;
    for (size_t i = 0; i < gr->n_timeline; i++)
        overdue_events += strcmp(gr->timeline[i]->type, "InvoiceBecameOverdue") == 0;
    assert_int_equal(overdue_events, 1);
    kasboek__v1__get_invoice_reply__free_unpacked(gr, NULL);
    rebuild_and_compare(e, 6);
}

#define LIST_N 60

typedef struct row {
    char id[16], customer[8], cur[4];
    Kasboek__V1__InvoiceStatus status;
    int64_t total, due;
} row;

static bool matches(const row *w, const Kasboek__V1__ListInvoicesRequest *r) {
    return (!r->status || w->status == r->status) &&
           (!r->customer_id[0] || strcmp(w->customer, r->customer_id) == 0) &&
           (!r->currency[0] || strcmp(w->cur, r->currency) == 0) &&
           (!r->min_case || w->total >= r->min_amount) && (!r->max_case || w->total <= r->max_amount);
}

/* Pages (limit 7) of r give exactly the oracle's rows, newest first, and
 * the totals their open amounts. */
static void check_filter(env *e, const row *rows, Kasboek__V1__ListInvoicesRequest *r) {
    int64_t want_due = 0, got_due = 0;
    size_t want = 0, got = 0;
    for (int i = LIST_N - 1; i >= 0; i--) {
        if (matches(&rows[i], r)) want++, want_due += rows[i].due;
    }
    r->limit = 7;
    r->totals = true;
    char cursor[128] = "";
    int i = LIST_N - 1;
    do {
        r->cursor = cursor;
        Kasboek__V1__ListInvoicesReply *l = list(e, r);
        for (size_t k = 0; k < l->n_invoices; k++, got++) {
            while (i >= 0 && !matches(&rows[i], r)) i--;
            assert_true(i >= 0);
            assert_string_equal(l->invoices[k]->invoice_id, rows[i].id);
            i--;
        }
        got_due = 0;
        for (size_t k = 0; k < l->n_totals; k++) got_due += l->totals[k]->amount;
        snprintf(cursor, sizeof cursor, "%s", l->next_cursor);
        kasboek__v1__list_invoices_reply__free_unpacked(l, NULL);
    } while (cursor[0]);
    r->cursor = ""; /* not the dead buffer */
    assert_int_equal(got, want);
    assert_int_equal(got_due, want_due);
}

static void test_list_filters(void **st) {
    env *e = *st;
    row rows[LIST_N];
    const char *curs[] = {"EUR", "USD"};
    for (int i = 0; i < LIST_N; i++) {
        row *w = &rows[i];
        e->now = kbt_at("2026-03-01") + i * INT64_C(1000000);
        snprintf(w->id, sizeof w->id, "L%02d", i);
        snprintf(w->customer, sizeof w->customer, "c%d", i % 4);
        snprintf(w->cur, sizeof w->cur, "%s", curs[i % 3 == 0]);
        assert_int_equal(create_terms(e, w->id, w->cur, w->customer, 0, NULL), KB_CODE_OK);
        w->total = 1000 + 100 * i;
        assert_int_equal(item(e, w->id, 1000, w->total, 0), KB_CODE_OK);
        w->status = ST(DRAFT);
        w->due = w->total;
        if (i % 5 == 0) continue;
        assert_int_equal(finalize(e, w->id), KB_CODE_OK);
        w->status = ST(OPEN);
        if (i % 5 == 1) {
            assert_int_equal(mark_paid(e, w->id, 500, w->cur, "part"), KB_CODE_OK);
            w->due -= 500;
        } else if (i % 5 == 2) {
            assert_int_equal(mark_paid(e, w->id, w->total, w->cur, "all"), KB_CODE_OK);
            w->status = ST(PAID);
            w->due = 0;
        } else if (i % 5 == 3 && i % 2) {
            assert_int_equal(void_inv(e, w->id, "wrong"), KB_CODE_OK);
            w->status = ST(VOID);
            w->due = 0;
        }
    }
    Kasboek__V1__ListInvoicesRequest r = KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    check_filter(e, rows, &r);
    Kasboek__V1__InvoiceStatus statuses[] = {ST(DRAFT), ST(OPEN), ST(PAID), ST(VOID)};
    for (size_t s = 0; s < 4; s++) {
        r = (Kasboek__V1__ListInvoicesRequest)KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
        r.status = statuses[s];
        check_filter(e, rows, &r);
        r.customer_id = "c1";
        check_filter(e, rows, &r);
    }
    r = (Kasboek__V1__ListInvoicesRequest)KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    r.currency = "USD";
    r.min_case = KASBOEK__V1__LIST_INVOICES_REQUEST__MIN_MIN_AMOUNT;
    r.min_amount = 2000;
    r.max_case = KASBOEK__V1__LIST_INVOICES_REQUEST__MAX_MAX_AMOUNT;
    r.max_amount = 5000;
    check_filter(e, rows, &r);
    /* due dates: every finalized invoice is due 2026-03-31 (net 30) */
    r = (Kasboek__V1__ListInvoicesRequest)KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    r.due_from = "2026-03-31";
    r.due_to = "2026-03-31";
    r.status = ST(OPEN);
    check_filter(e, rows, &r);
    r.due_from = "2026-04-01";
    r.due_to = "";
    Kasboek__V1__ListInvoicesReply *l = list(e, &r);
    assert_int_equal(l->n_invoices, 0);
    kasboek__v1__list_invoices_reply__free_unpacked(l, NULL);
    /* bad filters */
    r = (Kasboek__V1__ListInvoicesRequest)KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    r.min_case = KASBOEK__V1__LIST_INVOICES_REQUEST__MIN_MIN_AMOUNT;
    assert_int_equal(query(e, "ListInvoices", &r.base), KB_CODE_INVALID_ARGUMENT);
    r = (Kasboek__V1__ListInvoicesRequest)KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    r.cursor = "0123/x";
    assert_int_equal(query(e, "ListInvoices", &r.base), KB_CODE_INVALID_ARGUMENT);
    r.cursor = "";
    r.due_from = "2026-13-01";
    assert_int_equal(query(e, "ListInvoices", &r.base), KB_CODE_INVALID_ARGUMENT);
    rebuild_and_compare(e, 9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_totals_eur, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_totals_jpy, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_totals_bhd, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_numbering, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_illegal_transitions, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_payments_apply_and_reverse, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_payment_link_invoice, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_overdue_once_by_tick, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
