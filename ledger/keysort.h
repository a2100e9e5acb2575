/* Sorting store keys by their bytes, fast. A key ranks as memcmp ranks it,
 * a key before every longer key it is a prefix of; equal keys rank by
 * order. Used where a batch of writes goes to RocksDB (a memtable takes
 * keys in order much faster) and where a rebuild writes table files (which
 * take them only in order). Keys of one family share long prefixes
 * ("tenant/payment/by/status/..."), so comparing them with memcmp spends
 * most of its time on bytes that are equal; this sort skips the run's
 * common prefix and compares 8 bytes at a time as one integer. A run that
 * is in order already (a rebuild's rows of one index, keyed by sequence
 * or time) is checked in one pass and left as it is. */
#ifndef KB_KEYSORT_H
#define KB_KEYSORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kb_keyref {
    uint64_t pfx; /* the sort's own scratch: 8 key bytes past a common prefix */
    const char *key;
    uint32_t key_len;
    uint32_t order; /* equal keys: the lower order first */
    uint32_t aux;   /* the caller's */
} kb_keyref;        /* 32 bytes: the sort moves it directly */

/* Sorts v[0..n). Equal keys must come in v in increasing order. Needs no
 * memory beyond v for n below 16,384; above, it tries a radix sort's
 * buffers (and sorts in place without them when they cannot be had). */
void kb_keyref_sort(kb_keyref *v, size_t n);

/* Whether a's and b's keys are equal (byte for byte). */
bool kb_keyref_same_key(const kb_keyref *a, const kb_keyref *b);

#endif
