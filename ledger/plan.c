/* Payment plans (DOMAIN.md §5): the schedule, the draft and its edits,
 * activation, pause, resume and cancel; payments allocated oldest first and
 * re-spread when early; reversals; what the clock advances. */
#include "plan.h"

#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "calendar.h"
#include "invoice.h"
#include "money.h"
#include "payment.h"
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
        if ((int64_t)count > total) return KB_ERR_ARG; /* an instalment of 0 */
        st = kb_money_split(total, count, amounts);
        *n = count;
    } else {
        st = kb_money_split_by_amount(total, amount, amounts, cap, n);
    }
    for (uint32_t k = 0; st == KB_OK && k < *n; k++) days[k] = due_day(start, period, k);
    return st;
}

static Kasboek__V1__PlanAllocation *allocation(kb_decide_ctx *c, uint32_t number, int64_t amount,
                                               Kasboek__V1__InstalmentStatus st);
static Kasboek__V1__InstalmentStatus *statuses_after(kb_arena *a, const Plan *p,
                                                     Kasboek__V1__PlanAllocation *const *changes,
                                                     size_t n_changes);
static kb_code auto_cancel(kb_decide_ctx *c, const Plan *p, const Kasboek__V1__PlanTerms *t,
                           const Kasboek__V1__InstalmentStatus *st, int32_t today);

/* --------------------------------------------------------------- evolve */

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

/* evolve() changes instalments of a state it may share with the event:
 * own_instalments copies the array once per event, instalment_mut the one
 * instalment it returns (NULL when number names none). */
static void own_instalments(Plan *p, kb_arena *a) {
    Instalment **v = kb_arena_alloc(a, (p->n_instalments + 1) * sizeof *v);
    KB_VERIFY(v);
    if (p->n_instalments) memcpy(v, p->instalments, p->n_instalments * sizeof *v);
    p->instalments = v;
}

static Instalment *instalment_mut(Plan *p, uint32_t number, kb_arena *a) {
    if (number == 0 || number > p->n_instalments) return NULL;
    Instalment *in = kb_arena_copy(a, p->instalments[number - 1], sizeof *in);
    KB_VERIFY(in);
    return p->instalments[number - 1] = in;
}

/* Cancelling leaves every unpaid instalment skipped. */
static void skip_unpaid(Plan *p, kb_arena *a) {
    own_instalments(p, a);
    for (size_t i = 0; i < p->n_instalments; i++)
        if (p->instalments[i]->status != IS(PAID)) instalment_mut(p, (uint32_t)i + 1, a)->status = IS(SKIPPED);
}

/* An instalment with nothing to pay that is not paid yet: a 0.00 one of a
 * schedule from before they were refused. It counts as paid, never due. */
static bool nothing_open(const Instalment *in) {
    return in->paid >= in->amount && in->status != IS(PAID) && in->status != IS(SKIPPED);
}

/* The status of an open plan from its instalments. */
static Kasboek__V1__PlanStatus open_status_of(const Plan *p) {
    bool due = false, collecting = false;
    for (size_t i = 0; i < p->n_instalments; i++) {
        Kasboek__V1__InstalmentStatus s = p->instalments[i]->status;
        if (s == IS(OVERDUE) || s == IS(FAILED)) return PS(OVERDUE);
        collecting |= s == IS(COLLECTING);
        due |= s == IS(DUE);
    }
    return collecting ? PS(COLLECTION_IN_PROGRESS) : due ? PS(DUE) : PS(ACTIVE);
}

static Kasboek__V1__PlanPayment *plan_payment(Plan *p, const char *id, kb_arena *a) {
    for (size_t i = 0; i < p->n_payments; i++)
        if (strcmp(p->payments[i]->payment_id, id) == 0) return p->payments[i];
    Kasboek__V1__PlanPayment *pp =
        KB_NEW(a, Kasboek__V1__PlanPayment, KASBOEK__V1__PLAN_PAYMENT__INIT);
    KB_VERIFY(pp);
    pp->payment_id = (char *)id;
    kb_arena_push(a, (void ***)&p->payments, &p->n_payments, pp);
    return pp;
}


/* Applies allocations (copying the instalments it touches). */
static void apply_allocations(Plan *p, Kasboek__V1__PlanAllocation *const *al, size_t n,
                              kb_arena *a) {
    own_instalments(p, a);
    for (size_t k = 0; k < n; k++) {
        Instalment *in = instalment_mut(p, al[k]->number, a);
        if (!in) continue;
        in->paid += al[k]->amount;
        in->status = al[k]->status;
    }
}

/* A payment's allocated, held and overpaid amounts move, and the plan's
 * with them. */
static void evolve_money(Plan *p, const Event *ev, kb_arena *a) {
    if (ev->body_case == BODY(PLAN_PAYMENT_ALLOCATED)) {
        const Kasboek__V1__PlanPaymentAllocated *e = ev->plan_payment_allocated;
        Kasboek__V1__PlanPayment *pp = plan_payment(p, e->payment_id, a);
        pp->amount += e->amount;
        pp->pending += e->pending;
        pp->overpaid += e->overpaid;
        pp->at = ev->occurred_at;
        p->amount_pending += e->pending;
        p->amount_overpaid += e->overpaid;
        apply_allocations(p, e->allocations, e->n_allocations, a);
    } else {
        const Kasboek__V1__PlanPaymentReversed *e = ev->plan_payment_reversed;
        Kasboek__V1__PlanPayment *pp = plan_payment(p, e->payment_id, a);
        pp->amount -= e->amount;
        pp->overpaid -= e->overpaid;
        p->amount_overpaid -= e->overpaid;
        apply_allocations(p, e->allocations, e->n_allocations, a);
        /* only money taken from instalments reopens a completed plan */
        if (e->amount > 0 && p->status == PS(COMPLETED)) p->status = PS(ACTIVE), p->closed_at = 0;
    }
    if (open_status(p->status)) p->status = open_status_of(p);
}

/* The open pause ends on the day of ev: kept in pauses. */
static void close_pause(Plan *p, const Event *ev, kb_arena *a) {
    Kasboek__V1__PlanPause *pz = KB_NEW(a, Kasboek__V1__PlanPause, KASBOEK__V1__PLAN_PAUSE__INIT);
    KB_VERIFY(pz);
    pz->from = p->paused_on;
    pz->to = kb_date_text(a, kb_day_of_instant(ev->occurred_at));
    KB_VERIFY(pz->to);
    kb_arena_push(a, (void ***)&p->pauses, &p->n_pauses, pz);
    p->paused_on = (char *)protobuf_c_empty_string;
    p->paused_from = PS(UNSPECIFIED);
}

static void plan_evolve(ProtobufCMessage *state, const Event *ev, kb_arena *a) {
    Plan *p = (Plan *)state;
    switch (ev->body_case) {
        case BODY(PLAN_PAYMENT_ALLOCATED):
        case BODY(PLAN_PAYMENT_REVERSED):
            evolve_money(p, ev, a);
            break;
        case BODY(PLAN_RESPREAD): {
            const Kasboek__V1__PlanRespread *e = ev->plan_respread;
            own_instalments(p, a);
            for (size_t k = 0; k < e->n_amounts; k++) {
                Instalment *in = instalment_mut(p, e->amounts[k]->number, a);
                if (in) in->amount = e->amounts[k]->amount;
            }
            break;
        }
        case BODY(PLAN_COMPLETED):
            if (p->status == PS(PAUSED)) close_pause(p, ev, a); /* paid off while paused */
            p->status = PS(COMPLETED);
            p->closed_at = ev->occurred_at;
            break;
        case BODY(PLAN_REMINDER_REQUESTED):
        case BODY(PLAN_REMINDER_REPORTED): {
            bool req = ev->body_case == BODY(PLAN_REMINDER_REQUESTED);
            own_instalments(p, a);
            Instalment *in = instalment_mut(p, req ? ev->plan_reminder_requested->instalment
                                                   : ev->plan_reminder_reported->instalment, a);
            if (!in) break;
            in->reminder = req ? KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_REQUESTED
                           : ev->plan_reminder_reported->sent
                               ? KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_SENT
                               : KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_FAILED;
            if (!req) in->reminder_error = ev->plan_reminder_reported->error;
            break;
        }
        case BODY(PLAN_COLLECTION_FAILED):
        case BODY(PLAN_COLLECTION_RETRIED): {
            bool failed = ev->body_case == BODY(PLAN_COLLECTION_FAILED);
            own_instalments(p, a);
            Instalment *in = instalment_mut(p, failed ? ev->plan_collection_failed->instalment
                                                      : ev->plan_collection_retried->instalment, a);
            if (!in) break;
            in->status = failed ? IS(FAILED) : IS(COLLECTING);
            if (open_status(p->status)) p->status = open_status_of(p);
            break;
        }
        case BODY(PLAN_ADVANCED):
            apply_allocations(p, ev->plan_advanced->changes, ev->plan_advanced->n_changes, a);
            if (open_status(p->status)) p->status = open_status_of(p);
            break;
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
            p->paused_on = kb_date_text(a, kb_day_of_instant(ev->occurred_at));
            KB_VERIFY(p->paused_on);
            break;
        case BODY(PLAN_RESUMED): /* payments while paused may have moved it */
            close_pause(p, ev, a);
            p->status = open_status_of(p);
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
 * ListPlans reads (every plan, by status, by customer), newest first. */
void kb_plan_list_prefix(kb_key *k, const char *tenant, const char *dim, const char *v) {
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, "plan");
    kb_key_add(k, "by");
    kb_key_add(k, dim);
    kb_key_add(k, v);
    kb_key_raw(k, "/", 1);
}

static bool list_add(kb_index_set *out, const char *tenant, const Plan *p, const char *dim,
                     const char *v) {
    kb_key k;
    kb_plan_list_prefix(&k, tenant, dim, v);
    kb_key_raw_hex64(&k, (uint64_t)p->created_at);
    kb_key_add(&k, p->plan_id);
    return kb_index_set_add(out, &k, "");
}

/* The days in (after, until] the plan stood still: its closed pauses
 * [from, to), and, while it is paused, the open one as if resumed on
 * until. */
static int32_t paused_days(const Plan *p, int32_t after, int32_t until) {
    int32_t n = 0, from, to;
    for (size_t i = 0; i <= p->n_pauses; i++) {
        if (i < p->n_pauses) {
            if (!kb_date_given(p->pauses[i]->from, &from) || !kb_date_given(p->pauses[i]->to, &to)) continue;
        } else if (p->status != PS(PAUSED) || !kb_date_given(p->paused_on, &from)) {
            continue;
        } else {
            to = until; /* as it closes when resumed on until: [from, until) */
        }
        int32_t lo = from > after + 1 ? from : after + 1, hi = to < until + 1 ? to : until + 1;
        if (hi > lo) n += hi - lo;
    }
    return n;
}

/* Whether an instalment in status st (what it is, or what this advance
 * makes it) is to be reminded, and on which day (*day). One reminder per
 * instalment, sent when it becomes overdue (DOMAIN.md §5, the manual's
 * "Verstuurd bij Overdue"): the day after its due date, plus the plan's
 * offset. A negative offset (settings allow -60..60) is a notice before
 * the due date, on due + offset. No payment reminder for an instalment
 * the bank is collecting by direct debit (only that notice before its
 * date), nor for a paid, skipped or 0.00 one, nor a second one, nor by
 * channel none. advance and kb_plan_next_action_day both ask here, so they
 * agree on the day. */
static bool reminder_day(const Plan *p, const Instalment *in, Kasboek__V1__InstalmentStatus st,
                         int32_t *day) {
    int32_t offset = p->terms ? p->terms->reminder_offset_days : 0, due;
    if (p->reminder == CH(NONE) ||
        in->reminder != KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_NONE || st == IS(PAID) ||
        st == IS(SKIPPED) || nothing_open(in) || !kb_date_given(in->due_date, &due))
        return false;
    if (offset < 0) {
        *day = due + offset;
        return true;
    }
    if (st == IS(COLLECTING)) return false;
    *day = due + 1 + offset;
    return true;
}

/* The next day the clock changes an instalment of an open plan: a planned
 * one's due date, or the day after a due one's; INT32_MAX when none. */
int32_t kb_plan_next_action_day(const Kasboek__V1__PaymentPlan *p) {
    int32_t next = INT32_MAX, due, remind, first_late = INT32_MAX;
    uint32_t late_n = 0;
    if (!open_status(p->status)) return next;
    for (size_t i = 0; i < p->n_instalments; i++) {
        const Instalment *in = p->instalments[i];
        if (!kb_date_given(in->due_date, &due)) continue;
        if (in->status == IS(PLANNED) && due < next) next = due;
        if (in->status == IS(DUE) && due + 1 < next) next = due + 1;
        if (nothing_open(in) && due < next) next = due; /* paid on its date */
        /* the day its reminder is due (one per instalment, never twice) */
        if (reminder_day(p, in, in->status, &remind) && remind < next) next = remind;
        /* the day an overdue one passes the tolerance in days */
        bool late = in->status == IS(OVERDUE) || in->status == IS(FAILED);
        uint32_t tol = p->terms ? p->terms->tolerance_days : 0;
        /* (a pause moves it by the days it stood still after the due date) */
        int64_t out = (int64_t)due + tol + 1 + paused_days(p, due, INT32_MAX - 1);
        if (late && tol && out < next) next = (int32_t)out;
        if (late) late_n++, first_late = due < first_late ? due : first_late;
    }
    /* more late instalments than tolerance_count: due already. Whatever
     * makes one late cancels such a plan in the same commit (auto_cancel);
     * this is for a plan stored before FailPlanCollection and reversals
     * did, so that Tick (and AdvancePlan) still cancel it. */
    uint32_t tol_n = p->terms ? p->terms->tolerance_count : 0;
    if (tol_n && late_n > tol_n && first_late < next) next = first_late;
    return next;
}

void kb_plan_due_prefix(kb_key *k) {
    kb_key_init(k);
    kb_key_add(k, KB_SYS_PREFIX);
    kb_key_add(k, "plan_due");
    kb_key_raw(k, "/", 1);
}

static bool plan_index(const ProtobufCMessage *state, const char *tenant, kb_index_set *out) {
    const Plan *p = (const void *)state;
    if (p->status == PS(UNSPECIFIED)) return true;
    char st[12];
    snprintf(st, sizeof st, "%d", (int)p->status);
    bool ok = list_add(out, tenant, p, "all", "plans") &&
              list_add(out, tenant, p, "status", st) &&
              list_add(out, tenant, p, "customer", p->customer_id);
    int32_t next = kb_plan_next_action_day(p);
    if (ok && next != INT32_MAX) { /* Tick's list, in day order */
        kb_key k;
        kb_plan_due_prefix(&k);
        kb_key_raw_hex64(&k, (uint64_t)(int64_t)next);
        kb_key_add(&k, tenant);
        kb_key_add(&k, p->plan_id);
        ok = kb_index_set_add(out, &k, "");
    }
    return ok;
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
    if (!kb_date_given(s->start, start) || kb_civil_from_days(*start).year > START_YEAR_MAX)
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

/* A split by count gives every instalment at least one minor unit: count
 * above the total would make instalments of 0.00, never to be paid. */
static kb_code check_count(const sched_args *s, int64_t total, const char *currency,
                           kb_error *err) {
    if (!s->count || (int64_t)s->count <= total) return KB_CODE_OK;
    char have[32];
    kb_money_format(total, currency, have, sizeof have);
    return kb_error_set(err, KB_REASON_INVALID_QUANTITY, "count",
                        "%s %s in %u instalments makes instalments of 0: at most %lld", have,
                        currency, s->count, (long long)total);
}

/* Emits PlanScheduled: the arguments and the schedule of total (in
 * currency) they give. */
static kb_code emit_schedule(kb_decide_ctx *c, const sched_args *s, int64_t total,
                             const char *currency) {
    int32_t start;
    kb_code code = check_args(s, &start, c->err);
    if (!code) code = check_count(s, total, currency, c->err);
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
        v[k]->due_date = kb_date_text(c->arena, days[k]);
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

static size_t create_reads(const ProtobufCMessage *state, const ProtobufCMessage *cmd,
                           const kb_aggregate **agg, const char **id, size_t cap) {
    (void)state;
    const Kasboek__V1__CreatePlanRequest *r = (const void *)cmd;
    size_t n = r->n_invoice_ids < cap ? r->n_invoice_ids : cap;
    for (size_t i = 0; i < n; i++) {
        agg[i] = &kb_invoice_aggregate;
        id[i] = r->invoice_ids[i];
    }
    return n;
}

/* One covered invoice: open, in the plan's currency, named once. */
/* An invoice a plan may take over (at creation and again at activation):
 * in no other plan, with no bank debit processing, no refund not final
 * (failing, it would apply its money again on top of the plan's) and room
 * for one more payments entry (the plan's). */
static kb_code plannable(const Kasboek__V1__Invoice *inv, const char *field, kb_error *err) {
    if (inv->plan_id[0])
        return kb_error_set(err, KB_REASON_INVOICE_IN_PLAN, field,
                            "payment plan %s collects invoice %s already", inv->plan_id, inv->invoice_id);
    if (inv->amount_pending)
        return kb_error_set(err, KB_REASON_INVOICE_PAYMENT_PENDING, field,
                            "a bank debit for invoice %s is still processing: plan it once it "
                            "settles or fails", inv->invoice_id);
    if (inv->amount_refund_pending)
        return kb_error_set(err, KB_REASON_INVOICE_REFUND_PENDING, field,
                            "a refund on invoice %s is not final: plan it once it settles or fails",
                            inv->invoice_id);
    if (inv->n_payments >= KB_INVOICE_PAYMENTS_MAX)
        return kb_error_set(err, KB_REASON_TOO_MANY_ITEMS, field,
                            "invoice %s holds %d payments, the most it takes", inv->invoice_id,
                            KB_INVOICE_PAYMENTS_MAX);
    return KB_CODE_OK;
}

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
    kb_code code = plannable(inv, f, c->err);
    if (code) return code;
    if (**currency && strcmp(*currency, inv->currency) != 0)
        return kb_error_set(c->err, KB_REASON_CURRENCY_MISMATCH, f, "invoice %s is in %s, the plan in %s",
                            inv->invoice_id, inv->currency, *currency);
    *currency = inv->currency;
    it->invoice_id = r->invoice_ids[i];
    it->amount = inv->amount_due;
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
    return emit_schedule(c, &s, e->total, e->currency);
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
        /* a tolerance lowered below what is late already: cancelled now (a
         * paused plan, when it resumes) */
        if (!open_status(p->status) || !p->terms) return KB_CODE_OK;
        Kasboek__V1__PlanTerms t = *p->terms;
        t.tolerance_days = td;
        t.tolerance_count = tc;
        return auto_cancel(c, p, &t, statuses_after(c->arena, p, NULL, 0),
                           kb_day_of_instant(c->now));
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
    return emit_schedule(c, &s, p->total, p->currency);
}

/* ------------------------------------------------------------ lifecycle */

static kb_code need_reason(const char *reason, kb_error *err) {
    return reason[0] ? KB_CODE_OK : kb_error_set(err, KB_REASON_FIELD_REQUIRED, "reason", "a reason is required");
}

/* ActivatePlan reads the invoices the plan covers, in its item order. */
static size_t activate_reads(const ProtobufCMessage *state, const ProtobufCMessage *cmd,
                             const kb_aggregate **agg, const char **id, size_t cap) {
    (void)cmd;
    const Plan *p = (const void *)state;
    size_t n = 0;
    for (size_t i = 0; p && i < p->n_items && n < cap; i++) {
        if (!p->items[i]->invoice_id[0]) continue;
        agg[n] = &kb_invoice_aggregate;
        id[n++] = p->items[i]->invoice_id;
    }
    return n;
}

/* Each invoice is still open for what the draft counted, and in no other
 * plan: the plan takes over collecting it. */
static kb_code check_invoices_unchanged(const Plan *p, kb_decide_ctx *c) {
    size_t k = 0;
    for (size_t i = 0; i < p->n_items; i++) {
        const Item *it = p->items[i];
        if (!it->invoice_id[0]) continue;
        const Kasboek__V1__Invoice *inv = k < c->n_reads ? (const void *)c->reads[k] : NULL;
        k++;
        if (!inv) return kb_error_set(c->err, KB_REASON_INVOICE_NOT_FOUND, "plan_id", "no invoice %s", it->invoice_id);
        kb_code code = plannable(inv, "plan_id", c->err);
        if (code) return code;
        int64_t open = inv->amount_due;
        if (inv->status != KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN || open != it->amount)
            return kb_error_set(c->err, KB_REASON_PLAN_INVOICE_CHANGED, "plan_id",
                                "invoice %s has %lld minor units open, the plan counted %lld: "
                                "cancel this draft and create the plan again",
                                inv->invoice_id, (long long)(inv->status == KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN ? open : 0),
                                (long long)it->amount);
    }
    return KB_CODE_OK;
}

static kb_code decide_activate(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                               kb_decide_ctx *c) {
    (void)msg;
    const Plan *p = (const void *)state;
    if (p->status != PS(DRAFT))
        return kb_error_set(c->err, KB_REASON_PLAN_NOT_DRAFT, "plan_id", "the plan is active already");
    kb_code code = check_invoices_unchanged(p, c);
    if (code) return code;
    return EMIT(c, Kasboek__V1__PlanActivated, KASBOEK__V1__PLAN_ACTIVATED__INIT,
                BODY(PLAN_ACTIVATED)) ? KB_CODE_OK : c->err->code;
}

/* The instalments' statuses once changes apply (an arena array, one per
 * instalment; NULL when out of memory). */
static Kasboek__V1__InstalmentStatus *statuses_after(kb_arena *a, const Plan *p,
                                                     Kasboek__V1__PlanAllocation *const *changes,
                                                     size_t n_changes) {
    Kasboek__V1__InstalmentStatus *st = kb_arena_alloc(a, (p->n_instalments + 1) * sizeof *st);
    for (size_t i = 0; st && i < p->n_instalments; i++) {
        st[i] = p->instalments[i]->status;
        for (size_t k = 0; k < n_changes; k++)
            if (changes[k]->number == p->instalments[i]->number) st[i] = changes[k]->status;
    }
    return st;
}

/* Past the plan's overdue tolerance t (more days overdue than
 * tolerance_days, or more overdue or failed instalments than
 * tolerance_count; 0 = that limit is off), the plan is cancelled with a
 * system reason and its unpaid instalments are skipped. st: the
 * instalments' statuses after this command's (or reaction's) events.
 *
 * The count limit is checked by whatever makes an instalment late, in the
 * same commit: Tick's AdvancePlan (and ResumePlan), FailPlanCollection,
 * a reversal that reopens instalments (kb_payment_planning) and UpdatePlan
 * lowering the limit. Leaving it to the next Tick (a day in the due list)
 * would cancel on whichever day Tick next ran, with whatever else that
 * tick advanced folded into the same commit, and let payments and
 * commands land on a plan already past its limit in between: the events
 * would depend on how Tick was split across calls. In the same commit they
 * do not. */
static kb_code auto_cancel(kb_decide_ctx *c, const Plan *p, const Kasboek__V1__PlanTerms *t,
                           const Kasboek__V1__InstalmentStatus *st, int32_t today) {
    if (!t || (!t->tolerance_days && !t->tolerance_count)) return KB_CODE_OK;
    if (!st) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    uint32_t late = 0;
    int32_t days = 0, due;
    for (size_t i = 0; i < p->n_instalments; i++) {
        if (st[i] != IS(OVERDUE) && st[i] != IS(FAILED)) continue;
        late++;
        /* days overdue, less the days the plan stood still */
        int32_t d;
        if (kb_date_given(p->instalments[i]->due_date, &due) &&
            (d = today - due - paused_days(p, due, today)) > days)
            days = d;
    }
    bool by_days = t->tolerance_days && days > (int32_t)t->tolerance_days;
    bool by_count = t->tolerance_count && late > t->tolerance_count;
    if (!by_days && !by_count) return KB_CODE_OK;
    Kasboek__V1__PlanCancelled *e =
        EMIT(c, Kasboek__V1__PlanCancelled, KASBOEK__V1__PLAN_CANCELLED__INIT, BODY(PLAN_CANCELLED));
    if (!e) return c->err->code;
    e->automatic = true;
    e->reason = by_days ? kb_arena_printf(c->arena, "overdue tolerance exceeded: %d days overdue, %u allowed",
                                          (int)days, t->tolerance_days)
                        : kb_arena_printf(c->arena, "overdue tolerance exceeded: %u instalments overdue, %u allowed",
                                          late, t->tolerance_count);
    return e->reason ? KB_CODE_OK : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
}

/* One reminder per instalment once its day (reminder_day: the day it is
 * overdue plus the plan's offset, or a notice before its due date) has
 * come, by the plan's channel; the rest of a long backlog waits for the
 * next tick (an event bound per command). st: the statuses after this
 * advance. */
static kb_code request_reminders(kb_decide_ctx *c, const Plan *p,
                                 const Kasboek__V1__InstalmentStatus *st, int32_t today) {
    if (p->reminder == CH(NONE)) return KB_CODE_OK;
    if (!st) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    int32_t day;
    for (size_t i = 0; i < p->n_instalments && c->n_events < KB_EVENTS_PER_COMMAND_MAX; i++) {
        const Instalment *in = p->instalments[i];
        if (!reminder_day(p, in, st[i], &day) || day > today) continue;
        Kasboek__V1__PlanReminderRequested *e =
            EMIT(c, Kasboek__V1__PlanReminderRequested, KASBOEK__V1__PLAN_REMINDER_REQUESTED__INIT,
                 BODY(PLAN_REMINDER_REQUESTED));
        if (!e) return c->err->code;
        e->instalment = in->number;
        e->channel = p->reminder;
    }
    return KB_CODE_OK;
}

static kb_code decide_report_reminder(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                                      kb_decide_ctx *c) {
    const Plan *p = (const void *)state;
    const Kasboek__V1__ReportPlanReminderRequest *r = (const void *)msg;
    if (r->instalment == 0 || r->instalment > p->n_instalments)
        return kb_error_set(c->err, KB_REASON_INSTALMENT_NOT_FOUND, "instalment",
                            "no instalment %u", r->instalment);
    if (p->instalments[r->instalment - 1]->reminder !=
        KASBOEK__V1__REMINDER_STATUS__REMINDER_STATUS_REQUESTED)
        return kb_error_set(c->err, KB_REASON_REMINDER_NOT_REQUESTED, "instalment",
                            "no reminder of instalment %u waits for a report", r->instalment);
    if (!r->sent && !r->error[0])
        return kb_error_set(c->err, KB_REASON_FIELD_REQUIRED, "error", "a failed delivery needs its error");
    Kasboek__V1__PlanReminderReported *e =
        EMIT(c, Kasboek__V1__PlanReminderReported, KASBOEK__V1__PLAN_REMINDER_REPORTED__INIT,
             BODY(PLAN_REMINDER_REPORTED));
    if (!e) return c->err->code;
    e->instalment = r->instalment;
    e->sent = r->sent;
    e->error = r->sent ? "" : r->error;
    return KB_CODE_OK;
}

/* What today makes of each unpaid instalment: due on its date (an SDD one
 * collecting, with a collection request), overdue the day after, paid when
 * nothing of it is open; then the tolerance, then the reminders. Emits
 * nothing when nothing changes. */
static kb_code advance(kb_decide_ctx *c, const Plan *p, int32_t today) {
    Kasboek__V1__PlanAllocation **v = kb_arena_alloc(c->arena, (p->n_instalments + 1) * sizeof *v);
    uint32_t *col = kb_arena_alloc(c->arena, (p->n_instalments + 1) * sizeof *col);
    if (!v || !col) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    size_t n = 0, nc = 0;
    for (size_t i = 0; i < p->n_instalments; i++) {
        const Instalment *in = p->instalments[i];
        int32_t due;
        if (!kb_date_given(in->due_date, &due) || due > today) continue;
        Kasboek__V1__InstalmentStatus to = in->status;
        if (nothing_open(in))
            to = IS(PAID);
        else if (in->status == IS(PLANNED))
            to = p->method == METHOD(SDD) ? IS(COLLECTING) : IS(DUE);
        if (to == IS(DUE) && due < today) to = IS(OVERDUE);
        if (to == in->status) continue;
        if (to == IS(COLLECTING)) col[nc++] = in->number;
        v[n] = allocation(c, in->number, 0, to);
        if (!v[n++]) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    }
    if (n) { /* the day a tolerance runs out may change no instalment */
        Kasboek__V1__PlanAdvanced *e = EMIT(c, Kasboek__V1__PlanAdvanced,
                                            KASBOEK__V1__PLAN_ADVANCED__INIT, BODY(PLAN_ADVANCED));
        if (!e) return c->err->code;
        e->changes = v;
        e->n_changes = n;
        e->collections_requested = col;
        e->n_collections_requested = nc;
    }
    size_t before = c->n_events;
    const Kasboek__V1__InstalmentStatus *st = statuses_after(c->arena, p, v, n);
    kb_code code = auto_cancel(c, p, p->terms, st, today);
    if (!code && c->n_events == before) code = request_reminders(c, p, st, today);
    return code;
}

static kb_code decide_advance(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                              kb_decide_ctx *c) {
    (void)msg;
    const Plan *p = (const void *)state;
    int32_t today = kb_day_of_instant(c->now);
    if (kb_plan_next_action_day(p) > today)
        return kb_error_set(c->err, KB_REASON_PLAN_NOTHING_DUE, "plan_id",
                            "nothing of plan %s falls due today", p->plan_id);
    kb_code code = advance(c, p, today);
    if (!code && !c->n_events)
        code = kb_error_set(c->err, KB_REASON_PLAN_NOTHING_DUE, "plan_id",
                            "nothing of plan %s changes today", p->plan_id);
    return code;
}

/* The instalment a collection command names, in the status it needs. */
static const Instalment *collection_instalment(const Plan *p, uint32_t number,
                                               Kasboek__V1__InstalmentStatus need, kb_decide_ctx *c) {
    if (number == 0 || number > p->n_instalments) {
        kb_error_set(c->err, KB_REASON_INSTALMENT_NOT_FOUND, "instalment", "no instalment %u",
                     number);
        return NULL;
    }
    const Instalment *in = p->instalments[number - 1];
    if (!open_status(p->status)) {
        kb_error_set(c->err, KB_REASON_PLAN_NOT_ACTIVE, "plan_id", "the plan is not active");
        return NULL;
    }
    if (in->status != need) {
        kb_error_set(c->err, need == IS(COLLECTING) ? KB_REASON_INSTALMENT_NOT_COLLECTING
                                                    : KB_REASON_INSTALMENT_NOT_FAILED,
                     "instalment", "instalment %u is not %s", number,
                     need == IS(COLLECTING) ? "being collected" : "failed");
        return NULL;
    }
    return in;
}

static kb_code decide_fail_collection(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                                      kb_decide_ctx *c) {
    const Plan *p = (const void *)state;
    const Kasboek__V1__FailPlanCollectionRequest *r = (const void *)msg;
    kb_code code = need_reason(r->reason, c->err);
    if (code) return code;
    if (!collection_instalment(p, r->instalment, IS(COLLECTING), c)) return c->err->code;
    Kasboek__V1__PlanCollectionFailed *e =
        EMIT(c, Kasboek__V1__PlanCollectionFailed, KASBOEK__V1__PLAN_COLLECTION_FAILED__INIT,
             BODY(PLAN_COLLECTION_FAILED));
    if (!e) return c->err->code;
    e->instalment = r->instalment;
    e->reason = r->reason;
    /* a failed one is late: past the tolerance, cancelled now, as Tick would */
    Kasboek__V1__InstalmentStatus *st = statuses_after(c->arena, p, NULL, 0);
    if (st) st[r->instalment - 1] = IS(FAILED);
    return auto_cancel(c, p, p->terms, st, kb_day_of_instant(c->now));
}

static kb_code decide_retry_collection(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                                       kb_decide_ctx *c) {
    const Kasboek__V1__RetryPlanCollectionRequest *r = (const void *)msg;
    if (!collection_instalment((const void *)state, r->instalment, IS(FAILED), c))
        return c->err->code;
    Kasboek__V1__PlanCollectionRetried *e =
        EMIT(c, Kasboek__V1__PlanCollectionRetried, KASBOEK__V1__PLAN_COLLECTION_RETRIED__INIT,
             BODY(PLAN_COLLECTION_RETRIED));
    if (!e) return c->err->code;
    e->instalment = r->instalment;
    return KB_CODE_OK;
}

static kb_code decide_pause(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                            kb_decide_ctx *c) {
    const Plan *p = (const void *)state;
    const Kasboek__V1__PausePlanRequest *r = (const void *)msg;
    kb_code code = need_reason(r->reason, c->err);
    if (code) return code;
    if (!open_status(p->status))
        return kb_error_set(c->err, KB_REASON_PLAN_NOT_ACTIVE, "plan_id", "only an active plan pauses");
    if (p->n_pauses >= KB_PLAN_PAUSES_MAX)
        return kb_error_set(c->err, KB_REASON_TOO_MANY_ITEMS, "plan_id",
                            "a plan pauses at most %d times", KB_PLAN_PAUSES_MAX);
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
    if (!EMIT(c, Kasboek__V1__PlanResumed, KASBOEK__V1__PLAN_RESUMED__INIT, BODY(PLAN_RESUMED)))
        return c->err->code;
    /* what the clock did not do while paused, at once: the instalment
     * statuses, collections, the tolerance and reminders as Tick would now */
    return advance(c, p, kb_day_of_instant(c->now));
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

/* ---------------------------------------------------- payments -> plans */

static bool plan_money_event(const Event *ev) {
    switch (ev->body_case) {
        case BODY(PAYMENT_RECORDED):
        case BODY(PAYMENT_SETTLED):
        case BODY(PAYMENT_FAILED):
        case BODY(REFUND_CREATED):
        case BODY(REFUND_FAILED):
            return true;
        case BODY(DISPUTE_CLOSED):
            return ev->dispute_closed->outcome == KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST;
        default:
            return false;
    }
}

static const char *planning_target(const ProtobufCMessage *source, Event *const *events, size_t n,
                                   kb_arena *a) {
    (void)a;
    const Kasboek__V1__Payment *p = (const void *)source;
    if (strcmp(p->source_type, "plan") != 0 || !p->source_id[0]) return NULL;
    for (size_t i = 0; i < n; i++)
        if (plan_money_event(events[i])) return p->source_id;
    return NULL;
}

/* The working copy of the plan while the reaction emits: its instalments,
 * what processing debits hold of it, and the one payment's amounts. */
typedef struct pwork {
    int64_t paid[KB_PLAN_INSTALMENTS_MAX];
    int64_t amount[KB_PLAN_INSTALMENTS_MAX];
    const Plan *p;
    int32_t today;
    int32_t paid_on; /* the day the money being allocated arrived */
    int64_t pending; /* the plan's amount_pending */
    int64_t own_amount, own_pending, own_overpaid; /* the payment's PlanPayment */
    /* the instalments' and the plan's statuses after the events so far,
     * and whether a reversal reopened an instalment */
    Kasboek__V1__InstalmentStatus status[KB_PLAN_INSTALMENTS_MAX];
    Kasboek__V1__PlanStatus plan_status;
    bool reopened;
} pwork;

static Kasboek__V1__InstalmentStatus reopened_status(const Instalment *in, int32_t today) {
    int32_t due;
    if (!kb_date_given(in->due_date, &due) || due > today) return IS(PLANNED);
    return due < today ? IS(OVERDUE) : IS(DUE);
}

static int64_t work_remaining(const pwork *w) {
    int64_t r = 0;
    for (size_t i = 0; i < w->p->n_instalments; i++)
        if (w->p->instalments[i]->status != IS(SKIPPED)) r += w->amount[i] - w->paid[i];
    return r;
}

static Kasboek__V1__PlanAllocation *allocation(kb_decide_ctx *c, uint32_t number, int64_t amount,
                                               Kasboek__V1__InstalmentStatus st) {
    Kasboek__V1__PlanAllocation *al =
        KB_NEW(c->arena, Kasboek__V1__PlanAllocation, KASBOEK__V1__PLAN_ALLOCATION__INIT);
    if (al) al->number = number, al->amount = amount, al->status = st;
    return al;
}

/* Re-spreads what is open on the instalments not yet due (PLANNED, due
 * after today, not paid off) over them in equal shares, the last taking
 * the rounding difference. Nothing when fewer than two remain, when the
 * open amount is below one minor unit each, or when no amount would
 * change. */
static kb_code respread(kb_decide_ctx *c, pwork *w, const char *payment_id) {
    const Plan *p = w->p;
    uint32_t idx[KB_PLAN_INSTALMENTS_MAX], k = 0;
    int64_t open = 0, share[KB_PLAN_INSTALMENTS_MAX];
    for (size_t i = 0; i < p->n_instalments; i++) {
        int32_t due;
        if (p->instalments[i]->status != IS(PLANNED) || w->paid[i] >= w->amount[i] ||
            !kb_date_given(p->instalments[i]->due_date, &due) || due <= w->today)
            continue;
        idx[k++] = (uint32_t)i;
        open += w->amount[i] - w->paid[i];
    }
    if (k < 2 || open < (int64_t)k || kb_money_split(open, k, share) != KB_OK) return KB_CODE_OK;
    bool changes = false;
    for (uint32_t j = 0; j < k; j++) changes |= w->paid[idx[j]] + share[j] != w->amount[idx[j]];
    if (!changes) return KB_CODE_OK;
    Kasboek__V1__PlanInstalmentAmount **v = kb_arena_alloc(c->arena, k * sizeof *v);
    Kasboek__V1__PlanRespread *e =
        v ? EMIT(c, Kasboek__V1__PlanRespread, KASBOEK__V1__PLAN_RESPREAD__INIT, BODY(PLAN_RESPREAD))
          : NULL;
    if (!e) return c->err->code ? c->err->code : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    for (uint32_t j = 0; j < k; j++) {
        v[j] = KB_NEW(c->arena, Kasboek__V1__PlanInstalmentAmount,
                      KASBOEK__V1__PLAN_INSTALMENT_AMOUNT__INIT);
        if (!v[j]) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
        v[j]->number = p->instalments[idx[j]]->number;
        v[j]->amount = w->amount[idx[j]] = w->paid[idx[j]] + share[j];
    }
    e->payment_id = (char *)payment_id;
    e->open = open;
    e->amounts = v;
    e->n_amounts = k;
    return KB_CODE_OK;
}

/* Whether money arriving on day paid_on for instalment in is early: more
 * than the plan's early_days before its due date. */
static bool early_for(const Plan *p, const Instalment *in, int32_t paid_on) {
    int32_t due;
    return p->terms && kb_date_given(in->due_date, &due) &&
           (int64_t)due - paid_on > (int64_t)p->terms->early_days;
}

static bool takes_money(const Plan *p) {
    return open_status(p->status) || p->status == PS(PAUSED);
}

/* Completing: an instalment with nothing open that no allocation touched
 * (a 0.00 one of an old schedule) is paid too. */
static kb_code pay_off_empty(kb_decide_ctx *c, const pwork *w, Kasboek__V1__PlanAllocation **v,
                             size_t *n) {
    const Plan *p = w->p;
    for (size_t i = 0; i < p->n_instalments; i++) {
        bool touched = false;
        for (size_t k = 0; k < *n; k++) touched |= v[k]->number == p->instalments[i]->number;
        Kasboek__V1__InstalmentStatus st = p->instalments[i]->status;
        if (touched || st == IS(PAID) || st == IS(SKIPPED) || w->paid[i] < w->amount[i]) continue;
        KB_VERIFY(*n < p->n_instalments);
        v[*n] = allocation(c, p->instalments[i]->number, 0, IS(PAID));
        if (!v[(*n)++]) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    }
    return KB_CODE_OK;
}

/* money of payment_id arrives (>= 0) and what it holds changes by
 * pending: first the hold moves, then the money goes to the oldest open
 * instalments first (a surplus carries on; an early payment re-spreads the
 * rest when the plan allows it) as far as what remains, less what other
 * debits hold, allows; the rest is overpaid, kept on the plan. A closed
 * plan's instalments take nothing. */
static kb_code allocate(kb_decide_ctx *c, pwork *w, const char *payment_id, int64_t money,
                        int64_t pending) {
    const Plan *p = w->p;
    KB_VERIFY(money >= 0 && w->own_pending + pending >= 0 && w->pending + pending >= 0);
    if (money == 0 && pending == 0) return KB_CODE_OK;
    Kasboek__V1__PlanAllocation **v = kb_arena_alloc(c->arena, p->n_instalments * sizeof *v);
    Kasboek__V1__PlanPaymentAllocated *e =
        v ? EMIT(c, Kasboek__V1__PlanPaymentAllocated, KASBOEK__V1__PLAN_PAYMENT_ALLOCATED__INIT,
                 BODY(PLAN_PAYMENT_ALLOCATED))
          : NULL;
    if (!e) return c->err->code ? c->err->code : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    w->pending += pending;
    w->own_pending += pending;
    int64_t room = takes_money(p) ? work_remaining(w) - w->pending : 0;
    int64_t left = money < room ? money : room > 0 ? room : 0;
    int64_t take = left;
    size_t n = 0;
    bool early = false;
    for (size_t i = 0; i < p->n_instalments && left > 0; i++) {
        const Instalment *in = p->instalments[i];
        int64_t open = w->amount[i] - w->paid[i];
        if (in->status == IS(SKIPPED) || open <= 0) continue;
        int64_t part = left < open ? left : open;
        w->paid[i] += part;
        left -= part;
        early |= early_for(p, in, w->paid_on);
        v[n] = allocation(c, in->number, part, part == open ? IS(PAID) : w->status[i]);
        if (!v[n++]) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
        w->status[i] = v[n - 1]->status;
    }
    KB_VERIFY(left == 0); /* room <= what the instalments have open */
    bool completes = take > 0 && work_remaining(w) == 0;
    kb_code code = completes ? pay_off_empty(c, w, v, &n) : KB_CODE_OK;
    if (code) return code;
    e->payment_id = (char *)payment_id;
    e->amount = take;
    e->allocations = v;
    e->n_allocations = n;
    e->pending = pending;
    e->overpaid = money - take;
    w->own_amount += take;
    w->own_overpaid += e->overpaid;
    KB_VERIFY(e->amount + e->overpaid == money && e->overpaid >= 0); /* money is conserved */
    if (completes) {
        w->plan_status = PS(COMPLETED);
        return EMIT(c, Kasboek__V1__PlanCompleted, KASBOEK__V1__PLAN_COMPLETED__INIT,
                    BODY(PLAN_COMPLETED)) ? KB_CODE_OK : c->err->code;
    }
    return early && p->early_recalc ? respread(c, w, payment_id) : KB_CODE_OK;
}

/* Takes amount of a payment back: from what it overpaid first, then from
 * the most recently paid instalments, never more than it put there. */
static kb_code take_back(kb_decide_ctx *c, pwork *w, const char *payment_id, int64_t amount,
                         const char *why) {
    const Plan *p = w->p;
    int64_t over = amount < w->own_overpaid ? amount : w->own_overpaid;
    if (over < 0) over = 0;
    int64_t back = amount - over < w->own_amount ? amount - over : w->own_amount;
    if (back < 0) back = 0;
    if (over + back <= 0) return KB_CODE_OK; /* never on the plan: nothing to unlink */
    Kasboek__V1__PlanAllocation **v = kb_arena_alloc(c->arena, p->n_instalments * sizeof *v);
    Kasboek__V1__PlanPaymentReversed *e =
        v ? EMIT(c, Kasboek__V1__PlanPaymentReversed, KASBOEK__V1__PLAN_PAYMENT_REVERSED__INIT,
                 BODY(PLAN_PAYMENT_REVERSED))
          : NULL;
    if (!e) return c->err->code ? c->err->code : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
    int64_t left = back;
    size_t n = 0;
    for (size_t i = p->n_instalments; i-- > 0 && left > 0;) {
        const Instalment *in = p->instalments[i];
        if (w->paid[i] <= 0) continue;
        int64_t take = left < w->paid[i] ? left : w->paid[i];
        w->paid[i] -= take;
        left -= take;
        Kasboek__V1__InstalmentStatus st =
            in->status == IS(SKIPPED) ? IS(SKIPPED) : reopened_status(in, w->today);
        v[n] = allocation(c, in->number, -take, st);
        if (!v[n++]) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "oom");
        w->status[i] = st;
    }
    e->payment_id = (char *)payment_id;
    e->amount = back - left;
    e->overpaid = over;
    e->reason = (char *)why;
    e->allocations = v;
    e->n_allocations = n;
    w->own_amount -= e->amount;
    w->own_overpaid -= over;
    if (e->amount > 0) { /* as evolve: money taken from instalments reopens a completed plan */
        w->reopened = true;
        if (w->plan_status == PS(COMPLETED)) w->plan_status = PS(ACTIVE);
    }
    return KB_CODE_OK;
}

/* A payment above what is open (remaining, less what processing debits
 * hold) is refused, as an invoice refuses one. */
static kb_code refuse_overpayment(kb_decide_ctx *c, const pwork *w, int64_t amount) {
    const Plan *p = w->p;
    int64_t rem = work_remaining(w), room = rem - w->pending;
    char want[32], have[32], held[32];
    kb_money_format(amount, p->currency, want, sizeof want);
    kb_money_format(room > 0 ? room : 0, p->currency, have, sizeof have);
    if (!w->pending)
        return kb_error_set(c->err, KB_REASON_PLAN_OVERPAYMENT, "amount.amount",
                            "%s %s is more than the %s %s remaining on plan %s", want, p->currency,
                            have, p->currency, p->plan_id);
    kb_money_format(w->pending, p->currency, held, sizeof held);
    return kb_error_set(c->err, KB_REASON_PLAN_OVERPAYMENT, "amount.amount",
                        "%s %s is more than the %s %s open on plan %s: %s %s of what remains is "
                        "held by bank debits still processing",
                        want, p->currency, have, p->currency, p->plan_id, held, p->currency);
}

static kb_code plan_recorded(kb_decide_ctx *c, pwork *w, const Kasboek__V1__Payment *pay,
                             const Kasboek__V1__PaymentRecorded *e) {
    const Plan *p = w->p;
    if (!p) return kb_error_set(c->err, KB_REASON_PLAN_NOT_FOUND, "source_id", "no plan %s", pay->source_id);
    if (!takes_money(p))
        return kb_error_set(c->err, KB_REASON_PLAN_NOT_ACTIVE, "source_id",
                            "plan %s is not active: it takes no payments", p->plan_id);
    if (strcmp(e->amount->currency, p->currency) != 0)
        return kb_error_set(c->err, KB_REASON_CURRENCY_MISMATCH, "amount.currency",
                            "the plan is in %s", p->currency);
    if (e->amount->amount > work_remaining(w) - w->pending)
        return refuse_overpayment(c, w, e->amount->amount);
    /* a bank debit still processing holds its amount until it settles or fails */
    if (e->status == KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PROCESSING)
        return allocate(c, w, pay->payment_id, 0, e->amount->amount);
    if (e->status != KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED) return KB_CODE_OK;
    return allocate(c, w, pay->payment_id, e->amount->amount, 0);
}

static kb_code planning_one(kb_decide_ctx *c, pwork *w, const Kasboek__V1__Payment *pay,
                            const Event *ev) {
    if (ev->body_case == BODY(PAYMENT_RECORDED)) return plan_recorded(c, w, pay, ev->payment_recorded);
    if (!w->p) return KB_CODE_OK; /* a payment from before plans: nothing to move */
    switch (ev->body_case) {
        case BODY(PAYMENT_SETTLED): /* its hold goes, its money comes (a debit from before
                                       holds held nothing) */
            return allocate(c, w, pay->payment_id, pay->amount->amount, -w->own_pending);
        case BODY(PAYMENT_FAILED):
            return allocate(c, w, pay->payment_id, 0, -w->own_pending);
        case BODY(REFUND_CREATED):
            return take_back(c, w, pay->payment_id, ev->refund_created->amount->amount,
                             kb_arena_printf(c->arena, "refund %s", ev->refund_created->refund_id));
        case BODY(REFUND_FAILED): { /* its money comes back */
            const Kasboek__V1__Refund *r = kb_payment_find_refund(pay, ev->refund_failed->refund_id);
            return r && r->amount ? allocate(c, w, pay->payment_id, r->amount->amount, 0)
                                  : KB_CODE_OK;
        }
        case BODY(DISPUTE_CLOSED): {
            const Kasboek__V1__Dispute *d = kb_payment_find_dispute(pay, ev->dispute_closed->dispute_id);
            if (!d || !plan_money_event(ev)) return KB_CODE_OK;
            return take_back(c, w, pay->payment_id, d->amount->amount,
                             kb_arena_printf(c->arena, "dispute %s lost", d->dispute_id));
        }
        default:
            return KB_CODE_OK;
    }
}

static kb_code planning_react(const ProtobufCMessage *target, const ProtobufCMessage *source,
                              Event *const *events, size_t n, uint64_t first_seq,
                              kb_decide_ctx *c) {
    (void)first_seq;
    pwork w = {.p = (const void *)target};
    const Kasboek__V1__Payment *pay = (const void *)source;
    w.today = kb_day_of_instant(c->now);
    for (size_t i = 0; w.p && i < w.p->n_instalments; i++) {
        w.paid[i] = w.p->instalments[i]->paid;
        w.amount[i] = w.p->instalments[i]->amount;
        w.status[i] = w.p->instalments[i]->status;
    }
    w.plan_status = w.p ? w.p->status : PS(UNSPECIFIED);
    w.pending = w.p ? w.p->amount_pending : 0;
    for (size_t i = 0; w.p && i < w.p->n_payments; i++) {
        const Kasboek__V1__PlanPayment *pp = w.p->payments[i];
        if (strcmp(pp->payment_id, pay->payment_id) != 0) continue;
        w.own_amount = pp->amount;
        w.own_pending = pp->pending;
        w.own_overpaid = pp->overpaid;
    }
    for (size_t i = 0; i < n; i++) {
        w.paid_on = events[i]->occurred_at ? kb_day_of_instant(events[i]->occurred_at) : w.today;
        kb_code code = planning_one(c, &w, pay, events[i]);
        if (code) return code;
    }
    /* instalments reopened overdue may put an open plan past its tolerance:
     * cancelled in this commit, as Tick would (a paused one when it
     * resumes) */
    if (w.reopened && open_status(w.plan_status))
        return auto_cancel(c, w.p, w.p->terms, w.status, w.today);
    return KB_CODE_OK;
}

/* chain: what the payment moves in the plan moves the plan's invoices */
const kb_reaction kb_payment_planning = {.target = &kb_plan_aggregate,
                                         .target_id = planning_target,
                                         .react = planning_react,
                                         .chain = true};

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
    .reactions = (const kb_reaction *const[]){&kb_plan_invoicing, NULL},
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
    {.method = "ActivatePlan",
     .desc = &kasboek__v1__activate_plan_request__descriptor,
     .agg = &kb_plan_aggregate,
     .id_field = "plan_id",
     .not_found = KB_REASON_PLAN_NOT_FOUND,
     .reads = activate_reads,
     .decide = decide_activate,
     .result = plan_result},
    PLAN_CMD("AdvancePlan", kasboek__v1__advance_plan_request__descriptor, decide_advance),
    PLAN_CMD("FailPlanCollection", kasboek__v1__fail_plan_collection_request__descriptor,
             decide_fail_collection),
    PLAN_CMD("RetryPlanCollection", kasboek__v1__retry_plan_collection_request__descriptor,
             decide_retry_collection),
    PLAN_CMD("ReportPlanReminder", kasboek__v1__report_plan_reminder_request__descriptor,
             decide_report_reminder),
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
