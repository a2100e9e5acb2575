#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "engine_env.h"
#include "log.h"
#include "query.h"
#include "rebuild.h"

int kbt_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int env_setup(void **st) {
    env *e = calloc(1, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "/tmp/kb-test-payment-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    assert_int_equal(kb_store_open(e->dir, KB_OPEN_CREATE, NULL, &e->store, NULL, 0), KB_OK);
    assert_int_equal(kb_engine_open(e->store, &e->engine), KB_OK);
    *st = e;
    return 0;
}

int env_teardown(void **st) {
    env *e = *st;
    kb_reply_fini(&e->reply);
    kb_reply_fini(&e->qreply);
    kb_engine_close(e->engine);
    kb_store_close(e->store);
    nftw(e->dir, kbt_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(e);
    return 0;
}

kb_code exec_open(env *e, const char *method, const ProtobufCMessage *m, const char *idem,
                  int expected) {
    kb_reply_fini(&e->reply);
    assert_true(protobuf_c_message_get_packed_size(m) <= sizeof e->buf);
    size_t n = protobuf_c_message_pack(m, e->buf);
    kb_request rq = {.tenant = "t1",
                     .actor = "test",
                     .method = method,
                     .idempotency_key = idem ? idem : "",
                     .payload = e->buf,
                     .payload_len = n,
                     .now = e->now ? e->now : NOW,
                     .has_expected_version = expected >= 0,
                     .expected_version = expected >= 0 ? (uint64_t)expected : 0};
    assert_int_equal(kb_engine_execute(e->engine, &rq, &e->reply), KB_OK);
    return e->reply.err.code;
}

kb_code exec(env *e, const char *method, const ProtobufCMessage *m, const char *idem,
             int expected) {
    if (kb_engine_open_batch(e->engine)) return exec_open(e, method, m, idem, expected);
    assert_int_equal(kb_engine_batch_begin(e->engine), KB_OK);
    kb_code code = exec_open(e, method, m, idem, expected);
    assert_int_equal(kb_engine_batch_commit(e->engine), KB_OK);
    return code;
}

kb_code kbt_settle(env *e, const char *id) {
    Kasboek__V1__SettlePaymentRequest r = KASBOEK__V1__SETTLE_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    return exec(e, "SettlePayment", &r.base, NULL, -1);
}

kb_code kbt_fail_payment(env *e, const char *id) {
    Kasboek__V1__FailPaymentRequest r = KASBOEK__V1__FAIL_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)id;
    r.reason = "insufficient_funds";
    return exec(e, "FailPayment", &r.base, NULL, -1);
}

static uint64_t kbt_rng;

void kbt_seed(uint64_t seed) {
    kbt_rng = seed;
}

uint32_t kbt_rnd(uint32_t n) {
    kbt_rng = kbt_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(kbt_rng >> 33) % n;
}

kb_code kbt_refund(env *e, const char *pid, const char *rid, int64_t amount, const char *cur) {
    Kasboek__V1__Money a = KASBOEK__V1__MONEY__INIT;
    a.amount = amount;
    a.currency = (char *)cur;
    Kasboek__V1__RefundPaymentRequest r = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)pid;
    r.refund_id = (char *)rid;
    r.amount = &a;
    r.reason = KASBOEK__V1__REFUND_REASON__REFUND_REASON_REQUESTED_BY_CUSTOMER;
    return exec(e, "RefundPayment", &r.base, NULL, -1);
}

Kasboek__V1__Invoice *kbt_get_invoice(env *e, const char *id) {
    Kasboek__V1__GetInvoiceRequest r = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    r.invoice_id = (char *)id;
    assert_int_equal(query(e, "GetInvoice", &r.base), KB_CODE_OK);
    Kasboek__V1__GetInvoiceReply *g =
        kasboek__v1__get_invoice_reply__unpack(NULL, e->qreply.payload_len, e->qreply.payload);
    assert_non_null(g);
    Kasboek__V1__Invoice *inv = g->invoice;
    g->invoice = NULL;
    kasboek__v1__get_invoice_reply__free_unpacked(g, NULL);
    return inv;
}

kb_code query(env *e, const char *method, const ProtobufCMessage *m) {
    kb_reply_fini(&e->qreply);
    assert_true(protobuf_c_message_get_packed_size(m) <= sizeof e->buf);
    size_t n = protobuf_c_message_pack(m, e->buf);
    kb_request rq = {.tenant = "t1",
                     .actor = "test",
                     .method = method,
                     .idempotency_key = "",
                     .payload = e->buf,
                     .payload_len = n,
                     .now = e->now ? e->now : NOW};
    assert_int_equal(kb_query_execute(e->store, &rq, &e->qreply), KB_OK);
    return e->qreply.err.code;
}

Kasboek__V1__CommandResult *result(env *e) {
    return kasboek__v1__command_result__unpack(NULL, e->reply.payload_len, e->reply.payload);
}

/* Family cf of a and b hold the same keys and values. */
void assert_family_equal(kb_store *a, kb_store *b, kb_cf cf) {
    kb_iter *ia = kb_iter_open(a, NULL, cf, NULL, 0), *ib = kb_iter_open(b, NULL, cf, NULL, 0);
    size_t n = 0;
    for (kb_iter_seek_first(ia), kb_iter_seek_first(ib); kb_iter_valid(ia);
         kb_iter_next(ia), kb_iter_next(ib), n++) {
        assert_true(kb_iter_valid(ib));
        size_t kla, klb, vla, vlb;
        const char *ka = kb_iter_key(ia, &kla), *kb = kb_iter_key(ib, &klb);
        const char *va = kb_iter_value(ia, &vla), *vb = kb_iter_value(ib, &vlb);
        assert_int_equal(kla, klb);
        assert_memory_equal(ka, kb, kla);
        assert_int_equal(vla, vlb);
        if (vla) assert_memory_equal(va, vb, vla);
    }
    assert_false(kb_iter_valid(ib));
    assert_true(n > 0);
    kb_iter_close(ia);
    kb_iter_close(ib);
}

/* kb_rebuild_config.start/join: on a thread of their own, or deferred
 * (start only notes the task and join runs it, so the store never holds
 * the chunk before while the next one folds: its states must come from
 * memory, every time, not only when the write thread loses a race). */
typedef struct bg_task {
    pthread_t tid;
    bool running;
    bool deferred;
    void (*task)(void *arg);
    void *arg;
} bg_task;

static void *bg_main(void *p) {
    bg_task *bg = p;
    bg->task(bg->arg);
    return NULL;
}

static void bg_start(void *ctx, void (*task)(void *arg), void *arg) {
    bg_task *bg = ctx;
    assert_false(bg->running); /* one at a time */
    bg->task = task;
    bg->arg = arg;
    bg->running = true;
    if (!bg->deferred) assert_int_equal(pthread_create(&bg->tid, NULL, bg_main, bg), 0);
}

static void bg_join(void *ctx) {
    bg_task *bg = ctx;
    assert_true(bg->running);
    if (bg->deferred) {
        bg->task(bg->arg);
    } else {
        assert_int_equal(pthread_join(bg->tid, NULL), 0);
    }
    bg->running = false;
}

typedef enum { RB_SYNC, RB_THREAD, RB_DEFERRED } rb_mode;

/* Rebuilds the log of e into a new store with chunk_events per chunk, each
 * chunk written before the next folds, on another thread while it folds,
 * or deferred until the next one has folded. */
static void rebuild_and_compare_one(env *e, size_t chunk_events, rb_mode mode) {
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/kb-test-rebuild-XXXXXX");
    assert_non_null(mkdtemp(dir));
    kb_store *scratch;
    assert_int_equal(kb_store_open(dir, KB_OPEN_CREATE, NULL, &scratch, NULL, 0), KB_OK);
    kb_rebuild *rb;
    assert_int_equal(kb_store_bulk_mode(scratch), KB_OK);
    bg_task bg = {.deferred = mode == RB_DEFERRED};
    const kb_rebuild_config cfg = {.chunk_events = chunk_events,
                                   .sst_dir = dir,
                                   .start = mode != RB_SYNC ? bg_start : NULL,
                                   .join = mode != RB_SYNC ? bg_join : NULL,
                                   .run_ctx = &bg};
    assert_int_equal(kb_rebuild_open(scratch, &cfg, &rb), KB_OK);
    kb_log_walk w;
    kb_log_walk_init(&w);
    kb_iter *it = kb_iter_open_seq(e->store, NULL, KB_CF_EVENTS, false);
    for (kb_iter_seek_first(it); kb_iter_valid(it); kb_iter_next(it)) {
        size_t kl, vl;
        const char *key = kb_iter_key(it, &kl), *val = kb_iter_value(it, &vl);
        assert_int_equal(kb_log_walk_step(&w, key, kl, val, vl), KB_OK);
        kb_log_view v;
        assert_true(kb_log_view_parse(val, vl, &v));
        assert_int_equal(kb_rebuild_add(rb, &v), KB_OK);
    }
    kb_iter_close(it);
    assert_int_equal(kb_rebuild_flush(rb), KB_OK);
    kb_head live;
    assert_int_equal(kb_log_head_read(e->store, NULL, NULL, &live), KB_OK);
    assert_int_equal(kb_log_walk_end(&w, &live), KB_OK);
    assert_int_equal(kb_rebuild_head(rb)->seq, live.seq);
    const kb_cf families[] = {KB_CF_STATE, KB_CF_INDEX, KB_CF_STREAMS, KB_CF_META};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        if (families[i] != KB_CF_META) assert_family_equal(e->store, scratch, families[i]);
    }
    kb_head rebuilt;
    assert_int_equal(kb_log_head_read(scratch, NULL, NULL, &rebuilt), KB_OK);
    assert_int_equal(rebuilt.seq, live.seq);
    assert_memory_equal(rebuilt.hash, live.hash, KB_HASH_BYTES);
    assert_false(bg.running);
    kb_rebuild_free(rb);
    kb_store_close(scratch);
    nftw(dir, kbt_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void rebuild_and_compare(env *e, size_t chunk_events) {
    rebuild_and_compare_one(e, chunk_events, RB_SYNC);
    rebuild_and_compare_one(e, chunk_events, RB_THREAD);
    rebuild_and_compare_one(e, chunk_events, RB_DEFERRED);
}

uint64_t kbt_reproject_threaded(env *e, size_t chunk_events) {
    bg_task bg = {0};
    const kb_rebuild_config cfg = {.chunk_events = chunk_events,
                                   .sst_dir = e->dir,
                                   .start = bg_start,
                                   .join = bg_join,
                                   .run_ctx = &bg};
    uint64_t events = 0;
    assert_int_equal(kb_reproject(e->store, &cfg, &events), KB_OK);
    assert_false(bg.running);
    return events;
}

void rebuild_write_fails(env *e) {
    bg_task bg = {0};
    const kb_rebuild_config cfg = {.chunk_events = 2,
                                   .sst_dir = "/nonexistent/kb-rebuild",
                                   .start = bg_start,
                                   .join = bg_join,
                                   .run_ctx = &bg};
    kb_store *scratch;
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/kb-test-rebuild-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_int_equal(kb_store_open(dir, KB_OPEN_CREATE, NULL, &scratch, NULL, 0), KB_OK);
    kb_rebuild *rb;
    assert_int_equal(kb_rebuild_open(scratch, &cfg, &rb), KB_OK);
    kb_iter *it = kb_iter_open_seq(e->store, NULL, KB_CF_EVENTS, false);
    kb_status st = KB_OK;
    size_t added = 0;
    for (kb_iter_seek_first(it); st == KB_OK && kb_iter_valid(it); kb_iter_next(it)) {
        size_t vl;
        const char *val = kb_iter_value(it, &vl);
        kb_log_view v;
        assert_true(kb_log_view_parse(val, vl, &v));
        st = kb_rebuild_add(rb, &v);
        added += st == KB_OK;
    }
    kb_iter_close(it);
    if (st == KB_OK) st = kb_rebuild_flush(rb); /* the last chunk's write fails */
    assert_int_not_equal(st, KB_OK);
    kb_rebuild_fail f = kb_rebuild_failure(rb);
    assert_true(f.write_failed);
    assert_int_equal(f.seq, 2); /* the first chunk (events 1 and 2) failed */
    /* The first chunk's write failed on the other thread; it is reported
     * when the next chunk ends, never later than the flush. */
    assert_true(added >= 2 && added <= 4);
    kb_rebuild_free(rb); /* joins nothing twice */
    assert_false(bg.running);
    kb_store_close(scratch);
    nftw(dir, kbt_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int32_t kbt_day(const char *date) {
    int32_t d;
    assert_int_equal(kb_date_parse(date, &d), KB_OK);
    return d;
}

int64_t kbt_at(const char *date) {
    return kb_instant_of_day(kbt_day(date)) + 10 * INT64_C(3600000000);
}
