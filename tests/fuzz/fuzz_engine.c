/* Fuzz target: one command through kb_engine_execute on a seeded store.
 *
 * Input: byte 0 picks the method (every command, and SubmitBatch), byte 1
 * the envelope: bit 0 has_expected_version, bits 1-3 the expected version
 * (0..7), bits 4-6 the idempotency key (from a small set: none, reused,
 * fresh, a card number, invalid ones), bit 7 tenant t2 instead of t1. The
 * rest is the payload (the method's request message).
 *
 * Each input runs in its own batch. kb_engine_batch_commit always syncs, so
 * most inputs are aborted instead (the engine then is exactly as before);
 * every KB_FUZZ_COMMIT_EVERY-th input (default 64; 0 = never) is committed,
 * so the state evolves. With commits, an input's outcome can depend on the
 * inputs before it: to reproduce a crash alone, run with
 * KB_FUZZ_COMMIT_EVERY=0 first (SubmitBatch chains commands within one
 * input, so most deep states are reachable without commits).
 *
 * Invariants (abort on violation): no system error; a rejection has a
 * reason, a field, UTF-8 text, no payload, and changes neither the head nor
 * the batch; an accepted command's reply unpacks, is clean (UTF-8, no card
 * numbers, no unknown fields), its payment keeps the amount invariants, and
 * its seqs account exactly for the head's advance; a replay writes nothing;
 * after a commit, GetPayment returns the payment the reply showed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "balance.h"
#include "invoice.h"
#include "payment.h"
#include "plan.h"

static fz_env *E;
static unsigned g_commit_every = 64;
static unsigned long g_inputs, g_commits;
static bool g_verbose; /* KB_FUZZ_VERBOSE=1: one line per input on stderr */

static const char *const methods[] = {
    "RecordPayment",    "SettlePayment",  "FailPayment",      "RefundPayment",
    "SettleRefund",     "FailRefund",     "OpenDispute",      "CloseDispute",
    "AssociatePayment", "RequestReceipt", "ReportReceipt",    "SubmitBatch",
    "ClosePayout",      "MarkPayoutPaid", "MarkPayoutFailed", "UpdateTenantSettings",
    "CreateInvoice",    "UpdateInvoice",  "AddInvoiceLine",   "RemoveInvoiceLine",
    "FinalizeInvoice",  "VoidInvoice",    "WriteOffInvoice",  "MarkInvoicePaid",
    "MarkInvoiceOverdue", "CreatePlan",     "UpdatePlan",       "ActivatePlan",     "AdvancePlan",
    "PausePlan",        "ResumePlan",     "CancelPlan",       "UpdatePlanSettings",
    "FailPlanCollection", "RetryPlanCollection", "ReportPlanReminder",
};
#define N_METHODS (sizeof methods / sizeof methods[0])

#define X16 "xxxxxxxxxxxxxxxx"
static const char *const idem_keys[8] = {
    "", "", "k1", "k2", "fz-1", "4111111111111111", "bad key", X16 X16 X16 X16 X16 X16 X16 X16 "x",
};

/* Every method is the engine's, and every command of the registry is here. */
static void check_methods(void) {
    for (size_t i = 0; i < N_METHODS; i++) FZ_CHECK(kb_engine_is_command(methods[i]));
    const kb_command *const tables[] = {kb_payment_commands, kb_balance_commands,
                                        kb_invoice_commands, kb_plan_commands};
    for (size_t t = 0; t < 4; t++) {
        for (const kb_command *c = tables[t]; c->method; c++) {
            bool listed = false;
            for (size_t i = 0; i < N_METHODS; i++) {
                listed = listed || !strcmp(methods[i], c->method);
            }
            FZ_CHECK(listed && kb_command_find(c->method) == c);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *every = getenv("KB_FUZZ_COMMIT_EVERY");
    if (every) g_commit_every = (unsigned)strtoul(every, NULL, 10);
    g_verbose = getenv("KB_FUZZ_VERBOSE") != NULL;
    check_methods();
    E = fz_env_open();
    return 0;
}

/* -------------------------------------------------------------- checks */

typedef struct run {
    const kb_request *rq;
    kb_head before, after;
    size_t bytes_before, bytes_after;
    const Kasboek__V1__Payment *committed; /* the payment to compare after commit */
} run;

static void check_unchanged(const run *r) {
    FZ_CHECK(fz_heads_equal(&r->before, &r->after));
    FZ_CHECK(r->bytes_after == r->bytes_before); /* nothing written */
}

/* An accepted result; *seq is the head so far, advanced by its events. */
static void check_result(const Kasboek__V1__CommandResult *c, uint64_t *seq) {
    fz_check_clean(&c->base);
    /* exactly one resource: the payment, balance, payout, settings or invoice */
    FZ_CHECK(!!c->payment + !!c->balance + !!c->payout + !!c->settings + !!c->invoice +
                 !!c->plan + !!c->plan_settings ==
             1);
    if (c->plan) fz_check_plan(c->plan);
    if (c->invoice) fz_check_invoice(c->invoice);
    if (c->invoice) FZ_CHECK(c->version == c->invoice->version);
    if (c->payment) fz_check_payment(c->payment);
    if (c->payment) FZ_CHECK(c->version == c->payment->version);
    if (c->balance) FZ_CHECK(c->version == c->balance->version);
    if (c->payout) FZ_CHECK(c->version == c->payout->version);
    if (!c->first_seq) { /* nothing appended (a payout day closed already) */
        FZ_CHECK(!c->last_seq);
        return;
    }
    if (c->replayed) return; /* its seqs are the original command's */
    FZ_CHECK(c->first_seq == *seq + 1 && c->last_seq >= c->first_seq);
    /* its own events and its peer's, its reactions' (a balance booking, an
     * invoice's payment, a plan's) with their peers', and what a plan
     * passes on to the invoices it covers */
    FZ_CHECK(c->last_seq - c->first_seq <
             (4 + KB_REACTION_TARGETS_MAX) * KB_EVENTS_PER_COMMAND_MAX + 2 * KB_PEER_EVENTS_MAX);
    FZ_CHECK(c->version + KB_EVENTS_PER_COMMAND_MAX > c->last_seq - c->first_seq);
    *seq = c->last_seq;
}

static Kasboek__V1__CommandResult *check_single(run *r, const kb_reply *rep) {
    if (rep->err.code != KB_CODE_OK) {
        fz_check_rejection(rep);
        check_unchanged(r);
        return NULL;
    }
    FZ_CHECK(rep->err.reason == KB_REASON_NONE && rep->err.field[0] == '\0');
    Kasboek__V1__CommandResult *c =
        kasboek__v1__command_result__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(c);
    uint64_t seq = r->before.seq;
    check_result(c, &seq);
    FZ_CHECK(seq == r->after.seq);
    if (c->replayed) check_unchanged(r);
    if (!c->replayed) r->committed = c->payment;
    return c;
}

static void check_batch_result(const Kasboek__V1__BatchResult *b, uint64_t *seq) {
    if (b->code != KASBOEK__V1__CODE__OK) {
        fz_check_batch_rejection(b);
        return;
    }
    FZ_CHECK(!b->reason[0] && !b->field[0]);
    Kasboek__V1__CommandResult *c =
        kasboek__v1__command_result__unpack(NULL, b->payload.len, b->payload.data);
    FZ_CHECK(c);
    check_result(c, seq);
    kasboek__v1__command_result__free_unpacked(c, NULL);
}

static void check_batch(run *r, const kb_reply *rep) {
    Kasboek__V1__SubmitBatchRequest *q =
        kasboek__v1__submit_batch_request__unpack(NULL, r->rq->payload_len, r->rq->payload);
    if (rep->err.code != KB_CODE_OK) {
        fz_check_rejection(rep);
        check_unchanged(r);
    } else {
        FZ_CHECK(q && q->n_commands > 0 && q->n_commands <= KB_SUBMIT_BATCH_COMMANDS_MAX);
        Kasboek__V1__SubmitBatchReply *b =
            kasboek__v1__submit_batch_reply__unpack(NULL, rep->payload_len, rep->payload);
        FZ_CHECK(b && b->n_results == q->n_commands);
        uint64_t seq = r->before.seq;
        for (size_t i = 0; i < b->n_results; i++) check_batch_result(b->results[i], &seq);
        FZ_CHECK(seq == r->after.seq); /* every event belongs to an accepted command */
        if (seq == r->before.seq) check_unchanged(r);
        kasboek__v1__submit_batch_reply__free_unpacked(b, NULL);
    }
    if (q) kasboek__v1__submit_batch_request__free_unpacked(q, NULL);
}

/* After a commit: the stored payment is the one the reply showed. */
static void check_stored(const run *r) {
    kb_head stored;
    FZ_CHECK(kb_log_head_read(E->store, NULL, NULL, &stored) == KB_OK);
    FZ_CHECK(fz_heads_equal(&stored, &r->after));
    if (!r->committed) return;
    Kasboek__V1__GetPaymentRequest g = KASBOEK__V1__GET_PAYMENT_REQUEST__INIT;
    g.payment_id = r->committed->payment_id;
    kb_reply rep;
    fz_query(E, r->rq->tenant, "GetPayment", &g.base, &rep);
    FZ_CHECK(rep.err.code == KB_CODE_OK);
    Kasboek__V1__GetPaymentReply *out =
        kasboek__v1__get_payment_reply__unpack(NULL, rep.payload_len, rep.payload);
    FZ_CHECK(out && out->payment);
    /* GetPayment cuts a timeline at KB_PAGE_SIZE_MAX events (with no cursor) */
    uint64_t events = out->payment->version;
    FZ_CHECK(out->n_timeline == (events < KB_PAGE_SIZE_MAX ? events : KB_PAGE_SIZE_MAX));
    size_t n = kasboek__v1__payment__get_packed_size(out->payment);
    FZ_CHECK(n == kasboek__v1__payment__get_packed_size(r->committed));
    uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    FZ_CHECK(a && b);
    kasboek__v1__payment__pack(out->payment, a);
    kasboek__v1__payment__pack(r->committed, b);
    FZ_CHECK(memcmp(a, b, n) == 0);
    free(a);
    free(b);
    kasboek__v1__get_payment_reply__free_unpacked(out, NULL);
    kb_reply_fini(&rep);
}

static void finish(run *r) {
    bool commit = g_commit_every && ++g_inputs % g_commit_every == 0;
    if (!commit) {
        kb_engine_batch_abort(E->engine);
        kb_head h = kb_engine_head(E->engine);
        FZ_CHECK(fz_heads_equal(&h, &r->before));
        return;
    }
    FZ_CHECK(kb_engine_batch_commit(E->engine) == KB_OK);
    check_stored(r);
    if (++g_commits % 64 == 0) { /* the chain holds (a full walk: not every time) */
        uint64_t count, bad;
        char why[128];
        FZ_CHECK(kb_log_verify(E->store, &count, &bad, why, sizeof why) == KB_OK);
    }
}

/* --------------------------------------------------------------- input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    uint8_t flags = data[1];
    kb_request rq = {.tenant = flags & 0x80 ? "t2" : "t1",
                     .actor = "fuzz",
                     .method = methods[data[0] % N_METHODS],
                     .idempotency_key = idem_keys[(flags >> 4) & 7],
                     .has_expected_version = flags & 1,
                     .expected_version = (flags >> 1) & 7,
                     .payload = data + 2,
                     .payload_len = size - 2,
                     .now = FZ_NOW};
    run r = {.rq = &rq, .before = kb_engine_head(E->engine)};
    FZ_CHECK(kb_engine_batch_begin(E->engine) == KB_OK);
    r.bytes_before = kb_engine_batch_bytes(E->engine);
    kb_reply rep;
    FZ_CHECK(kb_engine_execute(E->engine, &rq, &rep) == KB_OK);
    r.after = kb_engine_head(E->engine);
    r.bytes_after = kb_engine_batch_bytes(E->engine);
    if (g_verbose) {
        fprintf(stderr, "%s %s key '%s': %s %s %s: %s; seq %llu -> %llu\n", rq.tenant, rq.method,
                rq.idempotency_key, kb_code_str(rep.err.code), kb_reason_str(rep.err.reason),
                rep.err.field, rep.err.message, (unsigned long long)r.before.seq,
                (unsigned long long)r.after.seq);
    }
    Kasboek__V1__CommandResult *c = NULL;
    if (strcmp(rq.method, "SubmitBatch") == 0) {
        check_batch(&r, &rep);
    } else {
        c = check_single(&r, &rep);
    }
    finish(&r);
    if (c) kasboek__v1__command_result__free_unpacked(c, NULL);
    kb_reply_fini(&rep);
    return 0;
}
