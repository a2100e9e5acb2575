/* Series rocksdb_shape (run by the rocksdb mode, rocks.c): kasboek's storage
 * layer alone (ledger/store.c: its overlay, key sort, column families and
 * RocksDB options), writing per command the keys a RecordPayment of the
 * benchmark writes, made with the ledger's own key functions, in synced
 * batches of 1, 100 and 1,000 commands. The storage ceiling above writes
 * one record per command; this one writes kasboek's 20 (and the head once
 * per batch), so kasboek's SubmitBatch against it shows what the engine
 * adds to the storage its data model needs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "balance.h"
#include "bench.h"
#include "keys.h"
#include "payment.h"
#include "store.h"

#define SHAPE_TENANT       "bench"
#define SHAPE_STATE_BYTES  220 /* a packed Payment of the benchmark */
#define SHAPE_IDEM_BYTES   260 /* fingerprint + packed Response */
#define SHAPE_BTXN_BYTES   70  /* a packed BalanceTransaction */
#define SHAPE_BAL_BYTES    64  /* the balance's state */
#define SHAPE_LATENCIES    1000000u

typedef struct shape_run {
    kb_store *store;
    kb_batch *batch;
    uint8_t *event;      /* an event record's bytes */
    size_t event_bytes;
    uint8_t filler[512]; /* state, idempotency and row values */
    uint64_t seq, cmd, balance_version;
} shape_run;

/* The keys of command c (a payment with a fee: two events, two balance
 * transactions). */
static void put_command(shape_run *r) {
    kb_batch *b = r->batch;
    uint64_t c = ++r->cmd;
    char pid[32], txid[48], idem[48], contact[32], source[16];
    snprintf(pid, sizeof pid, "pay_%016" PRIx64, c * 0x9e3779b97f4a7c15u);
    snprintf(txid, sizeof txid, "stripe:ch_%" PRIu64, c);
    snprintf(idem, sizeof idem, "req-%020" PRIu64, c * 7919u);
    snprintf(contact, sizeof contact, "contact_%" PRIu64, c % 20000u);
    snprintf(source, sizeof source, "pl_%" PRIu64, c % 97u);
    int64_t created = INT64_C(1764000000000000) + (int64_t)c * 1000;
    kb_key k;
    uint8_t v8[8];
    for (int i = 0; i < 2; i++) { /* PaymentRecorded, BalanceBooked */
        kb_key_event(&k, ++r->seq);
        memcpy(r->event, k.bytes, 8); /* no two alike */
        kb_batch_put(b, KB_CF_EVENTS, k.bytes, k.len, r->event, r->event_bytes);
    }
    kb_be64_put(v8, r->seq - 1);
    kb_key_stream(&k, SHAPE_TENANT, "payment", pid, 1);
    kb_batch_put(b, KB_CF_STREAMS, k.bytes, k.len, v8, 8);
    kb_be64_put(v8, r->seq);
    kb_key_stream(&k, SHAPE_TENANT, "balance", "EUR", ++r->balance_version);
    kb_batch_put(b, KB_CF_STREAMS, k.bytes, k.len, v8, 8);
    kb_key_idempotency(&k, SHAPE_TENANT, idem);
    kb_batch_put(b, KB_CF_IDEMPOTENCY, k.bytes, k.len, r->filler, SHAPE_IDEM_BYTES);
    kb_key_state(&k, SHAPE_TENANT, "payment", pid);
    kb_batch_put(b, KB_CF_STATE, k.bytes, k.len, r->filler, SHAPE_STATE_BYTES);
    kb_key_state(&k, SHAPE_TENANT, "balance", "EUR");
    kb_batch_put(b, KB_CF_STATE, k.bytes, k.len, r->filler, SHAPE_BAL_BYTES);
    static const char *const lists[][3] = {{NULL, NULL, NULL},     {"status", "2", NULL},
                                           {"method", "1", NULL},  {"currency", "EUR", NULL},
                                           {"contact", "", NULL},  {"source_type", "form", NULL},
                                           {"source", "form", ""}};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        const char *v1 = i == 4 ? contact : lists[i][1];
        const char *v2 = i == 6 ? source : NULL;
        kb_payment_list_prefix(&k, SHAPE_TENANT, lists[i][0], v1, v2);
        kb_payment_list_suffix(&k, created, pid);
        kb_batch_put(b, KB_CF_INDEX, k.bytes, k.len, "EUR 12500", 9);
    }
    kb_payment_amount_prefix(&k, SHAPE_TENANT, "EUR");
    kb_key_raw_hex64(&k, (uint64_t)(12500 + c % 1000) ^ (UINT64_C(1) << 63));
    kb_key_raw(&k, "/", 1);
    kb_payment_list_suffix(&k, created, pid);
    kb_batch_put(b, KB_CF_INDEX, k.bytes, k.len, "", 0);
    kb_key_alias(&k, SHAPE_TENANT, "provider_txn", txid);
    kb_batch_put(b, KB_CF_INDEX, k.bytes, k.len, pid, strlen(pid));
    int32_t day = (int32_t)(created / INT64_C(86400000000));
    for (uint64_t n = 0; n < 2; n++) { /* the charge and its fee */
        kb_btxn_key_seq(&k, SHAPE_TENANT, "EUR", r->seq, n);
        kb_batch_put(b, KB_CF_INDEX, k.bytes, k.len, r->filler, SHAPE_BTXN_BYTES);
    }
    kb_btxn_key_day(&k, SHAPE_TENANT, "EUR", day + 2, r->seq); /* one for both */
    kb_batch_put(b, KB_CF_INDEX, k.bytes, k.len, "", 0);
    kb_btxn_key_created(&k, SHAPE_TENANT, day, r->seq);
    kb_batch_put(b, KB_CF_INDEX, k.bytes, k.len, "EUR", 3);
}

int kbb_shape_point(const kbb_config *cfg, const char *tmp, uint32_t batch, size_t event_bytes,
                    kbb_load_result *lr) {
    char dir[KBB_PATH_BYTES_MAX], err[256] = "";
    snprintf(dir, sizeof dir, "%s/shape-%u", tmp, batch);
    memset(lr, 0, sizeof *lr);
    shape_run r = {.event_bytes = event_bytes};
    for (size_t i = 0; i < sizeof r.filler; i++) r.filler[i] = (uint8_t)(i * 131u + 7u);
    r.event = malloc(event_bytes);
    kbb_latency lat;
    if (!r.event || kbb_latency_init(&lat, SHAPE_LATENCIES) != 0) {
        free(r.event);
        fprintf(stderr, "kasboek-bench: out of memory\n");
        return -1;
    }
    memset(r.event, 0x5a, event_bytes);
    int rc = 0;
    if (kb_store_open(dir, KB_OPEN_CREATE, NULL, &r.store, err, sizeof err) != KB_OK ||
        kb_batch_alloc(r.store, &r.batch) != KB_OK) {
        fprintf(stderr, "kasboek-bench: storage layer in %s: %s\n", dir, err);
        rc = -1;
    }
    uint64_t cmds_max = cfg->rocks_records_max / 4; /* 20 keys each */
    double t0 = kbb_now_s();
    while (rc == 0 && r.cmd + batch <= cmds_max && lat.n < lat.cap &&
           kbb_now_s() - t0 < cfg->point_s && !kbb_interrupted) {
        kb_batch_clear(r.batch);
        for (uint32_t i = 0; i < batch; i++) put_command(&r);
        uint8_t head[40] = {0};
        kb_be64_put(head, r.seq);
        kb_batch_put(r.batch, KB_CF_META, KB_META_HEAD, strlen(KB_META_HEAD), head, sizeof head);
        uint64_t a = kbb_now_ns();
        if (kb_store_write(r.store, r.batch, true) != KB_OK) {
            fprintf(stderr, "kasboek-bench: storage layer write failed\n");
            rc = -1;
        }
        kbb_latency_add(&lat, kbb_now_ns() - a);
    }
    lr->secs = kbb_now_s() - t0;
    if (r.batch) kb_batch_free(r.batch);
    if (r.store) kb_store_close(r.store);
    lr->requests = lat.n;
    lr->ops = lat.n * batch;
    kbb_latency_summary(&lat, &lr->p50_ms, &lr->p99_ms, &lr->p999_ms);
    kbb_latency_fini(&lat);
    free(r.event);
    if (kbb_rmtree(dir) != 0) fprintf(stderr, "kasboek-bench: cannot remove %s\n", dir);
    return rc == 0 && !kbb_interrupted ? 0 : -1;
}
