/* The contract every aggregate (payment, payout, invoice, plan, …) fills in
 * so the engine, the projections and the replay stay generic.
 *
 * State is the aggregate's resource message (e.g. Payment), which must have
 * a `uint64 version` field; it is stored packed in the state family and
 * returned as is by queries. All memory comes from the arena passed in. */
#ifndef KB_AGGREGATE_H
#define KB_AGGREGATE_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "kasboek.pb-c.h"
#include "keys.h"
#include "status.h"

/* Index entries a state implies. The engine diffs the sets before and after
 * an event and writes only the changes; replay builds them the same way. */
typedef struct kb_index_set {
    kb_arena *arena;
    size_t n;
    size_t cap;
    struct kb_index_entry {
        const char *key; /* key bytes, copied into the arena */
        size_t key_len;
        const char *value; /* NUL-terminated, may be "" */
    } * entries;
} kb_index_set;

/* Adds an entry (key copied, value must live in the arena or be static).
 * Returns false when the arena is exhausted. */
bool kb_index_set_add(kb_index_set *s, const kb_key *key, const char *value);

/* Alias index: "<tenant>/alias/<kind>/<alias id>" -> aggregate id. Lets a
 * command name a refund or dispute instead of its payment. */
void kb_key_alias(kb_key *k, const char *tenant, const char *kind, const char *alias_id);

typedef struct kb_aggregate kb_aggregate;
typedef struct kb_decide_ctx kb_decide_ctx;

/* Consequences of one aggregate's events in other streams, appended by
 * the engine in the same commit, right after them (a payment's money
 * movements book balance transactions; a closed payout day creates its
 * payout; a failed payout books its amount back; a plan's payments pass on
 * to the invoices it covers). A reaction names one target stream
 * (target_id) or several (target_ids, each run in turn). Reactions chain
 * only where a reaction says so (chain): then the target's own reactions
 * run on the events it appended, one level deep (a payment's money moves
 * its plan, whose reaction moves the plan's invoices). */
/* A second stream a decide (or react) reads and may append to: a
 * tenant-wide counter such as the invoice number series. Its state is
 * given to decide (a fresh one when the stream is new) and the events put
 * in kb_decide_ctx.peer_events are appended to it in the same commit. */
typedef struct kb_peer {
    const kb_aggregate *agg;
    const char *id; /* the one stream of its type per tenant */
} kb_peer;

typedef struct kb_reaction {
    const kb_aggregate *target;
    const kb_peer *peer; /* NULL: none */
    /* The target stream's id (from the arena), or NULL when the events
     * have no consequence. Pure. */
    const char *(*target_id)(const ProtobufCMessage *source_state,
                             Kasboek__V1__Event *const *events, size_t n, kb_arena *a);
    /* Or several: writes up to cap ids (from the arena, distinct) into ids
     * and returns how many. Pure. */
    size_t (*target_ids)(const ProtobufCMessage *source_state, Kasboek__V1__Event *const *events,
                         size_t n, kb_arena *a, const char **ids, size_t cap);
    bool chain; /* the target's reactions run on what this one appends */
    /* Pure: emits into c (c->id is the target id; c->first_seq the seq its
     * first event will get) the target's events caused by the source's
     * events (events[0] at seq first_source_seq, the rest after it).
     * target_state is NULL when the target stream is new. A code other
     * than OK rejects the whole command (nothing is written). */
    kb_code (*react)(const ProtobufCMessage *target_state, const ProtobufCMessage *source_state,
                     Kasboek__V1__Event *const *events, size_t n, uint64_t first_source_seq,
                     kb_decide_ctx *c);
} kb_reaction;

/* Where kb_project_save_to and effects write (see project.h). */
typedef struct kb_project_sink kb_project_sink;

struct kb_aggregate {
    const char *type; /* "payment": stream type */
    const ProtobufCMessageDescriptor *state_desc;
    /* A fresh state for id, before its first event. */
    ProtobufCMessage *(*create)(kb_arena *a, const char *id);
    /* Pure and total: folds one accepted event into state. Never fails on
     * an event that was once accepted (allocation is bounded by limits.h;
     * the arena is sized for it). */
    void (*evolve)(ProtobufCMessage *state, const Kasboek__V1__Event *ev, kb_arena *a);
    /* Adds every index entry the state implies. */
    bool (*index)(const ProtobufCMessage *state, const char *tenant, kb_index_set *out);
    /* Optional: records one event implies on its own, beside the state
     * (immutable rows such as balance transactions, too many to keep in
     * a state). Puts only, each key written once; false when out of
     * memory. seq is the event's. Pure. */
    bool (*effects)(const char *tenant, uint64_t seq, const Kasboek__V1__Event *ev, kb_arena *a,
                    const kb_project_sink *sink);
    const kb_reaction *const *reactions; /* NULL-terminated, run in order; NULL: none */
    bool needs_settings;         /* decide reads the tenant's settings (a reaction always
                                    gets them) */
};

/* What decide() gets and gives. */
struct kb_decide_ctx {
    const char *tenant;
    const char *id;                              /* the aggregate id */
    int64_t now;                                 /* server clock, microseconds */
    int64_t occurred_at;                         /* command's occurred_at, defaulted to now */
    uint64_t first_seq;                          /* the seq the first emitted event will get */
    const Kasboek__V1__TenantSettings *settings; /* decide: when the aggregate or the command
                                                    needs_settings;
                                                    react: always */
    kb_arena *arena;
    kb_error *err;
    /* outputs */
    Kasboek__V1__Event *events[KB_EVENTS_PER_COMMAND_MAX];
    size_t n_events;
    const ProtobufCMessage *peer; /* the command's (or reaction's) peer state */
    /* The streams the command's reads() named, in its order: each state,
     * or NULL when the stream does not exist (or its id is not valid). */
    const ProtobufCMessage *reads[KB_READS_MAX];
    size_t n_reads;
    Kasboek__V1__Event *peer_events[KB_PEER_EVENTS_MAX];
    size_t n_peer_events;
    const char *created_id; /* id of a refund/dispute the command made */
    /* Tenant-wide unique names the command takes (alias index entries the
     * new state will hold); the engine refuses the command when one is
     * taken by another aggregate. */
    struct kb_claim {
        const char *kind;  /* alias kind: "refund", "provider_txn" */
        const char *id;    /* alias id (an id-safe string) */
        const char *field; /* the request field that names it */
        kb_reason taken;   /* reason when it is taken */
    } claims[2];
    size_t n_claims;
};

/* Adds a claim; false when the bound is reached. */
bool kb_decide_claim(kb_decide_ctx *c, const char *kind, const char *id, const char *field,
                     kb_reason taken);

/* A new zeroed Event in the context's output (metadata is stamped by the
 * engine). NULL when KB_EVENTS_PER_COMMAND_MAX is reached or no memory. */
Kasboek__V1__Event *kb_decide_emit(kb_decide_ctx *c);

/* Emits an event whose body is a copy of tmpl (n bytes) with case bc and
 * returns the body to fill in; NULL (c->err set) when out of room. */
void *kb_decide_emit_body(kb_decide_ctx *c, Kasboek__V1__Event__BodyCase bc, const void *tmpl,
                          size_t n);
/* The same, for an event of the peer stream. */
void *kb_decide_emit_peer_body(kb_decide_ctx *c, Kasboek__V1__Event__BodyCase bc, const void *tmpl,
                               size_t n);
/* A copy of tmpl (n bytes) in a; NULL when out of memory. */
void *kb_arena_copy(kb_arena *a, const void *tmpl, size_t n);

/* A new event body of message type T (INIT its initializer), case CASE. */
#define KB_EMIT(c, T, INIT, CASE) ((T *)kb_decide_emit_body((c), (CASE), &(T)INIT, sizeof(T)))
/* A new message of type T from arena a, set to its INIT value. */
#define KB_NEW(a, T, INIT) ((T *)kb_arena_copy((a), &(T)INIT, sizeof(T)))

typedef struct kb_command {
    const char *method;                     /* "RefundPayment" */
    const ProtobufCMessageDescriptor *desc; /* its request message */
    const kb_aggregate *agg;
    const char *id_field; /* string field naming the aggregate (or alias) */
    const char *fixed_id; /* instead of id_field: the one stream of its type */
    const kb_peer *peer;  /* NULL: none */
    bool needs_settings;  /* this command's decide reads the tenant's settings (as when
                             its aggregate needs_settings) */
    /* Optional, pure: the other streams decide reads (an invoice a plan
     * covers). Fills agg[i] and id[i] (ids borrowed from cmd or state, the
     * command's stream, NULL when new), returns how many, at most cap. */
    size_t (*reads)(const ProtobufCMessage *state, const ProtobufCMessage *cmd,
                    const kb_aggregate **agg, const char **id, size_t cap);
    bool upsert;          /* the stream may exist or not (decide gets NULL) */
    const char *alias;    /* NULL, or the alias kind id_field names */
    bool creates;         /* the stream must not exist yet */
    kb_reason exists;     /* when creates and it exists */
    kb_reason not_found;  /* when !creates and it (or the alias) is absent */
    /* Pure: validates cmd against state (NULL when the stream is new) and
     * emits events, or sets c->err and returns its code. */
    kb_code (*decide)(const ProtobufCMessage *state, const ProtobufCMessage *cmd, kb_decide_ctx *c);
    /* Puts the resource into the reply. */
    void (*result)(ProtobufCMessage *state, Kasboek__V1__CommandResult *r);
} kb_command;

/* Every command of every aggregate; NULL when unknown. */
const kb_command *kb_command_find(const char *method);
/* The aggregate that owns stream type, NULL when unknown. */
const kb_aggregate *kb_aggregate_find(const char *type);

/* Every aggregate, NULL-terminated (for replay). */
extern const kb_aggregate *const kb_aggregates[];

#endif
