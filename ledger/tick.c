/* Tick: what time makes due, run as ordinary commands of the open batch,
 * so a replay of the log gives the same state (DESIGN.md §2). */
#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "calendar.h"
#include "engine.h"
#include "invoice.h"
#include "plan.h"
#include "project.h"

#define TICK_ACTOR "system:tick"

typedef struct tick {
    kb_engine *e;
    int64_t now;
    kb_arena arena;
    uint32_t closed, overdue, plans, actions;
} tick;

static kb_status load_or_default(tick *t, const char *tenant, const kb_aggregate *agg,
                                 const char *id, ProtobufCMessage **out) {
    return kb_project_load_or_create(kb_engine_store(t->e), kb_engine_open_batch(t->e), NULL,
                                     &t->arena, tenant, agg, id, out);
}

static kb_status run(tick *t, const char *tenant, const char *method, const ProtobufCMessage *m,
                     bool *ok);

/* Closes tenant's payout day in currency when it is due. */
static kb_status close_if_due(tick *t, const char *tenant, const char *currency) {
    kb_arena_reset(&t->arena);
    ProtobufCMessage *sm, *bm;
    kb_status st = load_or_default(t, tenant, &kb_settings_aggregate, "tenant", &sm);
    if (st == KB_OK) st = load_or_default(t, tenant, &kb_balance_aggregate, currency, &bm);
    if (st != KB_OK) return st;
    const Kasboek__V1__Balance *b = (const void *)bm;
    int32_t day = kb_payout_day_due((const void *)sm, t->now);
    if (b->last_payout_date >= day || b->n_open == 0 || b->open[0]->available_on > day) {
        return KB_OK; /* closed already, or nothing available by it */
    }
    char date[16];
    if (kb_date_format(day, date, sizeof date) < 0) return KB_ERR_ARG;
    Kasboek__V1__ClosePayoutRequest r = KASBOEK__V1__CLOSE_PAYOUT_REQUEST__INIT;
    r.currency = (char *)currency;
    r.date = date;
    bool ok;
    st = run(t, tenant, "ClosePayout", &r.base, &ok);
    t->closed += ok;
    return st;
}

/* Runs one command of the tick; *ok when it was accepted. A refusal is
 * logged, not an error: the tick goes on. */
static kb_status run(tick *t, const char *tenant, const char *method, const ProtobufCMessage *m,
                     bool *ok) {
    uint8_t buf[256];
    KB_VERIFY(protobuf_c_message_get_packed_size(m) <= sizeof buf);
    size_t n = protobuf_c_message_pack(m, buf);
    kb_request rq = {.tenant = tenant,
                     .actor = TICK_ACTOR,
                     .method = method,
                     .idempotency_key = "",
                     .payload = buf,
                     .payload_len = n,
                     .now = t->now};
    kb_reply reply;
    kb_status st = kb_engine_execute(t->e, &rq, &reply);
    t->actions++;
    *ok = st == KB_OK && reply.err.code == KB_CODE_OK;
    if (st == KB_OK && reply.err.code != KB_CODE_OK) {
        fprintf(stderr, "kasboek tick: %s: %s: %s\n", tenant, method, reply.err.message);
    }
    kb_reply_fini(&reply);
    return st;
}

/* "<tenant>/<id>" at k + start -> tenant, id. */
static bool split_row(const char *k, size_t kl, size_t start, char *tenant, char *id) {
    if (kl <= start) return false;
    const char *p = k + start, *end = k + kl;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash || slash == p || slash - p > KB_ID_LEN_MAX || end - slash - 1 > KB_ID_LEN_MAX ||
        end == slash + 1)
        return false;
    memcpy(tenant, p, (size_t)(slash - p));
    tenant[slash - p] = 0;
    memcpy(id, slash + 1, (size_t)(end - slash - 1));
    id[end - slash - 1] = 0;
    return true;
}

/* Runs fn on each row of the index family in [lo, hi), each
 * "<lo><skip bytes><tenant>/<id>", until the tick's bound of commands. */
typedef kb_status (*row_fn)(tick *t, const char *tenant, const char *id);

static kb_status walk_rows(tick *t, const kb_key *lo, const kb_key *hi, size_t skip, row_fn fn,
                           bool *more) {
    kb_iter *it = kb_iter_open(kb_engine_store(t->e), NULL, KB_CF_INDEX, hi->bytes, hi->len);
    kb_status st = it ? KB_OK : KB_ERR_NOMEM;
    char tenant[KB_ID_LEN_MAX + 1], id[KB_ID_LEN_MAX + 1];
    for (kb_iter_seek(it, lo->bytes, lo->len); st == KB_OK && it && kb_iter_valid(it);
         kb_iter_next(it)) {
        if (t->actions == KB_TICK_ACTIONS_MAX) {
            *more = true;
            break;
        }
        size_t kl;
        const char *k = kb_iter_key(it, &kl);
        if (!split_row(k, kl, lo->len + skip, tenant, id)) {
            st = KB_ERR_CORRUPT;
            break;
        }
        st = fn(t, tenant, id);
    }
    if (st == KB_OK && it) st = kb_iter_status(it);
    kb_iter_close(it);
    return st;
}

/* "~sys/balances/<tenant>/<currency>": every payout day that is due. */
static kb_status close_balance(tick *t, const char *tenant, const char *currency) {
    return strlen(currency) == 3 ? close_if_due(t, tenant, currency) : KB_ERR_CORRUPT;
}

static kb_status close_payout_days(tick *t, bool *more) {
    kb_key lo, hi;
    kb_key_init(&lo);
    kb_key_add(&lo, KB_SYS_PREFIX);
    kb_key_add(&lo, "balances");
    kb_key_raw(&lo, "/", 1);
    kb_key_prefix_end(&lo, &hi);
    return walk_rows(t, &lo, &hi, 0, close_balance, more);
}

/* A due list ("<prefix><day hex16>/<tenant>/<id>") up to (and without)
 * key day until. */
static kb_status walk_due(tick *t, const kb_key *prefix, int32_t until, row_fn fn, bool *more) {
    kb_key hi = *prefix;
    kb_key_raw_hex64(&hi, (uint64_t)(int64_t)until);
    return walk_rows(t, prefix, &hi, 17 /* 16 hex digits and '/' */, fn, more);
}

static kb_status invoice_overdue(tick *t, const char *tenant, const char *id) {
    Kasboek__V1__MarkInvoiceOverdueRequest r = KASBOEK__V1__MARK_INVOICE_OVERDUE_REQUEST__INIT;
    r.invoice_id = (char *)id;
    bool ok;
    kb_status st = run(t, tenant, "MarkInvoiceOverdue", &r.base, &ok);
    t->overdue += ok;
    return st;
}

static kb_status plan_advance(tick *t, const char *tenant, const char *id) {
    Kasboek__V1__AdvancePlanRequest r = KASBOEK__V1__ADVANCE_PLAN_REQUEST__INIT;
    r.plan_id = (char *)id;
    bool ok;
    kb_status st = run(t, tenant, "AdvancePlan", &r.base, &ok);
    t->plans += ok;
    return st;
}

kb_status kb_engine_tick(kb_engine *e, int64_t now, kb_tick_result *out) {
    tick t = {.e = e, .now = now};
    *out = (kb_tick_result){0};
    if (!kb_engine_open_batch(e)) return KB_ERR_STATE;
    kb_arena_init(&t.arena, 1u << 20);
    int32_t today = kb_day_of_instant(now);
    kb_key due;
    kb_status st = close_payout_days(&t, &out->more);
    /* invoices due before today are overdue; plans act on their day */
    kb_invoice_due_prefix(&due);
    if (st == KB_OK && !out->more) st = walk_due(&t, &due, today, invoice_overdue, &out->more);
    kb_plan_due_prefix(&due);
    if (st == KB_OK && !out->more) st = walk_due(&t, &due, today + 1, plan_advance, &out->more);
    kb_arena_fini(&t.arena);
    out->payouts_closed = t.closed;
    out->invoices_overdue = t.overdue;
    out->plans_advanced = t.plans;
    return st;
}
