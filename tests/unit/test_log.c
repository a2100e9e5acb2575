/* The event log on a real store: append through a batch, the hash chain,
 * the head, reading back, and kb_log_verify naming the first bad seq after
 * a byte is flipped or an event is removed. */
#define _XOPEN_SOURCE 700 /* nftw */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"

#define N_EVENTS 10

typedef struct fixture {
    char dir[64];
    kb_store *s;
    kb_head head;
    unsigned char hashes[N_EVENTS + 1][KB_HASH_BYTES]; /* [seq] after append */
} fixture;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void open_store(fixture *f, kb_open_mode mode) {
    char err[256] = "";
    kb_status st = kb_store_open(f->dir, mode, NULL, &f->s, err, sizeof err);
    if (st != KB_OK) fail_msg("kb_store_open %s: %s", f->dir, err);
}

/* Event i (1-based) goes to payment p<i%2>, so two streams interleave. */
static void append_events(fixture *f, int n) {
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(f->s, &b), KB_OK);
    kb_arena a;
    kb_arena_init(&a, 1u << 20);
    for (int i = 1; i <= n; i++) {
        char id[16], payload[32];
        snprintf(id, sizeof id, "p%d", i % 2);
        int len = snprintf(payload, sizeof payload, "payload-%d\x01\xff", i);
        uint64_t version = (uint64_t)(i + 1) / 2;
        assert_int_equal(kb_log_append(b, &a, &f->head, "t1", "payment", id, version,
                                       "PaymentRecorded", (const uint8_t *)payload, (size_t)len),
                         KB_OK);
        assert_int_equal(f->head.seq, (uint64_t)i);
        memcpy(f->hashes[i], f->head.hash, KB_HASH_BYTES);
    }
    kb_log_head_put(b, &f->head);
    assert_int_equal(kb_store_write(f->s, b, true), KB_OK);
    kb_batch_free(b);
    kb_arena_fini(&a);
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/kb-test-log-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    open_store(f, KB_OPEN_CREATE);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    kb_store_close(f->s);
    int rc = nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

static void expect_verify_ok(kb_store *s, uint64_t n) {
    uint64_t count = 99, bad = 99;
    char why[256];
    assert_int_equal(kb_log_verify(s, &count, &bad, why, sizeof why), KB_OK);
    assert_int_equal(count, n);
    assert_int_equal(bad, 0);
}

static void expect_verify_bad(kb_store *s, uint64_t bad_seq, const char *why_part) {
    uint64_t count = 99, bad = 99;
    char why[256];
    assert_int_equal(kb_log_verify(s, &count, &bad, why, sizeof why), KB_ERR_CORRUPT);
    assert_int_equal(bad, bad_seq);
    assert_int_equal(count, bad_seq - 1);
    if (why_part && !strstr(why, why_part)) fail_msg("why '%s' lacks '%s'", why, why_part);
}

static void put_event(kb_store *s, uint64_t seq, const void *val, size_t len) {
    kb_batch *b;
    kb_key k;
    kb_key_event(&k, seq);
    assert_int_equal(kb_batch_alloc(s, &b), KB_OK);
    if (val) {
        kb_batch_put(b, KB_CF_EVENTS, k.bytes, k.len, val, len);
    } else {
        kb_batch_delete(b, KB_CF_EVENTS, k.bytes, k.len);
    }
    assert_int_equal(kb_store_write(s, b, true), KB_OK);
    kb_batch_free(b);
}

/* ------------------------------------------------------------------ hash */

static void test_hash_pinned(void **state) {
    (void)state;
    unsigned char prev[KB_HASH_BYTES] = {0}, out[KB_HASH_BYTES];
    static const uint8_t payload[] = {0x0a, 0x03, 'a', 'b', 'c', 0x00, 0xff};
    kb_log_hash(prev, 1, "t1", "payment/p1", 1, "PaymentRecorded", payload, sizeof payload, out);
    /* Computed once, independently, with Python's hashlib.blake2b
     * (digest_size=32) over the layout in log.h. */
    static const unsigned char want[KB_HASH_BYTES] = {
        0x0e, 0x15, 0x90, 0x91, 0xba, 0x04, 0xd6, 0x3f, 0x05, 0x31, 0xf4,
        0x80, 0x28, 0xb6, 0x76, 0xe5, 0x1a, 0xe5, 0x02, 0x98, 0x38, 0x96,
        0xf6, 0x11, 0xa0, 0x9c, 0x3f, 0x90, 0x9e, 0x11, 0x87, 0xf6,
    };
    assert_memory_equal(out, want, KB_HASH_BYTES);
}

/* The documented layout, hashed by hand, gives the same value. */
static void test_hash_layout(void **state) {
    (void)state;
    unsigned char prev[KB_HASH_BYTES], out[KB_HASH_BYTES], want[KB_HASH_BYTES];
    for (int i = 0; i < KB_HASH_BYTES; i++) prev[i] = (unsigned char)(i * 7);
    static const unsigned char buf[] = {
        0, 0, 0, 0,  0,   0,   0x01, 0x02,                               /* seq 258 */
        0, 0, 0, 2,  't', '1',                                           /* tenant */
        0, 0, 0, 10, 'p', 'a', 'y',  'm',  'e', 'n', 't', '/', 'p', '9', /* stream */
        0, 0, 0, 0,  0,   0,   0,    3,                                  /* version */
        0, 0, 0, 1,  'X',                                                /* type */
        0, 0, 0, 0,                                                      /* empty payload */
    };
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, KB_HASH_BYTES);
    crypto_generichash_update(&st, prev, KB_HASH_BYTES);
    crypto_generichash_update(&st, buf, sizeof buf);
    crypto_generichash_final(&st, want, KB_HASH_BYTES);
    kb_log_hash(prev, 258, "t1", "payment/p9", 3, "X", NULL, 0, out);
    assert_memory_equal(out, want, KB_HASH_BYTES);
}

/* ------------------------------------------------------- append and read */

static void test_empty_log(void **state) {
    fixture *f = *state;
    expect_verify_ok(f->s, 0);
    kb_head h;
    assert_int_equal(kb_log_head_read(f->s, NULL, NULL, &h), KB_OK);
    assert_int_equal(h.seq, 0);
    static const unsigned char zero[KB_HASH_BYTES] = {0};
    assert_memory_equal(h.hash, zero, KB_HASH_BYTES);
}

static void check_head(kb_store *s, const kb_head *want) {
    kb_head h;
    assert_int_equal(kb_log_head_read(s, NULL, NULL, &h), KB_OK);
    assert_int_equal(h.seq, want->seq);
    assert_memory_equal(h.hash, want->hash, KB_HASH_BYTES);
}

static void test_append_verify_reopen(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    expect_verify_ok(f->s, N_EVENTS);
    check_head(f->s, &f->head);
    kb_store_close(f->s);
    open_store(f, KB_OPEN_EXISTING);
    expect_verify_ok(f->s, N_EVENTS);
    check_head(f->s, &f->head);
    kb_store_close(f->s);
    open_store(f, KB_OPEN_READ_ONLY);
    expect_verify_ok(f->s, N_EVENTS);
    check_head(f->s, &f->head);
}

static void test_append_continues_chain(void **state) {
    fixture *f = *state;
    append_events(f, 3);
    kb_head h;
    assert_int_equal(kb_log_head_read(f->s, NULL, NULL, &h), KB_OK);
    f->head = h; /* a second batch starts from the stored head */
    kb_batch *b;
    kb_arena a;
    kb_arena_init(&a, 1u << 16);
    assert_int_equal(kb_batch_alloc(f->s, &b), KB_OK);
    assert_int_equal(
        kb_log_append(b, &a, &f->head, "t2", "payment", "q", 1, "PaymentRecorded", NULL, 0), KB_OK);
    kb_log_head_put(b, &f->head);
    assert_int_equal(kb_store_write(f->s, b, true), KB_OK);
    kb_batch_free(b);
    kb_arena_fini(&a);
    expect_verify_ok(f->s, 4);
    check_head(f->s, &f->head);
}

/* Names past the bounds the hash is laid out for are refused, and the
 * batch and head stay as they were. */
static void test_append_refuses_long_names(void **state) {
    fixture *f = *state;
    char long_id[KB_ID_LEN_MAX + 2], long_type[KB_METHOD_LEN_MAX + 2];
    char long_sid[KB_STREAM_LEN_MAX + 1]; /* "payment/" + it: past the stream bound */
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    memset(long_sid, 'y', sizeof long_sid - 1);
    long_sid[sizeof long_sid - 1] = 0;
    memset(long_type, 'T', sizeof long_type - 1);
    long_type[sizeof long_type - 1] = 0;
    kb_batch *b;
    kb_arena a;
    kb_arena_init(&a, 1u << 16);
    assert_int_equal(kb_batch_alloc(f->s, &b), KB_OK);
    kb_head before = f->head;
    assert_int_equal(kb_log_append(b, &a, &f->head, long_id, "payment", "p", 1, "E", NULL, 0),
                     KB_ERR_LIMIT);
    assert_int_equal(kb_log_append(b, &a, &f->head, "t", "payment", long_sid, 1, "E", NULL, 0),
                     KB_ERR_LIMIT);
    assert_int_equal(kb_log_append(b, &a, &f->head, "t", "payment", "p", 1, long_type, NULL, 0),
                     KB_ERR_LIMIT);
    assert_int_equal(kb_batch_count(b), 0);
    assert_int_equal(f->head.seq, before.seq);
    kb_batch_free(b);
    kb_arena_fini(&a);
}

static void test_read_decode_chain(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    kb_arena a;
    kb_arena_init(&a, 1u << 20);
    Kasboek__V1__EventRecord *rec;
    assert_int_equal(kb_log_read(f->s, NULL, 6, &a, &rec), KB_OK);
    assert_int_equal(rec->seq, 6);
    assert_string_equal(rec->tenant, "t1");
    assert_string_equal(rec->stream, "payment/p0");
    assert_int_equal(rec->version, 3);
    assert_string_equal(rec->type, "PaymentRecorded");
    assert_int_equal(rec->payload.len, strlen("payload-6") + 2);
    assert_memory_equal(rec->payload.data, "payload-6\x01\xff", rec->payload.len);
    assert_memory_equal(rec->prev_hash.data, f->hashes[5], KB_HASH_BYTES);
    assert_memory_equal(rec->hash.data, f->hashes[6], KB_HASH_BYTES);
    unsigned char h[KB_HASH_BYTES];
    kb_log_hash(f->hashes[5], 6, rec->tenant, rec->stream, rec->version, rec->type,
                rec->payload.data, rec->payload.len, h);
    assert_memory_equal(h, f->hashes[6], KB_HASH_BYTES);
    assert_int_equal(kb_log_read(f->s, NULL, N_EVENTS + 1, &a, &rec), KB_ERR_NOT_FOUND);
    kb_arena_fini(&a);
}

static void test_decode_checks(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    kb_key k;
    kb_key_event(&k, 4);
    kb_value v;
    assert_int_equal(kb_store_get(f->s, NULL, NULL, KB_CF_EVENTS, k.bytes, k.len, &v), KB_OK);
    kb_arena a;
    kb_arena_init(&a, 1u << 20);
    Kasboek__V1__EventRecord *rec;
    assert_int_equal(kb_log_decode(v.data, v.len, 4, f->hashes[3], &a, &rec), KB_OK);
    assert_int_equal(kb_log_decode(v.data, v.len, 4, NULL, &a, &rec), KB_OK);
    assert_int_equal(kb_log_decode(v.data, v.len, 5, f->hashes[3], &a, &rec), KB_ERR_CORRUPT);
    assert_int_equal(kb_log_decode(v.data, v.len, 4, f->hashes[2], &a, &rec), KB_ERR_CORRUPT);
    assert_int_equal(kb_log_decode(v.data, v.len - 1, 4, NULL, &a, &rec), KB_ERR_CORRUPT);
    kb_value_free(&v);
    kb_arena_fini(&a);
}

static void test_stream_index(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    for (uint64_t seq = 1; seq <= N_EVENTS; seq++) {
        char id[8];
        snprintf(id, sizeof id, "p%d", (int)(seq % 2));
        kb_key k;
        kb_key_stream(&k, "t1", "payment", id, (seq + 1) / 2);
        kb_value v;
        assert_int_equal(kb_store_get(f->s, NULL, NULL, KB_CF_STREAMS, k.bytes, k.len, &v), KB_OK);
        assert_int_equal(v.len, 8);
        assert_int_equal(kb_be64_get((const unsigned char *)v.data), seq);
        kb_value_free(&v);
    }
}

/* ------------------------------------------------------------- tampering */

/* Flips every byte of event seq's stored value in turn (two different
 * flips each); verify must name exactly seq every time. */
static void flip_every_byte(fixture *f, uint64_t seq) {
    kb_key k;
    kb_key_event(&k, seq);
    kb_value v;
    assert_int_equal(kb_store_get(f->s, NULL, NULL, KB_CF_EVENTS, k.bytes, k.len, &v), KB_OK);
    char *copy = malloc(v.len);
    assert_non_null(copy);
    for (size_t i = 0; i < v.len; i++) {
        for (int m = 0; m < 2; m++) {
            memcpy(copy, v.data, v.len);
            copy[i] = (char)(copy[i] ^ (m ? 0x80 : 0x01));
            put_event(f->s, seq, copy, v.len);
            expect_verify_bad(f->s, seq, NULL);
        }
    }
    put_event(f->s, seq, v.data, v.len);
    expect_verify_ok(f->s, N_EVENTS);
    free(copy);
    kb_value_free(&v);
}

static void test_corrupt_byte(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    flip_every_byte(f, 6);
    flip_every_byte(f, 1);
    flip_every_byte(f, N_EVENTS);
}

static void test_corrupt_reports_reason(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    kb_key k;
    kb_key_event(&k, 7);
    kb_value v;
    assert_int_equal(kb_store_get(f->s, NULL, NULL, KB_CF_EVENTS, k.bytes, k.len, &v), KB_OK);
    v.data[v.len - 1] ^= 0x55; /* inside the last field, the hash */
    put_event(f->s, 7, v.data, v.len);
    kb_value_free(&v);
    expect_verify_bad(f->s, 7, "hash chain");
}

static void test_delete_middle(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    put_event(f->s, 5, NULL, 0);
    expect_verify_bad(f->s, 5, "missing");
}

static void test_delete_first(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    put_event(f->s, 1, NULL, 0);
    expect_verify_bad(f->s, 1, "missing");
}

static void test_delete_last(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    put_event(f->s, N_EVENTS, NULL, 0);
    expect_verify_bad(f->s, N_EVENTS, "head");
}

static void test_head_hash_tampered(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    kb_head h = f->head;
    h.hash[0] ^= 1;
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(f->s, &b), KB_OK);
    kb_log_head_put(b, &h);
    assert_int_equal(kb_store_write(f->s, b, true), KB_OK);
    kb_batch_free(b);
    uint64_t count, bad;
    char why[256];
    assert_int_equal(kb_log_verify(f->s, &count, &bad, why, sizeof why), KB_ERR_CORRUPT);
    assert_int_equal(bad, N_EVENTS);
    assert_non_null(strstr(why, "head"));
}

/* Events stored past the head: the log and its head disagree. */
static void test_head_behind(void **state) {
    fixture *f = *state;
    append_events(f, N_EVENTS);
    kb_head h = {.seq = N_EVENTS - 2};
    memcpy(h.hash, f->hashes[N_EVENTS - 2], KB_HASH_BYTES);
    kb_batch *b;
    assert_int_equal(kb_batch_alloc(f->s, &b), KB_OK);
    kb_log_head_put(b, &h);
    assert_int_equal(kb_store_write(f->s, b, true), KB_OK);
    kb_batch_free(b);
    uint64_t count, bad;
    char why[256];
    assert_int_equal(kb_log_verify(f->s, &count, &bad, why, sizeof why), KB_ERR_CORRUPT);
    assert_int_equal(bad, N_EVENTS - 1); /* the first event past the head */
    assert_non_null(strstr(why, "head"));
}

int main(void) {
    if (sodium_init() < 0) return 1;
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_pinned),
        cmocka_unit_test(test_hash_layout),
        T(test_empty_log),
        T(test_append_verify_reopen),
        T(test_append_continues_chain),
        T(test_append_refuses_long_names),
        T(test_read_decode_chain),
        T(test_decode_checks),
        T(test_stream_index),
        T(test_corrupt_byte),
        T(test_corrupt_reports_reason),
        T(test_delete_middle),
        T(test_delete_first),
        T(test_delete_last),
        T(test_head_hash_tampered),
        T(test_head_behind),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
