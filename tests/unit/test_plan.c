/* Payment plans (issue 6): the schedule on the worked examples of the
 * issue in EUR, JPY and BHD; plans over invoices and collection cases;
 * draft edits that recompute; what activation freezes; pause, resume and
 * cancel with their reasons; settings copied at creation; payments oldest
 * first with the surplus carried, early payments re-spread, reversals from
 * the most recently paid; time, SDD collections, auto-cancel, reminders;
 * a randomized run of thousands of payments, refunds and ticks against the
 * invariants; every refusal appends nothing; replay equal. */
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
#include "plan.h"
#include "project.h"
#include "support/engine_env.h"

typedef Kasboek__V1__PaymentPlan Plan;

#define PS(x)     KASBOEK__V1__PLAN_STATUS__PLAN_STATUS_##x
#define IS(x)     KASBOEK__V1__INSTALMENT_STATUS__INSTALMENT_STATUS_##x
#define METHOD(x) KASBOEK__V1__PLAN_METHOD__PLAN_METHOD_##x
#define PERIOD(x) KASBOEK__V1__PLAN_PERIOD__PLAN_PERIOD_##x
#define CH(x)     KASBOEK__V1__REMINDER_CHANNEL__REMINDER_CHANNEL_##x
#define BY_COUNT  KASBOEK__V1__CREATE_PLAN_REQUEST__SPLIT_COUNT
#define BY_AMOUNT KASBOEK__V1__CREATE_PLAN_REQUEST__SPLIT_INSTALMENT_AMOUNT

/* ------------------------------------------------------------- schedule */

static void assert_schedule(int64_t total, uint32_t count, int64_t amount, uint32_t want_n,
                            int64_t want_each, int64_t want_last) {
    int64_t a[KB_PLAN_INSTALMENTS_MAX];
    int32_t d[KB_PLAN_INSTALMENTS_MAX];
    uint32_t n;
    assert_int_equal(kb_plan_schedule(total, count, amount, kbt_day("2026-01-31"), PERIOD(MONTHLY), a,
                                      d, KB_PLAN_INSTALMENTS_MAX, &n),
                     KB_OK);
    assert_int_equal(n, want_n);
    int64_t sum = 0;
    for (uint32_t k = 0; k < n; k++) {
        sum += a[k];
        if (k + 1 < n) assert_int_equal(a[k], want_each);
    }
    assert_int_equal(a[n - 1], want_last);
    assert_int_equal(sum, total);
}

/* The issue's examples: 1000.00 in 6 and at 150.00, the same in JPY (no
 * minor unit) and BHD (three decimals). */
static void test_schedule_worked_examples(void **st) {
    (void)st;
    assert_schedule(100000, 6, 0, 6, 16666, 16670);       /* EUR: 5 x 166.66 + 166.70 */
    assert_schedule(100000, 0, 15000, 7, 15000, 10000);   /* EUR: 6 x 150.00 + 100.00 */
    assert_schedule(1000, 6, 0, 6, 166, 170);             /* JPY: 5 x 166 + 170 */
    assert_schedule(1000, 0, 150, 7, 150, 100);           /* JPY: 6 x 150 + 100 */
    assert_schedule(1000000, 6, 0, 6, 166666, 166670);    /* BHD: 5 x 166.666 + 166.670 */
    assert_schedule(1000000, 0, 150000, 7, 150000, 100000);
    assert_schedule(100000, 0, 100000, 1, 0, 100000);     /* one instalment of everything */
    /* monthly from 31 January: clamped to each month's end, never drifting */
    int64_t a[4];
    int32_t d[4];
    uint32_t n;
    assert_int_equal(kb_plan_schedule(400, 4, 0, kbt_day("2026-01-31"), PERIOD(MONTHLY), a, d, 4, &n), KB_OK);
    assert_int_equal(d[1], kbt_day("2026-02-28"));
    assert_int_equal(d[2], kbt_day("2026-03-31"));
    assert_int_equal(d[3], kbt_day("2026-04-30"));
    assert_int_equal(kb_plan_schedule(400, 4, 0, kbt_day("2026-01-31"), PERIOD(WEEKLY), a, d, 4, &n), KB_OK);
    assert_int_equal(d[3], kbt_day("2026-02-21"));
    assert_int_equal(kb_plan_schedule(400, 4, 0, kbt_day("2025-11-30"), PERIOD(QUARTERLY), a, d, 4, &n), KB_OK);
    assert_int_equal(d[1], kbt_day("2026-02-28"));
    assert_int_equal(d[2], kbt_day("2026-05-30"));
    /* too many instalments is refused, not cut */
    assert_int_equal(kb_plan_schedule(100000, 0, 1, kbt_day("2026-01-01"), PERIOD(WEEKLY), a, d, 4, &n),
                     KB_ERR_LIMIT);
}

/* ------------------------------------------------------------- commands */

typedef struct plan_spec {
    const char *id, *customer, *currency, *start;
    const char *invoices[3];
    const char *case_ref;
    int64_t case_amount;
    Kasboek__V1__PlanMethod method;
    Kasboek__V1__PlanPeriod period;
    int split;
    uint32_t count;
    int64_t amount;
    Kasboek__V1__ReminderChannel reminder;
    bool early_recalc;
} plan_spec;

static kb_code create(env *e, plan_spec s) {
    Kasboek__V1__CreatePlanRequest r = KASBOEK__V1__CREATE_PLAN_REQUEST__INIT;
    char *ids[3];
    size_t n = 0;
    for (; n < 3 && s.invoices[n]; n++) ids[n] = (char *)s.invoices[n];
    Kasboek__V1__PlanCase pc = KASBOEK__V1__PLAN_CASE__INIT, *pcs[] = {&pc};
    r.plan_id = (char *)s.id;
    r.customer_id = (char *)(s.customer ? s.customer : "c1");
    r.method = s.method ? s.method : METHOD(SDD);
    r.invoice_ids = ids;
    r.n_invoice_ids = n;
    if (s.case_ref) {
        pc.ref = (char *)s.case_ref;
        pc.amount = s.case_amount;
        r.cases = pcs;
        r.n_cases = 1;
    }
    r.currency = (char *)(s.currency ? s.currency : "");
    r.start_date = (char *)(s.start ? s.start : "2026-01-15");
    r.period = s.period ? s.period : PERIOD(MONTHLY);
    r.split_case = s.split ? s.split : BY_COUNT;
    if (r.split_case == BY_COUNT) r.count = s.count;
    else r.instalment_amount = s.amount;
    r.reminder = s.reminder;
    r.early_recalc = s.early_recalc;
    return exec(e, "CreatePlan", &r.base, NULL, -1);
}

static Plan *get(env *e, const char *id) {
    Kasboek__V1__GetPlanRequest r = KASBOEK__V1__GET_PLAN_REQUEST__INIT;
    r.plan_id = (char *)id;
    assert_int_equal(query(e, "GetPlan", &r.base), KB_CODE_OK);
    Kasboek__V1__GetPlanReply *g =
        kasboek__v1__get_plan_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(g);
    Plan *p = g->plan;
    g->plan = NULL;
    kasboek__v1__get_plan_reply__free_unpacked(g, NULL);
    return p;
}

static void plan_free(Plan *p) {
    kasboek__v1__payment_plan__free_unpacked(p, NULL);
}

static void open_invoice(env *e, const char *id, const char *cur, int64_t price) {
    Kasboek__V1__CreateInvoiceRequest c = KASBOEK__V1__CREATE_INVOICE_REQUEST__INIT;
    c.invoice_id = (char *)id;
    c.currency = (char *)cur;
    c.customer_id = "c1";
    assert_int_equal(exec(e, "CreateInvoice", &c.base, NULL, -1), KB_CODE_OK);
    Kasboek__V1__AddInvoiceLineRequest l = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__INIT;
    l.invoice_id = (char *)id;
    l.description = "service";
    l.quantity_milli = 1000;
    l.unit_price = price;
    assert_int_equal(exec(e, "AddInvoiceLine", &l.base, NULL, -1), KB_CODE_OK);
    Kasboek__V1__FinalizeInvoiceRequest f = KASBOEK__V1__FINALIZE_INVOICE_REQUEST__INIT;
    f.invoice_id = (char *)id;
    assert_int_equal(exec(e, "FinalizeInvoice", &f.base, NULL, -1), KB_CODE_OK);
}

/* A plan over two invoices takes their open amounts; cases add theirs. */
static void test_create_over_invoices_and_cases(void **st) {
    env *e = *st;
    open_invoice(e, "i1", "EUR", 60000);
    open_invoice(e, "i2", "EUR", 40000);
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.amount = 10000;
    m.currency = "EUR";
    Kasboek__V1__MarkInvoicePaidRequest mp = KASBOEK__V1__MARK_INVOICE_PAID_REQUEST__INIT;
    mp.invoice_id = "i1";
    mp.amount = &m;
    mp.reference = "bank-1";
    assert_int_equal(exec(e, "MarkInvoicePaid", &mp.base, NULL, -1), KB_CODE_OK);
    /* 500.00 + 400.00 open, plus a collection case of 100.00: 1000.00 in 6 */
    assert_int_equal(create(e, (plan_spec){.id = "p1", .invoices = {"i1", "i2"}, .case_ref = "case-7",
                                           .case_amount = 10000, .count = 6}),
                     KB_CODE_OK);
    Plan *p = get(e, "p1");
    assert_int_equal(p->status, PS(DRAFT));
    assert_string_equal(p->currency, "EUR");
    assert_int_equal(p->total, 100000);
    assert_int_equal(p->n_items, 3);
    assert_int_equal(p->items[0]->amount, 50000);
    assert_string_equal(p->items[2]->case_ref, "case-7");
    assert_int_equal(p->n_instalments, 6);
    assert_int_equal(p->instalments[0]->amount, 16666);
    assert_int_equal(p->instalments[5]->amount, 16670);
    assert_string_equal(p->instalments[0]->due_date, "2026-01-15");
    assert_string_equal(p->instalments[5]->due_date, "2026-06-15");
    assert_int_equal(p->remaining, 100000);
    assert_string_equal(p->next_due_date, "2026-01-15");
    assert_int_equal(p->reminder, CH(EMAIL));
    assert_int_equal(p->terms->early_days, 7);
    assert_int_equal(p->terms->tolerance_days, 30);
    plan_free(p);
    rebuild_and_compare(e, 4);
}

#define REFUSED(call, c, r, f)                                                                    \
    do {                                                                                          \
        uint64_t h_ = kb_engine_head(e->engine).seq;                                              \
        kb_code got_ = (call);                                                                    \
        if (got_ != KB_CODE_##c || e->reply.err.reason != KB_REASON_##r ||                        \
            strcmp(e->reply.err.field, f) != 0)                                                   \
            fail_msg("%s: got %d %s %s (%s)", #call, got_, kb_reason_str(e->reply.err.reason),    \
                     e->reply.err.field, e->reply.err.message);                                   \
        assert_int_equal(kb_engine_head(e->engine).seq, h_);                                      \
    } while (0)

static void test_create_refusals(void **st) {
    env *e = *st;
    open_invoice(e, "eur", "EUR", 1000);
    open_invoice(e, "usd", "USD", 1000);
    REFUSED(create(e, (plan_spec){.id = "x", .count = 3}), INVALID_ARGUMENT, FIELD_REQUIRED,
            "invoice_ids");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"nope"}, .count = 3}), NOT_FOUND,
            INVOICE_NOT_FOUND, "invoice_ids[0]");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"eur", "usd"}, .count = 3}),
            INVALID_ARGUMENT, CURRENCY_MISMATCH, "invoice_ids[1]");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"eur", "eur"}, .count = 3}),
            INVALID_ARGUMENT, DUPLICATE_KEY, "invoice_ids[1]");
    REFUSED(create(e, (plan_spec){.id = "x", .case_ref = "c", .case_amount = 100, .count = 3}),
            INVALID_ARGUMENT, FIELD_REQUIRED, "currency");
    REFUSED(create(e, (plan_spec){.id = "x", .case_ref = "c", .case_amount = 0, .currency = "EUR",
                                  .count = 3}),
            INVALID_ARGUMENT, INVALID_AMOUNT, "cases[0]");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"eur"}, .count = 3,
                                  .reminder = CH(SMS)}),
            INVALID_ARGUMENT, SMS_NOT_SUPPORTED, "reminder");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"eur"}, .count = 121}), INVALID_ARGUMENT,
            TOO_MANY_ITEMS, "count");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"eur"}, .split = BY_AMOUNT, .amount = 1}),
            INVALID_ARGUMENT, TOO_MANY_ITEMS, "instalment_amount");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"eur"}, .count = 0}), INVALID_ARGUMENT,
            INVALID_QUANTITY, "count");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"eur"}, .count = 2, .start = "2026-02-30"}),
            INVALID_ARGUMENT, INVALID_DATE, "start_date");
    REFUSED(create(e, (plan_spec){.id = "x", .invoices = {"eur"}, .count = 2, .customer = "a b"}),
            INVALID_ARGUMENT, INVALID_ID, "customer_id");
}

static kb_code update(env *e, Kasboek__V1__UpdatePlanRequest *r) {
    r->plan_id = "p";
    return exec(e, "UpdatePlan", &r->base, NULL, -1);
}

static kb_code simple(env *e, const char *method, const char *reason) {
    Kasboek__V1__CancelPlanRequest c = KASBOEK__V1__CANCEL_PLAN_REQUEST__INIT;
    Kasboek__V1__PausePlanRequest p = KASBOEK__V1__PAUSE_PLAN_REQUEST__INIT;
    Kasboek__V1__ResumePlanRequest r = KASBOEK__V1__RESUME_PLAN_REQUEST__INIT;
    Kasboek__V1__ActivatePlanRequest a = KASBOEK__V1__ACTIVATE_PLAN_REQUEST__INIT;
    c.plan_id = p.plan_id = r.plan_id = a.plan_id = "p";
    c.reason = p.reason = (char *)reason;
    const ProtobufCMessage *m = !strcmp(method, "CancelPlan") ? &c.base
                                : !strcmp(method, "PausePlan") ? &p.base
                                : !strcmp(method, "ResumePlan") ? &r.base
                                                                : &a.base;
    return exec(e, method, m, NULL, -1);
}

/* Draft edits recompute; activation freezes all but tolerance and
 * reminders; pause and cancel need a reason. */
static void test_draft_edits_and_lifecycle(void **st) {
    env *e = *st;
    assert_int_equal(create(e, (plan_spec){.id = "p", .case_ref = "case-1", .case_amount = 100000,
                                           .currency = "EUR", .count = 6}),
                     KB_CODE_OK);
    Kasboek__V1__UpdatePlanRequest u = KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    u.split_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__SPLIT_INSTALMENT_AMOUNT;
    u.instalment_amount = 15000;
    u.period = PERIOD(WEEKLY);
    assert_int_equal(update(e, &u), KB_CODE_OK);
    Plan *p = get(e, "p");
    assert_int_equal(p->count, 7);
    assert_int_equal(p->instalment_amount, 15000);
    assert_int_equal(p->instalments[6]->amount, 10000);
    assert_string_equal(p->instalments[1]->due_date, "2026-01-22");
    plan_free(p);
    u = (Kasboek__V1__UpdatePlanRequest)KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    u.start_date = "2026-02-01"; /* the split stays by amount */
    assert_int_equal(update(e, &u), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->count, 7);
    assert_string_equal(p->instalments[0]->due_date, "2026-02-01");
    plan_free(p);
    REFUSED(simple(e, "ResumePlan", ""), FAILED_PRECONDITION, PLAN_NOT_PAUSED, "plan_id");
    REFUSED(simple(e, "PausePlan", "x"), FAILED_PRECONDITION, PLAN_NOT_ACTIVE, "plan_id");
    assert_int_equal(simple(e, "ActivatePlan", ""), KB_CODE_OK);
    REFUSED(simple(e, "ActivatePlan", ""), FAILED_PRECONDITION, PLAN_NOT_DRAFT, "plan_id");
    u = (Kasboek__V1__UpdatePlanRequest)KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    u.split_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__SPLIT_COUNT;
    u.count = 3;
    REFUSED(update(e, &u), FAILED_PRECONDITION, PLAN_NOT_DRAFT, "count");
    u = (Kasboek__V1__UpdatePlanRequest)KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    u.method = METHOD(SCT);
    REFUSED(update(e, &u), FAILED_PRECONDITION, PLAN_NOT_DRAFT, "method");
    u = (Kasboek__V1__UpdatePlanRequest)KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    u.start_date = "2026-03-01";
    REFUSED(update(e, &u), FAILED_PRECONDITION, PLAN_NOT_DRAFT, "start_date");
    u = (Kasboek__V1__UpdatePlanRequest)KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    u.reminder = CH(SMS);
    REFUSED(update(e, &u), INVALID_ARGUMENT, SMS_NOT_SUPPORTED, "reminder");
    u.reminder = CH(POST);
    u.tolerance_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT;
    u.tolerance_count = 2;
    assert_int_equal(update(e, &u), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->status, PS(ACTIVE));
    assert_int_equal(p->reminder, CH(POST));
    assert_int_equal(p->terms->tolerance_count, 2);
    assert_int_equal(p->terms->tolerance_days, 0);
    assert_int_equal(p->instalments[0]->amount, 15000); /* frozen */
    plan_free(p);
    REFUSED(simple(e, "PausePlan", ""), INVALID_ARGUMENT, FIELD_REQUIRED, "reason");
    assert_int_equal(simple(e, "PausePlan", "customer in hospital"), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->status, PS(PAUSED));
    assert_string_equal(p->pause_reason, "customer in hospital");
    plan_free(p);
    assert_int_equal(simple(e, "ResumePlan", ""), KB_CODE_OK);
    REFUSED(simple(e, "CancelPlan", ""), INVALID_ARGUMENT, FIELD_REQUIRED, "reason");
    assert_int_equal(simple(e, "CancelPlan", "settled in court"), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->status, PS(CANCELLED));
    for (size_t i = 0; i < p->n_instalments; i++)
        assert_int_equal(p->instalments[i]->status, IS(SKIPPED));
    assert_int_equal(p->remaining, 100000);
    plan_free(p);
    REFUSED(simple(e, "CancelPlan", "again"), FAILED_PRECONDITION, PLAN_CLOSED, "plan_id");
    REFUSED(update(e, &u), FAILED_PRECONDITION, PLAN_CLOSED, "plan_id");
    rebuild_and_compare(e, 5);
}

/* Settings are copied into a plan when it is made: a later change leaves
 * the plan as it was. */
static void test_settings_copied_at_creation(void **st) {
    env *e = *st;
    /* never set: the defaults */
    Kasboek__V1__GetPlanSettingsRequest q0 = KASBOEK__V1__GET_PLAN_SETTINGS_REQUEST__INIT;
    assert_int_equal(query(e, "GetPlanSettings", &q0.base), KB_CODE_OK);
    Kasboek__V1__PlanSettings *d0 =
        kasboek__v1__plan_settings__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(d0);
    assert_int_equal(d0->early_days, 7);
    assert_int_equal(d0->reminder_offset_days, 0);
    assert_int_equal(d0->default_tolerance_days, 30);
    assert_int_equal(d0->default_tolerance_count, 0);
    kasboek__v1__plan_settings__free_unpacked(d0, NULL);
    assert_int_equal(kb_engine_head(e->engine).seq, 0);
    assert_int_equal(create(e, (plan_spec){.id = "before", .case_ref = "c", .case_amount = 1000,
                                           .currency = "EUR", .count = 2}),
                     KB_CODE_OK);
    Kasboek__V1__UpdatePlanSettingsRequest s = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__INIT;
    s.early_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__EARLY_EARLY_DAYS;
    s.early_days = 10;
    s.offset_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__OFFSET_REMINDER_OFFSET_DAYS;
    s.reminder_offset_days = -3;
    assert_int_equal(exec(e, "UpdatePlanSettings", &s.base, NULL, -1), KB_CODE_OK);
    s.offset_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__OFFSET_REMINDER_OFFSET_DAYS;
    s.reminder_offset_days = -61;
    assert_int_equal(exec(e, "UpdatePlanSettings", &s.base, NULL, -1), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(create(e, (plan_spec){.id = "after", .case_ref = "c", .case_amount = 1000,
                                           .currency = "EUR", .count = 2}),
                     KB_CODE_OK);
    /* GetPlanSettings reads them and writes nothing */
    uint64_t head = kb_engine_head(e->engine).seq;
    Kasboek__V1__GetPlanSettingsRequest gs = KASBOEK__V1__GET_PLAN_SETTINGS_REQUEST__INIT;
    assert_int_equal(query(e, "GetPlanSettings", &gs.base), KB_CODE_OK);
    Kasboek__V1__PlanSettings *got =
        kasboek__v1__plan_settings__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(got);
    assert_int_equal(got->early_days, 10);
    assert_int_equal(got->reminder_offset_days, -3);
    assert_int_equal(got->default_tolerance_days, 30);
    kasboek__v1__plan_settings__free_unpacked(got, NULL);
    assert_int_equal(kb_engine_head(e->engine).seq, head);
    Plan *a = get(e, "before"), *b = get(e, "after");
    assert_int_equal(a->terms->early_days, 7);
    assert_int_equal(a->terms->reminder_offset_days, 0);
    assert_int_equal(b->terms->early_days, 10);
    assert_int_equal(b->terms->reminder_offset_days, -3);
    plan_free(a);
    plan_free(b);
    rebuild_and_compare(e, 2);
}


/* --------------------------------------------------------------- payments */

static kb_code pay_in(env *e, const char *id, int64_t amount, const char *cur, const char *plan) {
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.amount = amount;
    m.currency = (char *)cur;
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    r.amount = &m;
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_BANK_TRANSFER;
    r.source_type = "plan";
    r.source_id = (char *)plan;
    return exec(e, "RecordPayment", &r.base, NULL, -1);
}

static kb_code pay(env *e, const char *id, int64_t amount, const char *plan) {
    return pay_in(e, id, amount, "EUR", plan);
}

static void assert_instalment(const Plan *p, size_t i, int64_t paid,
                              Kasboek__V1__InstalmentStatus st) {
    assert_int_equal(p->instalments[i]->paid, paid);
    assert_int_equal(p->instalments[i]->status, st);
}

/* Oldest open instalment first, a surplus carried to the next; a reversal
 * after three paid instalments reopens the third, overdue by its date. */
static void test_payments_allocate_and_reverse(void **st) {
    env *e = *st;
    assert_int_equal(create(e, (plan_spec){.id = "p", .case_ref = "case-1", .case_amount = 100000,
                                           .currency = "EUR", .count = 6}),
                     KB_CODE_OK);
    REFUSED(pay(e, "early", 100, "p"), FAILED_PRECONDITION, PLAN_NOT_ACTIVE, "source_id");
    REFUSED(pay(e, "nowhere", 100, "nope"), NOT_FOUND, PLAN_NOT_FOUND, "source_id");
    assert_int_equal(simple(e, "ActivatePlan", ""), KB_CODE_OK);
    e->now = INT64_C(1774000000000000); /* 2026-03-20 */
    assert_int_equal(pay(e, "p1", 16666, "p"), KB_CODE_OK);
    assert_int_equal(pay(e, "p2", 16666 + 5000, "p"), KB_CODE_OK); /* 50.00 over */
    Plan *p = get(e, "p");
    assert_instalment(p, 0, 16666, IS(PAID));
    assert_instalment(p, 1, 16666, IS(PAID));
    assert_instalment(p, 2, 5000, IS(PLANNED)); /* the next one is 50.00 lower */
    assert_int_equal(p->remaining, 100000 - 38332);
    plan_free(p);
    assert_int_equal(pay(e, "p3", 11666, "p"), KB_CODE_OK);
    p = get(e, "p");
    assert_instalment(p, 2, 16666, IS(PAID));
    assert_int_equal(p->instalments_paid, 3);
    assert_int_equal(p->progress_bp, 4999); /* 499.98 of 1000.00 */
    assert_string_equal(p->next_due_date, "2026-04-15");
    plan_free(p);
    REFUSED(pay(e, "p4", 50003, "p"), FAILED_PRECONDITION, PLAN_OVERPAYMENT, "amount.amount");
    /* p3 refunded: the third instalment (due 2026-03-15) reopens, overdue */
    assert_int_equal(kbt_refund(e, "p3", "r3", 11666, "EUR"), KB_CODE_OK);
    p = get(e, "p");
    assert_instalment(p, 2, 5000, IS(OVERDUE));
    assert_int_equal(p->status, PS(OVERDUE));
    assert_int_equal(p->remaining, 100000 - 38332);
    plan_free(p);
    /* the rest paid at once: completed; a refund of it reopens the plan */
    assert_int_equal(pay(e, "all", 100000 - 38332, "p"), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->status, PS(COMPLETED));
    assert_int_equal(p->remaining, 0);
    int64_t sum = 0;
    for (size_t i = 0; i < p->n_instalments; i++) sum += p->instalments[i]->amount;
    assert_int_equal(sum, p->total);
    plan_free(p);
    assert_int_equal(kbt_refund(e, "all", "ra", 100, "EUR"), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->status, PS(ACTIVE));
    assert_instalment(p, 5, 16670 - 100, IS(PLANNED));
    assert_int_equal(p->paid + p->remaining, p->total);
    plan_free(p);
    rebuild_and_compare(e, 3);
}


static void assert_amounts(env *e, const char *id, const int64_t *want, size_t n) {
    Plan *p = get(e, id);
    assert_int_equal(p->n_instalments, n);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (p->instalments[i]->amount != want[i])
            fail_msg("%s instalment %zu: amount %lld, want %lld", id, i + 1,
                     (long long)p->instalments[i]->amount, (long long)want[i]);
        sum += p->instalments[i]->amount;
    }
    assert_int_equal(sum, p->total);
    assert_int_equal(p->paid + p->remaining, p->total);
    plan_free(p);
}

static kb_code activate(env *e, const char *id) {
    Kasboek__V1__ActivatePlanRequest a = KASBOEK__V1__ACTIVATE_PLAN_REQUEST__INIT;
    a.plan_id = (char *)id;
    return exec(e, "ActivatePlan", &a.base, NULL, -1);
}

static size_t timeline_count(env *e, const char *plan, const char *type);

/* Early payment: money that pays an instalment more than early_days (7)
 * before its due date re-spreads what is open over the instalments not yet
 * due, on plans created with early recalculation; exactly 7 days is not
 * early; a plan without it keeps its amounts; the tenant's early_days is
 * the plan's from its creation on; JPY and a 3-decimal currency split by
 * their minor units, the last taking the rounding difference. */
static void test_early_payment_respreads(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-01-10");
    plan_spec s = {.case_ref = "c", .case_amount = 100000, .currency = "EUR", .count = 4,
                   .method = METHOD(SCT)};
    s.id = "e", s.early_recalc = true;
    assert_int_equal(create(e, s), KB_CODE_OK);
    s.id = "n", s.early_recalc = false;
    assert_int_equal(create(e, s), KB_CODE_OK);
    s.id = "jpy", s.early_recalc = true, s.currency = "JPY", s.case_amount = 1000, s.count = 3;
    assert_int_equal(create(e, s), KB_CODE_OK);
    s.id = "bhd", s.currency = "BHD", s.case_amount = 100000;
    assert_int_equal(create(e, s), KB_CODE_OK);
    Kasboek__V1__UpdatePlanSettingsRequest ps = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__INIT;
    ps.early_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__EARLY_EARLY_DAYS;
    ps.early_days = 14;
    assert_int_equal(exec(e, "UpdatePlanSettings", &ps.base, NULL, -1), KB_CODE_OK);
    s.id = "fortnight", s.currency = "EUR", s.case_amount = 100000, s.count = 4;
    assert_int_equal(create(e, s), KB_CODE_OK);
    const char *ids[] = {"e", "n", "jpy", "bhd", "fortnight"};
    for (size_t i = 0; i < 5; i++) assert_int_equal(activate(e, ids[i]), KB_CODE_OK);

    /* on the first due date, 400.00 of 1000.00 in 4: the first 250.00 is
     * on time, the 150.00 beyond it is a month early: the 600.00 left
     * becomes 200.00 on each of the three to come */
    e->now = kbt_at("2026-01-15");
    assert_int_equal(pay(e, "e1", 40000, "e"), KB_CODE_OK);
    assert_amounts(e, "e", (int64_t[]){25000, 35000, 20000, 20000}, 4);
    Plan *p = get(e, "e");
    assert_instalment(p, 0, 25000, IS(PAID));
    assert_instalment(p, 1, 15000, IS(PLANNED));
    assert_int_equal(p->remaining, 60000);
    plan_free(p);
    assert_int_equal(timeline_count(e, "e", "PlanRespread"), 1);
    /* without early recalculation the surplus only lowers the next one */
    assert_int_equal(pay(e, "n1", 40000, "n"), KB_CODE_OK);
    assert_amounts(e, "n", (int64_t[]){25000, 25000, 25000, 25000}, 4);
    assert_int_equal(timeline_count(e, "n", "PlanRespread"), 0);
    /* JPY: 1000 in 3 is 333, 333, 334; 400 leaves 600 for two: 300 each */
    assert_int_equal(pay_in(e, "j1", 400, "JPY", "jpy"), KB_CODE_OK);
    assert_amounts(e, "jpy", (int64_t[]){333, 67 + 300, 300}, 3);
    /* BHD: 100.000 in 3; 40.000 leaves 60.000: 30.000 each */
    assert_int_equal(pay_in(e, "b1", 40000, "BHD", "bhd"), KB_CODE_OK);
    assert_amounts(e, "bhd", (int64_t[]){33333, 6667 + 30000, 30000}, 3);

    /* 8 days before the second due date 50.00 more is early: the 550.00
     * open becomes 183.33, 183.33 and 183.34; at exactly 7 days before,
     * 10.00 more is not early and changes no amount */
    e->now = kbt_at("2026-02-07");
    assert_int_equal(pay(e, "e2", 5000, "e"), KB_CODE_OK);
    assert_amounts(e, "e", (int64_t[]){25000, 20000 + 18333, 18333, 18334}, 4);
    e->now = kbt_at("2026-02-08");
    assert_int_equal(pay(e, "e3", 1000, "e"), KB_CODE_OK);
    assert_amounts(e, "e", (int64_t[]){25000, 20000 + 18333, 18333, 18334}, 4);
    assert_int_equal(timeline_count(e, "e", "PlanRespread"), 2);

    /* "fortnight" was created after early_days became 14: ten days before
     * a due date is not early for it; fifteen days is */
    e->now = kbt_at("2026-01-15");
    assert_int_equal(pay(e, "f1", 25000, "fortnight"), KB_CODE_OK);
    e->now = kbt_at("2026-01-31"); /* 15 days before 2026-02-15 */
    assert_int_equal(pay(e, "f2", 10000, "fortnight"), KB_CODE_OK);
    assert_amounts(e, "fortnight", (int64_t[]){25000, 10000 + 21666, 21666, 21668}, 4);
    e->now = kbt_at("2026-02-05"); /* 10 days before */
    assert_int_equal(pay(e, "f3", 10000, "fortnight"), KB_CODE_OK);
    assert_amounts(e, "fortnight", (int64_t[]){25000, 10000 + 21666, 21666, 21668}, 4);

    /* refunding the first 400.00 takes it from the most recently paid
     * first: the second's 210.00, then 190.00 of the first, which reopens
     * overdue; the re-spread amounts stay and still sum to the total */
    e->now = kbt_at("2026-02-10");
    assert_int_equal(kbt_refund(e, "e1", "r1", 40000, "EUR"), KB_CODE_OK);
    p = get(e, "e");
    assert_int_equal(p->paid, 6000);
    assert_instalment(p, 0, 6000, IS(OVERDUE));
    assert_instalment(p, 1, 0, IS(PLANNED));
    assert_int_equal(p->status, PS(OVERDUE));
    plan_free(p);
    assert_amounts(e, "e", (int64_t[]){25000, 20000 + 18333, 18333, 18334}, 4);
    rebuild_and_compare(e, 5);
}

/* ------------------------------------------------------ plans and invoices */

static uint32_t tick(env *e, const char *date);


/* What plan passed on to the invoice (its payments entry of the plan). */
static int64_t plan_applied(const Kasboek__V1__Invoice *inv, const char *plan) {
    for (size_t i = 0; i < inv->n_payments; i++)
        if (!strcmp(inv->payments[i]->plan_id, plan)) return inv->payments[i]->amount;
    return 0;
}

static void assert_invoice(env *e, const char *id, const char *plan, int64_t paid,
                           Kasboek__V1__InvoiceStatus st, bool overdue) {
    Kasboek__V1__Invoice *inv = kbt_get_invoice(e, id);
    if (strcmp(inv->plan_id, plan) || inv->amount_paid != paid || inv->status != st ||
        inv->overdue != overdue)
        fail_msg("invoice %s: plan '%s' paid %lld status %d overdue %d; want '%s' %lld %d %d", id,
                 inv->plan_id, (long long)inv->amount_paid, inv->status, inv->overdue, plan,
                 (long long)paid, st, overdue);
    kasboek__v1__invoice__free_unpacked(inv, NULL);
}

#define INV(x) KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_##x

/* Ticks the day after the invoice's due date. */
static void tick_past_due(env *e, const char *invoice_id) {
    Kasboek__V1__Invoice *inv = kbt_get_invoice(e, invoice_id);
    int32_t due = kbt_day(inv->due_date);
    kasboek__v1__invoice__free_unpacked(inv, NULL);
    kb_arena a;
    kb_arena_init(&a, 1 << 12);
    (void)tick(e, kb_date_text(&a, due + 1));
    kb_arena_fini(&a);
}

/* A plan collects the invoices it covers: activation plans them (a changed
 * invoice refuses it), a planned invoice takes no payment, void or overdue
 * of its own, the plan's money pays them in item order and a reversal
 * reopens the last covered first, and cancelling hands them back (the
 * clock then marks them overdue by their own due dates). */
static void test_plan_collects_invoices(void **st) {
    env *e = *st;
    Kasboek__V1__Invoice *inv0;
    Plan *p;
    e->now = kbt_at("2026-01-10");
    open_invoice(e, "i1", "EUR", 30000);
    open_invoice(e, "i2", "EUR", 20000);
    open_invoice(e, "i3", "EUR", 10000);
    assert_int_equal(create(e, (plan_spec){.id = "pi", .invoices = {"i1", "i2"}, .case_ref = "c",
                                           .case_amount = 10000, .count = 3, .method = METHOD(SCT),
                                           .start = "2026-02-15"}),
                     KB_CODE_OK);
    /* a draft whose invoice is paid in part before activation */
    assert_int_equal(create(e, (plan_spec){.id = "stale", .invoices = {"i3"}, .count = 2}), KB_CODE_OK);
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.currency = "EUR";
    m.amount = 1000;
    Kasboek__V1__MarkInvoicePaidRequest mp = KASBOEK__V1__MARK_INVOICE_PAID_REQUEST__INIT;
    mp.invoice_id = "i3";
    mp.amount = &m;
    mp.reference = "bank-1";
    assert_int_equal(exec(e, "MarkInvoicePaid", &mp.base, NULL, -1), KB_CODE_OK);
    REFUSED(activate(e, "stale"), FAILED_PRECONDITION, PLAN_INVOICE_CHANGED, "plan_id");
    assert_invoice(e, "i3", "", 1000, INV(OPEN), false);
    /* nor one whose bank debit still processes: if it failed, the plan
     * would not cover what it leaves open (at creation, and at activation
     * of a draft made before the debit) */
    open_invoice(e, "i5", "EUR", 10000);
    assert_int_equal(create(e, (plan_spec){.id = "early", .invoices = {"i5"}, .count = 2}), KB_CODE_OK);
    Kasboek__V1__RecordPaymentRequest sd = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    sd.payment_id = "sdd5";
    sd.amount = &m;
    sd.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT;
    sd.source_type = "invoice";
    sd.source_id = "i5";
    assert_int_equal(exec(e, "RecordPayment", &sd.base, NULL, -1), KB_CODE_OK);
    Kasboek__V1__Invoice *i5 = kbt_get_invoice(e, "i5");
    assert_int_equal(i5->amount_pending, 1000);
    kasboek__v1__invoice__free_unpacked(i5, NULL);
    REFUSED(create(e, (plan_spec){.id = "late", .invoices = {"i5"}, .count = 2}), FAILED_PRECONDITION,
            INVOICE_PAYMENT_PENDING, "invoice_ids[0]");
    REFUSED(activate(e, "early"), FAILED_PRECONDITION, INVOICE_PAYMENT_PENDING, "plan_id");
    /* nor one with a bank refund not final yet: failing, it would apply
     * its money again on top of the plan's; settled, the invoice can be
     * planned */
    assert_int_equal(kbt_settle(e, "sdd5"), KB_CODE_OK);
    assert_int_equal(kbt_refund(e, "sdd5", "rf5", 1000, "EUR"), KB_CODE_OK);
    i5 = kbt_get_invoice(e, "i5");
    assert_int_equal(i5->amount_refund_pending, 1000);
    assert_int_equal(i5->amount_paid, 0);
    kasboek__v1__invoice__free_unpacked(i5, NULL);
    REFUSED(create(e, (plan_spec){.id = "late", .invoices = {"i5"}, .count = 2}), FAILED_PRECONDITION,
            INVOICE_REFUND_PENDING, "invoice_ids[0]");
    REFUSED(activate(e, "early"), FAILED_PRECONDITION, INVOICE_REFUND_PENDING, "plan_id");
    Kasboek__V1__SettleRefundRequest sr = KASBOEK__V1__SETTLE_REFUND_REQUEST__INIT;
    sr.refund_id = "rf5";
    assert_int_equal(exec(e, "SettleRefund", &sr.base, NULL, -1), KB_CODE_OK);
    i5 = kbt_get_invoice(e, "i5");
    assert_int_equal(i5->amount_refund_pending, 0);
    kasboek__v1__invoice__free_unpacked(i5, NULL);
    assert_int_equal(create(e, (plan_spec){.id = "late", .invoices = {"i5"}, .count = 2}), KB_CODE_OK);
    /* a bank refund that fails applies its money again and is final too */
    open_invoice(e, "i8", "EUR", 5000);
    sd.payment_id = "sdd8";
    sd.source_id = "i8";
    m.amount = 5000;
    assert_int_equal(exec(e, "RecordPayment", &sd.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(kbt_settle(e, "sdd8"), KB_CODE_OK);
    assert_int_equal(kbt_refund(e, "sdd8", "rf8", 2000, "EUR"), KB_CODE_OK);
    Kasboek__V1__FailRefundRequest fr = KASBOEK__V1__FAIL_REFUND_REQUEST__INIT;
    fr.refund_id = "rf8";
    fr.reason = "account closed";
    assert_int_equal(exec(e, "FailRefund", &fr.base, NULL, -1), KB_CODE_OK);
    Kasboek__V1__Invoice *i8 = kbt_get_invoice(e, "i8");
    assert_int_equal(i8->amount_refund_pending, 0);
    assert_int_equal(i8->amount_paid, 5000);
    assert_int_equal(i8->status, INV(PAID));
    kasboek__v1__invoice__free_unpacked(i8, NULL);
    m.amount = 1000;

    uint64_t head = kb_engine_head(e->engine).seq;
    assert_int_equal(activate(e, "pi"), KB_CODE_OK);
    assert_int_equal(kb_engine_head(e->engine).seq, head + 3); /* the plan's and one per invoice */
    assert_invoice(e, "i1", "pi", 0, INV(OPEN), false);
    assert_invoice(e, "i2", "pi", 0, INV(OPEN), false);
    /* planned: no payment, void, write-off or second plan of its own */
    mp.invoice_id = "i1";
    REFUSED(exec(e, "MarkInvoicePaid", &mp.base, NULL, -1), FAILED_PRECONDITION, INVOICE_IN_PLAN,
            "invoice_id");
    Kasboek__V1__RecordPaymentRequest rp = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    rp.payment_id = "direct";
    rp.amount = &m;
    rp.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_BANK_TRANSFER;
    rp.source_type = "invoice";
    rp.source_id = "i2";
    REFUSED(exec(e, "RecordPayment", &rp.base, NULL, -1), FAILED_PRECONDITION, INVOICE_IN_PLAN,
            "source_id");
    Kasboek__V1__VoidInvoiceRequest vr = KASBOEK__V1__VOID_INVOICE_REQUEST__INIT;
    vr.invoice_id = "i1";
    vr.reason = "mistake";
    REFUSED(exec(e, "VoidInvoice", &vr.base, NULL, -1), FAILED_PRECONDITION, INVOICE_IN_PLAN,
            "invoice_id");
    REFUSED(create(e, (plan_spec){.id = "twice", .invoices = {"i2"}, .count = 2}),
            FAILED_PRECONDITION, INVOICE_IN_PLAN, "invoice_ids[0]");
    /* the clock passes the invoices' own due dates: not overdue, the plan
     * tracks what is late (its first instalment, within the tolerance) */
    inv0 = kbt_get_invoice(e, "i1");
    assert_true(kbt_day(inv0->due_date) < kbt_day("2026-02-20"));
    kasboek__v1__invoice__free_unpacked(inv0, NULL);
    assert_int_equal(tick(e, "2026-02-20"), 1);
    assert_invoice(e, "i1", "pi", 0, INV(OPEN), false);
    p = get(e, "pi");
    assert_int_equal(p->status, PS(OVERDUE));
    plan_free(p);

    /* 350.00 covers i1 (300.00, paid) and 50.00 of i2 */
    assert_int_equal(pay(e, "pp1", 35000, "pi"), KB_CODE_OK);
    assert_invoice(e, "i1", "pi", 30000, INV(PAID), false);
    assert_invoice(e, "i2", "pi", 5000, INV(OPEN), false);
    Kasboek__V1__Invoice *inv = kbt_get_invoice(e, "i1");
    assert_int_equal(plan_applied(inv, "pi"), 30000);
    kasboek__v1__invoice__free_unpacked(inv, NULL);
    /* 100.00 refunded: uncovers i2's 50.00, then 50.00 of i1, which reopens */
    assert_int_equal(kbt_refund(e, "pp1", "rf1", 10000, "EUR"), KB_CODE_OK);
    assert_invoice(e, "i1", "pi", 25000, INV(OPEN), false);
    assert_invoice(e, "i2", "pi", 0, INV(OPEN), false);
    /* the rest: both paid, the case's 100.00 too, the plan completed */
    assert_int_equal(pay(e, "pp2", 35000, "pi"), KB_CODE_OK);
    assert_invoice(e, "i1", "pi", 30000, INV(PAID), false);
    assert_invoice(e, "i2", "pi", 20000, INV(PAID), false);
    p = get(e, "pi");
    assert_int_equal(p->status, PS(COMPLETED));
    plan_free(p);

    /* cancelled: the invoice is handed back with what the plan paid, and
     * the clock marks it overdue by its own due date */
    open_invoice(e, "i4", "EUR", 40000);
    assert_int_equal(create(e, (plan_spec){.id = "pc", .invoices = {"i4"}, .count = 4,
                                           .method = METHOD(SCT), .start = "2026-04-01"}),
                     KB_CODE_OK);
    assert_int_equal(activate(e, "pc"), KB_CODE_OK);
    assert_int_equal(pay(e, "pc1", 10000, "pc"), KB_CODE_OK);
    assert_invoice(e, "i4", "pc", 10000, INV(OPEN), false);
    Kasboek__V1__CancelPlanRequest cr = KASBOEK__V1__CANCEL_PLAN_REQUEST__INIT;
    cr.plan_id = "pc";
    cr.reason = "customer disputes the debt";
    assert_int_equal(exec(e, "CancelPlan", &cr.base, NULL, -1), KB_CODE_OK);
    assert_invoice(e, "i4", "", 10000, INV(OPEN), false);
    mp.invoice_id = "i4"; /* collected on its own again */
    assert_int_equal(exec(e, "MarkInvoicePaid", &mp.base, NULL, -1), KB_CODE_OK);
    tick_past_due(e, "i4");
    assert_invoice(e, "i4", "", 11000, INV(OPEN), true);
    /* a refund of the plan's payment after the cancel reopens what it paid */
    assert_int_equal(kbt_refund(e, "pc1", "rf2", 10000, "EUR"), KB_CODE_OK);
    assert_invoice(e, "i4", "", 1000, INV(OPEN), true);

    /* money applied before the plan and refunded after it is not the
     * plan's to collect: that much can be paid directly, the rest not;
     * once the plan has collected its part the invoice can be written off */
    open_invoice(e, "i6", "EUR", 10000);
    rp.payment_id = "before";
    rp.source_id = "i6";
    m.amount = 3000;
    assert_int_equal(exec(e, "RecordPayment", &rp.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(create(e, (plan_spec){.id = "p6", .invoices = {"i6"}, .count = 2,
                                           .method = METHOD(SCT), .start = "2026-04-01"}),
                     KB_CODE_OK);
    assert_int_equal(activate(e, "p6"), KB_CODE_OK);
    inv = kbt_get_invoice(e, "i6");
    assert_int_equal(inv->plan_amount, 7000);
    kasboek__v1__invoice__free_unpacked(inv, NULL);
    mp.invoice_id = "i6";
    m.amount = 1;
    REFUSED(exec(e, "MarkInvoicePaid", &mp.base, NULL, -1), FAILED_PRECONDITION, INVOICE_IN_PLAN,
            "invoice_id");
    assert_int_equal(kbt_refund(e, "before", "rf6", 3000, "EUR"), KB_CODE_OK);
    assert_invoice(e, "i6", "p6", 0, INV(OPEN), false);
    m.amount = 3001;
    REFUSED(exec(e, "MarkInvoicePaid", &mp.base, NULL, -1), FAILED_PRECONDITION, INVOICE_IN_PLAN,
            "invoice_id");
    Kasboek__V1__WriteOffInvoiceRequest wo = KASBOEK__V1__WRITE_OFF_INVOICE_REQUEST__INIT;
    wo.invoice_id = "i6";
    wo.reason = "uncollectable";
    REFUSED(exec(e, "WriteOffInvoice", &wo.base, NULL, -1), FAILED_PRECONDITION, INVOICE_IN_PLAN,
            "invoice_id");
    assert_int_equal(pay(e, "p6pay", 7000, "p6"), KB_CODE_OK); /* the plan completes */
    p = get(e, "p6");
    assert_int_equal(p->status, PS(COMPLETED));
    plan_free(p);
    assert_invoice(e, "i6", "p6", 7000, INV(OPEN), false);
    /* what is left is the invoice's own again: overdue by its date */
    tick_past_due(e, "i6");
    assert_invoice(e, "i6", "p6", 7000, INV(OPEN), true);
    m.amount = 2000;
    assert_int_equal(exec(e, "MarkInvoicePaid", &mp.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(exec(e, "WriteOffInvoice", &wo.base, NULL, -1), KB_CODE_OK);
    inv = kbt_get_invoice(e, "i6");
    assert_int_equal(inv->status, INV(WRITTEN_OFF));
    assert_int_equal(inv->amount_written_off, 1000);
    kasboek__v1__invoice__free_unpacked(inv, NULL);
    rebuild_and_compare(e, 5);
}

/* ------------------------------------------------------------------ time */

static uint32_t tick(env *e, const char *date) {
    kb_tick_result t;
    e->now = kbt_at(date);
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    assert_int_equal(kb_engine_tick(e->engine, e->now, &t), KB_OK);
    assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
    return t.plans_advanced;
}

/* Instalments become due on their date (SDD ones collecting) and overdue
 * the day after; the plan's status follows; a paused plan stands still. */
static void test_tick_moves_instalments(void **st) {
    env *e = *st;
    assert_int_equal(create(e, (plan_spec){.id = "p", .case_ref = "c", .case_amount = 30000,
                                           .currency = "EUR", .count = 3, .method = METHOD(SCT)}),
                     KB_CODE_OK);
    assert_int_equal(create(e, (plan_spec){.id = "sdd", .case_ref = "c", .case_amount = 30000,
                                           .currency = "EUR", .count = 3}),
                     KB_CODE_OK);
    assert_int_equal(tick(e, "2026-01-20"), 0); /* drafts: time does nothing */
    assert_int_equal(simple(e, "ActivatePlan", ""), KB_CODE_OK);
    Kasboek__V1__ActivatePlanRequest a = KASBOEK__V1__ACTIVATE_PLAN_REQUEST__INIT;
    a.plan_id = "sdd";
    e->now = kbt_at("2026-01-01");
    assert_int_equal(exec(e, "ActivatePlan", &a.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-01-14"), 0);
    assert_int_equal(tick(e, "2026-01-15"), 2);
    Plan *p = get(e, "p"), *q = get(e, "sdd");
    assert_instalment(p, 0, 0, IS(DUE));
    assert_int_equal(p->status, PS(DUE));
    assert_instalment(q, 0, 0, IS(COLLECTING));
    assert_int_equal(q->status, PS(COLLECTION_IN_PROGRESS));
    plan_free(p);
    plan_free(q);
    assert_int_equal(tick(e, "2026-01-16"), 1); /* p's first is overdue; sdd waits for the bank */
    assert_int_equal(tick(e, "2026-01-17"), 0);
    p = get(e, "p");
    assert_instalment(p, 0, 0, IS(OVERDUE));
    assert_instalment(p, 1, 0, IS(PLANNED));
    assert_int_equal(p->status, PS(OVERDUE));
    plan_free(p);
    /* paid: active again; paused: the next date passes without a change */
    assert_int_equal(pay(e, "p1", 10000, "p"), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->status, PS(ACTIVE));
    plan_free(p);
    assert_int_equal(simple(e, "PausePlan", "holiday"), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-02-16"), 1); /* sdd's second only */
    p = get(e, "p");
    assert_instalment(p, 1, 0, IS(PLANNED));
    assert_int_equal(p->status, PS(PAUSED));
    plan_free(p);
    /* resumed on 16 February: what the clock did not do while paused is
     * done at once (the second, due the 15th, is overdue) */
    assert_int_equal(simple(e, "ResumePlan", ""), KB_CODE_OK);
    p = get(e, "p");
    assert_instalment(p, 1, 0, IS(OVERDUE));
    assert_int_equal(p->status, PS(OVERDUE));
    plan_free(p);
    assert_int_equal(tick(e, "2026-02-17"), 0);
    Kasboek__V1__AdvancePlanRequest ad = KASBOEK__V1__ADVANCE_PLAN_REQUEST__INIT;
    ad.plan_id = "p";
    REFUSED(exec(e, "AdvancePlan", &ad.base, NULL, -1), FAILED_PRECONDITION, PLAN_NOTHING_DUE,
            "plan_id");
    /* an SDD collection fails: the instalment is failed, the plan overdue;
     * a retry collects again (the second, 2 days past its date: the first,
     * 33 days past, is over the default 30-day tolerance, which would
     * cancel the plan at once, test_fail_cancels_past_tolerance) */
    Kasboek__V1__FailPlanCollectionRequest fc = KASBOEK__V1__FAIL_PLAN_COLLECTION_REQUEST__INIT;
    fc.plan_id = "sdd";
    fc.instalment = 2;
    REFUSED(exec(e, "FailPlanCollection", &fc.base, NULL, -1), INVALID_ARGUMENT, FIELD_REQUIRED,
            "reason");
    fc.reason = "AM04 insufficient funds";
    assert_int_equal(exec(e, "FailPlanCollection", &fc.base, NULL, -1), KB_CODE_OK);
    REFUSED(exec(e, "FailPlanCollection", &fc.base, NULL, -1), FAILED_PRECONDITION,
            INSTALMENT_NOT_COLLECTING, "instalment");
    fc.instalment = 9;
    REFUSED(exec(e, "FailPlanCollection", &fc.base, NULL, -1), NOT_FOUND, INSTALMENT_NOT_FOUND,
            "instalment");
    q = get(e, "sdd");
    assert_instalment(q, 1, 0, IS(FAILED));
    assert_int_equal(q->status, PS(OVERDUE));
    plan_free(q);
    Kasboek__V1__RetryPlanCollectionRequest rc = KASBOEK__V1__RETRY_PLAN_COLLECTION_REQUEST__INIT;
    rc.plan_id = "sdd";
    rc.instalment = 1;
    REFUSED(exec(e, "RetryPlanCollection", &rc.base, NULL, -1), FAILED_PRECONDITION,
            INSTALMENT_NOT_FAILED, "instalment");
    rc.instalment = 2;
    assert_int_equal(exec(e, "RetryPlanCollection", &rc.base, NULL, -1), KB_CODE_OK);
    q = get(e, "sdd");
    assert_instalment(q, 1, 0, IS(COLLECTING));
    assert_int_equal(q->status, PS(COLLECTION_IN_PROGRESS));
    plan_free(q);
    rebuild_and_compare(e, 4);
}


/* ListPlans: newest first, by status or customer, in cursor pages. */
static void test_list_plans(void **st) {
    env *e = *st;
    char id[16];
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "pl%d", i);
        e->now = NOW + i * INT64_C(1000000);
        assert_int_equal(create(e, (plan_spec){.id = id, .customer = i % 3 ? "c1" : "c2",
                                               .case_ref = "c", .case_amount = 1000,
                                               .currency = "EUR", .count = 2}),
                         KB_CODE_OK);
        if (i % 2) {
            Kasboek__V1__ActivatePlanRequest a = KASBOEK__V1__ACTIVATE_PLAN_REQUEST__INIT;
            a.plan_id = id;
            assert_int_equal(exec(e, "ActivatePlan", &a.base, NULL, -1), KB_CODE_OK);
        }
    }
    struct {
        Kasboek__V1__PlanStatus status;
        const char *customer;
        const char *want;
    } cases[] = {{0, "", "pl8 pl7 pl6 pl5 pl4 pl3 pl2 pl1 pl0"},
                 {PS(ACTIVE), "", "pl7 pl5 pl3 pl1"},
                 {PS(DRAFT), "c1", "pl8 pl4 pl2"},
                 {PS(ACTIVE), "c2", "pl3"},
                 {0, "nobody", ""}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char got[128] = "", cursor[64] = "";
        do {
            Kasboek__V1__ListPlansRequest r = KASBOEK__V1__LIST_PLANS_REQUEST__INIT;
            r.status = cases[k].status;
            r.customer_id = (char *)cases[k].customer;
            r.limit = 2;
            r.cursor = cursor;
            assert_int_equal(query(e, "ListPlans", &r.base), KB_CODE_OK);
            Kasboek__V1__ListPlansReply *l = kasboek__v1__list_plans_reply__unpack(
                NULL, e->qreply.payload_len, e->qreply.payload);
            assert_non_null(l);
            for (size_t i = 0; i < l->n_plans; i++) {
                if (got[0]) strcat(got, " ");
                strcat(got, l->plans[i]->plan_id);
            }
            snprintf(cursor, sizeof cursor, "%s", l->next_cursor);
            kasboek__v1__list_plans_reply__free_unpacked(l, NULL);
        } while (cursor[0]);
        if (strcmp(got, cases[k].want) != 0)
            fail_msg("case %zu: got '%s', want '%s'", k, got, cases[k].want);
    }
    Kasboek__V1__ListPlansRequest bad = KASBOEK__V1__LIST_PLANS_REQUEST__INIT;
    bad.cursor = "xyz/pl1";
    assert_int_equal(query(e, "ListPlans", &bad.base), KB_CODE_INVALID_ARGUMENT);
}


/* A 300.00 EUR SCT plan over a collection case from 2026-01-15 in 3 (pc
 * and pcs must outlive r); the caller sets id, period and tolerance. */
static void case_plan(Kasboek__V1__CreatePlanRequest *r, Kasboek__V1__PlanCase *pc,
                      Kasboek__V1__PlanCase **pcs) {
    pc->ref = "c";
    pc->amount = 30000;
    pcs[0] = pc;
    r->customer_id = "c1";
    r->method = METHOD(SCT);
    r->cases = pcs;
    r->n_cases = 1;
    r->currency = "EUR";
    r->start_date = "2026-01-15";
    r->split_case = BY_COUNT;
    r->count = 3;
}

/* Past the overdue tolerance the plan cancels itself with a system reason
 * and skips its unpaid instalments: by days, and by count. */
static void test_auto_cancel(void **st) {
    env *e = *st;
    Kasboek__V1__CreatePlanRequest r = KASBOEK__V1__CREATE_PLAN_REQUEST__INIT;
    Kasboek__V1__PlanCase pc = KASBOEK__V1__PLAN_CASE__INIT, *pcs[1];
    case_plan(&r, &pc, pcs);
    r.period = PERIOD(WEEKLY);
    r.plan_id = "days";
    r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_DAYS;
    r.tolerance_days = 10;
    assert_int_equal(exec(e, "CreatePlan", &r.base, NULL, -1), KB_CODE_OK);
    r.plan_id = "count";
    r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT;
    r.tolerance_count = 1;
    assert_int_equal(exec(e, "CreatePlan", &r.base, NULL, -1), KB_CODE_OK);
    const char *ids[] = {"days", "count"};
    for (int i = 0; i < 2; i++) {
        Kasboek__V1__ActivatePlanRequest a = KASBOEK__V1__ACTIVATE_PLAN_REQUEST__INIT;
        a.plan_id = (char *)ids[i];
        assert_int_equal(exec(e, "ActivatePlan", &a.base, NULL, -1), KB_CODE_OK);
    }
    assert_int_equal(pay(e, "pd", 5000, "days"), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-01-16"), 2); /* the first instalments are overdue */
    assert_int_equal(tick(e, "2026-01-23"), 2); /* the seconds: "count" has 2 > 1 */
    Plan *p = get(e, "count");
    assert_int_equal(p->status, PS(CANCELLED));
    assert_true(strstr(p->cancel_reason, "2 instalments overdue, 1 allowed") != NULL);
    for (size_t i = 0; i < p->n_instalments; i++) assert_int_equal(p->instalments[i]->status, IS(SKIPPED));
    plan_free(p);
    assert_int_equal(tick(e, "2026-01-25"), 0); /* "days": 10 days overdue, still allowed */
    p = get(e, "days");
    assert_int_equal(p->status, PS(OVERDUE));
    plan_free(p);
    assert_int_equal(tick(e, "2026-01-26"), 1); /* 11 days */
    p = get(e, "days");
    assert_int_equal(p->status, PS(CANCELLED));
    assert_true(strstr(p->cancel_reason, "11 days overdue, 10 allowed") != NULL);
    assert_instalment(p, 0, 5000, IS(SKIPPED)); /* what was paid stays paid */
    assert_int_equal(p->paid, 5000);
    assert_int_equal(p->paid + p->remaining, p->total);
    plan_free(p);
    assert_int_equal(tick(e, "2026-03-01"), 0); /* closed plans are off the list */
    rebuild_and_compare(e, 4);
}


/* A pause stops the tolerance clock: paused 2 days into an overdue
 * instalment and resumed 42 days later, the plan is 3 days overdue, not
 * 45; it is cancelled on the 11th day it was not paused. */
static void test_pause_stops_tolerance(void **st) {
    env *e = *st;
    Kasboek__V1__CreatePlanRequest r = KASBOEK__V1__CREATE_PLAN_REQUEST__INIT;
    Kasboek__V1__PlanCase pc = KASBOEK__V1__PLAN_CASE__INIT, *pcs[1];
    case_plan(&r, &pc, pcs);
    r.plan_id = "p";
    r.period = PERIOD(MONTHLY);
    r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_DAYS;
    r.tolerance_days = 10;
    r.reminder = CH(NONE);
    e->now = kbt_at("2026-01-01");
    assert_int_equal(exec(e, "CreatePlan", &r.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(activate(e, "p"), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-01-16"), 1); /* the first is overdue */
    e->now = kbt_at("2026-01-18");
    assert_int_equal(simple(e, "PausePlan", "in hospital"), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-02-20"), 0); /* paused: nothing moves */
    e->now = kbt_at("2026-03-01");
    assert_int_equal(simple(e, "ResumePlan", ""), KB_CODE_OK);
    Plan *p = get(e, "p");
    assert_int_equal(p->status, PS(OVERDUE)); /* the second passed its date while paused */
    assert_instalment(p, 1, 0, IS(OVERDUE));
    assert_int_equal(p->n_pauses, 1);
    assert_string_equal(p->pauses[0]->from, "2026-01-18");
    assert_string_equal(p->pauses[0]->to, "2026-03-01");
    assert_string_equal(p->paused_on, "");
    plan_free(p);
    assert_int_equal(tick(e, "2026-03-08"), 0); /* 10 days overdue outside the pause */
    p = get(e, "p");
    assert_int_equal(p->status, PS(OVERDUE));
    plan_free(p);
    assert_int_equal(tick(e, "2026-03-09"), 1);
    p = get(e, "p");
    assert_int_equal(p->status, PS(CANCELLED));
    assert_true(strstr(p->cancel_reason, "11 days overdue, 10 allowed") != NULL);
    plan_free(p);
    /* paid off while paused: the pause ends with it, and a refund reopens
     * an active plan, not a paused one with a pause still open */
    r.plan_id = "q";
    r.start_date = "2026-04-15";
    assert_int_equal(exec(e, "CreatePlan", &r.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(activate(e, "q"), KB_CODE_OK);
    Kasboek__V1__PausePlanRequest pr = KASBOEK__V1__PAUSE_PLAN_REQUEST__INIT;
    pr.plan_id = "q";
    pr.reason = "moving house";
    assert_int_equal(exec(e, "PausePlan", &pr.base, NULL, -1), KB_CODE_OK);
    e->now = kbt_at("2026-03-20");
    assert_int_equal(pay(e, "all-q", 30000, "q"), KB_CODE_OK);
    assert_int_equal(kbt_refund(e, "all-q", "rq", 5000, "EUR"), KB_CODE_OK);
    p = get(e, "q");
    assert_int_equal(p->status, PS(ACTIVE));
    assert_string_equal(p->paused_on, "");
    assert_int_equal(p->n_pauses, 1);
    assert_string_equal(p->pauses[0]->to, "2026-03-20");
    plan_free(p);
    assert_int_equal(tick(e, "2026-07-01"), 1); /* the reopened instalment moves on */
    rebuild_and_compare(e, 3);
}

static size_t timeline_count(env *e, const char *plan, const char *type) {
    Kasboek__V1__GetPlanRequest r = KASBOEK__V1__GET_PLAN_REQUEST__INIT;
    r.plan_id = (char *)plan;
    assert_int_equal(query(e, "GetPlan", &r.base), KB_CODE_OK);
    Kasboek__V1__GetPlanReply *g =
        kasboek__v1__get_plan_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    size_t n = 0;
    for (size_t i = 0; i < g->n_timeline; i++) n += strcmp(g->timeline[i]->type, type) == 0;
    kasboek__v1__get_plan_reply__free_unpacked(g, NULL);
    return n;
}

/* One reminder per instalment at the tenant's offset (here 3 days before
 * the due date), by the plan's channel; a failed delivery is on the
 * timeline with its error; never a second one; none with channel none. */
static void test_reminders(void **st) {
    env *e = *st;
    Kasboek__V1__UpdatePlanSettingsRequest ps = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__INIT;
    ps.offset_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__OFFSET_REMINDER_OFFSET_DAYS;
    ps.reminder_offset_days = -3;
    assert_int_equal(exec(e, "UpdatePlanSettings", &ps.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(create(e, (plan_spec){.id = "p", .case_ref = "c", .case_amount = 20000,
                                           .currency = "EUR", .count = 2, .method = METHOD(SCT),
                                           .reminder = CH(POST)}),
                     KB_CODE_OK);
    assert_int_equal(create(e, (plan_spec){.id = "quiet", .case_ref = "c", .case_amount = 20000,
                                           .currency = "EUR", .count = 2, .method = METHOD(SCT),
                                           .reminder = CH(NONE)}),
                     KB_CODE_OK);
    assert_int_equal(simple(e, "ActivatePlan", ""), KB_CODE_OK);
    Kasboek__V1__ActivatePlanRequest a = KASBOEK__V1__ACTIVATE_PLAN_REQUEST__INIT;
    a.plan_id = "quiet";
    assert_int_equal(exec(e, "ActivatePlan", &a.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-01-11"), 0);
    assert_int_equal(tick(e, "2026-01-12"), 1); /* 15 January - 3 days, "p" only */
    Plan *p = get(e, "p");
    assert_int_equal(p->instalments[0]->reminder, KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_REQUESTED);
    assert_int_equal(p->instalments[1]->reminder, KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_NONE);
    plan_free(p);
    Kasboek__V1__ReportPlanReminderRequest rr = KASBOEK__V1__REPORT_PLAN_REMINDER_REQUEST__INIT;
    rr.plan_id = "p";
    rr.instalment = 1;
    REFUSED(exec(e, "ReportPlanReminder", &rr.base, NULL, -1), INVALID_ARGUMENT, FIELD_REQUIRED,
            "error");
    rr.error = "address unknown at the post office";
    assert_int_equal(exec(e, "ReportPlanReminder", &rr.base, NULL, -1), KB_CODE_OK);
    REFUSED(exec(e, "ReportPlanReminder", &rr.base, NULL, -1), FAILED_PRECONDITION,
            REMINDER_NOT_REQUESTED, "instalment");
    p = get(e, "p");
    assert_int_equal(p->instalments[0]->reminder, KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_FAILED);
    assert_string_equal(p->instalments[0]->reminder_error, "address unknown at the post office");
    plan_free(p);
    assert_int_equal(tick(e, "2026-01-15"), 2); /* due; no second reminder */
    assert_int_equal(tick(e, "2026-01-16"), 2); /* overdue; still none */
    /* the second is paid before its reminder day: no reminder */
    assert_int_equal(pay(e, "all", 20000, "p"), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-02-12"), 0); /* "p" is done; "quiet" reminds nobody */
    assert_int_equal(timeline_count(e, "p", "PlanReminderRequested"), 1);
    assert_int_equal(timeline_count(e, "p", "PlanReminderReported"), 1);
    assert_int_equal(timeline_count(e, "quiet", "PlanReminderRequested"), 0);
    rebuild_and_compare(e, 4);
}

#define RS(x) KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_##x

/* The tenant's reminder offset for plans created from now on, and no
 * tolerance in days (so a long-failed collection keeps its plan). */
static void set_offset(env *e, int32_t days) {
    Kasboek__V1__UpdatePlanSettingsRequest ps = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__INIT;
    ps.offset_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__OFFSET_REMINDER_OFFSET_DAYS;
    ps.reminder_offset_days = days;
    ps.tol_days_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__TOL_DAYS_DEFAULT_TOLERANCE_DAYS;
    ps.default_tolerance_days = 0;
    assert_int_equal(exec(e, "UpdatePlanSettings", &ps.base, NULL, -1), KB_CODE_OK);
}

/* A monthly plan of 200.00 in 2 from 2026-01-15, by e-mail, active. */
static void reminded_plan(env *e, const char *id, Kasboek__V1__PlanMethod m) {
    assert_int_equal(create(e, (plan_spec){.id = id,
                                           .case_ref = "c",
                                           .case_amount = 20000,
                                           .currency = "EUR",
                                           .count = 2,
                                           .method = m}),
                     KB_CODE_OK);
    assert_int_equal(activate(e, id), KB_CODE_OK);
}

/* Instalment i's reminder and status, and the plan's next action day. */
static void assert_reminder(env *e, const char *id, size_t i, Kasboek__V1__ReminderStatus rs,
                            Kasboek__V1__InstalmentStatus st, const char *next) {
    Plan *p = get(e, id);
    if (p->instalments[i]->reminder != rs || p->instalments[i]->status != st ||
        kb_plan_next_action_day(p) != (next ? kbt_day(next) : INT32_MAX))
        fail_msg("%s #%zu: reminder %d status %d next %d; want %d %d %s", id, i + 1,
                 p->instalments[i]->reminder, p->instalments[i]->status,
                 (int)kb_plan_next_action_day(p), rs, st, next ? next : "none");
    plan_free(p);
}

/* A reminder goes out when the instalment becomes overdue (DOMAIN.md §5,
 * "Verstuurd bij Overdue"): the day after its due date with offset 0, not
 * on the due date; none when it is paid on its due date; none for an SDD
 * instalment the bank is collecting, one once its collection failed. */
static void test_reminder_when_overdue(void **st) {
    env *e = *st;
    set_offset(e, 0);
    reminded_plan(e, "sct", METHOD(SCT));
    reminded_plan(e, "ontime", METHOD(SCT));
    reminded_plan(e, "sdd", METHOD(SDD));
    reminded_plan(e, "sdd2", METHOD(SDD));
    assert_int_equal(tick(e, "2026-01-15"), 4); /* due, or collecting: no reminder */
    assert_reminder(e, "sct", 0, RS(NONE), IS(DUE), "2026-01-16");
    assert_reminder(e, "sdd", 0, RS(NONE), IS(COLLECTING), "2026-02-15");
    assert_int_equal(timeline_count(e, "sct", "PlanReminderRequested"), 0);
    assert_int_equal(pay(e, "on-the-day", 10000, "ontime"), KB_CODE_OK); /* 15 January */
    assert_reminder(e, "ontime", 0, RS(NONE), IS(PAID), "2026-02-15");
    /* the collection of "sdd2" fails on its due date: reminded the day after */
    Kasboek__V1__FailPlanCollectionRequest fc = KASBOEK__V1__FAIL_PLAN_COLLECTION_REQUEST__INIT;
    fc.plan_id = "sdd2";
    fc.instalment = 1;
    fc.reason = "AM04 insufficient funds";
    assert_int_equal(exec(e, "FailPlanCollection", &fc.base, NULL, -1), KB_CODE_OK);
    assert_reminder(e, "sdd2", 0, RS(NONE), IS(FAILED), "2026-01-16");
    assert_int_equal(tick(e, "2026-01-15"), 0);
    assert_int_equal(tick(e, "2026-01-16"), 2); /* "sct" overdue, both reminded */
    assert_reminder(e, "sct", 0, RS(REQUESTED), IS(OVERDUE), "2026-02-15");
    assert_reminder(e, "sdd2", 0, RS(REQUESTED), IS(FAILED), "2026-02-15");
    assert_reminder(e, "ontime", 0, RS(NONE), IS(PAID), "2026-02-15");
    assert_reminder(e, "sdd", 0, RS(NONE), IS(COLLECTING), "2026-02-15");
    assert_int_equal(tick(e, "2026-01-19"), 0); /* the bank still collects */
    /* the collection of "sdd" fails later: overdue since the 16th, the next
     * tick (the same day) reminds */
    fc.plan_id = "sdd";
    assert_int_equal(exec(e, "FailPlanCollection", &fc.base, NULL, -1), KB_CODE_OK);
    assert_reminder(e, "sdd", 0, RS(NONE), IS(FAILED), "2026-01-16");
    assert_int_equal(tick(e, "2026-01-19"), 1);
    assert_reminder(e, "sdd", 0, RS(REQUESTED), IS(FAILED), "2026-02-15");
    assert_int_equal(tick(e, "2026-02-15"), 4);
    assert_int_equal(tick(e, "2026-02-16"), 2); /* the SCT ones; the SDD ones collect */
    assert_reminder(e, "ontime", 1, RS(REQUESTED), IS(OVERDUE), NULL);
    assert_reminder(e, "sdd", 1, RS(NONE), IS(COLLECTING), NULL);
    assert_reminder(e, "sdd2", 1, RS(NONE), IS(COLLECTING), NULL);
    assert_int_equal(timeline_count(e, "ontime", "PlanReminderRequested"), 1);
    assert_int_equal(timeline_count(e, "sdd", "PlanReminderRequested"), 1);
    rebuild_and_compare(e, 4);
}

/* A positive offset counts from the day the instalment is overdue (3: on
 * the fourth day after the due date); a negative one is a notice before the
 * due date, sent for an SDD instalment too, even when the tick that sends
 * it finds it collecting already. */
static void test_reminder_offsets(void **st) {
    env *e = *st;
    set_offset(e, 3);
    reminded_plan(e, "late3", METHOD(SCT));
    reminded_plan(e, "sdd3", METHOD(SDD));
    set_offset(e, -2);
    reminded_plan(e, "pre", METHOD(SDD));
    reminded_plan(e, "pre-late", METHOD(SDD));
    assert_int_equal(tick(e, "2026-01-12"), 0);
    assert_reminder(e, "pre", 0, RS(NONE), IS(PLANNED), "2026-01-13");
    /* a tick on 13 January for "pre" only (the others wait) */
    Kasboek__V1__AdvancePlanRequest ad = KASBOEK__V1__ADVANCE_PLAN_REQUEST__INIT;
    ad.plan_id = "pre";
    e->now = kbt_at("2026-01-13");
    assert_int_equal(exec(e, "AdvancePlan", &ad.base, NULL, -1), KB_CODE_OK);
    assert_reminder(e, "pre", 0, RS(REQUESTED), IS(PLANNED), "2026-01-15");
    ad.plan_id = "late3";
    REFUSED(exec(e, "AdvancePlan", &ad.base, NULL, -1), FAILED_PRECONDITION, PLAN_NOTHING_DUE,
            "plan_id");
    assert_int_equal(tick(e, "2026-01-15"), 4);
    assert_reminder(e, "pre", 0, RS(REQUESTED), IS(COLLECTING), "2026-02-13");
    assert_reminder(e, "pre-late", 0, RS(REQUESTED), IS(COLLECTING), "2026-02-13");
    assert_reminder(e, "late3", 0, RS(NONE), IS(DUE), "2026-01-16");
    assert_reminder(e, "sdd3", 0, RS(NONE), IS(COLLECTING), "2026-02-15");
    assert_int_equal(tick(e, "2026-01-16"), 1); /* overdue; its reminder in 3 days */
    assert_reminder(e, "late3", 0, RS(NONE), IS(OVERDUE), "2026-01-19");
    assert_int_equal(tick(e, "2026-01-18"), 0);
    assert_int_equal(tick(e, "2026-01-19"), 1);
    assert_reminder(e, "late3", 0, RS(REQUESTED), IS(OVERDUE), "2026-02-15");
    assert_reminder(e, "sdd3", 0, RS(NONE), IS(COLLECTING), "2026-02-15");
    assert_int_equal(timeline_count(e, "pre", "PlanReminderRequested"), 1);
    rebuild_and_compare(e, 4);
}

/* A weekly SDD plan of 200.00 in 2 from 2026-01-15, at most tol_count
 * instalments late, both collecting from 22 January. */
static void collecting_plan(env *e, const char *id, uint32_t tol_count) {
    Kasboek__V1__CreatePlanRequest r = KASBOEK__V1__CREATE_PLAN_REQUEST__INIT;
    Kasboek__V1__PlanCase pc = KASBOEK__V1__PLAN_CASE__INIT, *pcs[1];
    case_plan(&r, &pc, pcs);
    r.plan_id = (char *)id;
    r.method = METHOD(SDD);
    r.period = PERIOD(WEEKLY);
    r.count = 2;
    pc.amount = 20000;
    r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT;
    r.tolerance_count = tol_count;
    e->now = kbt_at("2026-01-01");
    assert_int_equal(exec(e, "CreatePlan", &r.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(activate(e, id), KB_CODE_OK);
}

static kb_code fail_collection(env *e, const char *plan, uint32_t number) {
    Kasboek__V1__FailPlanCollectionRequest fc = KASBOEK__V1__FAIL_PLAN_COLLECTION_REQUEST__INIT;
    fc.plan_id = (char *)plan;
    fc.instalment = number;
    fc.reason = "AM04 insufficient funds";
    return exec(e, "FailPlanCollection", &fc.base, NULL, -1);
}

static void assert_auto_cancelled(env *e, const char *id, const char *reason) {
    Plan *p = get(e, id);
    assert_int_equal(p->status, PS(CANCELLED));
    if (!strstr(p->cancel_reason, reason))
        fail_msg("%s: reason '%s', want '%s'", id, p->cancel_reason, reason);
    for (size_t i = 0; i < p->n_instalments; i++)
        if (p->instalments[i]->status != IS(PAID))
            assert_int_equal(p->instalments[i]->status, IS(SKIPPED));
    assert_int_equal(kb_plan_next_action_day(p), INT32_MAX);
    plan_free(p);
    assert_int_equal(timeline_count(e, id, "PlanCancelled"), 1);
}

/* The count tolerance holds whatever makes an instalment late, in the
 * same commit: two failed collections of a plan allowing one cancel it
 * with the second failure (they used to leave it overdue for ever); a
 * tolerance lowered below what is late cancels too; a collection failing
 * past the tolerance in days cancels at once, as Tick would. */
static void test_fail_cancels_past_tolerance(void **st) {
    env *e = *st;
    collecting_plan(e, "one", 1);
    collecting_plan(e, "p", 2);
    assert_int_equal(tick(e, "2026-01-15"), 2);
    assert_int_equal(tick(e, "2026-01-22"), 2);
    e->now = kbt_at("2026-01-25");
    assert_int_equal(fail_collection(e, "one", 1), KB_CODE_OK);
    Plan *p = get(e, "one");
    assert_int_equal(p->status, PS(OVERDUE)); /* 1 late, 1 allowed */
    plan_free(p);
    assert_int_equal(fail_collection(e, "one", 2), KB_CODE_OK);
    assert_auto_cancelled(e, "one", "overdue tolerance exceeded: 2 instalments overdue, 1 allowed");
    /* 2 late, 2 allowed: open; then the operator allows 1 */
    assert_int_equal(fail_collection(e, "p", 1), KB_CODE_OK);
    assert_int_equal(fail_collection(e, "p", 2), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-01-26"), 1); /* the reminders of "p", nothing of "one" */
    p = get(e, "p");
    assert_int_equal(p->status, PS(OVERDUE));
    assert_int_equal(kb_plan_next_action_day(p), INT32_MAX); /* nothing more till it changes */
    plan_free(p);
    Kasboek__V1__UpdatePlanRequest u = KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    u.tolerance_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT;
    u.tolerance_count = 1;
    assert_int_equal(update(e, &u), KB_CODE_OK);
    assert_auto_cancelled(e, "p", "2 instalments overdue, 1 allowed");
    /* by days (30 by default): failing 33 days after the due date */
    assert_int_equal(create(e, (plan_spec){.id = "days",
                                           .case_ref = "c",
                                           .case_amount = 20000,
                                           .currency = "EUR",
                                           .count = 2,
                                           .start = "2026-03-01"}),
                     KB_CODE_OK);
    assert_int_equal(activate(e, "days"), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-03-01"), 1);
    e->now = kbt_at("2026-04-03");
    assert_int_equal(fail_collection(e, "days", 1), KB_CODE_OK);
    assert_auto_cancelled(e, "days", "33 days overdue, 30 allowed");
    assert_int_equal(tick(e, "2027-01-01"), 0);
    rebuild_and_compare(e, 4);
}

/* A reversal that reopens instalments overdue past the count tolerance
 * cancels the plan in the refund's commit, and hands its invoice back: a
 * completed plan of 200.00 in 2 (at most 1 late) refunded 50.00 reopens
 * one (allowed), 100.00 more reopens both. */
static void test_reversal_cancels_past_count(void **st) {
    env *e = *st;
    open_invoice(e, "i1", "EUR", 20000);
    Kasboek__V1__CreatePlanRequest r = KASBOEK__V1__CREATE_PLAN_REQUEST__INIT;
    Kasboek__V1__PlanCase pc = KASBOEK__V1__PLAN_CASE__INIT, *pcs[1];
    case_plan(&r, &pc, pcs);
    char *inv[] = {"i1"};
    r.plan_id = "p";
    r.invoice_ids = inv;
    r.n_invoice_ids = 1;
    r.n_cases = 0;
    r.period = PERIOD(WEEKLY);
    r.count = 2;
    r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT;
    r.tolerance_count = 1;
    assert_int_equal(exec(e, "CreatePlan", &r.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(activate(e, "p"), KB_CODE_OK);
    assert_int_equal(pay(e, "all", 20000, "p"), KB_CODE_OK);
    assert_int_equal(tick(e, "2026-01-25"), 0); /* completed: off the list */
    assert_int_equal(kbt_refund(e, "all", "r1", 5000, "EUR"), KB_CODE_OK);
    Plan *p = get(e, "p");
    assert_int_equal(p->status, PS(OVERDUE)); /* #2 reopened: 1 late, 1 allowed */
    assert_instalment(p, 1, 5000, IS(OVERDUE));
    plan_free(p);
    assert_int_equal(kbt_refund(e, "all", "r2", 10000, "EUR"), KB_CODE_OK);
    assert_auto_cancelled(e, "p", "overdue tolerance exceeded: 2 instalments overdue, 1 allowed");
    p = get(e, "p");
    assert_int_equal(p->paid, 5000); /* what stays paid stays */
    plan_free(p);
    Kasboek__V1__Invoice *i = kbt_get_invoice(e, "i1");
    assert_string_equal(i->plan_id, "");
    assert_int_equal(i->amount_paid, 5000);
    kasboek__v1__invoice__free_unpacked(i, NULL);
    assert_int_equal(tick(e, "2027-01-01"), 0);
    rebuild_and_compare(e, 4);
}

/* kb_plan_next_action_day: a reminder's day by status and offset, and a
 * plan stored past its count tolerance (before failures and reversals
 * checked it) due at once, so Tick still cancels it. */
static void test_next_action_day_reminders_and_count(void **st) {
    (void)st;
    Kasboek__V1__Instalment i1 = KASBOEK__V1__INSTALMENT__INIT, i2 = KASBOEK__V1__INSTALMENT__INIT;
    Kasboek__V1__Instalment *v[] = {&i1, &i2};
    Kasboek__V1__PlanTerms t = KASBOEK__V1__PLAN_TERMS__INIT;
    i1.number = 1, i1.due_date = "2026-01-15", i1.amount = 100, i1.status = IS(COLLECTING);
    i2.number = 2, i2.due_date = "2026-02-15", i2.amount = 100, i2.status = IS(COLLECTING);
    Plan p = KASBOEK__V1__PAYMENT_PLAN__INIT;
    p.status = PS(COLLECTION_IN_PROGRESS);
    p.reminder = CH(EMAIL);
    p.terms = &t;
    p.instalments = v;
    p.n_instalments = 2;
    assert_int_equal(kb_plan_next_action_day(&p), INT32_MAX); /* collecting: no reminder */
    t.reminder_offset_days = -5;
    assert_int_equal(kb_plan_next_action_day(&p), kbt_day("2026-01-10")); /* a notice before */
    t.reminder_offset_days = 2;
    i1.status = IS(FAILED), p.status = PS(OVERDUE);
    assert_int_equal(kb_plan_next_action_day(&p), kbt_day("2026-01-18")); /* overdue + 2 */
    i1.reminder = RS(REQUESTED);
    assert_int_equal(kb_plan_next_action_day(&p), INT32_MAX);
    i2.status = IS(FAILED);
    assert_int_equal(kb_plan_next_action_day(&p), kbt_day("2026-02-18"));
    i2.reminder = RS(SENT);
    t.tolerance_count = 2;
    assert_int_equal(kb_plan_next_action_day(&p), INT32_MAX); /* 2 late, 2 allowed */
    t.tolerance_count = 1;
    assert_int_equal(kb_plan_next_action_day(&p), kbt_day("2026-01-15")); /* past it: now */
    p.status = PS(PAUSED);
    assert_int_equal(kb_plan_next_action_day(&p), INT32_MAX); /* when it resumes */
}

/* ------------------------------------------- debits still processing */

/* A SEPA direct debit of amount for plan: processing until settled. */
static kb_code debit(env *e, const char *id, int64_t amount, const char *plan) {
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    m.amount = amount;
    m.currency = "EUR";
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    r.amount = &m;
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT;
    r.source_type = "plan";
    r.source_id = (char *)plan;
    return exec(e, "RecordPayment", &r.base, NULL, -1);
}

/* A monthly SDD plan over a collection case of amount EUR in count
 * instalments, for the caller to change. */
static plan_spec case_spec(const char *id, int64_t amount, uint32_t count) {
    return (plan_spec){
        .id = id, .case_ref = "c", .case_amount = amount, .currency = "EUR", .count = count};
}

/* What the tenant has collected in EUR: the balance's total (no fees). */
static int64_t eur_collected(env *e) {
    Kasboek__V1__GetBalanceRequest r = KASBOEK__V1__GET_BALANCE_REQUEST__INIT;
    r.currency = "EUR";
    assert_int_equal(query(e, "GetBalance", &r.base), KB_CODE_OK);
    Kasboek__V1__GetBalanceReply *g =
        kasboek__v1__get_balance_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(g);
    int64_t total = g->n_balances ? g->balances[0]->total : 0;
    kasboek__v1__get_balance_reply__free_unpacked(g, NULL);
    return total;
}

/* The plan's payments entry of id (the test fails when there is none). */
static const Kasboek__V1__PlanPayment *plan_pay(const Plan *p, const char *id) {
    for (size_t i = 0; i < p->n_payments; i++)
        if (!strcmp(p->payments[i]->payment_id, id)) return p->payments[i];
    fail_msg("plan %s has no payment %s", p->plan_id, id);
    return NULL;
}

/* The plan's money: paid, held by processing debits, overpaid; and what
 * is on the plan (paid + overpaid) is all that was collected for it. */
static void assert_plan_money(env *e, const char *id, Kasboek__V1__PlanStatus st, int64_t paid,
                              int64_t pending, int64_t overpaid) {
    Plan *p = get(e, id);
    if (p->status != st || p->paid != paid || p->amount_pending != pending ||
        p->amount_overpaid != overpaid)
        fail_msg("plan %s: status %d paid %lld pending %lld overpaid %lld; want %d %lld %lld %lld",
                 id, p->status, (long long)p->paid, (long long)p->amount_pending,
                 (long long)p->amount_overpaid, st, (long long)paid, (long long)pending,
                 (long long)overpaid);
    assert_int_equal(p->paid + p->remaining, p->total);
    int64_t held = 0, over = 0, alloc = 0;
    for (size_t i = 0; i < p->n_payments; i++) {
        held += p->payments[i]->pending;
        over += p->payments[i]->overpaid;
        alloc += p->payments[i]->amount;
    }
    assert_int_equal(held, pending);
    assert_int_equal(over, overpaid);
    assert_int_equal(alloc, paid);
    assert_int_equal(paid + overpaid, eur_collected(e)); /* nothing vanished */
    plan_free(p);
}

/* The issue's case: a plan of 100.00 and two SEPA debits of 100.00 for it.
 * The first holds the plan's 100.00 while it processes, so the second is
 * refused (as an invoice refuses it), and so is any other payment; the
 * first settles: paid 100.00, completed, exactly what was collected. */
static void test_debit_holds_the_plan(void **st) {
    env *e = *st;
    assert_int_equal(create(e, case_spec("p", 10000, 2)), KB_CODE_OK);
    assert_int_equal(activate(e, "p"), KB_CODE_OK);
    assert_int_equal(debit(e, "d1", 10000, "p"), KB_CODE_OK);
    assert_plan_money(e, "p", PS(ACTIVE), 0, 10000, 0);
    Plan *p = get(e, "p");
    assert_int_equal(p->remaining, 10000); /* held, not paid */
    assert_int_equal(plan_pay(p, "d1")->pending, 10000);
    assert_instalment(p, 0, 0, IS(PLANNED));
    plan_free(p);
    REFUSED(debit(e, "d2", 10000, "p"), FAILED_PRECONDITION, PLAN_OVERPAYMENT, "amount.amount");
    assert_non_null(strstr(e->reply.err.message, "100.00 EUR of what remains is held"));
    REFUSED(pay(e, "t1", 1, "p"), FAILED_PRECONDITION, PLAN_OVERPAYMENT, "amount.amount");
    assert_non_null(strstr(e->reply.err.message, "0.01 EUR is more than the 0.00 EUR open"));
    assert_int_equal(kbt_settle(e, "d1"), KB_CODE_OK);
    assert_plan_money(e, "p", PS(COMPLETED), 10000, 0, 0);
    p = get(e, "p");
    assert_int_equal(p->remaining, 0);
    assert_int_equal(p->instalments_paid, 2);
    assert_instalment(p, 0, 5000, IS(PAID));
    assert_instalment(p, 1, 5000, IS(PAID));
    assert_int_equal(plan_pay(p, "d1")->amount, 10000);
    assert_int_equal(plan_pay(p, "d1")->pending, 0);
    plan_free(p);
    assert_int_equal(eur_collected(e), 10000); /* the refused second debit collected nothing */
    rebuild_and_compare(e, 3);
}

/* A debit that fails lets go of what it held: the debit refused for lack
 * of room fits now, and settles; one held when its plan is cancelled
 * settles on no instalment and is kept as overpaid. */
static void test_failed_debit_frees_the_plan(void **st) {
    env *e = *st;
    assert_int_equal(create(e, case_spec("p", 10000, 2)), KB_CODE_OK);
    assert_int_equal(activate(e, "p"), KB_CODE_OK);
    assert_int_equal(debit(e, "d1", 10000, "p"), KB_CODE_OK);
    REFUSED(debit(e, "d2", 10000, "p"), FAILED_PRECONDITION, PLAN_OVERPAYMENT, "amount.amount");
    assert_int_equal(kbt_fail_payment(e, "d1"), KB_CODE_OK);
    assert_plan_money(e, "p", PS(ACTIVE), 0, 0, 0);
    Plan *p = get(e, "p");
    assert_int_equal(p->remaining, 10000);
    assert_int_equal(plan_pay(p, "d1")->pending, 0);
    assert_int_equal(plan_pay(p, "d1")->amount, 0);
    plan_free(p);
    assert_int_equal(kbt_settle(e, "d1"), KB_CODE_FAILED_PRECONDITION); /* failed is final */
    /* the refused one, again */
    assert_int_equal(debit(e, "d2", 10000, "p"), KB_CODE_OK);
    assert_plan_money(e, "p", PS(ACTIVE), 0, 10000, 0);
    assert_int_equal(kbt_settle(e, "d2"), KB_CODE_OK);
    assert_plan_money(e, "p", PS(COMPLETED), 10000, 0, 0);

    /* held, then the plan is cancelled: the money settles on no instalment */
    assert_int_equal(create(e, case_spec("q", 20000, 2)), KB_CODE_OK);
    assert_int_equal(activate(e, "q"), KB_CODE_OK);
    assert_int_equal(pay(e, "q1", 5000, "q"), KB_CODE_OK);
    assert_int_equal(debit(e, "q2", 15000, "q"), KB_CODE_OK);
    Kasboek__V1__CancelPlanRequest cr = KASBOEK__V1__CANCEL_PLAN_REQUEST__INIT;
    cr.plan_id = "q";
    cr.reason = "customer moved abroad";
    assert_int_equal(exec(e, "CancelPlan", &cr.base, NULL, -1), KB_CODE_OK);
    assert_int_equal(kbt_settle(e, "q2"), KB_CODE_OK);
    p = get(e, "q");
    assert_int_equal(p->status, PS(CANCELLED));
    assert_int_equal(p->paid, 5000);
    assert_int_equal(p->amount_pending, 0);
    assert_int_equal(p->amount_overpaid, 15000);
    assert_int_equal(plan_pay(p, "q2")->overpaid, 15000);
    assert_int_equal(plan_pay(p, "q2")->amount, 0);
    assert_int_equal(p->paid + p->amount_overpaid, eur_collected(e) - 10000); /* less plan p's */
    plan_free(p);
    rebuild_and_compare(e, 4);
}

/* Settling moves the held amount onto the instalments: a debit of 100.00
 * holds a 300.00 plan's room, a transfer takes what is left (not more),
 * the debit settles onto the third instalment and completes the plan. A
 * bank refund of the debit that fails after the plan was paid again brings
 * money no instalment takes: it is overpaid, and a refund takes that back
 * first, leaving the plan completed. */
static void test_settle_moves_the_hold(void **st) {
    env *e = *st;
    assert_int_equal(create(e, case_spec("p", 30000, 3)), KB_CODE_OK);
    assert_int_equal(activate(e, "p"), KB_CODE_OK);
    assert_int_equal(debit(e, "d1", 10000, "p"), KB_CODE_OK);
    REFUSED(pay(e, "t1", 20001, "p"), FAILED_PRECONDITION, PLAN_OVERPAYMENT, "amount.amount");
    assert_int_equal(pay(e, "t1", 20000, "p"), KB_CODE_OK);
    assert_plan_money(e, "p", PS(ACTIVE), 20000, 10000, 0);
    Plan *p = get(e, "p");
    assert_instalment(p, 0, 10000, IS(PAID));
    assert_instalment(p, 1, 10000, IS(PAID));
    assert_instalment(p, 2, 0, IS(PLANNED));
    plan_free(p);
    assert_int_equal(kbt_settle(e, "d1"), KB_CODE_OK);
    assert_plan_money(e, "p", PS(COMPLETED), 30000, 0, 0);
    p = get(e, "p");
    assert_instalment(p, 2, 10000, IS(PAID));
    assert_int_equal(plan_pay(p, "d1")->amount, 10000);
    plan_free(p);

    /* 40.00 of the debit refunded by the bank (pending): the plan reopens */
    assert_int_equal(kbt_refund(e, "d1", "r1", 4000, "EUR"), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->status, PS(ACTIVE));
    assert_int_equal(p->remaining, 4000);
    plan_free(p);
    assert_int_equal(pay(e, "t2", 4000, "p"), KB_CODE_OK);
    assert_plan_money(e, "p", PS(COMPLETED), 30000, 0, 0);
    /* the refund fails: its 40.00 is back, with no instalment open */
    Kasboek__V1__FailRefundRequest fr = KASBOEK__V1__FAIL_REFUND_REQUEST__INIT;
    fr.refund_id = "r1";
    fr.reason = "account closed";
    assert_int_equal(exec(e, "FailRefund", &fr.base, NULL, -1), KB_CODE_OK);
    assert_plan_money(e, "p", PS(COMPLETED), 30000, 0, 4000);
    p = get(e, "p");
    assert_int_equal(plan_pay(p, "d1")->overpaid, 4000);
    assert_int_equal(plan_pay(p, "d1")->amount, 6000); /* t2 paid what the refund reopened */
    assert_int_equal(plan_pay(p, "t2")->amount, 4000);
    assert_int_equal(p->remaining, 0);
    plan_free(p);
    /* the overpayment handed back: taken from it first, the plan stays */
    assert_int_equal(kbt_refund(e, "d1", "r2", 4000, "EUR"), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->status, PS(COMPLETED));
    assert_int_equal(p->paid, 30000);
    assert_int_equal(p->amount_overpaid, 0);
    assert_int_equal(plan_pay(p, "d1")->amount, 6000);
    assert_int_equal(plan_pay(p, "d1")->overpaid, 0);
    plan_free(p);
    Kasboek__V1__SettleRefundRequest sr = KASBOEK__V1__SETTLE_REFUND_REQUEST__INIT;
    sr.refund_id = "r2";
    assert_int_equal(exec(e, "SettleRefund", &sr.base, NULL, -1), KB_CODE_OK);
    assert_plan_money(e, "p", PS(COMPLETED), 30000, 0, 0);
    rebuild_and_compare(e, 3);
}

/* Split by count, every instalment is at least one minor unit: a count
 * above the total in minor units is refused (0.50 EUR in 100, 100 JPY in
 * 120), at creation and in a draft's edit; a count equal to it is not. */
static void test_count_above_total_refused(void **st) {
    env *e = *st;
    int64_t a[KB_PLAN_INSTALMENTS_MAX];
    int32_t d[KB_PLAN_INSTALMENTS_MAX];
    uint32_t n = 0;
    assert_int_equal(kb_plan_schedule(50, 100, 0, kbt_day("2026-01-01"), PERIOD(WEEKLY), a, d,
                                      KB_PLAN_INSTALMENTS_MAX, &n),
                     KB_ERR_ARG);
    assert_int_equal(kb_plan_schedule(100, 100, 0, kbt_day("2026-01-01"), PERIOD(WEEKLY), a, d,
                                      KB_PLAN_INSTALMENTS_MAX, &n),
                     KB_OK);
    assert_int_equal(n, 100);
    assert_int_equal(a[0], 1);
    assert_int_equal(a[99], 1);
    plan_spec half = case_spec("x", 50, 100); /* 0.50 EUR, weekly over 100 weeks */
    half.period = PERIOD(WEEKLY);
    REFUSED(create(e, half), INVALID_ARGUMENT, INVALID_QUANTITY, "count");
    assert_non_null(strstr(e->reply.err.message, "0.50 EUR in 100 instalments"));
    plan_spec yen = case_spec("x", 100, 120); /* 100 JPY in 120 */
    yen.currency = "JPY";
    REFUSED(create(e, yen), INVALID_ARGUMENT, INVALID_QUANTITY, "count");
    assert_non_null(strstr(e->reply.err.message, "at most 100"));
    /* by amount the last takes the rest, never 0 */
    yen.id = "amt", yen.split = BY_AMOUNT, yen.amount = 30;
    assert_int_equal(create(e, yen), KB_CODE_OK);
    Plan *p = get(e, "amt");
    assert_int_equal(p->n_instalments, 4);
    assert_int_equal(p->instalments[3]->amount, 10);
    plan_free(p);
    yen = case_spec("p", 100, 100); /* 100 JPY in 100: 1 each */
    yen.currency = "JPY";
    assert_int_equal(create(e, yen), KB_CODE_OK);
    p = get(e, "p");
    assert_int_equal(p->n_instalments, 100);
    for (size_t i = 0; i < p->n_instalments; i++) assert_int_equal(p->instalments[i]->amount, 1);
    plan_free(p);
    Kasboek__V1__UpdatePlanRequest u = KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    u.split_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__SPLIT_COUNT;
    u.count = 101;
    REFUSED(update(e, &u), INVALID_ARGUMENT, INVALID_QUANTITY, "count");
    p = get(e, "p");
    assert_int_equal(p->n_instalments, 100); /* the draft as it was */
    plan_free(p);
    rebuild_and_compare(e, 3);
}

/* A 0.00 instalment of a schedule from before they were refused is paid,
 * never due: the clock comes for it on its due date even when it was
 * moved to overdue already (and an overdue 1.00 one waits for nothing). */
static void test_empty_instalment_next_action(void **st) {
    (void)st;
    Kasboek__V1__Instalment i1 = KASBOEK__V1__INSTALMENT__INIT, i2 = KASBOEK__V1__INSTALMENT__INIT;
    Kasboek__V1__Instalment *v[] = {&i1, &i2};
    i1.number = 1, i1.due_date = "2026-01-15", i1.amount = 0, i1.status = IS(OVERDUE);
    i2.number = 2, i2.due_date = "2026-02-15", i2.amount = 50, i2.status = IS(PLANNED);
    Plan p = KASBOEK__V1__PAYMENT_PLAN__INIT;
    p.status = PS(OVERDUE);
    p.reminder = CH(NONE);
    p.instalments = v;
    p.n_instalments = 2;
    assert_int_equal(kb_plan_next_action_day(&p), kbt_day("2026-01-15"));
    i1.amount = 100; /* something open: overdue waits (no tolerance) */
    assert_int_equal(kb_plan_next_action_day(&p), kbt_day("2026-02-15"));
    i1.amount = 0, i1.status = IS(PAID);
    assert_int_equal(kb_plan_next_action_day(&p), kbt_day("2026-02-15"));
}

/* ------------------------------------------------------ randomized run */

#define RP_PLANS    8   /* open at a time: a closed one is replaced */
#define RP_PLANS_MAX 2000
#define RP_PAYMENTS 4000
#define DAY_US      INT64_C(86400000000)

#define EXPECT_OK(call)                                                                     \
    do {                                                                                    \
        if ((call) != KB_CODE_OK)                                                           \
            fail_msg("%s: %s %s %s", #call, kb_reason_str(e->reply.err.reason),             \
                     e->reply.err.field, e->reply.err.message);                             \
    } while (0)

#define rnd kbt_rnd

/* What the test expects of the money: per payment, what is still
 * allocated to its plan (a refund takes back at most that). */
typedef struct rp_payment {
    char id[16];
    int plan;
    int64_t amount, allocated, refunded;
} rp_payment;

typedef struct rp_sim {
    char plan_id[RP_PLANS_MAX][12];
    const char *cur[RP_PLANS_MAX];
    int slot[RP_PLANS]; /* the plan each slot pays now */
    int n_plans;
    rp_payment pay[RP_PAYMENTS];
    int n_pay, n_refunds, refused, respreads, n_invoices;
    int last_refunded; /* the plan of the last refund (-1: none since) */
    int64_t now;
} rp_sim;

/* Every invariant of a plan: the instalments sum to the total, paid and
 * remaining to the total, an instalment holds 0..amount, is PAID exactly
 * when paid off (unless skipped), the plan's paid equals what the test
 * allocated to it, and a plan with nothing remaining is completed. */
static kb_arena rp_arena;

/* The plan's projection row as GetPlan reads it, without the timeline
 * (which grows with every step); valid until the next call. */
static const Plan *rp_state(env *e, const char *id) {
    ProtobufCMessage *m;
    kb_arena_reset(&rp_arena);
    assert_int_equal(kb_project_load(e->store, NULL, NULL, &rp_arena, "t1", &kb_plan_aggregate, id, &m),
                     KB_OK);
    return (const Plan *)m;
}

/* The invoices a plan covers hold exactly what its paid amount covers of
 * them (items in order), under the plan while it is open, paid when that
 * is all of them. p stays valid (the invoices load into their own arena). */
static void check_plan_invoices(env *e, const Plan *p) {
    static kb_arena a;
    static bool init;
    if (!init) kb_arena_init(&a, 1 << 20), init = true;
    int64_t start = 0;
    for (size_t i = 0; i < p->n_items; i++) {
        const Kasboek__V1__PlanItem *it = p->items[i];
        int64_t cov = p->paid - start;
        cov = cov < 0 ? 0 : cov > it->amount ? it->amount : cov;
        start += it->amount;
        if (!it->invoice_id[0]) continue;
        ProtobufCMessage *m;
        kb_arena_reset(&a);
        assert_int_equal(kb_project_load(e->store, NULL, NULL, &a, "t1", &kb_invoice_aggregate,
                                         it->invoice_id, &m),
                         KB_OK);
        const Kasboek__V1__Invoice *inv = (const void *)m;
        if (p->status == PS(DRAFT)) continue;
        int64_t applied = 0;
        for (size_t j = 0; j < inv->n_payments; j++)
            if (!strcmp(inv->payments[j]->plan_id, p->plan_id)) applied = inv->payments[j]->amount;
        if (applied != cov || inv->amount_paid != cov)
            fail_msg("%s over %s: covers %lld, the invoice has %lld from it (%lld paid)", p->plan_id,
                     inv->invoice_id, (long long)cov, (long long)applied, (long long)inv->amount_paid);
        bool planned = p->status != PS(CANCELLED);
        assert_string_equal(inv->plan_id, planned ? p->plan_id : "");
        assert_int_equal(inv->plan_amount, planned ? it->amount : 0);
        assert_int_equal(inv->status, cov == it->amount ? INV(PAID) : INV(OPEN));
        if (planned) assert_false(inv->overdue);
    }
}

static void check_plan(env *e, const rp_sim *sim, int k) {
    const Plan *p = rp_state(e, sim->plan_id[k]);
    int64_t sum = 0, paid = 0, want = 0, by_payment = 0;
    for (size_t i = 0; i < p->n_instalments; i++) {
        const Kasboek__V1__Instalment *in = p->instalments[i];
        sum += in->amount;
        paid += in->paid;
        if (in->amount <= 0 || in->paid < 0 || in->paid > in->amount)
            fail_msg("%s #%u: paid %lld of %lld", p->plan_id, in->number, (long long)in->paid,
                     (long long)in->amount);
        if (in->status != IS(SKIPPED) && (in->status == IS(PAID)) != (in->paid == in->amount))
            fail_msg("%s #%u: status %d with %lld of %lld paid", p->plan_id, in->number, in->status,
                     (long long)in->paid, (long long)in->amount);
    }
    for (int i = 0; i < sim->n_pay; i++)
        if (sim->pay[i].plan == k) want += sim->pay[i].allocated;
    for (size_t i = 0; i < p->n_payments; i++) by_payment += p->payments[i]->amount;
    assert_int_equal(sum, p->total);
    assert_int_equal(paid, p->paid);
    assert_int_equal(p->paid + p->remaining, p->total);
    assert_int_equal(p->paid, want);
    assert_int_equal(by_payment, want);
    /* transfers only, refunds that never fail: nothing held, nothing over */
    assert_int_equal(p->amount_pending, 0);
    assert_int_equal(p->amount_overpaid, 0);
    if (p->remaining == 0 && p->status != PS(CANCELLED)) assert_int_equal(p->status, PS(COMPLETED));
    if (p->status == PS(COMPLETED)) assert_int_equal(p->remaining, 0);
    check_plan_invoices(e, p);
}

static int64_t plan_remaining(env *e, const char *id, Kasboek__V1__PlanStatus *st,
                              uint32_t *failed) {
    const Plan *p = rp_state(e, id);
    *st = p->status;
    *failed = 0;
    for (size_t i = 0; i < p->n_instalments && !*failed; i++)
        if (p->instalments[i]->status == IS(FAILED) || p->instalments[i]->status == IS(COLLECTING))
            *failed = p->instalments[i]->number | (p->instalments[i]->status == IS(FAILED)) << 16;
    return p->remaining;
}

static bool is_open(Kasboek__V1__PlanStatus st) {
    return st != PS(DRAFT) && st != PS(COMPLETED) && st != PS(CANCELLED);
}

/* A new plan in slot: SDD or SCT, EUR, JPY or BHD, weekly to quarterly,
 * by count or by amount, early recalculation on three plans in four, a
 * tolerance by count or days on some; the very first of slot 6 stays a
 * draft. */
static void rp_new_plan(env *e, rp_sim *sim, int slot) {
    static const char *curs[] = {"EUR", "JPY", "BHD", "EUR"};
    assert_true(sim->n_plans < RP_PLANS_MAX);
    int k = sim->n_plans++;
    sim->slot[slot] = k;
    snprintf(sim->plan_id[k], sizeof sim->plan_id[k], "rp%d", k);
    sim->cur[k] = curs[rnd(4)];
    Kasboek__V1__CreatePlanRequest r = KASBOEK__V1__CREATE_PLAN_REQUEST__INIT;
    Kasboek__V1__PlanCase pc = KASBOEK__V1__PLAN_CASE__INIT, *pcs[] = {&pc};
    pc.ref = "case";
    pc.amount = 50000 + rnd(5000000);
    /* one plan in three covers invoices too (before the case) */
    char inv_ids[2][16];
    char *invs[2];
    uint32_t n_inv = rnd(3) == 0 ? 1 + rnd(2) : 0;
    for (uint32_t i = 0; i < n_inv; i++) {
        snprintf(inv_ids[i], sizeof inv_ids[i], "ri%d_%u", k, i);
        open_invoice(e, inv_ids[i], sim->cur[k], 1000 + rnd(3000000));
        invs[i] = inv_ids[i];
        sim->n_invoices++;
    }
    r.invoice_ids = invs;
    r.n_invoice_ids = n_inv;
    r.plan_id = sim->plan_id[k];
    r.customer_id = "c1";
    r.method = rnd(2) ? METHOD(SCT) : METHOD(SDD);
    r.cases = pcs;
    r.n_cases = 1;
    r.currency = (char *)sim->cur[k];
    r.start_date = kb_date_text(&rp_arena, kb_day_of_instant(sim->now) + (int32_t)rnd(20));
    r.period = (Kasboek__V1__PlanPeriod)(1 + rnd(3));
    r.split_case = rnd(3) ? BY_COUNT : BY_AMOUNT;
    if (r.split_case == BY_COUNT) r.count = 2 + rnd(20); /* a oneof: one of the two */
    else r.instalment_amount = pc.amount / (2 + rnd(10)) + 1;
    r.early_recalc = rnd(4) != 0;
    switch (rnd(4)) {
        case 0:
            r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT;
            r.tolerance_count = 2 + rnd(3);
            break;
        case 1:
            r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_DAYS;
            r.tolerance_days = 10 + rnd(30);
            break;
        default:
            r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_DAYS;
            r.tolerance_days = 0; /* off */
            break;
    }
    r.reminder = CH(EMAIL);
    EXPECT_OK(exec(e, "CreatePlan", &r.base, NULL, -1));
    if (k != 6) EXPECT_OK(activate(e, sim->plan_id[k]));
}

static void rp_pay(env *e, rp_sim *sim, int slot) {
    Kasboek__V1__PlanStatus st;
    uint32_t coll;
    int k = sim->slot[slot];
    int64_t rem = plan_remaining(e, sim->plan_id[k], &st, &coll);
    if (!is_open(st) && rnd(4)) { /* now and then a refused try, then a new plan */
        if (st != PS(DRAFT)) rp_new_plan(e, sim, slot);
        return;
    }
    int64_t amount;
    switch (rnd(10)) {
        case 0: case 1: case 2: case 3: amount = 1 + rnd(200000); break;
        case 4: case 5: case 6: case 7:
            amount = rem > 0 ? 1 + (int64_t)rnd((uint32_t)(rem < 400000 ? rem : 400000)) : 1;
            break;
        case 8: amount = rem + 1 + rnd(100); break; /* more than remains */
        default: amount = rem > 0 ? rem : 1; break;
    }
    rp_payment *rp = &sim->pay[sim->n_pay];
    snprintf(rp->id, sizeof rp->id, "rp%d", sim->n_pay);
    uint64_t head = kb_engine_head(e->engine).seq;
    kb_code c = pay_in(e, rp->id, amount, sim->cur[k], sim->plan_id[k]);
    if (!is_open(st) || amount > rem) {
        if (c == KB_CODE_OK) fail_msg("%s: %lld paid on %lld remaining, status %d", sim->plan_id[k],
                                      (long long)amount, (long long)rem, st);
        assert_int_equal(c, KB_CODE_FAILED_PRECONDITION);
        assert_int_equal(kb_engine_head(e->engine).seq, head);
        sim->refused++;
        return;
    }
    assert_int_equal(c, KB_CODE_OK);
    rp->plan = k;
    rp->amount = rp->allocated = amount;
    sim->n_pay++;
}

static void rp_refund(env *e, rp_sim *sim) {
    if (!sim->n_pay) return;
    rp_payment *rp = &sim->pay[rnd((uint32_t)sim->n_pay)];
    int64_t left = rp->amount - rp->refunded;
    if (left <= 0) return;
    int64_t amount = rnd(2) ? left : 1 + rnd((uint32_t)(left < 1000000 ? left : 1000000));
    char rid[24];
    snprintf(rid, sizeof rid, "rr%d", sim->n_refunds++);
    EXPECT_OK(kbt_refund(e, rp->id, rid, amount, sim->cur[rp->plan]));
    rp->refunded += amount;
    sim->last_refunded = rp->plan;
    rp->allocated -= amount < rp->allocated ? amount : rp->allocated;
}

static void rp_tick(env *e, rp_sim *sim) {
    sim->now += (int64_t)rnd(4) * DAY_US + rnd(6) * 3600 * INT64_C(1000000);
    e->now = sim->now;
    kb_tick_result t;
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    assert_int_equal(kb_engine_tick(e->engine, e->now, &t), KB_OK);
    assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
}

/* SDD: a collecting instalment fails now and then; a failed one is retried. */
static void rp_collection(env *e, rp_sim *sim, int slot) {
    int k = sim->slot[slot];
    Kasboek__V1__PlanStatus st;
    uint32_t coll;
    (void)plan_remaining(e, sim->plan_id[k], &st, &coll);
    if (!coll || st == PS(PAUSED)) return;
    if (coll >> 16) {
        Kasboek__V1__RetryPlanCollectionRequest r = KASBOEK__V1__RETRY_PLAN_COLLECTION_REQUEST__INIT;
        r.plan_id = sim->plan_id[k];
        r.instalment = coll & 0xffff;
        EXPECT_OK(exec(e, "RetryPlanCollection", &r.base, NULL, -1));
    } else {
        Kasboek__V1__FailPlanCollectionRequest r = KASBOEK__V1__FAIL_PLAN_COLLECTION_REQUEST__INIT;
        r.plan_id = sim->plan_id[k];
        r.instalment = coll;
        r.reason = "AM04";
        EXPECT_OK(exec(e, "FailPlanCollection", &r.base, NULL, -1));
    }
}

static void rp_pause_or_resume(env *e, rp_sim *sim, int slot) {
    int k = sim->slot[slot];
    Kasboek__V1__PlanStatus st;
    uint32_t coll;
    (void)plan_remaining(e, sim->plan_id[k], &st, &coll);
    if (st == PS(PAUSED)) {
        Kasboek__V1__ResumePlanRequest r = KASBOEK__V1__RESUME_PLAN_REQUEST__INIT;
        r.plan_id = sim->plan_id[k];
        EXPECT_OK(exec(e, "ResumePlan", &r.base, NULL, -1));
    } else if (st != PS(COMPLETED) && st != PS(CANCELLED) && st != PS(DRAFT)) {
        Kasboek__V1__PausePlanRequest r = KASBOEK__V1__PAUSE_PLAN_REQUEST__INIT;
        r.plan_id = sim->plan_id[k];
        r.reason = "customer asked";
        EXPECT_OK(exec(e, "PausePlan", &r.base, NULL, -1));
    }
}

/* Thousands of payments, reversals and ticks over eight plans (SDD and SCT,
 * EUR, JPY and BHD, weekly to quarterly, with and without early
 * recalculation, some with a tolerance that cancels them): after every
 * step the plan touched keeps every invariant, and a replay of the whole
 * log equals the live projections. */
static void test_randomized_invariants(void **st) {
    env *e = *st;
    kbt_seed(20261207);
    rp_sim *sim = calloc(1, sizeof *sim);
    assert_non_null(sim);
    kb_arena_init(&rp_arena, 1 << 22);
    sim->now = kbt_at("2026-01-01");
    sim->last_refunded = -1;
    e->now = sim->now;
    for (int k = 0; k < RP_PLANS; k++) rp_new_plan(e, sim, k);
    int steps = 0;
    for (; steps < 10000 && sim->n_pay < RP_PAYMENTS - 1; steps++) {
        int k = (int)rnd(RP_PLANS);
        uint32_t op = rnd(100);
        if (op < 45) rp_pay(e, sim, k);
        else if (op < 70) rp_refund(e, sim);
        else if (op < 90) rp_tick(e, sim);
        else if (op < 97) rp_collection(e, sim, k);
        else rp_pause_or_resume(e, sim, k);
        /* every open plan (a tick moves them all), and a refund's plan */
        for (int j = 0; j < RP_PLANS; j++) check_plan(e, sim, sim->slot[j]);
        if (sim->last_refunded >= 0) check_plan(e, sim, sim->last_refunded);
        sim->last_refunded = -1;
    }
    int completed = 0, cancelled = 0;
    for (int k = 0; k < sim->n_plans; k++) {
        check_plan(e, sim, k);
        Kasboek__V1__PlanStatus s;
        uint32_t coll;
        (void)plan_remaining(e, sim->plan_id[k], &s, &coll);
        completed += s == PS(COMPLETED);
        cancelled += s == PS(CANCELLED);
        sim->respreads += (int)timeline_count(e, sim->plan_id[k], "PlanRespread");
    }
    print_message("randomized: %d steps, %d plans (%d completed, %d cancelled; a refund reopens a "
                  "completed one), %d invoices under them, %d payments, %d refunds, %d refused, %d re-spreads, "
                  "head seq %llu\n",
                  steps, sim->n_plans, completed, cancelled, sim->n_invoices, sim->n_pay, sim->n_refunds, sim->refused, sim->respreads,
                  (unsigned long long)kb_engine_head(e->engine).seq);
    assert_true(sim->n_pay > 2000);
    assert_true(sim->respreads > 0);
    assert_true(sim->n_invoices > 50);
    rebuild_and_compare(e, 1000); /* small chunks here would ingest thousands of files */
    kb_arena_fini(&rp_arena);
    free(sim);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_worked_examples),
        cmocka_unit_test_setup_teardown(test_create_over_invoices_and_cases, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_create_refusals, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_draft_edits_and_lifecycle, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_settings_copied_at_creation, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_payments_allocate_and_reverse, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_early_payment_respreads, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_plan_collects_invoices, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_tick_moves_instalments, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_list_plans, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_auto_cancel, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_pause_stops_tolerance, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_reminders, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_reminder_when_overdue, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_reminder_offsets, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_fail_cancels_past_tolerance, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_reversal_cancels_past_count, env_setup, env_teardown),
        cmocka_unit_test(test_next_action_day_reminders_and_count),
        cmocka_unit_test_setup_teardown(test_debit_holds_the_plan, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_failed_debit_frees_the_plan, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_settle_moves_the_hold, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_count_above_total_refused, env_setup, env_teardown),
        cmocka_unit_test(test_empty_instalment_next_action),
        cmocka_unit_test_setup_teardown(test_randomized_invariants, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
