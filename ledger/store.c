#include "store.h"

#include <assert.h>
#include <fcntl.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keysort.h"

struct kb_store {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_options_t *cf_opts[KB_CF_COUNT_];
    rocksdb_block_based_table_options_t *table_opts;
    rocksdb_block_based_table_options_t *events_table_opts; /* no bloom filter */
    rocksdb_cache_t *cache;
    rocksdb_filterpolicy_t *bloom; /* owned by table_opts once set */
    rocksdb_column_family_handle_t *cf[KB_CF_COUNT_];
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts_sync;
    rocksdb_writeoptions_t *wopts_nosync;
    bool read_only;
};

/* A batch is an overlay: the writes appended to one buffer, and a hash
 * table of the latest write per (family, key), so reads see uncommitted
 * writes. (An indexed WriteBatchWithIndex did the same with a skip list
 * and cost about 12 % of the writer's time in inserts alone.) The RocksDB
 * WriteBatch is built when the batch is written: only the latest write of
 * each key, sorted by family and key, because memtable inserts in key order
 * reuse the skip list's search path (the commit's largest cost was inserting
 * keys in arrival order). */
typedef struct ovl_entry {
    size_t key_off, val_off; /* into mem */
    uint32_t key_len, val_len;
    uint32_t hash;
    uint8_t cf;
    bool deleted;
} ovl_entry;

struct kb_batch {
    kb_store *store;
    rocksdb_writebatch_t *wb; /* built by kb_store_write */
    kb_keyref *refs;          /* its sort buffer, cap entries: order the
                               * entry's index, aux its family */
    ovl_entry *entries;
    size_t n, cap;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t n_slots;  /* power of two, >= 2 * cap */
    char *mem;
    size_t mem_len, mem_cap;
    size_t sp_n, sp_mem; /* the save point */
    bool sp_set;
    kb_batch *below; /* a sealed batch being written; read after this one */
};

struct kb_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ropts;
    char *upper;
};

static const char *const cf_names[KB_CF_COUNT_] = {
    "events", "streams", "idempotency", "state", "index", "meta",
};

const char *kb_cf_name(kb_cf cf) {
    return (unsigned)cf < KB_CF_COUNT_ ? cf_names[cf] : "?";
}

static void set_err(char *err, size_t n, const char *what, char *rerr) {
    if (err && n) snprintf(err, n, "%s: %s", what, rerr ? rerr : "failed");
    free(rerr);
}

static rocksdb_options_t *family_options(kb_store *s, kb_cf cf, const kb_store_options *o) {
    rocksdb_options_t *fo = rocksdb_options_create();
    size_t wb = o && o->write_buffer_bytes ? o->write_buffer_bytes : 32u * 1024u * 1024u;
    rocksdb_options_set_write_buffer_size(fo, wb);
    rocksdb_options_set_compression(fo, rocksdb_lz4_compression);
    if (cf == KB_CF_EVENTS) {
        rocksdb_options_set_block_based_table_factory(fo, s->events_table_opts);
    } else {
        rocksdb_options_set_block_based_table_factory(fo, s->table_opts);
        /* Most reads on the write path miss (a new payment's state, its
         * idempotency key, a free alias): a whole-key bloom filter on the
         * memtable answers those without walking the skip list. */
        rocksdb_options_set_memtable_prefix_bloom_size_ratio(fo, 0.05);
        rocksdb_options_set_memtable_whole_key_filtering(fo, 1);
    }
    return fo;
}

static void store_free(kb_store *s) {
    for (int i = 0; i < KB_CF_COUNT_; i++) {
        if (s->cf[i]) rocksdb_column_family_handle_destroy(s->cf[i]);
    }
    if (s->db) rocksdb_close(s->db);
    for (int i = 0; i < KB_CF_COUNT_; i++) {
        if (s->cf_opts[i]) rocksdb_options_destroy(s->cf_opts[i]);
    }
    if (s->opts) rocksdb_options_destroy(s->opts);
    if (s->table_opts) rocksdb_block_based_options_destroy(s->table_opts);
    if (s->events_table_opts) rocksdb_block_based_options_destroy(s->events_table_opts);
    if (s->cache) rocksdb_cache_destroy(s->cache);
    if (s->ropts) rocksdb_readoptions_destroy(s->ropts);
    if (s->wopts_sync) rocksdb_writeoptions_destroy(s->wopts_sync);
    if (s->wopts_nosync) rocksdb_writeoptions_destroy(s->wopts_nosync);
    free(s);
}

static void make_options(kb_store *s, kb_open_mode mode, const kb_store_options *o) {
    s->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(s->opts, mode == KB_OPEN_CREATE);
    rocksdb_options_set_create_missing_column_families(s->opts, mode == KB_OPEN_CREATE);
    rocksdb_options_set_max_open_files(s->opts, 512);
    rocksdb_options_set_keep_log_file_num(s->opts, 3);
    /* Bounds the WAL (and so restart time): past this, RocksDB flushes the
     * column families that hold the oldest WAL file alive. */
    rocksdb_options_set_max_total_wal_size(s->opts, 128u * 1024u * 1024u);
    s->cache = rocksdb_cache_create_lru(o && o->block_cache_bytes ? o->block_cache_bytes
                                                                  : 64u * 1024u * 1024u);
    /* Index and filter blocks are partitioned and live in the block cache,
     * so their memory is the cache's, not the log's: a table keeps only
     * its top-level index (one entry per 4 KiB partition) pinned, and the
     * partitions a read needs come through the cache at high priority.
     * (Whole index and filter blocks held by each open table grew peak RSS
     * by about 20 MB per million events; charged whole to the cache, once
     * they outgrew it the write path's reads went to disk and SubmitBatch
     * requests waited up to 10 s in a 15 s benchmark point.) */
    s->table_opts = rocksdb_block_based_options_create();
    s->events_table_opts = rocksdb_block_based_options_create();
    s->bloom = rocksdb_filterpolicy_create_bloom_full(10);
    rocksdb_block_based_options_set_filter_policy(s->table_opts, s->bloom);
    rocksdb_block_based_options_set_partition_filters(s->table_opts, 1);
    rocksdb_block_based_table_options_t *const both[] = {s->table_opts, s->events_table_opts};
    for (int i = 0; i < 2; i++) {
        rocksdb_block_based_table_options_t *t = both[i];
        rocksdb_block_based_options_set_block_cache(t, s->cache);
        rocksdb_block_based_options_set_index_type(
            t, rocksdb_block_based_table_index_type_two_level_index_search);
        rocksdb_block_based_options_set_metadata_block_size(t, 4096);
        rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
        rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(t, 1);
        rocksdb_block_based_options_set_pin_top_level_index_and_filter(t, 1);
        rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
    }
    for (int i = 0; i < KB_CF_COUNT_; i++) s->cf_opts[i] = family_options(s, (kb_cf)i, o);
    s->ropts = rocksdb_readoptions_create();
    s->wopts_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(s->wopts_sync, 1);
    s->wopts_nosync = rocksdb_writeoptions_create();
}

kb_status kb_store_open(const char *dir, kb_open_mode mode, const kb_store_options *o,
                        kb_store **out, char *err, size_t err_n) {
    kb_store *s = calloc(1, sizeof *s);
    if (!s) return KB_ERR_NOMEM;
    make_options(s, mode, o);
    s->read_only = mode == KB_OPEN_READ_ONLY;
    if (mode != KB_OPEN_CREATE) {
        size_t n = 0;
        char *rerr = NULL;
        char **names = rocksdb_list_column_families(s->opts, dir, &n, &rerr);
        if (names) rocksdb_list_column_families_destroy(names, n); /* also on error */
        if (rerr || !names) {
            set_err(err, err_n, "no kasboek store", rerr);
            store_free(s);
            return KB_ERR_NOT_FOUND;
        }
    }
    const char *names[KB_CF_COUNT_ + 1] = {"default"};
    const rocksdb_options_t *fopts[KB_CF_COUNT_ + 1] = {s->opts};
    rocksdb_column_family_handle_t *handles[KB_CF_COUNT_ + 1] = {0};
    for (int i = 0; i < KB_CF_COUNT_; i++) {
        names[i + 1] = cf_names[i];
        fopts[i + 1] = s->cf_opts[i];
    }
    char *rerr = NULL;
    if (s->read_only) {
        s->db = rocksdb_open_for_read_only_column_families(s->opts, dir, KB_CF_COUNT_ + 1, names,
                                                           fopts, handles, 0, &rerr);
    } else {
        s->db = rocksdb_open_column_families(s->opts, dir, KB_CF_COUNT_ + 1, names, fopts, handles,
                                             &rerr);
    }
    if (rerr || !s->db) {
        set_err(err, err_n, "open", rerr);
        s->db = NULL;
        store_free(s);
        return KB_ERR_IO;
    }
    rocksdb_column_family_handle_destroy(handles[0]);
    for (int i = 0; i < KB_CF_COUNT_; i++) s->cf[i] = handles[i + 1];
    *out = s;
    return KB_OK;
}

/* Writes every memtable to SST files, so a clean stop leaves no WAL to
 * replay (restart time) and no log-sized WAL on disk (footprint). */
static void flush_all(kb_store *s) {
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    for (int i = 0; i < KB_CF_COUNT_; i++) {
        char *rerr = NULL;
        rocksdb_flush_cf(s->db, fo, s->cf[i], &rerr);
        free(rerr); /* the WAL still holds it: nothing is lost */
    }
    rocksdb_flushoptions_destroy(fo);
}

void kb_store_close(kb_store *s) {
    if (!s) return;
    if (s->db && !s->read_only) flush_all(s);
    store_free(s);
}

void kb_value_free(kb_value *v) {
    if (v && v->data) {
        rocksdb_free(v->data);
        v->data = NULL;
        v->len = 0;
    }
}

static kb_status ovl_get(kb_batch *b, kb_cf cf, const void *key, size_t key_len, kb_value *out,
                         bool *found);

kb_status kb_store_get(kb_store *s, kb_batch *b, const kb_snapshot *snap, kb_cf cf, const void *key,
                       size_t key_len, kb_value *out) {
    for (; b; b = b->below) {
        bool found = false;
        kb_status st = ovl_get(b, cf, key, key_len, out, &found);
        if (found) return st;
    }
    char *rerr = NULL;
    size_t len = 0;
    char *v;
    if (snap) {
        rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
        rocksdb_readoptions_set_snapshot(ro, (const rocksdb_snapshot_t *)snap);
        v = rocksdb_get_cf(s->db, ro, s->cf[cf], key, key_len, &len, &rerr);
        rocksdb_readoptions_destroy(ro);
    } else {
        v = rocksdb_get_cf(s->db, s->ropts, s->cf[cf], key, key_len, &len, &rerr);
    }
    if (rerr) {
        free(rerr);
        return KB_ERR_IO;
    }
    if (!v) return KB_ERR_NOT_FOUND;
    out->data = v;
    out->len = len;
    return KB_OK;
}

kb_snapshot *kb_store_snapshot(kb_store *s) {
    return (kb_snapshot *)rocksdb_create_snapshot(s->db);
}

void kb_store_snapshot_release(kb_store *s, kb_snapshot *snap) {
    if (snap) rocksdb_release_snapshot(s->db, (const rocksdb_snapshot_t *)snap);
}

/* ------------------------------------------------------------ overlay */

static uint32_t ovl_hash(kb_cf cf, const void *key, size_t len) {
    uint32_t h = 2166136261u ^ (uint32_t)cf; /* FNV-1a */
    const unsigned char *p = key;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static bool ovl_same(const kb_batch *b, const ovl_entry *e, uint32_t h, kb_cf cf, const void *key,
                     size_t len) {
    return e->hash == h && e->cf == (uint8_t)cf && e->key_len == len &&
           memcmp(b->mem + e->key_off, key, len) == 0;
}

/* The slot of (cf, key): the one holding it, or the empty one to use. */
static size_t ovl_slot(const kb_batch *b, uint32_t h, kb_cf cf, const void *key, size_t len) {
    size_t mask = b->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t s = b->slots[i];
        if (s == 0 || ovl_same(b, &b->entries[s - 1], h, cf, key, len)) return i;
    }
}

static void ovl_index(kb_batch *b, size_t idx) {
    const ovl_entry *e = &b->entries[idx];
    size_t slot = ovl_slot(b, e->hash, (kb_cf)e->cf, b->mem + e->key_off, e->key_len);
    b->slots[slot] = (uint32_t)idx + 1;
}

static void ovl_reindex(kb_batch *b) {
    memset(b->slots, 0, b->n_slots * sizeof *b->slots);
    for (size_t i = 0; i < b->n; i++) ovl_index(b, i);
}

static void ovl_reserve(kb_batch *b, size_t bytes) {
    if (b->n == b->cap) {
        size_t cap = b->cap * 2;
        ovl_entry *e = realloc(b->entries, cap * sizeof *e);
        uint32_t *slots = calloc(cap * 2, sizeof *slots);
        kb_keyref *refs = realloc(b->refs, cap * sizeof *refs);
        KB_VERIFY(e && slots && refs && cap <= UINT32_MAX / 2);
        free(b->slots);
        b->refs = refs;
        b->entries = e;
        b->cap = cap;
        b->slots = slots;
        b->n_slots = cap * 2;
        ovl_reindex(b);
    }
    if (b->mem_len + bytes > b->mem_cap) {
        size_t cap = b->mem_cap * 2;
        while (cap < b->mem_len + bytes) cap *= 2;
        char *m = realloc(b->mem, cap);
        KB_VERIFY(m);
        b->mem = m;
        b->mem_cap = cap;
    }
}

static void ovl_add(kb_batch *b, kb_cf cf, const void *key, size_t key_len, const void *val,
                    size_t val_len, bool deleted) {
    KB_VERIFY(key_len <= UINT32_MAX && val_len <= UINT32_MAX);
    ovl_reserve(b, key_len + val_len);
    ovl_entry *e = &b->entries[b->n];
    *e = (ovl_entry){.key_off = b->mem_len,
                     .val_off = b->mem_len + key_len,
                     .key_len = (uint32_t)key_len,
                     .val_len = (uint32_t)val_len,
                     .hash = ovl_hash(cf, key, key_len),
                     .cf = (uint8_t)cf,
                     .deleted = deleted};
    if (key_len) memcpy(b->mem + e->key_off, key, key_len);
    if (val_len) memcpy(b->mem + e->val_off, val, val_len);
    b->mem_len += key_len + val_len;
    ovl_index(b, b->n++);
}

static kb_status ovl_get(kb_batch *b, kb_cf cf, const void *key, size_t key_len, kb_value *out,
                         bool *found) {
    uint32_t h = ovl_hash(cf, key, key_len);
    uint32_t s = b->slots[ovl_slot(b, h, cf, key, key_len)];
    *found = s != 0;
    if (!s) return KB_ERR_NOT_FOUND;
    const ovl_entry *e = &b->entries[s - 1];
    if (e->deleted) return KB_ERR_NOT_FOUND;
    char *v = malloc(e->val_len ? e->val_len : 1); /* freed by kb_value_free */
    if (!v) return KB_ERR_NOMEM;
    memcpy(v, b->mem + e->val_off, e->val_len);
    out->data = v;
    out->len = e->val_len;
    return KB_OK;
}

#define OVL_ENTRIES_INITIAL 1024
#define OVL_MEM_INITIAL     (256u * 1024u)

kb_status kb_batch_alloc(kb_store *s, kb_batch **out) {
    kb_batch *b = calloc(1, sizeof *b);
    if (!b) return KB_ERR_NOMEM;
    b->store = s;
    b->wb = rocksdb_writebatch_create();
    b->cap = OVL_ENTRIES_INITIAL;
    b->n_slots = 2 * OVL_ENTRIES_INITIAL;
    b->mem_cap = OVL_MEM_INITIAL;
    b->entries = malloc(b->cap * sizeof *b->entries);
    b->refs = malloc(b->cap * sizeof *b->refs);
    b->slots = calloc(b->n_slots, sizeof *b->slots);
    b->mem = malloc(b->mem_cap);
    if (!b->wb || !b->entries || !b->refs || !b->slots || !b->mem) {
        kb_batch_free(b);
        return KB_ERR_NOMEM;
    }
    *out = b;
    return KB_OK;
}

void kb_batch_free(kb_batch *b) {
    if (!b) return;
    if (b->wb) rocksdb_writebatch_destroy(b->wb);
    free(b->entries);
    free(b->refs);
    free(b->slots);
    free(b->mem);
    free(b);
}

void kb_batch_clear(kb_batch *b) {
    if (b->n) memset(b->slots, 0, b->n_slots * sizeof *b->slots);
    b->n = 0;
    b->mem_len = 0;
    b->sp_set = false;
}

void kb_batch_put(kb_batch *b, kb_cf cf, const void *key, size_t key_len, const void *val,
                  size_t val_len) {
    ovl_add(b, cf, key, key_len, val, val_len, false);
}

void kb_batch_delete(kb_batch *b, kb_cf cf, const void *key, size_t key_len) {
    ovl_add(b, cf, key, key_len, NULL, 0, true);
}

void kb_batch_savepoint(kb_batch *b) {
    b->sp_n = b->n;
    b->sp_mem = b->mem_len;
    b->sp_set = true;
}

kb_status kb_batch_rollback(kb_batch *b) {
    if (!b->sp_set) return KB_ERR_STATE;
    b->sp_set = false;
    b->n = b->sp_n;
    b->mem_len = b->sp_mem;
    ovl_reindex(b); /* rare: only after a failed command */
    return KB_OK;
}

void kb_batch_set_below(kb_batch *b, kb_batch *below) {
    KB_VERIFY(below != b && (!below || !below->below));
    b->below = below;
}

int kb_batch_count(kb_batch *b) {
    return (int)b->n;
}

size_t kb_batch_bytes(kb_batch *b) {
    return b->mem_len + b->n * 8; /* about what RocksDB's batch will hold */
}

/* The RocksDB batch of b: each key's latest write, in (family, key) order
 * (the families counted apart, then each one's keys by kb_keyref_sort).
 * Reads b only, so a reader of b may run at the same time. */
static void build_writebatch(kb_batch *b) {
    size_t at[KB_CF_COUNT_ + 1] = {0};
    for (size_t i = 0; i < b->n_slots; i++) {
        if (b->slots[i]) at[b->entries[b->slots[i] - 1].cf + 1]++;
    }
    for (int cf = 0; cf < KB_CF_COUNT_; cf++) at[cf + 1] += at[cf];
    size_t next[KB_CF_COUNT_];
    memcpy(next, at, sizeof next);
    for (size_t i = 0; i < b->n_slots; i++) {
        uint32_t s = b->slots[i];
        if (!s) continue;
        const ovl_entry *e = &b->entries[s - 1];
        b->refs[next[e->cf]++] = (kb_keyref){
            .key = b->mem + e->key_off, .key_len = e->key_len, .order = s - 1, .aux = e->cf};
    }
    rocksdb_writebatch_clear(b->wb);
    for (int cf = 0; cf < KB_CF_COUNT_; cf++) {
        kb_keyref_sort(b->refs + at[cf], at[cf + 1] - at[cf]);
    }
    for (size_t i = 0; i < at[KB_CF_COUNT_]; i++) {
        const ovl_entry *e = &b->entries[b->refs[i].order];
        rocksdb_column_family_handle_t *cf = b->store->cf[e->cf];
        if (e->deleted) {
            rocksdb_writebatch_delete_cf(b->wb, cf, b->mem + e->key_off, e->key_len);
        } else {
            rocksdb_writebatch_put_cf(b->wb, cf, b->mem + e->key_off, e->key_len,
                                      b->mem + e->val_off, e->val_len);
        }
    }
}

kb_status kb_store_write(kb_store *s, kb_batch *b, bool sync) {
    if (s->read_only) return KB_ERR_STATE;
    char *rerr = NULL;
    build_writebatch(b);
    rocksdb_write(s->db, sync ? s->wopts_sync : s->wopts_nosync, b->wb, &rerr);
    if (rerr) {
        free(rerr);
        return KB_ERR_IO;
    }
    return KB_OK;
}

kb_iter *kb_iter_open(kb_store *s, const kb_snapshot *snap, kb_cf cf, const void *upper,
                      size_t upper_len) {
    kb_iter *it = calloc(1, sizeof *it);
    if (!it) return NULL;
    it->ropts = rocksdb_readoptions_create();
    if (snap) rocksdb_readoptions_set_snapshot(it->ropts, (const rocksdb_snapshot_t *)snap);
    if (upper) {
        it->upper = malloc(upper_len ? upper_len : 1);
        if (!it->upper) {
            rocksdb_readoptions_destroy(it->ropts);
            free(it);
            return NULL;
        }
        memcpy(it->upper, upper, upper_len);
        rocksdb_readoptions_set_iterate_upper_bound(it->ropts, it->upper, upper_len);
    }
    it->it = rocksdb_create_iterator_cf(s->db, it->ropts, s->cf[cf]);
    return it;
}

void kb_iter_close(kb_iter *it) {
    if (!it) return;
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ropts);
    free(it->upper);
    free(it);
}

void kb_iter_seek(kb_iter *it, const void *key, size_t key_len) {
    rocksdb_iter_seek(it->it, key, key_len);
}
void kb_iter_seek_for_prev(kb_iter *it, const void *key, size_t key_len) {
    rocksdb_iter_seek_for_prev(it->it, key, key_len);
}
void kb_iter_seek_first(kb_iter *it) {
    rocksdb_iter_seek_to_first(it->it);
}
void kb_iter_seek_last(kb_iter *it) {
    rocksdb_iter_seek_to_last(it->it);
}
bool kb_iter_valid(kb_iter *it) {
    return rocksdb_iter_valid(it->it) != 0;
}
void kb_iter_next(kb_iter *it) {
    rocksdb_iter_next(it->it);
}
void kb_iter_prev(kb_iter *it) {
    rocksdb_iter_prev(it->it);
}
const char *kb_iter_key(kb_iter *it, size_t *len) {
    return rocksdb_iter_key(it->it, len);
}
const char *kb_iter_value(kb_iter *it, size_t *len) {
    return rocksdb_iter_value(it->it, len);
}
kb_status kb_iter_status(kb_iter *it) {
    char *rerr = NULL;
    rocksdb_iter_get_error(it->it, &rerr);
    if (rerr) {
        free(rerr);
        return KB_ERR_IO;
    }
    return KB_OK;
}

kb_status kb_store_checkpoint(kb_store *s, const char *dir, char *err, size_t err_n) {
    char *rerr = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(s->db, &rerr);
    if (rerr) {
        set_err(err, err_n, "checkpoint", rerr);
        return KB_ERR_IO;
    }
    rocksdb_checkpoint_create(cp, dir, 0, &rerr);
    rocksdb_checkpoint_object_destroy(cp);
    if (rerr) {
        set_err(err, err_n, "checkpoint", rerr);
        return KB_ERR_IO;
    }
    return KB_OK;
}

/* Measured on a 1M-event log: 256 KiB-1 MiB used the least CPU; larger
 * readahead costs more in the kernel's copies. */
#define KB_SEQ_READAHEAD_BYTES (1024u * 1024u) /* 256 KiB-2 MiB measured alike */

kb_iter *kb_iter_open_seq(kb_store *s, const kb_snapshot *snap, kb_cf cf, bool verify) {
    kb_iter *it = kb_iter_open(s, snap, cf, NULL, 0);
    if (!it) return NULL;
    rocksdb_iter_destroy(it->it); /* remade with the options below */
    rocksdb_readoptions_set_readahead_size(it->ropts, KB_SEQ_READAHEAD_BYTES);
    rocksdb_readoptions_set_fill_cache(it->ropts, 0);
    rocksdb_readoptions_set_verify_checksums(it->ropts, verify);
    it->it = rocksdb_create_iterator_cf(s->db, it->ropts, s->cf[cf]);
    return it;
}

struct kb_sst {
    rocksdb_sstfilewriter_t *w;
    rocksdb_envoptions_t *env;
    rocksdb_options_t *opts;
    bool failed;
};

void kb_sst_free(kb_sst *w) {
    if (!w) return;
    if (w->w) rocksdb_sstfilewriter_destroy(w->w);
    if (w->env) rocksdb_envoptions_destroy(w->env);
    if (w->opts) rocksdb_options_destroy(w->opts);
    free(w);
}

kb_status kb_sst_open(kb_store *s, const char *path, kb_sst **out) {
    kb_sst *w = calloc(1, sizeof *w);
    if (!w) return KB_ERR_NOMEM;
    w->env = rocksdb_envoptions_create();
    w->opts = rocksdb_options_create();
    rocksdb_options_set_block_based_table_factory(w->opts, s->table_opts);
    rocksdb_options_set_compression(w->opts, rocksdb_no_compression);
    w->w = rocksdb_sstfilewriter_create(w->env, w->opts);
    char *rerr = NULL;
    rocksdb_sstfilewriter_open(w->w, path, &rerr);
    if (rerr) {
        free(rerr);
        kb_sst_free(w);
        return KB_ERR_IO;
    }
    *out = w;
    return KB_OK;
}

static void sst_check(kb_sst *w, char *rerr) {
    if (!rerr) return;
    w->failed = true;
    free(rerr);
}

void kb_sst_put(kb_sst *w, const void *key, size_t key_len, const void *val, size_t val_len) {
    char *rerr = NULL;
    if (!w->failed) rocksdb_sstfilewriter_put(w->w, key, key_len, val, val_len, &rerr);
    sst_check(w, rerr);
}

void kb_sst_delete(kb_sst *w, const void *key, size_t key_len) {
    char *rerr = NULL;
    if (!w->failed) rocksdb_sstfilewriter_delete(w->w, key, key_len, &rerr);
    sst_check(w, rerr);
}

kb_status kb_sst_finish(kb_sst *w) {
    char *rerr = NULL;
    if (!w->failed) rocksdb_sstfilewriter_finish(w->w, &rerr);
    sst_check(w, rerr);
    kb_status st = w->failed ? KB_ERR_IO : KB_OK;
    kb_sst_free(w);
    return st;
}

/* The file writer drops what it wrote from the page cache as it goes (the
 * C API cannot turn that off), and ingesting with move_files links the
 * file into the store and unlinks path. So the file is opened before it
 * moves, and once it is in, read back ahead in the background through
 * that descriptor: the rebuild's next chunks read states from it at
 * once, and the reads of a file the kernel dropped each went to the disk
 * (437 MB read back during a rebuild of 1M events). path must be on the
 * store's file system (the rebuild's table files are made in its data
 * dir): elsewhere RocksDB copies the file, and the read-back is of the
 * copy's source. */
kb_status kb_store_ingest(kb_store *s, kb_cf cf, const char *path) {
    if (s->read_only) return KB_ERR_STATE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
    rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
    char *rerr = NULL;
    const char *files[1] = {path};
    rocksdb_ingest_external_file_cf(s->db, s->cf[cf], files, 1, io, &rerr);
    rocksdb_ingestexternalfileoptions_destroy(io);
    if (!rerr && fd >= 0) (void)posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
    if (fd >= 0) close(fd);
    if (rerr) {
        free(rerr);
        return KB_ERR_IO;
    }
    return KB_OK;
}

kb_status kb_store_clear(kb_store *s, kb_cf cf) {
    if (s->read_only) return KB_ERR_STATE;
    static const char end[9] = {'\xff', '\xff', '\xff', '\xff', '\xff',
                                '\xff', '\xff', '\xff', '\xff'};
    char *rerr = NULL;
    rocksdb_delete_range_cf(s->db, s->wopts_sync, s->cf[cf], "", 0, end, sizeof end, &rerr);
    if (rerr) {
        free(rerr);
        return KB_ERR_IO;
    }
    return KB_OK;
}

kb_status kb_store_bulk_mode(kb_store *s) {
    if (s->read_only) return KB_ERR_STATE;
    const char *keys[1] = {"disable_auto_compactions"}, *vals[1] = {"true"};
    for (int i = 0; i < KB_CF_COUNT_; i++) {
        char *rerr = NULL;
        rocksdb_set_options_cf(s->db, s->cf[i], 1, keys, vals, &rerr);
        if (rerr) {
            free(rerr);
            return KB_ERR_IO;
        }
    }
    return KB_OK;
}

void kb_be64_put(unsigned char out[8], uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xffu);
        v >>= 8;
    }
}

uint64_t kb_be64_get(const unsigned char in[8]) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | in[i];
    return v;
}
