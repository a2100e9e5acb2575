/* GetPlan: a payment plan with its instalments and its timeline. */
#include "plan.h"
#include "project.h"
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
