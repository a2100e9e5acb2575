/* plans create|update|activate|pause|resume|cancel|pay|retry|get|list|
 * timeline, settings plans */
#include <sodium.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kb_limits.h"
#include "keys.h"
#include "money.h"

typedef Kasboek__V1__PaymentPlan Plan;

/* ---------------------------------------------------------------- output */

static void print_instalments(const Plan *p) {
    char amt[CLI_TEXT_MAX], paid[CLI_TEXT_MAX], st[CLI_TEXT_MAX], rem[CLI_TEXT_MAX], num[16];
    cli_table t;
    cli_table_init(&t, ">NUMBER DUE_DATE >AMOUNT >PAID STATUS REMINDER");
    for (size_t i = 0; i < p->n_instalments; i++) {
        const Kasboek__V1__Instalment *in = p->instalments[i];
        snprintf(num, sizeof num, "%u", in->number);
        const char *row[] = {
            num, in->due_date, cli_money(amt, sizeof amt, in->amount, p->currency),
            cli_money(paid, sizeof paid, in->paid, p->currency),
            cli_enum(st, sizeof st, &kasboek__v1__instalment_status__descriptor, (int)in->status),
            in->reminder ? cli_enum(rem, sizeof rem, &kasboek__v1__reminder_status__descriptor,
                                    (int)in->reminder)
                         : "-"};
        cli_table_add(&t, row);
    }
    printf("\ninstalments\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

static void print_plan(const Plan *p) {
    char buf[CLI_TEXT_MAX], n[64];
    cli_kv("plan", p->plan_id);
    cli_kv("status", cli_enum(buf, sizeof buf, &kasboek__v1__plan_status__descriptor, (int)p->status));
    cli_kv("customer", p->customer_id);
    cli_kv("method", cli_enum(buf, sizeof buf, &kasboek__v1__plan_method__descriptor, (int)p->method));
    cli_kv("total", cli_money(buf, sizeof buf, p->total, p->currency));
    cli_kv("paid", cli_money(buf, sizeof buf, p->paid, p->currency));
    cli_kv("remaining", cli_money(buf, sizeof buf, p->remaining, p->currency));
    if (p->amount_pending)
        cli_kv("held by debits", cli_money(buf, sizeof buf, p->amount_pending, p->currency));
    if (p->amount_overpaid)
        cli_kv("overpaid", cli_money(buf, sizeof buf, p->amount_overpaid, p->currency));
    snprintf(n, sizeof n, "%u / %zu", p->instalments_paid, p->n_instalments);
    cli_kv("instalments paid", n);
    snprintf(n, sizeof n, "%u.%02u%%", p->progress_bp / 100, p->progress_bp % 100);
    cli_kv("progress", n);
    cli_kv("next due", cli_or_dash(p->next_due_date));
    cli_kv("period", cli_enum(buf, sizeof buf, &kasboek__v1__plan_period__descriptor, (int)p->period));
    cli_kv("reminder", cli_enum(buf, sizeof buf, &kasboek__v1__reminder_channel__descriptor, (int)p->reminder));
    if (p->early_recalc && p->terms) {
        snprintf(n, sizeof n, "re-spread when paid over %u days early", p->terms->early_days);
        cli_kv("early payment", n);
    } else {
        cli_kv("early payment", "no re-spread");
    }
    if (p->terms) {
        snprintf(n, sizeof n, "%u days, %u instalments (0 = off)", p->terms->tolerance_days,
                 p->terms->tolerance_count);
        cli_kv("tolerance", n);
    }
    if (p->pause_reason[0] && p->status == KASBOEK__V1__PLAN_STATUS__PLAN_STATUS_PAUSED)
        cli_kv("paused", p->pause_reason);
    if (p->cancel_reason[0]) cli_kv("cancelled", p->cancel_reason);
}

void cli_print_plan_result(const Kasboek__V1__CommandResult *r) {
    if (r->plan) print_plan(r->plan);
    if (r->plan_settings) {
        char n[32];
        const Kasboek__V1__PlanSettings *s = r->plan_settings;
        snprintf(n, sizeof n, "%u days", s->early_days);
        cli_kv("early payment", n);
        snprintf(n, sizeof n, "%d days", s->reminder_offset_days);
        cli_kv("reminder offset", n);
        snprintf(n, sizeof n, "%u days", s->default_tolerance_days);
        cli_kv("tolerance days", n);
        snprintf(n, sizeof n, "%u", s->default_tolerance_count);
        cli_kv("tolerance count", n);
    }
}

void cli_print_plan_tables(const Kasboek__V1__CommandResult *r) {
    if (r->plan && r->plan->n_instalments) print_instalments(r->plan);
}

/* ------------------------------------------------------------- timeline */

static void put(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t n, const char *fmt, ...) {
    size_t len = strlen(buf);
    if (len + 1 >= n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, n - len, fmt, ap);
    va_end(ap);
}

static void put_allocations(char *buf, size_t n, Kasboek__V1__PlanAllocation *const *al, size_t k,
                            const char *cur) {
    char m[CLI_TEXT_MAX], st[CLI_TEXT_MAX];
    for (size_t i = 0; i < k; i++)
        put(buf, n, "%s#%u %s %s", i ? ", " : ": ", al[i]->number,
            cli_money(m, sizeof m, al[i]->amount, cur),
            cli_enum(st, sizeof st, &kasboek__v1__instalment_status__descriptor, (int)al[i]->status));
}

/* One line of what a plan event did, amounts in the plan's currency. */
static void plan_event_detail(char *buf, size_t n, const Kasboek__V1__Event *ev, const void *ctx) {
    const char *cur = ((const Plan *)ctx)->currency;
    char m[CLI_TEXT_MAX], e[CLI_TEXT_MAX];
#define BODY(x) KASBOEK__V1__EVENT__BODY_##x
    switch (ev->body_case) {
        case BODY(PLAN_CREATED):
            put(buf, n, "total %s over %zu item(s)",
                cli_money(m, sizeof m, ev->plan_created->total, cur), ev->plan_created->n_items);
            break;
        case BODY(PLAN_SCHEDULED):
            put(buf, n, "%zu instalments from %s, %s", ev->plan_scheduled->n_instalments,
                ev->plan_scheduled->start_date,
                cli_enum(e, sizeof e, &kasboek__v1__plan_period__descriptor, (int)ev->plan_scheduled->period));
            break;
        case BODY(PLAN_TERMS_CHANGED):
            put(buf, n, "reminder %s, tolerance %u days / %u instalments",
                cli_enum(e, sizeof e, &kasboek__v1__reminder_channel__descriptor,
                         (int)ev->plan_terms_changed->reminder),
                ev->plan_terms_changed->tolerance_days, ev->plan_terms_changed->tolerance_count);
            break;
        case BODY(PLAN_PAUSED): put(buf, n, "%s", ev->plan_paused->reason); break;
        case BODY(PLAN_CANCELLED):
            put(buf, n, "%s%s", ev->plan_cancelled->automatic ? "automatic: " : "",
                ev->plan_cancelled->reason);
            break;
        case BODY(PLAN_PAYMENT_ALLOCATED): {
            const Kasboek__V1__PlanPaymentAllocated *a = ev->plan_payment_allocated;
            put(buf, n, "%s %s", a->payment_id, cli_money(m, sizeof m, a->amount, cur));
            put_allocations(buf, n, a->allocations, a->n_allocations, cur);
            break;
        }
        case BODY(PLAN_PAYMENT_REVERSED): {
            const Kasboek__V1__PlanPaymentReversed *r = ev->plan_payment_reversed;
            put(buf, n, "%s -%s (%s)", r->payment_id, cli_money(m, sizeof m, r->amount, cur), r->reason);
            put_allocations(buf, n, r->allocations, r->n_allocations, cur);
            break;
        }
        case BODY(PLAN_RESPREAD): {
            const Kasboek__V1__PlanRespread *r = ev->plan_respread;
            put(buf, n, "%s early: %s open re-spread", r->payment_id, cli_money(m, sizeof m, r->open, cur));
            for (size_t i = 0; i < r->n_amounts; i++)
                put(buf, n, "%s#%u %s", i ? ", " : ": ", r->amounts[i]->number,
                    cli_money(m, sizeof m, r->amounts[i]->amount, cur));
            break;
        }
        case BODY(PLAN_ADVANCED): {
            const Kasboek__V1__PlanAdvanced *a = ev->plan_advanced;
            for (size_t i = 0; i < a->n_changes; i++)
                put(buf, n, "%s#%u %s", i ? ", " : "", a->changes[i]->number,
                    cli_enum(e, sizeof e, &kasboek__v1__instalment_status__descriptor,
                             (int)a->changes[i]->status));
            for (size_t i = 0; i < a->n_collections_requested; i++)
                put(buf, n, "%s%u", i ? ", #" : "; collect #", a->collections_requested[i]);
            break;
        }
        case BODY(PLAN_COLLECTION_FAILED):
            put(buf, n, "#%u: %s", ev->plan_collection_failed->instalment, ev->plan_collection_failed->reason);
            break;
        case BODY(PLAN_COLLECTION_RETRIED):
            put(buf, n, "#%u collecting again", ev->plan_collection_retried->instalment);
            break;
        case BODY(PLAN_REMINDER_REQUESTED):
            put(buf, n, "#%u by %s", ev->plan_reminder_requested->instalment,
                cli_enum(e, sizeof e, &kasboek__v1__reminder_channel__descriptor,
                         (int)ev->plan_reminder_requested->channel));
            break;
        case BODY(PLAN_REMINDER_REPORTED):
            put(buf, n, "#%u %s%s", ev->plan_reminder_reported->instalment,
                ev->plan_reminder_reported->sent ? "sent" : "failed: ",
                ev->plan_reminder_reported->sent ? "" : ev->plan_reminder_reported->error);
            break;
        default:
            break;
    }
#undef BODY
}

static void print_get(cli *c, const ProtobufCMessage *m) {
    (void)c;
    const Kasboek__V1__GetPlanReply *g = (const void *)m;
    print_plan(g->plan);
    print_instalments(g->plan);
    cli_print_timeline_detail(g->timeline, g->n_timeline, plan_event_detail, g->plan);
}

static void print_timeline_only(cli *c, const ProtobufCMessage *m) {
    (void)c;
    const Kasboek__V1__GetPlanReply *g = (const void *)m;
    cli_print_timeline_detail(g->timeline, g->n_timeline, plan_event_detail, g->plan);
}

static void print_list(cli *c, const ProtobufCMessage *m) {
    (void)c;
    const Kasboek__V1__ListPlansReply *l = (const void *)m;
    char st[CLI_TEXT_MAX], tot[CLI_TEXT_MAX], rem[CLI_TEXT_MAX], n[32];
    cli_table t;
    cli_table_init(&t, "PLAN STATUS CUSTOMER >TOTAL >REMAINING >PAID NEXT_DUE");
    for (size_t i = 0; i < l->n_plans; i++) {
        const Plan *p = l->plans[i];
        snprintf(n, sizeof n, "%u/%zu", p->instalments_paid, p->n_instalments);
        const char *row[] = {
            p->plan_id, cli_enum(st, sizeof st, &kasboek__v1__plan_status__descriptor, (int)p->status),
            p->customer_id, cli_money(tot, sizeof tot, p->total, p->currency),
            cli_money(rem, sizeof rem, p->remaining, p->currency), n, cli_or_dash(p->next_due_date)};
        cli_table_add(&t, row);
    }
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
    if (l->next_cursor[0]) printf("next cursor: %s\n", l->next_cursor);
}

/* ----------------------------------------------------------------- flags */

static const char *opt(const cli *c, const char *flag) {
    const char *v = cli_flag(c, flag);
    return v ? v : "";
}

/* The plan's currency, asked of the server. */
static const char *plan_currency_of(const ProtobufCMessage *m) {
    const Kasboek__V1__GetPlanReply *g = (const void *)m;
    return g->plan ? g->plan->currency : NULL;
}

static int plan_currency(cli *c, const char *id, char cur[4]) {
    Kasboek__V1__GetPlanRequest q = KASBOEK__V1__GET_PLAN_REQUEST__INIT;
    q.plan_id = (char *)id;
    return cli_fetch_currency(c, "GetPlan", &q.base, &kasboek__v1__get_plan_reply__descriptor,
                              plan_currency_of, cur);
}

typedef struct plan_flags {
    int method, period, reminder;
    bool count_given, amount_given, tol_days_given, tol_count_given;
    uint64_t count, tol_days, tol_count;
    int64_t amount;
} plan_flags;

/* The flags create and update share; amounts in cur. */
static int common_flags(cli *c, const char *cur, plan_flags *f) {
    int ex = cli_enum_flag(c, "method", &kasboek__v1__plan_method__descriptor, &f->method);
    if (ex == CLI_EXIT_OK) ex = cli_enum_flag(c, "period", &kasboek__v1__plan_period__descriptor, &f->period);
    if (ex == CLI_EXIT_OK)
        ex = cli_enum_flag(c, "reminder", &kasboek__v1__reminder_channel__descriptor, &f->reminder);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "count", KB_PLAN_INSTALMENTS_MAX, &f->count);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "tolerance-days", 365, &f->tol_days);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "tolerance-count", KB_PLAN_INSTALMENTS_MAX, &f->tol_count);
    if (ex != CLI_EXIT_OK) return ex;
    f->count_given = cli_has(c, "count");
    f->amount_given = cli_has(c, "instalment-amount");
    f->tol_days_given = cli_has(c, "tolerance-days");
    f->tol_count_given = cli_has(c, "tolerance-count");
    if (f->count_given && f->amount_given)
        return cli_usage_error(c, "give --count or --instalment-amount, not both");
    if (f->tol_days_given && f->tol_count_given)
        return cli_usage_error(c, "give --tolerance-days or --tolerance-count, not both");
    if (f->amount_given) return cli_amount_text(c, "instalment-amount", cur, &f->amount);
    return CLI_EXIT_OK;
}

/* --case REF:AMOUNT values into cases (amounts in cur). */
static int case_flags(cli *c, const char *cur, Kasboek__V1__PlanCase *cases,
                      Kasboek__V1__PlanCase **ptrs, char refs[][KB_ID_LEN_MAX + 1], size_t *n) {
    const char *v[KB_PLAN_ITEMS_MAX + 1];
    size_t k = cli_values(c, "case", v, KB_PLAN_ITEMS_MAX + 1);
    if (k > KB_PLAN_ITEMS_MAX) return cli_usage_error(c, "at most %d --case", KB_PLAN_ITEMS_MAX);
    for (size_t i = 0; i < k; i++) {
        const char *colon = strchr(v[i], ':');
        if (!colon || colon == v[i] || (size_t)(colon - v[i]) > KB_ID_LEN_MAX)
            return cli_usage_error(c, "invalid --case '%s': expected REF:AMOUNT (case-7:250.00)", v[i]);
        memcpy(refs[i], v[i], (size_t)(colon - v[i]));
        refs[i][colon - v[i]] = 0;
        kasboek__v1__plan_case__init(&cases[i]);
        cases[i].ref = refs[i];
        if (kb_money_parse(colon + 1, cur, &cases[i].amount) != KB_OK)
            return cli_usage_error(c, "invalid amount in --case '%s' for %s", v[i], cur);
        ptrs[i] = &cases[i];
    }
    *n = k;
    return CLI_EXIT_OK;
}

/* -------------------------------------------------------------- commands */

int cli_cmd_plans_create(cli *c) {
    Kasboek__V1__CreatePlanRequest r = KASBOEK__V1__CREATE_PLAN_REQUEST__INIT;
    const char *invoices[KB_PLAN_ITEMS_MAX + 1];
    size_t n_inv = cli_values(c, "invoice", invoices, KB_PLAN_ITEMS_MAX + 1);
    if (n_inv > KB_PLAN_ITEMS_MAX) return cli_usage_error(c, "at most %d --invoice", KB_PLAN_ITEMS_MAX);
    if (n_inv == 0 && cli_values(c, "case", invoices, 1) == 0)
        return cli_usage_error(c, "name at least one --invoice or --case");
    char cur[4] = "";
    int ex = cli_currency_flag(c, cur);
    if (ex == CLI_EXIT_OK && !cur[0] && n_inv) ex = cli_invoice_currency(c, invoices[0], cur);
    if (ex != CLI_EXIT_OK) return ex;
    if (!cur[0]) return cli_usage_error(c, "a plan of --case only needs --currency");
    plan_flags f = {0};
    Kasboek__V1__PlanCase cases[KB_PLAN_ITEMS_MAX], *ptrs[KB_PLAN_ITEMS_MAX];
    char refs[KB_PLAN_ITEMS_MAX][KB_ID_LEN_MAX + 1];
    size_t n_cases = 0;
    ex = common_flags(c, cur, &f);
    if (ex == CLI_EXIT_OK) ex = case_flags(c, cur, cases, ptrs, refs, &n_cases);
    if (ex != CLI_EXIT_OK) return ex;
    if (!f.count_given && !f.amount_given)
        return cli_usage_error(c, "give --count N or --instalment-amount A");
    r.plan_id = (char *)c->args.pos[0];
    r.customer_id = (char *)opt(c, "customer");
    r.method = (Kasboek__V1__PlanMethod)f.method;
    r.invoice_ids = (char **)invoices;
    r.n_invoice_ids = n_inv;
    r.cases = ptrs;
    r.n_cases = n_cases;
    r.currency = cur;
    r.start_date = (char *)opt(c, "start");
    r.period = (Kasboek__V1__PlanPeriod)f.period;
    if (f.count_given) r.split_case = KASBOEK__V1__CREATE_PLAN_REQUEST__SPLIT_COUNT, r.count = (uint32_t)f.count;
    else r.split_case = KASBOEK__V1__CREATE_PLAN_REQUEST__SPLIT_INSTALMENT_AMOUNT, r.instalment_amount = f.amount;
    r.reminder = (Kasboek__V1__ReminderChannel)f.reminder;
    if (f.tol_days_given)
        r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_DAYS,
        r.tolerance_days = (uint32_t)f.tol_days;
    if (f.tol_count_given)
        r.tolerance_case = KASBOEK__V1__CREATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT,
        r.tolerance_count = (uint32_t)f.tol_count;
    r.early_recalc = cli_has(c, "early-recalc");
    ex = cli_at_flag(c, &r.occurred_at);
    return ex == CLI_EXIT_OK ? cli_command(c, "CreatePlan", &r.base) : ex;
}

int cli_cmd_plans_update(cli *c) {
    Kasboek__V1__UpdatePlanRequest r = KASBOEK__V1__UPDATE_PLAN_REQUEST__INIT;
    r.plan_id = (char *)c->args.pos[0];
    char cur[4] = "EUR";
    int ex = cli_has(c, "instalment-amount") ? plan_currency(c, r.plan_id, cur) : CLI_EXIT_OK;
    plan_flags f = {0};
    if (ex == CLI_EXIT_OK) ex = common_flags(c, cur, &f);
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    r.method = (Kasboek__V1__PlanMethod)f.method;
    r.start_date = (char *)opt(c, "start");
    r.period = (Kasboek__V1__PlanPeriod)f.period;
    if (f.count_given) r.split_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__SPLIT_COUNT, r.count = (uint32_t)f.count;
    if (f.amount_given)
        r.split_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__SPLIT_INSTALMENT_AMOUNT,
        r.instalment_amount = f.amount;
    r.reminder = (Kasboek__V1__ReminderChannel)f.reminder;
    if (f.tol_days_given)
        r.tolerance_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_DAYS,
        r.tolerance_days = (uint32_t)f.tol_days;
    if (f.tol_count_given)
        r.tolerance_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__TOLERANCE_TOLERANCE_COUNT,
        r.tolerance_count = (uint32_t)f.tol_count;
    if (cli_has(c, "early-recalc"))
        r.early_case = KASBOEK__V1__UPDATE_PLAN_REQUEST__EARLY_EARLY_RECALC, r.early_recalc = true;
    return cli_command(c, "UpdatePlan", &r.base);
}

/* activate, pause, resume, cancel. */
int cli_cmd_plans_lifecycle(cli *c) {
    const char *verb = c->cmd->verb, *id = c->args.pos[0];
    Kasboek__V1__ActivatePlanRequest a = KASBOEK__V1__ACTIVATE_PLAN_REQUEST__INIT;
    Kasboek__V1__PausePlanRequest p = KASBOEK__V1__PAUSE_PLAN_REQUEST__INIT;
    Kasboek__V1__ResumePlanRequest r = KASBOEK__V1__RESUME_PLAN_REQUEST__INIT;
    Kasboek__V1__CancelPlanRequest x = KASBOEK__V1__CANCEL_PLAN_REQUEST__INIT;
    a.plan_id = p.plan_id = r.plan_id = x.plan_id = (char *)id;
    if (!strcmp(verb, "activate")) return cli_command(c, "ActivatePlan", &a.base);
    if (!strcmp(verb, "resume")) return cli_command(c, "ResumePlan", &r.base);
    p.reason = x.reason = (char *)opt(c, "reason");
    return !strcmp(verb, "pause") ? cli_command(c, "PausePlan", &p.base)
                                  : cli_command(c, "CancelPlan", &x.base);
}

/* pay: records payment P (bank transfer, source plan:ID), which the ledger
 * allocates to the plan; refunding P or losing a dispute on it reverses. */
int cli_cmd_plans_pay(cli *c) {
    const char *id = c->args.pos[0];
    char cur[4], pid[96];
    int ex = cli_amount_syntax(c, "amount");
    if (ex == CLI_EXIT_OK) ex = plan_currency(c, id, cur);
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    if (ex == CLI_EXIT_OK) ex = cli_amount_text(c, "amount", cur, &m.amount);
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    /* without --payment: "<plan>-<hash of the run's idempotency key>", so a
     * retry with the same key is the same payment. (It took the key's first
     * 16 characters: two keys alike that far made one payment id, and a
     * key with ':' an invalid one; found by a review.) */
    if (cli_flag(c, "payment")) {
        snprintf(pid, sizeof pid, "%s", cli_flag(c, "payment"));
    } else {
        /* as letters a..p, as cursors carry numbers: hex digits could make
         * a run the server refuses as a card number */
        unsigned char h[8];
        crypto_generichash(h, sizeof h, (const unsigned char *)c->idempotency_key,
                           strlen(c->idempotency_key), NULL, 0);
        uint64_t v = 0;
        for (size_t i = 0; i < sizeof h; i++) v = v << 8 | h[i];
        char tag[17];
        kb_cursor_num_put(tag, v);
        tag[16] = '\0';
        snprintf(pid, sizeof pid, "%.40s-%s", id, tag);
    }
    m.currency = cur;
    r.payment_id = pid;
    r.amount = &m;
    r.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_BANK_TRANSFER;
    r.source_type = "plan";
    r.source_id = (char *)id;
    return cli_command(c, "RecordPayment", &r.base);
}

int cli_cmd_plans_retry(cli *c) {
    Kasboek__V1__RetryPlanCollectionRequest r = KASBOEK__V1__RETRY_PLAN_COLLECTION_REQUEST__INIT;
    uint64_t n = 0;
    int ex = cli_u64_flag(c, "instalment", KB_PLAN_INSTALMENTS_MAX, &n);
    if (ex != CLI_EXIT_OK) return ex;
    r.plan_id = (char *)c->args.pos[0];
    r.instalment = (uint32_t)n;
    return cli_command(c, "RetryPlanCollection", &r.base);
}

int cli_cmd_plans_get(cli *c) {
    Kasboek__V1__GetPlanRequest r = KASBOEK__V1__GET_PLAN_REQUEST__INIT;
    r.plan_id = (char *)c->args.pos[0];
    bool timeline = !strcmp(c->cmd->verb, "timeline");
    return cli_query(c, "GetPlan", &r.base, &kasboek__v1__get_plan_reply__descriptor,
                     timeline ? print_timeline_only : print_get);
}

int cli_cmd_plans_list(cli *c) {
    Kasboek__V1__ListPlansRequest r = KASBOEK__V1__LIST_PLANS_REQUEST__INIT;
    int st = 0;
    uint64_t limit = 0;
    int ex = cli_enum_flag(c, "status", &kasboek__v1__plan_status__descriptor, &st);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "limit", KB_PAGE_SIZE_MAX, &limit);
    if (ex != CLI_EXIT_OK) return ex;
    r.status = (Kasboek__V1__PlanStatus)st;
    r.customer_id = (char *)opt(c, "customer");
    r.cursor = (char *)opt(c, "cursor");
    r.limit = (uint32_t)limit;
    return cli_query(c, "ListPlans", &r.base, &kasboek__v1__list_plans_reply__descriptor,
                     print_list);
}

static void print_settings(cli *c, const ProtobufCMessage *m) {
    (void)c;
    Kasboek__V1__CommandResult r = KASBOEK__V1__COMMAND_RESULT__INIT;
    r.plan_settings = (Kasboek__V1__PlanSettings *)m;
    cli_print_plan_result(&r);
}

/* settings plans: without a flag it shows the settings (writing nothing),
 * with flags it changes them. */
int cli_cmd_settings_plans(cli *c) {
    if (!cli_has(c, "early-days") && !cli_has(c, "reminder-offset-days") &&
        !cli_has(c, "default-tolerance-days") && !cli_has(c, "default-tolerance-count")) {
        Kasboek__V1__GetPlanSettingsRequest q = KASBOEK__V1__GET_PLAN_SETTINGS_REQUEST__INIT;
        return cli_query(c, "GetPlanSettings", &q.base, &kasboek__v1__plan_settings__descriptor,
                         print_settings);
    }
    Kasboek__V1__UpdatePlanSettingsRequest r = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__INIT;
    uint64_t early = 0, days = 0, count = 0;
    int ex = cli_u64_flag(c, "early-days", 365, &early);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "default-tolerance-days", 365, &days);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "default-tolerance-count", KB_PLAN_INSTALMENTS_MAX, &count);
    if (ex != CLI_EXIT_OK) return ex;
    const char *off = cli_flag(c, "reminder-offset-days");
    if (off) {
        char *end;
        long v = strtol(off, &end, 10);
        if (!*off || *end || v < -60 || v > 60)
            return cli_usage_error(c, "--reminder-offset-days must be -60..60 (negative: before the due date)");
        r.offset_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__OFFSET_REMINDER_OFFSET_DAYS;
        r.reminder_offset_days = (int32_t)v;
    }
    if (cli_has(c, "early-days"))
        r.early_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__EARLY_EARLY_DAYS, r.early_days = (uint32_t)early;
    if (cli_has(c, "default-tolerance-days"))
        r.tol_days_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__TOL_DAYS_DEFAULT_TOLERANCE_DAYS,
        r.default_tolerance_days = (uint32_t)days;
    if (cli_has(c, "default-tolerance-count"))
        r.tol_count_case = KASBOEK__V1__UPDATE_PLAN_SETTINGS_REQUEST__TOL_COUNT_DEFAULT_TOLERANCE_COUNT,
        r.default_tolerance_count = (uint32_t)count;
    return cli_command(c, "UpdatePlanSettings", &r.base);
}
