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

#define RB_PREFETCH_AHEAD 8 /* writes: a few cache misses in flight */

/* One family's writes in the open chunk. */
typedef struct rb_ops {
    rb_op *v;
    size_t n, cap;
} rb_ops;

/* One aggregate touched in a chunk. */
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
    const uint8_t *packed;        /* once saved: its state row, in the chunk's arena */
    size_t packed_len;
} rb_entry;

/* A chunk: folded, then saved (its states and index changes as writes),
 * then written. Two of them take turns: the next one folds while the last
 * one is written, and reads its states from it rather than the store. */
typedef struct rb_chunk {
    kb_rebuild *r;
    kb_arena arena;    /* its events, states and kept writes */
    size_t n_events;   /* folded into it */
    rb_entry *entries; /* chunk_events of them */
    size_t n_entries;
    uint32_t *map;            /* open addressing: entry index + 1, 0 = empty */
    rb_entry *first, *last;   /* touch order */
    rb_ops ops[KB_CF_COUNT_]; /* its writes by family */
    size_t n_ops;             /* in all families */
    kb_status op_st;          /* KB_ERR_NOMEM when an op could not be kept */
    kb_cf file_cfs[KB_CF_COUNT_]; /* the families of its files */
    kb_status file_st[KB_CF_COUNT_];
    kb_status write_st; /* of its write, once done */
    uint64_t last_seq;  /* its last event, once saved */
} rb_chunk;

struct kb_rebuild {
    kb_store *store;
    kb_arena tmp; /* one aggregate's save: packed row and index set */
    size_t chunk_events;
    size_t chunk_bytes;
    size_t map_mask;
    char *sst_paths; /* KB_CF_COUNT_ of sst_path_bytes */
    size_t sst_dir_len, sst_path_bytes;
    void (*run)(void *run_ctx, void (*task)(void *arg, size_t i), void *arg, size_t n);
    void (*start)(void *run_ctx, void (*task)(void *arg), void *arg);
    void (*join)(void *run_ctx);
    void *run_ctx;
    rb_chunk chunks[2];
    rb_chunk *cur;     /* the one folding */
    rb_chunk *prev;    /* the one before: saved and written, or being written */
    bool writing;      /* prev's write was started and is not joined */
    bool keep_head;    /* write no head key */
    rb_entry *saving;  /* the entry rb_save_all saves (its state row is noted) */
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
    if (!cfg->sst_dir || !cfg->start != !cfg->join) return KB_ERR_ARG;
    kb_rebuild *r = calloc(1, sizeof *r);
    if (!r) return KB_ERR_NOMEM;
    size_t slots = 16;
    while (slots < 2 * chunk_events) slots *= 2;
    r->store = s;
    r->chunk_events = chunk_events;
    r->chunk_bytes = chunk_bytes;
    r->run = cfg->run;
    r->start = cfg->start;
    r->join = cfg->join;
    r->run_ctx = cfg->run_ctx;
    r->keep_head = cfg->keep_head;
    r->map_mask = slots - 1;
    kb_arena_init(&r->tmp, chunk_bytes);
    bool ok = rb_sst_paths_alloc(r, cfg->sst_dir);
    for (int i = 0; i < 2; i++) {
        rb_chunk *c = &r->chunks[i];
        c->r = r;
        c->entries = calloc(chunk_events, sizeof *c->entries);
        c->map = calloc(slots, sizeof *c->map);
        kb_arena_init(&c->arena, 2u * chunk_bytes + RB_EVENT_ARENA_BYTES);
        ok = ok && c->entries && c->map;
    }
    if (!ok) {
        kb_rebuild_free(r);
        return KB_ERR_NOMEM;
    }
    r->cur = &r->chunks[0];
    *out = r;
    return KB_OK;
}

/* Waits for the write of prev, if one runs; its status. */
static kb_status rb_join(kb_rebuild *r) {
    if (r->writing) {
        r->join(r->run_ctx);
        r->writing = false;
    }
    return r->prev ? r->prev->write_st : KB_OK;
}

void kb_rebuild_free(kb_rebuild *r) {
    if (!r) return;
    (void)rb_join(r); /* its status was reported, or is moot */
    kb_arena_fini(&r->tmp);
    for (int i = 0; i < 2; i++) {
        rb_chunk *c = &r->chunks[i];
        kb_arena_fini(&c->arena);
        free(c->entries);
        free(c->map);
        for (int f = 0; f < KB_CF_COUNT_; f++) free(c->ops[f].v);
    }
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

/* The map slot of the record's aggregate in c: its entry's, or the empty
 * one where it goes. */
static uint32_t *rb_slot(const kb_rebuild *r, rb_chunk *c, uint64_t h, const kb_log_view *v) {
    for (size_t i = (size_t)h & r->map_mask;; i = (i + 1) & r->map_mask) {
        uint32_t *slot = &c->map[i];
        if (*slot == 0 || rb_same(&c->entries[*slot - 1], h, v)) return slot;
    }
}

/* Names the entry after the record: tenant, type and id as C strings. */
static kb_status rb_name(kb_rebuild *r, rb_entry *e, uint64_t h, const kb_log_view *v) {
    const uint8_t *slash = memchr(v->stream, '/', v->stream_len);
    if (!slash || slash == v->stream || (size_t)(slash - v->stream) + 1 == v->stream_len) {
        return KB_ERR_CORRUPT;
    }
    size_t type_len = (size_t)(slash - v->stream);
    char *key = kb_arena_alloc(&r->cur->arena, 2 * (v->tenant_len + v->stream_len) + 4);
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

/* The state as the chunk before left it (a fresh one for a new stream):
 * the row that chunk saved, while it may still be being written, else the
 * store's; and its index entries: what the chunk's net diff starts from. */
static kb_status rb_load(kb_rebuild *r, rb_entry *e, const kb_log_view *v) {
    kb_arena *a = &r->cur->arena;
    kb_status st = KB_ERR_NOT_FOUND;
    if (v->version != 1) {
        const uint32_t *slot = r->prev ? rb_slot(r, r->prev, e->hash, v) : NULL;
        const rb_entry *pe = slot && *slot ? &r->prev->entries[*slot - 1] : NULL;
        if (pe && pe->packed) {
            e->state = protobuf_c_message_unpack(e->agg->state_desc, &a->pb, pe->packed_len,
                                                 pe->packed);
            st = e->state ? KB_OK : KB_ERR_CORRUPT;
        } else {
            st = kb_project_load(r->store, NULL, NULL, a, e->tenant, e->agg, e->id, &e->state);
        }
    }
    if (st == KB_ERR_NOT_FOUND) {
        e->state = e->agg->create(a, e->id);
        st = e->state ? KB_OK : KB_ERR_NOMEM;
    }
    if (st != KB_OK) return st;
    return kb_project_index(e->agg, v->version == 1 ? NULL : e->state, e->tenant, a, &e->before);
}

static void rb_touch(rb_chunk *c, rb_entry *e) {
    if (c->last == e) return;
    if (e->prev || c->first == e) { /* unlink */
        if (e->prev)
            e->prev->next = e->next;
        else
            c->first = e->next;
        e->next->prev = e->prev; /* e is not last, so it has a next */
    }
    e->prev = c->last;
    e->next = NULL;
    if (c->last)
        c->last->next = e;
    else
        c->first = e;
    c->last = e;
}

/* The entry of the record's aggregate, made (and loaded) on first touch. */
static kb_status rb_entry_get(kb_rebuild *r, const kb_log_view *v, rb_entry **out) {
    rb_chunk *c = r->cur;
    uint64_t h = rb_hash(v);
    uint32_t *slot = rb_slot(r, c, h, v);
    if (*slot) {
        *out = &c->entries[*slot - 1];
        return KB_OK;
    }
    KB_VERIFY(c->n_entries < r->chunk_events); /* one per event at most */
    rb_entry *e = &c->entries[c->n_entries];
    memset(e, 0, sizeof *e);
    kb_status st = rb_name(r, e, h, v);
    if (st == KB_OK) st = rb_load(r, e, v);
    if (st != KB_OK) return st;
    *slot = (uint32_t)++c->n_entries;
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

/* Keeps one write of the open chunk (key and value copied into its
 * arena); where the value went, NULL when it could not be kept. */
static const uint8_t *rb_op_add(kb_rebuild *r, kb_cf cf, const void *key, size_t key_len,
                                const void *val, size_t val_len, bool del) {
    rb_chunk *c = r->cur;
    if (c->op_st != KB_OK) return NULL;
    rb_ops *ops = &c->ops[cf];
    char *k = kb_arena_alloc(&c->arena, key_len + (del ? 0 : val_len) + 1);
    if (!k || (ops->n == ops->cap && !rb_ops_grow(ops))) {
        c->op_st = KB_ERR_NOMEM;
        return NULL;
    }
    memcpy(k, key, key_len);
    if (!del && val_len) memcpy(k + key_len, val, val_len);
    ops->v[ops->n++] = (rb_op){.key = k,
                               .key_len = (uint32_t)key_len,
                               .aux = del ? RB_DELETE : (uint32_t)val_len,
                               .order = (uint32_t)c->n_ops++};
    return (const uint8_t *)k + key_len;
}

/* One family's sorted writes into a table file, then into the store: of
 * the writes of one key only the last. */
static kb_status rb_cf_file(const kb_rebuild *r, kb_cf cf, const rb_ops *ops) {
    const char *path = r->sst_paths + (size_t)cf * r->sst_path_bytes;
    kb_sst *w;
    kb_status st = kb_sst_open(r->store, path, &w);
    if (st != KB_OK) return st;
    for (size_t i = 0; i < ops->n; i++) {
        const rb_op *o = &ops->v[i];
        /* sorted, the keys lie all over the arena: ask for them early */
        if (i + RB_PREFETCH_AHEAD < ops->n) __builtin_prefetch(ops->v[i + RB_PREFETCH_AHEAD].key);
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
    rb_chunk *c = arg;
    kb_cf cf = c->file_cfs[i];
    kb_keyref_sort(c->ops[cf].v, c->ops[cf].n);
    c->file_st[i] = rb_cf_file(c->r, cf, &c->ops[cf]);
}

/* c's writes into one table file per family, in key order; the families
 * with the most writes first (r->run may spread them). Touches nothing of
 * the rebuild but c, the store and the table files' paths. */
static kb_status rb_ops_to_files(rb_chunk *c) {
    const kb_rebuild *r = c->r;
    size_t n = 0;
    for (int cf = 0; cf < KB_CF_COUNT_; cf++) {
        if (c->ops[cf].n == 0) continue;
        size_t j = n++;
        for (; j > 0 && c->ops[c->file_cfs[j - 1]].n < c->ops[cf].n; j--) {
            c->file_cfs[j] = c->file_cfs[j - 1];
        }
        c->file_cfs[j] = (kb_cf)cf;
    }
    if (r->run) {
        r->run(r->run_ctx, rb_file_task, c, n);
    } else {
        for (size_t i = 0; i < n; i++) rb_file_task(c, i);
    }
    for (size_t i = 0; i < n; i++) {
        if (c->file_st[i] != KB_OK) return c->file_st[i];
    }
    return KB_OK;
}

static void rb_write_task(void *arg) {
    rb_chunk *c = arg;
    c->write_st = rb_ops_to_files(c);
}

static void ops_sink_put(void *ctx, kb_cf cf, const void *key, size_t key_len, const void *val,
                         size_t val_len) {
    kb_rebuild *r = ctx;
    const uint8_t *kept = rb_op_add(r, cf, key, key_len, val, val_len, false);
    if (cf == KB_CF_STATE && r->saving) { /* the chunk after reads it from here */
        r->saving->packed = kept;
        r->saving->packed_len = val_len;
    }
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
    kb_arena *a = &r->cur->arena;
    Kasboek__V1__Event *ev = kasboek__v1__event__unpack(&a->pb, v->payload_len, v->payload);
    if (!ev) return KB_ERR_CORRUPT;
    if (v->version == 1 && e->last_seq != 0) { /* a stream begun again */
        e->state = e->agg->create(a, e->id);
        if (!e->state) return KB_ERR_NOMEM;
    }
    e->agg->evolve(e->state, ev, a);
    if (!kb_pb_set_uint64(e->state, "version", v->version)) return KB_ERR_CORRUPT;
    if (e->agg->effects) {
        const kb_project_sink sink = {.ctx = r, .put = ops_sink_put, .del = ops_sink_del};
        kb_arena_reset(&r->tmp);
        if (!e->agg->effects(e->tenant, v->seq, ev, &r->tmp, &sink)) return KB_ERR_NOMEM;
    }
    e->last_seq = v->seq;
    rb_touch(r->cur, e);
    rb_stream_entry(r, e, v);
    return r->cur->op_st;
}

static kb_status rb_chunk_end(kb_rebuild *r);

kb_status kb_rebuild_add(kb_rebuild *r, const kb_log_view *v) {
    const rb_chunk *c = r->cur;
    if (c->n_events >= r->chunk_events ||
        c->arena.used_bytes + c->n_ops * sizeof(rb_op) >= r->chunk_bytes) {
        kb_status st = rb_chunk_end(r);
        if (st != KB_OK) return st;
    }
    KB_VERIFY(v->prev_len == KB_HASH_BYTES && v->hash_len == KB_HASH_BYTES);
    kb_status st = rb_fold(r, v);
    if (st != KB_OK) return rb_fail(r, v->seq, false, st);
    r->cur->n_events++;
    r->head.seq = v->seq;
    memcpy(r->head.hash, v->hash, KB_HASH_BYTES);
    return KB_OK;
}

/* Each touched state and its net index changes, by last event, and the
 * head. The sink copies what it keeps into the chunk's arena (noting each
 * state row there); the rest dies per entry. */
static kb_status rb_save_all(kb_rebuild *r) {
    const kb_project_sink sink = {.ctx = r, .put = ops_sink_put, .del = ops_sink_del};
    for (rb_entry *e = r->cur->first; e; e = e->next) {
        kb_arena_reset(&r->tmp);
        r->saving = e;
        kb_status st =
            kb_project_save_to(&sink, &r->tmp, e->tenant, e->agg, e->id, e->state, &e->before);
        r->saving = NULL;
        if (st == KB_OK) st = r->cur->op_st;
        if (st != KB_OK) return rb_fail(r, e->last_seq, false, st);
    }
    if (!r->keep_head) {
        unsigned char hv[KB_LOG_HEAD_BYTES];
        kb_log_head_encode(&r->head, hv);
        rb_op_add(r, KB_CF_META, KB_META_HEAD, strlen(KB_META_HEAD), hv, sizeof hv, false);
    }
    r->cur->last_seq = r->head.seq;
    /* only the head's write can fail here (out of memory): charged to the
     * chunk's last event, as a fold failure (nothing was written) */
    return r->cur->op_st == KB_OK ? KB_OK : rb_fail(r, r->head.seq, false, r->cur->op_st);
}

static void rb_chunk_reset(rb_chunk *c, size_t map_slots) {
    kb_arena_reset(&c->arena);
    for (int i = 0; i < KB_CF_COUNT_; i++) c->ops[i].n = 0;
    c->n_ops = 0;
    c->op_st = KB_OK;
    memset(c->map, 0, map_slots * sizeof *c->map);
    c->n_entries = c->n_events = 0;
    c->first = c->last = NULL;
    c->write_st = KB_OK;
    c->last_seq = 0;
}

/* Ends the open chunk: saves it, waits until the chunk before is written
 * (a later chunk's files must go in after an earlier one's), then starts
 * its write (on another thread when r->start is set) and opens the other
 * chunk, which reads the states this one saved from this one. */
static kb_status rb_chunk_end(kb_rebuild *r) {
    rb_chunk *c = r->cur;
    if (c->n_events == 0) return KB_OK;
    kb_status st = rb_save_all(r);
    kb_status written = rb_join(r);
    if (st != KB_OK) return st;
    if (written != KB_OK) return rb_fail(r, r->prev->last_seq, true, written);
    rb_chunk *next = c == &r->chunks[0] ? &r->chunks[1] : &r->chunks[0];
    r->prev = c;
    r->cur = next;
    rb_chunk_reset(next, r->map_mask + 1);
    if (r->start) {
        r->writing = true;
        r->start(r->run_ctx, rb_write_task, c);
    } else {
        rb_write_task(c);
    }
    return KB_OK;
}

kb_status kb_rebuild_flush(kb_rebuild *r) {
    kb_status st = rb_chunk_end(r);
    kb_status written = rb_join(r);
    if (st != KB_OK) return st;
    return written == KB_OK ? KB_OK : rb_fail(r, r->prev->last_seq, true, written);
}

/* ------------------------------------------------------------ reproject */

/* Folds s's whole log into rb, its chain checked on the way and against
 * head (the stored one, which the fold does not write). */
static kb_status reproject_fold(kb_store *s, kb_rebuild *rb, const kb_head *head) {
    kb_log_walk w;
    kb_log_walk_init(&w);
    /* no block checksums: the chain covers every byte of the events */
    kb_iter *it = kb_iter_open_seq(s, NULL, KB_CF_EVENTS, false);
    if (!it) return KB_ERR_NOMEM;
    kb_status st = KB_OK;
    for (kb_iter_seek_first(it); st == KB_OK && kb_iter_valid(it); kb_iter_next(it)) {
        size_t kl, vl;
        const char *key = kb_iter_key(it, &kl), *val = kb_iter_value(it, &vl);
        kb_log_view v;
        st = kb_log_walk_step(&w, key, kl, val, vl);
        if (st == KB_OK && !kb_log_view_parse(val, vl, &v)) st = KB_ERR_CORRUPT;
        if (st == KB_OK) st = kb_rebuild_add(rb, &v);
    }
    if (st == KB_OK) st = kb_iter_status(it);
    kb_iter_close(it);
    if (st == KB_OK) st = kb_rebuild_flush(rb);
    return st == KB_OK ? kb_log_walk_end(&w, head) : st;
}

kb_status kb_reproject(kb_store *s, const kb_rebuild_config *cfg_in, uint64_t *events) {
    static const kb_cf families[] = {KB_CF_STATE, KB_CF_INDEX, KB_CF_STREAMS};
    *events = 0;
    kb_rebuild_config cfg = *cfg_in;
    if (cfg.chunk_events == 0) cfg.chunk_events = KB_REBUILD_CHUNK_EVENTS_DEFAULT;
    cfg.keep_head = true;
    kb_rebuild *rb;
    kb_status st = kb_rebuild_open(s, &cfg, &rb); /* checks cfg before anything is cleared */
    if (st != KB_OK) return st;
    kb_head head;
    st = kb_log_head_read(s, NULL, NULL, &head);
    for (size_t i = 0; st == KB_OK && i < sizeof families / sizeof families[0]; i++) {
        st = kb_store_clear(s, families[i]);
    }
    if (st == KB_OK) st = reproject_fold(s, rb, &head);
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

kb_status kb_schema_version(kb_store *s, uint32_t *out) {
    bool present;
    return schema_read(s, out, &present);
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

kb_status kb_projections_ensure(kb_store *s, const kb_rebuild_config *cfg, kb_schema_check *out) {
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
        st = kb_reproject(s, cfg, &out->events);
        out->reprojected = true;
    }
    return st == KB_OK ? schema_write(s) : st;
}
