/* ListPayments over the payment lists of payment.h.
 *
 * Two plans:
 *  - lists: every equality filter (status, method, currency, contact,
 *    company, source) names one list, all sorted by the same suffix
 *    <created_at hex16>/<id>. They are intersected newest first by
 *    leapfrogging: the candidate is the newest entry of one list, every
 *    other list seeks to the newest entry at or below it; when one lands
 *    lower, that is the new candidate. A page reads the matching entries
 *    plus about one seek per list for each run of non-matching ones,
 *    never the rows themselves. With no equality filter the list is
 *    "created". An amount range is checked on the entry's value.
 *  - amount: with an amount range, the currency's amount list is read
 *    first over just that range; when at most KB_LIST_SORT_MAX entries
 *    fall in it, those are the candidates (each equality filter checked
 *    by one point read of its list), sorted by suffix. Otherwise the range
 *    is too wide to be selective and the lists plan runs.
 * Totals (count and amount per currency) come from the entries' values,
 * over the whole filter whatever the cursor, within KB_TOTALS_SCAN_MAX
 * entries read, else FILTER_TOO_BROAD: a partial sum is never shown.
 *
 * A cursor is a suffix: "<created_at>/<id>" lists what sorts below it;
 * "<created_at>/<id>~" lists it and what sorts below (a page that ran out
 * of its read budget before deciding that entry). created_at is written
 * with letters (kb_cursor_num_put). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "money.h"
#include "payment.h"
#include "project.h"
#include "query.h"
#include "query_int.h"
#include "validate.h"

#define LISTS_MAX      6   /* status, method, currency, contact, company, source */
#define SFX_LEN_MAX    (17 + KB_ID_LEN_MAX)

uint64_t kb_query_list_scan_max = KB_LIST_SCAN_MAX;

typedef struct sfx {
    size_t len;
    char b[SFX_LEN_MAX + 1]; /* NUL-terminated */
} sfx;

typedef struct list_src {
    kb_key prefix;
    kb_iter *it;
    const char *name;
    bool by_currency; /* implied by the amount plan's list */
} list_src;

typedef struct plan {
    kb_qctx *q;
    const Kasboek__V1__ListPaymentsRequest *r;
    list_src src[LISTS_MAX];
    size_t n;
    char lower[16]; /* hex16(from): suffixes below are out */
    char upper_to[16];
    sfx cursor;
    bool cursor_incl;
    uint64_t read; /* index entries read, all walks */
} plan;

/* What a walk hands each matching entry to. */
typedef struct sink {
    kb_qctx *q;
    uint32_t limit;
    bool page;   /* collect rows (below the cursor) */
    bool totals; /* count everything */
    sfx *rows;
    size_t n_rows;
    bool more; /* a match beyond the page */
    Kasboek__V1__CurrencyTotal *tot;
    size_t n_tot;
    bool overflow;
} sink;

/* ---------------------------------------------------------------- checks */

static void hex16(char out[16], uint64_t v) {
    kb_key k;
    kb_key_init(&k);
    kb_key_raw_hex64(&k, v);
    memcpy(out, k.bytes, 16);
}

/* Copies the n bytes at p into *out when they are a suffix,
 * "<hex16>/<id>"; false otherwise. */
static bool sfx_take(sfx *out, const char *p, size_t n) {
    uint64_t v;
    if (n < 18 || n > SFX_LEN_MAX || p[16] != '/' || !kb_key_parse_hex64(p, &v)) return false;
    memcpy(out->b, p, n);
    out->b[n] = '\0';
    out->len = n;
    return kb_id_valid(out->b + 17);
}

/* A cursor is "<created_at as kb_cursor_num>/<id>", "~" appended when
 * inclusive; *out is its suffix (hex16 as in the keys). */
static bool cursor_parse(const char *c, sfx *out, bool *incl) {
    size_t n = strlen(c);
    *incl = n && c[n - 1] == '~';
    if (*incl) n--;
    uint64_t v;
    char buf[SFX_LEN_MAX];
    if (n < 18 || n > SFX_LEN_MAX || !kb_cursor_num_get(c, &v)) return false;
    hex16(buf, v);
    memcpy(buf + 16, c + 16, n - 16);
    return sfx_take(out, buf, n);
}

static char *cursor_of(kb_arena *a, const sfx *s, bool incl) {
    char *c = kb_arena_alloc(a, s->len + 2);
    uint64_t v;
    if (!c || !kb_key_parse_hex64(s->b, &v)) return NULL; /* suffixes are checked when read */
    kb_cursor_num_put(c, v);
    memcpy(c + 16, s->b + 16, s->len - 16);
    memcpy(c + s->len, incl ? "~" : "", incl ? 2 : 1);
    return c;
}

static kb_code list_check(const Kasboek__V1__ListPaymentsRequest *r, kb_error *err) {
    bool amounts = r->min_case || r->max_case;
    if (amounts && !r->currency[0]) {
        return kb_error_set(err, KB_REASON_FIELD_REQUIRED, "currency",
                            "an amount filter needs a currency");
    }
    if (r->currency[0] && kb_currency_exponent(r->currency) < 0) {
        return kb_error_set(err, KB_REASON_UNKNOWN_CURRENCY, "currency", "unknown currency");
    }
    static const char *const ids[] = {"customer_id", "company_id", "source_id"};
    const char *vals[] = {r->customer_id, r->company_id, r->source_id};
    for (size_t i = 0; i < 3; i++) {
        if (vals[i][0] && !kb_id_valid(vals[i])) {
            return kb_error_set(err, KB_REASON_INVALID_ID, ids[i], "invalid %s", ids[i]);
        }
    }
    if (r->source_id[0] && !r->source_type[0]) {
        return kb_error_set(err, KB_REASON_FIELD_REQUIRED, "source_type",
                            "source_id needs a source_type");
    }
    if (r->source_type[0] && !kb_id_valid(r->source_type)) {
        return kb_error_set(err, KB_REASON_INVALID_ENUM, "source_type", "unknown source_type");
    }
    if (r->status < 0 || r->method < 0) {
        return kb_error_set(err, KB_REASON_INVALID_ENUM, r->status < 0 ? "status" : "method",
                            "unknown value");
    }
    if (r->from < 0 || r->to < 0 || (r->to && r->from >= r->to)) {
        return kb_error_set(err, KB_REASON_INVALID_RANGE, "from", "need 0 <= from < to");
    }
    if (r->min_case && r->max_case && r->min_amount > r->max_amount) {
        return kb_error_set(err, KB_REASON_INVALID_RANGE, "min_amount", "min_amount > max_amount");
    }
    if (r->limit > KB_PAGE_SIZE_MAX) {
        return kb_error_set(err, KB_REASON_INVALID_RANGE, "limit", "limit is at most %d",
                            KB_PAGE_SIZE_MAX);
    }
    sfx c;
    bool incl;
    if (r->cursor[0] && !cursor_parse(r->cursor, &c, &incl)) {
        return kb_error_set(err, KB_REASON_INVALID_CURSOR, "cursor", "not a cursor of this list");
    }
    return KB_CODE_OK;
}

/* ------------------------------------------------------------------ plan */

static void add_list(plan *p, const char *name, const char *v1, const char *v2) {
    list_src *s = &p->src[p->n++];
    kb_payment_list_prefix(&s->prefix, p->q->rq->tenant, name, v1, v2);
    s->name = name ? name : "created";
    s->by_currency = name && strcmp(name, "currency") == 0;
}

static void plan_init(plan *p, kb_qctx *q, const Kasboek__V1__ListPaymentsRequest *r) {
    memset(p, 0, sizeof *p);
    p->q = q;
    p->r = r;
    char status[12], method[12];
    snprintf(status, sizeof status, "%d", (int)r->status);
    snprintf(method, sizeof method, "%d", (int)r->method);
    if (r->status) add_list(p, "status", status, NULL);
    if (r->method) add_list(p, "method", method, NULL);
    if (r->customer_id[0]) add_list(p, "contact", r->customer_id, NULL);
    if (r->company_id[0]) add_list(p, "company", r->company_id, NULL);
    if (r->source_id[0])
        add_list(p, "source", r->source_type, r->source_id);
    else if (r->source_type[0])
        add_list(p, "source_type", r->source_type, NULL);
    if (r->currency[0]) add_list(p, "currency", r->currency, NULL);
    hex16(p->lower, (uint64_t)r->from);
    hex16(p->upper_to, r->to ? (uint64_t)r->to : UINT64_MAX);
    if (r->cursor[0]) (void)cursor_parse(r->cursor, &p->cursor, &p->cursor_incl);
}

static int sfx_cmp(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al < bl ? -1 : al > bl);
}

/* Is suffix s inside [from, to) and below the cursor (when page)? */
static bool below_cursor(const plan *p, const sfx *s) {
    if (!p->r->cursor[0]) return true;
    int c = sfx_cmp(s->b, s->len, p->cursor.b, p->cursor.len);
    return c < 0 || (c == 0 && p->cursor_incl);
}

static bool in_dates(const plan *p, const char *s) {
    return memcmp(s, p->lower, 16) >= 0 && (!p->r->to || memcmp(s, p->upper_to, 16) < 0);
}

static bool amount_in(const Kasboek__V1__ListPaymentsRequest *r, int64_t a) {
    return (!r->min_case || a >= r->min_amount) && (!r->max_case || a <= r->max_amount);
}

/* ------------------------------------------------------------------ sink */

static kb_status sink_row(sink *k, const sfx *s, bool on_page, const char *cur, int64_t amount,
                          bool *stop) {
    if (k->page && on_page) {
        if (k->n_rows < k->limit) {
            k->rows[k->n_rows++] = *s;
        } else if (!k->more) {
            k->more = true;
            if (!k->totals) {
                *stop = true;
                return KB_OK;
            }
        }
    }
    if (!k->totals) return KB_OK;
    return kb_query_total_add(k->q, k->tot, &k->n_tot, cur, amount, &k->overflow);
}

kb_status kb_query_total_add(kb_qctx *q, Kasboek__V1__CurrencyTotal *tot, size_t *n,
                             const char *currency, int64_t amount, bool *overflow) {
    size_t i = 0;
    while (i < *n && strcmp(tot[i].currency, currency) != 0) i++;
    if (i == *n) {
        if (*n == KB_CURRENCIES_MAX) return KB_ERR_CORRUPT; /* more currencies than exist */
        Kasboek__V1__CurrencyTotal init = KASBOEK__V1__CURRENCY_TOTAL__INIT;
        tot[i] = init;
        tot[i].currency = kb_arena_strdup(&q->arena, currency);
        if (!tot[i].currency) return KB_ERR_NOMEM;
        (*n)++;
    }
    tot[i].count++;
    if (!kb_add_checked(tot[i].amount, amount, &tot[i].amount)) *overflow = true;
    return KB_OK;
}

/* ----------------------------------------------------------- lists plan */

/* The suffix of s's current entry; false at the end of its list or below
 * the dates (st stays KB_OK), or on a malformed key (KB_ERR_CORRUPT). */
static bool entry_sfx(const plan *p, const list_src *s, sfx *out, kb_status *st) {
    if (!kb_iter_valid(s->it)) return false;
    size_t kl, pl = s->prefix.len;
    const char *k = kb_iter_key(s->it, &kl);
    if (kl < pl || memcmp(k, s->prefix.bytes, pl) != 0) return false;
    if (!sfx_take(out, k + pl, kl - pl)) {
        *st = KB_ERR_CORRUPT;
        return false;
    }
    return memcmp(out->b, p->lower, 16) >= 0;
}

static kb_status open_lists(plan *p, bool page) {
    for (size_t i = 0; i < p->n; i++) {
        list_src *s = &p->src[i];
        kb_key up = s->prefix;
        if (page && p->r->cursor[0] &&
            (!p->r->to || memcmp(p->cursor.b, p->upper_to, 16) < 0)) {
            kb_key_raw(&up, p->cursor.b, p->cursor.len);
            if (p->cursor_incl) kb_key_raw(&up, "", 1); /* the NUL byte: itself included */
        } else if (p->r->to) {
            kb_key_raw(&up, p->upper_to, 16);
        } else {
            kb_key_prefix_end(&s->prefix, &up);
        }
        s->it = kb_iter_open(p->q->s, p->q->snap, KB_CF_INDEX, up.bytes, up.len);
        if (!s->it) return KB_ERR_NOMEM;
    }
    return KB_OK;
}

static kb_status close_lists(plan *p, kb_status st) {
    for (size_t i = 0; i < p->n; i++) {
        if (!p->src[i].it) continue;
        if (st == KB_OK) st = kb_iter_status(p->src[i].it);
        kb_iter_close(p->src[i].it);
        p->src[i].it = NULL;
    }
    return st;
}

/* The entry all lists agree on: its value, amount filter applied. */
static kb_status agreed(plan *p, sink *k, const sfx *cand, bool *stop) {
    size_t vl;
    const char *v = kb_iter_value(p->src[0].it, &vl);
    char cur[4];
    int64_t amount;
    if (!kb_payment_list_value_parse(v, vl, cur, &amount)) return KB_ERR_CORRUPT;
    if (!amount_in(p->r, amount)) return KB_OK;
    return sink_row(k, cand, true, cur, amount, stop);
}

/* Walks the intersection of the lists newest first into k, reading at
 * most budget more entries; *stopped is where it ran out (undecided), if
 * it did. A budget of n + 1 reads always decides the first candidate, so
 * every page makes progress. */
static kb_status walk_lists(plan *p, sink *k, uint64_t budget, sfx *stopped, bool *out_of_budget) {
    *out_of_budget = false;
    if (budget < LISTS_MAX + 2) budget = LISTS_MAX + 2;
    budget += p->read;
    kb_status st = open_lists(p, k->page);
    sfx cand, s;
    bool more = false;
    if (st == KB_OK) {
        kb_iter_seek_last(p->src[0].it);
        p->read++;
        more = entry_sfx(p, &p->src[0], &cand, &st);
    }
    size_t agree = 1, i = 1 % p->n;
    while (more && st == KB_OK) {
        if (p->read >= budget) {
            *stopped = cand;
            *out_of_budget = true;
            break;
        }
        if (agree == p->n) {
            bool stop = false;
            st = agreed(p, k, &cand, &stop);
            if (st != KB_OK || stop) break;
            kb_iter_prev(p->src[0].it);
            p->read++;
            more = entry_sfx(p, &p->src[0], &cand, &st);
            agree = 1;
            i = 1 % p->n;
            continue;
        }
        list_src *l = &p->src[i];
        kb_key at = l->prefix;
        kb_key_raw(&at, cand.b, cand.len);
        kb_iter_seek_for_prev(l->it, at.bytes, at.len);
        p->read++;
        more = entry_sfx(p, l, &s, &st);
        if (!more) break;
        if (s.len == cand.len && memcmp(s.b, cand.b, s.len) == 0) {
            agree++;
        } else {
            cand = s;
            agree = 1;
        }
        i = (i + 1) % p->n;
    }
    return close_lists(p, st);
}

/* ----------------------------------------------------------- amount plan */

typedef struct cand {
    sfx s;
    int64_t amount;
} cand;

static int cand_desc(const void *a, const void *b) {
    const sfx *x = &((const cand *)a)->s, *y = &((const cand *)b)->s;
    return -sfx_cmp(x->b, x->len, y->b, y->len);
}

/* The entries of the currency's amount list inside the amount range and
 * the dates, into *out; *fits false when the range holds more than
 * KB_LIST_SORT_MAX entries (dates aside). */
static kb_status amount_candidates(plan *p, cand **out, size_t *n_out, bool *fits) {
    const Kasboek__V1__ListPaymentsRequest *r = p->r;
    const uint64_t bias = UINT64_C(1) << 63;
    kb_key prefix, lo, up;
    kb_payment_amount_prefix(&prefix, p->q->rq->tenant, r->currency);
    lo = prefix;
    kb_key_raw_hex64(&lo, r->min_case ? (uint64_t)r->min_amount ^ bias : 0);
    if (r->max_case && r->max_amount != INT64_MAX) {
        up = prefix;
        kb_key_raw_hex64(&up, ((uint64_t)r->max_amount ^ bias) + 1);
    } else {
        kb_key_prefix_end(&prefix, &up);
    }
    cand *c = kb_arena_alloc(&p->q->scratch, KB_LIST_SORT_MAX * sizeof *c);
    kb_iter *it = kb_iter_open(p->q->s, p->q->snap, KB_CF_INDEX, up.bytes, up.len);
    if (!c || !it) {
        kb_iter_close(it);
        return KB_ERR_NOMEM;
    }
    kb_status st = KB_OK;
    size_t n = 0, seen = 0;
    *fits = true;
    for (kb_iter_seek(it, lo.bytes, lo.len); kb_iter_valid(it); kb_iter_next(it)) {
        if (seen++ == KB_LIST_SORT_MAX) {
            *fits = false;
            break;
        }
        p->read++;
        size_t kl, pl = prefix.len;
        const char *k = kb_iter_key(it, &kl);
        uint64_t biased; /* <amount hex16>/<suffix> */
        cand *x = &c[n];
        if (kl < pl + 17 || k[pl + 16] != '/' || !kb_key_parse_hex64(k + pl, &biased) ||
            !sfx_take(&x->s, k + pl + 17, kl - pl - 17)) {
            st = KB_ERR_CORRUPT;
            break;
        }
        x->amount = (int64_t)(biased ^ bias);
        if (in_dates(p, x->s.b)) n++;
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    *out = c;
    *n_out = n;
    return st;
}

/* Is the candidate on every list of an equality filter? */
static kb_status on_lists(plan *p, const cand *x, bool *yes) {
    *yes = true;
    for (size_t i = 0; i < p->n && *yes; i++) {
        if (p->src[i].by_currency) continue; /* the amount list is the currency's */
        kb_key k = p->src[i].prefix;
        kb_key_raw(&k, x->s.b, x->s.len);
        kb_value v;
        p->read++;
        kb_status st = kb_store_get(p->q->s, NULL, p->q->snap, KB_CF_INDEX, k.bytes, k.len, &v);
        if (st == KB_OK) kb_value_free(&v);
        if (st == KB_ERR_NOT_FOUND) *yes = false;
        else if (st != KB_OK) return st;
    }
    return KB_OK;
}

static kb_status walk_amount(plan *p, sink *k, cand *c, size_t n) {
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        bool yes;
        kb_status st = on_lists(p, &c[i], &yes);
        if (st != KB_OK) return st;
        if (yes) c[kept++] = c[i];
    }
    qsort(c, kept, sizeof *c, cand_desc);
    for (size_t i = 0; i < kept; i++) {
        bool stop = false;
        kb_status st = sink_row(k, &c[i].s, below_cursor(p, &c[i].s), p->r->currency,
                                c[i].amount, &stop);
        if (st != KB_OK || stop) return st;
    }
    return KB_OK;
}

/* ------------------------------------------------------------------ reply */

/* The page's payments. Robustness (found by the query fuzzer with
 * payments of ~40 KB): a page also ends, with its cursor, once its rows
 * take KB_QUERY_PAGE_BYTES of the reply's arena. */
static kb_status load_rows(kb_qctx *q, const sink *k, Kasboek__V1__ListPaymentsReply *out) {
    out->payments = kb_arena_alloc(&q->arena, (k->n_rows ? k->n_rows : 1) * sizeof *out->payments);
    if (!out->payments) return KB_ERR_NOMEM;
    for (size_t i = 0; i < k->n_rows; i++) {
        if (i && q->arena.used_bytes > KB_QUERY_PAGE_BYTES) {
            out->next_cursor = cursor_of(&q->arena, &k->rows[i - 1], false);
            return out->next_cursor ? KB_OK : KB_ERR_NOMEM;
        }
        ProtobufCMessage *st;
        kb_status s = kb_project_load(q->s, NULL, q->snap, &q->arena, q->rq->tenant,
                                      &kb_payment_aggregate, k->rows[i].b + 17, &st);
        if (s != KB_OK) return s == KB_ERR_NOT_FOUND ? KB_ERR_CORRUPT : s; /* listed, no row */
        out->payments[out->n_payments++] = (Kasboek__V1__Payment *)st;
    }
    return KB_OK;
}

static char *plan_name(plan *p, bool amount) {
    char buf[128] = "";
    size_t used = 0;
    if (amount) used += (size_t)snprintf(buf, sizeof buf, "amount");
    for (size_t i = 0; i < p->n; i++) {
        if (amount && p->src[i].by_currency) continue;
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", used ? "+" : "",
                                 p->src[i].name);
    }
    if (!used) snprintf(buf, sizeof buf, "created");
    return kb_arena_strdup(&p->q->arena, buf);
}

static kb_status refuse_broad(kb_qctx *q) {
    kb_error_set(&q->reply->err, KB_REASON_FILTER_TOO_BROAD, "totals",
                 "totals over more than %u index entries; narrow the filter (a date range)",
                 (unsigned)KB_TOTALS_SCAN_MAX);
    return KB_OK;
}

/* The lists plan: the page, and the totals (in the same walk when there
 * is no cursor, else in a second one from the top). */
static kb_status run_lists(plan *p, sink *k, Kasboek__V1__ListPaymentsReply *out) {
    if (p->n == 0) add_list(p, NULL, NULL, NULL);
    bool shared = p->r->totals && !p->r->cursor[0];
    k->totals = shared;
    sfx stopped;
    bool oob;
    kb_status st =
        walk_lists(p, k, shared ? KB_TOTALS_SCAN_MAX : kb_query_list_scan_max, &stopped, &oob);
    if (st != KB_OK) return st;
    if (oob && shared) return refuse_broad(p->q);
    if (oob) { /* the page ran out of reads: go on from the undecided entry */
        out->next_cursor = cursor_of(&p->q->arena, &stopped, true);
        if (!out->next_cursor) return KB_ERR_NOMEM;
    }
    if (!p->r->totals || shared) return KB_OK;
    sink t = {.q = p->q, .totals = true, .tot = k->tot};
    st = walk_lists(p, &t, KB_TOTALS_SCAN_MAX, &stopped, &oob);
    if (st != KB_OK) return st;
    if (oob) return refuse_broad(p->q);
    k->n_tot = t.n_tot;
    k->overflow = t.overflow;
    return KB_OK;
}

kb_status kb_query_list_payments(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__ListPaymentsRequest *r = (const void *)msg;
    if (list_check(r, &q->reply->err) != KB_CODE_OK) return KB_OK;
    plan p;
    plan_init(&p, q, r);
    Kasboek__V1__ListPaymentsReply out = KASBOEK__V1__LIST_PAYMENTS_REPLY__INIT;
    out.next_cursor = NULL; /* set below; INIT points it at protobuf-c's "" */
    out.plan = NULL;
    sink k = {.q = q, .limit = r->limit ? r->limit : KB_PAGE_SIZE_DEFAULT, .page = true,
              .totals = r->totals};
    k.rows = kb_arena_alloc(&q->scratch, (k.limit + 1) * sizeof *k.rows);
    k.tot = kb_arena_alloc(&q->arena, KB_CURRENCIES_MAX * sizeof *k.tot);
    if (!k.rows || !k.tot) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    bool fits = false;
    if (r->min_case || r->max_case) {
        cand *c;
        size_t n;
        st = amount_candidates(&p, &c, &n, &fits);
        if (st == KB_OK && fits) st = walk_amount(&p, &k, c, n);
        if (st == KB_OK && fits) out.plan = plan_name(&p, true);
    }
    if (st == KB_OK && !fits) {
        st = run_lists(&p, &k, &out);
        out.plan = plan_name(&p, false);
    }
    if (st != KB_OK || q->reply->err.code != KB_CODE_OK) return st;
    if (k.overflow) {
        kb_error_set(&q->reply->err, KB_REASON_AMOUNT_OVERFLOW, "totals",
                     "a currency's total does not fit in 64 bits");
        return KB_OK;
    }
    if (k.more && !out.next_cursor && k.n_rows) {
        out.next_cursor = cursor_of(&q->arena, &k.rows[k.n_rows - 1], false);
        if (!out.next_cursor) return KB_ERR_NOMEM;
    }
    if (!out.next_cursor) out.next_cursor = (char *)"";
    if (r->totals) {
        out.totals = kb_arena_alloc(&q->arena, (k.n_tot ? k.n_tot : 1) * sizeof *out.totals);
        if (!out.totals) return KB_ERR_NOMEM;
        for (size_t i = 0; i < k.n_tot; i++) out.totals[i] = &k.tot[i];
        out.n_totals = k.n_tot;
    }
    out.entries_read = p.read;
    if (!out.plan) return KB_ERR_NOMEM;
    st = load_rows(q, &k, &out);
    return st == KB_OK ? kb_reply_set(q->reply, &out.base) : st;
}
