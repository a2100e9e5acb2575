/* The RocksDB store: column families, point reads (optionally through a
 * pending batch), snapshots, iterators, and the one synced write per commit.
 *
 * Thread safety: a kb_store may be read from many threads at once; a
 * kb_batch belongs to one thread (the writer). */
#ifndef KB_STORE_H
#define KB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum kb_cf {
    KB_CF_EVENTS = 0,  /* seq (8 bytes BE) -> packed EventRecord */
    KB_CF_STREAMS,     /* tenant/type/id/<version hex16> -> seq (8 BE) */
    KB_CF_IDEMPOTENCY, /* tenant/<key> -> fingerprint + packed Response */
    KB_CF_STATE,       /* tenant/type/id -> packed state message */
    KB_CF_INDEX,       /* query, alias and due-date indexes */
    KB_CF_META,        /* head seq, head hash, schema version, clock */
    KB_CF_COUNT_
} kb_cf;

const char *kb_cf_name(kb_cf cf);

typedef struct kb_store kb_store;
typedef struct kb_batch kb_batch;
typedef struct kb_snapshot kb_snapshot;
typedef struct kb_iter kb_iter;

typedef enum kb_open_mode {
    KB_OPEN_CREATE,    /* create the directory and families if missing */
    KB_OPEN_EXISTING,  /* fail with KB_ERR_NOT_FOUND if there is no store */
    KB_OPEN_READ_ONLY, /* existing store, no writes (audits of copies) */
} kb_open_mode;

typedef struct kb_store_options {
    size_t write_buffer_bytes; /* per column family; 0 = default */
    size_t block_cache_bytes;  /* shared; 0 = default */
} kb_store_options;

/* Opens (or creates) the store in dir. opts may be NULL. On failure writes
 * a one-line reason into err (if non-NULL, size err_n). */
kb_status kb_store_open(const char *dir, kb_open_mode mode, const kb_store_options *opts,
                        kb_store **out, char *err, size_t err_n) KB_MUST_USE;
/* Flushes the memtables of a writable store to disk, then closes it. */
void kb_store_close(kb_store *s);

/* A value read from the store; release with kb_value_free. */
typedef struct kb_value {
    char *data;
    size_t len;
} kb_value;
void kb_value_free(kb_value *v);

/* Point read. Reads through batch (uncommitted writes win) when batch is
 * non-NULL, else at snap (NULL = latest). KB_ERR_NOT_FOUND when absent;
 * out is written only on KB_OK. */
kb_status kb_store_get(kb_store *s, kb_batch *batch, const kb_snapshot *snap, kb_cf cf,
                       const void *key, size_t key_len, kb_value *out) KB_MUST_USE;

/* Snapshots: a consistent read view for queries. */
kb_snapshot *kb_store_snapshot(kb_store *s);
void kb_store_snapshot_release(kb_store *s, kb_snapshot *snap);

/* Batches: a write batch that reads (kb_store_get with the batch) see
 * before it commits. */
kb_status kb_batch_alloc(kb_store *s, kb_batch **out) KB_MUST_USE;
void kb_batch_free(kb_batch *b);
void kb_batch_clear(kb_batch *b);
void kb_batch_put(kb_batch *b, kb_cf cf, const void *key, size_t key_len, const void *val,
                  size_t val_len);
void kb_batch_delete(kb_batch *b, kb_cf cf, const void *key, size_t key_len);
/* A save point makes one command's writes undoable within a batch. One
 * level: a new save point replaces the last; rollback returns to it once. */
void kb_batch_savepoint(kb_batch *b);
kb_status kb_batch_rollback(kb_batch *b) KB_MUST_USE;
/* Reads through b fall through to below (may be NULL) before the store:
 * a batch sealed for writing whose writes the store may not show yet.
 * below must not change while it is set. */
void kb_batch_set_below(kb_batch *b, kb_batch *below);
int kb_batch_count(kb_batch *b);
size_t kb_batch_bytes(kb_batch *b);

/* Writes the batch atomically; sync = fdatasync the WAL before returning. */
kb_status kb_store_write(kb_store *s, kb_batch *b, bool sync) KB_MUST_USE;

/* Iterators over one family at snap (NULL = latest), bounded above by
 * upper (exclusive, may be NULL). The iterator copies upper. */
kb_iter *kb_iter_open(kb_store *s, const kb_snapshot *snap, kb_cf cf, const void *upper,
                      size_t upper_len);
void kb_iter_close(kb_iter *it);
void kb_iter_seek(kb_iter *it, const void *key, size_t key_len);
/* The last key <= key. */
void kb_iter_seek_for_prev(kb_iter *it, const void *key, size_t key_len);
void kb_iter_seek_first(kb_iter *it);
void kb_iter_seek_last(kb_iter *it);
bool kb_iter_valid(kb_iter *it);
void kb_iter_next(kb_iter *it);
void kb_iter_prev(kb_iter *it);
/* Pointers valid until the iterator moves or closes. */
const char *kb_iter_key(kb_iter *it, size_t *len);
const char *kb_iter_value(kb_iter *it, size_t *len);
kb_status kb_iter_status(kb_iter *it);

/* A RocksDB checkpoint (hard links where possible) in dir, which must not
 * exist. */
kb_status kb_store_checkpoint(kb_store *s, const char *dir, char *err, size_t err_n) KB_MUST_USE;

/* A sequential scan of one whole family at snap (NULL = latest), for
 * audits that read every record once: large readahead, blocks not kept in
 * the block cache. Block checksums are checked only when verify: leave it
 * off only where the caller checks every byte itself (the events family,
 * whose hash chain covers every byte; a compare of two stores). Same calls
 * as any kb_iter. */
kb_iter *kb_iter_open_seq(kb_store *s, const kb_snapshot *snap, kb_cf cf, bool verify);

/* Bulk loads of a disposable store (replay's scratch store): sorted table
 * files written outside the store and moved into one family, bypassing the
 * memtable. A file's keys must be strictly increasing (bytewise); a later
 * ingested file wins over everything before it, deletes included. Files
 * are uncompressed, with the store's table format (bloom filters). */
typedef struct kb_sst kb_sst;
/* A new file at path (replaced if it exists). */
kb_status kb_sst_open(kb_store *s, const char *path, kb_sst **out) KB_MUST_USE;
void kb_sst_put(kb_sst *w, const void *key, size_t key_len, const void *val, size_t val_len);
void kb_sst_delete(kb_sst *w, const void *key, size_t key_len);
/* Finishes the file (which must hold one entry at least) and frees w;
 * KB_ERR_IO when a put, delete or the finish failed. */
kb_status kb_sst_finish(kb_sst *w) KB_MUST_USE;
/* Frees an unfinished writer (after a failure). */
void kb_sst_free(kb_sst *w);
/* Moves the finished file at path into family cf. */
kb_status kb_store_ingest(kb_store *s, kb_cf cf, const char *path) KB_MUST_USE;
/* Deletes every key of family cf (one range tombstone, synced). Keys are
 * text ids, so none starts with 0xff. */
kb_status kb_store_clear(kb_store *s, kb_cf cf) KB_MUST_USE;
/* Turns automatic compactions off in every family (bulk loads: files pile
 * up in level 0 and are read once). */
kb_status kb_store_bulk_mode(kb_store *s) KB_MUST_USE;

/* Big-endian helpers for keys and values. */
void kb_be64_put(unsigned char out[8], uint64_t v);
uint64_t kb_be64_get(const unsigned char in[8]);

#endif
