/* Tick: what time makes due, run as ordinary commands of the open batch,
 * so a replay of the log gives the same state (DESIGN.md §2). */
#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "calendar.h"
#include "engine.h"
#include "project.h"

#define TICK_ACTOR "system:tick"

typedef struct tick {
    kb_engine *e;
    int64_t now;
    kb_arena arena;
    uint32_t closed, actions;
} tick;

static kb_status load_or_default(tick *t, const char *tenant, const kb_aggregate *agg,
                                 const char *id, ProtobufCMessage **out) {
    return kb_project_load_or_create(kb_engine_store(t->e), kb_engine_open_batch(t->e), NULL,
                                     &t->arena, tenant, agg, id, out);
}

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
    uint8_t buf[64];
    KB_VERIFY(kasboek__v1__close_payout_request__get_packed_size(&r) <= sizeof buf);
    size_t n = kasboek__v1__close_payout_request__pack(&r, buf);
    kb_request rq = {.tenant = tenant,
                     .actor = TICK_ACTOR,
                     .method = "ClosePayout",
                     .idempotency_key = "",
                     .payload = buf,
                     .payload_len = n,
                     .now = t->now};
    kb_reply reply;
    st = kb_engine_execute(t->e, &rq, &reply);
    t->actions++;
    if (st == KB_OK && reply.err.code == KB_CODE_OK) t->closed++;
    if (st == KB_OK && reply.err.code != KB_CODE_OK) {
        fprintf(stderr, "kasboek tick: %s %s: ClosePayout %s: %s\n", tenant, currency, date,
                reply.err.message);
    }
    kb_reply_fini(&reply);
    return st;
}

/* "~sys/balances/<tenant>/<currency>" -> tenant, currency. */
static bool split_row(const char *k, size_t kl, size_t prefix_len, char *tenant, char *cur) {
    const char *p = k + prefix_len, *end = k + kl;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash || slash == p || slash - p > KB_ID_LEN_MAX || end - slash - 1 != 3) return false;
    memcpy(tenant, p, (size_t)(slash - p));
    tenant[slash - p] = 0;
    memcpy(cur, slash + 1, 3);
    cur[3] = 0;
    return true;
}

kb_status kb_engine_tick(kb_engine *e, int64_t now, uint32_t *closed, bool *more) {
    tick t = {.e = e, .now = now};
    *closed = 0;
    *more = false;
    if (!kb_engine_open_batch(e)) return KB_ERR_STATE;
    kb_arena_init(&t.arena, 1u << 20);
    kb_key lo, hi;
    kb_key_init(&lo);
    kb_key_add(&lo, KB_SYS_PREFIX);
    kb_key_add(&lo, "balances");
    kb_key_raw(&lo, "/", 1);
    kb_key_prefix_end(&lo, &hi);
    kb_iter *it = kb_iter_open(kb_engine_store(e), NULL, KB_CF_INDEX, hi.bytes, hi.len);
    kb_status st = it ? KB_OK : KB_ERR_NOMEM;
    char tenant[KB_ID_LEN_MAX + 1], cur[4];
    for (kb_iter_seek(it, lo.bytes, lo.len); st == KB_OK && it && kb_iter_valid(it);
         kb_iter_next(it)) {
        if (t.actions == KB_TICK_ACTIONS_MAX) {
            *more = true;
            break;
        }
        size_t kl;
        const char *k = kb_iter_key(it, &kl);
        if (!split_row(k, kl, lo.len, tenant, cur)) {
            st = KB_ERR_CORRUPT;
            break;
        }
        st = close_if_due(&t, tenant, cur);
    }
    if (st == KB_OK && it) st = kb_iter_status(it);
    kb_iter_close(it);
    kb_arena_fini(&t.arena);
    *closed = t.closed;
    return st;
}
