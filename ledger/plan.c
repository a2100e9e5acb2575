/* Payment plans: the schedule, the draft and its edits, activation, pause,
 * resume and cancel (DOMAIN.md §5). */
#include "plan.h"

#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "invoice.h"
#include "money.h"
#include "validate.h"

typedef Kasboek__V1__PaymentPlan Plan;
typedef Kasboek__V1__Instalment Instalment;
typedef Kasboek__V1__PlanItem Item;
typedef Kasboek__V1__PlanSettings PlanSettings;
typedef Kasboek__V1__Event Event;

#define PS(x)     KASBOEK__V1__PLAN_STATUS__PLAN_STATUS_##x
#define IS(x)     KASBOEK__V1__INSTALMENT_STATUS__INSTALMENT_STATUS_##x
#define METHOD(x) KASBOEK__V1__PLAN_METHOD__PLAN_METHOD_##x
#define PERIOD(x) KASBOEK__V1__PLAN_PERIOD__PLAN_PERIOD_##x
#define CH(x)     KASBOEK__V1__REMINDER_CHANNEL__REMINDER_CHANNEL_##x
#define BODY(x)   KASBOEK__V1__EVENT__BODY_##x
#define EMIT      KB_EMIT

#define DATE_TEXT_LEN        11
#define START_YEAR_MAX       9900 /* 120 quarters later is still a date */
#define EARLY_DAYS_DEFAULT   7
#define TOLERANCE_DAYS_DEFAULT 30

/* -------------------------------------------------------------- schedule */

static int32_t due_day(int32_t start, Kasboek__V1__PlanPeriod period, uint32_t k) {
    switch (period) {
        case PERIOD(WEEKLY): return start + 7 * (int32_t)k;
        case PERIOD(QUARTERLY): return kb_add_months(start, 3 * (int32_t)k);
        default: return kb_add_months(start, (int32_t)k);
    }
}

kb_status kb_plan_schedule(int64_t total, uint32_t count, int64_t amount, int32_t start,
                           Kasboek__V1__PlanPeriod period, int64_t *amounts, int32_t *days,
                           uint32_t cap, uint32_t *n) {
    if (total <= 0) return KB_ERR_ARG;
    kb_status st;
    if (count) {
        if (count > cap) return KB_ERR_LIMIT;
        st = kb_money_split(total, count, amounts);
        *n = count;
    } else {
        st = kb_money_split_by_amount(total, amount, amounts, cap, n);
    }
    for (uint32_t k = 0; st == KB_OK && k < *n; k++) days[k] = due_day(start, period, k);
    return st;
}

/* --------------------------------------------------------------- evolve */

static char *day_text(kb_arena *a, int32_t day) {
    char *s = kb_arena_alloc(a, DATE_TEXT_LEN);
    if (s && kb_date_format(day, s, DATE_TEXT_LEN) < 0) s[0] = 0;
    return s;
}

static bool open_status(Kasboek__V1__PlanStatus s) {
    return s == PS(ACTIVE) || s == PS(DUE) || s == PS(COLLECTION_IN_PROGRESS) || s == PS(OVERDUE);
}

/* paid, remaining, progress and the next due date from the instalments. */
static void derive(Plan *p) {
    int64_t paid = 0;
    uint32_t n_paid = 0;
    p->next_due_date = (char *)protobuf_c_empty_string;
    for (size_t i = 0; i < p->n_instalments; i++) {
        const Instalment *in = p->instalments[i];
        paid += in->paid;
        n_paid += in->status == IS(PAID);
        if (!p->next_due_date[0] && in->status != IS(PAID) && in->status != IS(SKIPPED))
            p->next_due_date = in->due_date;
    }
    p->paid = paid;
    p->remaining = p->total - paid;
    p->instalments_paid = n_paid;
    p->progress_bp = p->total > 0 ? (uint32_t)((__int128)paid * 10000 / p->total) : 0;
}

static void evolve_scheduled(Plan *p, const Kasboek__V1__PlanScheduled *e) {
    p->method = e->method;
    p->start_date = e->start_date;
    p->period = e->period;
    p->count = e->count;
    p->instalment_amount = e->instalment_amount;
    p->reminder = e->reminder;
    p->early_recalc = e->early_recalc;
    if (p->terms) {
        p->terms->tolerance_days = e->tolerance_days;
        p->terms->tolerance_count = e->tolerance_count;
    }
    p->n_instalments = e->n_instalments;
    p->instalments = e->instalments;
}

/* Cancelling leaves every unpaid instalment skipped. */
static void skip_unpaid(Plan *p, kb_arena *a) {
    Instalment **v = kb_arena_alloc(a, (p->n_instalments + 1) * sizeof *v);
    KB_VERIFY(v);
    for (size_t i = 0; i < p->n_instalments; i++) {
        v[i] = kb_arena_copy(a, p->instalments[i], sizeof *v[i]);
        KB_VERIFY(v[i]);
        if (v[i]->status != IS(PAID)) v[i]->status = IS(SKIPPED);
    }
    p->instalments = v;
}

static void plan_evolve(ProtobufCMessage *state, const Event *ev, kb_arena *a) {
    Plan *p = (Plan *)state;
    switch (ev->body_case) {
        case BODY(PLAN_CREATED): {
            const Kasboek__V1__PlanCreated *e = ev->plan_created;
            p->status = PS(DRAFT);
            p->customer_id = e->customer_id;
            p->method = e->method;
            p->currency = e->currency;
            p->n_items = e->n_items;
            p->items = e->items;
            p->total = e->total;
            p->terms = kb_arena_copy(a, e->terms, sizeof *e->terms);
            KB_VERIFY(p->terms);
            p->created_at = ev->occurred_at;
            break;
        }
        case BODY(PLAN_SCHEDULED):
            evolve_scheduled(p, ev->plan_scheduled);
            break;
        case BODY(PLAN_ACTIVATED):
            p->status = PS(ACTIVE);
            p->activated_at = ev->occurred_at;
            break;
        case BODY(PLAN_TERMS_CHANGED):
            p->reminder = ev->plan_terms_changed->reminder;
            p->terms = kb_arena_copy(a, p->terms, sizeof *p->terms);
            KB_VERIFY(p->terms);
            p->terms->tolerance_days = ev->plan_terms_changed->tolerance_days;
            p->terms->tolerance_count = ev->plan_terms_changed->tolerance_count;
            break;
        case BODY(PLAN_PAUSED):
            p->paused_from = p->status;
            p->status = PS(PAUSED);
            p->pause_reason = ev->plan_paused->reason;
            break;
        case BODY(PLAN_RESUMED):
            p->status = p->paused_from ? p->paused_from : PS(ACTIVE);
            p->paused_from = PS(UNSPECIFIED);
            break;
        case BODY(PLAN_CANCELLED):
            p->status = PS(CANCELLED);
            p->cancel_reason = ev->plan_cancelled->reason;
            p->closed_at = ev->occurred_at;
            skip_unpaid(p, a);
            break;
        default:
            break;
    }
    p->updated_at = ev->occurred_at;
    derive(p);
}

static ProtobufCMessage *plan_create(kb_arena *a, const char *id) {
    Plan *p = KB_NEW(a, Plan, KASBOEK__V1__PAYMENT_PLAN__INIT);
    if (!p) return NULL;
    p->plan_id = kb_arena_strdup(a, id);
    return p->plan_id ? &p->base : NULL;
}

/* "<tenant>/plan/by/<dim>/<value>/<created_at hex16>/<id>" -> "": the lists
 * ListPlans will read (by status, by customer), newest first. */
static bool list_add(kb_index_set *out, const char *tenant, const Plan *p, const char *dim,
                     const char *v) {
    kb_key k;
    kb_key_init(&k);
    kb_key_add(&k, tenant);
    kb_key_add(&k, "plan");
    kb_key_add(&k, "by");
    kb_key_add(&k, dim);
    kb_key_add(&k, v);
    kb_key_raw(&k, "/", 1);
    kb_key_raw_hex64(&k, (uint64_t)p->created_at);
    kb_key_add(&k, p->plan_id);
    return kb_index_set_add(out, &k, "");
}

static bool plan_index(const ProtobufCMessage *state, const char *tenant, kb_index_set *out) {
    const Plan *p = (const void *)state;
    if (p->status == PS(UNSPECIFIED)) return true;
    char st[12];
    snprintf(st, sizeof st, "%d", (int)p->status);
    return list_add(out, tenant, p, "status", st) &&
           list_add(out, tenant, p, "customer", p->customer_id);
}

/* ------------------------------------------------------------- settings */

static ProtobufCMessage *settings_create(kb_arena *a, const char *id) {
    PlanSettings *s = KB_NEW(a, PlanSettings, KASBOEK__V1__PLAN_SETTINGS__INIT);
    if (!s) return NULL;
    s->settings_id = kb_arena_strdup(a, id);
    s->early_days = EARLY_DAYS_DEFAULT;
    s->default_tolerance_days = TOLERANCE_DAYS_DEFAULT;
    return s->settings_id ? &s->base : NULL;
}

static void settings_evolve(ProtobufCMessage *state, const Event *ev, kb_arena *a) {
    (void)a;
    PlanSettings *s = (void *)state;
    if (ev->body_case != BODY(PLAN_SETTINGS_UPDATED)) return;
    const Kasboek__V1__PlanSettingsUpdated *e = ev->plan_settings_updated;
    s->early_days = e->early_days;
    s->reminder_offset_days = e->reminder_offset_days;
    s->default_tolerance_days = e->default_tolerance_days;
    s->default_tolerance_count = e->default_tolerance_count;
}

static kb_code out_of_range(kb_error *err, const char *field, const char *range) {
    return kb_error_set(err, KB_REASON_SETTING_OUT_OF_RANGE, field, "%s must be %s", field, range);
}

static kb_code decide_settings(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                               kb_decide_ctx *c) {
    const Kasboek__V1__UpdatePlanSettingsRequest *r = (const void *)msg;
    const PlanSettings *cur = state ? (const void *)state : (const void *)c->peer;
    KB_VERIFY(cur);
    Kasboek__V1__PlanSettingsUpdated *e =
        EMIT(c, Kasboek__V1__PlanSettingsUpdated, KASBOEK__V1__PLAN_SETTINGS_UPDATED__INIT,
             BODY(PLAN_SETTINGS_UPDATED));
    if (!e) return c->err->code;
    e->early_days = r->early_case ? r->early_days : cur->early_days;
    e->reminder_offset_days = r->offset_case ? r->reminder_offset_days : cur->reminder_offset_days;
    e->default_tolerance_days =
        r->tol_days_case ? r->default_tolerance_days : cur->default_tolerance_days;
    e->default_tolerance_count =
        r->tol_count_case ? r->default_tolerance_count : cur->default_tolerance_count;
    if (e->early_days > 365) return out_of_range(c->err, "early_days", "0-365");
    if (e->reminder_offset_days < -60 || e->reminder_offset_days > 60)
        return out_of_range(c->err, "reminder_offset_days", "-60 to 60");
    if (e->default_tolerance_days > 365) return out_of_range(c->err, "default_tolerance_days", "0-365");
    if (e->default_tolerance_count > KB_PLAN_INSTALMENTS_MAX)
        return out_of_range(c->err, "default_tolerance_count", "0-120");
    return KB_CODE_OK;
}

/* ------------------------------------------------------ the draft's terms */

/* What a create or an update asks the schedule to be. */
typedef struct sched_args {
    Kasboek__V1__PlanMethod method;
    const char *start;
    Kasboek__V1__PlanPeriod period;
    uint32_t count;
    int64_t amount;
    Kasboek__V1__ReminderChannel reminder;
    bool early_recalc;
    uint32_t tol_days, tol_count;
} sched_args;

static kb_code check_enum(int v, int max, const char *field, bool required, kb_error *err) {
    if (v == 0 && required) return kb_error_set(err, KB_REASON_FIELD_REQUIRED, field, "%s is required", field);
    if (v < 0 || v > max) return kb_error_set(err, KB_REASON_INVALID_ENUM, field, "unknown %s", field);
    return KB_CODE_OK;
}

static kb_code check_args(const sched_args *s, int32_t *start, kb_error *err) {
    kb_code code = check_enum(s->method, METHOD(SCT), "method", true, err);
    if (!code) code = check_enum(s->period, PERIOD(QUARTERLY), "period", true, err);
    if (code) return code;
    if (s->reminder == CH(SMS))
        return kb_error_set(err, KB_REASON_SMS_NOT_SUPPORTED, "reminder",
                            "reminders go by e-mail, e-invoice or post, never by SMS");
    if (!code) code = check_enum(s->reminder, CH(NONE), "reminder", false, err);
    if (code) return code;
    if (!s->start[0]) return kb_error_set(err, KB_REASON_FIELD_REQUIRED, "start_date", "start_date is required");
    if (!kb_invoice_day(s->start, start) || kb_civil_from_days(*start).year > START_YEAR_MAX)
        return kb_error_set(err, KB_REASON_INVALID_DATE, "start_date", "start_date must be YYYY-MM-DD");
    if (!s->count && s->amount <= 0)
        return kb_error_set(err, s->amount ? KB_REASON_INVALID_AMOUNT : KB_REASON_FIELD_REQUIRED,
                            s->amount ? "instalment_amount" : "count",
                            "give count (instalments) or instalment_amount (> 0)");
    if (s->count > KB_PLAN_INSTALMENTS_MAX)
        return kb_error_set(err, KB_REASON_TOO_MANY_ITEMS, "count", "at most %d instalments",
                            KB_PLAN_INSTALMENTS_MAX);
    if (s->tol_count > KB_PLAN_INSTALMENTS_MAX || s->tol_days > 365)
        return kb_error_set(err, KB_REASON_SETTING_OUT_OF_RANGE,
                            s->tol_count > KB_PLAN_INSTALMENTS_MAX ? "tolerance_count" : "tolerance_days",
                            "tolerance: at most 365 days or 120 instalments");
    return KB_CODE_OK;
}

/* Emits PlanScheduled: the arguments and the schedule of total they give. */
static kb_code emit_schedule(kb_decide_ctx *c, const sched_args *s, int64_t total) {
    int32_t start;
    kb_code code = check_args(s, &start, c->err);
    if (code) return code;
    int64_t amounts[KB_PLAN_INSTALMENTS_MAX];
    int32_t days[KB_PLAN_INSTALMENTS_MAX];
    uint32_t n = 0;
    kb_status st = kb_plan_schedule(total, s->count, s->amount, start, s->period, amounts, days,
                                    KB_PLAN_INSTALMENTS_MAX, &n);
    if (st != KB_OK)
        return kb_error_set(c->err, KB_REASON_TOO_MANY_ITEMS,
                            s->count ? "count" : "instalment_amount",
                            "the schedule needs more than %d instalments", KB_PLAN_INSTALMENTS_MAX);
    Kasboek__V1__PlanScheduled *e = EMIT(c, Kasboek__V1__PlanScheduled,
                                         KASBOEK__V1__PLAN_SCHEDULED__INIT, BODY(PLAN_SCHEDULED));
    Instalment **v = kb_arena_alloc(c->arena, n * sizeof *v);
    if (!e || !v) return c->err->code ? c->err->code : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    for (uint32_t k = 0; k < n; k++) {
        v[k] = KB_NEW(c->arena, Instalment, KASBOEK__V1__INSTALMENT__INIT);
        if (!v[k]) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
        v[k]->number = k + 1;
        v[k]->due_date = day_text(c->arena, days[k]);
        v[k]->amount = amounts[k];
        v[k]->status = IS(PLANNED);
    }
    e->method = s->method;
    e->start_date = (char *)s->start;
    e->period = s->period;
    e->count = n;
    e->instalment_amount = s->count ? 0 : s->amount;
    e->reminder = s->reminder ? s->reminder : CH(EMAIL);
    e->early_recalc = s->early_recalc;
    e->tolerance_days = s->tol_days;
    e->tolerance_count = s->tol_count;
    e->n_instalments = n;
    e->instalments = v;
    return KB_CODE_OK;
}

/* ---------------------------------------------------------------- create */

static size_t create_reads(const ProtobufCMessage *cmd, const kb_aggregate **agg, const char **id,
                           size_t cap) {
    const Kasboek__V1__CreatePlanRequest *r = (const void *)cmd;
    size_t n = r->n_invoice_ids < cap ? r->n_invoice_ids : cap;
    for (size_t i = 0; i < n; i++) {
        agg[i] = &kb_invoice_aggregate;
        id[i] = r->invoice_ids[i];
    }
    return n;
}

/* One covered invoice: open, in the plan's currency, named once. */
static kb_code invoice_item(kb_decide_ctx *c, const Kasboek__V1__CreatePlanRequest *r, size_t i,
                            const char **currency, Item *it) {
    char f[KB_FIELD_LEN_MAX];
    snprintf(f, sizeof f, "invoice_ids[%zu]", i);
    const Kasboek__V1__Invoice *inv = (const void *)c->reads[i];
    for (size_t j = 0; j < i; j++)
        if (strcmp(r->invoice_ids[j], r->invoice_ids[i]) == 0)
            return kb_error_set(c->err, KB_REASON_DUPLICATE_KEY, f, "invoice %s is named twice",
                                r->invoice_ids[i]);
    if (!kb_id_valid(r->invoice_ids[i]))
        return kb_error_set(c->err, KB_REASON_INVALID_ID, f, "not an invoice id");
    if (!inv) return kb_error_set(c->err, KB_REASON_INVOICE_NOT_FOUND, f, "no invoice %s", r->invoice_ids[i]);
    if (inv->status != KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN ||
        inv->amount_due - inv->amount_pending <= 0)
        return kb_error_set(c->err, KB_REASON_INVOICE_NOT_OPEN, f, "invoice %s has nothing open",
                            inv->invoice_id);
    if (**currency && strcmp(*currency, inv->currency) != 0)
        return kb_error_set(c->err, KB_REASON_CURRENCY_MISMATCH, f, "invoice %s is in %s, the plan in %s",
                            inv->invoice_id, inv->currency, *currency);
    *currency = inv->currency;
    it->invoice_id = r->invoice_ids[i];
    it->amount = inv->amount_due - inv->amount_pending;
    return KB_CODE_OK;
}

/* The items (invoices, then cases), their currency and total. */
static kb_code plan_items(kb_decide_ctx *c, const Kasboek__V1__CreatePlanRequest *r,
                          Kasboek__V1__PlanCreated *e) {
    size_t n = r->n_invoice_ids + r->n_cases;
    if (n == 0)
        return kb_error_set(c->err, KB_REASON_FIELD_REQUIRED, "invoice_ids",
                            "a plan covers at least one invoice or collection case");
    if (n > KB_PLAN_ITEMS_MAX)
        return kb_error_set(c->err, KB_REASON_TOO_MANY_ITEMS, "invoice_ids",
                            "a plan covers at most %d invoices and cases", KB_PLAN_ITEMS_MAX);
    const char *cur = r->currency;
    if (cur[0] && kb_currency_exponent(cur) < 0)
        return kb_error_set(c->err, KB_REASON_UNKNOWN_CURRENCY, "currency", "unknown currency");
    e->items = kb_arena_alloc(c->arena, n * sizeof *e->items);
    if (!e->items) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    int64_t total = 0;
    char f[KB_FIELD_LEN_MAX];
    for (size_t i = 0; i < n; i++) {
        Item *it = e->items[i] = KB_NEW(c->arena, Item, KASBOEK__V1__PLAN_ITEM__INIT);
        if (!it) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
        kb_code code = KB_CODE_OK;
        if (i < r->n_invoice_ids) {
            code = invoice_item(c, r, i, &cur, it);
        } else {
            const Kasboek__V1__PlanCase *pc = r->cases[i - r->n_invoice_ids];
            snprintf(f, sizeof f, "cases[%zu]", i - r->n_invoice_ids);
            if (!kb_id_valid(pc->ref)) code = kb_error_set(c->err, KB_REASON_INVALID_ID, f, "case ref must be an id");
            else if (pc->amount <= 0) code = kb_error_set(c->err, KB_REASON_INVALID_AMOUNT, f, "a case amount must be > 0");
            it->case_ref = pc->ref;
            it->amount = pc->amount;
        }
        if (code) return code;
        if (!kb_add_checked(total, it->amount, &total))
            return kb_error_set(c->err, KB_REASON_AMOUNT_OVERFLOW, "cases", "the plan total overflows");
    }
    if (!cur[0]) return kb_error_set(c->err, KB_REASON_FIELD_REQUIRED, "currency", "a plan of cases needs a currency");
    e->n_items = n;
    e->currency = (char *)cur;
    e->total = total;
    return KB_CODE_OK;
}

static kb_code decide_create(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                             kb_decide_ctx *c) {
    (void)state;
    const Kasboek__V1__CreatePlanRequest *r = (const void *)msg;
    const PlanSettings *ps = (const void *)c->peer;
    KB_VERIFY(ps);
    if (!r->customer_id[0] || !kb_id_valid(r->customer_id))
        return kb_error_set(c->err, r->customer_id[0] ? KB_REASON_INVALID_ID : KB_REASON_FIELD_REQUIRED,
                            "customer_id", "customer_id must be an id");
    Kasboek__V1__PlanCreated *e = EMIT(c, Kasboek__V1__PlanCreated, KASBOEK__V1__PLAN_CREATED__INIT,
                                       BODY(PLAN_CREATED));
    Kasboek__V1__PlanTerms *t = KB_NEW(c->arena, Kasboek__V1__PlanTerms, KASBOEK__V1__PLAN_TERMS__INIT);
    if (!e || !t) return c->err->code ? c->err->code : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    kb_code code = plan_items(c, r, e);
    if (code) return code;
    /* the tenant's settings as they are now; later changes touch new plans only */
    t->early_days = ps->early_days;
    t->reminder_offset_days = ps->reminder_offset_days;
    t->tolerance_days = r->tolerance_case == KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_DAYS
                            ? r->tolerance_days
                        : r->tolerance_case ? 0 : ps->default_tolerance_days;
    t->tolerance_count = r->tolerance_case == KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT
                             ? r->tolerance_count
                         : r->tolerance_case ? 0 : ps->default_tolerance_count;
    e->customer_id = r->customer_id;
    e->method = r->method;
    e->terms = t;
    sched_args s = {.method = r->method,
                    .start = r->start_date,
                    .period = r->period,
                    .count = r->split_case == KASBOEK__V1__CREATE_PLAN_REQUEST__SPLIT_COUNT ? r->count : 0,
                    .amount = r->split_case == KASBOEK__V1__CREATE_PLAN_REQUEST__SPLIT_INSTALMENT_AMOUNT
                                  ? r->instalment_amount : 0,
                    .reminder = r->reminder,
                    .early_recalc = r->early_recalc,
                    .tol_days = t->tolerance_days,
                    .tol_count = t->tolerance_count};
    if (r->split_case == KASBOEK__V1__CREATE_PLAN_REQUEST__SPLIT_COUNT && r->count == 0)
        return kb_error_set(c->err, KB_REASON_INVALID_QUANTITY, "count", "count must be 1-120");
    return emit_schedule(c, &s, e->total);
}

/* ---------------------------------------------------------------- update */

static kb_code not_draft(kb_decide_ctx *c, const char *field) {
    return kb_error_set(c->err, KB_REASON_PLAN_NOT_DRAFT, field,
                        "%s can change only while the plan is a draft", field);
}

/* The field an active plan may not change, or NULL. */
static const char *frozen_field(const Kasboek__V1__UpdatePlanRequest *r) {
    if (r->method) return "method";
    if (r->start_date[0]) return "start_date";
    if (r->period) return "period";
    if (r->split_case == KASBOEK__V1__UPDATE_PLAN_REQUEST__SPLIT_COUNT) return "count";
    if (r->split_case) return "instalment_amount";
    if (r->early_case) return "early_recalc";
    return NULL;
}

static kb_code decide_update(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                             kb_decide_ctx *c) {
    const Plan *p = (const void *)state;
    const Kasboek__V1__UpdatePlanRequest *r = (const void *)msg;
    bool tol_days = r->tolerance_case == KASBOEK__V1__UPDATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_DAYS;
    uint32_t td = r->tolerance_case ? (tol_days ? r->tolerance_days : 0) : p->terms->tolerance_days;
    uint32_t tc = r->tolerance_case ? (tol_days ? 0 : r->tolerance_count) : p->terms->tolerance_count;
    Kasboek__V1__ReminderChannel ch = r->reminder ? r->reminder : p->reminder;
    if (p->status == PS(CANCELLED) || p->status == PS(COMPLETED))
        return kb_error_set(c->err, KB_REASON_PLAN_CLOSED, "plan_id", "the plan is closed");
    if (p->status != PS(DRAFT)) {
        const char *f = frozen_field(r);
        if (f) return not_draft(c, f);
        if (!r->reminder && !r->tolerance_case)
            return kb_error_set(c->err, KB_REASON_FIELD_REQUIRED, "reminder", "nothing to change");
        sched_args s = {.method = p->method, .start = p->start_date, .period = p->period,
                        .count = p->count, .reminder = ch, .tol_days = td, .tol_count = tc};
        int32_t start;
        kb_code code = check_args(&s, &start, c->err);
        if (code) return code;
        Kasboek__V1__PlanTermsChanged *e =
            EMIT(c, Kasboek__V1__PlanTermsChanged, KASBOEK__V1__PLAN_TERMS_CHANGED__INIT,
                 BODY(PLAN_TERMS_CHANGED));
        if (!e) return c->err->code;
        e->reminder = ch;
        e->tolerance_days = td;
        e->tolerance_count = tc;
        return KB_CODE_OK;
    }
    bool by_count = r->split_case == KASBOEK__V1__UPDATE_PLAN_REQUEST__SPLIT_COUNT;
    if (by_count && r->count == 0)
        return kb_error_set(c->err, KB_REASON_INVALID_QUANTITY, "count", "count must be 1-120");
    sched_args s = {.method = r->method ? r->method : p->method,
                    .start = r->start_date[0] ? r->start_date : p->start_date,
                    .period = r->period ? r->period : p->period,
                    .count = r->split_case ? (by_count ? r->count : 0)
                                           : (p->instalment_amount ? 0 : p->count),
                    .amount = r->split_case ? (by_count ? 0 : r->instalment_amount)
                                            : p->instalment_amount,
                    .reminder = ch,
                    .early_recalc = r->early_case ? r->early_recalc : p->early_recalc,
                    .tol_days = td,
                    .tol_count = tc};
    return emit_schedule(c, &s, p->total);
}

/* ------------------------------------------------------------ lifecycle */

static kb_code need_reason(const char *reason, kb_error *err) {
    return reason[0] ? KB_CODE_OK : kb_error_set(err, KB_REASON_FIELD_REQUIRED, "reason", "a reason is required");
}

static kb_code decide_activate(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                               kb_decide_ctx *c) {
    (void)msg;
    const Plan *p = (const void *)state;
    if (p->status != PS(DRAFT))
        return kb_error_set(c->err, KB_REASON_PLAN_NOT_DRAFT, "plan_id", "the plan is active already");
    return EMIT(c, Kasboek__V1__PlanActivated, KASBOEK__V1__PLAN_ACTIVATED__INIT,
                BODY(PLAN_ACTIVATED)) ? KB_CODE_OK : c->err->code;
}

static kb_code decide_pause(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                            kb_decide_ctx *c) {
    const Plan *p = (const void *)state;
    const Kasboek__V1__PausePlanRequest *r = (const void *)msg;
    kb_code code = need_reason(r->reason, c->err);
    if (code) return code;
    if (!open_status(p->status))
        return kb_error_set(c->err, KB_REASON_PLAN_NOT_ACTIVE, "plan_id", "only an active plan pauses");
    Kasboek__V1__PlanPaused *e =
        EMIT(c, Kasboek__V1__PlanPaused, KASBOEK__V1__PLAN_PAUSED__INIT, BODY(PLAN_PAUSED));
    if (!e) return c->err->code;
    e->reason = r->reason;
    return KB_CODE_OK;
}

static kb_code decide_resume(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                             kb_decide_ctx *c) {
    (void)msg;
    const Plan *p = (const void *)state;
    if (p->status != PS(PAUSED))
        return kb_error_set(c->err, KB_REASON_PLAN_NOT_PAUSED, "plan_id", "the plan is not paused");
    return EMIT(c, Kasboek__V1__PlanResumed, KASBOEK__V1__PLAN_RESUMED__INIT, BODY(PLAN_RESUMED))
               ? KB_CODE_OK : c->err->code;
}

static kb_code decide_cancel(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                             kb_decide_ctx *c) {
    const Plan *p = (const void *)state;
    const Kasboek__V1__CancelPlanRequest *r = (const void *)msg;
    kb_code code = need_reason(r->reason, c->err);
    if (code) return code;
    if (p->status == PS(CANCELLED) || p->status == PS(COMPLETED))
        return kb_error_set(c->err, KB_REASON_PLAN_CLOSED, "plan_id", "the plan is closed");
    Kasboek__V1__PlanCancelled *e =
        EMIT(c, Kasboek__V1__PlanCancelled, KASBOEK__V1__PLAN_CANCELLED__INIT, BODY(PLAN_CANCELLED));
    if (!e) return c->err->code;
    e->reason = r->reason;
    return KB_CODE_OK;
}

/* ------------------------------------------------------------ the tables */

static void plan_result(ProtobufCMessage *state, Kasboek__V1__CommandResult *r) {
    r->plan = (Plan *)state;
}

static void settings_result(ProtobufCMessage *state, Kasboek__V1__CommandResult *r) {
    r->plan_settings = (PlanSettings *)state;
}

static bool no_index(const ProtobufCMessage *state, const char *tenant, kb_index_set *out) {
    (void)state, (void)tenant, (void)out;
    return true;
}

const kb_aggregate kb_plan_aggregate = {
    .type = "plan",
    .state_desc = &kasboek__v1__payment_plan__descriptor,
    .create = plan_create,
    .evolve = plan_evolve,
    .index = plan_index,
};

const kb_aggregate kb_plan_settings_aggregate = {
    .type = "plan_settings",
    .state_desc = &kasboek__v1__plan_settings__descriptor,
    .create = settings_create,
    .evolve = settings_evolve,
    .index = no_index,
};

static const kb_peer settings_peer = {.agg = &kb_plan_settings_aggregate, .id = "tenant"};

#define PLAN_CMD(name, descriptor_, fn)                                                        \
    {                                                                                          \
        .method = name, .desc = &descriptor_, .agg = &kb_plan_aggregate, .id_field = "plan_id", \
        .not_found = KB_REASON_PLAN_NOT_FOUND, .decide = fn, .result = plan_result             \
    }

const kb_command kb_plan_commands[] = {
    {.method = "CreatePlan",
     .desc = &kasboek__v1__create_plan_request__descriptor,
     .agg = &kb_plan_aggregate,
     .id_field = "plan_id",
     .creates = true,
     .exists = KB_REASON_PLAN_EXISTS,
     .not_found = KB_REASON_PLAN_NOT_FOUND,
     .peer = &settings_peer,
     .reads = create_reads,
     .decide = decide_create,
     .result = plan_result},
    PLAN_CMD("UpdatePlan", kasboek__v1__update_plan_request__descriptor, decide_update),
    PLAN_CMD("ActivatePlan", kasboek__v1__activate_plan_request__descriptor, decide_activate),
    PLAN_CMD("PausePlan", kasboek__v1__pause_plan_request__descriptor, decide_pause),
    PLAN_CMD("ResumePlan", kasboek__v1__resume_plan_request__descriptor, decide_resume),
    PLAN_CMD("CancelPlan", kasboek__v1__cancel_plan_request__descriptor, decide_cancel),
    {.method = "UpdatePlanSettings",
     .desc = &kasboek__v1__update_plan_settings_request__descriptor,
     .agg = &kb_plan_settings_aggregate,
     .fixed_id = "tenant",
     .upsert = true,
     .peer = &settings_peer,
     .decide = decide_settings,
     .result = settings_result},
    {.method = NULL},
};
