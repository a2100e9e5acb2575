/* Invoices against a real kasboekd (manual clock started at 2026-03-01):
 *
 * - gapless numbers: 8 clients, each on its own connection, create and
 *   finalize 1,000 invoices at once, with refused finalizes (twice, empty,
 *   missing) among them; the numbers are exactly <prefix>-<year>-000001 ..
 *   001000, once each, as the finalize replies said; GetInvoice by number
 *   finds each sampled one; the same after a clean stop, `kasboek-audit
 *   verify` and `replay` of the data dir and a restart; the next finalize
 *   takes 001001;
 * - illegal transitions over the wire: each refusal has its code, reason
 *   and field, and the head seq and hash do not move;
 * - a card payment applied to its invoice, the rest marked paid, and the
 *   invoice found by ListInvoices (status + totals, customer).
 *
 * The default tenant holds only the numbering test's invoices; the other
 * tests work in their own tenants (each tenant has its own series). */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLOCK_START          "2026-03-01T00:00:00Z"
#define ISSUE_DATE           "2026-03-01"
#define CLIENTS              8
#define PER_CLIENT           125 /* 8 x 125 = 1,000 invoices */
#define INVOICES             (CLIENTS * PER_CLIENT)
#define REFUSE_EVERY         25 /* refused finalizes at n = 0, 25, ..: 5 rounds per client */
#define EMPTIES              (CLIENTS * (PER_CLIENT / REFUSE_EVERY))
#define DIGITS               6 /* the default invoice_number_digits */
#define NUMBER_LEN_MAX       32
#define ID_LEN_MAX           40
#define CONCURRENT_BUDGET_MS 120000 /* the workers give up (and fail) after this */
#define BY_NUMBER_STRIDE     37     /* GetInvoice by number on every 37th, first and last */

static kbe_server server;

static int group_setup(void **state) {
    (void)state;
    static const char *const flags[] = {"--manual-clock", "--clock-start", CLOCK_START, NULL};
    kbe_server_start(&server, flags);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    return kbe_server_teardown(&server);
}

/* ------------------------------------------------------------- helpers */

/* The outcome of one command, without cmocka (workers run it in threads). */
typedef struct outcome {
    int code;
    char reason[64];
    char field[72];
    char message[256];
    char number[NUMBER_LEN_MAX]; /* CommandResult.invoice.number on OK */
} outcome;

/* One command; -1 on a transport error, else 0 with *out filled. */
static int send_cmd(kb_client *c, const char *method, const ProtobufCMessage *m, outcome *out) {
    kb_client_result res;
    kbe_result *r = NULL;
    memset(out, 0, sizeof *out);
    if (kb_client_command(c, method, m, NULL, &res, &r) != 0) return -1;
    out->code = res.code;
    snprintf(out->reason, sizeof out->reason, "%s", res.reason);
    snprintf(out->field, sizeof out->field, "%s", res.field);
    snprintf(out->message, sizeof out->message, "%s", res.message);
    if (r && r->invoice) snprintf(out->number, sizeof out->number, "%s", r->invoice->number);
    if (res.code == 0 && !r) out->code = -2; /* OK without a CommandResult */
    kbe_result_free(r);
    kb_client_result_fini(&res);
    return 0;
}

static void create_req(Kasboek__V1__CreateInvoiceRequest *r, const char *id, const char *customer) {
    *r = (Kasboek__V1__CreateInvoiceRequest)KASBOEK__V1__CREATE_INVOICE_REQUEST__INIT;
    r->invoice_id = (char *)id;
    r->currency = "EUR";
    r->customer_id = (char *)customer;
}

static void item_req(Kasboek__V1__AddInvoiceLineRequest *r, const char *id, int64_t price,
                     uint32_t tax_bp) {
    *r = (Kasboek__V1__AddInvoiceLineRequest)KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__INIT;
    r->invoice_id = (char *)id;
    r->kind = KASBOEK__V1__INVOICE_LINE_KIND__INVOICE_LINE_KIND_ITEM;
    r->description = "seat";
    r->quantity_milli = 1000;
    r->unit_price = price;
    r->tax_bp = tax_bp;
}

static void finalize_req(Kasboek__V1__FinalizeInvoiceRequest *r, const char *id) {
    *r = (Kasboek__V1__FinalizeInvoiceRequest)KASBOEK__V1__FINALIZE_INVOICE_REQUEST__INIT;
    r->invoice_id = (char *)id;
}

/* cmocka versions: each must succeed. */
static void create_ok(kb_client *c, const char *id, const char *customer) {
    Kasboek__V1__CreateInvoiceRequest r;
    create_req(&r, id, customer);
    kbe_result_free(kbe_command_ok(c, "CreateInvoice", &r.base, NULL));
}

static void add_item_ok(kb_client *c, const char *id, int64_t price, uint32_t tax_bp) {
    Kasboek__V1__AddInvoiceLineRequest r;
    item_req(&r, id, price, tax_bp);
    kbe_result_free(kbe_command_ok(c, "AddInvoiceLine", &r.base, NULL));
}

/* Finalizes id; returns its invoice (free with kbe_result_free). */
static kbe_result *finalize_ok(kb_client *c, const char *id) {
    Kasboek__V1__FinalizeInvoiceRequest r;
    finalize_req(&r, id);
    kbe_result *res = kbe_command_ok(c, "FinalizeInvoice", &r.base, NULL);
    assert_non_null(res->invoice);
    assert_int_equal(res->invoice->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN);
    return res;
}

static kbe_result *mark_paid_ok(kb_client *c, const char *id, int64_t amount, const char *ref) {
    Kasboek__V1__Money m = kbe_money(amount, "EUR");
    Kasboek__V1__MarkInvoicePaidRequest r = KASBOEK__V1__MARK_INVOICE_PAID_REQUEST__INIT;
    r.invoice_id = (char *)id;
    r.amount = &m;
    r.reference = (char *)ref;
    kbe_result *res = kbe_command_ok(c, "MarkInvoicePaid", &r.base, NULL);
    assert_non_null(res->invoice);
    return res;
}

/* GetInvoice by id or number (the other NULL): the raw result; the reply
 * in *out on OK (caller frees), NULL otherwise. */
static void get_invoice(kb_client *c, const char *id, const char *number, kb_client_result *res,
                        Kasboek__V1__GetInvoiceReply **out) {
    Kasboek__V1__GetInvoiceRequest r = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    r.invoice_id = (char *)(id ? id : "");
    r.number = (char *)(number ? number : "");
    int rv = kb_client_call(c, "GetInvoice", &r.base, NULL, res);
    if (rv != 0) fail_msg("GetInvoice %s: %s", id ? id : number, kb_client_strerror(rv));
    *out = NULL;
    if (res->code != 0) return;
    *out = kasboek__v1__get_invoice_reply__unpack(NULL, res->payload_len, res->payload);
    if (!*out || !(*out)->invoice) fail_msg("GetInvoice %s: no invoice in the reply", id ? id : number);
}

/* GetInvoice; must answer OK. */
static Kasboek__V1__GetInvoiceReply *get_ok(kb_client *c, const char *id, const char *number) {
    kb_client_result res;
    Kasboek__V1__GetInvoiceReply *g;
    get_invoice(c, id, number, &res, &g);
    if (!g) kbe_fail_result(id ? id : number, &res);
    kb_client_result_fini(&res);
    return g;
}

static void get_free(Kasboek__V1__GetInvoiceReply *g) {
    kasboek__v1__get_invoice_reply__free_unpacked(g, NULL);
}

/* ListInvoices; must answer OK. */
static Kasboek__V1__ListInvoicesReply *list_ok(kb_client *c, const Kasboek__V1__ListInvoicesRequest *q) {
    kb_client_result res;
    int rv = kb_client_call(c, "ListInvoices", &q->base, NULL, &res);
    if (rv != 0) fail_msg("ListInvoices: %s", kb_client_strerror(rv));
    if (res.code != 0) kbe_fail_result("ListInvoices", &res);
    Kasboek__V1__ListInvoicesReply *l =
        kasboek__v1__list_invoices_reply__unpack(NULL, res.payload_len, res.payload);
    kb_client_result_fini(&res);
    assert_non_null(l);
    return l;
}

static void list_free(Kasboek__V1__ListInvoicesReply *l) {
    kasboek__v1__list_invoices_reply__free_unpacked(l, NULL);
}

/* The one EUR total of a totals reply. */
static void assert_eur_total(const Kasboek__V1__ListInvoicesReply *l, uint64_t count, int64_t amount) {
    if (l->n_totals != 1) fail_msg("%zu currency totals, want 1 (EUR)", l->n_totals);
    assert_string_equal(l->totals[0]->currency, "EUR");
    assert_int_equal(l->totals[0]->count, count);
    assert_int_equal(l->totals[0]->amount, amount);
}

/* "<prefix>-<year>-" of the server clock's year (GetStatus.now). */
static void number_prefix(kb_client *c, char *out, size_t n) {
    kbe_head h;
    kbe_head_get(c, &h);
    assert_true(h.manual);
    time_t secs = (time_t)(h.now / 1000000);
    struct tm tm;
    assert_non_null(gmtime_r(&secs, &tm));
    assert_int_equal(tm.tm_year + 1900, 2026); /* the manual clock did not move */
    snprintf(out, n, "INV-%d-", tm.tm_year + 1900);
}

static void number_of(const char *prefix, int seq, char *out, size_t n) {
    int w = snprintf(out, n, "%s%0*d", prefix, DIGITS, seq);
    assert_true(w > 0 && (size_t)w < n);
}

/* ------------------------------------------------ gapless numbering */

/* What the finalize replies said: numbers[t][n] of inv-<t>-<n>. */
static char numbers[CLIENTS][PER_CLIENT][NUMBER_LEN_MAX];
/* Invoice of each sequence, t * PER_CLIENT + n, from the GetInvoice pass. */
static int owner_of[INVOICES + 1];

typedef struct worker {
    pthread_t thread;
    int t;
    kb_client *c;
    int64_t deadline_ms;
    int finalized, refused;
    char error[512];
} worker;

/* A command the worker needs to succeed. false (and w->error) otherwise. */
static bool worker_ok(worker *w, const char *method, const ProtobufCMessage *m, const char *id,
                      outcome *o) {
    if (send_cmd(w->c, method, m, o) != 0) {
        snprintf(w->error, sizeof w->error, "%s %s: transport error", method, id);
        return false;
    }
    if (o->code != 0) {
        snprintf(w->error, sizeof w->error, "%s %s: %s %s field '%s': %s", method, id,
                 kb_client_code_str(o->code), o->reason, o->field, o->message);
        return false;
    }
    return true;
}

/* A finalize that must be refused with code and reason (field invoice_id). */
static bool worker_refused(worker *w, const char *id, int code, const char *reason) {
    Kasboek__V1__FinalizeInvoiceRequest f;
    finalize_req(&f, id);
    outcome o;
    if (send_cmd(w->c, "FinalizeInvoice", &f.base, &o) != 0) {
        snprintf(w->error, sizeof w->error, "FinalizeInvoice %s: transport error", id);
        return false;
    }
    if (o.code != code || strcmp(o.reason, reason) != 0 || strcmp(o.field, "invoice_id") != 0) {
        snprintf(w->error, sizeof w->error,
                 "FinalizeInvoice %s: got %s %s field '%s' (number '%s'), want %s %s", id,
                 o.code == 0 ? "OK" : kb_client_code_str(o.code), o.reason, o.field, o.number,
                 kb_client_code_str(code), reason);
        return false;
    }
    w->refused++;
    return true;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    char id[ID_LEN_MAX], other[ID_LEN_MAX], customer[16];
    snprintf(customer, sizeof customer, "c%d", w->t);
    for (int n = 0; n < PER_CLIENT && !w->error[0]; n++) {
        if (kbe_monotonic_ms() > w->deadline_ms) {
            snprintf(w->error, sizeof w->error, "over the %d ms budget after %d invoices",
                     CONCURRENT_BUDGET_MS, n);
            break;
        }
        snprintf(id, sizeof id, "inv-%d-%d", w->t, n);
        Kasboek__V1__CreateInvoiceRequest cr;
        Kasboek__V1__AddInvoiceLineRequest al;
        Kasboek__V1__FinalizeInvoiceRequest fr;
        create_req(&cr, id, customer);
        item_req(&al, id, 1000 + n, 0);
        finalize_req(&fr, id);
        outcome o;
        if (!worker_ok(w, "CreateInvoice", &cr.base, id, &o) ||
            !worker_ok(w, "AddInvoiceLine", &al.base, id, &o) ||
            !worker_ok(w, "FinalizeInvoice", &fr.base, id, &o))
            break;
        if (!o.number[0]) {
            snprintf(w->error, sizeof w->error, "FinalizeInvoice %s: no number in the reply", id);
            break;
        }
        memcpy(numbers[w->t][n], o.number, sizeof numbers[w->t][n]);
        w->finalized++;
        if (n % REFUSE_EVERY != 0) continue;
        /* refusals between the others' finalizes take no number */
        if (!worker_refused(w, id, KBE_FAILED_PRECONDITION, "INVOICE_NOT_DRAFT")) break;
        snprintf(other, sizeof other, "empty-%d-%d", w->t, n);
        create_req(&cr, other, customer);
        if (!worker_ok(w, "CreateInvoice", &cr.base, other, &o)) break;
        if (!worker_refused(w, other, KBE_FAILED_PRECONDITION, "INVOICE_EMPTY")) break;
        snprintf(other, sizeof other, "missing-%d-%d", w->t, n);
        if (!worker_refused(w, other, KBE_NOT_FOUND, "INVOICE_NOT_FOUND")) break;
    }
    return NULL;
}

/* Every inv-<t>-<n> is open with the number its finalize reply gave, the
 * numbers are prefix 1..INVOICES once each; the empty ones are drafts
 * without a number; GetInvoice by number finds a sample; the series'
 * totals add up. Fills owner_of. */
static void check_numbers(kb_client *c, const char *prefix) {
    memset(owner_of, -1, sizeof owner_of);
    char id[ID_LEN_MAX], want[NUMBER_LEN_MAX], customer[16];
    size_t plen = strlen(prefix);
    int64_t sum = 0;
    for (int t = 0; t < CLIENTS; t++) {
        snprintf(customer, sizeof customer, "c%d", t);
        for (int n = 0; n < PER_CLIENT; n++) {
            snprintf(id, sizeof id, "inv-%d-%d", t, n);
            Kasboek__V1__GetInvoiceReply *g = get_ok(c, id, NULL);
            const Kasboek__V1__Invoice *inv = g->invoice;
            const char *num = inv->number;
            if (strcmp(num, numbers[t][n]) != 0)
                fail_msg("%s has number '%s'; its finalize replied '%s'", id, num, numbers[t][n]);
            /* exactly prefix + DIGITS digits, 1..INVOICES */
            int seq = 0;
            bool digits = strlen(num) == plen + DIGITS && strncmp(num, prefix, plen) == 0;
            for (size_t k = plen; digits && k < plen + DIGITS; k++) {
                digits = num[k] >= '0' && num[k] <= '9';
                seq = seq * 10 + (num[k] - '0');
            }
            if (!digits || seq < 1 || seq > INVOICES)
                fail_msg("%s has number '%s', not %s000001..%06d", id, num, prefix, INVOICES);
            if (owner_of[seq] >= 0)
                fail_msg("number %s issued twice: %s and inv-%d-%d", num, id,
                         owner_of[seq] / PER_CLIENT, owner_of[seq] % PER_CLIENT);
            owner_of[seq] = t * PER_CLIENT + n;
            assert_int_equal(inv->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN);
            assert_string_equal(inv->currency, "EUR");
            assert_string_equal(inv->customer_id, customer);
            assert_string_equal(inv->issue_date, ISSUE_DATE);
            assert_int_equal(inv->n_lines, 1);
            assert_int_equal(inv->total, 1000 + n);
            assert_int_equal(inv->amount_due, 1000 + n);
            sum += 1000 + n;
            get_free(g);
        }
    }
    for (int k = 1; k <= INVOICES; k++) {
        if (owner_of[k] < 0) {
            number_of(prefix, k, want, sizeof want);
            fail_msg("number %s was never issued (a gap)", want);
        }
    }
    /* refused finalizes left the empty invoices drafts, without a number */
    for (int t = 0; t < CLIENTS; t++) {
        for (int n = 0; n < PER_CLIENT; n += REFUSE_EVERY) {
            snprintf(id, sizeof id, "empty-%d-%d", t, n);
            Kasboek__V1__GetInvoiceReply *g = get_ok(c, id, NULL);
            assert_int_equal(g->invoice->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_DRAFT);
            assert_string_equal(g->invoice->number, "");
            get_free(g);
        }
    }
    /* by number: the invoice that carries it */
    for (int k = 1; k <= INVOICES; k++) {
        if (k != 1 && k != INVOICES && k % BY_NUMBER_STRIDE != 0) continue;
        number_of(prefix, k, want, sizeof want);
        snprintf(id, sizeof id, "inv-%d-%d", owner_of[k] / PER_CLIENT, owner_of[k] % PER_CLIENT);
        Kasboek__V1__GetInvoiceReply *g = get_ok(c, NULL, want);
        if (strcmp(g->invoice->invoice_id, id) != 0 || strcmp(g->invoice->number, want) != 0)
            fail_msg("GetInvoice number %s: invoice %s number %s, want %s", want,
                     g->invoice->invoice_id, g->invoice->number, id);
        get_free(g);
    }
    /* the series' totals: 1,000 open, the empties draft */
    Kasboek__V1__ListInvoicesRequest q = KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    q.status = KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN;
    q.totals = true;
    q.limit = 1;
    Kasboek__V1__ListInvoicesReply *l = list_ok(c, &q);
    assert_eur_total(l, INVOICES, sum);
    list_free(l);
    q.status = KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_DRAFT;
    l = list_ok(c, &q);
    assert_eur_total(l, EMPTIES, 0);
    list_free(l);
}

/* No invoice has number seq yet. */
static void number_unused(kb_client *c, const char *prefix, int seq) {
    char want[NUMBER_LEN_MAX];
    number_of(prefix, seq, want, sizeof want);
    kb_client_result res;
    Kasboek__V1__GetInvoiceReply *g;
    get_invoice(c, NULL, want, &res, &g);
    if (g) fail_msg("number %s is taken by %s", want, g->invoice->invoice_id);
    assert_int_equal(res.code, KBE_NOT_FOUND);
    assert_string_equal(res.reason, "INVOICE_NOT_FOUND");
    assert_string_equal(res.field, "number");
    kb_client_result_fini(&res);
}


static void test_gapless_numbers_under_concurrency(void **state) {
    (void)state;
    char prefix[NUMBER_LEN_MAX];
    kb_client *c = kbe_connect(&server, NULL);
    number_prefix(c, prefix, sizeof prefix);
    worker ws[CLIENTS];
    int64_t t0 = kbe_monotonic_ms();
    for (int t = 0; t < CLIENTS; t++) {
        ws[t] = (worker){.t = t, .c = kbe_connect(&server, NULL),
                         .deadline_ms = t0 + CONCURRENT_BUDGET_MS};
    }
    for (int t = 0; t < CLIENTS; t++)
        assert_int_equal(pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]), 0);
    int finalized = 0, refused = 0;
    for (int t = 0; t < CLIENTS; t++) {
        pthread_join(ws[t].thread, NULL);
        kb_client_close(ws[t].c);
    }
    for (int t = 0; t < CLIENTS; t++) {
        if (ws[t].error[0]) fail_msg("client %d: %s", t, ws[t].error);
        finalized += ws[t].finalized;
        refused += ws[t].refused;
    }
    assert_int_equal(finalized, INVOICES);
    assert_int_equal(refused, 3 * EMPTIES);
    print_message("%d clients finalized %d invoices (%d commands) with %d refused finalizes "
                  "among them in %lld ms\n",
                  CLIENTS, INVOICES, 3 * INVOICES + 4 * EMPTIES, refused,
                  (long long)(kbe_monotonic_ms() - t0));
    check_numbers(c, prefix);
    number_unused(c, prefix, INVOICES + 1);
    kbe_head before, after;
    kbe_head_get(c, &before);
    kb_client_close(c);

    /* durable: the chain verifies, the projections replay equal, and after
     * a restart the numbers are the same and the series goes on */
    kbe_server_stop_ok(&server);
    kbe_audit_ok(&server);
    kbe_server_resume(&server);
    c = kbe_connect(&server, NULL);
    kbe_head_get(c, &after);
    kbe_head_assert_equal(&before, &after, "after the restart");
    char again[NUMBER_LEN_MAX];
    number_prefix(c, again, sizeof again);
    assert_string_equal(again, prefix);
    check_numbers(c, prefix);
    create_ok(c, "after-restart", "c0");
    add_item_ok(c, "after-restart", 500, 0);
    kbe_result *r = finalize_ok(c, "after-restart");
    char want[NUMBER_LEN_MAX];
    number_of(prefix, INVOICES + 1, want, sizeof want);
    assert_string_equal(r->invoice->number, want);
    kbe_result_free(r);
    Kasboek__V1__GetInvoiceReply *g = get_ok(c, NULL, want);
    assert_string_equal(g->invoice->invoice_id, "after-restart");
    get_free(g);
    number_unused(c, prefix, INVOICES + 2);
    kb_client_close(c);
}

/* ------------------------------------------- refusals append nothing */

typedef struct refusal {
    const char *what;
    const char *method;
    const ProtobufCMessage *req;
    int code;
    const char *reason;
    const char *field; /* NULL: not checked */
} refusal;

/* The invoice's version and amounts are what they were. */
static void assert_invoice_unchanged(kb_client *c, const char *id, const Kasboek__V1__Invoice *was) {
    Kasboek__V1__GetInvoiceReply *g = get_ok(c, id, NULL);
    const Kasboek__V1__Invoice *now = g->invoice;
    if (now->version != was->version || now->status != was->status ||
        now->n_lines != was->n_lines || now->amount_paid != was->amount_paid ||
        now->amount_due != was->amount_due || now->n_payments != was->n_payments)
        fail_msg("invoice %s changed by a refused command (version %llu -> %llu)", id,
                 (unsigned long long)was->version, (unsigned long long)now->version);
    get_free(g);
}

static void assert_no_payment(kb_client *c, const char *id) {
    kb_client_result res;
    Kasboek__V1__GetPaymentReply *g = NULL;
    assert_int_equal(kb_client_get_payment(c, id, &res, &g), 0);
    if (g) fail_msg("refused payment %s was stored", id);
    assert_int_equal(res.code, KBE_NOT_FOUND);
    kb_client_result_fini(&res);
}

static void test_refusals_append_nothing(void **state) {
    (void)state;
    kb_client *c = kbe_connect(&server, "t-refusals");
    /* open: 100.00 + 21 % = 121.00 */
    create_ok(c, "open", "cust-1");
    add_item_ok(c, "open", 10000, 2100);
    kbe_result_free(finalize_ok(c, "open"));
    /* paid: 5.00, paid in full by bank transfer */
    create_ok(c, "paid", "cust-1");
    add_item_ok(c, "paid", 500, 0);
    kbe_result_free(finalize_ok(c, "paid"));
    kbe_result *r = mark_paid_ok(c, "paid", 500, "bank-paid");
    assert_int_equal(r->invoice->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_PAID);
    kbe_result_free(r);
    /* void: 1.00, voided */
    create_ok(c, "void", "cust-1");
    add_item_ok(c, "void", 100, 0);
    kbe_result_free(finalize_ok(c, "void"));
    Kasboek__V1__VoidInvoiceRequest vr = KASBOEK__V1__VOID_INVOICE_REQUEST__INIT;
    vr.invoice_id = "void";
    vr.reason = "duplicate";
    r = kbe_command_ok(c, "VoidInvoice", &vr.base, NULL);
    assert_int_equal(r->invoice->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_VOID);
    kbe_result_free(r);
    Kasboek__V1__GetInvoiceReply *was[3] = {get_ok(c, "open", NULL), get_ok(c, "paid", NULL),
                                            get_ok(c, "void", NULL)};
    assert_int_equal(was[0]->invoice->total, 12100);

    Kasboek__V1__AddInvoiceLineRequest line_on_open;
    item_req(&line_on_open, "open", 100, 0);
    Kasboek__V1__AddInvoiceLineRequest line_on_paid;
    item_req(&line_on_paid, "paid", 100, 0);
    Kasboek__V1__FinalizeInvoiceRequest fin_open, fin_void;
    finalize_req(&fin_open, "open");
    finalize_req(&fin_void, "void");
    Kasboek__V1__VoidInvoiceRequest void_paid = KASBOEK__V1__VOID_INVOICE_REQUEST__INIT;
    void_paid.invoice_id = "paid";
    void_paid.reason = "mistake";
    Kasboek__V1__VoidInvoiceRequest void_void = void_paid;
    void_void.invoice_id = "void";
    Kasboek__V1__Money one = kbe_money(100, "EUR"), over = kbe_money(12101, "EUR");
    Kasboek__V1__MarkInvoicePaidRequest paid_void = KASBOEK__V1__MARK_INVOICE_PAID_REQUEST__INIT;
    paid_void.invoice_id = "void";
    paid_void.amount = &one;
    paid_void.reference = "bank-1";
    Kasboek__V1__MarkInvoicePaidRequest paid_paid = paid_void;
    paid_paid.invoice_id = "paid";
    Kasboek__V1__MarkInvoicePaidRequest paid_over = paid_void;
    paid_over.invoice_id = "open";
    paid_over.amount = &over;
    Kasboek__V1__RecordPaymentRequest pay_void = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    pay_void.payment_id = "pay-void";
    pay_void.amount = &one;
    pay_void.method = KBE_M(CARD);
    pay_void.source_type = "invoice";
    pay_void.source_id = "void";
    Kasboek__V1__RecordPaymentRequest pay_missing = pay_void;
    pay_missing.payment_id = "pay-missing";
    pay_missing.source_id = "missing";
    Kasboek__V1__RecordPaymentRequest pay_over = pay_void;
    pay_over.payment_id = "pay-over";
    pay_over.source_id = "open";
    pay_over.amount = &over;

    const refusal table[] = {
        {"a line on an open invoice", "AddInvoiceLine", &line_on_open.base,
         KBE_FAILED_PRECONDITION, "INVOICE_NOT_DRAFT", "invoice_id"},
        {"a line on a paid invoice", "AddInvoiceLine", &line_on_paid.base,
         KBE_FAILED_PRECONDITION, "INVOICE_NOT_DRAFT", "invoice_id"},
        {"finalize twice", "FinalizeInvoice", &fin_open.base, KBE_FAILED_PRECONDITION,
         "INVOICE_NOT_DRAFT", "invoice_id"},
        {"finalize a void invoice", "FinalizeInvoice", &fin_void.base, KBE_FAILED_PRECONDITION,
         "INVOICE_NOT_DRAFT", "invoice_id"},
        {"void a paid invoice", "VoidInvoice", &void_paid.base, KBE_FAILED_PRECONDITION,
         "INVOICE_ALREADY_PAID", "invoice_id"},
        {"void a void invoice", "VoidInvoice", &void_void.base, KBE_FAILED_PRECONDITION,
         "INVOICE_NOT_OPEN", "invoice_id"},
        {"mark a void invoice paid", "MarkInvoicePaid", &paid_void.base, KBE_FAILED_PRECONDITION,
         "INVOICE_NOT_OPEN", "invoice_id"},
        {"mark a paid invoice paid", "MarkInvoicePaid", &paid_paid.base, KBE_FAILED_PRECONDITION,
         "INVOICE_ALREADY_PAID", "invoice_id"},
        {"mark paid more than is open", "MarkInvoicePaid", &paid_over.base,
         KBE_FAILED_PRECONDITION, "INVOICE_OVERPAYMENT", "amount.amount"},
        {"a payment for a void invoice", "RecordPayment", &pay_void.base,
         KBE_FAILED_PRECONDITION, "INVOICE_NOT_OPEN", "source_id"},
        {"a payment for a missing invoice", "RecordPayment", &pay_missing.base, KBE_NOT_FOUND,
         "INVOICE_NOT_FOUND", "source_id"},
        {"a payment of more than is open", "RecordPayment", &pay_over.base,
         KBE_FAILED_PRECONDITION, "INVOICE_OVERPAYMENT", "amount.amount"},
    };
    kbe_head first, before, after;
    kbe_head_get(c, &first);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const refusal *f = &table[i];
        print_message("refused: %s\n", f->what);
        kbe_head_get(c, &before);
        kbe_command_fails(c, f->method, f->req, NULL, f->code, f->reason, f->field);
        kbe_head_get(c, &after);
        kbe_head_assert_equal(&before, &after, f->what);
    }
    kbe_head_get(c, &after);
    kbe_head_assert_equal(&first, &after, "after all the refusals");
    assert_no_payment(c, "pay-void");
    assert_no_payment(c, "pay-missing");
    assert_no_payment(c, "pay-over");
    assert_invoice_unchanged(c, "open", was[0]->invoice);
    assert_invoice_unchanged(c, "paid", was[1]->invoice);
    assert_invoice_unchanged(c, "void", was[2]->invoice);
    for (int i = 0; i < 3; i++) get_free(was[i]);
    kb_client_close(c);
}

/* --------------------------------------------- a payment applied */

static void test_payment_applied_over_the_wire(void **state) {
    (void)state;
    kb_client *c = kbe_connect(&server, "t-applied");
    /* another customer's open invoice, so the filters have something to
     * leave out */
    create_ok(c, "other", "cust-b");
    add_item_ok(c, "other", 5000, 0);
    kbe_result_free(finalize_ok(c, "other"));

    create_ok(c, "inv-121", "cust-a");
    add_item_ok(c, "inv-121", 10000, 2100);
    kbe_result *r = finalize_ok(c, "inv-121");
    assert_int_equal(r->invoice->subtotal, 10000);
    assert_int_equal(r->invoice->tax, 2100);
    assert_int_equal(r->invoice->total, 12100);
    assert_int_equal(r->invoice->amount_due, 12100);
    assert_string_equal(r->invoice->number, "INV-2026-000002"); /* the tenant's own series */
    kbe_result_free(r);

    /* 21.00 by card, applied to the invoice */
    Kasboek__V1__Money part = kbe_money(2100, "EUR");
    Kasboek__V1__RecordPaymentRequest rp = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    rp.payment_id = "pay-card";
    rp.amount = &part;
    rp.method = KBE_M(CARD);
    rp.source_type = "invoice";
    rp.source_id = "inv-121";
    r = kbe_command_ok(c, "RecordPayment", &rp.base, NULL);
    assert_non_null(r->payment);
    assert_string_equal(r->payment->source_type, "invoice");
    assert_string_equal(r->payment->source_id, "inv-121");
    kbe_result_free(r);
    Kasboek__V1__GetInvoiceReply *g = get_ok(c, "inv-121", NULL);
    const Kasboek__V1__Invoice *inv = g->invoice;
    assert_int_equal(inv->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN);
    assert_int_equal(inv->amount_paid, 2100);
    assert_int_equal(inv->amount_due, 10000);
    assert_int_equal(inv->n_payments, 1);
    assert_string_equal(inv->payments[0]->payment_id, "pay-card");
    assert_int_equal(inv->payments[0]->amount, 2100);
    get_free(g);

    /* the rest by bank transfer */
    r = mark_paid_ok(c, "inv-121", 10000, "NL-BANK-REF-42");
    inv = r->invoice;
    assert_int_equal(inv->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_PAID);
    assert_int_equal(inv->amount_paid, 12100);
    assert_int_equal(inv->amount_due, 0);
    assert_true(inv->paid_at != 0);
    kbe_result_free(r);
    g = get_ok(c, "inv-121", NULL);
    inv = g->invoice;
    assert_int_equal(inv->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_PAID);
    assert_int_equal(inv->n_payments, 2);
    bool bank = false;
    for (size_t i = 0; i < inv->n_payments; i++) {
        if (strcmp(inv->payments[i]->reference, "NL-BANK-REF-42") != 0) continue;
        bank = true;
        assert_string_equal(inv->payments[i]->payment_id, "");
        assert_int_equal(inv->payments[i]->amount, 10000);
    }
    assert_true(bank);
    get_free(g);

    /* found by status, with totals (nothing due) */
    Kasboek__V1__ListInvoicesRequest q = KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    q.status = KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_PAID;
    q.totals = true;
    Kasboek__V1__ListInvoicesReply *l = list_ok(c, &q);
    assert_int_equal(l->n_invoices, 1);
    assert_string_equal(l->invoices[0]->invoice_id, "inv-121");
    assert_int_equal(l->invoices[0]->status, KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_PAID);
    assert_eur_total(l, 1, 0);
    list_free(l);
    /* open: only the other one, 50.00 due */
    q.status = KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN;
    l = list_ok(c, &q);
    assert_int_equal(l->n_invoices, 1);
    assert_string_equal(l->invoices[0]->invoice_id, "other");
    assert_eur_total(l, 1, 5000);
    list_free(l);
    /* by customer */
    q = (Kasboek__V1__ListInvoicesRequest)KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    q.customer_id = "cust-a";
    l = list_ok(c, &q);
    assert_int_equal(l->n_invoices, 1);
    assert_string_equal(l->invoices[0]->invoice_id, "inv-121");
    assert_string_equal(l->invoices[0]->customer_id, "cust-a");
    list_free(l);
    q.status = KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_PAID;
    q.totals = true;
    l = list_ok(c, &q);
    assert_int_equal(l->n_invoices, 1);
    assert_string_equal(l->invoices[0]->invoice_id, "inv-121");
    assert_eur_total(l, 1, 0);
    list_free(l);
    q.status = KASBOEK__V1__INVOICE_STATUS__INVOICE_STATUS_OPEN;
    l = list_ok(c, &q);
    assert_int_equal(l->n_invoices, 0);
    list_free(l);
    kb_client_close(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gapless_numbers_under_concurrency),
        cmocka_unit_test(test_refusals_append_nothing),
        cmocka_unit_test(test_payment_applied_over_the_wire),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
