#include "project.h"

#include <assert.h>
#include <string.h>

#include "inspect.h"

bool kb_index_set_add(kb_index_set *s, const kb_key *key, const char *value) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct kb_index_entry *e = kb_arena_alloc(s->arena, cap * sizeof *e);
        if (!e) return false;
        if (s->n) memcpy(e, s->entries, s->n * sizeof *e);
        s->entries = e;
        s->cap = cap;
    }
    char *k = kb_arena_alloc(s->arena, key->len ? key->len : 1);
    if (!k) return false;
    memcpy(k, key->bytes, key->len);
    s->entries[s->n].key = k;
    s->entries[s->n].key_len = key->len;
    s->entries[s->n].value = value ? value : "";
    s->n++;
    return true;
}

void kb_key_alias(kb_key *k, const char *tenant, const char *kind, const char *alias_id) {
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, "alias");
    kb_key_add(k, kind);
    kb_key_add(k, alias_id);
}

kb_status kb_project_load(kb_store *s, kb_batch *b, const kb_snapshot *snap, kb_arena *a,
                          const char *tenant, const kb_aggregate *agg, const char *id,
                          ProtobufCMessage **out) {
    kb_key k;
    kb_key_state(&k, tenant, agg->type, id);
    kb_value v;
    kb_status st = kb_store_get(s, b, snap, KB_CF_STATE, k.bytes, k.len, &v);
    if (st != KB_OK) return st;
    ProtobufCMessage *m =
        protobuf_c_message_unpack(agg->state_desc, &a->pb, v.len, (const uint8_t *)v.data);
    kb_value_free(&v);
    if (!m) return KB_ERR_CORRUPT;
    *out = m;
    return KB_OK;
}

kb_status kb_project_load_or_create(kb_store *s, kb_batch *b, const kb_snapshot *snap, kb_arena *a,
                                    const char *tenant, const kb_aggregate *agg, const char *id,
                                    ProtobufCMessage **out) {
    kb_status st = kb_project_load(s, b, snap, a, tenant, agg, id, out);
    if (st == KB_ERR_NOT_FOUND) {
        *out = agg->create(a, id);
        st = *out ? KB_OK : KB_ERR_NOMEM;
    }
    return st;
}

kb_status kb_project_index(const kb_aggregate *agg, const ProtobufCMessage *state,
                           const char *tenant, kb_arena *a, kb_index_set *out) {
    memset(out, 0, sizeof *out);
    out->arena = a;
    if (!state) return KB_OK;
    return agg->index(state, tenant, out) ? KB_OK : KB_ERR_NOMEM;
}

static bool same_key(const struct kb_index_entry *a, const struct kb_index_entry *b) {
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

static bool set_has(const kb_index_set *s, const struct kb_index_entry *e) {
    for (size_t i = 0; i < s->n; i++) {
        if (same_key(&s->entries[i], e) && strcmp(s->entries[i].value, e->value) == 0) return true;
    }
    return false;
}

static bool set_has_key(const kb_index_set *s, const struct kb_index_entry *e) {
    for (size_t i = 0; i < s->n; i++) {
        if (same_key(&s->entries[i], e)) return true;
    }
    return false;
}

kb_status kb_project_save_to(const kb_project_sink *sink, kb_arena *a, const char *tenant,
                             const kb_aggregate *agg, const char *id, const ProtobufCMessage *state,
                             const kb_index_set *before) {
    size_t n = protobuf_c_message_get_packed_size(state);
    uint8_t *buf = kb_arena_alloc(a, n ? n : 1);
    if (!buf) return KB_ERR_NOMEM;
    if (protobuf_c_message_pack(state, buf) != n) return KB_ERR_CORRUPT;
    kb_key k;
    kb_key_state(&k, tenant, agg->type, id);
    sink->put(sink->ctx, KB_CF_STATE, k.bytes, k.len, buf, n);
    kb_index_set after;
    kb_status st = kb_project_index(agg, state, tenant, a, &after);
    if (st != KB_OK) return st;
    for (size_t i = 0; i < before->n; i++) {
        const struct kb_index_entry *e = &before->entries[i];
        if (!set_has_key(&after, e)) sink->del(sink->ctx, KB_CF_INDEX, e->key, e->key_len);
    }
    for (size_t i = 0; i < after.n; i++) {
        const struct kb_index_entry *e = &after.entries[i];
        if (!set_has(before, e)) {
            sink->put(sink->ctx, KB_CF_INDEX, e->key, e->key_len, e->value, strlen(e->value));
        }
    }
    return KB_OK;
}

static void batch_sink_put(void *ctx, kb_cf cf, const void *key, size_t key_len, const void *val,
                           size_t val_len) {
    kb_batch_put(ctx, cf, key, key_len, val, val_len);
}

static void batch_sink_del(void *ctx, kb_cf cf, const void *key, size_t key_len) {
    kb_batch_delete(ctx, cf, key, key_len);
}

kb_status kb_project_save(kb_batch *b, kb_arena *a, const char *tenant, const kb_aggregate *agg,
                          const char *id, const ProtobufCMessage *state,
                          const kb_index_set *before) {
    const kb_project_sink sink = {.ctx = b, .put = batch_sink_put, .del = batch_sink_del};
    return kb_project_save_to(&sink, a, tenant, agg, id, state, before);
}

kb_status kb_project_effects(kb_batch *b, kb_arena *a, const char *tenant, const kb_aggregate *agg,
                             uint64_t seq, const Kasboek__V1__Event *ev) {
    if (!agg->effects) return KB_OK;
    const kb_project_sink sink = {.ctx = b, .put = batch_sink_put, .del = batch_sink_del};
    return agg->effects(tenant, seq, ev, a, &sink) ? KB_OK : KB_ERR_NOMEM;
}

static bool split_stream(kb_arena *a, const char *stream, char **type, char **id) {
    const char *slash = strchr(stream, '/');
    if (!slash || slash == stream || !slash[1]) return false;
    *type = kb_arena_strndup(a, stream, (size_t)(slash - stream));
    *id = kb_arena_strdup(a, slash + 1);
    return *type && *id;
}

kb_status kb_project_record(kb_store *s, kb_batch *b, kb_arena *a,
                            const Kasboek__V1__EventRecord *rec) {
    char *type, *id;
    if (!split_stream(a, rec->stream, &type, &id)) return KB_ERR_CORRUPT;
    const kb_aggregate *agg = kb_aggregate_find(type);
    if (!agg) return KB_ERR_CORRUPT;
    Kasboek__V1__Event *ev =
        kasboek__v1__event__unpack(&a->pb, rec->payload.len, rec->payload.data);
    if (!ev) return KB_ERR_CORRUPT;
    ProtobufCMessage *state = NULL;
    kb_status st = kb_project_load(s, b, NULL, a, rec->tenant, agg, id, &state);
    if (st == KB_ERR_NOT_FOUND) {
        state = agg->create(a, id);
        st = state ? KB_OK : KB_ERR_NOMEM;
    }
    if (st != KB_OK) return st;
    kb_index_set before;
    st = kb_project_index(agg, rec->version == 1 ? NULL : state, rec->tenant, a, &before);
    if (st != KB_OK) return st;
    agg->evolve(state, ev, a);
    kb_pb_set_uint64(state, "version", rec->version);
    st = kb_project_effects(b, a, rec->tenant, agg, rec->seq, ev);
    if (st != KB_OK) return st;
    return kb_project_save(b, a, rec->tenant, agg, id, state, &before);
}
