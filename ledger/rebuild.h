/* Rebuilding the projections from the log, as a chunked in-memory fold
 * (kasboek-audit replay).
 *
 * Records are folded in chunks (a count and a byte bound). Within a chunk
 * each touched aggregate's state stays unpacked in a hash map: it is read
 * from the store only on its first touch in the chunk and evolved in
 * memory with the aggregate's own evolve(). At the chunk's end the chunk
 * writes each touched state once, its net index changes (the entries of
 * the state as loaded against those of the final state, with the same diff
 * as the engine: kb_project_save_to), in the order of each aggregate's
 * last event (so where two aggregates write the same key the later one
 * wins), the stream index entry of every event and the head.
 *
 * Memory is bounded by the chunk, not by the log: two chunks take turns,
 * each with an arena that holds its events, states and kept writes (evolve
 * keeps pointers into the unpacked events, so both live as long as their
 * chunk). A chunk ends at chunk_events events or when its arena and kept
 * writes reach chunk_bytes; saving it may take as much again (the packed
 * rows). While one chunk is written the next one folds (with start/join:
 * on another thread), and a state it touches first is read from the
 * chunk before when that chunk saved it, else from the store; so at most
 * two chunks are held, about 4 x chunk_bytes.
 *
 * A chunk's writes, sorted and with only the last write of each key kept (a
 * delete as a tombstone), go into one table file per family that is then
 * ingested, bypassing the memtable: a later chunk's file wins over an
 * earlier one.
 *
 * A version-1 event starts its stream afresh (the engine writes one only
 * for a stream that has no state), so it reads nothing from the store. */
#ifndef KB_REBUILD_H
#define KB_REBUILD_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "store.h"

#define KB_REBUILD_CHUNK_EVENTS_DEFAULT 65536
#define KB_REBUILD_CHUNK_EVENTS_MAX     (1u << 20)
#define KB_REBUILD_CHUNK_BYTES          (64u * 1024u * 1024u) /* memory use that ends a chunk */
#define KB_REBUILD_CHUNK_BYTES_MIN      (1024u * 1024u)

typedef struct kb_rebuild kb_rebuild;

/* Where and why the last call failed. */
typedef struct kb_rebuild_fail {
    uint64_t seq;      /* the event it is charged to (0: none); for a chunk
                        * whose write failed, its last event */
    bool write_failed; /* writing the store failed (else folding the event) */
} kb_rebuild_fail;

typedef struct kb_rebuild_config {
    size_t chunk_events; /* 1..KB_REBUILD_CHUNK_EVENTS_MAX */
    size_t chunk_bytes;  /* memory use that ends a chunk; 0: KB_REBUILD_CHUNK_BYTES */
    /* Where each chunk's table files are made (kb_sst_*, kb_store_ingest):
     * a directory on the store's file system. */
    const char *sst_dir;
    /* Runs task(arg, 0..n-1), on other threads as well if it
     * likes, and returns when all are done (ledger/ starts no threads).
     * NULL: one after another. */
    void (*run)(void *run_ctx, void (*task)(void *arg, size_t i), void *arg, size_t n);
    /* Starts task(arg), on another thread if it likes, and returns; join
     * returns when it is done. At most one runs at a time; its task may
     * call run. Both NULL: each chunk is written before the next folds. */
    void (*start)(void *run_ctx, void (*task)(void *arg), void *arg);
    void (*join)(void *run_ctx);
    void *run_ctx;
    /* Leave the store's head key alone (a rebuild in place: the log's own
     * head stays, and is checked against the fold, not written by it). */
    bool keep_head;
} kb_rebuild_config;

/* Folds into s (an empty store, written only through this). KB_ERR_ARG
 * when chunk_events is out of range, chunk_bytes below
 * KB_REBUILD_CHUNK_BYTES_MIN, sst_dir missing, or only one of start and
 * join given. */
kb_status kb_rebuild_open(kb_store *s, const kb_rebuild_config *cfg, kb_rebuild **out) KB_MUST_USE;
void kb_rebuild_free(kb_rebuild *r);

/* Folds one record that checked (kb_log_walk_step) and whose tenant,
 * stream and type hold no NUL; writes the chunk first when it is full.
 * KB_ERR_CORRUPT: the stream names no known aggregate, or its payload or
 * stored state does not decode. Other codes: the environment's. */
kb_status kb_rebuild_add(kb_rebuild *r, const kb_log_view *v) KB_MUST_USE;

/* Writes the open chunk (nothing when empty) and waits until every chunk
 * is in the store. */
kb_status kb_rebuild_flush(kb_rebuild *r) KB_MUST_USE;

/* The last record folded (seq 0: none). */
const kb_head *kb_rebuild_head(const kb_rebuild *r);
/* After a failure: where and why. */
kb_rebuild_fail kb_rebuild_failure(const kb_rebuild *r);

/* Rebuilds the projections of s in place from its own log: the state,
 * index and streams families are cleared, then the log is folded into them
 * as above (its chain checked on the way; KB_ERR_CORRUPT at a bad record),
 * with cfg's sst_dir and threads (chunk_events 0:
 * KB_REBUILD_CHUNK_EVENTS_DEFAULT). *events: the events folded. A crash
 * part way leaves the schema key untouched, so the next open does it
 * again. */
kb_status kb_reproject(kb_store *s, const kb_rebuild_config *cfg, uint64_t *events) KB_MUST_USE;

typedef struct kb_schema_check {
    uint32_t found;   /* the store's schema (1: no key, written before it was kept) */
    bool reprojected; /* the log was folded again */
    uint64_t events;
} kb_schema_check;

/* The schema s's projections were written with (1 when it has no key):
 * a store of another version than KB_SCHEMA_VERSION has rows this build
 * would not write (kasboekd reprojects it on open; an audit refuses to
 * compare it). */
kb_status kb_schema_version(kb_store *s, uint32_t *out) KB_MUST_USE;

/* Makes s's projections those of KB_SCHEMA_VERSION: writes the version
 * into an empty store, reprojects a store of an older one (kb_reproject
 * with cfg: its sst_dir an existing directory for the fold's table files),
 * and refuses (KB_ERR_STATE) one written by a newer build. A log whose
 * chain does not end at the stored head is KB_ERR_CORRUPT, the head left
 * as it was. */
kb_status kb_projections_ensure(kb_store *s, const kb_rebuild_config *cfg,
                                kb_schema_check *out) KB_MUST_USE;

#endif
