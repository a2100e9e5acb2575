#include "engine.h"

#include <assert.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "inspect.h"
#include "keys.h"
#include "project.h"
#include "validate.h"

struct kb_engine {
    kb_store *store;
    kb_batch *batch; /* the open batch */
    kb_batch *spare; /* the sealed batch while it is written, else idle */
    kb_arena arena;  /* per command */
    kb_head head;    /* includes the open and the sealed batch */
    kb_head head_at_begin;
    bool in_batch;
    bool sealed; /* spare holds a sealed batch not yet done */
    bool sticky; /* a commit failed: refuse everything */
    int batch_cmds;
};

/* Everything one command carries through the pipeline. */
typedef struct cmd_run {
    const kb_request *rq;
    const kb_command *cmd;
    ProtobufCMessage *msg;
    const char *id;
    const char *idem_key;  /* caller's, or the natural one, or NULL */
    const char *event_key; /* recorded in the events */
    bool natural_key;
    unsigned char fp[KB_HASH_BYTES];
    ProtobufCMessage *state; /* NULL when the stream is new */
    uint64_t version;
    kb_decide_ctx dc;
} cmd_run;

void kb_reply_fini(kb_reply *r) {
    free(r->payload);
    r->payload = NULL;
    r->payload_len = 0;
}

kb_status kb_engine_open(kb_store *store, kb_engine **out) {
    kb_engine *e = calloc(1, sizeof *e);
    if (!e) return KB_ERR_NOMEM;
    e->store = store;
    kb_arena_init(&e->arena, KB_COMMAND_ARENA_BYTES);
    kb_status st = kb_batch_alloc(store, &e->batch);
    if (st == KB_OK) st = kb_batch_alloc(store, &e->spare);
    if (st == KB_OK) st = kb_log_head_read(store, NULL, NULL, &e->head);
    if (st != KB_OK) {
        kb_engine_close(e);
        return st;
    }
    *out = e;
    return KB_OK;
}

void kb_engine_close(kb_engine *e) {
    if (!e) return;
    kb_batch_free(e->batch);
    kb_batch_free(e->spare);
    kb_arena_fini(&e->arena);
    free(e);
}

kb_status kb_engine_batch_begin(kb_engine *e) {
    if (e->sticky || e->in_batch) return KB_ERR_STATE;
    kb_batch_clear(e->batch);
    kb_batch_set_below(e->batch, e->sealed ? e->spare : NULL);
    e->head_at_begin = e->head;
    e->in_batch = true;
    e->batch_cmds = 0;
    return KB_OK;
}

void kb_engine_batch_abort(kb_engine *e) {
    kb_batch_clear(e->batch);
    kb_batch_set_below(e->batch, NULL);
    e->head = e->head_at_begin;
    e->in_batch = false;
}

kb_status kb_engine_batch_seal(kb_engine *e, kb_sealed *out) {
    if (e->sticky || !e->in_batch || e->sealed) return KB_ERR_STATE;
    if (e->head.seq != e->head_at_begin.seq) kb_log_head_put(e->batch, &e->head);
    kb_batch_set_below(e->batch, NULL);
    *out = (kb_sealed){
        .store = e->store, .batch = e->batch, .head = e->head, .head_before = e->head_at_begin};
    kb_batch *b = e->batch;
    e->batch = e->spare;
    e->spare = b;
    e->sealed = true;
    e->in_batch = false;
    return KB_OK;
}

kb_status kb_sealed_write(const kb_sealed *s) {
    return kb_batch_count(s->batch) ? kb_store_write(s->store, s->batch, true) : KB_OK;
}

void kb_engine_sealed_done(kb_engine *e, const kb_sealed *s, kb_status written) {
    KB_VERIFY(e->sealed && s->batch == e->spare);
    if (written != KB_OK) { /* nothing after head_before is stored */
        e->sticky = true;
        e->head = e->head_at_begin = s->head_before;
    }
    if (e->in_batch) kb_batch_set_below(e->batch, NULL); /* now in the store */
    kb_batch_clear(e->spare);
    e->sealed = false;
}

kb_status kb_engine_batch_commit(kb_engine *e) {
    kb_sealed s;
    kb_status st = kb_engine_batch_seal(e, &s);
    if (st != KB_OK) return st;
    st = kb_sealed_write(&s);
    kb_engine_sealed_done(e, &s, st);
    return st;
}

int kb_engine_batch_commands(const kb_engine *e) {
    return e->batch_cmds;
}

size_t kb_engine_batch_bytes(kb_engine *e) {
    return kb_batch_bytes(e->batch);
}

kb_store *kb_engine_store(kb_engine *e) {
    return e->store;
}

kb_batch *kb_engine_open_batch(kb_engine *e) {
    return e->in_batch ? e->batch : NULL;
}

kb_head kb_engine_head(const kb_engine *e) {
    return e->head;
}

void kb_engine_set_clock(kb_engine *e, int64_t now) {
    unsigned char v[8];
    kb_be64_put(v, (uint64_t)now);
    kb_batch_put(e->batch, KB_CF_META, KB_META_CLOCK, strlen(KB_META_CLOCK), v, 8);
}

kb_status kb_engine_clock_read(kb_store *s, int64_t *now) {
    kb_value v;
    kb_status st =
        kb_store_get(s, NULL, NULL, KB_CF_META, KB_META_CLOCK, strlen(KB_META_CLOCK), &v);
    if (st == KB_ERR_NOT_FOUND) {
        *now = 0;
        return KB_OK;
    }
    if (st != KB_OK) return st;
    st = v.len == 8 ? KB_OK : KB_ERR_CORRUPT;
    if (st == KB_OK) *now = (int64_t)kb_be64_get((const unsigned char *)v.data);
    kb_value_free(&v);
    return st;
}

/* ---------------------------------------------------------------- checks */

static kb_code check_envelope(const kb_request *rq, kb_error *err) {
    if (!rq->tenant || !kb_id_valid(rq->tenant)) {
        return kb_error_set(err, KB_REASON_INVALID_TENANT, "tenant",
                            "tenant must be 1-64 characters of [A-Za-z0-9_-]");
    }
    if (kb_contains_card_number(rq->tenant, strlen(rq->tenant))) {
        return kb_error_set(err, KB_REASON_CARD_NUMBER_NOT_ALLOWED, "tenant",
                            "looks like a card number; never send one");
    }
    if (rq->idempotency_key[0] && !kb_idempotency_key_valid(rq->idempotency_key)) {
        return kb_error_set(err, KB_REASON_INVALID_IDEMPOTENCY_KEY, "idempotency_key",
                            "idempotency key must be 1-128 printable ASCII characters");
    }
    if (kb_contains_card_number(rq->idempotency_key, strlen(rq->idempotency_key))) {
        return kb_error_set(err, KB_REASON_CARD_NUMBER_NOT_ALLOWED, "idempotency_key",
                            "looks like a card number; never send one");
    }
    return KB_CODE_OK;
}

static void fingerprint(const kb_request *rq, unsigned char out[KB_HASH_BYTES]) {
    crypto_generichash_state st;
    unsigned char ev[9] = {rq->has_expected_version ? 1 : 0};
    kb_be64_put(ev + 1, rq->expected_version);
    crypto_generichash_init(&st, NULL, 0, KB_HASH_BYTES);
    crypto_generichash_update(&st, (const unsigned char *)rq->method, strlen(rq->method) + 1);
    crypto_generichash_update(&st, ev, sizeof ev);
    crypto_generichash_update(&st, rq->payload, rq->payload_len);
    crypto_generichash_final(&st, out, KB_HASH_BYTES);
}

static kb_code check_time(cmd_run *r, kb_error *err) {
    if (r->rq->now <= 0 || r->rq->now > KB_TIME_MAX_US) {
        return kb_error_set(err, KB_REASON_INVALID_TIME, "", "the clock reads outside 1970-9000");
    }
    int64_t at = 0;
    (void)kb_pb_int64(r->msg, "occurred_at", &at);
    if (at < 0) return kb_error_set(err, KB_REASON_INVALID_TIME, "occurred_at", "occurred_at < 0");
    if (at > r->rq->now) {
        return kb_error_set(err, KB_REASON_OCCURRED_IN_FUTURE, "occurred_at",
                            "occurred_at lies after the server's clock");
    }
    r->dc.occurred_at = at ? at : r->rq->now;
    return KB_CODE_OK;
}

/* Finds the aggregate id the command names, through an alias if needed. */
static kb_status route(kb_engine *e, cmd_run *r, kb_error *err) {
    const kb_command *c = r->cmd;
    if (c->fixed_id) {
        r->id = c->fixed_id;
        return KB_OK;
    }
    const char *v = kb_pb_string(r->msg, c->id_field);
    KB_VERIFY(v);
    if (!v[0]) {
        kb_error_set(err, KB_REASON_FIELD_REQUIRED, c->id_field, "%s is required", c->id_field);
        return KB_OK;
    }
    if (!kb_id_valid(v)) {
        kb_error_set(err, KB_REASON_INVALID_ID, c->id_field,
                     "%s must be 1-64 characters of [A-Za-z0-9_-]", c->id_field);
        return KB_OK;
    }
    if (!c->alias) {
        r->id = v;
        return KB_OK;
    }
    kb_key k;
    kb_key_alias(&k, r->rq->tenant, c->alias, v);
    kb_value val;
    kb_status st = kb_store_get(e->store, e->batch, NULL, KB_CF_INDEX, k.bytes, k.len, &val);
    if (st == KB_ERR_NOT_FOUND) {
        kb_error_set(err, c->not_found, c->id_field, "no %s %s", c->alias, v);
        return KB_OK;
    }
    if (st != KB_OK) return st;
    r->id = kb_arena_strndup(&e->arena, val.data, val.len);
    kb_value_free(&val);
    return r->id ? KB_OK : KB_ERR_NOMEM;
}

/* One stream a command appends to: the command's own, or a reaction's. */
typedef struct stream_run {
    const kb_aggregate *agg;
    const char *id;
    ProtobufCMessage *state; /* NULL when the stream is new */
    uint64_t version;
} stream_run;

static kb_status load_stream(kb_engine *e, const char *tenant, stream_run *sr) {
    kb_status st =
        kb_project_load(e->store, e->batch, NULL, &e->arena, tenant, sr->agg, sr->id, &sr->state);
    if (st == KB_ERR_NOT_FOUND) {
        sr->state = NULL;
        st = KB_OK;
    }
    sr->version = 0;
    if (st == KB_OK && sr->state) (void)kb_pb_uint64(sr->state, "version", &sr->version);
    return st;
}

static kb_status fetch_state(kb_engine *e, cmd_run *r) {
    stream_run sr = {.agg = r->cmd->agg, .id = r->id};
    kb_status st = load_stream(e, r->rq->tenant, &sr);
    r->state = sr.state;
    r->version = sr.version;
    return st;
}

static kb_code judge_state(const cmd_run *r, kb_error *err) {
    const kb_command *c = r->cmd;
    if (!c->upsert && c->creates && r->state) {
        return kb_error_set(err, c->exists, c->id_field, "%s %s already exists", c->agg->type,
                            r->id);
    }
    if (!c->upsert && !c->creates && !r->state) {
        return kb_error_set(err, c->not_found, c->id_field, "no %s %s", c->agg->type, r->id);
    }
    if (r->rq->has_expected_version && r->rq->expected_version != r->version) {
        return kb_error_set(err, KB_REASON_VERSION_CONFLICT, "expected_version",
                            "stream is at version %llu, expected %llu",
                            (unsigned long long)r->version,
                            (unsigned long long)r->rq->expected_version);
    }
    return KB_CODE_OK;
}

/* ----------------------------------------------------------- idempotency */

static void idem_key(kb_key *k, const cmd_run *r) {
    kb_key_init(k);
    kb_key_add(k, r->rq->tenant);
    if (r->natural_key) {
        kb_key_add(k, "n");
        kb_key_add(k, r->cmd->method);
        kb_key_add(k, r->id);
    } else {
        kb_key_add(k, "k");
        kb_key_add(k, r->idem_key);
    }
}

kb_status kb_reply_set(kb_reply *reply, const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    reply->payload = malloc(n ? n : 1);
    if (!reply->payload) return KB_ERR_NOMEM;
    reply->payload_len = protobuf_c_message_pack(m, reply->payload);
    return KB_OK;
}

/* *done = true when the reply was answered from the idempotency store (or
 * the key was reused with another request). */
static kb_status idem_lookup(kb_engine *e, cmd_run *r, kb_reply *reply, bool *done) {
    *done = false;
    if (!r->idem_key) return KB_OK;
    kb_key k;
    idem_key(&k, r);
    kb_value v;
    kb_status st = kb_store_get(e->store, e->batch, NULL, KB_CF_IDEMPOTENCY, k.bytes, k.len, &v);
    if (st == KB_ERR_NOT_FOUND) return KB_OK;
    if (st != KB_OK) return st;
    if (v.len < KB_HASH_BYTES) st = KB_ERR_CORRUPT;
    bool same = st == KB_OK && sodium_memcmp(v.data, r->fp, KB_HASH_BYTES) == 0;
    Kasboek__V1__CommandResult *res = NULL;
    if (same) {
        res = kasboek__v1__command_result__unpack(&e->arena.pb, v.len - KB_HASH_BYTES,
                                                  (const uint8_t *)v.data + KB_HASH_BYTES);
        if (!res) st = KB_ERR_CORRUPT;
    }
    kb_value_free(&v);
    if (st != KB_OK) return st;
    if (same) {
        res->replayed = true;
        *done = true;
        return kb_reply_set(reply, &res->base);
    }
    if (!r->natural_key) {
        kb_error_set(&reply->err, KB_REASON_IDEMPOTENCY_KEY_REUSED, "idempotency_key",
                     "idempotency key was used with a different request");
        *done = true;
    }
    return KB_OK; /* natural key, other request: decide says why */
}

/* ----------------------------------------------------------------- apply */

/* Every claim of dc must be free, or already belong to aggregate id. */
static kb_status check_claims(kb_engine *e, const char *tenant, const char *id, const char *type,
                              const kb_decide_ctx *dc, kb_error *err, bool *free_out) {
    *free_out = true;
    for (size_t i = 0; i < dc->n_claims; i++) {
        const struct kb_claim *cl = &dc->claims[i];
        kb_key k;
        kb_key_alias(&k, tenant, cl->kind, cl->id);
        kb_value v;
        kb_status st = kb_store_get(e->store, e->batch, NULL, KB_CF_INDEX, k.bytes, k.len, &v);
        if (st == KB_ERR_NOT_FOUND) continue;
        if (st != KB_OK) return st;
        bool mine = v.len == strlen(id) && memcmp(v.data, id, v.len) == 0;
        kb_value_free(&v);
        if (mine) continue;
        *free_out = false;
        kb_error_set(err, cl->taken, cl->field, "%s is already used by another %s", cl->field,
                     type);
        return KB_OK;
    }
    return KB_OK;
}

static const char *event_type(const Kasboek__V1__Event *ev) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&kasboek__v1__event__descriptor, ev->body_case);
    KB_VERIFY(f && f->type == PROTOBUF_C_TYPE_MESSAGE);
    return ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name;
}

static kb_status append_events(kb_engine *e, const cmd_run *r, stream_run *sr,
                               Kasboek__V1__Event *const *events, size_t n) {
    const kb_aggregate *agg = sr->agg;
    if (!sr->state) {
        sr->state = agg->create(&e->arena, sr->id);
        if (!sr->state) return KB_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        Kasboek__V1__Event *ev = events[i];
        assert(ev->body_case != KASBOEK__V1__EVENT__BODY__NOT_SET);
        ev->occurred_at = r->dc.occurred_at;
        ev->recorded_at = r->rq->now;
        ev->actor = (char *)r->rq->actor;
        ev->idempotency_key = (char *)(r->event_key ? r->event_key : "");
        size_t len = kasboek__v1__event__get_packed_size(ev);
        uint8_t *buf = kb_arena_alloc(&e->arena, len ? len : 1);
        if (!buf) return KB_ERR_NOMEM;
        kasboek__v1__event__pack(ev, buf);
        sr->version++;
        kb_status st = kb_log_append(e->batch, &e->arena, &e->head, r->rq->tenant, agg->type,
                                     sr->id, sr->version, event_type(ev), buf, len);
        if (st == KB_OK)
            st = kb_project_effects(e->batch, &e->arena, r->rq->tenant, agg, e->head.seq, ev);
        if (st != KB_OK) return st;
        agg->evolve(sr->state, ev, &e->arena);
        kb_pb_set_uint64(sr->state, "version", sr->version);
    }
    return KB_OK;
}

/* Appends events to sr's stream and saves its projection. */
static kb_status write_stream(kb_engine *e, const cmd_run *r, stream_run *sr,
                              Kasboek__V1__Event *const *events, size_t n) {
    kb_index_set before;
    kb_status st = kb_project_index(sr->agg, sr->state, r->rq->tenant, &e->arena, &before);
    if (st == KB_OK) st = append_events(e, r, sr, events, n);
    if (st == KB_OK)
        st = kb_project_save(e->batch, &e->arena, r->rq->tenant, sr->agg, sr->id, sr->state,
                             &before);
    return st;
}

/* The tenant's settings, or their defaults when never set. */
static kb_status load_settings(kb_engine *e, const char *tenant,
                               const Kasboek__V1__TenantSettings **out) {
    const kb_aggregate *agg = kb_aggregate_find("settings");
    KB_VERIFY(agg);
    return kb_project_load_or_create(e->store, e->batch, NULL, &e->arena, tenant, agg, "tenant",
                                     (ProtobufCMessage **)out);
}

/* A peer's state for decide: the stored one, or a fresh one. */
static kb_status load_peer(kb_engine *e, const char *tenant, const kb_peer *p, stream_run *sr,
                           const ProtobufCMessage **out) {
    *sr = (stream_run){.agg = p->agg, .id = p->id};
    kb_status st = load_stream(e, tenant, sr);
    if (st != KB_OK) return st;
    *out = sr->state ? sr->state : p->agg->create(&e->arena, p->id);
    return *out ? KB_OK : KB_ERR_NOMEM;
}

/* Appends what a decide (or react) put for its peer stream. */
static kb_status write_peer(kb_engine *e, const cmd_run *r, stream_run *peer,
                            const kb_decide_ctx *dc) {
    if (!dc->n_peer_events) return KB_OK;
    KB_VERIFY(peer->agg);
    return write_stream(e, r, peer, dc->peer_events, dc->n_peer_events);
}

static kb_status react(kb_engine *e, cmd_run *r, const stream_run *src,
                       Kasboek__V1__Event *const *events, size_t n, uint64_t first_seq, int depth,
                       kb_error *err);

/* Runs one reaction to events of src (after they are appended) in the
 * stream id. A rejection sets err. */
static kb_status react_to(kb_engine *e, cmd_run *r, const kb_reaction *rx, const stream_run *src,
                          Kasboek__V1__Event *const *events, size_t n, uint64_t first_seq,
                          const char *id, int depth, kb_error *err) {
    stream_run t = {.agg = rx->target, .id = id};
    kb_status st = load_stream(e, r->rq->tenant, &t);
    /* settings are read only when there is something to book */
    if (st == KB_OK && !r->dc.settings) st = load_settings(e, r->rq->tenant, &r->dc.settings);
    if (st != KB_OK) return st;
    kb_decide_ctx tc = {.tenant = r->rq->tenant,
                        .id = t.id,
                        .now = r->rq->now,
                        .occurred_at = r->dc.occurred_at,
                        .first_seq = e->head.seq + 1,
                        .settings = r->dc.settings,
                        .arena = &e->arena,
                        .err = err};
    stream_run peer = {0};
    if (rx->peer) st = load_peer(e, r->rq->tenant, rx->peer, &peer, &tc.peer);
    if (st != KB_OK) return st;
    if (rx->react(t.state, src->state, events, n, first_seq, &tc) != KB_CODE_OK) return KB_OK;
    bool claims_free;
    st = check_claims(e, r->rq->tenant, t.id, t.agg->type, &tc, err, &claims_free);
    if (st != KB_OK || !claims_free) return st;
    uint64_t t_first = e->head.seq + 1;
    if (tc.n_events) st = write_stream(e, r, &t, tc.events, tc.n_events); /* else nothing to save */
    if (st == KB_OK) st = write_peer(e, r, &peer, &tc);
    if (st == KB_OK && tc.n_events && rx->chain && depth == 0)
        st = react(e, r, &t, tc.events, tc.n_events, t_first, depth + 1, err);
    return st;
}

/* Runs one reaction in each stream it names. */
static kb_status react_one(kb_engine *e, cmd_run *r, const kb_reaction *rx, const stream_run *src,
                           Kasboek__V1__Event *const *events, size_t n, uint64_t first_seq,
                           int depth, kb_error *err) {
    const char *ids[KB_REACTION_TARGETS_MAX];
    size_t k = 0;
    if (rx->target_ids) {
        k = rx->target_ids(src->state, events, n, &e->arena, ids, KB_REACTION_TARGETS_MAX);
    } else {
        ids[0] = rx->target_id(src->state, events, n, &e->arena);
        k = ids[0] != NULL;
    }
    for (size_t i = 0; i < k; i++) {
        kb_status st = react_to(e, r, rx, src, events, n, first_seq, ids[i], depth, err);
        if (st != KB_OK || err->code != KB_CODE_OK) return st;
    }
    return KB_OK;
}

/* Runs the reactions of src's events, in order; the first that refuses
 * stops them (the caller rolls back). */
static kb_status react(kb_engine *e, cmd_run *r, const stream_run *src,
                       Kasboek__V1__Event *const *events, size_t n, uint64_t first_seq, int depth,
                       kb_error *err) {
    const kb_reaction *const *rxs = src->agg->reactions;
    for (size_t i = 0; rxs && rxs[i] && n; i++) {
        kb_status st = react_one(e, r, rxs[i], src, events, n, first_seq, depth, err);
        if (st != KB_OK || err->code != KB_CODE_OK) return st;
    }
    return KB_OK;
}

static kb_status remember(kb_engine *e, cmd_run *r, kb_reply *reply) {
    kb_key k;
    idem_key(&k, r);
    uint8_t *v = kb_arena_alloc(&e->arena, KB_HASH_BYTES + reply->payload_len);
    if (!v) return KB_ERR_NOMEM;
    memcpy(v, r->fp, KB_HASH_BYTES);
    memcpy(v + KB_HASH_BYTES, reply->payload, reply->payload_len);
    kb_batch_put(e->batch, KB_CF_IDEMPOTENCY, k.bytes, k.len, v,
                 KB_HASH_BYTES + reply->payload_len);
    return KB_OK;
}

/* Appends the command's events and their reaction's. err is set (and
 * KB_OK returned) when the reaction refuses: the caller rolls back. */
static kb_status apply(kb_engine *e, cmd_run *r, stream_run *peer, kb_reply *reply) {
    uint64_t first_seq = e->head.seq + 1;
    stream_run sr = {.agg = r->cmd->agg, .id = r->id, .state = r->state, .version = r->version};
    kb_status st = write_stream(e, r, &sr, r->dc.events, r->dc.n_events);
    r->state = sr.state;
    r->version = sr.version;
    if (st == KB_OK) st = write_peer(e, r, peer, &r->dc);
    if (st == KB_OK) st = react(e, r, &sr, r->dc.events, r->dc.n_events, first_seq, 0, &reply->err);
    if (st != KB_OK || reply->err.code != KB_CODE_OK) return st;
    Kasboek__V1__CommandResult res = KASBOEK__V1__COMMAND_RESULT__INIT;
    res.version = r->version;
    res.first_seq = r->dc.n_events ? first_seq : 0;
    res.last_seq = r->dc.n_events ? e->head.seq : 0;
    res.created_id = (char *)(r->dc.created_id ? r->dc.created_id : "");
    r->cmd->result(r->state, &res);
    st = kb_reply_set(reply, &res.base);
    if (st != KB_OK || !r->idem_key) return st;
    return remember(e, r, reply);
}

/* --------------------------------------------------------------- execute */

static kb_status prepare(kb_engine *e, cmd_run *r, kb_reply *reply) {
    const kb_request *rq = r->rq;
    kb_error *err = &reply->err;
    r->cmd = kb_command_find(rq->method);
    if (!r->cmd) {
        kb_error_set(err, KB_REASON_UNKNOWN_METHOD, "method", "unknown method %.60s", rq->method);
        return KB_OK;
    }
    if (check_envelope(rq, err) != KB_CODE_OK) return KB_OK;
    r->msg = protobuf_c_message_unpack(r->cmd->desc, &e->arena.pb, rq->payload_len, rq->payload);
    if (!r->msg) {
        kb_error_set(err, KB_REASON_MALFORMED_PAYLOAD, "payload", "payload is not a valid %s",
                     r->cmd->desc->short_name);
        return KB_OK;
    }
    if (!kb_inspect_message(r->msg, err)) return KB_OK;
    kb_status st = route(e, r, err);
    if (st != KB_OK || err->code != KB_CODE_OK) return st;
    fingerprint(rq, r->fp);
    r->idem_key = rq->idempotency_key[0] ? rq->idempotency_key : NULL;
    if (!r->idem_key && r->cmd->creates) {
        r->idem_key = r->id;
        r->natural_key = true;
    }
    /* What events record as their command's key: the caller's, or the
     * natural one spelled "<Method>/<id>". */
    r->event_key =
        r->natural_key ? kb_arena_printf(&e->arena, "%s/%s", r->cmd->method, r->id) : r->idem_key;
    if (r->natural_key && !r->event_key) return KB_ERR_NOMEM;
    return KB_OK;
}

/* The other streams the command reads (cmd->reads), into r->dc.reads. */
static kb_status load_reads(kb_engine *e, cmd_run *r) {
    const kb_aggregate *aggs[KB_READS_MAX];
    const char *ids[KB_READS_MAX];
    size_t n = r->cmd->reads(r->state, r->msg, aggs, ids, KB_READS_MAX);
    KB_VERIFY(n <= KB_READS_MAX);
    for (size_t i = 0; i < n; i++) {
        stream_run sr = {.agg = aggs[i], .id = ids[i]};
        kb_status st = kb_id_valid(ids[i]) ? load_stream(e, r->rq->tenant, &sr) : KB_OK;
        if (st != KB_OK) return st;
        r->dc.reads[i] = sr.state;
    }
    r->dc.n_reads = n;
    return KB_OK;
}

static kb_status execute_one(kb_engine *e, const kb_request *rq, kb_reply *reply) {
    memset(reply, 0, sizeof *reply);
    if (e->sticky || !e->in_batch) return KB_ERR_STATE;
    kb_arena_reset(&e->arena);
    cmd_run r = {.rq = rq};
    kb_error *err = &reply->err;
    kb_status st = prepare(e, &r, reply);
    bool done = err->code != KB_CODE_OK;
    if (st == KB_OK && !done) st = fetch_state(e, &r);
    /* A natural key is written in the same commit as the stream's first
     * event: no stream, no key, so the read is skipped. */
    if (st == KB_OK && !done && (r.state || !r.natural_key)) {
        st = idem_lookup(e, &r, reply, &done);
    }
    if (st != KB_OK || done || check_time(&r, err) != KB_CODE_OK) return st;
    if (judge_state(&r, err) != KB_CODE_OK) return KB_OK;
    const Kasboek__V1__TenantSettings *settings = NULL;
    if (r.cmd->agg->needs_settings || r.cmd->needs_settings)
        st = load_settings(e, rq->tenant, &settings);
    if (st != KB_OK) return st;
    r.dc = (kb_decide_ctx){.tenant = rq->tenant,
                           .id = r.id,
                           .now = rq->now,
                           .occurred_at = r.dc.occurred_at,
                           .first_seq = e->head.seq + 1,
                           .settings = settings,
                           .arena = &e->arena,
                           .err = err};
    stream_run peer = {0};
    if (r.cmd->peer) st = load_peer(e, rq->tenant, r.cmd->peer, &peer, &r.dc.peer);
    if (st == KB_OK && r.cmd->reads) st = load_reads(e, &r);
    if (st != KB_OK) return st;
    if (r.cmd->decide(r.state, r.msg, &r.dc) != KB_CODE_OK) return KB_OK;
    assert(err->code == KB_CODE_OK);
    bool claims_free;
    st = check_claims(e, rq->tenant, r.id, r.cmd->agg->type, &r.dc, err, &claims_free);
    if (st != KB_OK || !claims_free) return st;
    kb_head head = e->head;
    kb_batch_savepoint(e->batch);
    st = apply(e, &r, &peer, reply);
    if (st != KB_OK || err->code != KB_CODE_OK) { /* nothing of it stays */
        e->head = head;
        kb_reply_fini(reply);
        if (kb_batch_rollback(e->batch) != KB_OK) e->sticky = true;
        return st;
    }
    e->batch_cmds++;
    return KB_OK;
}

bool kb_decide_claim(kb_decide_ctx *c, const char *kind, const char *id, const char *field,
                     kb_reason taken) {
    if (c->n_claims == sizeof c->claims / sizeof c->claims[0]) return false;
    c->claims[c->n_claims++] = (struct kb_claim){kind, id, field, taken};
    return true;
}

void *kb_arena_copy(kb_arena *a, const void *tmpl, size_t n) {
    void *p = kb_arena_alloc(a, n);
    if (p) memcpy(p, tmpl, n);
    return p;
}

void *kb_decide_emit_body(kb_decide_ctx *c, Kasboek__V1__Event__BodyCase bc, const void *tmpl,
                          size_t n) {
    Kasboek__V1__Event *ev = kb_decide_emit(c);
    void *body = ev ? kb_arena_copy(c->arena, tmpl, n) : NULL;
    if (!body) {
        kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no room for the command's events");
        return NULL;
    }
    ev->body_case = bc;
    ev->payment_recorded = body; /* the body oneof is a union of pointers */
    return body;
}

void *kb_decide_emit_peer_body(kb_decide_ctx *c, Kasboek__V1__Event__BodyCase bc, const void *tmpl,
                               size_t n) {
    Kasboek__V1__Event *ev = NULL;
    if (c->n_peer_events < KB_PEER_EVENTS_MAX) ev = kb_arena_alloc(c->arena, sizeof *ev);
    void *body = ev ? kb_arena_copy(c->arena, tmpl, n) : NULL;
    if (!body) {
        kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no room for the command's events");
        return NULL;
    }
    kasboek__v1__event__init(ev);
    ev->body_case = bc;
    ev->payment_recorded = body; /* the body oneof is a union of pointers */
    c->peer_events[c->n_peer_events++] = ev;
    return body;
}

Kasboek__V1__Event *kb_decide_emit(kb_decide_ctx *c) {
    if (c->n_events == KB_EVENTS_PER_COMMAND_MAX) return NULL;
    Kasboek__V1__Event *ev = kb_arena_alloc(c->arena, sizeof *ev);
    if (!ev) return NULL;
    kasboek__v1__event__init(ev);
    c->events[c->n_events++] = ev;
    return ev;
}

/* ---------------------------------------------------------- SubmitBatch */

#define KB_METHOD_PREFIX "kasboek.v1.Ledger/"

bool kb_engine_is_command(const char *method) {
    return method && (kb_command_find(method) || strcmp(method, "SubmitBatch") == 0);
}

static const char *short_method(const char *m) {
    size_t n = strlen(KB_METHOD_PREFIX);
    return strncmp(m, KB_METHOD_PREFIX, n) == 0 ? m + n : m;
}

/* Runs every command of the batch; results[i] gets command i's outcome.
 * The replies' payloads are kept in replies[] until the reply is packed. */
static void run_batch(kb_engine *e, const kb_request *rq, const Kasboek__V1__SubmitBatchRequest *b,
                      kb_reply *replies, Kasboek__V1__BatchResult *results) {
    for (size_t i = 0; i < b->n_commands; i++) {
        const Kasboek__V1__BatchCommand *c = b->commands[i];
        kb_request sub = *rq;
        sub.method = short_method(c->method);
        sub.idempotency_key = c->idempotency_key;
        sub.has_expected_version =
            c->expected_case == KASBOEK__V1__BATCH_COMMAND__EXPECTED_EXPECTED_VERSION;
        sub.expected_version = c->expected_version;
        sub.payload = c->payload.data;
        sub.payload_len = c->payload.len;
        kb_reply *r = &replies[i];
        kb_status st = KB_OK;
        if (!kb_command_find(sub.method)) {
            memset(r, 0, sizeof *r);
            kb_error_set(&r->err, KB_REASON_UNKNOWN_METHOD, "method", "not a command: %.60s",
                         sub.method);
        } else {
            st = execute_one(e, &sub, r);
        }
        if (st != KB_OK) { /* that command was rolled back; the others stand */
            kb_reply_fini(r);
            kb_error_set(&r->err, KB_REASON_INTERNAL_ERROR, "", "%s", kb_status_str(st));
        }
        kasboek__v1__batch_result__init(&results[i]);
        results[i].code = (Kasboek__V1__Code)r->err.code;
        results[i].reason = (char *)kb_reason_str(r->err.reason);
        results[i].field = r->err.field;
        results[i].message = r->err.message;
        results[i].payload.data = r->payload;
        results[i].payload.len = r->payload_len;
    }
}

static kb_status execute_batch(kb_engine *e, const kb_request *rq, kb_reply *reply) {
    memset(reply, 0, sizeof *reply);
    Kasboek__V1__SubmitBatchRequest *b =
        kasboek__v1__submit_batch_request__unpack(NULL, rq->payload_len, rq->payload);
    if (!b) {
        kb_error_set(&reply->err, KB_REASON_MALFORMED_PAYLOAD, "payload",
                     "payload is not a valid SubmitBatchRequest");
        return KB_OK;
    }
    /* Keys and versions are per command. The envelope's were ignored, so a
     * SubmitBatch resent with the same envelope key was applied twice (a
     * review: one refund booked twice); they are refused now. */
    const char *envelope_field = rq->idempotency_key && rq->idempotency_key[0] ? "idempotency_key"
                                 : rq->has_expected_version                    ? "expected_version"
                                                                               : NULL;
    if (envelope_field) {
        kb_error_set(&reply->err, KB_REASON_FIELD_NOT_ALLOWED, envelope_field,
                     "SubmitBatch takes %s per command (commands[i].%s), not on the envelope",
                     envelope_field, envelope_field);
        kasboek__v1__submit_batch_request__free_unpacked(b, NULL);
        return KB_OK;
    }
    size_t n = b->n_commands;
    if (n == 0 || n > KB_SUBMIT_BATCH_COMMANDS_MAX) {
        kb_error_set(&reply->err, n ? KB_REASON_TOO_MANY_ITEMS : KB_REASON_FIELD_REQUIRED,
                     "commands", "a batch holds 1 to %d commands", KB_SUBMIT_BATCH_COMMANDS_MAX);
        kasboek__v1__submit_batch_request__free_unpacked(b, NULL);
        return KB_OK;
    }
    kb_reply *replies = calloc(n, sizeof *replies);
    Kasboek__V1__BatchResult *results = calloc(n, sizeof *results);
    Kasboek__V1__BatchResult **ptrs = calloc(n, sizeof *ptrs);
    kb_status st = replies && results && ptrs ? KB_OK : KB_ERR_NOMEM;
    if (st == KB_OK) {
        run_batch(e, rq, b, replies, results);
        Kasboek__V1__SubmitBatchReply out = KASBOEK__V1__SUBMIT_BATCH_REPLY__INIT;
        for (size_t i = 0; i < n; i++) ptrs[i] = &results[i];
        out.n_results = n;
        out.results = ptrs;
        st = kb_reply_set(reply, &out.base);
    }
    for (size_t i = 0; replies && i < n; i++) kb_reply_fini(&replies[i]);
    free(replies);
    free(results);
    free(ptrs);
    kasboek__v1__submit_batch_request__free_unpacked(b, NULL);
    return st;
}

kb_status kb_engine_execute(kb_engine *e, const kb_request *rq, kb_reply *reply) {
    if (rq->method && strcmp(rq->method, "SubmitBatch") == 0) return execute_batch(e, rq, reply);
    return execute_one(e, rq, reply);
}
