/* GetPlan (a payment plan with its instalments and timeline) and
 * ListPlans (newest first, by status or customer, cursor pages). */
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "plan.h"
#include "project.h"
#include "query.h"
#include "query_int.h"
#include "validate.h"

kb_status kb_query_get_plan(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__GetPlanRequest *r = (const void *)msg;
    if (!kb_id_valid(r->plan_id)) {
        kb_error_set(&q->reply->err, r->plan_id[0] ? KB_REASON_INVALID_ID : KB_REASON_FIELD_REQUIRED,
                     "plan_id", "plan_id must be 1-64 characters of [A-Za-z0-9_-]");
        return KB_OK;
    }
    ProtobufCMessage *state;
    kb_status st = kb_project_load(q->s, NULL, q->snap, &q->arena, q->rq->tenant,
                                   &kb_plan_aggregate, r->plan_id, &state);
    if (st == KB_ERR_NOT_FOUND) {
        kb_error_set(&q->reply->err, KB_REASON_PLAN_NOT_FOUND, "plan_id", "no such plan");
        return KB_OK;
    }
    if (st != KB_OK) return st;
    Kasboek__V1__GetPlanReply out = KASBOEK__V1__GET_PLAN_REPLY__INIT;
    out.plan = (Kasboek__V1__PaymentPlan *)state;
    st = kb_query_timeline(q, "plan", r->plan_id, &out.timeline, &out.n_timeline);
    return st == KB_OK ? kb_reply_set(q->reply, &out.base) : st;
}

/* ------------------------------------------------------------- ListPlans */

typedef struct plan_page {
    kb_qctx *q;
    const Kasboek__V1__ListPlansRequest *r;
    Kasboek__V1__ListPlansReply *out;
    uint32_t limit;
    size_t prefix_len;
    kb_key last;
    uint64_t read;
} plan_page;

/* Walks the list newest first from below start. */
static kb_status plan_walk(plan_page *pg, const kb_key *prefix, const kb_key *start) {
    kb_key end;
    kb_key_prefix_end(prefix, &end);
    kb_iter *it = kb_iter_open(pg->q->s, pg->q->snap, KB_CF_INDEX, end.bytes, end.len);
    if (!it) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    for (kb_iter_seek_for_prev(it, start->bytes, start->len);
         kb_iter_valid(it) && pg->out->n_plans < pg->limit && pg->read < kb_query_list_scan_max;
         kb_iter_prev(it)) {
        size_t kl;
        const char *k = kb_iter_key(it, &kl);
        if (kl < prefix->len || memcmp(k, prefix->bytes, prefix->len) != 0) break;
        if (kl == start->len && memcmp(k, start->bytes, kl) == 0) continue; /* the cursor's */
        pg->read++;
        if (kl < prefix->len + 18 || kl - prefix->len - 17 > KB_ID_LEN_MAX) {
            st = KB_ERR_CORRUPT;
            break;
        }
        char id[KB_ID_LEN_MAX + 1];
        memcpy(id, k + prefix->len + 17, kl - prefix->len - 17);
        id[kl - prefix->len - 17] = 0;
        pg->last.len = 0;
        kb_key_raw(&pg->last, k, kl);
        ProtobufCMessage *state;
        st = kb_project_load(pg->q->s, NULL, pg->q->snap, &pg->q->arena, pg->q->rq->tenant,
                             &kb_plan_aggregate, id, &state);
        if (st == KB_ERR_NOT_FOUND) st = KB_ERR_CORRUPT;
        if (st != KB_OK) break;
        Kasboek__V1__PaymentPlan *p = (void *)state;
        if (!pg->r->status || p->status == pg->r->status) pg->out->plans[pg->out->n_plans++] = p;
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    return st;
}

kb_status kb_query_list_plans(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__ListPlansRequest *r = (const void *)msg;
    kb_error *err = &q->reply->err;
    if (r->status < 0 || r->status > KASBOEK__V1__PLAN_STATUS__PLAN_STATUS_CANCELLED) {
        kb_error_set(err, KB_REASON_INVALID_ENUM, "status", "unknown plan status");
        return KB_OK;
    }
    if (r->customer_id[0] && !kb_id_valid(r->customer_id)) {
        kb_error_set(err, KB_REASON_INVALID_ID, "customer_id", "customer_id must be an id");
        return KB_OK;
    }
    if (r->limit > KB_PAGE_SIZE_MAX) {
        kb_error_set(err, KB_REASON_INVALID_RANGE, "limit", "limit is at most 1000");
        return KB_OK;
    }
    char st_buf[12];
    snprintf(st_buf, sizeof st_buf, "%d", (int)r->status);
    kb_key prefix, start;
    if (r->customer_id[0]) kb_plan_list_prefix(&prefix, q->rq->tenant, "customer", r->customer_id);
    else if (r->status) kb_plan_list_prefix(&prefix, q->rq->tenant, "status", st_buf);
    else kb_plan_list_prefix(&prefix, q->rq->tenant, "all", "plans");
    uint64_t created;
    if (r->cursor[0]) {
        size_t n = strlen(r->cursor);
        if (n < 18 || r->cursor[16] != '/' || !kb_cursor_num_get(r->cursor, &created) ||
            !kb_id_valid(r->cursor + 17)) {
            kb_error_set(err, KB_REASON_INVALID_CURSOR, "cursor", "not a cursor of this list");
            return KB_OK;
        }
        start = prefix;
        kb_key_raw_hex64(&start, created);
        kb_key_add(&start, r->cursor + 17);
    } else {
        kb_key_prefix_end(&prefix, &start);
    }
    Kasboek__V1__ListPlansReply out = KASBOEK__V1__LIST_PLANS_REPLY__INIT;
    plan_page pg = {.q = q, .r = r, .out = &out, .limit = r->limit ? r->limit : KB_PAGE_SIZE_DEFAULT};
    out.plans = kb_arena_alloc(&q->arena, pg.limit * sizeof *out.plans);
    if (!out.plans) return KB_ERR_NOMEM;
    kb_status st = plan_walk(&pg, &prefix, &start);
    if (st != KB_OK) return st;
    if (pg.last.len && (out.n_plans == pg.limit || pg.read == kb_query_list_scan_max)) {
        const char *s = pg.last.bytes + prefix.len;
        size_t n = pg.last.len - prefix.len;
        char *c = kb_arena_alloc(&q->arena, n + 1);
        if (!c || !kb_key_parse_hex64(s, &created)) return c ? KB_ERR_CORRUPT : KB_ERR_NOMEM;
        kb_cursor_num_put(c, created);
        memcpy(c + 16, s + 16, n - 16);
        c[n] = 0;
        out.next_cursor = c;
    }
    return kb_reply_set(q->reply, &out.base);
}
