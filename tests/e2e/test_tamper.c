/* Tampering and checkpoints: a byte flipped inside one stored event (or a
 * removed event) makes kasboek-audit verify fail and name that seq; a
 * checkpoint taken while kasboekd runs verifies and replays. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "kasboek.pb-c.h"
#include "keys.h"
#include "log.h"
#include "store.h"

#define TAMPER_SEQ 11
#define DELETE_SEQ 5

static kbe_server srv;

static int teardown_server(void **state) {
    kbe_server_fini(&srv);
    return 0;
}

/* Five payments, a refund each: 25 events (a card payment is recorded and
 * booked; a card refund is created, settled and booked). */
static void write_events(kb_client *c, const char *prefix) {
    char id[32];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        kbe_result_free(kbe_record(c, id, 2000 + i, "EUR", KBE_M(CARD)));
        kbe_result_free(kbe_refund(c, id, NULL, 100, "EUR"));
    }
}

/* A stopped server's data dir with 25 events. */
static void prepare_stopped(kbe_server *s) {
    kbe_server_start(s, NULL);
    kb_client *c = kbe_connect(s, NULL);
    write_events(c, "tp");
    kbe_head h;
    kbe_head_get(c, &h);
    assert_int_equal(h.seq, 25);
    kb_client_close(c);
    kbe_server_stop_ok(s);
}

static kb_store *store_open(const char *dir) {
    kb_store *st = NULL;
    char err[256] = "";
    if (kb_store_open(dir, KB_OPEN_EXISTING, NULL, &st, err, sizeof err) != KB_OK) {
        fail_msg("kb_store_open %s: %s", dir, err);
    }
    return st;
}

/* Writes (or, with val NULL, deletes) events/seq with a synced batch. */
static void store_put_event(kb_store *st, uint64_t seq, const void *val, size_t len) {
    unsigned char key[8];
    kb_be64_put(key, seq);
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(st, &b), KB_OK);
    if (val)
        kb_batch_put(b, KB_CF_EVENTS, key, sizeof key, val, len);
    else
        kb_batch_delete(b, KB_CF_EVENTS, key, sizeof key);
    assert_int_equal(kb_store_write(st, b, true), KB_OK);
    kb_batch_free(b);
}

/* Where needle (n bytes) starts in hay (len bytes); -1 if absent. */
static long find_bytes(const char *hay, size_t len, const uint8_t *needle, size_t n) {
    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (memcmp(hay + i, needle, n) == 0) return (long)i;
    }
    return -1;
}

/* The offset of a byte in the middle of the record's payload inside the
 * stored value. */
static size_t payload_offset(const kb_value *v) {
    Kasboek__V1__EventRecord *rec =
        kasboek__v1__event_record__unpack(NULL, v->len, (const uint8_t *)v->data);
    assert_non_null(rec);
    assert_true(rec->payload.len > 8);
    long at = find_bytes(v->data, v->len, rec->payload.data, rec->payload.len);
    assert_true(at >= 0);
    size_t off = (size_t)at + rec->payload.len / 2;
    kasboek__v1__event_record__free_unpacked(rec, NULL);
    return off;
}

static void flip_payload_byte(const char *dir, uint64_t seq) {
    kb_store *st = store_open(dir);
    unsigned char key[8];
    kb_be64_put(key, seq);
    kb_value v;
    assert_int_equal(kb_store_get(st, NULL, NULL, KB_CF_EVENTS, key, sizeof key, &v), KB_OK);
    v.data[payload_offset(&v)] ^= 0x01;
    store_put_event(st, seq, v.data, v.len);
    kb_value_free(&v);
    kb_store_close(st);
}

static void delete_event(const char *dir, uint64_t seq) {
    kb_store *st = store_open(dir);
    store_put_event(st, seq, NULL, 0);
    kb_store_close(st);
}

/* verify must fail and name "FAIL at seq <seq>". */
static void expect_verify_fails_at(const char *dir, uint64_t seq) {
    kbe_proc p;
    char want[64];
    snprintf(want, sizeof want, "FAIL at seq %llu", (unsigned long long)seq);
    kbe_audit(&p, "verify", dir);
    if (p.status == 0 || !strstr(p.out, want)) kbe_proc_dump("kasboek-audit verify", &p);
    assert_int_not_equal(p.status, 0);
    assert_non_null(strstr(p.out, want));
    kbe_proc_fini(&p);
}

static void expect_audit_ok(const char *verb, const char *dir, const char *needle) {
    kbe_proc p;
    kbe_audit(&p, verb, dir);
    if (p.status != 0 || !strstr(p.out, needle)) kbe_proc_dump(verb, &p);
    assert_int_equal(p.status, 0);
    assert_non_null(strstr(p.out, needle));
    kbe_proc_fini(&p);
}

/* kasboek-audit replay with a small chunk (--chunk-events, for tests). */
static void audit_replay_chunked(kbe_proc *p, const char *dir, const char *chunk_events) {
    const char *argv[] = {KB_AUDIT, "replay", dir, "--chunk-events", chunk_events, NULL};
    kbe_run(argv, p);
}

/* replay fails on the data (exit 1) and names seq with why, whatever the
 * chunk size. */
static void expect_replay_fails_at(const char *dir, uint64_t seq, const char *why) {
    char want[160];
    snprintf(want, sizeof want, "FAIL at seq %llu: %s", (unsigned long long)seq, why);
    const char *chunks[] = {"1", "2", "4096"};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        kbe_proc p;
        audit_replay_chunked(&p, dir, chunks[i]);
        if (p.status != 1 || !strstr(p.out, want)) kbe_proc_dump("replay of a tampered log", &p);
        assert_int_equal(p.status, 1);
        assert_non_null(strstr(p.out, want));
        kbe_proc_fini(&p);
    }
}

static void expect_replay_equal_chunked(const char *dir) {
    const char *chunks[] = {"1", "2", "3", "7"};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        kbe_proc p;
        audit_replay_chunked(&p, dir, chunks[i]);
        if (p.status != 0 || !strstr(p.out, "equal: ")) kbe_proc_dump("chunked replay", &p);
        assert_int_equal(p.status, 0);
        kbe_proc_fini(&p);
    }
}

static void test_flipped_byte_names_its_seq(void **state) {
    prepare_stopped(&srv);
    expect_audit_ok("verify", srv.data_dir, "ok: 25 events");
    flip_payload_byte(srv.data_dir, TAMPER_SEQ);
    expect_verify_fails_at(srv.data_dir, TAMPER_SEQ);
    kbe_proc p;
    kbe_audit(&p, "replay", srv.data_dir);
    if (p.status == 0) kbe_proc_dump("kasboek-audit replay of a tampered log", &p);
    assert_int_not_equal(p.status, 0);
    kbe_proc_fini(&p);
    expect_replay_fails_at(srv.data_dir, TAMPER_SEQ, "record does not match its hash chain");
}

/* The server does not hand out the tampered record as if it were sound:
 * seq 11 is tp-2's PaymentRecorded (tp-0 and tp-1 hold seqs 1-10). */
static void test_server_refuses_tampered_timeline(void **state) {
    prepare_stopped(&srv);
    flip_payload_byte(srv.data_dir, TAMPER_SEQ);
    kbe_server_resume(&srv);
    kb_client *c = kbe_connect(&srv, NULL);
    kb_client_result res;
    Kasboek__V1__GetPaymentReply *g = NULL;
    assert_int_equal(kb_client_get_payment(c, "tp-2", &res, &g), 0);
    if (g) {
        kbe_get_free(g);
        fail_msg("GetPayment tp-2 answered OK with a corrupt event in its timeline");
    }
    print_message("GetPayment with a corrupt event: %s %s\n", kb_client_code_str(res.code),
                  res.reason);
    kb_client_result_fini(&res);
    kb_client_close(c);
}

static void test_removed_event_names_its_seq(void **state) {
    prepare_stopped(&srv);
    expect_replay_equal_chunked(srv.data_dir);
    delete_event(srv.data_dir, DELETE_SEQ);
    expect_verify_fails_at(srv.data_dir, DELETE_SEQ);
    expect_replay_fails_at(srv.data_dir, DELETE_SEQ, "missing event (next stored key is seq 6)");
}

/* A store whose projections are of an older schema (a data dir a newer
 * build has not opened yet): replay refuses it with exit 2 and says why,
 * rather than report every row it would write otherwise as tampering;
 * verify, which reads the log only, still passes. */
static void test_replay_refuses_other_schema(void **state) {
    prepare_stopped(&srv);
    kb_store *st = store_open(srv.data_dir);
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(st, &b), KB_OK);
    unsigned char v[8];
    kb_be64_put(v, KB_SCHEMA_VERSION - 1);
    kb_batch_put(b, KB_CF_META, KB_META_SCHEMA, strlen(KB_META_SCHEMA), v, sizeof v);
    assert_int_equal(kb_store_write(st, b, true), KB_OK);
    kb_batch_free(b);
    kb_store_close(st);
    kbe_proc p;
    kbe_audit(&p, "replay", srv.data_dir);
    char want[96];
    snprintf(want, sizeof want, "projections of schema %u, this build writes schema %u",
             KB_SCHEMA_VERSION - 1, KB_SCHEMA_VERSION);
    if (p.status != 2 || !strstr(p.err, want)) kbe_proc_dump("replay of an older schema", &p);
    assert_int_equal(p.status, 2);
    kbe_proc_fini(&p);
    expect_audit_ok("verify", srv.data_dir, "ok: 25 events");
}

/* A record written by hand whose chain checks: a PaymentSettled as the
 * first event of a payment stream. verify passes (the chain has no
 * secret); replay used to crash in the fold (evolve read the amount of a
 * payment never recorded), and now says FAIL at that seq (from a review). */
static void test_forged_record_fails_replay(void **state) {
    (void)state;
    char dir[KBE_PATH_MAX];
    kbe_mkdtemp(dir, sizeof dir);
    kb_store *st = NULL;
    char err[256] = "";
    assert_int_equal(kb_store_open(dir, KB_OPEN_CREATE, NULL, &st, err, sizeof err), KB_OK);
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(st, &b), KB_OK);
    unsigned char v[8];
    kb_be64_put(v, KB_SCHEMA_VERSION);
    kb_batch_put(b, KB_CF_META, KB_META_SCHEMA, strlen(KB_META_SCHEMA), v, sizeof v);
    Kasboek__V1__PaymentSettled ps = KASBOEK__V1__PAYMENT_SETTLED__INIT;
    Kasboek__V1__Event ev = KASBOEK__V1__EVENT__INIT;
    ev.body_case = KASBOEK__V1__EVENT__BODY_PAYMENT_SETTLED;
    ev.payment_settled = &ps;
    ev.occurred_at = ev.recorded_at = INT64_C(1772445600000000);
    uint8_t buf[256];
    size_t n = kasboek__v1__event__pack(&ev, buf);
    kb_arena a;
    kb_arena_init(&a, 1 << 20);
    kb_head head = {0};
    assert_int_equal(
        kb_log_append(b, &a, &head, "t1", "payment", "p1", 1, "PaymentSettled", buf, n), KB_OK);
    kb_log_head_put(b, &head);
    assert_int_equal(kb_store_write(st, b, true), KB_OK);
    kb_batch_free(b);
    kb_arena_fini(&a);
    kb_store_close(st);
    expect_audit_ok("verify", dir, "ok: 1 events");
    kbe_proc p;
    const char *argv[] = {KB_AUDIT, "replay", dir, NULL};
    kbe_run_crashing(argv, &p); /* its fold crashes, in a child process */
    if (p.status != 1 || !strstr(p.out, "FAIL at seq 1: cannot project the event")) {
        kbe_proc_dump("replay of a forged record", &p);
    }
    assert_int_equal(p.status, 1);
    assert_non_null(strstr(p.out, "FAIL at seq 1: cannot project the event"));
    kbe_proc_fini(&p);
    assert_int_equal(kbe_rmtree(dir), 0);
}

/* ----------------------------------------------------------- checkpoint */

static uint64_t checkpoint(kb_client *c, const char *dir) {
    Kasboek__V1__CheckpointRequest q = KASBOEK__V1__CHECKPOINT_REQUEST__INIT;
    q.dir = (char *)dir;
    kb_client_result res;
    assert_int_equal(kb_client_call(c, "Checkpoint", &q.base, NULL, &res), 0);
    if (res.code != 0) kbe_fail_result("Checkpoint", &res);
    Kasboek__V1__CheckpointReply *r =
        kasboek__v1__checkpoint_reply__unpack(NULL, res.payload_len, res.payload);
    assert_non_null(r);
    assert_string_equal(r->dir, dir);
    uint64_t seq = r->head_seq;
    kasboek__v1__checkpoint_reply__free_unpacked(r, NULL);
    kb_client_result_fini(&res);
    return seq;
}

static void test_checkpoint_while_running(void **state) {
    char dir[KBE_PATH_MAX], ok[96];
    kbe_server_start(&srv, NULL);
    kbe_server_path(&srv, "ckpt-client", dir, sizeof dir);
    kb_client *c = kbe_connect(&srv, NULL);
    write_events(c, "ck");
    kbe_head h;
    kbe_head_get(c, &h);
    assert_int_equal(checkpoint(c, dir), h.seq);
    write_events(c, "after"); /* the live store moves on */
    snprintf(ok, sizeof ok, "ok: %llu events, head seq %llu", (unsigned long long)h.seq,
             (unsigned long long)h.seq);
    expect_audit_ok("verify", dir, ok);
    expect_audit_ok("replay", dir, "equal");
    kb_client_close(c);
}

static void test_checkpoint_through_the_cli(void **state) {
    char dir[KBE_PATH_MAX];
    kbe_server_start(&srv, NULL);
    kbe_server_path(&srv, "ckpt-cli", dir, sizeof dir);
    kb_client *c = kbe_connect(&srv, NULL);
    write_events(c, "cli");
    kb_client_close(c);
    kbe_proc p;
    kbe_cli(&srv, &p, "checkpoint", dir, NULL);
    if (p.status != 0) kbe_proc_dump("kasboek checkpoint", &p);
    assert_int_equal(p.status, 0);
    kbe_proc_fini(&p);
    expect_audit_ok("verify", dir, "ok: 25 events");
    expect_audit_ok("replay", dir, "equal");
    kbe_cli(&srv, &p, "checkpoint", dir, NULL); /* exists now */
    assert_int_equal(p.status, 1);
    assert_non_null(strstr(p.err, "CHECKPOINT_FAILED"));
    kbe_proc_fini(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_flipped_byte_names_its_seq, teardown_server),
        cmocka_unit_test_teardown(test_server_refuses_tampered_timeline, teardown_server),
        cmocka_unit_test_teardown(test_removed_event_names_its_seq, teardown_server),
        cmocka_unit_test_teardown(test_replay_refuses_other_schema, teardown_server),
        cmocka_unit_test(test_forged_record_fails_replay),
        cmocka_unit_test_teardown(test_checkpoint_while_running, teardown_server),
        cmocka_unit_test_teardown(test_checkpoint_through_the_cli, teardown_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
