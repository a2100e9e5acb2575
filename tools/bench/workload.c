/* The command stream of one bench client and the sizes of its messages.
 *
 * Command k of a client is a RefundPayment when k % 10 == 9 (and the client
 * has recorded a payment), else a RecordPayment of the client's next
 * payment id: about 10 % refunds, each of an earlier payment of the same
 * client, picked by a multiplicative hash so reads spread over the ids.
 * Ids avoid long digit runs (the ledger refuses card-number look-alikes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define KBB_ID_BYTES     48
#define KBB_AMOUNT_MINOR 10000 /* 100.00 EUR */
#define KBB_REFUND_MINOR 100   /* 1.00 EUR */
#define KBB_FEE_MINOR    290

struct kbb_gen {
    char tag[8];
    uint32_t client, ids_max, recorded;
    uint64_t ops, refunds;
    Kasboek__V1__RecordPaymentRequest rec;
    Kasboek__V1__RefundPaymentRequest ref;
    Kasboek__V1__Money amount, fee, refund_amount;
    Kasboek__V1__Associations assoc;
    Kasboek__V1__MetadataEntry meta;
    Kasboek__V1__MetadataEntry *metas[1];
    char pid[KBB_ID_BYTES], txid[KBB_ID_BYTES], email[KBB_ID_BYTES], contact[KBB_ID_BYTES];
    char source_id[KBB_ID_BYTES], order[KBB_ID_BYTES], descr[KBB_ID_BYTES];
    char idem[KBB_ID_BYTES], ref_pid[KBB_ID_BYTES];
};

static void gen_messages_init(kbb_gen *g) {
    kasboek__v1__record_payment_request__init(&g->rec);
    kasboek__v1__refund_payment_request__init(&g->ref);
    kasboek__v1__money__init(&g->amount);
    kasboek__v1__money__init(&g->fee);
    kasboek__v1__money__init(&g->refund_amount);
    kasboek__v1__associations__init(&g->assoc);
    kasboek__v1__metadata_entry__init(&g->meta);
    g->amount.amount = KBB_AMOUNT_MINOR;
    g->amount.currency = "EUR";
    g->fee.amount = KBB_FEE_MINOR;
    g->fee.currency = "EUR";
    g->refund_amount.amount = KBB_REFUND_MINOR;
    g->refund_amount.currency = "EUR";
    Kasboek__V1__RecordPaymentRequest *r = &g->rec;
    r->payment_id = g->pid;
    r->amount = &g->amount;
    r->fee = &g->fee;
    r->method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_CARD;
    r->provider = KASBOEK__V1__PROVIDER__PROVIDER_STRIPE;
    r->provider_transaction_id = g->txid;
    /* A payment form's payment: one payment, like the PostgreSQL peer's
     * row. A payment link's would also make its paid invoice in the same
     * commit (5 more events; README "Benchmark" gives that figure). */
    r->source_type = "form";
    r->source_id = g->source_id;
    g->assoc.contact_id = g->contact;
    r->associations = &g->assoc;
    r->receipt_email = g->email;
    g->meta.key = "order";
    g->meta.value = g->order;
    g->metas[0] = &g->meta;
    r->n_metadata = 1;
    r->metadata = g->metas;
    r->description = g->descr;
    g->ref.payment_id = g->ref_pid;
    g->ref.amount = &g->refund_amount;
    g->ref.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_REQUESTED_BY_CUSTOMER;
}

kbb_gen *kbb_gen_new(const char *tag, uint32_t client, uint32_t ids_max) {
    kbb_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    snprintf(g->tag, sizeof g->tag, "%s", tag);
    g->client = client;
    g->ids_max = ids_max;
    gen_messages_init(g);
    return g;
}

void kbb_gen_free(kbb_gen *g) {
    free(g);
}

static void payment_id(const kbb_gen *g, uint32_t n, char out[KBB_ID_BYTES]) {
    snprintf(out, KBB_ID_BYTES, "pay_%s_c%u_n%u", g->tag, g->client, n);
}

static void next_record(kbb_gen *g, kbb_cmd *out) {
    uint32_t n = g->recorded++;
    uint32_t customer = (g->client * 7919u + n) % 50000u;
    payment_id(g, n, g->pid);
    snprintf(g->txid, sizeof g->txid, "ch_%s_c%u_n%u", g->tag, g->client, n);
    snprintf(g->email, sizeof g->email, "buyer%u@example.com", customer);
    snprintf(g->contact, sizeof g->contact, "contact_%u", customer);
    snprintf(g->source_id, sizeof g->source_id, "pl_%u", n % 97u);
    snprintf(g->order, sizeof g->order, "A-%s-%u-%u", g->tag, g->client, n);
    snprintf(g->descr, sizeof g->descr, "Order A-%s-%u-%u", g->tag, g->client, n);
    out->method = "RecordPayment";
    out->msg = &g->rec.base;
    out->events = 1;
}

static void next_refund(kbb_gen *g, kbb_cmd *out) {
    uint32_t pick = (uint32_t)((g->refunds++ * 2654435761u) % g->recorded);
    payment_id(g, pick, g->ref_pid);
    out->method = "RefundPayment";
    out->msg = &g->ref.base;
    out->events = 2; /* RefundCreated + RefundSettled (card) */
}

bool kbb_gen_next(kbb_gen *g, kbb_cmd *out) {
    if (g->ops % 10 == 9 && g->recorded > 0) {
        next_refund(g, out);
    } else if (g->recorded < g->ids_max) {
        next_record(g, out);
    } else {
        return false;
    }
    snprintf(g->idem, sizeof g->idem, "k_%s_c%u_o%llu", g->tag, g->client,
             (unsigned long long)g->ops);
    out->idempotency_key = g->idem;
    g->ops++;
    return true;
}

/* The Event the ledger stores for a RecordPayment (see decide_record). */
static size_t event_payload_bytes(const Kasboek__V1__RecordPaymentRequest *r, const char *idem) {
    Kasboek__V1__PaymentRecorded e = KASBOEK__V1__PAYMENT_RECORDED__INIT;
    e.payment_id = r->payment_id;
    e.amount = r->amount;
    e.fee = r->fee;
    e.method = r->method;
    e.provider = r->provider;
    e.provider_transaction_id = r->provider_transaction_id;
    e.source_type = r->source_type;
    e.source_id = r->source_id;
    e.associations = r->associations;
    e.receipt_email = r->receipt_email;
    e.n_metadata = r->n_metadata;
    e.metadata = r->metadata;
    e.description = r->description;
    e.status = KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED;
    Kasboek__V1__Event ev = KASBOEK__V1__EVENT__INIT;
    ev.occurred_at = ev.recorded_at = INT64_C(1795329086740647);
    ev.actor = "anonymous";
    ev.idempotency_key = (char *)idem;
    ev.body_case = KASBOEK__V1__EVENT__BODY_PAYMENT_RECORDED;
    ev.payment_recorded = &e;
    return kasboek__v1__event__get_packed_size(&ev);
}

static size_t record_bytes(const char *pid, size_t payload_bytes) {
    static uint8_t hash[32];
    char stream[KBB_ID_BYTES + 16];
    snprintf(stream, sizeof stream, "payment/%s", pid);
    Kasboek__V1__EventRecord rec = KASBOEK__V1__EVENT_RECORD__INIT;
    rec.seq = 1000000;
    rec.tenant = "default";
    rec.stream = stream;
    rec.version = 1;
    rec.type = "PaymentRecorded";
    rec.payload.len = payload_bytes;
    rec.prev_hash = (ProtobufCBinaryData){.len = sizeof hash, .data = hash};
    rec.hash = rec.prev_hash;
    return kasboek__v1__event_record__get_packed_size(&rec);
}

void kbb_workload_sizes(kbb_results *r, size_t reply_payload_len) {
    kbb_gen *g = kbb_gen_new("s", 12, 100000);
    kbb_cmd cmd;
    if (!g || !kbb_gen_next(g, &cmd)) {
        kbb_gen_free(g);
        return;
    }
    g->recorded = 12345; /* a typical id */
    (void)kbb_gen_next(g, &cmd);
    Kasboek__V1__Request env = KASBOEK__V1__REQUEST__INIT;
    env.request_id = 12345;
    env.tenant = "default";
    env.method = "kasboek.v1.Ledger/RecordPayment";
    env.idempotency_key = (char *)cmd.idempotency_key;
    env.payload.len = protobuf_c_message_get_packed_size(cmd.msg);
    r->request_bytes = kasboek__v1__request__get_packed_size(&env);
    Kasboek__V1__Response resp = KASBOEK__V1__RESPONSE__INIT;
    resp.request_id = 12345;
    resp.payload.len = reply_payload_len ? reply_payload_len : 300;
    r->response_bytes = kasboek__v1__response__get_packed_size(&resp);
    r->event_payload_bytes = event_payload_bytes(&g->rec, cmd.idempotency_key);
    r->record_bytes = record_bytes(g->pid, r->event_payload_bytes);
    kbb_gen_free(g);
}
