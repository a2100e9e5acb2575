/* GetPlan (a payment plan with its instalments and timeline), ListPlans
 * (newest first, by status or customer, cursor pages) and GetPlanSettings
 * (the tenant's, its defaults when never set; reading writes nothing). */
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
} plan_page;

static kb_status plan_row(void *ctx, const char *id, const char *v, size_t vl, bool *go_on) {
    (void)v, (void)vl;
    plan_page *pg = ctx;
    ProtobufCMessage *state;
    kb_status st = kb_project_load(pg->q->s, NULL, pg->q->snap, &pg->q->arena, pg->q->rq->tenant,
                                   &kb_plan_aggregate, id, &state);
    if (st == KB_ERR_NOT_FOUND) st = KB_ERR_CORRUPT; /* an entry of no plan */
    if (st != KB_OK) return st;
    Kasboek__V1__PaymentPlan *p = (void *)state;
    if (!pg->r->status || p->status == pg->r->status) pg->out->plans[pg->out->n_plans++] = p;
    *go_on = pg->out->n_plans < pg->limit;
    return KB_OK;
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
    kb_key prefix;
    if (r->customer_id[0]) kb_plan_list_prefix(&prefix, q->rq->tenant, "customer", r->customer_id);
    else if (r->status) kb_plan_list_prefix(&prefix, q->rq->tenant, "status", st_buf);
    else kb_plan_list_prefix(&prefix, q->rq->tenant, "all", "plans");
    kb_list_walk w;
    if (!kb_list_walk_init(&w, q, &prefix, r->cursor, kb_query_list_scan_max)) {
        kb_error_set(err, KB_REASON_INVALID_CURSOR, "cursor", "not a cursor of this list");
        return KB_OK;
    }
    Kasboek__V1__ListPlansReply out = KASBOEK__V1__LIST_PLANS_REPLY__INIT;
    plan_page pg = {.q = q, .r = r, .out = &out, .limit = r->limit ? r->limit : KB_PAGE_SIZE_DEFAULT};
    out.plans = kb_arena_alloc(&q->arena, pg.limit * sizeof *out.plans);
    if (!out.plans) return KB_ERR_NOMEM;
    kb_status st = kb_list_walk_run(&w, plan_row, &pg);
    if (st != KB_OK) return st;
    if (w.last.len && (out.n_plans == pg.limit || w.read == w.budget)) {
        out.next_cursor = kb_list_walk_cursor(&w);
        if (!out.next_cursor) return KB_ERR_CORRUPT;
    }
    return kb_reply_set(q->reply, &out.base);
}

/* ------------------------------------------------------- GetPlanSettings */

kb_status kb_query_get_plan_settings(kb_qctx *q, const ProtobufCMessage *msg) {
    (void)msg;
    return kb_query_reply_singleton(q, &kb_plan_settings_aggregate, "tenant");
}
