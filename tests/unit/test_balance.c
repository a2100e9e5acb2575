/* Balance transactions, payouts and settings through the engine and the
 * queries: worked examples with exact figures, every refusal, and a
 * randomized run checked against the invariants of issue 4 and replay. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "calendar.h"
#include "project.h"
#include "query.h"
#include "support/engine_env.h"

typedef Kasboek__V1__BalanceTransaction Btxn;

#define DAY_US INT64_C(86400000000)
#define CARD   KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD
#define SEPA   KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT

/* ------------------------------------------------------------- commands */

static kb_code pay(env *e, const char *id, int64_t amount, int64_t fee, const char *cur,
                   Kasboek__V1__PaymentMethod m) {
    Kasboek__V1__Money a = KASBOEK__V1__MONEY__INIT, f = KASBOEK__V1__MONEY__INIT;
    a.amount = amount;
    a.currency = f.currency = (char *)cur;
    f.amount = fee;
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    r.amount = &a;
    r.fee = fee ? &f : NULL;
    r.method = m;
    return exec(e, "RecordPayment", &r.base, NULL, -1);
}




static kb_code refund_outcome(env *e, const char *rid, bool ok) {
    if (ok) {
        Kasboek__V1__SettleRefundRequest r = KASBOEK__V1__SETTLE_REFUND_REQUEST__INIT;
        r.refund_id = (char *)rid;
        return exec(e, "SettleRefund", &r.base, NULL, -1);
    }
    Kasboek__V1__FailRefundRequest r = KASBOEK__V1__FAIL_REFUND_REQUEST__INIT;
    r.refund_id = (char *)rid;
    r.reason = "account_closed";
    return exec(e, "FailRefund", &r.base, NULL, -1);
}

static kb_code dispute(env *e, const char *pid, const char *did, int64_t amount, int64_t fee,
                       const char *cur, bool lost) {
    Kasboek__V1__Money a = KASBOEK__V1__MONEY__INIT, f = KASBOEK__V1__MONEY__INIT;
    a.amount = amount;
    a.currency = f.currency = (char *)cur;
    f.amount = fee;
    Kasboek__V1__OpenDisputeRequest o = KASBOEK__V1__OPEN_DISPUTE_REQUEST__INIT;
    o.payment_id = (char *)pid;
    o.dispute_id = (char *)did;
    o.amount = &a;
    o.fee = fee ? &f : NULL;
    o.reason = "fraudulent";
    kb_code c = exec(e, "OpenDispute", &o.base, NULL, -1);
    if (c != KB_CODE_OK) return c;
    Kasboek__V1__CloseDisputeRequest cl = KASBOEK__V1__CLOSE_DISPUTE_REQUEST__INIT;
    cl.dispute_id = (char *)did;
    cl.outcome = lost ? KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST
                      : KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_WON;
    return exec(e, "CloseDispute", &cl.base, NULL, -1);
}

static kb_code close_payout(env *e, const char *cur, const char *date) {
    Kasboek__V1__ClosePayoutRequest r = KASBOEK__V1__CLOSE_PAYOUT_REQUEST__INIT;
    r.currency = (char *)cur;
    r.date = (char *)(date ? date : "");
    return exec(e, "ClosePayout", &r.base, NULL, -1);
}

static kb_code payout_outcome(env *e, const char *id, bool paid) {
    if (paid) {
        Kasboek__V1__MarkPayoutPaidRequest r = KASBOEK__V1__MARK_PAYOUT_PAID_REQUEST__INIT;
        r.payout_id = (char *)id;
        return exec(e, "MarkPayoutPaid", &r.base, NULL, -1);
    }
    Kasboek__V1__MarkPayoutFailedRequest r = KASBOEK__V1__MARK_PAYOUT_FAILED_REQUEST__INIT;
    r.payout_id = (char *)id;
    r.reason = "account_closed";
    return exec(e, "MarkPayoutFailed", &r.base, NULL, -1);
}

/* -------------------------------------------------------------- queries */

typedef struct bal {
    int64_t available, pending, total;
    uint32_t open;
    uint64_t as_of_seq;
} bal;

/* The balance in cur now (as_of_seq 0) or as of a seq. */
static bal balance(env *e, const char *cur, uint64_t as_of_seq) {
    Kasboek__V1__GetBalanceRequest r = KASBOEK__V1__GET_BALANCE_REQUEST__INIT;
    r.currency = (char *)cur;
    if (as_of_seq) {
        r.as_of_case = KASBOEK__V1__GET_BALANCE_REQUEST__AS_OF_AS_OF_SEQ;
        r.as_of_seq = as_of_seq;
    }
    assert_int_equal(query(e, "GetBalance", &r.base), KB_CODE_OK);
    Kasboek__V1__GetBalanceReply *g =
        kasboek__v1__get_balance_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(g);
    bal b = {.as_of_seq = g->as_of_seq};
    assert_true(g->n_balances <= 1);
    if (g->n_balances) {
        assert_string_equal(g->balances[0]->currency, cur);
        b.available = g->balances[0]->available;
        b.pending = g->balances[0]->pending;
        b.total = g->balances[0]->total;
        b.open = g->balances[0]->open_transactions;
        assert_int_equal(b.available + b.pending, b.total); /* the parts make the whole */
    }
    kasboek__v1__get_balance_reply__free_unpacked(g, NULL);
    return b;
}

static Kasboek__V1__GetPayoutReply *get_payout(env *e, const char *id) {
    Kasboek__V1__GetPayoutRequest r = KASBOEK__V1__GET_PAYOUT_REQUEST__INIT;
    r.payout_id = (char *)id;
    assert_int_equal(query(e, "GetPayout", &r.base), KB_CODE_OK);
    Kasboek__V1__GetPayoutReply *g =
        kasboek__v1__get_payout_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(g);
    return g;
}

/* Every balance transaction of cur, by seq (free with ..._free_unpacked
 * of each page: kept in pages[]). */
typedef struct all_btxns {
    Btxn *v[20000];
    size_t n;
    Kasboek__V1__ListBalanceTransactionsReply *pages[200];
    size_t n_pages;
} all_btxns;

static void list_all(env *e, const char *cur, all_btxns *out) {
    out->n = out->n_pages = 0;
    uint64_t from = 0;
    do {
        Kasboek__V1__ListBalanceTransactionsRequest r =
            KASBOEK__V1__LIST_BALANCE_TRANSACTIONS_REQUEST__INIT;
        r.currency = (char *)cur;
        r.from_seq = from;
        r.limit = 1000;
        assert_int_equal(query(e, "ListBalanceTransactions", &r.base), KB_CODE_OK);
        Kasboek__V1__ListBalanceTransactionsReply *p =
            kasboek__v1__list_balance_transactions_reply__unpack(NULL, e->qreply.payload_len,
                                                                 e->qreply.payload);
        assert_non_null(p);
        assert_true(out->n_pages < 200);
        out->pages[out->n_pages++] = p;
        for (size_t i = 0; i < p->n_transactions; i++) {
            assert_true(out->n < 20000);
            out->v[out->n++] = p->transactions[i];
        }
        from = p->next_seq;
    } while (from);
}

static void free_all(all_btxns *a) {
    for (size_t i = 0; i < a->n_pages; i++) {
        kasboek__v1__list_balance_transactions_reply__free_unpacked(a->pages[i], NULL);
    }
    a->n = a->n_pages = 0;
}

static void expect_txn(const Btxn *t, Kasboek__V1__BalanceTransactionType type, int64_t amount,
                       const char *available_on) {
    assert_int_equal(t->type, type);
    assert_int_equal(t->amount, amount);
    assert_int_equal(t->available_on, kbt_day(available_on));
}

#define T(x) KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_##x

/* ------------------------------------------------------------- reports */

typedef struct rep_out {
    char *content;
    size_t len;
    char digest[65];
    uint64_t seq;
    uint32_t rows;
} rep_out;

static void get_report(env *e, Kasboek__V1__ReportKind kind, Kasboek__V1__ReportFormat f,
                       uint64_t as_of, rep_out *out) {
    Kasboek__V1__GetReportRequest r = KASBOEK__V1__GET_REPORT_REQUEST__INIT;
    r.kind = kind;
    r.from = "2026-03-01";
    r.to = "2026-03-31";
    r.format = f;
    r.as_of_seq = as_of;
    assert_int_equal(query(e, "GetReport", &r.base), KB_CODE_OK);
    Kasboek__V1__GetReportReply *g =
        kasboek__v1__get_report_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(g);
    out->content = malloc(g->content.len + 1);
    memcpy(out->content, g->content.data, g->content.len);
    out->content[g->content.len] = 0;
    out->len = g->content.len;
    snprintf(out->digest, sizeof out->digest, "%s", g->digest);
    out->seq = g->as_of_seq;
    out->rows = g->rows;
    kasboek__v1__get_report_reply__free_unpacked(g, NULL);
}

/* The report equals tests/unit/data/<name> byte for byte
 * (KBT_WRITE_EXPECTED=1 writes the file instead, for review). */
static void expect_file(const rep_out *r, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", KBT_DATA_DIR, name);
    if (getenv("KBT_WRITE_EXPECTED")) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(r->content, 1, r->len, f);
        fclose(f);
        return;
    }
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("no expected file %s", path);
    static char want[1 << 16];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    if (n != r->len || memcmp(want, r->content, n) != 0) {
        fail_msg("%s differs; got:\n%s", name, r->content);
    }
}

/* The three reports of the negative payout day, compared with expected
 * files; the same request as of the same seq gives the same bytes after
 * more events; CSV and JSON carry the same digest. */
static void reports_of_worked_example(env *e) {
    static const struct {
        Kasboek__V1__ReportKind kind;
        const char *file;
    } kinds[] = {
        {KASBOEK__V1__REPORT_KIND__REPORT_KIND_RECONCILIATION, "reconciliation.csv"},
        {KASBOEK__V1__REPORT_KIND__REPORT_KIND_PAYMENTS, "payments.csv"},
        {KASBOEK__V1__REPORT_KIND__REPORT_KIND_PAYOUTS, "payouts.csv"},
    };
    rep_out csv[3], json;
    for (int i = 0; i < 3; i++) {
        get_report(e, kinds[i].kind, KASBOEK__V1__REPORT_FORMAT__REPORT_FORMAT_CSV, 0, &csv[i]);
        expect_file(&csv[i], kinds[i].file);
        get_report(e, kinds[i].kind, KASBOEK__V1__REPORT_FORMAT__REPORT_FORMAT_JSON, 0, &json);
        assert_string_equal(json.digest, csv[i].digest);
        assert_int_equal(json.rows, csv[i].rows);
        assert_non_null(strstr(json.content, csv[i].digest));
        free(json.content);
    }
    /* more money moves, a payout is paid: as of the old seq nothing changes */
    e->now = kbt_at("2026-03-09");
    assert_int_equal(pay(e, "D", 3000, 0, "EUR", CARD), KB_CODE_OK);
    assert_int_equal(payout_outcome(e, "po_20260305_EUR", true), KB_CODE_OK);
    assert_int_equal(close_payout(e, "EUR", NULL), KB_CODE_OK);
    for (int i = 0; i < 3; i++) {
        rep_out again;
        get_report(e, kinds[i].kind, KASBOEK__V1__REPORT_FORMAT__REPORT_FORMAT_CSV, csv[i].seq,
                   &again);
        assert_int_equal(again.len, csv[i].len);
        assert_memory_equal(again.content, csv[i].content, csv[i].len);
        assert_string_equal(again.digest, csv[i].digest);
        free(again.content);
        get_report(e, kinds[i].kind, KASBOEK__V1__REPORT_FORMAT__REPORT_FORMAT_CSV, 0, &again);
        assert_string_not_equal(again.digest, csv[i].digest); /* now it reflects more */
        free(again.content);
        free(csv[i].content);
    }
    Kasboek__V1__GetReportRequest bad = KASBOEK__V1__GET_REPORT_REQUEST__INIT;
    bad.kind = KASBOEK__V1__REPORT_KIND__REPORT_KIND_PAYMENTS;
    bad.from = "2026-03-31";
    bad.to = "2026-03-01";
    assert_int_equal(query(e, "GetReport", &bad.base), KB_CODE_INVALID_ARGUMENT);
    assert_string_equal(e->qreply.err.field, "to");
}

/* --------------------------------------------------------------- tests */

/* Each money movement books its transactions, available when the rules
 * say: card +2 business days (over a weekend), bank debit +3 after it
 * settles, refunds and lost disputes at once; a failed refund gives back. */
static void test_booking_rules(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-05"); /* a Thursday */
    assert_int_equal(pay(e, "c1", 10000, 290, "EUR", CARD), KB_CODE_OK);
    assert_int_equal(pay(e, "s1", 5000, 35, "EUR", SEPA), KB_CODE_OK); /* processing: nothing */
    assert_int_equal(pay(e, "s2", 4000, 0, "EUR", SEPA), KB_CODE_OK);
    bal b = balance(e, "EUR", 0);
    assert_int_equal(b.pending, 10000 - 290);
    assert_int_equal(b.available, 0);
    e->now = kbt_at("2026-03-06"); /* Friday */
    assert_int_equal(kbt_settle(e, "s1"), KB_CODE_OK);
    assert_int_equal(kbt_fail_payment(e, "s2"), KB_CODE_OK);               /* never booked */
    assert_int_equal(kbt_refund(e, "s1", "rs1", 1000, "EUR"), KB_CODE_OK); /* pending refund */
    assert_int_equal(refund_outcome(e, "rs1", false), KB_CODE_OK);     /* failed: back */
    assert_int_equal(kbt_refund(e, "c1", "rc1", 2500, "EUR"), KB_CODE_OK);
    assert_int_equal(dispute(e, "c1", "d1", 3000, 1500, "EUR", true), KB_CODE_OK);
    assert_int_equal(dispute(e, "s1", "d2", 1000, 1500, "EUR", false), KB_CODE_OK); /* won */
    all_btxns *all = calloc(1, sizeof *all);
    list_all(e, "EUR", all);
    assert_int_equal(all->n, 8);
    expect_txn(all->v[0], T(PAYMENT), 10000, "2026-03-09"); /* Thu + 2 = Mon */
    expect_txn(all->v[1], T(FEE), -290, "2026-03-09");
    expect_txn(all->v[2], T(PAYMENT), 5000, "2026-03-11"); /* Fri + 3 = Wed */
    expect_txn(all->v[3], T(FEE), -35, "2026-03-11");
    expect_txn(all->v[4], T(REFUND), -1000, "2026-03-06");
    expect_txn(all->v[5], T(REFUND_FAILURE), 1000, "2026-03-06");
    expect_txn(all->v[6], T(REFUND), -2500, "2026-03-06"); /* a card refund: at once */
    expect_txn(all->v[7], T(DISPUTE), -4500, "2026-03-06");
    assert_int_equal(all->v[7]->dispute_fee, 1500);
    assert_string_equal(all->v[0]->payment_id, "c1");
    assert_string_equal(all->v[4]->source_type, "refund");
    assert_string_equal(all->v[4]->source_id, "rs1");
    assert_string_equal(all->v[7]->source_id, "d1");
    free_all(all);
    b = balance(e, "EUR", 0);
    assert_int_equal(b.total, 10000 - 290 + 5000 - 35 - 1000 + 1000 - 2500 - 4500);
    assert_int_equal(b.available, -1000 + 1000 - 2500 - 4500);
    e->now = kbt_at("2026-03-11");
    b = balance(e, "EUR", 0);
    assert_int_equal(b.pending, 0);
    assert_int_equal(b.available, b.total);
    free(all);
}

/* No request amount above KB_AMOUNT_MAX; and a day's sum that would leave
 * int64 while the balance's total fits is refused, not a crash (from a
 * review: INT64_MAX paid, refunded, then 1 paid aborted kasboekd). Each
 * payment of 10^15 is refunded at once: the refunds pile up today, the
 * payments on the day they become available, the total stays 0. */
static void test_amount_bounds_and_day_overflow(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-05"); /* a Thursday: cards available Monday */
    assert_int_equal(pay(e, "big", INT64_MAX, 0, "EUR", CARD), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(e->reply.err.reason, KB_REASON_INVALID_AMOUNT);
    assert_string_equal(e->reply.err.field, "amount.amount");
    assert_int_equal(pay(e, "big", KB_AMOUNT_MAX + 1, 0, "EUR", CARD), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(pay(e, "bigfee", 100, KB_AMOUNT_MAX + 1, "EUR", CARD),
                     KB_CODE_INVALID_ARGUMENT);
    assert_string_equal(e->reply.err.field, "fee.amount");
    const int64_t max_pairs = INT64_MAX / KB_AMOUNT_MAX; /* 9,223 */
    kb_code code = KB_CODE_OK;
    int64_t paid = 0;
    char id[32], rid[32];
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    for (int64_t i = 0; code == KB_CODE_OK && i <= max_pairs; i++) {
        snprintf(id, sizeof id, "p%lld", (long long)i);
        snprintf(rid, sizeof rid, "r%lld", (long long)i);
        code = pay(e, id, KB_AMOUNT_MAX, 0, "EUR", CARD);
        if (code == KB_CODE_OK) {
            paid++;
            assert_int_equal(kbt_refund(e, id, rid, KB_AMOUNT_MAX, "EUR"), KB_CODE_OK);
        }
        if (i % 500 == 499) {
            assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
            assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
        }
    }
    assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
    assert_int_equal(code, KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(e->reply.err.reason, KB_REASON_AMOUNT_OVERFLOW);
    assert_string_equal(e->reply.err.field, "amount");
    assert_int_equal(paid, max_pairs);
    bal b = balance(e, "EUR", 0);
    assert_int_equal(b.total, 0);
    assert_int_equal(b.available, -max_pairs * KB_AMOUNT_MAX);
    assert_int_equal(b.pending, max_pairs * KB_AMOUNT_MAX);
    e->now = kbt_at("2026-03-09");
    b = balance(e, "EUR", 0);
    assert_int_equal(b.available, 0);
    assert_int_equal(b.pending, 0);
    /* what is refused leaves nothing behind: a small payment still books */
    assert_int_equal(pay(e, "small", 100, 0, "EUR", CARD), KB_CODE_OK);
    assert_int_equal(balance(e, "EUR", 0).total, 100);
}

/* The worked example of issue 4: a negative payout day.
 *   Mon 03-02  card A 100.00 (fee 2.90), card B 50.00 (fee 1.75), both
 *              available Wed 03-04
 *   Wed 03-04  close: payout +145.35
 *   Thu 03-05  A refunded in full (-100.00), dispute on B lost with a
 *              15.00 fee (-65.00), card C 20.00 (fee 0.88) available Mon
 *              03-09; close: payout -165.00, a debit of the bank account;
 *              19.12 stays pending. */
static void test_negative_payout_day(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-02");
    assert_int_equal(pay(e, "A", 10000, 290, "EUR", CARD), KB_CODE_OK);
    assert_int_equal(pay(e, "B", 5000, 175, "EUR", CARD), KB_CODE_OK);
    uint64_t head = kb_engine_head(e->engine).seq;
    assert_int_equal(close_payout(e, "EUR", NULL), KB_CODE_OK); /* nothing available yet */
    assert_int_equal(kb_engine_head(e->engine).seq, head);
    e->now = kbt_at("2026-03-04");
    assert_int_equal(close_payout(e, "EUR", "2026-03-04"), KB_CODE_OK);
    Kasboek__V1__GetPayoutReply *p1 = get_payout(e, "po_20260304_EUR");
    assert_int_equal(p1->payout->amount->amount, 14535);
    assert_false(p1->payout->debit);
    assert_int_equal(p1->payout->status, KASBOEK__V1__PAYOUT_STATUS__PAYOUT_STATUS_PENDING);
    assert_int_equal(p1->payout->arrival_date, kbt_day("2026-03-05"));
    assert_int_equal(p1->n_transactions, 4);
    kasboek__v1__get_payout_reply__free_unpacked(p1, NULL);
    e->now = kbt_at("2026-03-05");
    assert_int_equal(kbt_refund(e, "A", "rA", 10000, "EUR"), KB_CODE_OK);
    assert_int_equal(dispute(e, "B", "dB", 5000, 1500, "EUR", true), KB_CODE_OK);
    assert_int_equal(pay(e, "C", 2000, 88, "EUR", CARD), KB_CODE_OK);
    uint64_t before_close = kb_engine_head(e->engine).seq;
    assert_int_equal(close_payout(e, "EUR", "2026-03-05"), KB_CODE_OK);
    Kasboek__V1__GetPayoutReply *p2 = get_payout(e, "po_20260305_EUR");
    assert_int_equal(p2->payout->amount->amount, -16500);
    assert_true(p2->payout->debit);
    assert_int_equal(p2->n_transactions, 2);
    expect_txn(p2->transactions[0], T(REFUND), -10000, "2026-03-05");
    expect_txn(p2->transactions[1], T(DISPUTE), -6500, "2026-03-05");
    assert_int_equal(p2->payout->previous_date, kbt_day("2026-03-04"));
    assert_int_equal(p2->n_timeline, 1); /* PayoutCreated */
    kasboek__v1__get_payout_reply__free_unpacked(p2, NULL);
    bal b = balance(e, "EUR", 0);
    assert_int_equal(b.available, 0);
    assert_int_equal(b.pending, 1912);
    assert_int_equal(b.total, 1912);
    /* as of the seq before the close: -165.00 available, 19.12 pending */
    b = balance(e, "EUR", before_close);
    assert_int_equal(b.available, -16500);
    assert_int_equal(b.pending, 1912);
    assert_int_equal(b.as_of_seq, before_close);
    /* as of a time: the last event recorded by then (the first day's) */
    Kasboek__V1__GetBalanceRequest tr = KASBOEK__V1__GET_BALANCE_REQUEST__INIT;
    tr.currency = "EUR";
    tr.as_of_case = KASBOEK__V1__GET_BALANCE_REQUEST__AS_OF_AS_OF_TIME;
    tr.as_of_time = kbt_at("2026-03-03");
    assert_int_equal(query(e, "GetBalance", &tr.base), KB_CODE_OK);
    Kasboek__V1__GetBalanceReply *tg =
        kasboek__v1__get_balance_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_int_equal(tg->as_of_seq, 4);
    assert_int_equal(tg->as_of_date, kbt_day("2026-03-03"));
    assert_int_equal(tg->balances[0]->pending, 14535);
    kasboek__v1__get_balance_reply__free_unpacked(tg, NULL);
    tr.as_of_time = kbt_at("2026-03-04"); /* the day's close is in, paid out */
    assert_int_equal(query(e, "GetBalance", &tr.base), KB_CODE_OK);
    tg = kasboek__v1__get_balance_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_int_equal(tg->n_balances, 1);
    assert_int_equal(tg->balances[0]->total, 0);
    kasboek__v1__get_balance_reply__free_unpacked(tg, NULL);
    /* as of the first day's payments: all pending */
    b = balance(e, "EUR", 4);
    assert_int_equal(b.pending, 14535);
    assert_int_equal(b.available, 0);
    /* closing the same day twice appends nothing; earlier and future
     * days are refused */
    head = kb_engine_head(e->engine).seq;
    assert_int_equal(close_payout(e, "EUR", "2026-03-05"), KB_CODE_OK);
    assert_int_equal(kb_engine_head(e->engine).seq, head);
    assert_int_equal(close_payout(e, "EUR", "2026-03-04"), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(e->reply.err.reason, KB_REASON_PAYOUT_DATE_CLOSED);
    assert_int_equal(close_payout(e, "EUR", "2026-03-06"), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(e->reply.err.reason, KB_REASON_PAYOUT_DATE_IN_FUTURE);
    assert_string_equal(e->reply.err.field, "date");
    assert_int_equal(close_payout(e, "EUR", "2026-3-5"), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(e->reply.err.reason, KB_REASON_INVALID_DATE);
    assert_int_equal(close_payout(e, "USD", NULL), KB_CODE_NOT_FOUND);
    assert_int_equal(e->reply.err.reason, KB_REASON_BALANCE_NOT_FOUND);
    assert_int_equal(kb_engine_head(e->engine).seq, head);
    reports_of_worked_example(e);
    rebuild_and_compare(e, 3);
}

/* Paid and failed: a failed payout books its amount back (available at
 * once, so the next payout carries it); its transactions stay in it. */
static void test_payout_paid_and_failed(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-02");
    assert_int_equal(pay(e, "A", 10000, 0, "EUR", CARD), KB_CODE_OK);
    e->now = kbt_at("2026-03-04");
    assert_int_equal(close_payout(e, "EUR", NULL), KB_CODE_OK);
    assert_int_equal(payout_outcome(e, "po_20260304_EUR", true), KB_CODE_OK);
    assert_int_equal(payout_outcome(e, "po_20260304_EUR", true), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(e->reply.err.reason, KB_REASON_PAYOUT_NOT_PENDING);
    e->now = kbt_at("2026-03-05"); /* the bank returns it */
    assert_int_equal(payout_outcome(e, "po_20260304_EUR", false), KB_CODE_OK);
    Kasboek__V1__CommandResult *r = result(e);
    assert_int_equal(r->payout->status, KASBOEK__V1__PAYOUT_STATUS__PAYOUT_STATUS_FAILED);
    assert_string_equal(r->payout->failure_reason, "account_closed");
    kasboek__v1__command_result__free_unpacked(r, NULL);
    assert_int_equal(payout_outcome(e, "po_20260304_EUR", false), KB_CODE_FAILED_PRECONDITION);
    assert_int_equal(e->reply.err.reason, KB_REASON_PAYOUT_ALREADY_FAILED);
    assert_int_equal(payout_outcome(e, "po_nope", true), KB_CODE_NOT_FOUND);
    bal b = balance(e, "EUR", 0);
    assert_int_equal(b.available, 10000);
    Kasboek__V1__GetPayoutReply *p = get_payout(e, "po_20260304_EUR");
    assert_int_equal(p->n_transactions, 1); /* still the payment */
    assert_int_equal(p->n_timeline, 3);     /* created, paid, failed */
    kasboek__v1__get_payout_reply__free_unpacked(p, NULL);
    assert_int_equal(close_payout(e, "EUR", NULL), KB_CODE_OK);
    p = get_payout(e, "po_20260305_EUR");
    assert_int_equal(p->payout->amount->amount, 10000);
    assert_int_equal(p->n_transactions, 1);
    expect_txn(p->transactions[0], T(PAYOUT_FAILURE), 10000, "2026-03-05");
    kasboek__v1__get_payout_reply__free_unpacked(p, NULL);
    rebuild_and_compare(e, 2);
}

/* Settings: defaults when never set; a change applies to later bookings. */
static void test_settings(void **st) {
    env *e = *st;
    Kasboek__V1__GetTenantSettingsRequest g = KASBOEK__V1__GET_TENANT_SETTINGS_REQUEST__INIT;
    assert_int_equal(query(e, "GetTenantSettings", &g.base), KB_CODE_OK);
    Kasboek__V1__TenantSettings *s =
        kasboek__v1__tenant_settings__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_int_equal(s->card_available_days, 2);
    assert_int_equal(s->debit_available_days, 3);
    assert_int_equal(s->payout_minute_of_day, 360);
    kasboek__v1__tenant_settings__free_unpacked(s, NULL);
    Kasboek__V1__UpdateTenantSettingsRequest u = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__INIT;
    u.card_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__CARD_CARD_AVAILABLE_DAYS;
    u.card_available_days = 31;
    uint64_t head = kb_engine_head(e->engine).seq;
    assert_int_equal(exec(e, "UpdateTenantSettings", &u.base, NULL, -1), KB_CODE_INVALID_ARGUMENT);
    assert_int_equal(e->reply.err.reason, KB_REASON_SETTING_OUT_OF_RANGE);
    assert_string_equal(e->reply.err.field, "card_available_days");
    assert_int_equal(kb_engine_head(e->engine).seq, head);
    e->now = kbt_at("2026-03-02");
    assert_int_equal(pay(e, "A", 1000, 0, "EUR", CARD), KB_CODE_OK); /* 2 days */
    u.card_available_days = 0;
    assert_int_equal(exec(e, "UpdateTenantSettings", &u.base, NULL, -1), KB_CODE_OK);
    Kasboek__V1__CommandResult *r = result(e);
    assert_int_equal(r->settings->card_available_days, 0);
    assert_int_equal(r->settings->debit_available_days, 3); /* untouched */
    kasboek__v1__command_result__free_unpacked(r, NULL);
    assert_int_equal(pay(e, "B", 500, 0, "EUR", CARD), KB_CODE_OK); /* same day */
    bal b = balance(e, "EUR", 0);
    assert_int_equal(b.available, 500);
    assert_int_equal(b.pending, 1000);
    rebuild_and_compare(e, 4096);
}

/* Tick closes a tenant's payout day once its payout minute (06:00 UTC by
 * default) has passed and something is available by it, once. */
static uint32_t run_tick(env *e, int64_t now) {
    kb_tick_result t;
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    assert_int_equal(kb_engine_tick(e->engine, now, &t), KB_OK);
    assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
    assert_false(t.more);
    return t.payouts_closed;
}

static void test_tick_closes_due_days(void **st) {
    env *e = *st;
    e->now = kbt_at("2026-03-02");
    assert_int_equal(pay(e, "A", 10000, 300, "EUR", CARD), KB_CODE_OK);
    assert_int_equal(pay(e, "B", 7000, 0, "USD", CARD), KB_CODE_OK);
    int32_t d = kbt_day("2026-03-04");
    int64_t five = kb_instant_of_day(d) + 5 * INT64_C(3600000000);
    assert_int_equal(run_tick(e, five), 0);              /* 03-03 is due: nothing available by it */
    assert_int_equal(run_tick(e, five + 3600000000), 2); /* 06:00: 03-04 closes */
    assert_int_equal(run_tick(e, five + 7200000000), 0); /* once */
    e->now = five + 7200000000;
    Kasboek__V1__GetPayoutReply *p = get_payout(e, "po_20260304_EUR");
    assert_int_equal(p->payout->amount->amount, 9700);
    assert_string_equal(p->timeline[0]->tenant, "t1");
    kasboek__v1__get_payout_reply__free_unpacked(p, NULL);
    p = get_payout(e, "po_20260304_USD");
    assert_int_equal(p->payout->amount->amount, 7000);
    kasboek__v1__get_payout_reply__free_unpacked(p, NULL);
    rebuild_and_compare(e, 5);
}

/* ------------------------------------------------------ randomized run */

#define rnd kbt_rnd

typedef struct sim_payment {
    char id[16];
    const char *cur;
    bool sepa;
    int refunds, disputes;
} sim_payment;

static void random_action(env *e, sim_payment *ps, int *n, int day_no) {
    static const char *curs[] = {"EUR", "USD"};
    char rid[24];
    int op = (int)rnd(10);
    if (op < 4 || *n == 0) {
        sim_payment *p = &ps[(*n)++];
        snprintf(p->id, sizeof p->id, "p%d", *n);
        p->cur = curs[rnd(2)];
        p->sepa = rnd(3) == 0;
        (void)pay(e, p->id, 100 + rnd(100000), rnd(400), p->cur, p->sepa ? SEPA : CARD);
        return;
    }
    sim_payment *p = &ps[rnd((uint32_t)*n)];
    int64_t amount = 1 + rnd(60000);
    switch (op) {
        case 4:
            (void)(rnd(4) ? kbt_settle(e, p->id) : kbt_fail_payment(e, p->id));
            break;
        case 5:
        case 6:
            snprintf(rid, sizeof rid, "%s-r%d", p->id, p->refunds++);
            if (kbt_refund(e, p->id, rid, amount, p->cur) == KB_CODE_OK && p->sepa) {
                (void)refund_outcome(e, rid, rnd(3) != 0);
            }
            break;
        case 7:
            snprintf(rid, sizeof rid, "%s-d%d", p->id, p->disputes++);
            (void)dispute(e, p->id, rid, amount, rnd(2) ? 1500 : 0, p->cur, rnd(2));
            break;
        default: {
            const char *cur = curs[rnd(2)];
            (void)close_payout(e, cur, NULL);
            if (rnd(3) == 0) {
                char id[40];
                kb_payout_id(kb_day_of_instant(e->now) - (int32_t)rnd(3), cur, id, sizeof id);
                (void)payout_outcome(e, id, rnd(4) != 0);
            }
            (void)day_no;
        }
    }
}

static bool has_id(char (*ids)[40], size_t n, const char *id) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ids[i], id) == 0) return true;
    }
    return false;
}

/* Pages of ListPayouts with filter q (limit 1 or 2, by cursor) give the
 * rows of `all` (every payout of cur, newest first) that match, in order,
 * and its totals their count and sum. */
static void check_payout_filter(env *e, Kasboek__V1__ListPayoutsRequest *q,
                                const Kasboek__V1__ListPayoutsReply *all) {
    size_t got = 0, i = 0;
    int64_t sum = 0;
    uint64_t count = 0;
    for (size_t j = 0; j < all->n_payouts; j++) {
        const Kasboek__V1__Payout *p = all->payouts[j];
        if ((q->status && p->status != q->status) ||
            (q->min_case && p->amount->amount < q->min_amount)) {
            continue;
        }
        count++;
        sum += p->amount->amount;
    }
    char cursor[64] = "";
    q->totals = true;
    do {
        q->cursor = cursor;
        assert_int_equal(query(e, "ListPayouts", &q->base), KB_CODE_OK);
        Kasboek__V1__ListPayoutsReply *r = kasboek__v1__list_payouts_reply__unpack(
            NULL, e->qreply.payload_len, e->qreply.payload);
        assert_int_equal(r->n_totals, q->totals && count ? 1 : 0);
        if (q->totals && count) {
            assert_int_equal(r->totals[0]->count, count);
            assert_int_equal(r->totals[0]->amount, sum);
        }
        for (size_t j = 0; j < r->n_payouts; j++, got++) {
            while (i < all->n_payouts &&
                   ((q->status && all->payouts[i]->status != q->status) ||
                    (q->min_case && all->payouts[i]->amount->amount < q->min_amount))) {
                i++;
            }
            assert_true(i < all->n_payouts);
            assert_string_equal(r->payouts[j]->payout_id, all->payouts[i++]->payout_id);
        }
        snprintf(cursor, sizeof cursor, "%s", r->next_cursor);
        kasboek__v1__list_payouts_reply__free_unpacked(r, NULL);
        q->totals = rnd(2); /* later pages: totals or not, the same rows */
    } while (cursor[0]);
    assert_int_equal(got, count);
}

static void check_payout_lists(env *e, const char *cur, const Kasboek__V1__ListPayoutsReply *all) {
    for (int status = 0; status <= 3; status++) {
        for (int amounts = 0; amounts < 2; amounts++) {
            Kasboek__V1__ListPayoutsRequest q = KASBOEK__V1__LIST_PAYOUTS_REQUEST__INIT;
            q.currency = (char *)cur;
            q.status = (Kasboek__V1__PayoutStatus)status;
            q.limit = 1 + rnd(2);
            if (amounts) {
                q.min_case = KASBOEK__V1__LIST_PAYOUTS_REQUEST__MIN_MIN_AMOUNT;
                q.min_amount = 0; /* no debits */
            }
            check_payout_filter(e, &q, all);
        }
    }
}

/* Rows and totals of ListPayouts (status s, one currency or every one). */
static uint64_t count_payouts(env *e, int status, const char *cur, uint64_t *total_count) {
    Kasboek__V1__ListPayoutsRequest q = KASBOEK__V1__LIST_PAYOUTS_REQUEST__INIT;
    q.status = (Kasboek__V1__PayoutStatus)status;
    q.currency = (char *)cur;
    q.limit = 3;
    q.totals = true;
    char cursor[64] = "";
    uint64_t n = 0;
    *total_count = 0;
    do {
        q.cursor = cursor;
        assert_int_equal(query(e, "ListPayouts", &q.base), KB_CODE_OK);
        Kasboek__V1__ListPayoutsReply *r = kasboek__v1__list_payouts_reply__unpack(
            NULL, e->qreply.payload_len, e->qreply.payload);
        n += r->n_payouts;
        if (!cursor[0])
            for (size_t i = 0; i < r->n_totals; i++) *total_count += r->totals[i]->count;
        snprintf(cursor, sizeof cursor, "%s", r->next_cursor);
        kasboek__v1__list_payouts_reply__free_unpacked(r, NULL);
    } while (cursor[0]);
    return n;
}

/* Every currency's list is the sum of the per-currency ones. */
static void check_payout_lists_all_currencies(env *e) {
    for (int status = 0; status <= 3; status++) {
        uint64_t t_all, t_eur, t_usd;
        uint64_t all = count_payouts(e, status, "", &t_all);
        uint64_t eur = count_payouts(e, status, "EUR", &t_eur);
        uint64_t usd = count_payouts(e, status, "USD", &t_usd);
        assert_int_equal(all, eur + usd);
        assert_int_equal(t_all, all);
        assert_int_equal(t_eur, eur);
        assert_int_equal(t_usd, usd);
        if (status == 0) assert_true(all > 0);
    }
}

/* The invariants for cur: the parts make the whole; every transaction is
 * in at most one payout and a payout's transactions sum to its amount; the
 * open ones (in no payout) sum to the balance; as of any seq the balance is
 * the sum of what was booked by then. */
static void check_invariants(env *e, const char *cur, all_btxns *all, char (*ids)[40]) {
    list_all(e, cur, all);
    bal now = balance(e, cur, 0);
    int64_t sum = 0;
    for (size_t i = 0; i < all->n; i++) sum += all->v[i]->amount;
    assert_int_equal(sum, now.total);
    size_t n_in = 0;
    Kasboek__V1__ListPayoutsRequest lr = KASBOEK__V1__LIST_PAYOUTS_REQUEST__INIT;
    lr.currency = (char *)cur;
    lr.limit = 1000;
    assert_int_equal(query(e, "ListPayouts", &lr.base), KB_CODE_OK);
    Kasboek__V1__ListPayoutsReply *pl =
        kasboek__v1__list_payouts_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    int32_t newer = INT32_MAX;
    for (size_t i = 0; i < pl->n_payouts; i++) {
        assert_true(pl->payouts[i]->date < newer); /* newest first, one per day */
        newer = pl->payouts[i]->date;
        Kasboek__V1__GetPayoutReply *p = get_payout(e, pl->payouts[i]->payout_id);
        int64_t in = 0;
        for (size_t j = 0; j < p->n_transactions; j++) {
            assert_false(has_id(ids, n_in, p->transactions[j]->id));
            snprintf(ids[n_in++], 40, "%s", p->transactions[j]->id);
            in += p->transactions[j]->amount;
            assert_true(p->transactions[j]->available_on <= p->payout->date);
        }
        assert_int_equal(in, p->payout->amount->amount);
        kasboek__v1__get_payout_reply__free_unpacked(p, NULL);
    }
    check_payout_lists(e, cur, pl);
    kasboek__v1__list_payouts_reply__free_unpacked(pl, NULL);
    int64_t open = 0;
    uint32_t n_open = 0;
    for (size_t i = 0; i < all->n; i++) {
        if (all->v[i]->type == T(PAYOUT) || has_id(ids, n_in, all->v[i]->id)) continue;
        open += all->v[i]->amount;
        n_open++;
    }
    assert_int_equal(open, now.total);
    assert_int_equal(n_open, now.open);
    for (int k = 0; k < 3 && all->n; k++) {
        uint64_t s = all->v[rnd((uint32_t)all->n)]->seq;
        int64_t upto = 0;
        for (size_t i = 0; i < all->n && all->v[i]->seq <= s; i++) upto += all->v[i]->amount;
        assert_int_equal(balance(e, cur, s).total, upto);
    }
    free_all(all);
}

/* ------------------------------------------------ the rows of a booking */

typedef struct rows_seen {
    char keys[16][KB_KEY_BYTES_MAX + 1];
    char vals[16][8]; /* the first bytes */
    size_t val_len[16];
    size_t n;
} rows_seen;

static void seen_put(void *ctx, kb_cf cf, const void *key, size_t key_len, const void *val,
                     size_t val_len) {
    rows_seen *r = ctx;
    assert_int_equal(cf, KB_CF_INDEX);
    assert_true(r->n < 16);
    memcpy(r->vals[r->n], val, val_len < 8 ? val_len : 8);
    r->val_len[r->n] = val_len;
    memcpy(r->keys[r->n], key, key_len);
    r->keys[r->n++][key_len] = 0;
}

static void seen_del(void *ctx, kb_cf cf, const void *key, size_t key_len) {
    (void)ctx, (void)cf, (void)key, (void)key_len;
    fail_msg("a booking deletes nothing");
}

/* Whether r holds key k, with the value val of len bytes (any value
 * when val is NULL). */
static bool seen_has(const rows_seen *r, const kb_key *k, const char *val, size_t len) {
    for (size_t i = 0; i < r->n; i++) {
        if (strlen(r->keys[i]) == k->len && memcmp(r->keys[i], k->bytes, k->len) == 0) {
            return !val || (r->val_len[i] == len && memcmp(r->vals[i], val, len) == 0);
        }
    }
    return false;
}

/* A BalanceBooked event of three transactions of currency cur (a payment,
 * its fee, a payment) created at created[i] and available on avail[i]. */
typedef struct booking3 {
    Btxn t[3];
    Btxn *tp[3];
    Kasboek__V1__BalanceBooked bb;
    Kasboek__V1__Event ev;
} booking3;

static void booking3_init(booking3 *b, const char *cur, const int32_t avail[3],
                          const int64_t created[3]) {
    static const char *const ids[3] = {"btxn_a", "btxn_b", "btxn_c"};
    for (int i = 0; i < 3; i++) {
        b->t[i] = (Btxn)KASBOEK__V1__BALANCE_TRANSACTION__INIT;
        b->t[i].id = (char *)ids[i];
        b->t[i].currency = (char *)cur;
        b->t[i].type =
            i == 1 ? KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_FEE
                   : KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYMENT;
        b->t[i].amount = i == 1 ? -30 : 1000;
        b->t[i].payment_id = "P9";
        b->t[i].created_at = created[i];
        b->t[i].available_on = avail[i];
        b->tp[i] = &b->t[i];
    }
    b->bb = (Kasboek__V1__BalanceBooked)KASBOEK__V1__BALANCE_BOOKED__INIT;
    b->bb.transactions = b->tp;
    b->bb.n_transactions = 3;
    b->ev = (Kasboek__V1__Event)KASBOEK__V1__EVENT__INIT;
    b->ev.body_case = KASBOEK__V1__EVENT__BODY_BALANCE_BOOKED;
    b->ev.balance_booked = &b->bb;
}

/* A booking writes a seq row per transaction, and one day row and one
 * created row per day its transactions share, naming them in a mask
 * (payouts' own get neither): three transactions on two available days
 * and two created days give 3 + 2 + 2 rows; a payout's closing gives its
 * seq row only. */
static void test_booking_rows(void **st) {
    (void)st;
    kb_arena a;
    kb_arena_init(&a, 1u << 20);
    static const int32_t avail[3] = {20500, 20503, 20500};
    static const int64_t created[3] = {20499 * DAY_US + 5, 20499 * DAY_US + 9, 20500 * DAY_US};
    booking3 bk;
    booking3_init(&bk, "EUR", avail, created);
    Kasboek__V1__Event ev = bk.ev;
    rows_seen r = {.n = 0};
    const kb_project_sink sink = {.ctx = &r, .put = seen_put, .del = seen_del};
    assert_true(kb_balance_aggregate.effects("t1", 77, &ev, &a, &sink));
    assert_int_equal(r.n, 7);
    kb_key k;
    for (uint64_t n = 0; n < 3; n++) {
        kb_btxn_key_seq(&k, "t1", "EUR", 77, n);
        assert_true(seen_has(&r, &k, NULL, 0));
    }
    kb_btxn_key_day(&k, "t1", "EUR", 20500, 77);
    assert_true(seen_has(&r, &k, "\x05", 1)); /* transactions 0 and 2 */
    kb_btxn_key_day(&k, "t1", "EUR", 20503, 77);
    assert_true(seen_has(&r, &k, "\x02", 1));
    kb_btxn_key_created(&k, "t1", 20499, 77);
    assert_true(seen_has(&r, &k, "EUR\x03", 4));
    kb_btxn_key_created(&k, "t1", 20500, 77);
    assert_true(seen_has(&r, &k, "EUR\x04", 4));

    Btxn po = bk.t[0];
    po.type = KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYOUT;
    Kasboek__V1__PayoutClosed pc = KASBOEK__V1__PAYOUT_CLOSED__INIT;
    pc.transaction = &po;
    ev.body_case = KASBOEK__V1__EVENT__BODY_PAYOUT_CLOSED;
    ev.payout_closed = &pc;
    r.n = 0;
    assert_true(kb_balance_aggregate.effects("t1", 78, &ev, &a, &sink));
    assert_int_equal(r.n, 1);
    kb_btxn_key_seq(&k, "t1", "EUR", 78, 0);
    assert_true(seen_has(&r, &k, NULL, 0));
    kb_arena_fini(&a);
}

/* The payments report of [from, to]: its row count, its CSV in *csv
 * (free it). */
static size_t payments_report(env *e, const char *from, const char *to, char **csv) {
    Kasboek__V1__GetReportRequest r = KASBOEK__V1__GET_REPORT_REQUEST__INIT;
    r.kind = KASBOEK__V1__REPORT_KIND__REPORT_KIND_PAYMENTS;
    r.format = KASBOEK__V1__REPORT_FORMAT__REPORT_FORMAT_CSV;
    r.from = (char *)from;
    r.to = (char *)to;
    assert_int_equal(query(e, "GetReport", &r.base), KB_CODE_OK);
    Kasboek__V1__GetReportReply *g =
        kasboek__v1__get_report_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(g);
    *csv = malloc(g->content.len + 1);
    assert_non_null(*csv);
    memcpy(*csv, g->content.data, g->content.len);
    (*csv)[g->content.len] = 0;
    size_t rows = g->rows;
    kasboek__v1__get_report_reply__free_unpacked(g, NULL);
    return rows;
}

/* The payments report reads a booking whose transactions were created on
 * two days through its created rows: each transaction once, on its own
 * day. (No command books such a booking today; its rows are written here
 * as the projection writes them.) */
static void test_report_two_day_booking(void **st) {
    env *e = *st;
    assert_int_equal(pay(e, "P0", 1000, 0, "EUR", CARD), KB_CODE_OK); /* head 2 */
    static const char *const ids[3] = {"btxn_a", "btxn_b", "btxn_c"};
    static const char *const created[3] = {"2026-03-10", "2026-03-10", "2026-03-11"};
    static const char *const avail[3] = {"2026-03-12", "2026-03-13", "2026-03-12"};
    int64_t at[3];
    int32_t day[3];
    for (int i = 0; i < 3; i++) {
        at[i] = kbt_at(created[i]);
        day[i] = kbt_day(avail[i]);
    }
    booking3 bk;
    booking3_init(&bk, "GBP", day, at);
    kb_arena a;
    kb_arena_init(&a, 1u << 20);
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(e->store, &b), KB_OK);
    assert_int_equal(kb_project_effects(b, &a, "t1", &kb_balance_aggregate, 1, &bk.ev), KB_OK);
    assert_int_equal(kb_store_write(e->store, b, true), KB_OK);
    kb_batch_free(b);
    kb_arena_fini(&a);
    char *csv;
    assert_int_equal(payments_report(e, "2026-03-01", "2026-03-31", &csv), 3);
    for (int i = 0; i < 3; i++) assert_non_null(strstr(csv, ids[i]));
    free(csv);
    assert_int_equal(payments_report(e, "2026-03-10", "2026-03-10", &csv), 2);
    assert_null(strstr(csv, "btxn_c"));
    free(csv);
    assert_int_equal(payments_report(e, "2026-03-11", "2026-03-11", &csv), 1);
    assert_non_null(strstr(csv, "btxn_c"));
    assert_null(strstr(csv, "btxn_a"));
    free(csv);
}

static void test_randomized_invariants(void **st) {
    env *e = *st;
    kbt_seed(20261122);
    sim_payment *ps = calloc(4000, sizeof *ps);
    all_btxns *all = calloc(1, sizeof *all);
    char(*ids)[40] = calloc(20000, 40);
    int n = 0, actions = 0;
    for (int d = 0; d < 40; d++) {
        e->now = kbt_at("2026-03-02") + d * DAY_US;
        for (int i = 0; i < 60; i++, actions++) random_action(e, ps, &n, d);
        if (d % 5 == 4) {
            check_invariants(e, "EUR", all, ids);
            check_invariants(e, "USD", all, ids);
        }
    }
    check_payout_lists_all_currencies(e);
    print_message("randomized: %d actions, %d payments, head seq %llu\n", actions, n,
                  (unsigned long long)kb_engine_head(e->engine).seq);
    rebuild_and_compare(e, 7);
    rebuild_and_compare(e, 4096);
    free(ids);
    free(all);
    free(ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_booking_rules, env_setup, env_teardown),
        cmocka_unit_test(test_booking_rows),
        cmocka_unit_test_setup_teardown(test_report_two_day_booking, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_negative_payout_day, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_amount_bounds_and_day_overflow, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_payout_paid_and_failed, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_settings, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_tick_closes_due_days, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_randomized_invariants, env_setup, env_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
