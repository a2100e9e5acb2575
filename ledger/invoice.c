/* Invoices (DOMAIN.md §3): lines and totals, the draft -> open -> paid /
 * void / written_off lifecycle, gapless numbers from the tenant's series,
 * terms and overdue, and payments applied to invoices. */
#include "invoice.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "calendar.h"
#include "money.h"
#include "payment.h"
#include "validate.h"

typedef Kasboek__V1__Invoice Invoice;
typedef Kasboek__V1__InvoiceLine Line;
typedef Kasboek__V1__InvoicePayment InvPayment;
typedef Kasboek__V1__InvoiceSeries Series;
typedef Kasboek__V1__TenantSettings Settings;
typedef Kasboek__V1__Payment Payment;
typedef Kasboek__V1__Event Event;

#define ST(x)   KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_##x
#define KIND(x) KASBOEK__V1__INVOICE_LINE_KIND__INVOICE_LINE_KIND_##x
#define TERMS(x) KASBOEK__V1__INVOICE_TERMS__INVOICE_TERMS_##x
#define BODY(x) KASBOEK__V1__EVENT__BODY_##x
#define EMIT    KB_EMIT

#define BP_ONE         10000 /* 100 % in basis points */
#define NUMBER_PREFIX_DEFAULT "INV"
#define NUMBER_DIGITS_DEFAULT 6
#define NUMBER_DIGITS_MAX     8 /* with a year, 12 digits: never a card-number run */
#define NUMBER_PREFIX_LEN_MAX 12
#define SERIES_ID "numbers"

/* ---------------------------------------------------------------- totals */

int64_t kb_round_div(__int128 q, int64_t d) {
    __int128 x = q / d, r = q % d;
    if (r < 0) r = -r;
    if (2 * r >= d) x += q < 0 ? -1 : 1;
    return (int64_t)x;
}

static bool fits64(__int128 v) {
    return v >= INT64_MIN && v <= INT64_MAX;
}

static bool is_item(const Line *l) {
    return l->kind == KIND(ITEM) || l->kind == KIND(UNSPECIFIED);
}

static kb_code overflow(kb_error *err, const char *field) {
    return kb_error_set(err, KB_REASON_AMOUNT_OVERFLOW, field, "the invoice's amounts overflow");
}

/* Pass 1: each item's subtotal and own discount; *net = their net sum. */
static kb_code item_amounts(Invoice *inv, const char *field, kb_error *err, __int128 *net) {
    *net = 0;
    for (size_t i = 0; i < inv->n_lines; i++) {
        Line *l = inv->lines[i];
        l->discount = l->tax = l->total = 0;
        if (l->kind == KIND(FEE)) l->subtotal = l->unit_price;
        if (!is_item(l)) continue;
        __int128 sub = kb_round_div((__int128)l->quantity_milli * l->unit_price, 1000);
        int64_t own = l->discount_bp ? kb_round_div(sub * l->discount_bp, BP_ONE)
                                     : l->discount_amount;
        if (!fits64(sub)) return overflow(err, field);
        if (own > sub) {
            return kb_error_set(err, KB_REASON_DISCOUNT_EXCEEDS_LINE, field,
                                "line %s: discount exceeds the line's subtotal", l->line_id);
        }
        l->subtotal = (int64_t)sub;
        l->discount = own;
        *net += sub - own;
    }
    return fits64(*net) ? KB_CODE_OK : overflow(err, field);
}

/* Pass 2: the invoice-level discounts, spread over the items in
 * proportion to their net (largest remainder first, then line order). */
static kb_code spread_discounts(Invoice *inv, __int128 net, const char *field, kb_error *err) {
    __int128 d = 0;
    for (size_t i = 0; i < inv->n_lines; i++) {
        Line *l = inv->lines[i];
        if (l->kind != KIND(DISCOUNT)) continue;
        l->subtotal = 0;
        l->discount = l->discount_bp ? kb_round_div(net * l->discount_bp, BP_ONE)
                                     : l->discount_amount;
        d += l->discount;
    }
    if (d > net) {
        return kb_error_set(err, KB_REASON_DISCOUNT_EXCEEDS_SUBTOTAL, field,
                            "invoice discounts exceed the items' net amount");
    }
    if (d == 0) return KB_CODE_OK;
    __int128 rem[KB_INVOICE_LINES_MAX];
    bool bumped[KB_INVOICE_LINES_MAX] = {false};
    __int128 given = 0;
    KB_VERIFY(inv->n_lines <= KB_INVOICE_LINES_MAX);
    for (size_t i = 0; i < inv->n_lines; i++) {
        Line *l = inv->lines[i];
        rem[i] = -1;
        if (!is_item(l)) continue;
        __int128 part = d * (l->subtotal - l->discount);
        l->discount += (int64_t)(part / net);
        rem[i] = part % net;
        given += part / net;
    }
    for (__int128 left = d - given; left > 0; left--) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < inv->n_lines; i++) {
            if (rem[i] >= 0 && !bumped[i] && (best == SIZE_MAX || rem[i] > rem[best])) best = i;
        }
        KB_VERIFY(best != SIZE_MAX);
        bumped[best] = true;
        inv->lines[best]->discount++;
    }
    return KB_CODE_OK;
}

static Kasboek__V1__TaxTotal *tax_row(Invoice *inv, uint32_t bp, kb_arena *a) {
    size_t i = 0;
    while (i < inv->n_taxes && inv->taxes[i]->tax_bp < bp) i++;
    if (i < inv->n_taxes && inv->taxes[i]->tax_bp == bp) return inv->taxes[i];
    Kasboek__V1__TaxTotal *t = KB_NEW(a, Kasboek__V1__TaxTotal, KASBOEK__V1__TAX_TOTAL__INIT);
    Kasboek__V1__TaxTotal **v = kb_arena_alloc(a, (inv->n_taxes + 1) * sizeof *v);
    KB_VERIFY(t && v);
    if (i) memcpy(v, inv->taxes, i * sizeof *v);
    v[i] = t;
    if (inv->n_taxes > i) memcpy(v + i + 1, inv->taxes + i, (inv->n_taxes - i) * sizeof *v);
    t->tax_bp = bp;
    inv->taxes = v;
    inv->n_taxes++;
    return t;
}

static void derive_due(Invoice *inv) {
    __int128 due = (__int128)inv->total - inv->amount_paid - inv->amount_written_off;
    inv->amount_due = inv->status == ST(VOID) || due < 0 ? 0 : (int64_t)due;
    inv->amount_overpaid = due < 0 ? (int64_t)-due : 0;
}

kb_code kb_invoice_compute(Invoice *inv, kb_arena *a, const char *field, kb_error *err) {
    __int128 net;
    kb_code code = item_amounts(inv, field, err, &net);
    if (!code) code = spread_discounts(inv, net, field, err);
    if (code) return code;
    __int128 sub = 0, disc = 0, fees = 0, tax = 0;
    inv->n_taxes = 0;
    inv->taxes = NULL;
    for (size_t i = 0; i < inv->n_lines; i++) {
        Line *l = inv->lines[i];
        if (l->kind == KIND(DISCOUNT)) continue;
        __int128 base = (__int128)l->subtotal - l->discount;
        l->tax = kb_round_div(base * l->tax_bp, BP_ONE);
        l->total = (int64_t)(base + l->tax);
        if (is_item(l)) sub += l->subtotal, disc += l->discount;
        else fees += l->subtotal;
        tax += l->tax;
        if (l->tax_bp) {
            Kasboek__V1__TaxTotal *t = tax_row(inv, l->tax_bp, a);
            t->taxable += (int64_t)base;
            t->tax += l->tax;
        }
    }
    __int128 total = sub - disc + fees + tax;
    if (!fits64(sub) || !fits64(fees) || !fits64(tax) || !fits64(total) || total < 0)
        return overflow(err, field);
    inv->subtotal = (int64_t)sub;
    inv->discount = (int64_t)disc;
    inv->fees = (int64_t)fees;
    inv->tax = (int64_t)tax;
    inv->total = (int64_t)total;
    derive_due(inv);
    return KB_CODE_OK;
}

/* ----------------------------------------------------------------- dates */

static int terms_days(Kasboek__V1__InvoiceTerms t) {
    switch (t) {
        case TERMS(NET_15): return 15;
        case TERMS(NET_30): return 30;
        case TERMS(NET_45): return 45;
        case TERMS(NET_60): return 60;
        case TERMS(NET_90): return 90;
        default: return 0;
    }
}

/* ------------------------------------------------------------ the series */

static const char *number_prefix(const Settings *s) {
    return s->invoice_prefix && s->invoice_prefix[0] ? s->invoice_prefix : NUMBER_PREFIX_DEFAULT;
}

/* Takes the next number of the tenant's series (the peer stream): the
 * InvoiceNumberIssued event goes to the series in the same commit, so a
 * number is used exactly when the invoice that carries it is stored. */
static const char *issue_number(kb_decide_ctx *c, const char *invoice_id) {
    const Series *s = (const void *)c->peer;
    const Settings *st = c->settings;
    KB_VERIFY(s && st);
    int32_t year = kb_civil_from_days(kb_day_of_instant(c->now)).year;
    if (year < s->year) year = s->year; /* the series never goes back a year */
    bool yearly = !st->invoice_number_without_year;
    /* Numbers without a year go on from the series' counter, and past the
     * last one without a year: after a new year restarted the counter, a
     * tenant that switched the year off, on and off again got its old
     * numbers again, which the claim below refused, for every finalize
     * from then on (found by a review). */
    uint64_t seq = yearly && year > s->year ? 1 : s->last_sequence + 1;
    if (!yearly && seq <= s->last_sequence_without_year) seq = s->last_sequence_without_year + 1;
    int digits = st->invoice_number_digits ? (int)st->invoice_number_digits : NUMBER_DIGITS_DEFAULT;
    const char *number =
        yearly ? kb_arena_printf(c->arena, "%s-%d-%0*llu", number_prefix(st), (int)year, digits,
                                 (unsigned long long)seq)
               : kb_arena_printf(c->arena, "%s-%0*llu", number_prefix(st), digits,
                                 (unsigned long long)seq);
    Kasboek__V1__InvoiceNumberIssued *e = number ? kb_decide_emit_peer_body(
        c, BODY(INVOICE_NUMBER_ISSUED), &(Kasboek__V1__InvoiceNumberIssued)KASBOEK__V1__INVOICE_NUMBER_ISSUED__INIT,
        sizeof *e) : NULL;
    if (!e) return NULL;
    e->invoice_id = (char *)invoice_id;
    e->number = (char *)number;
    e->year = yearly ? year : s->year;
    e->sequence = seq;
    e->without_year = !yearly;
    /* A number is unique per tenant: the claim refuses a finalize rather
     * than issue a number twice (a yearless one of a store from before
     * last_sequence_without_year could still come round again). */
    if (!kb_decide_claim(c, "invoice_number", number, "invoice_id", KB_REASON_INVOICE_NUMBER_TAKEN))
        return NULL;
    return number;
}

static ProtobufCMessage *series_create(kb_arena *a, const char *id) {
    Series *s = KB_NEW(a, Series, KASBOEK__V1__INVOICE_SERIES__INIT);
    if (!s) return NULL;
    s->series_id = kb_arena_strdup(a, id);
    return s->series_id ? &s->base : NULL;
}

static void series_evolve(ProtobufCMessage *state, const Event *ev, kb_arena *a) {
    (void)a;
    Series *s = (void *)state;
    if (ev->body_case != BODY(INVOICE_NUMBER_ISSUED)) return;
    const Kasboek__V1__InvoiceNumberIssued *e = ev->invoice_number_issued;
    s->year = e->year;
    s->last_sequence = e->sequence;
    if (e->without_year) s->last_sequence_without_year = e->sequence;
    s->last_number = e->number;
    s->last_invoice_id = e->invoice_id;
}

static bool series_index(const ProtobufCMessage *state, const char *tenant, kb_index_set *out) {
    (void)state, (void)tenant, (void)out;
    return true;
}

const kb_aggregate kb_invoice_series_aggregate = {
    .type = "invoice_series",
    .state_desc = &kasboek__v1__invoice_series__descriptor,
    .create = series_create,
    .evolve = series_evolve,
    .index = series_index,
};

static const kb_peer series_peer = {.agg = &kb_invoice_series_aggregate, .id = SERIES_ID};

/* ---------------------------------------------------------------- evolve */

/* A copy of every line (the derived amounts are rewritten by compute). */
static void copy_lines(Invoice *inv, kb_arena *a) {
    Line **v = kb_arena_alloc(a, (inv->n_lines + 1) * sizeof *v);
    KB_VERIFY(v);
    for (size_t i = 0; i < inv->n_lines; i++) {
        v[i] = kb_arena_copy(a, inv->lines[i], sizeof *v[i]);
        KB_VERIFY(v[i]);
    }
    inv->lines = v;
}

static void recompute(Invoice *inv, kb_arena *a) {
    kb_error err;
    kb_error_clear(&err);
    (void)kb_invoice_compute(inv, a, "", &err); /* decide checked it */
}

/* The entry of payment_id ("" = a new entry for money from outside). */
static InvPayment *payment_entry(Invoice *inv, const char *payment_id, kb_arena *a) {
    for (size_t i = 0; payment_id[0] && i < inv->n_payments; i++) {
        if (strcmp(inv->payments[i]->payment_id, payment_id) == 0) return inv->payments[i];
    }
    InvPayment *p = KB_NEW(a, InvPayment, KASBOEK__V1__INVOICE_PAYMENT__INIT);
    KB_VERIFY(p);
    p->payment_id = (char *)payment_id;
    kb_arena_push(a, (void ***)&inv->payments, &inv->n_payments, p);
    return p;
}

/* The entry of what payment plan plan_id passed on (made on first use). */
static InvPayment *plan_entry(Invoice *inv, const char *plan_id, kb_arena *a) {
    for (size_t i = 0; i < inv->n_payments; i++) {
        if (strcmp(inv->payments[i]->plan_id, plan_id) == 0) return inv->payments[i];
    }
    InvPayment *p = payment_entry(inv, "", a);
    p->plan_id = (char *)plan_id;
    return p;
}

/* What payment plan plan_id passed on to the invoice, net. */
static int64_t plan_applied(const Invoice *inv, const char *plan_id) {
    for (size_t i = 0; i < inv->n_payments; i++)
        if (strcmp(inv->payments[i]->plan_id, plan_id) == 0) return inv->payments[i]->amount;
    return 0;
}

/* What the invoice's payment plan still collects of it: its item less
 * what the plan paid on it (0 without a plan). */
static int64_t plan_left(const Invoice *inv) {
    if (!inv->plan_id[0]) return 0;
    int64_t applied = plan_applied(inv, inv->plan_id);
    return inv->plan_amount > applied ? inv->plan_amount - applied : 0;
}

/* Money applied (delta > 0) or going back (< 0): a written-off invoice
 * stays settled, its write-off credit moving instead. */
static void paid_moves(Invoice *inv, int64_t delta) {
    inv->amount_paid += delta;
    if (inv->status == ST(WRITTEN_OFF)) inv->amount_written_off -= delta;
}

static const InvPayment *find_payment(const Invoice *inv, const char *payment_id) {
    for (size_t i = 0; inv && i < inv->n_payments; i++) {
        if (strcmp(inv->payments[i]->payment_id, payment_id) == 0) return inv->payments[i];
    }
    return NULL;
}

static void evolve_created(Invoice *inv, const Kasboek__V1__InvoiceCreated *e, kb_arena *a) {
    inv->status = ST(DRAFT);
    inv->currency = e->currency;
    inv->customer_id = e->customer_id;
    inv->company_id = e->company_id;
    inv->terms = e->terms;
    inv->due_date = e->due_date;
    inv->memo = e->memo;
    inv->source_type = e->source_type;
    inv->source_id = e->source_id;
    inv->n_lines = e->n_lines;
    inv->lines = e->lines;
    copy_lines(inv, a);
    recompute(inv, a);
}

static void evolve_lines(Invoice *inv, const Event *ev, kb_arena *a) {
    copy_lines(inv, a);
    if (ev->body_case == BODY(INVOICE_LINE_ADDED)) {
        inv->lines[inv->n_lines++] = kb_arena_copy(a, ev->invoice_line_added->line, sizeof(Line));
        KB_VERIFY(inv->lines[inv->n_lines - 1]);
    } else {
        size_t j = 0;
        for (size_t i = 0; i < inv->n_lines; i++) {
            if (strcmp(inv->lines[i]->line_id, ev->invoice_line_removed->line_id) != 0)
                inv->lines[j++] = inv->lines[i];
        }
        inv->n_lines = j;
    }
    recompute(inv, a);
}

static void refund_pending_add(Invoice *inv, int64_t amount) {
    inv->amount_refund_pending += amount;
    if (inv->amount_refund_pending < 0) inv->amount_refund_pending = 0;
}

static void evolve_money(Invoice *inv, const Event *ev, kb_arena *a) {
    switch (ev->body_case) {
        case BODY(INVOICE_PAYMENT_PENDING): {
            const Kasboek__V1__InvoicePaymentPending *e = ev->invoice_payment_pending;
            InvPayment *p = payment_entry(inv, e->payment_id, a);
            p->pending += e->amount;
            p->at = ev->occurred_at;
            inv->amount_pending += e->amount;
            break;
        }
        case BODY(INVOICE_PAYMENT_APPLIED): {
            const Kasboek__V1__InvoicePaymentApplied *e = ev->invoice_payment_applied;
            InvPayment *p = payment_entry(inv, e->payment_id, a);
            p->reference = e->reference;
            p->amount += e->amount;
            p->at = ev->occurred_at;
            if (e->was_pending) p->pending -= e->amount, inv->amount_pending -= e->amount;
            inv->amount_paid += e->amount;
            break;
        }
        case BODY(INVOICE_PAYMENT_RELEASED): {
            const Kasboek__V1__InvoicePaymentReleased *e = ev->invoice_payment_released;
            payment_entry(inv, e->payment_id, a)->pending -= e->amount;
            inv->amount_pending -= e->amount;
            break;
        }
        case BODY(INVOICE_PAYMENT_REVERSED): {
            const Kasboek__V1__InvoicePaymentReversed *e = ev->invoice_payment_reversed;
            payment_entry(inv, e->payment_id, a)->amount -= e->amount;
            paid_moves(inv, -e->amount);
            if (e->refund_pending) refund_pending_add(inv, e->amount);
            break;
        }
        case BODY(INVOICE_REFUND_SETTLED):
            refund_pending_add(inv, -ev->invoice_refund_settled->amount);
            break;
        case BODY(INVOICE_PLAN_PAID): {
            const Kasboek__V1__InvoicePlanPaid *e = ev->invoice_plan_paid;
            InvPayment *p = plan_entry(inv, e->plan_id, a);
            p->amount += e->amount;
            p->at = ev->occurred_at;
            paid_moves(inv, e->amount); /* never > 0 on a written-off one: nothing is open */
            break;
        }
        default:
            break;
    }
}

static void evolve_status(Invoice *inv, const Event *ev) {
    switch (ev->body_case) {
        case BODY(INVOICE_UPDATED): {
            const Kasboek__V1__InvoiceUpdated *e = ev->invoice_updated;
            inv->customer_id = e->customer_id;
            inv->company_id = e->company_id;
            inv->terms = e->terms;
            inv->due_date = e->due_date;
            inv->memo = e->memo;
            break;
        }
        case BODY(INVOICE_FINALIZED):
            inv->status = ST(OPEN);
            inv->number = ev->invoice_finalized->number;
            inv->issue_date = ev->invoice_finalized->issue_date;
            inv->due_date = ev->invoice_finalized->due_date;
            inv->finalized_at = ev->occurred_at;
            break;
        case BODY(INVOICE_PAID):
            inv->status = ST(PAID);
            inv->paid_at = ev->occurred_at;
            break;
        case BODY(INVOICE_REOPENED):
            inv->status = ST(OPEN);
            inv->paid_at = 0;
            break;
        case BODY(INVOICE_VOIDED):
            inv->status = ST(VOID);
            inv->closed_at = ev->occurred_at;
            inv->close_reason = ev->invoice_voided->reason;
            break;
        case BODY(INVOICE_WRITTEN_OFF):
            inv->status = ST(WRITTEN_OFF);
            inv->amount_written_off += ev->invoice_written_off->amount;
            inv->closed_at = ev->occurred_at;
            inv->close_reason = ev->invoice_written_off->reason;
            break;
        case BODY(INVOICE_BECAME_OVERDUE):
            inv->overdue_at = ev->occurred_at;
            break;
        case BODY(INVOICE_PLANNED):
            inv->plan_id = ev->invoice_planned->plan_id;
            inv->plan_amount = ev->invoice_planned->amount;
            break;
        case BODY(INVOICE_UNPLANNED):
            inv->plan_id = (char *)protobuf_c_empty_string;
            inv->plan_amount = 0;
            break;
        default:
            break;
    }
}

static void invoice_evolve(ProtobufCMessage *state, const Event *ev, kb_arena *a) {
    Invoice *inv = (Invoice *)state;
    switch (ev->body_case) {
        case BODY(INVOICE_CREATED):
            evolve_created(inv, ev->invoice_created, a);
            inv->created_at = ev->occurred_at;
            break;
        case BODY(INVOICE_LINE_ADDED):
        case BODY(INVOICE_LINE_REMOVED):
            evolve_lines(inv, ev, a);
            break;
        default:
            evolve_money(inv, ev, a);
            evolve_status(inv, ev);
            break;
    }
    inv->updated_at = ev->occurred_at;
    /* under a payment plan the plan's instalments are what is overdue, as
     * long as the plan still collects some of it */
    inv->overdue = inv->status == ST(OPEN) && inv->overdue_at != 0 && !plan_left(inv);
    derive_due(inv);
}

static ProtobufCMessage *invoice_create(kb_arena *a, const char *id) {
    Invoice *inv = KB_NEW(a, Invoice, KASBOEK__V1__INVOICE__INIT);
    if (!inv) return NULL;
    inv->invoice_id = kb_arena_strdup(a, id);
    return inv->invoice_id ? &inv->base : NULL;
}

/* ----------------------------------------------------------------- index */

void kb_invoice_list_prefix(kb_key *k, const char *tenant, const char *dim, const char *v) {
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, "invoice");
    if (!dim) {
        kb_key_add(k, "created");
    } else {
        kb_key_add(k, "by");
        kb_key_add(k, dim);
        kb_key_add(k, v);
    }
    kb_key_raw(k, "/", 1);
}

void kb_invoice_due_prefix(kb_key *k) {
    kb_key_init(k);
    kb_key_add(k, KB_SYS_PREFIX);
    kb_key_add(k, "invoice_due");
    kb_key_raw(k, "/", 1);
}

bool kb_invoice_row_parse(const char *v, size_t n, kb_invoice_row *out) {
    char buf[96], due[16];
    if (n >= sizeof buf) return false;
    memcpy(buf, v, n);
    buf[n] = 0;
    long long total, amount_due;
    int status, overdue, used = 0;
    if (sscanf(buf, "%3[A-Z] %d %d %15s %lld %lld%n", out->currency, &status, &overdue, due, &total,
               &amount_due, &used) != 6 ||
        (size_t)used != n || strlen(out->currency) != 3)
        return false;
    out->status = status;
    out->overdue = overdue != 0;
    out->has_due = strcmp(due, "-") != 0;
    out->due_day = out->has_due ? (int32_t)atoi(due) : 0;
    out->total = total;
    out->amount_due = amount_due;
    return true;
}

static bool list_add(kb_index_set *out, const char *tenant, const Invoice *inv, const char *dim,
                     const char *v, const char *value) {
    kb_key k;
    kb_invoice_list_prefix(&k, tenant, dim, v);
    kb_key_raw_hex64(&k, (uint64_t)inv->created_at);
    kb_key_add(&k, inv->invoice_id);
    return kb_index_set_add(out, &k, value);
}

static bool invoice_index(const ProtobufCMessage *state, const char *tenant, kb_index_set *out) {
    const Invoice *inv = (const void *)state;
    if (inv->status == ST(UNSPECIFIED)) return true;
    int32_t due = 0;
    bool has_due = kb_date_given(inv->due_date, &due);
    char d[16], st[8];
    snprintf(d, sizeof d, has_due ? "%d" : "-", (int)due);
    snprintf(st, sizeof st, "%d", (int)inv->status);
    char *value = kb_arena_printf(out->arena, "%s %d %d %s %lld %lld", inv->currency,
                                  (int)inv->status, inv->overdue ? 1 : 0, d,
                                  (long long)inv->total, (long long)inv->amount_due);
    bool ok = value && list_add(out, tenant, inv, NULL, NULL, value) &&
              list_add(out, tenant, inv, "status", st, value);
    if (ok && inv->customer_id[0]) ok = list_add(out, tenant, inv, "customer", inv->customer_id, value);
    if (ok && inv->overdue) ok = list_add(out, tenant, inv, "overdue", "1", value);
    kb_key k;
    if (ok && inv->number[0]) {
        kb_key_alias(&k, tenant, "invoice_number", inv->number);
        ok = kb_index_set_add(out, &k, inv->invoice_id);
    }
    if (ok && inv->status == ST(OPEN) && !inv->overdue_at && has_due && !plan_left(inv)) {
        kb_invoice_due_prefix(&k);
        kb_key_raw_hex64(&k, (uint64_t)(int64_t)due);
        kb_key_add(&k, tenant);
        kb_key_add(&k, inv->invoice_id);
        ok = kb_index_set_add(out, &k, "");
    }
    return ok;
}

/* ---------------------------------------------------------------- checks */

static kb_code need_text(const char *v, const char *field, kb_error *err) {
    return v[0] ? KB_CODE_OK : kb_error_set(err, KB_REASON_FIELD_REQUIRED, field, "%s is required", field);
}

/* field: the request field that names the invoice ("invoice_id", or a
 * payment's "source_id"). */
static kb_code need_status_of(const Invoice *inv, Kasboek__V1__InvoiceStatus want,
                              const char *field, kb_error *err) {
    if (inv->status == want) return KB_CODE_OK;
    if (want == ST(DRAFT))
        return kb_error_set(err, KB_REASON_INVOICE_NOT_DRAFT, field,
                            "invoice %s is finalized; only a draft can change", inv->invoice_id);
    if (inv->status == ST(PAID))
        return kb_error_set(err, KB_REASON_INVOICE_ALREADY_PAID, field, "invoice %s is paid",
                            inv->invoice_id);
    return kb_error_set(err, KB_REASON_INVOICE_NOT_OPEN, field, "invoice %s is not open",
                        inv->invoice_id);
}

static kb_code need_status(const Invoice *inv, Kasboek__V1__InvoiceStatus want, kb_error *err) {
    return need_status_of(inv, want, "invoice_id", err);
}

/* Terms and due date of a create or update: terms UNSPECIFIED with a due
 * date means CUSTOM; CUSTOM needs one; other terms take none. */
static kb_code check_terms(Kasboek__V1__InvoiceTerms *terms, const char *due, kb_error *err) {
    int32_t day;
    if (*terms < TERMS(UNSPECIFIED) || *terms > TERMS(CUSTOM))
        return kb_error_set(err, KB_REASON_INVALID_ENUM, "terms", "unknown terms");
    if (due[0] && !kb_date_given(due, &day))
        return kb_error_set(err, KB_REASON_INVALID_DATE, "due_date", "due_date must be YYYY-MM-DD");
    if (due[0] && *terms == TERMS(UNSPECIFIED)) *terms = TERMS(CUSTOM);
    if (due[0] && *terms != TERMS(CUSTOM))
        return kb_error_set(err, KB_REASON_DUE_DATE_WITH_TERMS, "due_date",
                            "a due date goes with custom terms only");
    if (*terms == TERMS(CUSTOM) && !due[0])
        return kb_error_set(err, KB_REASON_FIELD_REQUIRED, "due_date", "custom terms need a due_date");
    return KB_CODE_OK;
}

/* ------------------------------------------------------- draft commands */

static kb_code decide_create(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                             kb_decide_ctx *c) {
    (void)state;
    const Kasboek__V1__CreateInvoiceRequest *r = (const void *)msg;
    if (!r->currency[0]) return need_text(r->currency, "currency", c->err);
    if (kb_currency_exponent(r->currency) < 0)
        return kb_error_set(c->err, KB_REASON_UNKNOWN_CURRENCY, "currency", "unknown currency");
    kb_code code = need_text(r->customer_id, "customer_id", c->err);
    if (!code) code = kb_check_opt_id(r->customer_id, "customer_id", c->err);
    if (!code) code = kb_check_opt_id(r->company_id, "company_id", c->err);
    Kasboek__V1__InvoiceTerms terms = r->terms;
    if (!code) code = check_terms(&terms, r->due_date, c->err);
    if (code) return code;
    Kasboek__V1__InvoiceCreated *e = EMIT(c, Kasboek__V1__InvoiceCreated,
                                          KASBOEK__V1__INVOICE_CREATED__INIT, BODY(INVOICE_CREATED));
    if (!e) return c->err->code;
    e->invoice_id = (char *)c->id;
    e->currency = r->currency;
    e->customer_id = r->customer_id;
    e->company_id = r->company_id;
    e->terms = terms == TERMS(UNSPECIFIED) ? TERMS(NET_30) : terms;
    e->due_date = r->due_date;
    e->memo = r->memo;
    return KB_CODE_OK;
}

static kb_code decide_update(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                             kb_decide_ctx *c) {
    const Invoice *inv = (const void *)state;
    const Kasboek__V1__UpdateInvoiceRequest *r = (const void *)msg;
    kb_code code = need_status(inv, ST(DRAFT), c->err);
    if (!code && !r->customer_id[0] && !r->company_id[0] && !r->terms && !r->due_date[0] &&
        !r->memo_set_case)
        code = kb_error_set(c->err, KB_REASON_FIELD_REQUIRED, "customer_id",
                            "name at least one field to change");
    if (!code) code = kb_check_opt_id(r->customer_id, "customer_id", c->err);
    if (!code) code = kb_check_opt_id(r->company_id, "company_id", c->err);
    Kasboek__V1__InvoiceTerms terms = r->terms;
    if (!code) code = check_terms(&terms, r->due_date, c->err);
    if (code) return code;
    Kasboek__V1__InvoiceUpdated *e = EMIT(c, Kasboek__V1__InvoiceUpdated,
                                          KASBOEK__V1__INVOICE_UPDATED__INIT, BODY(INVOICE_UPDATED));
    if (!e) return c->err->code;
    e->customer_id = r->customer_id[0] ? r->customer_id : inv->customer_id;
    e->company_id = r->company_id[0] ? r->company_id : inv->company_id;
    e->terms = terms ? terms : inv->terms;
    e->due_date = r->due_date[0] ? r->due_date : e->terms == TERMS(CUSTOM) ? inv->due_date : "";
    e->memo = r->memo_set_case ? r->memo : inv->memo;
    return KB_CODE_OK;
}

static const Line *find_line(const Invoice *inv, const char *id) {
    for (size_t i = 0; i < inv->n_lines; i++)
        if (strcmp(inv->lines[i]->line_id, id) == 0) return inv->lines[i];
    return NULL;
}

static kb_code not_allowed(kb_error *err, const char *field, const char *kind) {
    return kb_error_set(err, KB_REASON_FIELD_NOT_ALLOWED, field, "%s lines take no %s", kind, field);
}

/* The fields each kind of line takes, and their ranges. */
static kb_code check_line(const Kasboek__V1__AddInvoiceLineRequest *r, kb_error *err) {
    bool item = r->kind == KIND(ITEM) || r->kind == KIND(UNSPECIFIED);
    if (r->kind < KIND(UNSPECIFIED) || r->kind > KIND(DISCOUNT))
        return kb_error_set(err, KB_REASON_INVALID_ENUM, "kind", "unknown line kind");
    kb_code code = need_text(r->description, "description", err);
    if (code) return code;
    if (item && (r->quantity_milli <= 0 || r->quantity_milli > KB_INVOICE_QUANTITY_MILLI_MAX))
        return kb_error_set(err, KB_REASON_INVALID_QUANTITY, "quantity_milli",
                            "quantity must be 0.001 to 1,000,000");
    if (!item && r->quantity_milli) return not_allowed(err, "quantity_milli", "fee and discount");
    if (r->kind == KIND(DISCOUNT) && r->unit_price) return not_allowed(err, "unit_price", "discount");
    if (r->unit_price < 0 || r->unit_price > KB_INVOICE_PRICE_MAX ||
        (r->kind == KIND(FEE) && r->unit_price == 0))
        return kb_error_set(err, KB_REASON_INVALID_AMOUNT, "unit_price",
                            r->kind == KIND(FEE) ? "a fee must be > 0" : "unit_price out of range");
    if (r->kind == KIND(FEE) && r->discount_case) return not_allowed(err, "discount", "fee");
    if (r->kind == KIND(DISCOUNT) && !r->discount_case)
        return kb_error_set(err, KB_REASON_FIELD_REQUIRED, "discount_bp",
                            "a discount line needs discount_bp or discount_amount");
    if (r->discount_case == KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_BP &&
        (r->discount_bp == 0 || r->discount_bp > BP_ONE))
        return kb_error_set(err, KB_REASON_INVALID_RATE, "discount_bp", "discount_bp must be 1-10000");
    if (r->discount_case == KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_AMOUNT &&
        (r->discount_amount <= 0 || r->discount_amount > KB_INVOICE_PRICE_MAX))
        return kb_error_set(err, KB_REASON_INVALID_AMOUNT, "discount_amount",
                            "discount_amount must be > 0");
    if (r->kind == KIND(DISCOUNT) && r->tax_bp) return not_allowed(err, "tax_bp", "discount");
    if (r->tax_bp > BP_ONE)
        return kb_error_set(err, KB_REASON_INVALID_RATE, "tax_bp", "tax_bp must be 0-10000");
    return KB_CODE_OK;
}

/* The line id: the caller's, or the first free "L<n>". */
static const char *line_id(const Invoice *inv, const char *given, kb_arena *a) {
    if (given[0]) return given;
    for (size_t n = inv->n_lines + 1;; n++) {
        char *id = kb_arena_printf(a, "L%zu", n);
        if (!id || !find_line(inv, id)) return id;
    }
}

/* inv with lines (a copy) worked out: refuses what would not add up. */
static kb_code try_lines(const Invoice *inv, Line **lines, size_t n, const char *field,
                         kb_decide_ctx *c) {
    Invoice t = *inv;
    t.lines = lines;
    t.n_lines = n;
    copy_lines(&t, c->arena);
    return kb_invoice_compute(&t, c->arena, field, c->err);
}

static kb_code decide_add_line(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                               kb_decide_ctx *c) {
    const Invoice *inv = (const void *)state;
    const Kasboek__V1__AddInvoiceLineRequest *r = (const void *)msg;
    kb_code code = need_status(inv, ST(DRAFT), c->err);
    if (!code) code = check_line(r, c->err);
    if (!code) code = kb_check_opt_id(r->line_id, "line_id", c->err);
    if (!code && r->line_id[0] && find_line(inv, r->line_id))
        code = kb_error_set(c->err, KB_REASON_INVOICE_LINE_EXISTS, "line_id", "line exists");
    if (!code && inv->n_lines >= KB_INVOICE_LINES_MAX)
        code = kb_error_set(c->err, KB_REASON_TOO_MANY_ITEMS, "invoice_id",
                            "an invoice has at most %d lines", KB_INVOICE_LINES_MAX);
    if (code) return code;
    Line *l = KB_NEW(c->arena, Line, KASBOEK__V1__INVOICE_LINE__INIT);
    Line **lines = kb_arena_alloc(c->arena, (inv->n_lines + 1) * sizeof *lines);
    if (!l || !lines) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "out of memory");
    l->line_id = (char *)line_id(inv, r->line_id, c->arena);
    l->kind = r->kind ? r->kind : KIND(ITEM);
    l->description = r->description;
    l->quantity_milli = r->quantity_milli;
    l->unit_price = r->unit_price;
    l->discount_bp = r->discount_case == KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_BP
                         ? r->discount_bp : 0;
    l->discount_amount =
        r->discount_case == KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_AMOUNT
            ? r->discount_amount : 0;
    l->tax_bp = r->tax_bp;
    if (!l->line_id) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "out of memory");
    if (inv->n_lines) memcpy(lines, inv->lines, inv->n_lines * sizeof *lines);
    lines[inv->n_lines] = l;
    code = try_lines(inv, lines, inv->n_lines + 1,
                     r->discount_case == KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_BP
                         ? "discount_bp" : r->discount_case ? "discount_amount" : "unit_price",
                     c);
    if (code) return code;
    Kasboek__V1__InvoiceLineAdded *e =
        EMIT(c, Kasboek__V1__InvoiceLineAdded, KASBOEK__V1__INVOICE_LINE_ADDED__INIT,
             BODY(INVOICE_LINE_ADDED));
    if (!e) return c->err->code;
    e->line = l; /* only the given fields: evolve derives the amounts */
    return KB_CODE_OK;
}

static kb_code decide_remove_line(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                                  kb_decide_ctx *c) {
    const Invoice *inv = (const void *)state;
    const Kasboek__V1__RemoveInvoiceLineRequest *r = (const void *)msg;
    kb_code code = need_status(inv, ST(DRAFT), c->err);
    if (!code) code = need_text(r->line_id, "line_id", c->err);
    if (!code && !find_line(inv, r->line_id))
        code = kb_error_set(c->err, KB_REASON_INVOICE_LINE_NOT_FOUND, "line_id", "no line %s",
                            r->line_id);
    if (code) return code;
    Line **lines = kb_arena_alloc(c->arena, (inv->n_lines + 1) * sizeof *lines);
    if (!lines) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < inv->n_lines; i++)
        if (strcmp(inv->lines[i]->line_id, r->line_id) != 0) lines[n++] = inv->lines[i];
    code = try_lines(inv, lines, n, "line_id", c);
    if (code) return code;
    Kasboek__V1__InvoiceLineRemoved *e =
        EMIT(c, Kasboek__V1__InvoiceLineRemoved, KASBOEK__V1__INVOICE_LINE_REMOVED__INIT,
             BODY(INVOICE_LINE_REMOVED));
    if (!e) return c->err->code;
    e->line_id = r->line_id;
    return KB_CODE_OK;
}

/* ---------------------------------------------------------- transitions */

static kb_code emit_paid(kb_decide_ctx *c, int64_t paid) {
    Kasboek__V1__InvoicePaid *e =
        EMIT(c, Kasboek__V1__InvoicePaid, KASBOEK__V1__INVOICE_PAID__INIT, BODY(INVOICE_PAID));
    if (!e) return c->err->code;
    e->amount_paid = paid;
    return KB_CODE_OK;
}

/* Finalized (number, issue and due date) for inv, issued on day. */
static kb_code emit_finalized(kb_decide_ctx *c, const Invoice *inv, int32_t day, int64_t total) {
    int32_t due = day + terms_days(inv->terms);
    if (inv->terms == TERMS(CUSTOM)) {
        KB_VERIFY(kb_date_given(inv->due_date, &due));
        if (due < day)
            return kb_error_set(c->err, KB_REASON_DUE_DATE_IN_PAST, "due_date",
                                "due date %s lies before the issue date", inv->due_date);
    }
    const char *number = issue_number(c, inv->invoice_id);
    Kasboek__V1__InvoiceFinalized *e =
        number ? EMIT(c, Kasboek__V1__InvoiceFinalized, KASBOEK__V1__INVOICE_FINALIZED__INIT,
                      BODY(INVOICE_FINALIZED))
               : NULL;
    if (!e) return c->err->code ? c->err->code : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no number");
    e->number = (char *)number;
    e->issue_date = kb_date_text(c->arena, day);
    e->due_date = kb_date_text(c->arena, due);
    e->total = total;
    return e->issue_date && e->due_date ? KB_CODE_OK
                                        : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
}

static kb_code decide_finalize(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                               kb_decide_ctx *c) {
    (void)msg;
    const Invoice *inv = (const void *)state;
    kb_code code = need_status(inv, ST(DRAFT), c->err);
    if (code) return code;
    size_t items = 0;
    for (size_t i = 0; i < inv->n_lines; i++) items += is_item(inv->lines[i]);
    if (!items)
        return kb_error_set(c->err, KB_REASON_INVOICE_EMPTY, "invoice_id",
                            "an invoice needs at least one item line");
    code = emit_finalized(c, inv, kb_day_of_instant(c->occurred_at), inv->total);
    if (!code && inv->total == 0) code = emit_paid(c, 0); /* nothing to collect */
    return code;
}

/* A payment plan collects the invoice: no void or second plan while it
 * does; no write-off or overdue mark while the plan still collects. */
static kb_code not_planned(const Invoice *inv, const char *field, kb_error *err) {
    if (!inv->plan_id[0]) return KB_CODE_OK;
    return kb_error_set(err, KB_REASON_INVOICE_IN_PLAN, field,
                        "payment plan %s collects invoice %s: pay the plan, or cancel it first",
                        inv->plan_id, inv->invoice_id);
}

static kb_code nothing_left_to_plan(const Invoice *inv, const char *field, kb_error *err) {
    return plan_left(inv) ? not_planned(inv, field, err) : KB_CODE_OK;
}

static kb_code decide_void(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                           kb_decide_ctx *c) {
    const Invoice *inv = (const void *)state;
    const Kasboek__V1__VoidInvoiceRequest *r = (const void *)msg;
    kb_code code = need_text(r->reason, "reason", c->err);
    if (!code) code = need_status(inv, ST(OPEN), c->err);
    if (!code) code = not_planned(inv, "invoice_id", c->err);
    if (!code && (inv->amount_paid || inv->amount_pending))
        code = kb_error_set(c->err, KB_REASON_INVOICE_HAS_PAYMENTS, "invoice_id",
                            "payments are applied to invoice %s; refund them or write it off",
                            inv->invoice_id);
    /* A refund not final yet may fail and bring its money back, which a
     * void invoice would hold without a sign that the customer is owed it
     * (found by a review). */
    if (!code && inv->amount_refund_pending)
        code =
            kb_error_set(c->err, KB_REASON_INVOICE_REFUND_PENDING, "invoice_id",
                         "a refund of a payment on invoice %s is not final yet", inv->invoice_id);
    if (code) return code;
    Kasboek__V1__InvoiceVoided *e =
        EMIT(c, Kasboek__V1__InvoiceVoided, KASBOEK__V1__INVOICE_VOIDED__INIT, BODY(INVOICE_VOIDED));
    if (!e) return c->err->code;
    e->reason = r->reason;
    return KB_CODE_OK;
}

static kb_code decide_write_off(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                                kb_decide_ctx *c) {
    const Invoice *inv = (const void *)state;
    const Kasboek__V1__WriteOffInvoiceRequest *r = (const void *)msg;
    kb_code code = need_text(r->reason, "reason", c->err);
    if (!code) code = need_status(inv, ST(OPEN), c->err);
    if (!code) code = nothing_left_to_plan(inv, "invoice_id", c->err);
    if (!code && inv->amount_pending)
        code = kb_error_set(c->err, KB_REASON_INVOICE_PAYMENT_PENDING, "invoice_id",
                            "a bank debit for invoice %s is still processing", inv->invoice_id);
    if (code) return code;
    Kasboek__V1__InvoiceWrittenOff *e =
        EMIT(c, Kasboek__V1__InvoiceWrittenOff, KASBOEK__V1__INVOICE_WRITTEN_OFF__INIT,
             BODY(INVOICE_WRITTEN_OFF));
    if (!e) return c->err->code;
    e->reason = r->reason;
    e->amount = inv->amount_due;
    return KB_CODE_OK;
}

/* Money may go to inv: it is open, in its currency, and no more than what
 * is due and not reserved by a processing debit. id_field names the
 * invoice in the request (a payment's is source_id). */
static kb_code check_payable(const Invoice *inv, const Kasboek__V1__Money *m, const char *field,
                             const char *id_field, kb_error *err) {
    kb_code code = need_status_of(inv, ST(OPEN), id_field, err);
    if (!code) code = kb_check_money(m, field, inv->currency, false, err);
    if (code) return code;
    /* of a planned invoice only what its plan does not collect (money
     * applied before the plan and reversed since) */
    int64_t left = plan_left(inv), room = inv->amount_due - inv->amount_pending - left;
    if (left && m->amount > room) {
        char have[32];
        kb_money_format(room > 0 ? room : 0, inv->currency, have, sizeof have);
        return kb_error_set(err, KB_REASON_INVOICE_IN_PLAN, id_field,
                            "payment plan %s collects invoice %s: pay the plan (%s %s of it can "
                            "be paid directly)",
                            inv->plan_id, inv->invoice_id, have, inv->currency);
    }
    if (m->amount > room) {
        char want[32], have[32], f[KB_FIELD_LEN_MAX];
        kb_money_format(m->amount, inv->currency, want, sizeof want);
        kb_money_format(room, inv->currency, have, sizeof have);
        snprintf(f, sizeof f, "%s.amount", field);
        return kb_error_set(err, KB_REASON_INVOICE_OVERPAYMENT, f,
                            "%s %s is more than the %s %s open on invoice %s", want, inv->currency,
                            have, inv->currency, inv->invoice_id);
    }
    if (inv->n_payments >= KB_INVOICE_PAYMENTS_MAX)
        return kb_error_set(err, KB_REASON_TOO_MANY_ITEMS, field,
                            "an invoice takes at most %d payments", KB_INVOICE_PAYMENTS_MAX);
    return KB_CODE_OK;
}

static kb_code emit_applied(kb_decide_ctx *c, const char *payment_id, const char *reference,
                            int64_t amount, bool was_pending) {
    Kasboek__V1__InvoicePaymentApplied *e =
        EMIT(c, Kasboek__V1__InvoicePaymentApplied, KASBOEK__V1__INVOICE_PAYMENT_APPLIED__INIT,
             BODY(INVOICE_PAYMENT_APPLIED));
    if (!e) return c->err->code;
    e->payment_id = (char *)payment_id;
    e->reference = (char *)reference;
    e->amount = amount;
    e->was_pending = was_pending;
    return KB_CODE_OK;
}

static kb_code decide_mark_paid(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                                kb_decide_ctx *c) {
    const Invoice *inv = (const void *)state;
    const Kasboek__V1__MarkInvoicePaidRequest *r = (const void *)msg;
    kb_code code = check_payable(inv, r->amount, "amount", "invoice_id", c->err);
    if (!code) code = need_text(r->reference, "reference", c->err);
    if (!code) code = emit_applied(c, "", r->reference, r->amount->amount, false);
    if (!code && r->amount->amount == inv->amount_due) code = emit_paid(c, inv->amount_paid + r->amount->amount);
    return code;
}

static kb_code decide_overdue(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                              kb_decide_ctx *c) {
    (void)msg;
    const Invoice *inv = (const void *)state;
    int32_t due;
    kb_code code = nothing_left_to_plan(inv, "invoice_id", c->err);
    if (code) return code;
    if (inv->status != ST(OPEN) || inv->overdue_at || !kb_date_given(inv->due_date, &due) ||
        due >= kb_day_of_instant(c->now))
        return kb_error_set(c->err, KB_REASON_INVOICE_NOT_OVERDUE, "invoice_id",
                            "invoice %s is not open past its due date, or is marked already",
                            inv->invoice_id);
    Kasboek__V1__InvoiceBecameOverdue *e =
        EMIT(c, Kasboek__V1__InvoiceBecameOverdue, KASBOEK__V1__INVOICE_BECAME_OVERDUE__INIT,
             BODY(INVOICE_BECAME_OVERDUE));
    if (!e) return c->err->code;
    e->due_date = inv->due_date;
    return KB_CODE_OK;
}

/* ------------------------------------------------- payments -> invoices */

static bool makes_invoice(const Payment *p) {
    return strcmp(p->source_type, "payment_link") == 0 || strcmp(p->source_type, "quote") == 0;
}

static bool pays_invoice(const Payment *p) {
    return strcmp(p->source_type, "invoice") == 0 && p->source_id[0];
}

static bool money_event(const Event *ev) {
    switch (ev->body_case) {
        case BODY(PAYMENT_RECORDED):
        case BODY(PAYMENT_SETTLED):
        case BODY(PAYMENT_FAILED):
        case BODY(REFUND_CREATED):
        case BODY(REFUND_SETTLED):
        case BODY(REFUND_FAILED):
            return true;
        case BODY(DISPUTE_CLOSED):
            return ev->dispute_closed->outcome == KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST;
        default:
            return false;
    }
}

/* invoice:<id> payments go to that invoice; a payment link's or quote's
 * to the invoice it made, which has the payment's id. */
static const char *invoicing_target(const ProtobufCMessage *source, Event *const *events, size_t n,
                                    kb_arena *a) {
    (void)a;
    const Payment *p = (const void *)source;
    bool any = false;
    for (size_t i = 0; i < n; i++) any |= money_event(events[i]);
    if (!any) return NULL;
    if (pays_invoice(p)) return p->source_id;
    return makes_invoice(p) ? p->payment_id : NULL;
}

/* The running amounts of the target while the reaction emits. */
typedef struct tally {
    Invoice inv; /* shallow copy; payments as stored */
    bool exists;
    Event *const *events; /* the command's events the reaction answers */
    size_t n_events;
} tally;

/* Whether the command's own events created refund id (else an earlier
 * command did, and left it pending). */
static bool created_now(const tally *t, const char *id) {
    for (size_t i = 0; i < t->n_events; i++)
        if (t->events[i]->body_case == BODY(REFUND_CREATED) &&
            strcmp(t->events[i]->refund_created->refund_id, id) == 0)
            return true;
    return false;
}

static int64_t tally_due(const tally *t) {
    return t->inv.total - t->inv.amount_paid - t->inv.amount_written_off;
}

/* Emits Paid or Reopened when the reaction's money moved the status. */
static kb_code settle_status(kb_decide_ctx *c, tally *t) {
    if (t->inv.status == ST(OPEN) && tally_due(t) <= 0) {
        t->inv.status = ST(PAID);
        return emit_paid(c, t->inv.amount_paid);
    }
    if (t->inv.status == ST(PAID) && tally_due(t) > 0) {
        t->inv.status = ST(OPEN);
        Kasboek__V1__InvoiceReopened *e =
            EMIT(c, Kasboek__V1__InvoiceReopened, KASBOEK__V1__INVOICE_REOPENED__INIT,
                 BODY(INVOICE_REOPENED));
        if (!e) return c->err->code;
        e->amount_due = tally_due(t);
    }
    return KB_CODE_OK;
}

/* The paid invoice of a payment link's or quote's payment: its line items
 * (or one line of the whole amount), finalized and paid at once. */
static kb_code make_paid_invoice(kb_decide_ctx *c, tally *t, const Payment *p) {
    if (t->exists) {
        if (find_payment(&t->inv, p->payment_id)) return KB_CODE_OK; /* made it already */
        return kb_error_set(c->err, KB_REASON_INVOICE_EXISTS, "payment_id",
                            "invoice %s exists; a %s payment makes the invoice of its own id",
                            p->payment_id, p->source_type);
    }
    Kasboek__V1__InvoiceCreated *e = EMIT(c, Kasboek__V1__InvoiceCreated,
                                          KASBOEK__V1__INVOICE_CREATED__INIT, BODY(INVOICE_CREATED));
    size_t n = p->n_line_items ? p->n_line_items : 1;
    Line **lines = kb_arena_alloc(c->arena, n * sizeof *lines);
    if (!e || !lines) return c->err->code ? c->err->code : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    for (size_t i = 0; i < n; i++) {
        Line *l = lines[i] = KB_NEW(c->arena, Line, KASBOEK__V1__INVOICE_LINE__INIT);
        if (!l) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
        l->line_id = kb_arena_printf(c->arena, "L%zu", i + 1);
        l->kind = KIND(ITEM);
        const Kasboek__V1__LineItem *li = p->n_line_items ? p->line_items[i] : NULL;
        l->description = li ? li->name : p->description[0] ? p->description : (char *)p->source_type;
        l->quantity_milli = 1000;
        l->unit_price = li ? li->unit_price->amount : p->amount->amount;
        int64_t q;
        if (li && kb_mul_checked(li->quantity, 1000, &q)) l->quantity_milli = q;
        else if (li) l->unit_price *= li->quantity; /* checked by the payment: fits */
        if (!l->line_id) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    }
    e->invoice_id = (char *)c->id;
    e->currency = p->amount->currency;
    e->customer_id = p->associations ? p->associations->contact_id : "";
    e->company_id = p->associations ? p->associations->company_id : "";
    e->terms = TERMS(DUE_ON_RECEIPT);
    e->due_date = "";
    e->memo = p->description;
    e->source_type = p->source_type;
    e->source_id = p->source_id;
    e->n_lines = n;
    e->lines = lines;
    Invoice draft = KASBOEK__V1__INVOICE__INIT;
    draft.invoice_id = (char *)c->id;
    draft.terms = TERMS(DUE_ON_RECEIPT);
    kb_code code = emit_finalized(c, &draft, kb_day_of_instant(c->occurred_at), p->amount->amount);
    if (!code) code = emit_applied(c, p->payment_id, "", p->amount->amount, false);
    if (!code) code = emit_paid(c, p->amount->amount);
    return code;
}

static kb_code payment_recorded(kb_decide_ctx *c, tally *t, const Payment *p,
                                const Kasboek__V1__PaymentRecorded *e) {
    bool collected = e->status == KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED;
    if (makes_invoice(p)) return collected ? make_paid_invoice(c, t, p) : KB_CODE_OK;
    if (!t->exists)
        return kb_error_set(c->err, KB_REASON_INVOICE_NOT_FOUND, "source_id", "no invoice %s",
                            p->source_id);
    kb_error *err = c->err;
    kb_code code = check_payable(&t->inv, e->amount, "amount", "source_id", err);
    if (code) return code;
    if (!collected) {
        Kasboek__V1__InvoicePaymentPending *pe =
            EMIT(c, Kasboek__V1__InvoicePaymentPending, KASBOEK__V1__INVOICE_PAYMENT_PENDING__INIT,
                 BODY(INVOICE_PAYMENT_PENDING));
        if (!pe) return c->err->code;
        pe->payment_id = p->payment_id;
        pe->amount = e->amount->amount;
        t->inv.amount_pending += e->amount->amount;
        return KB_CODE_OK;
    }
    code = emit_applied(c, p->payment_id, "", e->amount->amount, false);
    t->inv.amount_paid += e->amount->amount;
    return code ? code : settle_status(c, t);
}

/* A processing debit settled (applied) or failed (released). */
static kb_code debit_done(kb_decide_ctx *c, tally *t, const Payment *p, bool settled) {
    if (makes_invoice(p)) return settled ? make_paid_invoice(c, t, p) : KB_CODE_OK;
    const InvPayment *ip = find_payment(t->exists ? &t->inv : NULL, p->payment_id);
    if (!ip || ip->pending <= 0) return KB_CODE_OK;
    if (settled) {
        kb_code code = emit_applied(c, p->payment_id, "", ip->pending, true);
        t->inv.amount_paid += ip->pending;
        return code ? code : settle_status(c, t);
    }
    Kasboek__V1__InvoicePaymentReleased *e =
        EMIT(c, Kasboek__V1__InvoicePaymentReleased, KASBOEK__V1__INVOICE_PAYMENT_RELEASED__INIT,
             BODY(INVOICE_PAYMENT_RELEASED));
    if (!e) return c->err->code;
    e->payment_id = p->payment_id;
    e->amount = ip->pending;
    e->reason = p->failure_reason;
    return KB_CODE_OK;
}

/* Money of an applied payment going back (amount > 0) or returning after a
 * failed refund (amount < 0). */
static kb_code reverse(kb_decide_ctx *c, tally *t, const Payment *p, int64_t amount,
                       const char *why, bool refund_pending) {
    const InvPayment *ip = find_payment(t->exists ? &t->inv : NULL, p->payment_id);
    if (!ip) return KB_CODE_OK; /* never applied (e.g. a link payment before its invoice) */
    if (amount > ip->amount) amount = ip->amount; /* no more than it applied */
    if (amount == 0) return KB_CODE_OK;
    Kasboek__V1__InvoicePaymentReversed *e =
        EMIT(c, Kasboek__V1__InvoicePaymentReversed, KASBOEK__V1__INVOICE_PAYMENT_REVERSED__INIT,
             BODY(INVOICE_PAYMENT_REVERSED));
    if (!e) return c->err->code;
    e->payment_id = p->payment_id;
    e->amount = amount;
    e->reason = (char *)why;
    e->refund_pending = refund_pending;
    if (refund_pending) refund_pending_add(&t->inv, amount);
    paid_moves(&t->inv, -amount);
    return settle_status(c, t);
}

static int64_t refund_amount(const Payment *p, const char *id) {
    const Kasboek__V1__Refund *r = kb_payment_find_refund(p, id);
    return r && r->amount ? r->amount->amount : 0;
}

static kb_code invoicing_one(kb_decide_ctx *c, tally *t, const Payment *p, const Event *ev) {
    switch (ev->body_case) {
        case BODY(PAYMENT_RECORDED):
            return payment_recorded(c, t, p, ev->payment_recorded);
        case BODY(PAYMENT_SETTLED):
            return debit_done(c, t, p, true);
        case BODY(PAYMENT_FAILED):
            return debit_done(c, t, p, false);
        case BODY(REFUND_CREATED): { /* pending: still so after the command (a bank refund) */
            const Kasboek__V1__RefundCreated *e = ev->refund_created;
            const Kasboek__V1__Refund *r = kb_payment_find_refund(p, e->refund_id);
            return reverse(c, t, p, e->amount->amount,
                           kb_arena_printf(c->arena, "refund %s", e->refund_id),
                           r && r->status == KASBOEK__V1__REFUND_STATUS__REFUND_STATUS_PENDING);
        }
        case BODY(REFUND_SETTLED): { /* a pending one is final now */
            const char *id = ev->refund_settled->refund_id;
            if (created_now(t, id) || !find_payment(t->exists ? &t->inv : NULL, p->payment_id))
                return KB_CODE_OK;
            int64_t a = refund_amount(p, id);
            if (a > t->inv.amount_refund_pending) a = t->inv.amount_refund_pending;
            if (a <= 0) return KB_CODE_OK;
            Kasboek__V1__InvoiceRefundSettled *e =
                EMIT(c, Kasboek__V1__InvoiceRefundSettled, KASBOEK__V1__INVOICE_REFUND_SETTLED__INIT,
                     BODY(INVOICE_REFUND_SETTLED));
            if (!e) return c->err->code;
            e->payment_id = p->payment_id;
            e->refund_id = (char *)id;
            e->amount = a;
            t->inv.amount_refund_pending -= a;
            return KB_CODE_OK;
        }
        case BODY(REFUND_FAILED): /* the refunded amount is applied again */
            return reverse(c, t, p, -refund_amount(p, ev->refund_failed->refund_id),
                           kb_arena_printf(c->arena, "refund %s failed", ev->refund_failed->refund_id),
                           !created_now(t, ev->refund_failed->refund_id));
        case BODY(DISPUTE_CLOSED): {
            const Kasboek__V1__Dispute *d = kb_payment_find_dispute(p, ev->dispute_closed->dispute_id);
            if (!d || !money_event(ev)) return KB_CODE_OK;
            return reverse(c, t, p, d->amount->amount,
                           kb_arena_printf(c->arena, "dispute %s lost", d->dispute_id), false);
        }
        default:
            return KB_CODE_OK;
    }
}

static kb_code invoicing_react(const ProtobufCMessage *target, const ProtobufCMessage *source,
                               Event *const *events, size_t n, uint64_t first_seq,
                               kb_decide_ctx *c) {
    (void)first_seq;
    tally t = {.exists = target != NULL, .events = events, .n_events = n};
    if (target) t.inv = *(const Invoice *)target;
    else kasboek__v1__invoice__init(&t.inv);
    const Payment *p = (const void *)source;
    for (size_t i = 0; i < n; i++) {
        kb_code code = invoicing_one(c, &t, p, events[i]);
        if (code) return code;
        if (c->n_events) t.exists = true;
    }
    return KB_CODE_OK;
}

const kb_reaction kb_payment_invoicing = {.target = &kb_invoice_aggregate,
                                          .peer = &series_peer,
                                          .target_id = invoicing_target,
                                          .react = invoicing_react};

/* ------------------------------------------------------------ the tables */

/* ----------------------------------------------------- plans -> invoices */

static bool plan_invoice_event(const Event *ev) {
    switch (ev->body_case) {
        case BODY(PLAN_ACTIVATED):
        case BODY(PLAN_CANCELLED):
        case BODY(PLAN_PAYMENT_ALLOCATED):
        case BODY(PLAN_PAYMENT_REVERSED):
            return true;
        default:
            return false;
    }
}

/* Every invoice the plan covers, when its events concern them. */
static size_t plan_invoicing_targets(const ProtobufCMessage *source, Event *const *events, size_t n,
                                     kb_arena *a, const char **ids, size_t cap) {
    (void)a;
    const Kasboek__V1__PaymentPlan *p = (const void *)source;
    bool any = false;
    for (size_t i = 0; i < n; i++) any |= plan_invoice_event(events[i]);
    size_t k = 0;
    for (size_t i = 0; any && i < p->n_items && k < cap; i++)
        if (p->items[i]->invoice_id[0]) ids[k++] = p->items[i]->invoice_id;
    return k;
}

/* What a plan's paid amount covers of an item [start, start + amount). */
static int64_t covered(int64_t paid, int64_t start, int64_t amount) {
    int64_t v = paid - start;
    return v < 0 ? 0 : v > amount ? amount : v;
}

static kb_code emit_plan_paid(kb_decide_ctx *c, tally *t, const char *plan_id,
                              const char *payment_id, int64_t amount) {
    Kasboek__V1__InvoicePlanPaid *e = EMIT(c, Kasboek__V1__InvoicePlanPaid,
                                           KASBOEK__V1__INVOICE_PLAN_PAID__INIT, BODY(INVOICE_PLAN_PAID));
    if (!e) return c->err->code;
    e->plan_id = (char *)plan_id;
    e->payment_id = (char *)payment_id;
    e->amount = amount;
    paid_moves(&t->inv, amount);
    return settle_status(c, t);
}

/* The plan's events in one invoice it covers: activation plans it,
 * cancellation hands it back, and money moves what the plan's paid amount
 * covers of it (items covered in order, so a reversal uncovers the last
 * first), never more than it has open nor less than the plan passed on. */
static kb_code plan_invoicing_react(const ProtobufCMessage *target, const ProtobufCMessage *source,
                                    Event *const *events, size_t n, uint64_t first_seq,
                                    kb_decide_ctx *c) {
    (void)first_seq;
    const Kasboek__V1__PaymentPlan *p = (const void *)source;
    if (!target) return KB_CODE_OK; /* checked at activation: never so */
    tally t = {.inv = *(const Invoice *)target, .exists = true};
    int64_t start = 0, amount = 0, paid = p->paid, applied = 0;
    bool found = false;
    for (size_t i = 0; i < p->n_items && !found; i++) {
        found = strcmp(p->items[i]->invoice_id, c->id) == 0;
        if (found) amount = p->items[i]->amount;
        else start += p->items[i]->amount;
    }
    applied = plan_applied(&t.inv, p->plan_id);
    for (size_t i = 0; i < n; i++) /* back to the paid amount before these events */
        if (events[i]->body_case == BODY(PLAN_PAYMENT_ALLOCATED)) paid -= events[i]->plan_payment_allocated->amount;
        else if (events[i]->body_case == BODY(PLAN_PAYMENT_REVERSED)) paid += events[i]->plan_payment_reversed->amount;
    for (size_t i = 0; i < n; i++) {
        const Event *ev = events[i];
        kb_code code = KB_CODE_OK;
        if (ev->body_case == BODY(PLAN_ACTIVATED)) {
            Kasboek__V1__InvoicePlanned *e = EMIT(c, Kasboek__V1__InvoicePlanned,
                                                  KASBOEK__V1__INVOICE_PLANNED__INIT, BODY(INVOICE_PLANNED));
            if (!e) return c->err->code;
            e->plan_id = p->plan_id;
            e->amount = amount;
        } else if (ev->body_case == BODY(PLAN_CANCELLED) && !strcmp(t.inv.plan_id, p->plan_id)) {
            Kasboek__V1__InvoiceUnplanned *e =
                EMIT(c, Kasboek__V1__InvoiceUnplanned, KASBOEK__V1__INVOICE_UNPLANNED__INIT,
                     BODY(INVOICE_UNPLANNED));
            if (!e) return c->err->code;
            e->plan_id = p->plan_id;
            e->reason = ev->plan_cancelled->reason;
        } else if (ev->body_case == BODY(PLAN_PAYMENT_ALLOCATED) ||
                   ev->body_case == BODY(PLAN_PAYMENT_REVERSED)) {
            bool in = ev->body_case == BODY(PLAN_PAYMENT_ALLOCATED);
            const char *pid = in ? ev->plan_payment_allocated->payment_id : ev->plan_payment_reversed->payment_id;
            int64_t next = in ? paid + ev->plan_payment_allocated->amount
                              : paid - ev->plan_payment_reversed->amount;
            int64_t d = covered(next, start, amount) - covered(paid, start, amount);
            paid = next;
            if (d > 0 && d > tally_due(&t)) d = tally_due(&t) > 0 ? tally_due(&t) : 0;
            if (d < 0 && -d > applied) d = -applied;
            applied += d;
            if (d) code = emit_plan_paid(c, &t, p->plan_id, pid, d);
        }
        if (code) return code;
    }
    return KB_CODE_OK;
}

const kb_reaction kb_plan_invoicing = {.target = &kb_invoice_aggregate,
                                       .target_ids = plan_invoicing_targets,
                                       .react = plan_invoicing_react};

static void invoice_result(ProtobufCMessage *state, Kasboek__V1__CommandResult *r) {
    r->invoice = (Invoice *)state;
}

const kb_aggregate kb_invoice_aggregate = {
    .type = "invoice",
    .state_desc = &kasboek__v1__invoice__descriptor,
    .create = invoice_create,
    .evolve = invoice_evolve,
    .index = invoice_index,
};

#define INVOICE_CMD(name, descriptor_, fn)                                                    \
    {                                                                                         \
        .method = name, .desc = &descriptor_, .agg = &kb_invoice_aggregate,                   \
        .id_field = "invoice_id", .not_found = KB_REASON_INVOICE_NOT_FOUND, .decide = fn,     \
        .result = invoice_result                                                              \
    }

const kb_command kb_invoice_commands[] = {
    {.method = "CreateInvoice",
     .desc = &kasboek__v1__create_invoice_request__descriptor,
     .agg = &kb_invoice_aggregate,
     .id_field = "invoice_id",
     .creates = true,
     .exists = KB_REASON_INVOICE_EXISTS,
     .not_found = KB_REASON_INVOICE_NOT_FOUND,
     .decide = decide_create,
     .result = invoice_result},
    INVOICE_CMD("UpdateInvoice", kasboek__v1__update_invoice_request__descriptor, decide_update),
    INVOICE_CMD("AddInvoiceLine", kasboek__v1__add_invoice_line_request__descriptor,
                decide_add_line),
    INVOICE_CMD("RemoveInvoiceLine", kasboek__v1__remove_invoice_line_request__descriptor,
                decide_remove_line),
    /* takes a number: reads the series (its peer) and the number settings */
    {.method = "FinalizeInvoice",
     .desc = &kasboek__v1__finalize_invoice_request__descriptor,
     .agg = &kb_invoice_aggregate,
     .id_field = "invoice_id",
     .not_found = KB_REASON_INVOICE_NOT_FOUND,
     .peer = &series_peer,
     .needs_settings = true,
     .decide = decide_finalize,
     .result = invoice_result},
    INVOICE_CMD("VoidInvoice", kasboek__v1__void_invoice_request__descriptor, decide_void),
    INVOICE_CMD("WriteOffInvoice", kasboek__v1__write_off_invoice_request__descriptor,
                decide_write_off),
    INVOICE_CMD("MarkInvoicePaid", kasboek__v1__mark_invoice_paid_request__descriptor,
                decide_mark_paid),
    INVOICE_CMD("MarkInvoiceOverdue", kasboek__v1__mark_invoice_overdue_request__descriptor,
                decide_overdue),
    {.method = NULL},
};
