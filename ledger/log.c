#include "log.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"

static void hash_u64(crypto_generichash_state *st, uint64_t v) {
    unsigned char b[8];
    kb_be64_put(b, v);
    crypto_generichash_update(st, b, 8);
}

static void hash_bytes(crypto_generichash_state *st, const void *p, size_t n) {
    unsigned char b[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    crypto_generichash_update(st, b, 4);
    if (n) crypto_generichash_update(st, p, n);
}

void kb_log_hash(const unsigned char prev[KB_HASH_BYTES], uint64_t seq, const char *tenant,
                 const char *stream, uint64_t version, const char *type, const uint8_t *payload,
                 size_t payload_len, unsigned char out[KB_HASH_BYTES]) {
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, KB_HASH_BYTES);
    crypto_generichash_update(&st, prev, KB_HASH_BYTES);
    hash_u64(&st, seq);
    hash_bytes(&st, tenant, strlen(tenant));
    hash_bytes(&st, stream, strlen(stream));
    hash_u64(&st, version);
    hash_bytes(&st, type, strlen(type));
    hash_bytes(&st, payload, payload_len);
    crypto_generichash_final(&st, out, KB_HASH_BYTES);
}

kb_status kb_log_head_read(kb_store *s, kb_batch *b, const kb_snapshot *snap, kb_head *out) {
    kb_value v;
    kb_status st = kb_store_get(s, b, snap, KB_CF_META, KB_META_HEAD, strlen(KB_META_HEAD), &v);
    if (st == KB_ERR_NOT_FOUND) {
        memset(out, 0, sizeof *out);
        return KB_OK;
    }
    if (st != KB_OK) return st;
    if (v.len != 8 + KB_HASH_BYTES) {
        kb_value_free(&v);
        return KB_ERR_CORRUPT;
    }
    out->seq = kb_be64_get((const unsigned char *)v.data);
    memcpy(out->hash, v.data + 8, KB_HASH_BYTES);
    kb_value_free(&v);
    return KB_OK;
}

void kb_log_head_put(kb_batch *b, const kb_head *head) {
    unsigned char v[8 + KB_HASH_BYTES];
    kb_be64_put(v, head->seq);
    memcpy(v + 8, head->hash, KB_HASH_BYTES);
    kb_batch_put(b, KB_CF_META, KB_META_HEAD, strlen(KB_META_HEAD), v, sizeof v);
}

kb_status kb_log_append(kb_batch *b, kb_arena *arena, kb_head *head, const char *tenant,
                        const char *type, const char *id, uint64_t version, const char *event_type,
                        const uint8_t *payload, size_t payload_len) {
    if (payload_len > KB_EVENT_BYTES_MAX) return KB_ERR_LIMIT;
    char *stream = kb_arena_printf(arena, "%s/%s", type, id);
    if (!stream) return KB_ERR_NOMEM;
    Kasboek__V1__EventRecord rec = KASBOEK__V1__EVENT_RECORD__INIT;
    unsigned char hash[KB_HASH_BYTES];
    rec.seq = head->seq + 1;
    rec.tenant = (char *)tenant;
    rec.stream = stream;
    rec.version = version;
    rec.type = (char *)event_type;
    rec.payload.data = (uint8_t *)payload;
    rec.payload.len = payload_len;
    rec.prev_hash.data = head->hash;
    rec.prev_hash.len = KB_HASH_BYTES;
    kb_log_hash(head->hash, rec.seq, tenant, stream, version, event_type, payload, payload_len,
                hash);
    rec.hash.data = hash;
    rec.hash.len = KB_HASH_BYTES;
    size_t n = kasboek__v1__event_record__get_packed_size(&rec);
    uint8_t *buf = kb_arena_alloc(arena, n);
    if (!buf) return KB_ERR_NOMEM;
    if (kasboek__v1__event_record__pack(&rec, buf) != n) return KB_ERR_CORRUPT;
    kb_key k;
    kb_key_event(&k, rec.seq);
    kb_batch_put(b, KB_CF_EVENTS, k.bytes, k.len, buf, n);
    unsigned char seqv[8];
    kb_be64_put(seqv, rec.seq);
    kb_key_stream(&k, tenant, type, id, version);
    kb_batch_put(b, KB_CF_STREAMS, k.bytes, k.len, seqv, 8);
    head->seq = rec.seq;
    memcpy(head->hash, hash, KB_HASH_BYTES);
    return KB_OK;
}

kb_status kb_log_decode(const char *val, size_t len, uint64_t seq, const unsigned char *prev,
                        kb_arena *arena, Kasboek__V1__EventRecord **out) {
    Kasboek__V1__EventRecord *rec =
        kasboek__v1__event_record__unpack(&arena->pb, len, (const uint8_t *)val);
    if (!rec) return KB_ERR_CORRUPT;
    if (rec->seq != seq || rec->prev_hash.len != KB_HASH_BYTES || rec->hash.len != KB_HASH_BYTES ||
        rec->version == 0) {
        return KB_ERR_CORRUPT;
    }
    /* Bounds stay checked in release builds: the chain has no secret, so a
     * record that hashes right may still have been written by hand. */
    if (strlen(rec->tenant) > KB_ID_LEN_MAX || strlen(rec->stream) > KB_STREAM_LEN_MAX ||
        strlen(rec->type) > KB_METHOD_LEN_MAX || rec->payload.len > KB_EVENT_BYTES_MAX) {
        return KB_ERR_CORRUPT;
    }
    if (prev && memcmp(prev, rec->prev_hash.data, KB_HASH_BYTES) != 0) return KB_ERR_CORRUPT;
    unsigned char h[KB_HASH_BYTES];
    kb_log_hash(rec->prev_hash.data, rec->seq, rec->tenant, rec->stream, rec->version, rec->type,
                rec->payload.data, rec->payload.len, h);
    if (sodium_memcmp(h, rec->hash.data, KB_HASH_BYTES) != 0) return KB_ERR_CORRUPT;
    *out = rec;
    return KB_OK;
}

kb_status kb_log_read(kb_store *s, const kb_snapshot *snap, uint64_t seq, kb_arena *arena,
                      Kasboek__V1__EventRecord **out) {
    kb_key k;
    kb_key_event(&k, seq);
    kb_value v;
    kb_status st = kb_store_get(s, NULL, snap, KB_CF_EVENTS, k.bytes, k.len, &v);
    if (st != KB_OK) return st;
    st = kb_log_decode(v.data, v.len, seq, NULL, arena, out);
    kb_value_free(&v);
    return st;
}

static kb_status verify_walk(kb_store *s, const kb_snapshot *snap, const kb_head *head,
                             uint64_t *count, uint64_t *bad_seq, char *why, size_t why_n) {
    kb_arena arena;
    kb_arena_init(&arena, KB_EVENT_BYTES_MAX * 4);
    kb_iter *it = kb_iter_open(s, snap, KB_CF_EVENTS, NULL, 0);
    if (!it) return KB_ERR_NOMEM;
    unsigned char prev[KB_HASH_BYTES] = {0};
    uint64_t expect = 1;
    kb_status st = KB_OK;
    for (kb_iter_seek_first(it); kb_iter_valid(it); kb_iter_next(it), expect++) {
        size_t kl, vl;
        const char *key = kb_iter_key(it, &kl);
        const char *val = kb_iter_value(it, &vl);
        uint64_t seq = kl == 8 ? kb_be64_get((const unsigned char *)key) : 0;
        Kasboek__V1__EventRecord *rec;
        kb_arena_reset(&arena);
        if (seq != expect) {
            *bad_seq = expect;
            snprintf(why, why_n, "missing event (next stored key is seq %llu)",
                     (unsigned long long)seq);
            st = KB_ERR_CORRUPT;
            break;
        }
        if (kb_log_decode(val, vl, seq, prev, &arena, &rec) != KB_OK) {
            *bad_seq = seq;
            snprintf(why, why_n, "record does not match its hash chain");
            st = KB_ERR_CORRUPT;
            break;
        }
        memcpy(prev, rec->hash.data, KB_HASH_BYTES);
        (*count)++;
    }
    if (st == KB_OK && kb_iter_status(it) != KB_OK) st = KB_ERR_IO;
    kb_iter_close(it);
    kb_arena_fini(&arena);
    if (st == KB_OK && (expect - 1 != head->seq || memcmp(prev, head->hash, KB_HASH_BYTES))) {
        uint64_t last = expect - 1; /* the last event stored */
        *bad_seq = last < head->seq ? expect : last > head->seq ? head->seq + 1 : head->seq;
        snprintf(why, why_n, "head (seq %llu) does not match the last event (seq %llu)",
                 (unsigned long long)head->seq, (unsigned long long)(expect - 1));
        st = KB_ERR_CORRUPT;
    }
    return st;
}

kb_status kb_log_verify(kb_store *s, uint64_t *count, uint64_t *bad_seq, char *why, size_t why_n) {
    *count = 0;
    *bad_seq = 0;
    why[0] = '\0';
    kb_snapshot *snap = kb_store_snapshot(s);
    kb_head head;
    kb_status st = kb_log_head_read(s, NULL, snap, &head);
    if (st == KB_OK) st = verify_walk(s, snap, &head, count, bad_seq, why, why_n);
    kb_store_snapshot_release(s, snap);
    return st;
}
