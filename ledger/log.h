/* The event log: one global gap-free sequence, per-stream versions, and a
 * BLAKE2b-256 hash chain.
 *
 *   hash = BLAKE2b-256(prev_hash[32] || seq(u64 BE) || L(tenant) ||
 *                      L(stream) || version(u64 BE) || L(type) || L(payload))
 *   where L(x) = len(x) as u32 BE || x. The first event's prev_hash is 32
 *   zero bytes. The head (last seq and its hash) is in meta/"head".
 *
 * Every record is checked right after it is read (kb_log_decode: seq, hash,
 * chain, field bounds) and built in one place before it is written
 * (kb_log_append). */
#ifndef KB_LOG_H
#define KB_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "kasboek.pb-c.h"
#include "kb_limits.h"
#include "status.h"
#include "store.h"

typedef struct kb_head {
    uint64_t seq;                      /* 0 = empty log */
    unsigned char hash[KB_HASH_BYTES]; /* zeros for the empty log */
} kb_head;

/* tenant, stream and type must be within KB_ID_LEN_MAX, KB_STREAM_LEN_MAX
 * and KB_METHOD_LEN_MAX (checked: a longer one is a bug, not data). */
void kb_log_hash(const unsigned char prev[KB_HASH_BYTES], uint64_t seq, const char *tenant,
                 const char *stream, uint64_t version, const char *type, const uint8_t *payload,
                 size_t payload_len, unsigned char out[KB_HASH_BYTES]);

/* Reads the head (through batch when non-NULL, else at snap). An empty log
 * gives seq 0 and a zero hash. KB_ERR_CORRUPT if the meta value is bad. */
kb_status kb_log_head_read(kb_store *s, kb_batch *b, const kb_snapshot *snap,
                           kb_head *out) KB_MUST_USE;
void kb_log_head_put(kb_batch *b, const kb_head *head);

/* Appends one event to batch b after head: seq = head->seq + 1, hash
 * chained; puts the record into events and the stream index into streams,
 * and advances *head (the caller writes the head with kb_log_head_put once
 * per batch). stream is "<type>/<id>". The record is packed into scratch
 * memory from arena. */
kb_status kb_log_append(kb_batch *b, kb_arena *arena, kb_head *head, const char *tenant,
                        const char *type, const char *id, uint64_t version, const char *event_type,
                        const uint8_t *payload, size_t payload_len) KB_MUST_USE;

/* Unpacks a stored record (memory from arena) and checks it: seq matches
 * the key, hash recomputes, prev_hash equals prev (when prev non-NULL).
 * KB_ERR_CORRUPT on any mismatch. */
kb_status kb_log_decode(const char *val, size_t len, uint64_t seq, const unsigned char *prev,
                        kb_arena *arena, Kasboek__V1__EventRecord **out) KB_MUST_USE;

/* Reads and checks event seq (prev hash not checked). */
kb_status kb_log_read(kb_store *s, const kb_snapshot *snap, uint64_t seq, kb_arena *arena,
                      Kasboek__V1__EventRecord **out) KB_MUST_USE;

/* The longest record that can check: every field at its bound plus tags
 * and varints. Any longer value fails kb_log_walk_step, so a reader may
 * hand on an empty value in its place (same verdict, same reason). */
#define KB_LOG_RECORD_BYTES_MAX (KB_EVENT_BYTES_MAX + 1024u)

/* One stored record's fields as byte ranges into its value (no copies, no
 * NULs: strings are not terminated). Valid as long as the value is. */
typedef struct kb_log_view {
    uint64_t seq, version;
    const uint8_t *tenant, *stream, *type, *payload, *prev, *hash;
    size_t tenant_len, stream_len, type_len, payload_len, prev_len, hash_len;
} kb_log_view;

/* Parses a stored record strictly (only its fields, each at most once)
 * without checking its hash. false when it does not parse. */
bool kb_log_view_parse(const char *val, size_t len, kb_log_view *out) KB_MUST_USE;

/* kb_log_verify step by step, for callers that read the events family
 * themselves (kasboek-audit's pipelined verify and replay). */
typedef struct kb_log_walk {
    unsigned char prev[KB_HASH_BYTES]; /* hash of the last good record */
    uint64_t expect;                   /* the next seq */
    uint64_t count;                    /* records that checked */
    uint64_t bad_seq;                  /* set on failure */
    char why[128];                     /* set on failure */
} kb_log_walk;

void kb_log_walk_init(kb_log_walk *w);
/* Checks the next stored record (key and value of the events family, in
 * key order): seq follows, fields in bounds, prev_hash chains, hash
 * recomputes. KB_ERR_CORRUPT with bad_seq and why set otherwise. */
kb_status kb_log_walk_step(kb_log_walk *w, const char *key, size_t key_len, const char *val,
                           size_t val_len) KB_MUST_USE;
/* After the last record: the stored head must name it. */
kb_status kb_log_walk_end(kb_log_walk *w, const kb_head *head) KB_MUST_USE;

#define KB_LOG_HEAD_BYTES (8 + KB_HASH_BYTES)
/* The meta "head" value kb_log_head_put writes. */
void kb_log_head_encode(const kb_head *head, unsigned char out[KB_LOG_HEAD_BYTES]);

/* Walks the chain from seq 1 up to the stored head. Returns KB_OK when every
 * record checks and the head matches; otherwise the first bad seq in
 * *bad_seq and a reason in why. *count = events checked. */
kb_status kb_log_verify(kb_store *s, uint64_t *count, uint64_t *bad_seq, char *why,
                        size_t why_n) KB_MUST_USE;

#endif
