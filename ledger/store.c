#include "store.h"

#include <assert.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kb_store {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_options_t *cf_opts[KB_CF_COUNT_];
    rocksdb_block_based_table_options_t *table_opts;
    rocksdb_cache_t *cache;
    rocksdb_filterpolicy_t *bloom; /* owned by table_opts once set */
    rocksdb_column_family_handle_t *cf[KB_CF_COUNT_];
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts_sync;
    rocksdb_writeoptions_t *wopts_nosync;
    bool read_only;
};

struct kb_batch {
    kb_store *store;
    rocksdb_writebatch_wi_t *wb;
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
    if (cf != KB_CF_EVENTS) rocksdb_options_set_block_based_table_factory(fo, s->table_opts);
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
    s->table_opts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(s->table_opts, s->cache);
    s->bloom = rocksdb_filterpolicy_create_bloom_full(10);
    rocksdb_block_based_options_set_filter_policy(s->table_opts, s->bloom);
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

kb_status kb_store_get(kb_store *s, kb_batch *b, const kb_snapshot *snap, kb_cf cf, const void *key,
                       size_t key_len, kb_value *out) {
    char *rerr = NULL;
    size_t len = 0;
    char *v;
    if (b) {
        v = rocksdb_writebatch_wi_get_from_batch_and_db_cf(b->wb, s->db, s->ropts, s->cf[cf], key,
                                                           key_len, &len, &rerr);
    } else if (snap) {
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

kb_status kb_batch_alloc(kb_store *s, kb_batch **out) {
    kb_batch *b = calloc(1, sizeof *b);
    if (!b) return KB_ERR_NOMEM;
    b->store = s;
    b->wb = rocksdb_writebatch_wi_create(64 * 1024, 1);
    *out = b;
    return KB_OK;
}

void kb_batch_free(kb_batch *b) {
    if (!b) return;
    rocksdb_writebatch_wi_destroy(b->wb);
    free(b);
}

void kb_batch_clear(kb_batch *b) {
    rocksdb_writebatch_wi_clear(b->wb);
}

void kb_batch_put(kb_batch *b, kb_cf cf, const void *key, size_t key_len, const void *val,
                  size_t val_len) {
    rocksdb_writebatch_wi_put_cf(b->wb, b->store->cf[cf], key, key_len, val, val_len);
}

void kb_batch_delete(kb_batch *b, kb_cf cf, const void *key, size_t key_len) {
    rocksdb_writebatch_wi_delete_cf(b->wb, b->store->cf[cf], key, key_len);
}

void kb_batch_savepoint(kb_batch *b) {
    rocksdb_writebatch_wi_set_save_point(b->wb);
}

kb_status kb_batch_rollback(kb_batch *b) {
    char *rerr = NULL;
    rocksdb_writebatch_wi_rollback_to_save_point(b->wb, &rerr);
    if (rerr) {
        free(rerr);
        return KB_ERR_STATE;
    }
    return KB_OK;
}

int kb_batch_count(kb_batch *b) {
    return rocksdb_writebatch_wi_count(b->wb);
}

size_t kb_batch_bytes(kb_batch *b) {
    size_t n = 0;
    (void)rocksdb_writebatch_wi_data(b->wb, &n);
    return n;
}

kb_status kb_store_write(kb_store *s, kb_batch *b, bool sync) {
    if (s->read_only) return KB_ERR_STATE;
    char *rerr = NULL;
    rocksdb_write_writebatch_wi(s->db, sync ? s->wopts_sync : s->wopts_nosync, b->wb, &rerr);
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
