/* Reports (DOMAIN.md §2): reconciliation, payments, payouts, as CSV
 * (RFC 4180, header row, ISO 8601 dates, decimal amounts in the currency's
 * exponent) or JSON (the same columns as strings). A report reflects the
 * log up to one seq: rows booked later, payouts closed later and payout
 * status changes after it are left out, so the same request at the same
 * seq always gives the same bytes. Its digest is BLAKE2b-256 of the CSV
 * header and rows, whatever the format, so an auditor can compare a JSON
 * report with a CSV one. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "calendar.h"
#include "inspect.h"
#include "money.h"
#include "project.h"
#include "query_int.h"

typedef Kasboek__V1__BalanceTransaction Btxn;
typedef Kasboek__V1__Payout Payout;

#define REPORT_COLS_MAX 12

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed; /* out of memory or past KB_REPORT_BYTES_MAX */
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > KB_REPORT_BYTES_MAX) {
        b->failed = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_str(sbuf *b, const char *s) {
    sb_add(b, s, strlen(s));
}

/* One CSV field, quoted when it holds a comma, quote or line break. */
static void csv_field(sbuf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        sb_str(b, s);
        return;
    }
    sb_add(b, "\"", 1);
    for (const char *c = s; *c; c++) {
        if (*c == '"') sb_add(b, "\"", 1); /* a quote is doubled */
        sb_add(b, c, 1);
    }
    sb_add(b, "\"", 1);
}

/* A JSON string (control characters escaped; the text is valid UTF-8). */
static void json_string(sbuf *b, const char *s) {
    sb_add(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*c;
            sb_add(b, esc, 2);
        } else if (*c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            sb_add(b, esc, 6);
        } else {
            sb_add(b, (const char *)c, 1);
        }
    }
    sb_add(b, "\"", 1);
}

typedef struct report {
    kb_qctx *q;
    const Kasboek__V1__GetReportRequest *r;
    int32_t from, to;
    uint64_t seq; /* as of */
    const char *const *cols;
    size_t n_cols;
    sbuf csv, json;
    uint32_t rows;
} report;

static void report_header(report *rp, const char *const *cols) {
    rp->cols = cols;
    for (rp->n_cols = 0; cols[rp->n_cols]; rp->n_cols++) {
        if (rp->n_cols) sb_add(&rp->csv, ",", 1);
        csv_field(&rp->csv, cols[rp->n_cols]);
    }
    sb_add(&rp->csv, "\r\n", 2);
}

static void report_row(report *rp, const char *const *cells) {
    sb_add(&rp->json, rp->rows ? ",\n    {" : "\n    {", rp->rows ? 7 : 6);
    for (size_t i = 0; i < rp->n_cols; i++) {
        if (i) sb_add(&rp->csv, ",", 1);
        csv_field(&rp->csv, cells[i]);
        if (i) sb_add(&rp->json, ", ", 2);
        json_string(&rp->json, rp->cols[i]);
        sb_add(&rp->json, ": ", 2);
        json_string(&rp->json, cells[i]);
    }
    sb_add(&rp->csv, "\r\n", 2);
    sb_add(&rp->json, "}", 1);
    rp->rows++;
}

/* ------------------------------------------------------------- cells */

typedef struct cellbuf {
    char v[REPORT_COLS_MAX][64];
} cellbuf;

static const char *money_cell(char *buf, int64_t amount, const char *currency) {
    if (kb_money_format(amount, currency, buf, 64) < 0)
        snprintf(buf, 64, "%lld", (long long)amount);
    return buf;
}

static const char *date_cell(char *buf, int32_t day) {
    if (day <= 0 || kb_date_format(day, buf, 64) < 0) buf[0] = 0;
    return buf;
}

static const char *enum_cell(char *buf, const ProtobufCEnumDescriptor *d, int value) {
    if (kb_pb_enum_name(d, value, buf, 64) < 0) snprintf(buf, 64, "%d", value);
    return buf;
}

static const char *type_cell(char *buf, const Btxn *t) {
    return enum_cell(buf, &kasboek__v1__balance_transaction_type__descriptor, (int)t->type);
}

/* ---------------------------------------------------- payouts as of seq */

/* The payouts of the tenant closed by rp->seq with date in [from, to],
 * by date then currency. */
typedef struct po_set {
    Payout **v;
    const char **status; /* as of seq */
    size_t n, cap;
} po_set;

/* Status as of seq, from the payout's own events. */
static kb_status status_as_of(report *rp, const Payout *p, const char **out) {
    Kasboek__V1__EventRecord **tl;
    size_t n;
    kb_status st = kb_query_timeline(rp->q, "payout", p->payout_id, &tl, &n);
    if (st != KB_OK) return st;
    *out = "pending";
    for (size_t i = 0; i < n && tl[i]->seq <= rp->seq; i++) {
        if (strcmp(tl[i]->type, "PayoutPaid") == 0) *out = "paid";
        if (strcmp(tl[i]->type, "PayoutFailed") == 0) *out = "failed";
    }
    return KB_OK;
}

static kb_status po_push(report *rp, po_set *s, Payout *p) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 32;
        Payout **v = kb_arena_alloc(&rp->q->arena, cap * sizeof *v);
        const char **stv = kb_arena_alloc(&rp->q->arena, cap * sizeof *stv);
        if (!v || !stv) return KB_ERR_NOMEM;
        if (s->n) memcpy(v, s->v, s->n * sizeof *v);
        if (s->n) memcpy(stv, s->status, s->n * sizeof *stv);
        s->v = v;
        s->status = stv;
        s->cap = cap;
    }
    kb_status st = status_as_of(rp, p, &s->status[s->n]);
    if (st == KB_OK) s->v[s->n++] = p;
    return st;
}

typedef struct range_scan {
    report *rp;
    po_set *s;
    size_t prefix_len;
} range_scan;

static kb_status range_row(void *ctx, const char *k, size_t kl, const char *v, size_t vl,
                           bool *go_on) {
    (void)k, (void)go_on;
    range_scan *c = ctx;
    if (kl < c->prefix_len + 18) return KB_ERR_CORRUPT;
    Payout *p;
    kb_status st = kb_query_row_payout(c->rp->q, v, vl, &p);
    if (st == KB_OK && p->closed_seq < c->rp->seq) st = po_push(c->rp, c->s, p);
    return st;
}

static kb_status payouts_in_range(report *rp, po_set *s) {
    kb_key lo, hi;
    kb_payout_list_prefix(&lo, rp->q->rq->tenant, 0);
    hi = lo;
    range_scan c = {.rp = rp, .s = s, .prefix_len = lo.len};
    kb_key_raw_hex64(&lo, (uint64_t)rp->from);
    kb_key_raw_hex64(&hi, (uint64_t)rp->to + 1);
    return kb_query_scan(rp->q, KB_CF_INDEX, &lo, &hi, range_row, &c);
}

/* -------------------------------------------------- payout-based reports */

static kb_status payout_rows(report *rp, const Payout *p, const char *status, bool recon) {
    Btxn **v;
    size_t n;
    kb_status st = kb_query_payout_transactions(rp->q, p, &v, &n);
    if (st != KB_OK) return st;
    cellbuf c;
    const char *date = date_cell(c.v[0], p->date), *arrival = date_cell(c.v[1], p->arrival_date);
    if (recon) { /* the payout's own row first */
        const char *row[] = {"payout",
                             p->payout_id,
                             date,
                             arrival,
                             status,
                             "",
                             "",
                             "",
                             "",
                             "",
                             money_cell(c.v[2], p->amount->amount, p->amount->currency),
                             p->amount->currency};
        report_row(rp, row);
    }
    for (size_t i = 0; i < n; i++) {
        const Btxn *t = v[i];
        const char *type = type_cell(c.v[3], t), *on = date_cell(c.v[4], t->available_on);
        const char *amount = money_cell(c.v[5], t->amount, t->currency);
        if (recon) {
            const char *row[] = {"transaction", p->payout_id, date,   arrival,
                                 status,        t->id,        type,   t->payment_id,
                                 t->source_id,  on,           amount, t->currency};
            report_row(rp, row);
        } else {
            const char *row[] = {p->payout_id, date,   arrival,       status,
                                 t->id,        type,   t->payment_id, t->source_type,
                                 t->source_id, amount, t->currency,   on};
            report_row(rp, row);
        }
    }
    return KB_OK;
}

static const char *const reconciliation_cols[] = {
    "record",         "payout_id", "payout_date", "arrival_date", "payout_status",
    "transaction_id", "type",      "payment_id",  "source_id",    "available_on",
    "amount",         "currency",  NULL};

static kb_status reconciliation(report *rp) {
    po_set s = {0};
    kb_status st = payouts_in_range(rp, &s);
    report_header(rp, reconciliation_cols);
    for (size_t i = s.n; st == KB_OK && i-- > 0;) st = payout_rows(rp, s.v[i], s.status[i], true);
    return st;
}

static const char *const payouts_cols[] = {
    "payout_id",  "payout_date", "arrival_date", "payout_status", "transaction_id", "type",
    "payment_id", "source_type", "source_id",    "amount",        "currency",       "available_on",
    NULL};

static kb_status payouts_report(report *rp) {
    po_set s = {0};
    kb_status st = payouts_in_range(rp, &s);
    report_header(rp, payouts_cols);
    for (size_t i = 0; st == KB_OK && i < s.n; i++)
        st = payout_rows(rp, s.v[i], s.status[i], false);
    return st;
}

/* ------------------------------------------------------ payments report */

/* The payout (as of seq) that holds t: the first of its currency, by date,
 * with date >= available_on and closed after t was booked. */
typedef struct holder_scan {
    report *rp;
    const Btxn *t;
    const char **out;
} holder_scan;

static kb_status holder_row(void *ctx, const char *k, size_t kl, const char *v, size_t vl,
                            bool *go_on) {
    (void)k, (void)kl;
    holder_scan *c = ctx;
    Payout *p;
    kb_status st = kb_query_row_payout(c->rp->q, v, vl, &p);
    if (st != KB_OK || p->closed_seq >= c->rp->seq) { /* later ones close later still */
        *go_on = false;
    } else if (p->closed_seq > c->t->seq) {
        *c->out = p->payout_id;
        *go_on = false;
    }
    return st;
}

static kb_status payout_of(report *rp, const Btxn *t, const char **out) {
    kb_qctx *q = rp->q;
    *out = "";
    kb_key lo, hi;
    kb_payout_key_date(&lo, q->rq->tenant, t->currency, t->available_on);
    kb_payout_key_date(&hi, q->rq->tenant, t->currency, 0);
    hi.len -= 16;
    kb_key_prefix_end(&hi, &hi);
    holder_scan c = {.rp = rp, .t = t, .out = out};
    return kb_query_scan(q, KB_CF_INDEX, &lo, &hi, holder_row, &c);
}

static const char *const payments_cols[] = {
    "created_at", "type",   "transaction_id", "payment_id",   "source_type", "source_id",
    "method",     "amount", "currency",       "available_on", "payout_id",   NULL};

static kb_status payment_row(report *rp, const Btxn *t) {
    if (t->type == KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYOUT_FAILURE) {
        return KB_OK; /* not a customer transaction */
    }
    const char *payout;
    kb_status st = payout_of(rp, t, &payout);
    if (st != KB_OK) return st;
    cellbuf c;
    if (kb_time_format(t->created_at, c.v[0], 64) < 0) c.v[0][0] = 0;
    const char *row[] = {
        c.v[0],
        type_cell(c.v[1], t),
        t->id,
        t->payment_id,
        t->source_type,
        t->source_id,
        enum_cell(c.v[6], &kasboek__v1__payment_method__descriptor, (int)t->method),
        money_cell(c.v[7], t->amount, t->currency),
        t->currency,
        date_cell(c.v[9], t->available_on),
        payout};
    report_row(rp, row);
    return KB_OK;
}

typedef struct created_scan {
    report *rp;
    size_t prefix_len;
} created_scan;

/* One <tenant>/btxn/created/<day>/<seq> -> currency, mask row: the
 * transactions of its event created that day, read by seq, unless booked
 * after the report's seq. */
static kb_status created_row(void *ctx, const char *k, size_t kl, const char *v, size_t vl,
                             bool *go_on) {
    (void)go_on;
    created_scan *c = ctx;
    kb_qctx *q = c->rp->q;
    char cur[4];
    uint64_t day, seq;
    if (kl != c->prefix_len + 33 || vl != 4 || !kb_key_parse_hex64(k + c->prefix_len, &day) ||
        !kb_key_parse_hex64(k + c->prefix_len + 17, &seq)) {
        return KB_ERR_CORRUPT;
    }
    memcpy(cur, v, 3);
    cur[3] = 0;
    if (seq > c->rp->seq) return KB_OK;
    kb_arena_reset(&q->scratch);
    Btxn *t[KB_BALANCE_ENTRIES_PER_EVENT_MAX];
    size_t n;
    kb_status st = kb_query_btxn_rows(q, &q->scratch, cur, seq, (unsigned char)v[3], t, &n);
    for (size_t i = 0; st == KB_OK && i < n; i++) {
        st = (uint64_t)kb_day_of_instant(t[i]->created_at) == day ? payment_row(c->rp, t[i])
                                                                  : KB_ERR_CORRUPT;
    }
    return st;
}

static kb_status payments_report(report *rp) {
    kb_qctx *q = rp->q;
    report_header(rp, payments_cols);
    kb_key lo, hi;
    kb_btxn_key_created(&lo, q->rq->tenant, rp->from, 0);
    kb_btxn_key_created(&hi, q->rq->tenant, rp->to + 1, 0);
    created_scan c = {.rp = rp, .prefix_len = lo.len - 33};
    return kb_query_scan(q, KB_CF_INDEX, &lo, &hi, created_row, &c);
}

/* ---------------------------------------------------------------- query */

static kb_code check_request(kb_qctx *q, const Kasboek__V1__GetReportRequest *r, report *rp,
                             uint64_t head) {
    kb_error *err = &q->reply->err;
    if (r->kind == KASBOEK__V1__REPORT_KIND__REPORT_KIND_UNSPECIFIED) {
        return kb_error_set(err, KB_REASON_FIELD_REQUIRED, "kind", "kind is required");
    }
    if (kb_date_parse(r->from, &rp->from) != KB_OK || rp->from < 0) {
        return kb_error_set(err, KB_REASON_INVALID_DATE, "from", "from must be YYYY-MM-DD");
    }
    if (kb_date_parse(r->to, &rp->to) != KB_OK || rp->to < rp->from) {
        return kb_error_set(err, KB_REASON_INVALID_DATE, "to",
                            "to must be YYYY-MM-DD, not before from");
    }
    if (r->as_of_seq > head) {
        return kb_error_set(err, KB_REASON_INVALID_RANGE, "as_of_seq",
                            "as_of_seq is past the head");
    }
    rp->seq = r->as_of_seq ? r->as_of_seq : head;
    return KB_CODE_OK;
}

static kb_status finish(report *rp) {
    kb_qctx *q = rp->q;
    if (rp->csv.failed || rp->json.failed) {
        kb_error_set(&q->reply->err, KB_REASON_REPORT_TOO_LARGE, "to",
                     "the report exceeds %u bytes: ask for a shorter range",
                     (unsigned)KB_REPORT_BYTES_MAX);
        return KB_OK;
    }
    unsigned char h[32];
    char hex[65];
    crypto_generichash(h, sizeof h, (const unsigned char *)rp->csv.p, rp->csv.len, NULL, 0);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    bool json = rp->r->format == KASBOEK__V1__REPORT_FORMAT__REPORT_FORMAT_JSON;
    sbuf doc = {0};
    if (json) {
        char head[256];
        snprintf(head, sizeof head,
                 "{\n  \"report\": \"%s\",\n  \"from\": \"%s\",\n  \"to\": \"%s\",\n  "
                 "\"as_of_seq\": %llu,\n  \"blake2b\": \"%s\",\n  \"rows\": [",
                 rp->r->kind == KASBOEK__V1__REPORT_KIND__REPORT_KIND_RECONCILIATION
                     ? "reconciliation"
                 : rp->r->kind == KASBOEK__V1__REPORT_KIND__REPORT_KIND_PAYMENTS ? "payments"
                                                                                 : "payouts",
                 rp->r->from, rp->r->to, (unsigned long long)rp->seq, hex);
        sb_str(&doc, head);
        if (rp->json.len) sb_add(&doc, rp->json.p, rp->json.len);
        sb_str(&doc, rp->rows ? "\n  ]\n}\n" : "]\n}\n");
    }
    Kasboek__V1__GetReportReply out = KASBOEK__V1__GET_REPORT_REPLY__INIT;
    out.content.data = (uint8_t *)(json ? doc.p : rp->csv.p);
    out.content.len = json ? doc.len : rp->csv.len;
    out.as_of_seq = rp->seq;
    out.digest = hex;
    out.rows = rp->rows;
    kb_status st = doc.failed ? KB_ERR_NOMEM : kb_reply_set(q->reply, &out.base);
    free(doc.p);
    return st;
}

kb_status kb_query_get_report(kb_qctx *q, const ProtobufCMessage *msg) {
    const Kasboek__V1__GetReportRequest *r = (const void *)msg;
    kb_head head;
    kb_status st = kb_log_head_read(q->s, NULL, q->snap, &head);
    if (st != KB_OK) return st;
    report rp = {.q = q, .r = r};
    if (check_request(q, r, &rp, head.seq) != KB_CODE_OK) return KB_OK;
    switch (r->kind) {
        case KASBOEK__V1__REPORT_KIND__REPORT_KIND_RECONCILIATION:
            st = reconciliation(&rp);
            break;
        case KASBOEK__V1__REPORT_KIND__REPORT_KIND_PAYMENTS:
            st = payments_report(&rp);
            break;
        default:
            st = payouts_report(&rp);
            break;
    }
    if (st == KB_OK) st = finish(&rp);
    free(rp.csv.p);
    free(rp.json.p);
    return st;
}
