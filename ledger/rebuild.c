#include "rebuild.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregate.h"
#include "inspect.h"
#include "keys.h"
#include "keysort.h"
#include "project.h"

/* Arena use of one event beyond the chunk bound (the per-event replay's
 * budget: its state, its event, index sets and a packed row). */
#define RB_EVENT_ARENA_BYTES (KB_COMMAND_ARENA_BYTES + 4u * KB_EVENT_BYTES_MAX)

/* One write of the chunk, kept until the chunk's end: a table file takes
 * its keys in order, and only each key's last write. */
typedef kb_keyref rb_op; /* key in the arena, followed by the value; aux
                          * the value's length (RB_DELETE: a delete); order
                          * the write's (of equal keys the last wins) */

#define RB_DELETE UINT32_MAX

/* One family's writes in the open chunk. */
typedef struct rb_ops {
    rb_op *v;
    size_t n, cap;
} rb_ops;

/* One aggregate touched in the open chunk. */
typedef struct rb_entry {
    const char *key; /* tenant NUL stream: the map key */
    size_t key_len;
    uint64_t hash;
    const char *tenant, *type, *id;
    const kb_aggregate *agg;
    ProtobufCMessage *state;
    kb_index_set before;          /* the entries of the state as loaded */
    uint64_t last_seq;            /* its last event in the chunk */
    struct rb_entry *prev, *next; /* by last event, oldest first */
} rb_entry;

struct kb_rebuild {
    kb_store *store;
    kb_arena arena; /* the chunk's events and states */
    kb_arena tmp;   /* one aggregate's save: packed row and index set */
    size_t chunk_events;
    size_t chunk_bytes;
    char *sst_paths; /* KB_CF_COUNT_ of sst_path_bytes */
    size_t sst_dir_len, sst_path_bytes;
    void (*run)(void *run_ctx, void (*task)(void *arg, size_t i), void *arg, size_t n);
    void *run_ctx;
    kb_cf file_cfs[KB_CF_COUNT_]; /* the families of the chunk's files */
    kb_status file_st[KB_CF_COUNT_];
    size_t n_events;   /* in the open chunk */
    rb_entry *entries; /* chunk_events of them */
    size_t n_entries;
    uint32_t *map; /* open addressing: entry index + 1, 0 = empty */
    size_t map_mask;
    rb_entry *first, *last;   /* touch order */
    rb_ops ops[KB_CF_COUNT_]; /* the chunk's writes by family */
    size_t n_ops;             /* in all families */
    kb_status op_st;          /* KB_ERR_NOMEM when an op could not be kept */
    kb_head head;
    kb_rebuild_fail fail;
};

/* Each family's file: sst_dir "/rebuild-<family>.sst". */
static bool rb_sst_paths_alloc(kb_rebuild *r, const char *dir) {
    r->sst_dir_len = strlen(dir);
    r->sst_path_bytes = r->sst_dir_len + 32;
    r->sst_paths = malloc(KB_CF_COUNT_ * r->sst_path_bytes);
    if (!r->sst_paths) return false;
    for (int cf = 0; cf < KB_CF_COUNT_; cf++) {
        char *p = r->sst_paths + (size_t)cf * r->sst_path_bytes;
        memcpy(p, dir, r->sst_dir_len);
        snprintf(p + r->sst_dir_len, 32, "/rebuild-%s.sst", kb_cf_name((kb_cf)cf));
    }
    return true;
}

kb_status kb_rebuild_open(kb_store *s, const kb_rebuild_config *cfg, kb_rebuild **out) {
    size_t chunk_events = cfg->chunk_events;
    size_t chunk_bytes = cfg->chunk_bytes ? cfg->chunk_bytes : KB_REBUILD_CHUNK_BYTES;
    if (chunk_events == 0 || chunk_events > KB_REBUILD_CHUNK_EVENTS_MAX) return KB_ERR_ARG;
    if (chunk_bytes < KB_REBUILD_CHUNK_BYTES_MIN || chunk_bytes > SIZE_MAX / 4) return KB_ERR_ARG;
    if (!cfg->sst_dir) return KB_ERR_ARG;
    kb_rebuild *r = calloc(1, sizeof *r);
    if (!r) return KB_ERR_NOMEM;
    size_t slots = 16;
    while (slots < 2 * chunk_events) slots *= 2;
    r->store = s;
    r->chunk_events = chunk_events;
    r->chunk_bytes = chunk_bytes;
    r->run = cfg->run;
    r->run_ctx = cfg->run_ctx;
    r->map_mask = slots - 1;
    r->entries = calloc(chunk_events, sizeof *r->entries);
    r->map = calloc(slots, sizeof *r->map);
    kb_arena_init(&r->arena, 2u * chunk_bytes + RB_EVENT_ARENA_BYTES);
    kb_arena_init(&r->tmp, chunk_bytes);
    if (!r->entries || !r->map || !rb_sst_paths_alloc(r, cfg->sst_dir)) {
        kb_rebuild_free(r);
        return KB_ERR_NOMEM;
    }
    *out = r;
    return KB_OK;
}

void kb_rebuild_free(kb_rebuild *r) {
    if (!r) return;
    kb_arena_fini(&r->arena);
    kb_arena_fini(&r->tmp);
    free(r->entries);
    free(r->map);
    for (int i = 0; i < KB_CF_COUNT_; i++) free(r->ops[i].v);
    free(r->sst_paths);
    free(r);
}

const kb_head *kb_rebuild_head(const kb_rebuild *r) {
    return &r->head;
}

kb_rebuild_fail kb_rebuild_failure(const kb_rebuild *r) {
    return r->fail;
}

static kb_status rb_fail(kb_rebuild *r, uint64_t seq, bool write_failed, kb_status st) {
    r->fail.seq = seq;
    r->fail.write_failed = write_failed;
    return st;
}

/* FNV-1a over tenant NUL stream. */
static uint64_t rb_hash(const kb_log_view *v) {
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < v->tenant_len; i++) h = (h ^ v->tenant[i]) * 0x100000001b3u;
    h *= 0x100000001b3u; /* the NUL */
    for (size_t i = 0; i < v->stream_len; i++) h = (h ^ v->stream[i]) * 0x100000001b3u;
    return h;
}

static bool rb_same(const rb_entry *e, uint64_t h, const kb_log_view *v) {
    return e->hash == h && e->key_len == v->tenant_len + 1 + v->stream_len &&
           memcmp(e->key, v->tenant, v->tenant_len) == 0 &&
           memcmp(e->key + v->tenant_len + 1, v->stream, v->stream_len) == 0;
}

/* The map slot of the record's aggregate: its entry's, or the empty one
 * where it goes. */
static uint32_t *rb_slot(kb_rebuild *r, uint64_t h, const kb_log_view *v) {
    for (size_t i = (size_t)h & r->map_mask;; i = (i + 1) & r->map_mask) {
        uint32_t *slot = &r->map[i];
        if (*slot == 0 || rb_same(&r->entries[*slot - 1], h, v)) return slot;
    }
}

/* Names the entry after the record: tenant, type and id as C strings. */
static kb_status rb_name(kb_rebuild *r, rb_entry *e, uint64_t h, const kb_log_view *v) {
    const uint8_t *slash = memchr(v->stream, '/', v->stream_len);
    if (!slash || slash == v->stream || (size_t)(slash - v->stream) + 1 == v->stream_len) {
        return KB_ERR_CORRUPT;
    }
    size_t type_len = (size_t)(slash - v->stream);
    char *key = kb_arena_alloc(&r->arena, 2 * (v->tenant_len + v->stream_len) + 4);
    if (!key) return KB_ERR_NOMEM;
    memcpy(key, v->tenant, v->tenant_len);
    memcpy(key + v->tenant_len + 1, v->stream, v->stream_len);
    char *type = key + v->tenant_len + 1 + v->stream_len + 1;
    memcpy(type, v->stream, type_len);
    char *id = type + type_len + 1;
    memcpy(id, slash + 1, v->stream_len - type_len - 1);
    e->key = e->tenant = key;
    e->key_len = v->tenant_len + 1 + v->stream_len;
    e->hash = h;
    e->type = type;
    e->id = id;
    e->agg = kb_aggregate_find(type);
    return e->agg ? KB_OK : KB_ERR_CORRUPT;
}

/* The state as stored before the chunk (a fresh one for a new stream), and
 * its index entries: what the chunk's net diff starts from. */
static kb_status rb_load(kb_rebuild *r, rb_entry *e, uint64_t version) {
    kb_status st = KB_ERR_NOT_FOUND;
    if (version != 1) {
        st = kb_project_load(r->store, NULL, NULL, &r->arena, e->tenant, e->agg, e->id, &e->state);
    }
    if (st == KB_ERR_NOT_FOUND) {
        e->state = e->agg->create(&r->arena, e->id);
        st = e->state ? KB_OK : KB_ERR_NOMEM;
    }
    if (st != KB_OK) return st;
    return kb_project_index(e->agg, version == 1 ? NULL : e->state, e->tenant, &r->arena,
                            &e->before);
}

static void rb_touch(kb_rebuild *r, rb_entry *e) {
    if (r->last == e) return;
    if (e->prev || r->first == e) { /* unlink */
        if (e->prev)
            e->prev->next = e->next;
        else
            r->first = e->next;
        e->next->prev = e->prev; /* e is not last, so it has a next */
    }
    e->prev = r->last;
    e->next = NULL;
    if (r->last)
        r->last->next = e;
    else
        r->first = e;
    r->last = e;
}

/* The entry of the record's aggregate, made (and loaded) on first touch. */
static kb_status rb_entry_get(kb_rebuild *r, const kb_log_view *v, rb_entry **out) {
    uint64_t h = rb_hash(v);
    uint32_t *slot = rb_slot(r, h, v);
    if (*slot) {
        *out = &r->entries[*slot - 1];
        return KB_OK;
    }
    KB_VERIFY(r->n_entries < r->chunk_events); /* one per event at most */
    rb_entry *e = &r->entries[r->n_entries];
    memset(e, 0, sizeof *e);
    kb_status st = rb_name(r, e, h, v);
    if (st == KB_OK) st = rb_load(r, e, v->version);
    if (st != KB_OK) return st;
    *slot = (uint32_t)++r->n_entries;
    *out = e;
    return KB_OK;
}

static bool rb_ops_grow(rb_ops *ops) {
    size_t cap = ops->cap ? 2 * ops->cap : 4096;
    rb_op *v = realloc(ops->v, cap * sizeof *v);
    if (!v) return false;
    ops->v = v;
    ops->cap = cap;
    return true;
}

/* Keeps one write (key and value copied into the arena). */
static void rb_op_add(kb_rebuild *r, kb_cf cf, const void *key, size_t key_len, const void *val,
                      size_t val_len, bool del) {
    if (r->op_st != KB_OK) return;
    rb_ops *ops = &r->ops[cf];
    char *k = kb_arena_alloc(&r->arena, key_len + (del ? 0 : val_len) + 1);
    if (!k || (ops->n == ops->cap && !rb_ops_grow(ops))) {
        r->op_st = KB_ERR_NOMEM;
        return;
    }
    memcpy(k, key, key_len);
    if (!del && val_len) memcpy(k + key_len, val, val_len);
    ops->v[ops->n++] = (rb_op){.key = k,
                               .key_len = (uint32_t)key_len,
                               .aux = del ? RB_DELETE : (uint32_t)val_len,
                               .order = (uint32_t)r->n_ops++};
}

/* One family's sorted writes into a table file, then into the store: of
 * the writes of one key only the last. */
static kb_status rb_cf_file(kb_rebuild *r, kb_cf cf, const rb_ops *ops) {
    const char *path = r->sst_paths + (size_t)cf * r->sst_path_bytes;
    kb_sst *w;
    kb_status st = kb_sst_open(r->store, path, &w);
    if (st != KB_OK) return st;
    for (size_t i = 0; i < ops->n; i++) {
        const rb_op *o = &ops->v[i];
        if (i + 1 < ops->n && kb_keyref_same_key(o, o + 1)) continue; /* a later write wins */
        if (o->aux != RB_DELETE) {
            kb_sst_put(w, o->key, o->key_len, o->key + o->key_len, o->aux);
        } else {
            kb_sst_delete(w, o->key, o->key_len);
        }
    }
    st = kb_sst_finish(w);
    if (st == KB_OK) st = kb_store_ingest(r->store, cf, path);
    (void)unlink(path); /* moved in, or to be dropped */
    return st;
}

/* Task i of rb_ops_to_files: the file of family file_cfs[i]. Families
 * share nothing but the store (thread-safe) and read-only arena. */
static void rb_file_task(void *arg, size_t i) {
    kb_rebuild *r = arg;
    kb_cf cf = r->file_cfs[i];
    kb_keyref_sort(r->ops[cf].v, r->ops[cf].n);
    r->file_st[i] = rb_cf_file(r, cf, &r->ops[cf]);
}

/* The chunk's writes into one table file per family, in key order; the
 * families with the most writes first (r->run may spread them). */
static kb_status rb_ops_to_files(kb_rebuild *r) {
    size_t n = 0;
    for (int cf = 0; cf < KB_CF_COUNT_; cf++) {
        if (r->ops[cf].n == 0) continue;
        size_t j = n++;
        for (; j > 0 && r->ops[r->file_cfs[j - 1]].n < r->ops[cf].n; j--) {
            r->file_cfs[j] = r->file_cfs[j - 1];
        }
        r->file_cfs[j] = (kb_cf)cf;
    }
    if (r->run) {
        r->run(r->run_ctx, rb_file_task, r, n);
    } else {
        for (size_t i = 0; i < n; i++) rb_file_task(r, i);
    }
    for (size_t i = 0; i < n; i++) {
        if (r->file_st[i] != KB_OK) return r->file_st[i];
    }
    return KB_OK;
}

static void ops_sink_put(void *ctx, kb_cf cf, const void *key, size_t key_len, const void *val,
                         size_t val_len) {
    rb_op_add(ctx, cf, key, key_len, val, val_len, false);
}

static void ops_sink_del(void *ctx, kb_cf cf, const void *key, size_t key_len) {
    rb_op_add(ctx, cf, key, key_len, NULL, 0, true);
}

static void rb_stream_entry(kb_rebuild *r, const rb_entry *e, const kb_log_view *v) {
    kb_key k;
    kb_key_stream(&k, e->tenant, e->type, e->id, v->version);
    unsigned char seqv[8];
    kb_be64_put(seqv, v->seq);
    rb_op_add(r, KB_CF_STREAMS, k.bytes, k.len, seqv, sizeof seqv, false);
}

static kb_status rb_fold(kb_rebuild *r, const kb_log_view *v) {
    rb_entry *e;
    kb_status st = rb_entry_get(r, v, &e);
    if (st != KB_OK) return st;
    Kasboek__V1__Event *ev = kasboek__v1__event__unpack(&r->arena.pb, v->payload_len, v->payload);
    if (!ev) return KB_ERR_CORRUPT;
    if (v->version == 1 && e->last_seq != 0) { /* a stream begun again */
        e->state = e->agg->create(&r->arena, e->id);
        if (!e->state) return KB_ERR_NOMEM;
    }
    e->agg->evolve(e->state, ev, &r->arena);
    if (!kb_pb_set_uint64(e->state, "version", v->version)) return KB_ERR_CORRUPT;
    if (e->agg->effects) {
        const kb_project_sink sink = {.ctx = r, .put = ops_sink_put, .del = ops_sink_del};
        kb_arena_reset(&r->tmp);
        if (!e->agg->effects(e->tenant, v->seq, ev, &r->tmp, &sink)) return KB_ERR_NOMEM;
    }
    e->last_seq = v->seq;
    rb_touch(r, e);
    rb_stream_entry(r, e, v);
    return r->op_st;
}

kb_status kb_rebuild_add(kb_rebuild *r, const kb_log_view *v) {
    if (r->n_events >= r->chunk_events ||
        r->arena.used_bytes + r->n_ops * sizeof(rb_op) >= r->chunk_bytes) {
        kb_status st = kb_rebuild_flush(r);
        if (st != KB_OK) return st;
    }
    KB_VERIFY(v->prev_len == KB_HASH_BYTES && v->hash_len == KB_HASH_BYTES);
    kb_status st = rb_fold(r, v);
    if (st != KB_OK) return rb_fail(r, v->seq, false, st);
    r->n_events++;
    r->head.seq = v->seq;
    memcpy(r->head.hash, v->hash, KB_HASH_BYTES);
    return KB_OK;
}

/* Each touched state and its net index changes, by last event. The sink
 * copies what it keeps into the chunk's arena; the rest dies per entry. */
static kb_status rb_save_all(kb_rebuild *r) {
    const kb_project_sink sink = {.ctx = r, .put = ops_sink_put, .del = ops_sink_del};
    for (const rb_entry *e = r->first; e; e = e->next) {
        kb_arena_reset(&r->tmp);
        kb_status st =
            kb_project_save_to(&sink, &r->tmp, e->tenant, e->agg, e->id, e->state, &e->before);
        if (st == KB_OK) st = r->op_st;
        if (st != KB_OK) return rb_fail(r, e->last_seq, false, st);
    }
    return KB_OK;
}

static void rb_reset(kb_rebuild *r) {
    kb_arena_reset(&r->arena);
    for (int i = 0; i < KB_CF_COUNT_; i++) r->ops[i].n = 0;
    r->n_ops = 0;
    r->op_st = KB_OK;
    memset(r->map, 0, (r->map_mask + 1) * sizeof *r->map);
    r->n_entries = r->n_events = 0;
    r->first = r->last = NULL;
}

/* The chunk's writes and the head, as the chunk's table files. */
static kb_status rb_write(kb_rebuild *r) {
    unsigned char hv[KB_LOG_HEAD_BYTES];
    kb_log_head_encode(&r->head, hv);
    rb_op_add(r, KB_CF_META, KB_META_HEAD, strlen(KB_META_HEAD), hv, sizeof hv, false);
    kb_status st = r->op_st;
    if (st == KB_OK) st = rb_ops_to_files(r);
    return st == KB_OK ? KB_OK : rb_fail(r, 0, true, st);
}

kb_status kb_rebuild_flush(kb_rebuild *r) {
    if (r->n_events == 0) return KB_OK;
    kb_status st = rb_save_all(r);
    if (st == KB_OK) st = rb_write(r);
    rb_reset(r);
    return st;
}

/* ------------------------------------------------------------ reproject */

kb_status kb_reproject(kb_store *s, const char *sst_dir, uint64_t *events) {
    static const kb_cf families[] = {KB_CF_STATE, KB_CF_INDEX, KB_CF_STREAMS};
    *events = 0;
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        kb_status st = kb_store_clear(s, families[i]);
        if (st != KB_OK) return st;
    }
    const kb_rebuild_config cfg = {.chunk_events = KB_REBUILD_CHUNK_EVENTS_DEFAULT,
                                   .sst_dir = sst_dir};
    kb_rebuild *rb;
    kb_status st = kb_rebuild_open(s, &cfg, &rb);
    if (st != KB_OK) return st;
    kb_log_walk w;
    kb_log_walk_init(&w);
    /* no block checksums: the chain covers every byte of the events */
    kb_iter *it = kb_iter_open_seq(s, NULL, KB_CF_EVENTS, false);
    if (!it) st = KB_ERR_NOMEM;
    for (kb_iter_seek_first(it); st == KB_OK && kb_iter_valid(it); kb_iter_next(it)) {
        size_t kl, vl;
        const char *key = kb_iter_key(it, &kl), *val = kb_iter_value(it, &vl);
        kb_log_view v;
        st = kb_log_walk_step(&w, key, kl, val, vl);
        if (st == KB_OK && !kb_log_view_parse(val, vl, &v)) st = KB_ERR_CORRUPT;
        if (st == KB_OK) st = kb_rebuild_add(rb, &v);
    }
    if (it && st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    if (st == KB_OK) st = kb_rebuild_flush(rb);
    kb_head head;
    if (st == KB_OK) st = kb_log_head_read(s, NULL, NULL, &head);
    if (st == KB_OK) st = kb_log_walk_end(&w, &head);
    if (st == KB_OK) *events = kb_rebuild_head(rb)->seq;
    kb_rebuild_free(rb);
    return st;
}

/* The stored version, 1 when there is no key (*present false). */
static kb_status schema_read(kb_store *s, uint32_t *out, bool *present) {
    kb_value v;
    kb_status st = kb_store_get(s, NULL, NULL, KB_CF_META, KB_META_SCHEMA, strlen(KB_META_SCHEMA),
                                &v);
    *present = st == KB_OK;
    if (st == KB_ERR_NOT_FOUND) {
        *out = 1;
        return KB_OK;
    }
    if (st != KB_OK) return st;
    uint64_t n = 0;
    if (v.len == 8) n = kb_be64_get((const unsigned char *)v.data);
    kb_value_free(&v);
    if (n == 0 || n > UINT32_MAX) return KB_ERR_CORRUPT;
    *out = (uint32_t)n;
    return KB_OK;
}

static kb_status schema_write(kb_store *s) {
    kb_batch *b;
    kb_status st = kb_batch_alloc(s, &b);
    if (st != KB_OK) return st;
    unsigned char v[8];
    kb_be64_put(v, KB_SCHEMA_VERSION);
    kb_batch_put(b, KB_CF_META, KB_META_SCHEMA, strlen(KB_META_SCHEMA), v, sizeof v);
    st = kb_store_write(s, b, true);
    kb_batch_free(b);
    return st;
}

kb_status kb_projections_ensure(kb_store *s, const char *sst_dir, kb_schema_check *out) {
    memset(out, 0, sizeof *out);
    bool has_key;
    kb_status st = schema_read(s, &out->found, &has_key);
    if (st != KB_OK) return st;
    if (has_key && out->found == KB_SCHEMA_VERSION) return KB_OK;
    if (out->found > KB_SCHEMA_VERSION) return KB_ERR_STATE;
    kb_head head;
    st = kb_log_head_read(s, NULL, NULL, &head);
    if (st != KB_OK) return st;
    if (head.seq > 0 && out->found != KB_SCHEMA_VERSION) {
        st = kb_reproject(s, sst_dir, &out->events);
        out->reprojected = true;
    }
    return st == KB_OK ? schema_write(s) : st;
}
