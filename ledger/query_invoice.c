/* GetInvoice and ListInvoices. A list page reads one index list (the
 * customer's, else the overdue one, else the status', else every
 * invoice), newest first, and checks the other filters on the entries'
 * values (status, overdue, due day, total, amount due), so it reads no
 * invoice the filter leaves out. */
#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "invoice.h"
#include "keys.h"
#include "money.h"
#include "project.h"
#include "query.h"
#include "query_int.h"
#include "validate.h"

typedef Kasboek__V1__Invoice Invoice;
typedef Kasboek__V1__ListInvoicesRequest ListReq;

static void refuse(kb_qctx *q, kb_reason reason, const char *field, const char *msg) {
    kb_error_set(&q->reply->err, reason, field, "%s", msg);
}

/* ------------------------------------------------------------ GetInvoice */

/* The invoice id a number names (the alias its finalize claimed). */
static kb_status id_of_number(kb_qctx *q, const char *number, char *id, bool *found) {
    kb_key k;
    kb_key_alias(&k, q->rq->tenant, "invoice_number", number);
    kb_value v;
    *found = false;
    kb_status st = kb_store_get(q->s, NULL, q->snap, KB_CF_INDEX, k.bytes, k.len, &v);
    if (st == KB_ERR_NOT_FOUND) return KB_OK;
    if (st != KB_OK) return st;
    if (v.len == 0 || v.len > KB_ID_LEN_MAX) st = KB_ERR_CORRUPT;
    if (st == KB_OK) {
        memcpy(id, v.data, v.len);
        id[v.len] = 0;
        *found = true;
    }
    kb_value_free(&v);
    return st;
}

kb_status kb_query_get_invoice(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__GetInvoiceRequest *r = (const void *)msg;
    char id[KB_ID_LEN_MAX + 1];
    if (!r->invoice_id[0] && r->number[0]) {
        bool found;
        kb_status st = kb_id_valid(r->number) ? id_of_number(q, r->number, id, &found) : KB_OK;
        if (st != KB_OK) return st;
        if (!kb_id_valid(r->number) || !found) {
            refuse(q, KB_REASON_INVOICE_NOT_FOUND, "number", "no invoice has that number");
            return KB_OK;
        }
    } else if (!kb_id_valid(r->invoice_id)) {
        refuse(q, r->invoice_id[0] ? KB_REASON_INVALID_ID : KB_REASON_FIELD_REQUIRED, "invoice_id",
               "invoice_id (or number) must be 1-64 characters of [A-Za-z0-9_-]");
        return KB_OK;
    } else {
        snprintf(id, sizeof id, "%s", r->invoice_id);
    }
    ProtobufCMessage *state;
    kb_status st = kb_project_load(q->s, NULL, q->snap, &q->arena, q->rq->tenant,
                                   &kb_invoice_aggregate, id, &state);
    if (st == KB_ERR_NOT_FOUND) {
        refuse(q, KB_REASON_INVOICE_NOT_FOUND, "invoice_id", "no such invoice");
        return KB_OK;
    }
    if (st != KB_OK) return st;
    Kasboek__V1__GetInvoiceReply out = KASBOEK__V1__GET_INVOICE_REPLY__INIT;
    out.invoice = (Invoice *)state;
    st = kb_query_timeline(q, "invoice", id, &out.timeline, &out.n_timeline);
    return st == KB_OK ? kb_reply_set(q->reply, &out.base) : st;
}

/* ---------------------------------------------------------- ListInvoices */

typedef struct ifilter {
    const ListReq *r;
    bool has_from, has_to;
    int32_t from, to;
} ifilter;

static bool check_request(kb_qctx *q, const ListReq *r, ifilter *f) {
    *f = (ifilter){.r = r};
    if (r->status < KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_UNSPECIFIED ||
        r->status > KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_WRITTEN_OFF) {
        refuse(q, KB_REASON_INVALID_ENUM, "status", "unknown invoice status");
    } else if (r->customer_id[0] && !kb_id_valid(r->customer_id)) {
        refuse(q, KB_REASON_INVALID_ID, "customer_id", "customer_id must be an id");
    } else if (r->due_from[0] && !(f->has_from = kb_date_given(r->due_from, &f->from))) {
        refuse(q, KB_REASON_INVALID_DATE, "due_from", "due_from must be YYYY-MM-DD");
    } else if (r->due_to[0] && !(f->has_to = kb_date_given(r->due_to, &f->to))) {
        refuse(q, KB_REASON_INVALID_DATE, "due_to", "due_to must be YYYY-MM-DD");
    } else if (r->currency[0] && kb_currency_exponent(r->currency) < 0) {
        refuse(q, KB_REASON_UNKNOWN_CURRENCY, "currency", "unknown currency");
    } else if ((r->min_case || r->max_case) && !r->currency[0]) {
        refuse(q, KB_REASON_FIELD_REQUIRED, "currency", "an amount range needs a currency");
    } else if ((r->min_case && r->max_case && r->min_amount > r->max_amount) ||
               (f->has_from && f->has_to && f->from > f->to)) {
        refuse(q, KB_REASON_INVALID_RANGE, r->min_case && r->max_case ? "min_amount" : "due_from",
               "the range is empty");
    } else if (r->limit > KB_PAGE_SIZE_MAX) {
        refuse(q, KB_REASON_INVALID_RANGE, "limit", "limit is at most 1000");
    } else {
        return true;
    }
    return false;
}

static bool row_matches(const ifilter *f, const kb_invoice_row *row) {
    const ListReq *r = f->r;
    if (r->status && row->status != (int)r->status) return false;
    if (r->overdue && !row->overdue) return false;
    if ((f->has_from || f->has_to) && !row->has_due) return false;
    if (f->has_from && row->due_day < f->from) return false;
    if (f->has_to && row->due_day > f->to) return false;
    if (r->currency[0] && strcmp(row->currency, r->currency) != 0) return false;
    if (r->min_case && row->total < r->min_amount) return false;
    if (r->max_case && row->total > r->max_amount) return false;
    return true;
}

/* The one list the page reads, and its name for the reply's plan. */
static const char *choose_list(kb_qctx *q, const ListReq *r, kb_key *prefix, char *st) {
    snprintf(st, 12, "%d", (int)r->status);
    if (r->customer_id[0]) {
        kb_invoice_list_prefix(prefix, q->rq->tenant, "customer", r->customer_id);
        return "customer";
    }
    if (r->overdue) {
        kb_invoice_list_prefix(prefix, q->rq->tenant, "overdue", "1");
        return "overdue";
    }
    if (r->status) {
        kb_invoice_list_prefix(prefix, q->rq->tenant, "status", st);
        return "status";
    }
    kb_invoice_list_prefix(prefix, q->rq->tenant, NULL, NULL);
    return "created";
}

typedef struct page {
    kb_qctx *q;
    const ifilter *f;
    Kasboek__V1__ListInvoicesReply *out;
    uint32_t limit;
    Kasboek__V1__CurrencyTotal tot[KB_CURRENCIES_MAX];
    size_t n_tot;
    bool overflow;
} page;

/* A list entry's row; false (and *st KB_ERR_CORRUPT) when it is malformed,
 * else whether it passes the filters. */
static bool row_of(const page *p, const char *v, size_t vl, kb_invoice_row *row, kb_status *st) {
    if (!kb_invoice_row_parse(v, vl, row)) {
        *st = KB_ERR_CORRUPT;
        return false;
    }
    return row_matches(p->f, row);
}

static kb_status page_row(void *ctx, const char *id, const char *v, size_t vl, bool *go_on) {
    page *p = ctx;
    kb_invoice_row row;
    kb_status st = KB_OK;
    if (!row_of(p, v, vl, &row, &st)) return st;
    ProtobufCMessage *state;
    st = kb_project_load(p->q->s, NULL, p->q->snap, &p->q->arena, p->q->rq->tenant,
                         &kb_invoice_aggregate, id, &state);
    if (st == KB_ERR_NOT_FOUND) st = KB_ERR_CORRUPT; /* an entry of no invoice */
    if (st != KB_OK) return st;
    p->out->invoices[p->out->n_invoices++] = (Invoice *)state;
    *go_on = p->out->n_invoices < p->limit && p->q->arena.used_bytes < KB_QUERY_PAGE_BYTES;
    return KB_OK;
}

static kb_status total_row(void *ctx, const char *id, const char *v, size_t vl, bool *go_on) {
    (void)id, (void)go_on;
    page *p = ctx;
    kb_invoice_row row;
    kb_status st = KB_OK;
    if (!row_of(p, v, vl, &row, &st)) return st;
    return kb_query_total_add(p->q, p->tot, &p->n_tot, row.currency, row.amount_due,
                              &p->overflow);
}

kb_status kb_query_list_invoices(kb_qctx *q, const ProtobufCMessage *msg) {
    const ListReq *r = (const void *)msg;
    ifilter f;
    if (!check_request(q, r, &f)) return KB_OK;
    kb_key prefix;
    char st_buf[12];
    Kasboek__V1__ListInvoicesReply out = KASBOEK__V1__LIST_INVOICES_REPLY__INIT;
    out.plan = (char *)choose_list(q, r, &prefix, st_buf);
    kb_list_walk w;
    if (!kb_list_walk_init(&w, q, &prefix, r->cursor, kb_query_list_scan_max)) {
        refuse(q, KB_REASON_INVALID_CURSOR, "cursor", "not a cursor of this list");
        return KB_OK;
    }
    page p = {.q = q, .f = &f, .out = &out, .limit = r->limit ? r->limit : KB_PAGE_SIZE_DEFAULT};
    out.invoices = kb_arena_alloc(&q->arena, p.limit * sizeof *out.invoices);
    if (!out.invoices) return KB_ERR_NOMEM;
    kb_status st = kb_list_walk_run(&w, page_row, &p);
    if (st != KB_OK) return st;
    out.entries_read = w.read;
    /* more may follow when the page filled or the budget ran out */
    if (w.last.len && (out.n_invoices == p.limit || w.read == w.budget ||
                       q->arena.used_bytes >= KB_QUERY_PAGE_BYTES)) {
        out.next_cursor = kb_list_walk_cursor(&w);
        if (!out.next_cursor) return KB_ERR_CORRUPT;
    }
    if (r->totals) {
        kb_list_walk all;
        KB_VERIFY(kb_list_walk_init(&all, q, &prefix, "", KB_TOTALS_SCAN_MAX));
        st = kb_list_walk_run(&all, total_row, &p);
        if (st != KB_OK) return st;
        out.entries_read += all.read;
        if (all.read == KB_TOTALS_SCAN_MAX || p.overflow) {
            refuse(q, KB_REASON_FILTER_TOO_BROAD, "totals",
                   "totals over this filter would read too many entries; narrow it");
            return KB_OK;
        }
        out.totals = kb_arena_alloc(&q->arena, (p.n_tot + 1) * sizeof *out.totals);
        if (!out.totals) return KB_ERR_NOMEM;
        for (size_t i = 0; i < p.n_tot; i++) out.totals[i] = &p.tot[i];
        out.n_totals = p.n_tot;
    }
    return kb_reply_set(q->reply, &out.base);
}
