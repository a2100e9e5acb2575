/* kb_keyref_sort: store keys in memcmp order (a key before the longer keys
 * it is a prefix of), equal keys in their given order; on both of its
 * paths (comparison sort below 16,384 keys, radix sort above). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"
#include "keysort.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void) {
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* The reference order: bytes, then length, then order. */
static int ref_cmp(const void *pa, const void *pb) {
    const kb_keyref *a = pa, *b = pb;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(a->key, b->key, n);
    if (c) return c;
    if (a->key_len != b->key_len) return a->key_len < b->key_len ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* n keys shaped like the store's: a long shared prefix, a few list names,
 * hex and binary numbers (with zero bytes), prefixes of other keys and
 * repeats. */
static char *make_keys(kb_keyref *v, size_t n) {
    static const char *const lists[] = {"created/", "by/status/2/", "by/status/", "by/", "amount/EUR/",
                                        ""};
    char *mem = malloc(n * KB_KEY_BYTES_MAX);
    assert_non_null(mem);
    for (size_t i = 0; i < n; i++) {
        char *k = mem + i * KB_KEY_BYTES_MAX;
        size_t len = 0;
        uint64_t r = rng();
        if (i > 0 && r % 10 == 0) { /* a repeat of an earlier key, or a prefix of it */
            const kb_keyref *e = &v[rng() % i];
            len = r % 20 == 0 ? e->key_len : e->key_len / 2;
            memcpy(k, e->key, len);
        } else {
            len = (size_t)snprintf(k, KB_KEY_BYTES_MAX, "tenant-%u/payment/%s", (unsigned)(r % 2),
                                   lists[(r >> 8) % 6]);
            uint64_t num = rng() % (r & 0x10000 ? 7 : UINT64_MAX);
            if (r & 0x20000) { /* binary, big-endian */
                for (int b = 7; b >= 0; b--) k[len++] = (char)(num >> (8 * b));
            } else {
                len += (size_t)snprintf(k + len, KB_KEY_BYTES_MAX - len, "%016llx",
                                        (unsigned long long)num);
            }
            size_t tail = (size_t)(rng() % 40);
            for (size_t t = 0; t < tail; t++) k[len++] = (char)('a' + rng() % 3);
        }
        v[i] = (kb_keyref){.key = k, .key_len = (uint32_t)len, .order = (uint32_t)i, .aux = 7};
    }
    return mem;
}

/* n keys as a rebuild writes an index: rows of a few lists interleaved,
 * each list's keys rising (a sequence number in hex), some keys written
 * twice in a row. Each list alone is in order, the whole is not. */
static char *make_rising_keys(kb_keyref *v, size_t n) {
    static const char *const lists[] = {"t/payment/by/status/2/", "t/payment/by/", "t/btxn/seq/"};
    char *mem = malloc(n * KB_KEY_BYTES_MAX);
    assert_non_null(mem);
    uint64_t next[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        char *k = mem + i * KB_KEY_BYTES_MAX;
        uint64_t r = rng();
        size_t l = (size_t)(r % 3);
        if (r & 0x100) next[l] += 1 + (r >> 40) % 1000; /* else the same key again */
        int len = snprintf(k, KB_KEY_BYTES_MAX, "%s%016llx/pay_%llu", lists[l],
                           (unsigned long long)next[l], (unsigned long long)(next[l] % 97));
        v[i] = (kb_keyref){.key = k, .key_len = (uint32_t)len, .order = (uint32_t)i, .aux = 7};
    }
    return mem;
}

/* Sorts n keys made by make and checks them against qsort; the number of
 * equal neighbours. Shape 0: as made; 1: sorted already; 2: sorted but for
 * the last key; 3: sorted backwards (a hard case for a quicksort). */
static size_t check_sorts_of(size_t n, char *(*make)(kb_keyref *, size_t), int shape) {
    kb_keyref *v = malloc(n * sizeof *v), *want = malloc(n * sizeof *want);
    assert_non_null(v);
    assert_non_null(want);
    char *mem = make(v, n);
    if (shape > 0) {
        qsort(v, n - (shape == 2), sizeof *v, ref_cmp);
        for (size_t i = 0; shape == 3 && i < n / 2; i++) {
            kb_keyref t = v[i];
            v[i] = v[n - 1 - i];
            v[n - 1 - i] = t;
        }
        for (size_t i = 0; i < n; i++) v[i].order = (uint32_t)i;
    }
    memcpy(want, v, n * sizeof *v);
    qsort(want, n, sizeof *want, ref_cmp);
    kb_keyref_sort(v, n);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(v[i].order, want[i].order);
        assert_int_equal(v[i].aux, 7);
        if (i + 1 < n) {
            bool eq = v[i].key_len == v[i + 1].key_len &&
                      memcmp(v[i].key, v[i + 1].key, v[i].key_len) == 0;
            assert_int_equal(kb_keyref_same_key(&v[i], &v[i + 1]), eq);
            same += eq;
        }
    }
    free(mem);
    free(v);
    free(want);
    return same;
}

static size_t check_sorts(size_t n) {
    return check_sorts_of(n, make_keys, 0);
}

static void test_small(void **state) {
    (void)state;
    for (size_t n = 0; n < 40; n++) check_sorts(n + 1);
    assert_true(check_sorts(1000) > 0); /* repeats were there to be ordered */
}

static void test_radix_path(void **state) {
    (void)state;
    assert_true(check_sorts(40000) > 0);
}

/* Runs that are in order already are left as they are (kb_keyref_sort
 * checks before it sorts a run): the result must not change. */
static void test_runs_in_order(void **state) {
    (void)state;
    for (int shape = 0; shape < 4; shape++) {
        for (size_t n = 1; n < 40; n++) check_sorts_of(n, make_rising_keys, shape);
        assert_true(check_sorts_of(1000, make_rising_keys, shape) > 0);
        assert_true(check_sorts_of(40000, make_rising_keys, shape) > 0);
        check_sorts_of(1000, make_keys, shape);
        check_sorts_of(40000, make_keys, shape);
    }
}

/* In order but for a key that is a prefix of the one before it. */
static void test_prefix_after_longer(void **state) {
    (void)state;
    static const char *const keys[] = {"t/a/1", "t/a/2", "t/a/2x", "t/a/2", "t/a/3"};
    static const uint32_t want[] = {0, 1, 3, 2, 4};
    kb_keyref v[5];
    for (uint32_t i = 0; i < 5; i++) {
        v[i] = (kb_keyref){.key = keys[i], .key_len = (uint32_t)strlen(keys[i]), .order = i};
    }
    kb_keyref_sort(v, 5);
    for (size_t i = 0; i < 5; i++) assert_int_equal(v[i].order, want[i]);
    assert_true(kb_keyref_same_key(&v[1], &v[2]));
    assert_false(kb_keyref_same_key(&v[2], &v[3]));
}

static void test_one_family_all_equal(void **state) {
    (void)state;
    kb_keyref v[300];
    for (size_t i = 0; i < 300; i++)
        v[i] = (kb_keyref){.key = "tenant/payment/created/x", .key_len = 24, .order = (uint32_t)i};
    kb_keyref_sort(v, 300);
    for (size_t i = 0; i < 300; i++) assert_int_equal(v[i].order, i);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_radix_path),
        cmocka_unit_test(test_runs_in_order),
        cmocka_unit_test(test_prefix_after_longer),
        cmocka_unit_test(test_one_family_all_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
