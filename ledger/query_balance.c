/* Balance, payout and settings queries (see balance.h for the rows and the
 * payout membership rule they rely on). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "calendar.h"
#include "money.h"
#include "project.h"
#include "query_int.h"
#include "validate.h"

typedef Kasboek__V1__BalanceTransaction Btxn;
typedef Kasboek__V1__Payout Payout;

#define BT_PAYOUT KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYOUT

static void refuse(kb_qctx *q, kb_reason reason, const char *field, const char *what) {
    kb_error_set(&q->reply->err, reason, field, "%s", what);
}

/* A growing list of balance transactions in the reply arena. */
typedef struct btxn_list {
    kb_qctx *q;
    Btxn **v;
    size_t n, cap;
    /* filters */
    const char *currency;
    uint64_t seq_below; /* day rows: keep seq < seq_below */
    int32_t day_max;    /* seq rows: keep available_on <= day_max */
    size_t prefix_len;  /* of the scanned rows' keys */
    int64_t sum;        /* of the kept amounts */
    int32_t split_day;  /* as-of: available on or before it */
    int64_t available, pending;
    bool overflow; /* one of the three sums left int64 (they are then wrong) */
    bool keep;     /* keep the rows (else only sum them) */
} btxn_list;

/* The sums are only read by a payout's check and the balance as of a seq;
 * rows summed in key order may pass beyond int64 where the balance's own
 * sums did not, which is a limit of that answer, not a corrupt row. */
static kb_status list_push(btxn_list *l, Btxn *t) {
    int64_t *into = t->available_on <= l->split_day ? &l->available : &l->pending;
    if (!kb_add_checked(l->sum, t->amount, &l->sum) || !kb_add_checked(*into, t->amount, into)) {
        l->overflow = true;
    }
    if (!l->keep) return KB_OK;
    if (l->n == KB_LIST_SCAN_MAX) return KB_ERR_LIMIT;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        Btxn **g = kb_arena_alloc(&l->q->arena, cap * sizeof *g);
        if (!g) return KB_ERR_NOMEM;
        if (l->n) memcpy(g, l->v, l->n * sizeof *g);
        l->v = g;
        l->cap = cap;
    }
    l->v[l->n++] = t;
    return KB_OK;
}

static kb_status decode_btxn(kb_qctx *q, const char *v, size_t vl, Btxn **out) {
    *out = kasboek__v1__balance_transaction__unpack(&q->arena.pb, vl, (const uint8_t *)v);
    return *out ? KB_OK : KB_ERR_CORRUPT;
}

/* seq rows: every non-payout transaction available by day_max. */
static kb_status seq_row(void *ctx, const char *k, size_t kl, const char *v, size_t vl,
                         bool *go_on) {
    (void)k, (void)kl, (void)go_on;
    btxn_list *l = ctx;
    Btxn *t;
    kb_status st = decode_btxn(l->q, v, vl, &t);
    if (st != KB_OK || t->type == BT_PAYOUT || t->available_on > l->day_max) return st;
    return list_push(l, t);
}

kb_status kb_query_btxn_rows(kb_qctx *q, kb_arena *a, const char *currency, uint64_t seq,
                             unsigned mask, Btxn **out, size_t *n) {
    *n = 0;
    if (mask == 0 || mask >> KB_BALANCE_ENTRIES_PER_EVENT_MAX) return KB_ERR_CORRUPT;
    for (unsigned i = 0; i < KB_BALANCE_ENTRIES_PER_EVENT_MAX; i++) {
        if (!(mask & (1u << i))) continue;
        kb_key key;
        kb_btxn_key_seq(&key, q->rq->tenant, currency, seq, i);
        kb_value val;
        kb_status st = kb_store_get(q->s, NULL, q->snap, KB_CF_INDEX, key.bytes, key.len, &val);
        if (st != KB_OK) return st == KB_ERR_NOT_FOUND ? KB_ERR_CORRUPT : st;
        out[*n] =
            kasboek__v1__balance_transaction__unpack(&a->pb, val.len, (const uint8_t *)val.data);
        kb_value_free(&val);
        if (!out[*n] || out[*n]->type == BT_PAYOUT) return KB_ERR_CORRUPT;
        ++*n;
    }
    return KB_OK;
}

/* day rows: the transactions of the row's event available on its day,
 * when booked before seq_below, read from their seq rows. */
static kb_status day_row(void *ctx, const char *k, size_t kl, const char *v, size_t vl,
                         bool *go_on) {
    (void)go_on;
    btxn_list *l = ctx;
    uint64_t day, seq;
    if (kl != l->prefix_len + 33 || vl != 1 || !kb_key_parse_hex64(k + l->prefix_len, &day) ||
        !kb_key_parse_hex64(k + l->prefix_len + 17, &seq)) {
        return KB_ERR_CORRUPT;
    }
    if (seq >= l->seq_below) return KB_OK;
    Btxn *t[KB_BALANCE_ENTRIES_PER_EVENT_MAX];
    size_t n;
    kb_status st =
        kb_query_btxn_rows(l->q, &l->q->arena, l->currency, seq, (unsigned char)v[0], t, &n);
    for (size_t i = 0; st == KB_OK && i < n; i++) {
        st = (uint64_t)t[i]->available_on == day ? list_push(l, t[i]) : KB_ERR_CORRUPT;
    }
    return st;
}

/* The open set after payout (prev_day, prev_seq) as of seq `upto`, with
 * available_on <= day_max: the rows of balance.h's rule (a) and (b). */
static kb_status collect(btxn_list *l, int32_t prev_day, uint64_t prev_seq, uint64_t upto) {
    kb_qctx *q = l->q;
    const char *t = q->rq->tenant;
    kb_key lo, hi;
    /* (b) first: booked before prev_seq, available after prev_day. */
    if (prev_seq > 0 && l->day_max > prev_day) {
        kb_btxn_key_day(&lo, t, l->currency, prev_day + 1, 0);
        kb_btxn_key_day(&hi, t, l->currency, l->day_max == INT32_MAX ? INT32_MAX : l->day_max + 1,
                        0);
        kb_key prefix;
        kb_btxn_key_day(&prefix, t, l->currency, 0, 0);
        l->prefix_len = prefix.len - 33;
        l->seq_below = prev_seq;
        kb_status st = kb_query_scan(q, KB_CF_INDEX, &lo, &hi, day_row, l);
        if (st != KB_OK) return st;
    }
    /* (a): booked after prev_seq, up to upto. */
    kb_btxn_key_seq(&lo, t, l->currency, prev_seq + 1, 0);
    kb_btxn_key_seq(&hi, t, l->currency, upto + 1, 0);
    return kb_query_scan(q, KB_CF_INDEX, &lo, &hi, seq_row, l);
}

static int by_seq(const void *a, const void *b) {
    const Btxn *x = *(Btxn *const *)a, *y = *(Btxn *const *)b;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* ------------------------------------------------------------- GetPayout */

static kb_status load_payout(kb_qctx *q, const char *id, Payout **out) {
    return kb_project_load(q->s, NULL, q->snap, &q->arena, q->rq->tenant, &kb_payout_aggregate, id,
                           (ProtobufCMessage **)out);
}

kb_status kb_query_row_payout(kb_qctx *q, const char *id, size_t id_len, Payout **out) {
    if (id_len == 0 || id_len > KB_ID_LEN_MAX) return KB_ERR_CORRUPT;
    char buf[KB_ID_LEN_MAX + 1];
    memcpy(buf, id, id_len);
    buf[id_len] = 0;
    kb_status st = load_payout(q, buf, out);
    return st == KB_ERR_NOT_FOUND ? KB_ERR_CORRUPT : st;
}

kb_status kb_query_payout_transactions(kb_qctx *q, const Payout *p, Btxn ***out, size_t *n) {
    btxn_list l = {.q = q, .currency = p->amount->currency, .day_max = p->date, .keep = true};
    kb_status st = collect(&l, p->previous_date, p->previous_seq, p->closed_seq - 1);
    if (st != KB_OK) return st;
    /* The rule and the closed days must agree to the cent. */
    if (l.overflow || l.sum != p->amount->amount || l.n != p->transaction_count) {
        return KB_ERR_CORRUPT;
    }
    if (l.n) qsort(l.v, l.n, sizeof *l.v, by_seq);
    *out = l.v;
    *n = l.n;
    return KB_OK;
}

kb_status kb_query_get_payout(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__GetPayoutRequest *r = (const void *)msg;
    if (!kb_id_valid(r->payout_id)) {
        refuse(q, r->payout_id[0] ? KB_REASON_INVALID_ID : KB_REASON_FIELD_REQUIRED, "payout_id",
               "payout_id must be 1-64 characters of [A-Za-z0-9_-]");
        return KB_OK;
    }
    Payout *p;
    kb_status st = load_payout(q, r->payout_id, &p);
    if (st == KB_ERR_NOT_FOUND) {
        refuse(q, KB_REASON_PAYOUT_NOT_FOUND, "payout_id", "no such payout");
        return KB_OK;
    }
    if (st != KB_OK) return st;
    Kasboek__V1__GetPayoutReply out = KASBOEK__V1__GET_PAYOUT_REPLY__INIT;
    out.payout = p;
    st = kb_query_payout_transactions(q, p, &out.transactions, &out.n_transactions);
    if (st != KB_OK) return st;
    st = kb_query_timeline(q, "payout", p->payout_id, &out.timeline, &out.n_timeline);
    return st == KB_OK ? kb_reply_set(q->reply, &out.base) : st;
}

/* ------------------------------------------------------------ GetBalance */

/* The last seq whose event was recorded at or before t (0: none). The
 * clock only moves forward, so recorded_at grows with seq. */
/* When the event at seq was recorded. */
static kb_status recorded_at(kb_qctx *q, uint64_t seq, int64_t *at) {
    kb_arena_reset(&q->scratch);
    Kasboek__V1__EventRecord *rec;
    kb_status st = kb_log_read(q->s, q->snap, seq, &q->scratch, &rec);
    if (st != KB_OK) return st == KB_ERR_NOT_FOUND ? KB_ERR_CORRUPT : st;
    Kasboek__V1__Event *ev =
        kasboek__v1__event__unpack(&q->scratch.pb, rec->payload.len, rec->payload.data);
    if (!ev) return KB_ERR_CORRUPT;
    *at = ev->recorded_at;
    return KB_OK;
}

static kb_status seq_at_time(kb_qctx *q, uint64_t head, int64_t t, uint64_t *out) {
    uint64_t lo = 0, hi = head; /* answer in [lo, hi] */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo + 1) / 2;
        int64_t at;
        kb_status st = recorded_at(q, mid, &at);
        if (st != KB_OK) return st;
        if (at <= t) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    *out = lo;
    return KB_OK;
}

static kb_status recorded_day(kb_qctx *q, uint64_t seq, int32_t *day) {
    int64_t at;
    kb_status st = recorded_at(q, seq, &at);
    if (st == KB_OK) *day = kb_day_of_instant(at);
    return st;
}

/* The last payout of currency closed at or before seq (*p NULL: none). */
static kb_status payout_before(kb_qctx *q, const char *currency, uint64_t seq, Payout **p) {
    *p = NULL;
    kb_key lo, hi;
    kb_payout_key_date(&lo, q->rq->tenant, currency, 0);
    lo.len -= 16;
    kb_key_prefix_end(&lo, &hi);
    kb_iter *it = kb_iter_open(q->s, q->snap, KB_CF_INDEX, hi.bytes, hi.len);
    if (!it) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    for (kb_iter_seek_last(it); kb_iter_valid(it); kb_iter_prev(it)) {
        size_t kl, vl;
        const char *k = kb_iter_key(it, &kl);
        if (kl < lo.len || memcmp(k, lo.bytes, lo.len) != 0) break;
        const char *v = kb_iter_value(it, &vl);
        Payout *cand;
        st = kb_query_row_payout(q, v, vl, &cand);
        if (st != KB_OK || cand->closed_seq <= seq) {
            if (st == KB_OK) *p = cand;
            break;
        }
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    return st;
}

static kb_status balance_as_of(kb_qctx *q, const char *currency, uint64_t seq, int32_t day,
                               Kasboek__V1__CurrencyBalance *out) {
    Payout *p;
    kb_status st = payout_before(q, currency, seq, &p);
    if (st != KB_OK) return st;
    btxn_list l = {.q = q, .currency = currency, .day_max = INT32_MAX, .split_day = day};
    st = collect(&l, p ? p->date : 0, p ? p->closed_seq : 0, seq);
    if (st != KB_OK) return st;
    if (l.overflow) return KB_ERR_LIMIT;
    out->available = l.available;
    out->pending = l.pending;
    out->total = l.sum;
    out->open_transactions = (uint32_t)l.n;
    return KB_OK;
}

static kb_status balance_now(const Kasboek__V1__Balance *b, int32_t day,
                             Kasboek__V1__CurrencyBalance *out) {
    out->total = b->total;
    return kb_balance_split(b, day, &out->available, &out->pending, &out->open_transactions)
               ? KB_OK
               : KB_ERR_LIMIT;
}

static kb_status first_row(void *ctx, const char *k, size_t kl, const char *v, size_t vl,
                           bool *go_on) {
    (void)k, (void)kl, (void)v, (void)vl;
    *(bool *)ctx = true;
    *go_on = false;
    return KB_OK;
}

/* Whether currency has a balance transaction booked at or before seq. */
static kb_status any_booked(kb_qctx *q, const char *currency, uint64_t seq, bool *any) {
    kb_key lo, hi;
    kb_btxn_key_seq(&lo, q->rq->tenant, currency, 0, 0);
    kb_btxn_key_seq(&hi, q->rq->tenant, currency, seq + 1, 0);
    *any = false;
    return kb_query_scan(q, KB_CF_INDEX, &lo, &hi, first_row, any);
}

typedef struct bal_ctx {
    kb_qctx *q;
    const Kasboek__V1__GetBalanceRequest *r;
    uint64_t seq; /* as of; 0 with now */
    int32_t day;
    Kasboek__V1__GetBalanceReply *out;
    size_t prefix_len;
} bal_ctx;

static kb_status balance_row(void *ctx, const char *k, size_t kl, const char *v, size_t vl,
                             bool *go_on) {
    (void)go_on;
    bal_ctx *c = ctx;
    kb_qctx *q = c->q;
    Kasboek__V1__Balance *b = kasboek__v1__balance__unpack(&q->arena.pb, vl, (const uint8_t *)v);
    if (!b || kl <= c->prefix_len) return KB_ERR_CORRUPT;
    if (c->r->currency[0] && strcmp(c->r->currency, b->currency) != 0) return KB_OK;
    if (c->out->n_balances == KB_PAGE_SIZE_MAX) return KB_ERR_LIMIT;
    Kasboek__V1__CurrencyBalance *cb =
        KB_NEW(&q->arena, Kasboek__V1__CurrencyBalance, KASBOEK__V1__CURRENCY_BALANCE__INIT);
    if (!cb) return KB_ERR_NOMEM;
    cb->currency = b->currency;
    kb_status st = c->r->as_of_case ? balance_as_of(q, b->currency, c->seq, c->day, cb)
                                    : balance_now(b, c->day, cb);
    if (st != KB_OK) return st;
    if (c->r->as_of_case) { /* a currency first booked after the as-of seq is left out */
        bool any = false;
        st = any_booked(q, b->currency, c->seq, &any);
        if (st != KB_OK || !any) return st;
    }
    c->out->balances[c->out->n_balances++] = cb;
    return KB_OK;
}

static kb_status as_of_point(kb_qctx *q, const Kasboek__V1__GetBalanceRequest *r, uint64_t head,
                             bal_ctx *c) {
    c->seq = head;
    c->day = kb_day_of_instant(q->rq->now);
    if (r->as_of_case == KASBOEK__V1__GET_BALANCE_REQUEST__AS_OF_AS_OF_SEQ) {
        if (r->as_of_seq == 0 || r->as_of_seq > head) {
            refuse(q, KB_REASON_INVALID_RANGE, "as_of_seq", "as_of_seq must lie in 1..head");
            return KB_OK;
        }
        c->seq = r->as_of_seq;
        return recorded_day(q, c->seq, &c->day);
    }
    if (r->as_of_case == KASBOEK__V1__GET_BALANCE_REQUEST__AS_OF_AS_OF_TIME) {
        if (r->as_of_time < 0) {
            refuse(q, KB_REASON_INVALID_TIME, "as_of_time", "as_of_time < 0");
            return KB_OK;
        }
        c->day = kb_day_of_instant(r->as_of_time);
        return seq_at_time(q, head, r->as_of_time, &c->seq);
    }
    return KB_OK;
}

kb_status kb_query_get_balance(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__GetBalanceRequest *r = (const void *)msg;
    if (r->currency[0] && kb_currency_exponent(r->currency) < 0) {
        refuse(q, KB_REASON_UNKNOWN_CURRENCY, "currency", "unknown currency");
        return KB_OK;
    }
    kb_head head;
    kb_status st = kb_log_head_read(q->s, NULL, q->snap, &head);
    if (st != KB_OK) return st;
    Kasboek__V1__GetBalanceReply out = KASBOEK__V1__GET_BALANCE_REPLY__INIT;
    bal_ctx c = {.q = q, .r = r, .out = &out};
    st = as_of_point(q, r, head.seq, &c);
    if (st != KB_OK || q->reply->err.code != KB_CODE_OK) return st;
    out.as_of_seq = c.seq;
    out.as_of_date = c.day;
    out.balances = kb_arena_alloc(&q->arena, KB_PAGE_SIZE_MAX * sizeof *out.balances);
    if (!out.balances) return KB_ERR_NOMEM;
    kb_key lo, hi;
    kb_key_state(&lo, q->rq->tenant, "balance", "");
    kb_key_prefix_end(&lo, &hi);
    c.prefix_len = lo.len;
    st = kb_query_scan(q, KB_CF_STATE, &lo, &hi, balance_row, &c); /* balance rows are states */
    return st == KB_OK ? kb_reply_set(q->reply, &out.base) : st;
}

/* ----------------------------------------------------------- ListPayouts */

/* Reads one list of balance.h, newest day first: status/<n>/ when a status
 * is asked, else date/<currency>/ when a currency is, else all/. The other
 * filters are checked on the payout (a tenant has at most one payout per
 * currency and day, so a list holds few rows that another filter drops). */
typedef struct po_list {
    kb_qctx *q;
    const Kasboek__V1__ListPayoutsRequest *r;
    int32_t from, to;
    uint32_t limit;
    kb_key prefix;     /* the list read, ending in '/' */
    bool per_currency; /* date/<currency>/: suffix <day hex16> */
    bool has_cursor;
    uint64_t cursor_day;
    char cursor_cur[4];
    Kasboek__V1__ListPayoutsReply *out;
    Kasboek__V1__CurrencyTotal *tot;
    size_t n_tot;
    bool overflow;
    int32_t last_day; /* the last row listed */
    char last_cur[4];
    bool more;
} po_list;

static kb_status date_arg(kb_qctx *q, const char *text, const char *field, int32_t *day) {
    if (!text[0]) return KB_OK;
    if (kb_date_parse(text, day) != KB_OK || *day < 0) {
        kb_error_set(&q->reply->err, KB_REASON_INVALID_DATE, field, "%s must be YYYY-MM-DD", field);
    }
    return KB_OK;
}

/* "<day as kb_cursor_num>/<currency>" */
static bool po_cursor_parse(po_list *l, const char *c) {
    if (strlen(c) != 20 || c[16] != '/' || !kb_cursor_num_get(c, &l->cursor_day) ||
        kb_currency_exponent(c + 17) < 0) {
        return false;
    }
    memcpy(l->cursor_cur, c + 17, 4);
    l->has_cursor = true;
    return true;
}

static bool po_below_cursor(const po_list *l, uint64_t day, const char *cur) {
    if (!l->has_cursor) return true;
    return day < l->cursor_day || (day == l->cursor_day && strcmp(cur, l->cursor_cur) < 0);
}

static bool po_match(const po_list *l, const Payout *p) {
    const Kasboek__V1__ListPayoutsRequest *r = l->r;
    if (!p->amount || (r->status && p->status != r->status)) return false;
    if (r->currency[0] && strcmp(p->amount->currency, r->currency) != 0) return false;
    return (!r->min_case || p->amount->amount >= r->min_amount) &&
           (!r->max_case || p->amount->amount <= r->max_amount);
}

/* One entry: day and currency from the key, the payout it names. */
static kb_status po_row(po_list *l, const char *k, size_t kl, const char *v, size_t vl,
                        bool *stop) {
    kb_qctx *q = l->q;
    size_t pl = l->prefix.len;
    uint64_t day;
    size_t want = l->per_currency ? pl + 16 : pl + 20;
    if (kl != want || !kb_key_parse_hex64(k + pl, &day) || vl == 0 || vl > KB_ID_LEN_MAX ||
        (!l->per_currency && k[pl + 16] != '/')) {
        return KB_ERR_CORRUPT;
    }
    if ((int64_t)day < l->from) {
        *stop = true;
        return KB_OK;
    }
    char id[KB_ID_LEN_MAX + 1];
    memcpy(id, v, vl);
    id[vl] = '\0';
    kb_arena_reset(&q->scratch);
    Payout *p;
    kb_status st = kb_project_load(q->s, NULL, q->snap, &q->scratch, q->rq->tenant,
                                   &kb_payout_aggregate, id, (ProtobufCMessage **)&p);
    if (st != KB_OK) return st == KB_ERR_NOT_FOUND ? KB_ERR_CORRUPT : st;
    if (!po_match(l, p)) return KB_OK;
    const char *cur = p->amount->currency;
    if (po_below_cursor(l, day, cur)) {
        if (l->out->n_payouts < l->limit) {
            st = kb_query_row_payout(q, v, vl, &l->out->payouts[l->out->n_payouts++]);
            if (st != KB_OK) return st;
            l->last_day = (int32_t)day;
            snprintf(l->last_cur, sizeof l->last_cur, "%s", cur);
        } else if (!l->more) {
            l->more = true;
            *stop = !l->r->totals;
        }
    }
    if (!l->r->totals) return KB_OK;
    return kb_query_total_add(q, l->tot, &l->n_tot, cur, p->amount->amount, &l->overflow);
}

/* The list, and the key below which it is read. */
static void po_bounds(po_list *l, kb_key *upper) {
    const Kasboek__V1__ListPayoutsRequest *r = l->r;
    if (!r->status && r->currency[0]) {
        kb_payout_key_date(&l->prefix, l->q->rq->tenant, r->currency, 0);
        l->prefix.len -= 16; /* keep "<tenant>/payout/date/<currency>/" */
        l->per_currency = true;
    } else {
        kb_payout_list_prefix(&l->prefix, l->q->rq->tenant, r->status);
    }
    *upper = l->prefix;
    if (l->has_cursor && !r->totals && l->cursor_day <= (uint64_t)l->to) {
        kb_key_raw_hex64(upper, l->cursor_day);
        if (!l->per_currency) { /* the cursor's day, currencies before its */
            kb_key_raw(upper, "/", 1);
            kb_key_raw(upper, l->cursor_cur, 3);
        }
    } else {
        kb_key_raw_hex64(upper, (uint64_t)l->to + 1);
    }
}

static kb_status po_check(po_list *l) {
    kb_qctx *q = l->q;
    const Kasboek__V1__ListPayoutsRequest *r = l->r;
    if (r->limit > KB_PAGE_SIZE_MAX) {
        refuse(q, KB_REASON_INVALID_RANGE, "limit", "limit is at most 1000");
    } else if (r->currency[0] && kb_currency_exponent(r->currency) < 0) {
        refuse(q, KB_REASON_UNKNOWN_CURRENCY, "currency", "unknown currency");
    } else if ((r->min_case || r->max_case) && !r->currency[0]) {
        refuse(q, KB_REASON_FIELD_REQUIRED, "currency", "an amount filter needs a currency");
    } else if (r->min_case && r->max_case && r->min_amount > r->max_amount) {
        refuse(q, KB_REASON_INVALID_RANGE, "min_amount", "min_amount > max_amount");
    } else if (r->status < 0) {
        refuse(q, KB_REASON_INVALID_ENUM, "status", "unknown status");
    } else if (r->cursor[0] && !po_cursor_parse(l, r->cursor)) {
        refuse(q, KB_REASON_INVALID_CURSOR, "cursor", "not a cursor of ListPayouts");
    }
    if (q->reply->err.code != KB_CODE_OK) return KB_OK;
    kb_status st = date_arg(q, r->from, "from", &l->from);
    if (st == KB_OK) st = date_arg(q, r->to, "to", &l->to);
    return st;
}

static kb_status po_walk(po_list *l, uint64_t *read) {
    kb_key upper;
    po_bounds(l, &upper);
    kb_iter *it = kb_iter_open(l->q->s, l->q->snap, KB_CF_INDEX, upper.bytes, upper.len);
    if (!it) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    bool stop = false;
    for (kb_iter_seek_last(it); kb_iter_valid(it) && !stop && st == KB_OK; kb_iter_prev(it)) {
        size_t kl, vl;
        const char *k = kb_iter_key(it, &kl);
        const char *v = kb_iter_value(it, &vl);
        if (kl < l->prefix.len || memcmp(k, l->prefix.bytes, l->prefix.len) != 0) break;
        if (++*read > KB_TOTALS_SCAN_MAX) {
            refuse(l->q, KB_REASON_FILTER_TOO_BROAD, "totals", "narrow the filter");
            break;
        }
        st = po_row(l, k, kl, v, vl, &stop);
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    return st;
}

kb_status kb_query_list_payouts(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__ListPayoutsRequest *r = (const void *)msg;
    po_list l = {.q = q, .r = r, .to = INT32_MAX - 1,
                 .limit = r->limit ? r->limit : KB_PAGE_SIZE_DEFAULT};
    kb_status st = po_check(&l);
    if (st != KB_OK || q->reply->err.code != KB_CODE_OK) return st;
    Kasboek__V1__ListPayoutsReply out = KASBOEK__V1__LIST_PAYOUTS_REPLY__INIT;
    out.payouts = kb_arena_alloc(&q->arena, l.limit * sizeof *out.payouts);
    l.tot = kb_arena_alloc(&q->arena, KB_CURRENCIES_MAX * sizeof *l.tot);
    if (!out.payouts || !l.tot) return KB_ERR_NOMEM;
    l.out = &out;
    st = po_walk(&l, &out.entries_read);
    if (st != KB_OK || q->reply->err.code != KB_CODE_OK) return st;
    if (l.overflow) {
        refuse(q, KB_REASON_AMOUNT_OVERFLOW, "totals", "a total does not fit in 64 bits");
        return KB_OK;
    }
    if (l.more) {
        out.next_cursor = kb_arena_alloc(&q->arena, 21);
        if (!out.next_cursor) return KB_ERR_NOMEM;
        kb_cursor_num_put(out.next_cursor, (uint64_t)l.last_day);
        snprintf(out.next_cursor + 16, 5, "/%s", l.last_cur);
    }
    if (r->totals) {
        out.totals = kb_arena_alloc(&q->arena, (l.n_tot ? l.n_tot : 1) * sizeof *out.totals);
        if (!out.totals) return KB_ERR_NOMEM;
        for (size_t i = 0; i < l.n_tot; i++) out.totals[i] = &l.tot[i];
        out.n_totals = l.n_tot;
    }
    return kb_reply_set(q->reply, &out.base);
}

/* ----------------------------------------------- ListBalanceTransactions */

typedef struct bt_page {
    btxn_list l;
    uint32_t limit;
    uint64_t next_seq;
} bt_page;

static kb_status page_row(void *ctx, const char *k, size_t kl, const char *v, size_t vl,
                          bool *go_on) {
    (void)k, (void)kl;
    bt_page *p = ctx;
    Btxn *t;
    kb_status st = decode_btxn(p->l.q, v, vl, &t);
    if (st != KB_OK) return st;
    /* A page ends between events, never inside one. */
    if (p->l.n >= p->limit && t->seq != p->l.v[p->l.n - 1]->seq) {
        p->next_seq = t->seq;
        *go_on = false;
        return KB_OK;
    }
    return list_push(&p->l, t);
}

kb_status kb_query_list_btxns(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__ListBalanceTransactionsRequest *r = (const void *)msg;
    if (kb_currency_exponent(r->currency) < 0) {
        refuse(q, r->currency[0] ? KB_REASON_UNKNOWN_CURRENCY : KB_REASON_FIELD_REQUIRED,
               "currency", "a known currency is required");
        return KB_OK;
    }
    if (r->limit > KB_PAGE_SIZE_MAX) {
        refuse(q, KB_REASON_INVALID_RANGE, "limit", "limit is at most 1000");
        return KB_OK;
    }
    bt_page p = {.l = {.q = q, .currency = r->currency, .keep = true},
                 .limit = r->limit ? r->limit : KB_PAGE_SIZE_DEFAULT};
    kb_key lo, hi;
    kb_btxn_key_seq(&lo, q->rq->tenant, r->currency, r->from_seq, 0);
    kb_btxn_key_seq(&hi, q->rq->tenant, r->currency, 0, 0);
    hi.len -= 33;
    kb_key_prefix_end(&hi, &hi);
    kb_status st = kb_query_scan(q, KB_CF_INDEX, &lo, &hi, page_row, &p);
    if (st != KB_OK) return st;
    Kasboek__V1__ListBalanceTransactionsReply out =
        KASBOEK__V1__LIST_BALANCE_TRANSACTIONS_REPLY__INIT;
    out.transactions = p.l.v;
    out.n_transactions = p.l.n;
    out.next_seq = p.next_seq;
    return kb_reply_set(q->reply, &out.base);
}

/* ----------------------------------------------------- GetTenantSettings */

kb_status kb_query_get_settings(kb_qctx *q, const ProtobufCMessage *msg) {
    (void)msg;
    return kb_query_reply_singleton(q, &kb_settings_aggregate, "tenant");
}
