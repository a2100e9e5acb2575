#include "query.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "aggregate.h"
#include "inspect.h"
#include "keys.h"
#include "money.h"
#include "payment.h"
#include "project.h"
#include "query_int.h"
#include "validate.h"

typedef kb_qctx qctx;
typedef kb_query_fn query_fn;

kb_status kb_query_scan(kb_qctx *q, kb_cf cf, const kb_key *lower, const kb_key *upper,
                        kb_query_row_fn fn, void *ctx) {
    kb_iter *it = kb_iter_open(q->s, q->snap, cf, upper->bytes, upper->len);
    if (!it) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    bool go_on = true;
    for (kb_iter_seek(it, lower->bytes, lower->len); go_on && kb_iter_valid(it); kb_iter_next(it)) {
        size_t kl, vl;
        const char *k = kb_iter_key(it, &kl);
        const char *v = kb_iter_value(it, &vl);
        st = fn(ctx, k, kl, v, vl, &go_on);
        if (st != KB_OK) break;
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    return st;
}

/* ------------------------------------------------------------ list walks */

#define LIST_SFX_MIN 18 /* "<hex16>/" and one id character */

bool kb_list_walk_init(kb_list_walk *w, kb_qctx *q, const kb_key *prefix, const char *cursor,
                       uint64_t budget) {
    *w = (kb_list_walk){.q = q, .prefix = *prefix, .budget = budget};
    if (!cursor[0]) {
        kb_key_prefix_end(prefix, &w->start);
        return true;
    }
    uint64_t created;
    if (strlen(cursor) < LIST_SFX_MIN || cursor[16] != '/' || !kb_cursor_num_get(cursor, &created) ||
        !kb_id_valid(cursor + 17))
        return false;
    w->start = *prefix;
    kb_key_raw_hex64(&w->start, created);
    kb_key_add(&w->start, cursor + 17);
    return true;
}

kb_status kb_list_walk_run(kb_list_walk *w, kb_list_row_fn fn, void *ctx) {
    const kb_key *prefix = &w->prefix, *start = &w->start;
    kb_key end;
    kb_key_prefix_end(prefix, &end);
    kb_iter *it = kb_iter_open(w->q->s, w->q->snap, KB_CF_INDEX, end.bytes, end.len);
    if (!it) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    bool go_on = true;
    for (kb_iter_seek_for_prev(it, start->bytes, start->len); go_on && kb_iter_valid(it);
         kb_iter_prev(it)) {
        size_t kl, vl;
        const char *k = kb_iter_key(it, &kl);
        if (kl < prefix->len || memcmp(k, prefix->bytes, prefix->len) != 0) break;
        if (kl == start->len && memcmp(k, start->bytes, kl) == 0) continue; /* the cursor's */
        if (w->read == w->budget) break;
        w->read++;
        size_t sl = kl - prefix->len;
        if (sl < LIST_SFX_MIN || sl - 17 > KB_ID_LEN_MAX) {
            st = KB_ERR_CORRUPT;
            break;
        }
        char id[KB_ID_LEN_MAX + 1];
        memcpy(id, k + prefix->len + 17, sl - 17);
        id[sl - 17] = 0;
        w->last.len = 0;
        kb_key_raw(&w->last, k, kl);
        const char *v = kb_iter_value(it, &vl);
        st = fn(ctx, id, v, vl, &go_on);
        if (st != KB_OK) break;
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    return st;
}

char *kb_list_walk_cursor(const kb_list_walk *w) {
    uint64_t created;
    const char *s = w->last.bytes + w->prefix.len;
    size_t n = w->last.len - w->prefix.len;
    if (w->last.len < w->prefix.len + LIST_SFX_MIN || !kb_key_parse_hex64(s, &created)) return NULL;
    char *c = kb_arena_alloc(&w->q->arena, n + 1);
    if (!c) return NULL;
    kb_cursor_num_put(c, created);
    memcpy(c + 16, s + 16, n - 16);
    c[n] = 0;
    return c;
}

/* ------------------------------------------------------------ GetPayment */

kb_status kb_query_timeline(kb_qctx *q, const char *type, const char *id,
                            Kasboek__V1__EventRecord ***out, size_t *n_out) {
    kb_key prefix, end;
    kb_key_state(&prefix, q->rq->tenant, type, id);
    kb_key_raw(&prefix, "/", 1);
    kb_key_prefix_end(&prefix, &end);
    kb_iter *it = kb_iter_open(q->s, q->snap, KB_CF_STREAMS, end.bytes, end.len);
    if (!it) return KB_ERR_NOMEM;
    size_t cap = 16, n = 0;
    Kasboek__V1__EventRecord **v = kb_arena_alloc(&q->arena, cap * sizeof *v);
    kb_status st = v ? KB_OK : KB_ERR_NOMEM;
    for (kb_iter_seek(it, prefix.bytes, prefix.len);
         st == KB_OK && kb_iter_valid(it) && n < KB_PAGE_SIZE_MAX; kb_iter_next(it)) {
        size_t vl;
        const char *val = kb_iter_value(it, &vl);
        if (vl != 8) {
            st = KB_ERR_CORRUPT;
            break;
        }
        if (n == cap) {
            Kasboek__V1__EventRecord **g = kb_arena_alloc(&q->arena, 2 * cap * sizeof *g);
            if (!g) {
                st = KB_ERR_NOMEM;
                break;
            }
            memcpy(g, v, cap * sizeof *g);
            v = g;
            cap *= 2;
        }
        st = kb_log_read(q->s, q->snap, kb_be64_get((const unsigned char *)val), &q->arena, &v[n]);
        if (st == KB_OK) n++;
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    *out = v;
    *n_out = n;
    return st;
}

kb_status kb_query_reply_singleton(kb_qctx *q, const kb_aggregate *agg, const char *id) {
    ProtobufCMessage *s;
    kb_status st = kb_project_load_or_create(q->s, NULL, q->snap, &q->arena, q->rq->tenant, agg,
                                             id, &s);
    return st == KB_OK ? kb_reply_set(q->reply, s) : st;
}

static kb_status get_payment(qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__GetPaymentRequest *r = (const void *)msg;
    if (!kb_id_valid(r->payment_id)) {
        kb_error_set(&q->reply->err,
                     r->payment_id[0] ? KB_REASON_INVALID_ID : KB_REASON_FIELD_REQUIRED,
                     "payment_id", "payment_id must be 1-64 characters of [A-Za-z0-9_-]");
        return KB_OK;
    }
    ProtobufCMessage *state;
    kb_status st = kb_project_load(q->s, NULL, q->snap, &q->arena, q->rq->tenant,
                                   &kb_payment_aggregate, r->payment_id, &state);
    if (st == KB_ERR_NOT_FOUND) {
        kb_error_set(&q->reply->err, KB_REASON_PAYMENT_NOT_FOUND, "payment_id", "no payment %s",
                     r->payment_id);
        return KB_OK;
    }
    if (st != KB_OK) return st;
    Kasboek__V1__GetPaymentReply out = KASBOEK__V1__GET_PAYMENT_REPLY__INIT;
    out.payment = (Kasboek__V1__Payment *)state;
    st = kb_query_timeline(q, "payment", r->payment_id, &out.timeline, &out.n_timeline);
    return st == KB_OK ? kb_reply_set(q->reply, &out.base) : st;
}

/* ------------------------------------------------------------ ReadEvents */

/* Robustness fix (found writing tests/fuzz, reproduced with 2000 payments of
 * ~40 KB): every row examined went into the reply's arena, also the rows
 * the tenant drops (ListPayments had the same; see query_list.c), so a few
 * thousand large ones exhausted it, and protobuf-c's failed unpack then read as a corrupt
 * record: DATA_LOSS RECORD_CORRUPT, even for a tenant with no events at
 * all. A row is now examined in the scratch arena, and only a kept row is
 * read again into the reply's; a page also ends, with its cursor, once the
 * reply's rows take KB_QUERY_PAGE_BYTES. */
static bool page_full(const qctx *q, size_t n, size_t limit, size_t scanned) {
    return n == limit || scanned == KB_LIST_SCAN_MAX || q->arena.used_bytes > KB_QUERY_PAGE_BYTES;
}



/* *out = the record (in the reply's arena) when it is the tenant's, or
 * NULL (see page_full). */
static kb_status read_one(qctx *q, const char *val, size_t vl, uint64_t seq,
                          Kasboek__V1__EventRecord **out) {
    *out = NULL;
    kb_arena_reset(&q->scratch);
    Kasboek__V1__EventRecord *rec;
    kb_status st = kb_log_decode(val, vl, seq, NULL, &q->scratch, &rec);
    if (st != KB_OK || strcmp(rec->tenant, q->rq->tenant) != 0) return st;
    return kb_log_decode(val, vl, seq, NULL, &q->arena, out);
}

static kb_status read_events(qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__ReadEventsRequest *r = (const void *)msg;
    if (r->limit > KB_PAGE_SIZE_MAX) {
        kb_error_set(&q->reply->err, KB_REASON_INVALID_RANGE, "limit", "limit is at most %d",
                     KB_PAGE_SIZE_MAX);
        return KB_OK;
    }
    uint32_t limit = r->limit ? r->limit : KB_PAGE_SIZE_DEFAULT * 2;
    Kasboek__V1__ReadEventsReply out = KASBOEK__V1__READ_EVENTS_REPLY__INIT;
    kb_head head;
    kb_status st = kb_log_head_read(q->s, NULL, q->snap, &head);
    if (st != KB_OK) return st;
    out.head_seq = head.seq;
    out.events = kb_arena_alloc(&q->arena, limit * sizeof *out.events);
    kb_iter *it = kb_iter_open(q->s, q->snap, KB_CF_EVENTS, NULL, 0);
    if (!it || !out.events) {
        kb_iter_close(it);
        return KB_ERR_NOMEM;
    }
    uint64_t seq = r->from_seq ? r->from_seq : 1;
    kb_key k;
    kb_key_event(&k, seq);
    size_t scanned = 0;
    for (kb_iter_seek(it, k.bytes, k.len);
         kb_iter_valid(it) && !page_full(q, out.n_events, limit, scanned);
         kb_iter_next(it), scanned++) {
        size_t kl, vl;
        const char *key = kb_iter_key(it, &kl);
        const char *val = kb_iter_value(it, &vl);
        if (kl != 8) {
            st = KB_ERR_CORRUPT;
            break;
        }
        seq = kb_be64_get((const unsigned char *)key);
        Kasboek__V1__EventRecord *rec;
        st = read_one(q, val, vl, seq, &rec);
        if (st != KB_OK) break;
        if (rec) out.events[out.n_events++] = rec;
        seq++;
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    out.next_seq = seq;
    return st == KB_OK ? kb_reply_set(q->reply, &out.base) : st;
}

/* -------------------------------------------------------------- dispatch */

static const struct {
    const char *method;
    const ProtobufCMessageDescriptor *desc;
    query_fn fn;
} queries[] = {
    {"GetPayment", &kasboek__v1__get_payment_request__descriptor, get_payment},
    {"ListPayments", &kasboek__v1__list_payments_request__descriptor, kb_query_list_payments},
    {"ReadEvents", &kasboek__v1__read_events_request__descriptor, read_events},
    {"GetBalance", &kasboek__v1__get_balance_request__descriptor, kb_query_get_balance},
    {"GetPayout", &kasboek__v1__get_payout_request__descriptor, kb_query_get_payout},
    {"ListPayouts", &kasboek__v1__list_payouts_request__descriptor, kb_query_list_payouts},
    {"ListBalanceTransactions", &kasboek__v1__list_balance_transactions_request__descriptor,
     kb_query_list_btxns},
    {"GetTenantSettings", &kasboek__v1__get_tenant_settings_request__descriptor,
     kb_query_get_settings},
    {"GetReport", &kasboek__v1__get_report_request__descriptor, kb_query_get_report},
    {"GetInvoice", &kasboek__v1__get_invoice_request__descriptor, kb_query_get_invoice},
    {"ListInvoices", &kasboek__v1__list_invoices_request__descriptor, kb_query_list_invoices},
    {"GetPlan", &kasboek__v1__get_plan_request__descriptor, kb_query_get_plan},
    {"ListPlans", &kasboek__v1__list_plans_request__descriptor, kb_query_list_plans},
    {"GetPlanSettings", &kasboek__v1__get_plan_settings_request__descriptor,
     kb_query_get_plan_settings},
};

static int query_index(const char *method) {
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        if (strcmp(queries[i].method, method) == 0) return (int)i;
    }
    return -1;
}

bool kb_query_known(const char *method) {
    return method && query_index(method) >= 0;
}

kb_status kb_query_execute(kb_store *s, const kb_request *rq, kb_reply *reply) {
    memset(reply, 0, sizeof *reply);
    int i = query_index(rq->method);
    if (i < 0) {
        kb_error_set(&reply->err, KB_REASON_UNKNOWN_METHOD, "method", "unknown method");
        return KB_OK;
    }
    if (!rq->tenant || !kb_id_valid(rq->tenant)) {
        kb_error_set(&reply->err, KB_REASON_INVALID_TENANT, "tenant", "invalid tenant");
        return KB_OK;
    }
    qctx q = {.s = s, .rq = rq, .reply = reply};
    kb_arena_init(&q.arena, KB_QUERY_ARENA_BYTES);
    kb_arena_init(&q.scratch, KB_COMMAND_ARENA_BYTES); /* one state or record */
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(queries[i].desc, &q.arena.pb, rq->payload_len, rq->payload);
    kb_status st = KB_OK;
    if (!msg) {
        kb_error_set(&reply->err, KB_REASON_MALFORMED_PAYLOAD, "payload",
                     "payload is not a valid %s", queries[i].desc->short_name);
    } else if (kb_inspect_message(msg, &reply->err)) {
        q.snap = kb_store_snapshot(s);
        st = queries[i].fn(&q, msg);
        kb_store_snapshot_release(s, q.snap);
        if (st == KB_ERR_CORRUPT) { /* a stored record fails its checks */
            kb_reply_fini(reply);
            kb_error_set(&reply->err, KB_REASON_RECORD_CORRUPT, "",
                         "a stored record fails its checks; run kasboek-audit verify");
            st = KB_OK;
        }
    }
    kb_arena_fini(&q.arena);
    kb_arena_fini(&q.scratch);
    return st;
}
