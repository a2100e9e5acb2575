#include "keysort.h"

#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* By pfx, then length, then order (ks_sort_run): a total order, since
 * no two writes share an order. */
static bool ks_less(const kb_keyref *a, const kb_keyref *b) {
    if (a->pfx != b->pfx) return a->pfx < b->pfx;
    if (a->key_len != b->key_len) return a->key_len < b->key_len;
    return a->order < b->order;
}

static void ks_swap(kb_keyref *a, kb_keyref *b) {
    kb_keyref t = *a;
    *a = *b;
    *b = t;
}

static void ks_insertion_sort(kb_keyref *v, size_t n) {
    for (size_t i = 1; i < n; i++) {
        kb_keyref x = v[i];
        size_t j = i;
        for (; j > 0 && ks_less(&x, &v[j - 1]); j--) v[j] = v[j - 1];
        v[j] = x;
    }
}

static void ks_sift_down(kb_keyref *v, size_t n, size_t i) {
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && ks_less(&v[c], &v[c + 1])) c++;
        if (!ks_less(&v[i], &v[c])) return;
        ks_swap(&v[i], &v[c]);
    }
}

static void ks_heap_sort(kb_keyref *v, size_t n) {
    for (size_t i = n / 2; i-- > 0;) ks_sift_down(v, n, i);
    for (size_t end = n; end-- > 1;) {
        ks_swap(&v[0], &v[end]);
        ks_sift_down(v, end, 0);
    }
}

#define KS_INSERTION_MAX 16 /* ranges this short: insertion sort */

/* v[0..n) by ks_less, in place: quicksort on the median of three, with
 * insertion sort for short ranges and heap sort once depth runs out (so
 * n log n at worst; it recurses into the smaller side only). Inlined
 * compares: qsort's calls through a pointer (and its merge buffer) cost
 * 6 % of a rebuild's CPU. */
static void ks_intro_sort(kb_keyref *v, size_t n, unsigned depth) {
    while (n > KS_INSERTION_MAX) {
        if (depth-- == 0) {
            ks_heap_sort(v, n);
            return;
        }
        kb_keyref *a = &v[0], *m = &v[n / 2], *z = &v[n - 1];
        if (ks_less(m, a)) ks_swap(m, a);
        if (ks_less(z, m)) ks_swap(z, m);
        if (ks_less(m, a)) ks_swap(m, a);
        const kb_keyref p = *m;
        size_t i = 0, j = n - 1;
        for (;;) { /* Hoare: v[0..j] <= p <= v[j+1..n), both non-empty */
            while (ks_less(&v[i], &p)) i++;
            while (ks_less(&p, &v[j])) j--;
            if (i >= j) break;
            ks_swap(&v[i++], &v[j--]);
        }
        size_t left = j + 1;
        if (left < n - left) {
            ks_intro_sort(v, left, depth);
            v += left;
            n -= left;
        } else {
            ks_intro_sort(v + left, n - left, depth);
            n = left;
        }
    }
    ks_insertion_sort(v, n);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define KS_LITTLE_ENDIAN 1
#else
#define KS_LITTLE_ENDIAN 0
#endif

/* 8 key bytes from off on, big-endian, zero-padded past the key's end.
 * (The sort's hot path: a whole word when the key has 8 bytes there.) */
static uint64_t ks_bytes8(const kb_keyref *o, uint32_t off) {
    uint64_t p = 0;
    if (KS_LITTLE_ENDIAN && off + 8 <= o->key_len) {
        memcpy(&p, o->key + off, 8);
        return __builtin_bswap64(p);
    }
    for (uint32_t j = off; j < off + 8; j++) {
        p = (p << 8) | (j < o->key_len ? (unsigned char)o->key[j] : 0u);
    }
    return p;
}

/* The first j in [from, m) where a and b differ, or m: a word at a time. */
static uint32_t ks_match(const char *a, const char *b, uint32_t from, uint32_t m) {
    uint32_t j = from;
    for (; KS_LITTLE_ENDIAN && j + 8 <= m; j += 8) {
        uint64_t x, y;
        memcpy(&x, a + j, 8);
        memcpy(&y, b + j, 8);
        if (x != y) return j + (uint32_t)(__builtin_ctzll(x ^ y) >> 3);
    }
    while (j < m && a[j] == b[j]) j++;
    return j;
}

/* How far from depth on all keys of v[0..n) agree with the first (n >
 * 0; all agree before depth). */
static uint32_t ks_common_prefix(const kb_keyref *v, size_t n, uint32_t depth) {
    uint32_t lcp = v[0].key_len;
    for (size_t i = 1; i < n && lcp > depth; i++) {
        uint32_t m = lcp < v[i].key_len ? lcp : v[i].key_len;
        lcp = ks_match(v[i].key, v[0].key, depth, m);
    }
    return lcp < depth ? depth : lcp;
}

#define KS_RADIX_MIN    16384 /* below: ks_intro_sort (the radix sort's counts cost 5 x 64 Ki) */
#define KS_RADIX_DIGITS 65536
_Static_assert(KB_KEY_BYTES_MAX < KS_RADIX_DIGITS, "a key's length is one radix digit");

/* The 16-bit digit d of o's sort key: 0 its length (below
 * KS_RADIX_DIGITS: ks_radix_sort checks), 1..4 pfx from its low end. */
static uint32_t ks_digit(const kb_keyref *o, int d) {
    return d == 0 ? o->key_len : (uint32_t)(o->pfx >> (16 * (d - 1))) & 0xffffu;
}

/* v[0..n) in ks_less's order by a stable least-significant-digit radix
 * sort: equal keys come in order (kb_keyref_sort), so stability keeps
 * them in it. A pass where every key has the same digit is skipped. false when out of memory
 * (v unchanged). */
static bool ks_radix_sort(kb_keyref *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (v[i].key_len >= KS_RADIX_DIGITS) return false; /* not a store key */
    }
    kb_keyref *tmp = malloc(n * sizeof *tmp);
    uint32_t *cnt = calloc(5 * (size_t)KS_RADIX_DIGITS, sizeof *cnt);
    if (!tmp || !cnt) {
        free(tmp);
        free(cnt);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < 5; d++) cnt[(size_t)d * KS_RADIX_DIGITS + ks_digit(&v[i], d)]++;
    kb_keyref *src = v, *dst = tmp;
    for (int d = 0; d < 5; d++) {
        uint32_t *c = cnt + (size_t)d * KS_RADIX_DIGITS, sum = 0;
        bool uniform = false;
        for (size_t b = 0; b < KS_RADIX_DIGITS && !uniform; b++) {
            uint32_t k = c[b];
            uniform = k == n;
            c[b] = sum;
            sum += k;
        }
        if (uniform) continue;
        for (size_t i = 0; i < n; i++) dst[c[ks_digit(&src[i], d)]++] = src[i];
        kb_keyref *t = src;
        src = dst;
        dst = t;
    }
    if (src != v) memcpy(v, src, n * sizeof *v);
    free(tmp);
    free(cnt);
    return true;
}

/* Whether v[0..n) (keys agree before depth) is already in order. Many
 * runs are: a rebuild keeps each index's writes in log order, and most
 * indexes are keyed by a sequence number or a time. One pass over the
 * keys in their present order, cheaper than a level of the sort. */
static bool ks_in_order(const kb_keyref *v, size_t n, uint32_t depth) {
    for (size_t i = 1; i < n; i++) {
        const kb_keyref *a = &v[i - 1], *b = &v[i];
        uint32_t m = a->key_len < b->key_len ? a->key_len : b->key_len;
        uint32_t j = ks_match(a->key, b->key, depth, m);
        if (j < m) {
            if ((unsigned char)a->key[j] > (unsigned char)b->key[j]) return false;
        } else if (a->key_len != b->key_len ? a->key_len > b->key_len : a->order > b->order) {
            return false;
        }
    }
    return true;
}

/* Sorts v[0..n) (keys agree before depth) by key, then order. A key
 * ranks by its bytes zero-padded without end, then by its length (a key
 * that pads to another's bytes is a prefix of it), so each pass orders by
 * 8 bytes (pfx) past the run's common prefix and sorts again only the runs
 * still tied on keys longer than that. Quicksort gets 2 floor(log2 n)
 * levels before heap sort, as usual. */
static void ks_sort_run(kb_keyref *v, size_t n, uint32_t depth) {
    if (n < 2 || ks_in_order(v, n, depth)) return;
    uint32_t lcp = ks_common_prefix(v, n, depth);
    for (size_t i = 0; i < n; i++) v[i].pfx = ks_bytes8(&v[i], lcp);
    if (n < KS_RADIX_MIN || !ks_radix_sort(v, n)) {
        ks_intro_sort(v, n, 2u * (unsigned)(63 - __builtin_clzll((unsigned long long)n | 1u)));
    }
    for (size_t i = 0, j; i < n; i = j) {
        bool longer = v[i].key_len > lcp + 8;
        for (j = i + 1; j < n && v[j].pfx == v[i].pfx; j++) longer |= v[j].key_len > lcp + 8;
        if (longer && j - i > 1) ks_sort_run(v + i, j - i, lcp + 8);
    }
}

/* Compares the keys themselves: pfx is scratch, left unset on runs that
 * were in order already. */
bool kb_keyref_same_key(const kb_keyref *a, const kb_keyref *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

void kb_keyref_sort(kb_keyref *v, size_t n) {
    ks_sort_run(v, n, 0);
}
