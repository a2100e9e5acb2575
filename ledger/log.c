#include "log.h"

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"

/* The fields of one record as byte ranges (no copies). */
typedef kb_log_view rec_view;

static size_t put_u64(unsigned char *p, uint64_t v) {
    kb_be64_put(p, v);
    return 8;
}

static size_t put_len(unsigned char *p, size_t n) {
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    return 4;
}

static size_t put_bytes(unsigned char *p, const void *b, size_t n) {
    size_t o = put_len(p, n);
    if (n) memcpy(p + o, b, n);
    return o + n;
}

/* Every field but the payload, laid out as the hash reads them; the
 * bounds keep it within LOG_HASH_HEAD_BYTES. */
#define LOG_HASH_HEAD_BYTES \
    (KB_HASH_BYTES + 8 + 4 + KB_ID_LEN_MAX + 4 + KB_STREAM_LEN_MAX + 8 + 4 + KB_METHOD_LEN_MAX + 4)

/* Two updates per record (header, payload): the bytes log.h defines, in
 * its order. Every caller checks the bounds first (kb_log_append gets
 * validated ids; decode and check_raw refuse longer fields). */
static void hash_view(const unsigned char prev[KB_HASH_BYTES], const rec_view *v,
                      unsigned char out[KB_HASH_BYTES]) {
    KB_VERIFY(v->tenant_len <= KB_ID_LEN_MAX && v->stream_len <= KB_STREAM_LEN_MAX &&
              v->type_len <= KB_METHOD_LEN_MAX);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, KB_HASH_BYTES);
    unsigned char head[LOG_HASH_HEAD_BYTES];
    size_t n = KB_HASH_BYTES;
    memcpy(head, prev, KB_HASH_BYTES);
    n += put_u64(head + n, v->seq);
    n += put_bytes(head + n, v->tenant, v->tenant_len);
    n += put_bytes(head + n, v->stream, v->stream_len);
    n += put_u64(head + n, v->version);
    n += put_bytes(head + n, v->type, v->type_len);
    n += put_len(head + n, v->payload_len);
    crypto_generichash_update(&st, head, n);
    if (v->payload_len) crypto_generichash_update(&st, v->payload, v->payload_len);
    crypto_generichash_final(&st, out, KB_HASH_BYTES);
}

void kb_log_hash(const unsigned char prev[KB_HASH_BYTES], uint64_t seq, const char *tenant,
                 const char *stream, uint64_t version, const char *type, const uint8_t *payload,
                 size_t payload_len, unsigned char out[KB_HASH_BYTES]) {
    rec_view v = {.seq = seq,
                  .version = version,
                  .tenant = (const uint8_t *)tenant,
                  .tenant_len = strlen(tenant),
                  .stream = (const uint8_t *)stream,
                  .stream_len = strlen(stream),
                  .type = (const uint8_t *)type,
                  .type_len = strlen(type),
                  .payload = payload,
                  .payload_len = payload_len};
    hash_view(prev, &v, out);
}

/* ------------------------------------------ a strict, copy-free scanner */

static bool scan_varint(const uint8_t **p, const uint8_t *end, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* A length-delimited field of EventRecord, by field number; each at most
 * once. */
static bool scan_bytes_field(rec_view *v, uint64_t field, const uint8_t *b, size_t n) {
    const uint8_t **dst[] = {NULL,     NULL,        &v->tenant, &v->stream, NULL,
                             &v->type, &v->payload, &v->prev,   &v->hash};
    size_t *len[] = {NULL,        NULL,         &v->tenant_len,  &v->stream_len,
                     NULL,        &v->type_len, &v->payload_len, &v->prev_len,
                     &v->hash_len};
    if (field >= sizeof dst / sizeof dst[0] || !dst[field] || *dst[field]) return false;
    *dst[field] = b;
    *len[field] = n;
    return true;
}

/* Parses a stored EventRecord without allocating. Strict: only its eight
 * fields, each at most once, with their wire types. */
static bool scan_record(const uint8_t *p, size_t len, rec_view *v) {
    static const uint8_t empty[1];
    const uint8_t *end = p + len;
    memset(v, 0, sizeof *v);
    unsigned seen = 0;
    while (p < end) {
        uint64_t tag, x;
        if (!scan_varint(&p, end, &tag)) return false;
        uint64_t field = tag >> 3;
        if ((tag & 7) == 0 && (field == 1 || field == 4)) {
            if (!scan_varint(&p, end, &x) || (seen & (1u << field))) return false;
            seen |= 1u << field;
            *(field == 1 ? &v->seq : &v->version) = x;
        } else if ((tag & 7) == 2) {
            if (!scan_varint(&p, end, &x) || x > (uint64_t)(end - p)) return false;
            if (!scan_bytes_field(v, field, p, (size_t)x)) return false;
            p += x;
        } else {
            return false;
        }
    }
    const uint8_t **strs[] = {&v->tenant, &v->stream, &v->type, &v->payload};
    for (size_t i = 0; i < 4; i++) {
        if (!*strs[i]) *strs[i] = empty; /* proto3 leaves out empty fields */
    }
    return true;
}

bool kb_log_view_parse(const char *val, size_t len, kb_log_view *out) {
    return scan_record((const uint8_t *)val, len, out);
}

/* kb_log_decode's checks on the raw bytes: seq, bounds, chain, hash. On
 * success copies the record's hash into out (which may alias prev). */
static bool check_raw(const char *val, size_t len, uint64_t seq, const unsigned char *prev,
                      unsigned char out[KB_HASH_BYTES]) {
    rec_view v;
    if (!scan_record((const uint8_t *)val, len, &v)) return false;
    if (v.seq != seq || v.version == 0 || v.prev_len != KB_HASH_BYTES ||
        v.hash_len != KB_HASH_BYTES || v.tenant_len > KB_ID_LEN_MAX ||
        v.stream_len > KB_STREAM_LEN_MAX || v.type_len > KB_METHOD_LEN_MAX ||
        v.payload_len > KB_EVENT_BYTES_MAX || memcmp(v.prev, prev, KB_HASH_BYTES) != 0) {
        return false;
    }
    unsigned char h[KB_HASH_BYTES];
    hash_view(v.prev, &v, h);
    /* Plain memcmp: the chain has no secret, so timing tells nothing. */
    if (memcmp(h, v.hash, KB_HASH_BYTES) != 0) return false;
    memcpy(out, v.hash, KB_HASH_BYTES);
    return true;
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

void kb_log_head_encode(const kb_head *head, unsigned char out[KB_LOG_HEAD_BYTES]) {
    kb_be64_put(out, head->seq);
    memcpy(out + 8, head->hash, KB_HASH_BYTES);
}

void kb_log_head_put(kb_batch *b, const kb_head *head) {
    unsigned char v[KB_LOG_HEAD_BYTES];
    kb_log_head_encode(head, v);
    kb_batch_put(b, KB_CF_META, KB_META_HEAD, strlen(KB_META_HEAD), v, sizeof v);
}

kb_status kb_log_append(kb_batch *b, kb_arena *arena, kb_head *head, const char *tenant,
                        const char *type, const char *id, uint64_t version, const char *event_type,
                        const uint8_t *payload, size_t payload_len) {
    if (payload_len > KB_EVENT_BYTES_MAX) return KB_ERR_LIMIT;
    char *stream = kb_arena_printf(arena, "%s/%s", type, id);
    if (!stream) return KB_ERR_NOMEM;
    if (strlen(tenant) > KB_ID_LEN_MAX || strlen(stream) > KB_STREAM_LEN_MAX ||
        strlen(event_type) > KB_METHOD_LEN_MAX) {
        return KB_ERR_LIMIT;
    }
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

void kb_log_walk_init(kb_log_walk *w) {
    memset(w, 0, sizeof *w);
    w->expect = 1;
}

static kb_status walk_fail(kb_log_walk *w, uint64_t seq, const char *why) {
    w->bad_seq = seq;
    snprintf(w->why, sizeof w->why, "%s", why);
    return KB_ERR_CORRUPT;
}

kb_status kb_log_walk_step(kb_log_walk *w, const char *key, size_t key_len, const char *val,
                           size_t val_len) {
    uint64_t seq = key_len == 8 ? kb_be64_get((const unsigned char *)key) : 0;
    if (seq != w->expect) {
        char why[64];
        snprintf(why, sizeof why, "missing event (next stored key is seq %llu)",
                 (unsigned long long)seq);
        return walk_fail(w, w->expect, why);
    }
    if (!check_raw(val, val_len, seq, w->prev, w->prev)) {
        return walk_fail(w, seq, "record does not match its hash chain");
    }
    w->expect++;
    w->count++;
    return KB_OK;
}

kb_status kb_log_walk_end(kb_log_walk *w, const kb_head *head) {
    uint64_t last = w->expect - 1; /* the last event stored */
    if (last == head->seq && memcmp(w->prev, head->hash, KB_HASH_BYTES) == 0) return KB_OK;
    char why[96];
    snprintf(why, sizeof why, "head (seq %llu) does not match the last event (seq %llu)",
             (unsigned long long)head->seq, (unsigned long long)last);
    uint64_t bad = last < head->seq ? last + 1 : last > head->seq ? head->seq + 1 : head->seq;
    return walk_fail(w, bad, why);
}

static kb_status verify_walk(kb_store *s, const kb_snapshot *snap, const kb_head *head,
                             kb_log_walk *w) {
    kb_iter *it = kb_iter_open_seq(s, snap, KB_CF_EVENTS, false);
    if (!it) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    for (kb_iter_seek_first(it); st == KB_OK && kb_iter_valid(it); kb_iter_next(it)) {
        size_t kl, vl;
        const char *key = kb_iter_key(it, &kl);
        const char *val = kb_iter_value(it, &vl);
        st = kb_log_walk_step(w, key, kl, val, vl);
    }
    if (st == KB_OK && kb_iter_status(it) != KB_OK) st = KB_ERR_IO;
    kb_iter_close(it);
    return st == KB_OK ? kb_log_walk_end(w, head) : st;
}

kb_status kb_log_verify(kb_store *s, uint64_t *count, uint64_t *bad_seq, char *why, size_t why_n) {
    *count = 0;
    *bad_seq = 0;
    why[0] = '\0';
    kb_snapshot *snap = kb_store_snapshot(s);
    kb_head head;
    kb_status st = kb_log_head_read(s, NULL, snap, &head);
    kb_log_walk w;
    kb_log_walk_init(&w);
    if (st == KB_OK) st = verify_walk(s, snap, &head, &w);
    kb_store_snapshot_release(s, snap);
    *count = w.count;
    *bad_seq = w.bad_seq;
    snprintf(why, why_n, "%s", w.why);
    return st;
}
