/* Shared by the query modules (query.c, query_balance.c); not an API. */
#ifndef KB_QUERY_INT_H
#define KB_QUERY_INT_H

#include "arena.h"
#include "engine.h"
#include "store.h"

typedef struct kb_qctx {
    kb_store *s;
    kb_snapshot *snap;
    kb_arena arena;   /* the reply's rows */
    kb_arena scratch; /* one row being examined, reset per row */
    const kb_request *rq;
    kb_reply *reply;
} kb_qctx;

typedef kb_status (*kb_query_fn)(kb_qctx *q, const ProtobufCMessage *msg);

/* The balance transactions a day or created row names (balance.h): of
 * event seq in currency, those whose bit is set in mask, decoded into a;
 * *n of them in out, in the event's order. KB_ERR_CORRUPT when the mask
 * is empty or names a row that is not there. */
kb_status kb_query_btxn_rows(kb_qctx *q, kb_arena *a, const char *currency, uint64_t seq,
                             unsigned mask, Kasboek__V1__BalanceTransaction **out,
                             size_t *n) KB_MUST_USE;

/* Calls fn for every row of family cf in [lower, upper), ascending, at the
 * query's snapshot; fn sets *go_on false to stop, and an error stops too. */
typedef kb_status (*kb_query_row_fn)(void *ctx, const char *key, size_t kl, const char *val,
                                     size_t vl, bool *go_on);
kb_status kb_query_scan(kb_qctx *q, kb_cf cf, const kb_key *lower, const kb_key *upper,
                        kb_query_row_fn fn, void *ctx) KB_MUST_USE;

/* Lists keyed "<prefix><created_at hex16>/<id>" (invoices, plans), read
 * newest first in pages whose cursor is "<created_at letters>/<id>", the
 * last row a page read. */
typedef struct kb_list_walk {
    kb_qctx *q;
    kb_key prefix;
    kb_key start;    /* rows below it (the cursor's own row is skipped) */
    uint64_t budget; /* rows one walk reads at most */
    uint64_t read;   /* rows read */
    kb_key last;     /* the last row read (len 0: none) */
} kb_list_walk;
/* fn gets each row's id and value; *go_on false stops the walk. */
typedef kb_status (*kb_list_row_fn)(void *ctx, const char *id, const char *val, size_t vl,
                                    bool *go_on);
/* From cursor ("" = the newest row); false when cursor is not one of
 * this list's. */
bool kb_list_walk_init(kb_list_walk *w, kb_qctx *q, const kb_key *prefix, const char *cursor,
                       uint64_t budget);
/* A row not "<hex16>/<id>" is KB_ERR_CORRUPT. */
kb_status kb_list_walk_run(kb_list_walk *w, kb_list_row_fn fn, void *ctx) KB_MUST_USE;
/* The cursor after the last row read, in the reply's arena; NULL when no
 * memory or the row is malformed. */
char *kb_list_walk_cursor(const kb_list_walk *w);

/* Every event of stream type/id (at most KB_PAGE_SIZE_MAX), seq ascending,
 * into the reply arena. */
kb_status kb_query_timeline(kb_qctx *q, const char *type, const char *id,
                            Kasboek__V1__EventRecord ***out, size_t *n) KB_MUST_USE;

/* The payout an index row names (its value is the payout id); a row
 * naming no payout is KB_ERR_CORRUPT. */
kb_status kb_query_row_payout(kb_qctx *q, const char *id, size_t id_len,
                              Kasboek__V1__Payout **out) KB_MUST_USE;

/* Every balance transaction payout p holds, by seq, into the reply arena;
 * KB_ERR_CORRUPT when they do not sum to its amount. */
kb_status kb_query_payout_transactions(kb_qctx *q, const Kasboek__V1__Payout *p,
                                       Kasboek__V1__BalanceTransaction ***out,
                                       size_t *n) KB_MUST_USE;
/* Distinct currencies one totals reply holds (more than ISO 4217 has). */
#define KB_CURRENCIES_MAX 256

/* Adds one row to the per-currency totals tot[0..*n) (room for
 * KB_CURRENCIES_MAX); *overflow is set when a sum leaves int64. */
kb_status kb_query_total_add(kb_qctx *q, Kasboek__V1__CurrencyTotal *tot, size_t *n,
                             const char *currency, int64_t amount, bool *overflow) KB_MUST_USE;
kb_status kb_query_list_payments(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_get_report(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_get_balance(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_get_payout(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_list_payouts(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_list_btxns(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_get_settings(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_get_invoice(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_list_invoices(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_get_plan(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_list_plans(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
kb_status kb_query_get_plan_settings(kb_qctx *q, const ProtobufCMessage *msg) KB_MUST_USE;
/* Replies with the tenant's one stream of agg (id), its fresh state when
 * it has no events yet (settings before they are first set). */
kb_status kb_query_reply_singleton(kb_qctx *q, const kb_aggregate *agg, const char *id) KB_MUST_USE;

#endif
