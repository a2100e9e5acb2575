/* The `kasboek` CLI contract through the real binary against a real
 * kasboekd (manual clock, starting 2026-01-01): exit statuses, table and
 * JSON output, error output, usage errors that never reach the server. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FEB_1_US       INT64_C(1769904000000000) /* 2026-02-01T00:00:00Z */
#define JSON_DEPTH_MAX 64

static kbe_server server;

static int group_setup(void **state) {
    static const char *const flags[] = {"--manual-clock", NULL};
    kbe_server_start(&server, flags);
    return 0;
}

static int group_teardown(void **state) {
    return kbe_server_teardown(&server);
}

/* ------------------------------------------------- a small JSON checker */

typedef struct jp {
    const char *s;
    size_t i, n;
    int depth;
} jp;

static bool j_value(jp *p);

static void j_ws(jp *p) {
    while (p->i < p->n && strchr(" \t\r\n", p->s[p->i])) p->i++;
}

static bool j_eat(jp *p, char c) {
    j_ws(p);
    if (p->i >= p->n || p->s[p->i] != c) return false;
    p->i++;
    return true;
}

static bool j_string(jp *p) {
    if (!j_eat(p, '"')) return false;
    while (p->i < p->n && p->s[p->i] != '"') {
        unsigned char c = (unsigned char)p->s[p->i++];
        if (c < 0x20) return false;
        if (c == '\\' && p->i < p->n && p->s[p->i++] == 'u') p->i += 4;
    }
    return p->i++ < p->n;
}

static bool j_number(jp *p) {
    size_t start = p->i;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    while (p->i < p->n && strchr("0123456789.eE+-", p->s[p->i])) p->i++;
    return p->i > start && p->s[p->i - 1] >= '0' && p->s[p->i - 1] <= '9';
}

static bool j_word(jp *p, const char *w) {
    size_t n = strlen(w);
    if (p->n - p->i < n || strncmp(p->s + p->i, w, n) != 0) return false;
    p->i += n;
    return true;
}

/* Members or elements until close; object members are "key": value. */
static bool j_items(jp *p, char close, bool object) {
    if (j_eat(p, close)) return true;
    do {
        if (object && (!j_string(p) || !j_eat(p, ':'))) return false;
        if (!j_value(p)) return false;
    } while (j_eat(p, ','));
    return j_eat(p, close);
}

static bool j_value(jp *p) {
    j_ws(p);
    if (p->i >= p->n || ++p->depth > JSON_DEPTH_MAX) return false;
    char c = p->s[p->i];
    bool ok;
    if (c == '{' || c == '[') {
        p->i++;
        ok = j_items(p, c == '{' ? '}' : ']', c == '{');
    } else if (c == '"') {
        ok = j_string(p);
    } else if (c == 't' || c == 'f' || c == 'n') {
        ok = j_word(p, "true") || j_word(p, "false") || j_word(p, "null");
    } else {
        ok = j_number(p);
    }
    p->depth--;
    return ok;
}

/* s[0..n) is exactly one JSON object (whitespace around allowed). */
static bool json_object(const char *s, size_t n) {
    jp p = {.s = s, .n = n};
    j_ws(&p);
    if (p.i >= n || s[p.i] != '{' || !j_value(&p)) return false;
    j_ws(&p);
    return p.i == n;
}

/* ------------------------------------------------------------- helpers */

static void expect_exit(const kbe_proc *p, int status, const char *what) {
    if (p->status != status) {
        kbe_proc_dump(what, p);
        fail_msg("%s: exit status %d, expected %d", what, p->status, status);
    }
}

static void expect_out(const kbe_proc *p, const char *needle) {
    if (!strstr(p->out, needle)) {
        kbe_proc_dump("output check", p);
        fail_msg("stdout lacks \"%s\"", needle);
    }
}

static void head_now(kbe_head *h) {
    kb_client *c = kbe_connect(&server, NULL);
    kbe_head_get(c, h);
    kb_client_close(c);
}

/* ---------------------------------------------------------------- tests */

/* The checker itself, so the JSON checks below cannot pass vacuously. */
static void test_json_checker(void **state) {
    static const char *const good[] = {"{}", " {\"a\": [1, -2.5e3, \"x\\\"y\", true, null]} "};
    static const char *const bad[] = {
        "", "{", "{\"a\" 1}", "{} {}", "[1]", "{\"a\": tru}", "{\"a\": 1,}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(json_object(good[i], strlen(good[i])));
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (json_object(bad[i], strlen(bad[i]))) fail_msg("accepted: %s", bad[i]);
    }
}

static void test_record_exits_0(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "payments", "record", "p1", "--amount", "12.50", "--currency", "EUR",
            "--method", "card", NULL);
    expect_exit(&p, 0, "payments record");
    expect_out(&p, "succeeded");
    expect_out(&p, "12.50 EUR");
    kbe_proc_fini(&p);
}

static void test_get_json(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "-o", "json", "payments", "get", "p1", NULL);
    expect_exit(&p, 0, "payments get");
    assert_true(json_object(p.out, p.out_len));
    expect_out(&p, "\"amount\": 1250");
    expect_out(&p, "\"currency\": \"EUR\"");
    expect_out(&p, "\"status\": \"succeeded\"");
    expect_out(&p, "\"timeline\": [");
    kbe_proc_fini(&p);
}

static void test_partial_refund(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "payments", "refund", "p1", "--amount", "5.00", "--reason",
            "requested_by_customer", NULL);
    expect_exit(&p, 0, "payments refund");
    expect_out(&p, "partially_refunded");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "payments", "get", "p1", "-o", "json", NULL);
    expect_exit(&p, 0, "payments get");
    expect_out(&p, "\"status\": \"partially_refunded\"");
    expect_out(&p, "\"amount_refunded\": 500");
    expect_out(&p, "\"amount_refundable\": 750");
    kbe_proc_fini(&p);
}

static void test_refund_too_large_fails(void **state) {
    kbe_head h1, h2;
    head_now(&h1);
    kbe_proc p;
    kbe_cli(&server, &p, "payments", "refund", "p1", "--amount", "100.00", "--reason", "other",
            NULL);
    expect_exit(&p, 1, "refund of 100.00");
    const char *want = "FAILED_PRECONDITION REFUND_EXCEEDS_AVAILABLE";
    if (strncmp(p.err, want, strlen(want)) != 0) fail_msg("stderr: %s", p.err);
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "-o", "json", "payments", "refund", "p1", "--amount", "100.00", "--reason",
            "other", NULL);
    expect_exit(&p, 1, "refund of 100.00 -o json");
    assert_true(json_object(p.out, p.out_len));
    expect_out(&p, "\"error\": {");
    expect_out(&p, "\"code\": \"FAILED_PRECONDITION\"");
    expect_out(&p, "\"reason\": \"REFUND_EXCEEDS_AVAILABLE\"");
    expect_out(&p, "\"field\": \"amount.amount\"");
    kbe_proc_fini(&p);
    head_now(&h2);
    kbe_head_assert_equal(&h1, &h2, "refused refund");
}

static void test_list_table(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "payments", "list", NULL);
    expect_exit(&p, 0, "payments list");
    expect_out(&p, "12.50 EUR");
    expect_out(&p, "p1");
    expect_out(&p, "partially_refunded");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "payments", "list", "--status", "partially_refunded", "--totals", NULL);
    expect_exit(&p, 0, "payments list --totals");
    expect_out(&p, "total EUR: 1 payment, 12.50 EUR");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "-o", "json", "payments", "list", "--customer", "nobody", NULL);
    expect_exit(&p, 0, "payments list -o json");
    expect_out(&p, "\"plan\": \"contact\"");
    kbe_proc_fini(&p);
}

/* One JSON object per line, one line per event, seqs 1..head. */
static void test_events_tail_json(void **state) {
    kbe_head h;
    head_now(&h);
    assert_true(h.seq >= 3);
    kbe_proc p;
    kbe_cli(&server, &p, "events", "tail", "-o", "json", NULL);
    expect_exit(&p, 0, "events tail");
    const char *line = p.out;
    uint64_t n = 0;
    for (const char *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        char want[32];
        snprintf(want, sizeof want, "{\"seq\":%llu,", (unsigned long long)(n + 1));
        if (!json_object(line, (size_t)(nl - line))) fail_msg("not one JSON object: %.200s", line);
        assert_true(strncmp(line, want, strlen(want)) == 0);
        n++;
    }
    assert_string_equal(line, ""); /* the output ends with a newline */
    assert_int_equal(n, h.seq);
    kbe_proc_fini(&p);
}

static void test_usage_error_exits_2(void **state) {
    kbe_head h1, h2;
    head_now(&h1);
    kbe_proc p;
    kbe_cli(&server, &p, "payments", "record", "p2", "--amount", "12.5.0", "--currency", "EUR",
            "--method", "card", NULL);
    expect_exit(&p, 2, "bad amount");
    assert_non_null(strstr(p.err, "12.5.0"));
    assert_string_equal(p.out, "");
    kbe_proc_fini(&p);
    head_now(&h2);
    kbe_head_assert_equal(&h1, &h2, "usage error");
    /* No server at all: still a usage error (2), not a transport error (3). */
    kbe_cli_raw(&p, "--server", "ipc:///nonexistent/kasboek.sock", "payments", "record", "p2",
                "--amount", "12.5.0", "--currency", "EUR", "--method", "card", NULL);
    expect_exit(&p, 2, "bad amount, no server");
    kbe_proc_fini(&p);
}

static void test_no_server_exits_3(void **state) {
    kbe_proc p;
    kbe_cli_raw(&p, "--server", "ipc:///nonexistent/kasboek.sock", "payments", "get", "p1", NULL);
    expect_exit(&p, 3, "no server");
    kbe_proc_fini(&p);
}

static void test_clock_set_moves_time_forward_only(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "clock", "set", "2026-02-01T00:00:00Z", NULL);
    expect_exit(&p, 0, "clock set");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "status", NULL);
    expect_exit(&p, 0, "status");
    expect_out(&p, "2026-02-01T00:00:00Z (manual)");
    kbe_proc_fini(&p);
    kbe_head h;
    head_now(&h);
    assert_int_equal(h.now, FEB_1_US);
    kbe_cli(&server, &p, "clock", "set", "2026-01-15", NULL);
    expect_exit(&p, 1, "clock set backwards");
    const char *want = "FAILED_PRECONDITION CLOCK_BACKWARDS";
    if (strncmp(p.err, want, strlen(want)) != 0) fail_msg("stderr: %s", p.err);
    kbe_proc_fini(&p);
    head_now(&h);
    assert_int_equal(h.now, FEB_1_US);
    kbe_cli(&server, &p, "-o", "json", "payments", "record", "p3", "--amount", "1", "--currency",
            "JPY", "--method", "ideal", NULL);
    expect_exit(&p, 0, "record at the new time");
    expect_out(&p, "\"created_at\": 1769904000000000");
    kbe_proc_fini(&p);
}

/* Balance and payouts through the CLI (tenant "po"): a card payment on a
 * Sunday is available on Tuesday; moving the clock past Tuesday's payout
 * time (06:00 UTC) closes the day; paid; a second close appends nothing. */
static void test_balance_and_payouts(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "--tenant", "po", "payments", "record", "po1", "--amount", "10.00",
            "--fee", "0.30", "--currency", "EUR", "--method", "card", NULL);
    expect_exit(&p, 0, "record");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "po", "-o", "json", "balance", NULL);
    expect_exit(&p, 0, "balance");
    assert_true(json_object(p.out, p.out_len));
    expect_out(&p, "\"pending\": 970");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "clock", "set", "2026-02-03T07:00:00Z", NULL);
    expect_exit(&p, 0, "clock set past the payout time");
    expect_out(&p, "payouts closed");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "po", "payouts", "list", NULL);
    expect_exit(&p, 0, "payouts list");
    expect_out(&p, "po_20260203_EUR");
    expect_out(&p, "9.70 EUR");
    expect_out(&p, "pending");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "po", "payouts", "list", "--status", "pending", "--currency",
            "EUR", "--min-amount", "9.70", "--totals", NULL);
    expect_exit(&p, 0, "payouts list --totals");
    expect_out(&p, "po_20260203_EUR");
    expect_out(&p, "total EUR: 1 payout, 9.70 EUR");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "po", "-o", "json", "payouts", "get", "po_20260203_EUR", NULL);
    expect_exit(&p, 0, "payouts get");
    assert_true(json_object(p.out, p.out_len));
    expect_out(&p, "\"transactions\": [");
    expect_out(&p, "\"amount\": -30");
    expect_out(&p, "\"type\": \"fee\"");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "po", "payouts", "paid", "po_20260203_EUR", NULL);
    expect_exit(&p, 0, "payouts paid");
    expect_out(&p, "paid");
    kbe_proc_fini(&p);
    kbe_head h1, h2;
    head_now(&h1);
    kbe_cli(&server, &p, "--tenant", "po", "payouts", "close", "--date", "2026-02-03", NULL);
    expect_exit(&p, 0, "payouts close again");
    expect_out(&p, "nothing");
    kbe_proc_fini(&p);
    head_now(&h2);
    assert_int_equal(h1.seq, h2.seq);
    kbe_cli(&server, &p, "--tenant", "po", "balance", "--currency", "EUR", NULL);
    expect_exit(&p, 0, "balance after");
    expect_out(&p, "0.00 EUR");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "po", "payouts", "failed", "po_20260203_EUR", NULL);
    expect_exit(&p, 2, "payouts failed without --reason");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "po", "reports", "reconciliation", "--from", "2026-02-01",
            "--to", "2026-02-28", NULL);
    expect_exit(&p, 0, "reports reconciliation");
    expect_out(&p, "payout,po_20260203_EUR,2026-02-03,2026-02-04,paid,,,,,,9.70,EUR\r\n");
    expect_out(&p, "transaction,po_20260203_EUR,2026-02-03,2026-02-04,paid,bt_");
    if (!strstr(p.err, "blake2b ")) fail_msg("stderr: %s", p.err);
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "po", "reports", "payments", "--from", "2026-02-01", "--to",
            "2026-02-28", "--format", "json", NULL);
    expect_exit(&p, 0, "reports payments json");
    assert_true(json_object(p.out, p.out_len));
    expect_out(&p, "\"type\": \"fee\"");
    expect_out(&p, "\"amount\": \"-0.30\"");
    kbe_proc_fini(&p);
}


/* invoices through the CLI: a draft with an item, a fee and a discount,
 * finalize with the tenant's series, part paid by hand, totals of what is
 * due, overdue after the clock passes the due date, and the refusals. */
static void test_invoices(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "create", "inv-1", "--customer", "c_anna",
            "--currency", "EUR", "--terms", "net15", NULL);
    expect_exit(&p, 0, "invoices create");
    expect_out(&p, "draft");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "add-line", "inv-1", "--description",
            "Consulting", "--quantity", "2", "--unit-price", "50.00", "--tax", "21%", NULL);
    expect_exit(&p, 0, "invoices add-line");
    expect_out(&p, "121.00 EUR");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "add-fee", "inv-1", "--description",
            "Shipping", "--amount", "5.00", "--tax", "21%", NULL);
    expect_exit(&p, 0, "invoices add-fee");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "add-discount", "inv-1", "--description",
            "Loyalty", "--discount", "10%", NULL);
    expect_exit(&p, 0, "invoices add-discount");
    expect_out(&p, "114.95 EUR"); /* 90.00 + 18.90 + 5.00 + 1.05 */
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "add-line", "inv-1", "--description", "x",
            "--quantity", "0.0001", "--unit-price", "1.00", NULL);
    expect_exit(&p, 2, "a quantity with 4 decimals");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "finalize", "inv-1", NULL);
    expect_exit(&p, 0, "invoices finalize");
    expect_out(&p, "INV-2026-000001");
    expect_out(&p, "2026-02-18"); /* net 15 from 2026-02-03 */
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "mark-paid", "inv-1", "--amount", "200.00",
            "--reference", "NL-0042", NULL);
    expect_exit(&p, 1, "mark-paid more than due");
    if (!strstr(p.err, "INVOICE_OVERPAYMENT")) fail_msg("stderr: %s", p.err);
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "mark-paid", "inv-1", "--amount", "14.95",
            "--reference", "NL-0042", NULL);
    expect_exit(&p, 0, "mark-paid part");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "list", "--status", "open", "--totals",
            NULL);
    expect_exit(&p, 0, "invoices list");
    expect_out(&p, "inv-1");
    expect_out(&p, "total EUR: 1 invoice, 100.00 EUR due");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "clock", "set", "2026-02-19T00:00:00Z", NULL);
    expect_exit(&p, 0, "clock set past the due date");
    expect_out(&p, "invoices overdue");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "-o", "json", "invoices", "get", "INV-2026-000001",
            "--number", NULL);
    expect_exit(&p, 0, "invoices get --number");
    assert_true(json_object(p.out, p.out_len));
    expect_out(&p, "\"overdue\": true");
    expect_out(&p, "\"amount_due\": 10000");
    expect_out(&p, "\"type\": \"InvoiceBecameOverdue\"");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "list", "--overdue", NULL);
    expect_exit(&p, 0, "invoices list --overdue");
    expect_out(&p, "inv-1");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "void", "inv-1", "--reason", "x", NULL);
    expect_exit(&p, 1, "void an invoice with money applied");
    if (!strstr(p.err, "INVOICE_HAS_PAYMENTS")) fail_msg("stderr: %s", p.err);
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "iv", "invoices", "write-off", "inv-1", "--reason",
            "insolvent", NULL);
    expect_exit(&p, 0, "write-off");
    expect_out(&p, "written_off");
    kbe_proc_fini(&p);
}

/* payment plans through the CLI: a draft over a collection case, the
 * schedule of the example, activation, a payment with a surplus,
 * JSON instalments, and what an active plan refuses. */
static void test_plans(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "create", "pl-1", "--customer", "c_anna",
            "--method", "sct", "--case", "case-7:1000.00", "--currency", "EUR", "--start",
            "2026-03-15", "--period", "monthly", "--count", "6", NULL);
    expect_exit(&p, 0, "plans create");
    expect_out(&p, "166.66 EUR");
    expect_out(&p, "166.70 EUR");
    expect_out(&p, "draft");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "create", "pl-2", "--customer", "c",
            "--method", "sct", "--start", "2026-03-15", "--period", "monthly", "--count", "2",
            NULL);
    expect_exit(&p, 2, "plans create without --invoice or --case");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "activate", "pl-1", NULL);
    expect_exit(&p, 0, "plans activate");
    expect_out(&p, "active");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "update", "pl-1", "--count", "3", NULL);
    expect_exit(&p, 1, "plans update --count on an active plan");
    if (!strstr(p.err, "PLAN_NOT_DRAFT")) fail_msg("stderr: %s", p.err);
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "pay", "pl-1", "--amount", "216.66",
            "--payment", "pp-1", NULL);
    expect_exit(&p, 0, "plans pay");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "-o", "json", "plans", "get", "pl-1", NULL);
    expect_exit(&p, 0, "plans get json");
    assert_true(json_object(p.out, p.out_len));
    expect_out(&p, "\"instalments\": [");
    expect_out(&p, "\"paid\": 5000"); /* the 50.00 surplus on the second */
    expect_out(&p, "\"remaining\": 78334");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "pause", "pl-1", NULL);
    expect_exit(&p, 2, "plans pause without --reason");
    kbe_proc_fini(&p);
    /* without --payment the payment id comes from the whole key (it took
     * the key's first 16 characters: these two made one id) */
    kbe_cli(&server, &p, "--tenant", "pl", "--idempotency-key", "ops-2026-03-02-bank-stmt-line-1",
            "plans", "pay", "pl-1", "--amount", "1.00", NULL);
    expect_exit(&p, 0, "plans pay, key line-1");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "--idempotency-key", "ops-2026-03-02-bank-stmt-line-2",
            "plans", "pay", "pl-1", "--amount", "1.00", NULL);
    expect_exit(&p, 0, "plans pay, key line-2");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "--idempotency-key", "ops:2026-03-02#3", "plans", "pay",
            "pl-1", "--amount", "1.00", NULL);
    expect_exit(&p, 0, "plans pay, a key with ':' and '#'");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "--idempotency-key", "ops-2026-03-02-bank-stmt-line-2",
            "plans", "pay", "pl-1", "--amount", "1.00", NULL);
    expect_exit(&p, 0, "plans pay, key line-2 again: the same payment");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "-o", "json", "plans", "get", "pl-1", NULL);
    expect_exit(&p, 0, "plans get after three payments of 1.00");
    expect_out(&p, "\"remaining\": 78034");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "list", "--status", "active", NULL);
    expect_exit(&p, 0, "plans list");
    expect_out(&p, "pl-1");
    kbe_proc_fini(&p);
    /* settings plans without a flag shows the settings, writing nothing */
    kbe_cli(&server, &p, "--tenant", "pl", "settings", "plans", NULL);
    expect_exit(&p, 0, "settings plans");
    expect_out(&p, "early payment   7 days");
    expect_out(&p, "tolerance days  30 days");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "settings", "plans", "--reminder-offset-days", "-3", NULL);
    expect_exit(&p, 0, "settings plans --reminder-offset-days -3");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "settings", "plans", NULL);
    expect_exit(&p, 0, "settings plans again");
    expect_out(&p, "reminder offset -3 days");
    kbe_proc_fini(&p);
    /* early recalculation: 150.00 of 400.00 in 4, years before the due
     * dates, pays the first and 50.00 of the second; the 250.00 open is
     * re-spread, and the timeline's DETAIL column says so */
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "create", "pl-3", "--customer", "c_anna",
            "--method", "sct", "--case", "case-8:400.00", "--currency", "EUR", "--start",
            "2030-01-15", "--period", "weekly", "--count", "4", "--early-recalc", NULL);
    expect_exit(&p, 0, "plans create --early-recalc");
    expect_out(&p, "re-spread when paid over 7 days early");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "activate", "pl-3", NULL);
    expect_exit(&p, 0, "plans activate pl-3");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "pay", "pl-3", "--amount", "150.00",
            "--payment", "pp-3", NULL);
    expect_exit(&p, 0, "plans pay pl-3");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "get", "pl-3", NULL);
    expect_exit(&p, 0, "plans get pl-3");
    expect_out(&p, "133.33 EUR"); /* 50.00 paid + 83.33 */
    expect_out(&p, "83.34 EUR");
    expect_out(&p, "PlanRespread");
    expect_out(&p, "pp-3 early: 250.00 EUR open re-spread: #2 133.33 EUR, #3 83.33 EUR, #4 83.34 EUR");
    kbe_proc_fini(&p);
    /* a plan over an invoice: the invoice is the plan's to collect, and
     * shows what the plan paid on it */
    kbe_cli(&server, &p, "--tenant", "pl", "invoices", "create", "pl-inv", "--customer", "c_anna",
            "--currency", "EUR", NULL);
    expect_exit(&p, 0, "invoices create pl-inv");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "invoices", "add-line", "pl-inv", "--description",
            "Repair", "--quantity", "1", "--unit-price", "300.00", NULL);
    expect_exit(&p, 0, "invoices add-line pl-inv");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "invoices", "finalize", "pl-inv", NULL);
    expect_exit(&p, 0, "invoices finalize pl-inv");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "create", "pl-4", "--customer", "c_anna",
            "--method", "sct", "--invoice", "pl-inv", "--start", "2030-01-15", "--period",
            "monthly", "--count", "3", NULL);
    expect_exit(&p, 0, "plans create over an invoice");
    expect_out(&p, "300.00 EUR");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "activate", "pl-4", NULL);
    expect_exit(&p, 0, "plans activate pl-4");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "invoices", "mark-paid", "pl-inv", "--amount", "10.00",
            "--reference", "bank-9", NULL);
    expect_exit(&p, 1, "invoices mark-paid on a planned invoice");
    if (!strstr(p.err, "INVOICE_IN_PLAN")) fail_msg("stderr: %s", p.err);
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "plans", "pay", "pl-4", "--amount", "120.00",
            "--payment", "pp-4", NULL);
    expect_exit(&p, 0, "plans pay pl-4");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "pl", "invoices", "get", "pl-inv", NULL);
    expect_exit(&p, 0, "invoices get pl-inv");
    expect_out(&p, "payment plan    pl-4 (collects 300.00 EUR)");
    expect_out(&p, "plan pl-4");
    expect_out(&p, "120.00 EUR");
    expect_out(&p, "InvoicePlanPaid");
    kbe_proc_fini(&p);
}

/* Server text in table output has its control characters written out (a
 * newline in a description drew a fake "status refunded" line); the
 * error's field shows in table mode; a key too long to derive one per
 * currency is a usage error, and one that fits closes every currency
 * (a 48-byte buffer made one key of all of them); -o json of several
 * closes is one array. From a review of the CLI. */
static void test_cli_review_fixes(void **state) {
    kbe_proc p;
    kbe_cli(&server, &p, "--tenant", "rv", "payments", "record", "esc1", "--amount", "120.00",
            "--currency", "EUR", "--method", "card", "--description",
            "Order 17\nstatus          refunded\x1b[2J", NULL);
    expect_exit(&p, 0, "record with a newline and an escape in its description");
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "rv", "payments", "get", "esc1", NULL);
    expect_exit(&p, 0, "payments get esc1");
    expect_out(&p, "Order 17\\x0astatus          refunded\\x1b[2J");
    assert_null(strstr(p.out, "\nstatus          refunded"));
    assert_null(strchr(p.out, '\x1b'));
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "rv", "payments", "record", "bad-mail", "--amount", "1.00",
            "--currency", "EUR", "--method", "card", "--email", "not-an-address", NULL);
    expect_exit(&p, 1, "a bad receipt e-mail");
    if (!strstr(p.err, "(field receipt_email)")) fail_msg("stderr lacks the field: %s", p.err);
    kbe_proc_fini(&p);
    kbe_cli(&server, &p, "--tenant", "rv", "payments", "record", "jp1", "--amount", "500",
            "--currency", "JPY", "--method", "card", NULL);
    expect_exit(&p, 0, "a JPY payment");
    kbe_proc_fini(&p);
    char key[130];
    memset(key, 'k', 125);
    key[125] = '\0';
    kbe_cli(&server, &p, "--tenant", "rv", "--idempotency-key", key, "payouts", "close", NULL);
    expect_exit(&p, 2, "payouts close, a 125-character key and no --currency");
    kbe_proc_fini(&p);
    key[124] = '\0';
    kbe_cli(&server, &p, "--tenant", "rv", "--idempotency-key", key, "-o", "json", "payouts",
            "close", NULL);
    expect_exit(&p, 0, "payouts close, a 124-character key, both currencies");
    if (p.out[0] != '[' || !strstr(p.out, "]\n") || strstr(p.err, "REUSED")) {
        kbe_proc_dump("payouts close -o json", &p);
        fail_msg("not one JSON array, or a key reused");
    }
    kbe_proc_fini(&p);
    /* --out is tried before the server is asked; a failed write is exit 4 */
    kbe_cli(&server, &p, "--tenant", "rv", "reports", "payments", "--from", "2026-01-01", "--to",
            "2026-12-31", "--out", "/nonexistent/dir/r.csv", NULL);
    expect_exit(&p, 2, "reports --out into a missing directory");
    if (!strstr(p.err, "cannot write /nonexistent/dir/r.csv")) fail_msg("stderr: %s", p.err);
    kbe_proc_fini(&p);
    if (access("/dev/full", W_OK) == 0) {
        kbe_cli(&server, &p, "--tenant", "rv", "reports", "payments", "--from", "2026-01-01",
                "--to", "2026-12-31", "--out", "/dev/full", NULL);
        expect_exit(&p, 4, "reports --out /dev/full");
        if (!strstr(p.err, "writing the report to /dev/full failed")) fail_msg("stderr: %s", p.err);
        kbe_proc_fini(&p);
    }
    char tenant[80];
    memset(tenant, 't', 70);
    tenant[70] = '\0';
    kbe_cli(&server, &p, "--tenant", tenant, "payments", "get", "esc1", NULL);
    expect_exit(&p, 2, "a 70-character --tenant");
    kbe_proc_fini(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_checker),
        cmocka_unit_test(test_record_exits_0),
        cmocka_unit_test(test_get_json),
        cmocka_unit_test(test_partial_refund),
        cmocka_unit_test(test_refund_too_large_fails),
        cmocka_unit_test(test_list_table),
        cmocka_unit_test(test_events_tail_json),
        cmocka_unit_test(test_usage_error_exits_2),
        cmocka_unit_test(test_no_server_exits_3),
        cmocka_unit_test(test_clock_set_moves_time_forward_only),
        cmocka_unit_test(test_balance_and_payouts),
        cmocka_unit_test(test_invoices), /* after the payout test: the clock only moves on */
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_cli_review_fixes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
