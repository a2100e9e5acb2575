/* ListPayments over the secondary indexes: a rare filter reads only its
 * matches (entries_read), random filters page to exactly what a filter
 * over every payment's state gives, totals cover the whole filter, pages
 * stay stable while events arrive, and replay builds the same indexes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query.h"
#include "keys.h"
#include "payment.h"
#include "rebuild.h"
#include "support/engine_env.h"

typedef Kasboek__V1__ListPaymentsRequest list_req;
typedef Kasboek__V1__ListPaymentsReply list_reply;
typedef Kasboek__V1__Payment Payment;

#define SEC_US INT64_C(1000000)
#define M(x)   KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_##x
#define S(x)   KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_##x

/* ------------------------------------------------------------- commands */

typedef struct pay_spec {
    const char *id, *cur, *contact, *company, *stype, *sid;
    int64_t amount, at;
    Kasboek__V1__PaymentMethod method;
} pay_spec;

/* Records s in the open batch. */
static void record(env *e, const pay_spec *s) {
    Kasboek__V1__Money a = KASBOEK__V1__MONEY__INIT;
    a.amount = s->amount;
    a.currency = (char *)s->cur;
    Kasboek__V1__Associations as = KASBOEK__V1__ASSOCIATIONS__INIT;
    as.contact_id = (char *)(s->contact ? s->contact : "");
    as.company_id = (char *)(s->company ? s->company : "");
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)s->id;
    r.amount = &a;
    r.method = s->method;
    r.associations = &as;
    r.source_type = (char *)(s->stype ? s->stype : "");
    r.source_id = (char *)(s->sid ? s->sid : "");
    r.occurred_at = s->at;
    assert_int_equal(exec_open(e, "RecordPayment", &r.base, NULL, -1), KB_CODE_OK);
}




static void begin(env *e) {
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
}
static void commit(env *e) {
    assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
}

/* -------------------------------------------------------------- queries */

static list_reply *list(env *e, const list_req *q) {
    kb_code c = query(e, "ListPayments", &q->base);
    if (c != KB_CODE_OK) print_message("%s: %s\n", e->qreply.err.field, e->qreply.err.message);
    assert_int_equal(c, KB_CODE_OK);
    list_reply *r = kasboek__v1__list_payments_reply__unpack(NULL, e->qreply.payload_len,
                                                             e->qreply.payload);
    assert_non_null(r);
    return r;
}

/* Page 1 of q: expects n rows having read at most max_read entries. */
static void expect_page(env *e, const list_req *q, size_t n, uint64_t max_read,
                        const char *plan) {
    list_reply *r = list(e, q);
    print_message("plan %-24s %3zu rows (want %zu), %3llu entries read (max %llu)\n", r->plan,
                  r->n_payments, n, (unsigned long long)r->entries_read,
                  (unsigned long long)max_read);
    assert_int_equal(r->n_payments, n);
    assert_true(r->entries_read <= max_read);
    assert_string_equal(r->plan, plan);
    kasboek__v1__list_payments_reply__free_unpacked(r, NULL);
}

/* --------------------------------------------------- rare filters, cost */

/* 20,000 by default; KBT_LIST_PAYMENTS=1000000 runs the same checks at a
 * million (the figures in the README). */
static int common_payments(void) {
    const char *v = getenv("KBT_LIST_PAYMENTS");
    int n = v ? atoi(v) : 0;
    return n >= 1000 && n <= 5000000 ? n : 20000;
}
#define COMMON common_payments()
#define RARE      10
#define RARE_EVERY (COMMON / RARE)

/* 20,000 succeeded EUR card payments, one a second, with 10 "rare" SEPA
 * USD payments of one contact, company and invoice (failed) and 10 large
 * EUR ones spread among them. */
static void rare_fixture(env *e) {
    int64_t t0 = NOW - (COMMON + 100) * SEC_US;
    char id[32], contact[16];
    begin(e);
    for (int i = 0; i < COMMON; i++) {
        snprintf(id, sizeof id, "p%05d", i);
        snprintf(contact, sizeof contact, "c-%d", i % 100);
        pay_spec s = {.id = id, .cur = "EUR", .contact = contact, .amount = 1000 + i % 5000,
                      .at = t0 + i * SEC_US, .method = M(CARD)};
        record(e, &s);
        if (i % RARE_EVERY == RARE_EVERY / 2) {
            snprintf(id, sizeof id, "rare-%05d", i);
            pay_spec r = {.id = id, .cur = "USD", .contact = "rare", .company = "co-rare",
                          .stype = "subscription", .sid = "sub-rare", .amount = 777700,
                          .at = t0 + i * SEC_US, .method = M(SEPA_DEBIT)};
            record(e, &r);
            assert_int_equal(kbt_fail_payment(e, id), KB_CODE_OK);
            snprintf(id, sizeof id, "big-%05d", i);
            pay_spec b = {.id = id, .cur = "EUR", .amount = 5000000 + i, .at = t0 + i * SEC_US,
                          .method = M(CARD)};
            record(e, &b);
        }
        if (i % 500 == 499) {
            commit(e);
            begin(e);
        }
    }
    commit(e);
}

static void test_rare_filters_read_only_matches(void **st) {
    env *e = *st;
    rare_fixture(e);
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    /* Each single filter: 10 matches, about one read each (plus the end). */
    q.status = S(FAILED);
    expect_page(e, &q, RARE, RARE + 2, "status");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.method = M(SEPA_DEBIT);
    expect_page(e, &q, RARE, RARE + 2, "method");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.customer_id = "rare";
    expect_page(e, &q, RARE, RARE + 2, "contact");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.company_id = "co-rare";
    expect_page(e, &q, RARE, RARE + 2, "company");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.source_type = "subscription";
    expect_page(e, &q, RARE, RARE + 2, "source_type");
    q.source_id = "sub-rare";
    expect_page(e, &q, RARE, RARE + 2, "source");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.currency = "USD";
    expect_page(e, &q, RARE, RARE + 2, "currency");
    /* An amount range: the amount list, not the 20,010 EUR payments. */
    q.currency = "EUR";
    q.min_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MIN_MIN_AMOUNT;
    q.min_amount = 4000000;
    expect_page(e, &q, RARE, RARE + 1, "amount");
    /* Several filters: about one read per list per match. */
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.status = S(FAILED);
    q.customer_id = "rare";
    q.currency = "USD";
    expect_page(e, &q, RARE, 3 * RARE + 4, "status+contact+currency");
    /* A rare list against a common one that shares none of it: the
     * leapfrog skips the 20,010 succeeded payments in a few seeks each. */
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.status = S(SUCCEEDED);
    q.method = M(SEPA_DEBIT);
    expect_page(e, &q, 0, 2 * RARE + 4, "status+method");
    /* A common contact (200 payments) and the rare company: 0 rows. */
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.customer_id = "c-7";
    q.company_id = "co-rare";
    expect_page(e, &q, 0, 2 * RARE + 4, "contact+company");
    /* A date range of 1,000 seconds: one page of 50 reads 51 entries. */
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    int64_t t0 = NOW - (COMMON + 100) * SEC_US;
    q.from = t0 + 5000 * SEC_US;
    q.to = t0 + 6000 * SEC_US;
    expect_page(e, &q, 50, 52, "created");
    /* Totals over the whole filter, not the page. */
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.currency = "USD";
    q.totals = true;
    q.limit = 3;
    list_reply *r = list(e, &q);
    assert_int_equal(r->n_payments, 3);
    assert_int_equal(r->n_totals, 1);
    assert_string_equal(r->totals[0]->currency, "USD");
    assert_int_equal(r->totals[0]->count, RARE);
    assert_int_equal(r->totals[0]->amount, RARE * 777700);
    kasboek__v1__list_payments_reply__free_unpacked(r, NULL);
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.totals = true;
    struct timespec t1, t2; /* printed only: how long totals over everything take */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r = list(e, &q);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    print_message("totals over %d payments: %llu entries read in %.0f ms\n", COMMON + 2 * RARE,
                  (unsigned long long)r->entries_read,
                  (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6);
    assert_int_equal(r->n_totals, 2);
    int64_t eur = 0;
    for (int i = 0; i < COMMON; i++) eur += 1000 + i % 5000; /* fits: 2^63 > 5e6 * 6000 */
    for (int i = RARE_EVERY / 2; i < COMMON; i += RARE_EVERY) eur += 5000000 + i;
    for (size_t i = 0; i < r->n_totals; i++) {
        bool is_eur = strcmp(r->totals[i]->currency, "EUR") == 0;
        assert_int_equal(r->totals[i]->count, is_eur ? COMMON + RARE : RARE);
        assert_int_equal(r->totals[i]->amount, is_eur ? eur : RARE * 777700);
    }
    kasboek__v1__list_payments_reply__free_unpacked(r, NULL);
    if (COMMON <= 100000) rebuild_and_compare(e, 4096); /* the million-run skips it */
}

/* ---------------------------------------------- random filters vs oracle */

#define rnd kbt_rnd

#define RANDOM_PAYMENTS 1200

static const char *const curs[] = {"EUR", "USD", "JPY"};
static const char *const contacts[] = {"c0", "c1", "c2", "c3", "c4", "c5"};
static const char *const companies[] = {"k0", "k1", "k2"};
static const char *const stypes[] = {"subscription", "form", "payment_link"};
static const char *const sids[] = {"s0", "s1", "s2", "s3"};
static const Kasboek__V1__PaymentMethod methods[] = {M(CARD), M(SEPA_DEBIT), M(IDEAL), M(PAYPAL)};

#define PICK(a) a[rnd(sizeof a / sizeof a[0])]

typedef struct oracle {
    Payment *p[RANDOM_PAYMENTS + 200];
    size_t n;
} oracle;

static void random_payments(env *e, int n, int first, int64_t t0) {
    char id[32], rid[40];
    begin(e);
    for (int i = first; i < first + n; i++) {
        snprintf(id, sizeof id, "r%04d", i);
        pay_spec s = {.id = id,
                      .cur = PICK(curs),
                      .contact = rnd(4) ? PICK(contacts) : NULL,
                      .company = rnd(3) ? NULL : PICK(companies),
                      .amount = 1 + rnd(20000),
                      .at = t0 + rnd(30 * 86400) / 7 * 7 * SEC_US, /* some equal times */
                      .method = PICK(methods)};
        if (rnd(2)) {
            s.stype = PICK(stypes);
            s.sid = rnd(2) ? PICK(sids) : NULL;
        }
        record(e, &s);
        if (s.method == M(SEPA_DEBIT) && rnd(3)) {
            assert_int_equal(rnd(3) ? kbt_settle(e, id) : kbt_fail_payment(e, id), KB_CODE_OK);
        } else if (s.method != M(SEPA_DEBIT) && rnd(4) == 0) {
            snprintf(rid, sizeof rid, "%s-r", id);
            (void)kbt_refund(e, id, rid, rnd(2) ? s.amount : 1 + rnd((uint32_t)s.amount), s.cur);
        }
    }
    commit(e);
}

static Payment *get_payment(env *e, const char *id) {
    Kasboek__V1__GetPaymentRequest g = KASBOEK__V1__GET_PAYMENT_REQUEST__INIT;
    g.payment_id = (char *)id;
    assert_int_equal(query(e, "GetPayment", &g.base), KB_CODE_OK);
    Kasboek__V1__GetPaymentReply *r =
        kasboek__v1__get_payment_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    Payment *p = r->payment;
    r->payment = NULL;
    kasboek__v1__get_payment_reply__free_unpacked(r, NULL);
    return p;
}

static void oracle_load(env *e, oracle *o, int n) {
    char id[32];
    for (size_t i = 0; i < o->n; i++) kasboek__v1__payment__free_unpacked(o->p[i], NULL);
    o->n = 0;
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "r%04d", i);
        o->p[o->n++] = get_payment(e, id);
    }
}

static bool matches(const list_req *q, const Payment *p) {
    const Kasboek__V1__Associations *as = p->associations;
    const char *contact = as ? as->contact_id : "", *company = as ? as->company_id : "";
    return (!q->status || p->status == q->status) && (!q->method || p->method == q->method) &&
           (!q->currency[0] || strcmp(p->amount->currency, q->currency) == 0) &&
           (!q->min_case || p->amount->amount >= q->min_amount) &&
           (!q->max_case || p->amount->amount <= q->max_amount) &&
           (!q->customer_id[0] || strcmp(contact, q->customer_id) == 0) &&
           (!q->company_id[0] || strcmp(company, q->company_id) == 0) &&
           (!q->source_type[0] || strcmp(p->source_type, q->source_type) == 0) &&
           (!q->source_id[0] || strcmp(p->source_id, q->source_id) == 0) &&
           p->created_at >= q->from && (!q->to || p->created_at < q->to);
}

/* Newest first; equal times by id, larger first (the suffix order). */
static int newest_first(const void *a, const void *b) {
    const Payment *x = *(Payment *const *)a, *y = *(Payment *const *)b;
    if (x->created_at != y->created_at) return x->created_at > y->created_at ? -1 : 1;
    return strcmp(y->payment_id, x->payment_id);
}

static void random_filter(list_req *q, int64_t t0, char *cur_buf) {
    *q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    if (rnd(3) == 0) q->status = (Kasboek__V1__PaymentStatus)(1 + rnd(6));
    if (rnd(3) == 0) q->method = PICK(methods);
    if (rnd(2) == 0) q->customer_id = (char *)PICK(contacts);
    if (rnd(4) == 0) q->company_id = (char *)PICK(companies);
    if (rnd(4) == 0) {
        q->source_type = (char *)PICK(stypes);
        if (rnd(2)) q->source_id = (char *)PICK(sids);
    }
    if (rnd(3) == 0) {
        strcpy(cur_buf, PICK(curs));
        q->currency = cur_buf;
        if (rnd(2)) {
            q->min_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MIN_MIN_AMOUNT;
            q->min_amount = rnd(20000);
        }
        if (rnd(2)) {
            q->max_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MAX_MAX_AMOUNT;
            q->max_amount = q->min_amount + rnd(20000);
        }
    }
    if (rnd(3) == 0) {
        q->from = t0 + (int64_t)rnd(15 * 86400) * SEC_US;
        if (rnd(2)) q->to = q->from + (1 + (int64_t)rnd(15 * 86400)) * SEC_US;
    }
    q->limit = 1 + rnd(40);
    q->totals = rnd(2);
}

/* Pages through q; the rows must be exactly the oracle's matches in order,
 * and the totals (when asked) their count and sum per currency. */
static void check_filter(env *e, list_req *q, const oracle *o) {
    Payment *want[RANDOM_PAYMENTS];
    size_t n_want = 0;
    for (size_t i = 0; i < o->n; i++)
        if (matches(q, o->p[i])) want[n_want++] = o->p[i];
    qsort(want, n_want, sizeof *want, newest_first);
    char cursor[128] = "";
    size_t got = 0;
    bool totals_checked = false;
    for (int pages = 0; pages < 2000; pages++) {
        q->cursor = cursor;
        list_reply *r = list(e, q);
        assert_true(r->n_payments <= q->limit);
        for (size_t i = 0; i < r->n_payments; i++, got++) {
            assert_true(got < n_want);
            assert_string_equal(r->payments[i]->payment_id, want[got]->payment_id);
        }
        if (q->totals) {
            for (size_t c = 0; c < sizeof curs / sizeof curs[0]; c++) {
                uint64_t count = 0;
                int64_t sum = 0;
                for (size_t i = 0; i < n_want; i++) {
                    if (strcmp(want[i]->amount->currency, curs[c])) continue;
                    count++;
                    sum += want[i]->amount->amount;
                }
                const Kasboek__V1__CurrencyTotal *t = NULL;
                for (size_t i = 0; i < r->n_totals; i++)
                    if (strcmp(r->totals[i]->currency, curs[c]) == 0) t = r->totals[i];
                assert_int_equal(t ? t->count : 0, count);
                assert_int_equal(t ? t->amount : 0, sum);
            }
            totals_checked = true;
        }
        snprintf(cursor, sizeof cursor, "%s", r->next_cursor);
        kasboek__v1__list_payments_reply__free_unpacked(r, NULL);
        if (!cursor[0]) break;
    }
    assert_int_equal(got, n_want);
    assert_true(totals_checked == q->totals);
    q->cursor = "";
}

static void test_random_filters_match_states(void **st) {
    env *e = *st;
    kbt_seed(20261122);
    int64_t t0 = NOW - 31 * 86400 * SEC_US;
    random_payments(e, RANDOM_PAYMENTS, 0, t0);
    oracle *o = calloc(1, sizeof *o);
    oracle_load(e, o, RANDOM_PAYMENTS);
    list_req q;
    char cur[4];
    for (int i = 0; i < 300; i++) {
        random_filter(&q, t0, cur);
        check_filter(e, &q, o);
    }
    /* The same with pages that run out of reads after 8 entries: a page
     * may come back short or empty with a cursor that resumes at the
     * undecided entry ("...~"), and the rows still come out exactly once. */
    kb_query_list_scan_max = 8;
    for (int i = 0; i < 150; i++) {
        random_filter(&q, t0, cur);
        q.totals = false;
        check_filter(e, &q, o);
    }
    kb_query_list_scan_max = KB_LIST_SCAN_MAX;
    for (size_t i = 0; i < o->n; i++) kasboek__v1__payment__free_unpacked(o->p[i], NULL);
    free(o);
    rebuild_and_compare(e, 97);
}

/* ------------------------------------------ pages while events arrive */

static void test_pages_stable_while_events_arrive(void **st) {
    env *e = *st;
    kbt_seed(7);
    int64_t t0 = NOW - 31 * 86400 * SEC_US;
    random_payments(e, 300, 0, t0);
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.limit = 7;
    char cursor[128] = "", seen[800][16];
    size_t n_seen = 0;
    int extra = 300;
    oracle *before = calloc(1, sizeof *before);
    oracle_load(e, before, 300);
    for (int page = 0; page < 100; page++) {
        q.cursor = cursor;
        list_reply *r = list(e, &q);
        for (size_t i = 0; i < r->n_payments; i++) {
            for (size_t j = 0; j < n_seen; j++)
                assert_string_not_equal(seen[j], r->payments[i]->payment_id);
            snprintf(seen[n_seen++], sizeof seen[0], "%s", r->payments[i]->payment_id);
        }
        snprintf(cursor, sizeof cursor, "%s", r->next_cursor);
        kasboek__v1__list_payments_reply__free_unpacked(r, NULL);
        if (!cursor[0]) break;
        /* New payments (at any time in the window) and refunds between pages. */
        random_payments(e, 3, extra, t0);
        extra += 3;
    }
    /* Every payment that existed at the first page is listed exactly once;
     * new ones show up only below the cursor they were created under. */
    for (size_t i = 0; i < before->n; i++) {
        size_t hits = 0;
        for (size_t j = 0; j < n_seen; j++)
            hits += strcmp(seen[j], before->p[i]->payment_id) == 0;
        assert_int_equal(hits, 1);
    }
    for (size_t i = 0; i < before->n; i++) kasboek__v1__payment__free_unpacked(before->p[i], NULL);
    free(before);
}

/* ------------------------------------------------- upgrade of the schema */

static void put_schema(env *e, uint64_t version, bool present) {
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(e->store, &b), KB_OK);
    unsigned char v[8];
    kb_be64_put(v, version);
    if (present)
        kb_batch_put(b, KB_CF_META, KB_META_SCHEMA, strlen(KB_META_SCHEMA), v, sizeof v);
    else
        kb_batch_delete(b, KB_CF_META, KB_META_SCHEMA, strlen(KB_META_SCHEMA));
    assert_int_equal(kb_store_write(e->store, b, true), KB_OK);
    kb_batch_free(b);
}

/* A store of schema 1 (no schema key; the payment lists of before) gets
 * its projections rebuilt from the log on open, equal to a replay, and
 * its lists answer again; a newer schema is refused. */
static void test_old_schema_reprojected(void **st) {
    env *e = *st;
    kb_schema_check sc;
    const kb_rebuild_config rc = {.sst_dir = e->dir};
    assert_int_equal(kb_projections_ensure(e->store, &rc, &sc), KB_OK);
    assert_int_equal(sc.found, 1); /* a new store: written, nothing to fold */
    assert_false(sc.reprojected);
    assert_int_equal(kb_projections_ensure(e->store, &rc, &sc), KB_OK);
    assert_int_equal(sc.found, KB_SCHEMA_VERSION);
    kbt_seed(99);
    int64_t t0 = NOW - 31 * 86400 * SEC_US;
    random_payments(e, 200, 0, t0);
    /* Make it look like a schema-1 store: no key, index rows of the old
     * shape (an empty value where "<CUR> <amount>" is now) and none of the
     * new lists, a stray state row. */
    put_schema(e, 0, false);
    assert_int_equal(kb_store_clear(e->store, KB_CF_INDEX), KB_OK);
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(e->store, &b), KB_OK);
    kb_key k;
    kb_payment_list_prefix(&k, "t1", NULL, NULL, NULL);
    kb_payment_list_suffix(&k, t0, "r0001");
    kb_batch_put(b, KB_CF_INDEX, k.bytes, k.len, "", 0);
    kb_batch_put(b, KB_CF_STATE, "t1/payment/ghost", 16, "x", 1);
    assert_int_equal(kb_store_write(e->store, b, true), KB_OK);
    kb_batch_free(b);
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    assert_int_equal(query(e, "ListPayments", &q.base), KB_CODE_DATA_LOSS);
    assert_int_equal(kb_projections_ensure(e->store, &rc, &sc), KB_OK);
    assert_int_equal(sc.found, 1);
    assert_true(sc.reprojected);
    assert_int_equal(sc.events, kb_engine_head(e->engine).seq);
    rebuild_and_compare(e, 4096);
    oracle *o = calloc(1, sizeof *o);
    oracle_load(e, o, 200);
    char cur[4];
    for (int i = 0; i < 50; i++) {
        random_filter(&q, t0, cur);
        check_filter(e, &q, o);
    }
    for (size_t i = 0; i < o->n; i++) kasboek__v1__payment__free_unpacked(o->p[i], NULL);
    free(o);
    /* The engine goes on writing on the rebuilt projections. */
    random_payments(e, 20, 200, t0);
    rebuild_and_compare(e, 4096);
    /* Reprojected again with the chunks written on a thread of their own
     * (as kasboekd does), many small chunks: the same projections. */
    assert_int_equal(kbt_reproject_threaded(e, 7), kb_engine_head(e->engine).seq);
    rebuild_and_compare(e, 4096);
    put_schema(e, KB_SCHEMA_VERSION + 1, true);
    assert_int_equal(kb_projections_ensure(e->store, &rc, &sc), KB_ERR_STATE);
    assert_int_equal(sc.found, KB_SCHEMA_VERSION + 1);
}

/* A log that ends before the stored head (its last event gone): the
 * reprojection fails as corrupt and leaves the head as it was, for an
 * audit to find, instead of moving it back to the log's end. */
static void test_reproject_truncated_log(void **st) {
    env *e = *st;
    random_payments(e, 20, 0, NOW - 31 * 86400 * SEC_US);
    kb_head before, after;
    assert_int_equal(kb_log_head_read(e->store, NULL, NULL, &before), KB_OK);
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(e->store, &b), KB_OK);
    kb_key k;
    kb_key_event(&k, before.seq);
    kb_batch_delete(b, KB_CF_EVENTS, k.bytes, k.len);
    assert_int_equal(kb_store_write(e->store, b, true), KB_OK);
    kb_batch_free(b);
    put_schema(e, 0, false);
    kb_schema_check sc;
    const kb_rebuild_config rc = {.sst_dir = e->dir, .chunk_events = 3};
    assert_int_equal(kb_projections_ensure(e->store, &rc, &sc), KB_ERR_CORRUPT);
    assert_int_equal(kb_log_head_read(e->store, NULL, NULL, &after), KB_OK);
    assert_int_equal(after.seq, before.seq);
    assert_memory_equal(after.hash, before.hash, KB_HASH_BYTES);
    /* a config it cannot use is refused before anything is cleared */
    const kb_rebuild_config bad = {.sst_dir = NULL};
    assert_int_equal(kb_reproject(e->store, &bad, &sc.events), KB_ERR_ARG);
}

/* ------------------------------------------------------------ refusals */

static void expect_refused(env *e, const list_req *q, kb_reason reason, const char *field) {
    assert_int_equal(query(e, "ListPayments", &q->base), kb_reason_code(reason));
    assert_string_equal(e->qreply.err.field, field);
    assert_int_equal(e->qreply.err.reason, reason);
}

static void test_bad_filters(void **st) {
    env *e = *st;
    list_req q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.source_id = "inv-1";
    expect_refused(e, &q, KB_REASON_FIELD_REQUIRED, "source_type");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.source_type = "in/voice";
    expect_refused(e, &q, KB_REASON_INVALID_ENUM, "source_type");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.company_id = "a b";
    expect_refused(e, &q, KB_REASON_INVALID_ID, "company_id");
    q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    q.max_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MAX_MAX_AMOUNT;
    expect_refused(e, &q, KB_REASON_FIELD_REQUIRED, "currency");
    q.currency = "EUR";
    q.min_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MIN_MIN_AMOUNT;
    q.min_amount = 5;
    q.max_amount = 4;
    expect_refused(e, &q, KB_REASON_INVALID_RANGE, "min_amount");
    static const char *const bad_cursors[] = {
        "~", "0000000000000001/~", "000000000000000g/p1", "0000000000000001/p1~~",
        "0000000000000001/p/1", "0000000000000001p1",
    };
    for (size_t i = 0; i < sizeof bad_cursors / sizeof bad_cursors[0]; i++) {
        q = (list_req)KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
        q.cursor = (char *)bad_cursors[i];
        expect_refused(e, &q, KB_REASON_INVALID_CURSOR, "cursor");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rare_filters_read_only_matches, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_random_filters_match_states, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_pages_stable_while_events_arrive, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_old_schema_reprojected, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_reproject_truncated_log, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_bad_filters, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
