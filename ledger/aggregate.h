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

typedef struct kb_aggregate {
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
} kb_aggregate;

/* What decide() gets and gives. */
typedef struct kb_decide_ctx {
    const char *tenant;
    const char *id;      /* the aggregate id */
    int64_t now;         /* server clock, microseconds */
    int64_t occurred_at; /* command's occurred_at, defaulted to now */
    kb_arena *arena;
    kb_error *err;
    /* outputs */
    Kasboek__V1__Event *events[KB_EVENTS_PER_COMMAND_MAX];
    size_t n_events;
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
} kb_decide_ctx;

/* Adds a claim; false when the bound is reached. */
bool kb_decide_claim(kb_decide_ctx *c, const char *kind, const char *id, const char *field,
                     kb_reason taken);

/* A new zeroed Event in the context's output (metadata is stamped by the
 * engine). NULL when KB_EVENTS_PER_COMMAND_MAX is reached or no memory. */
Kasboek__V1__Event *kb_decide_emit(kb_decide_ctx *c);

typedef struct kb_command {
    const char *method;                     /* "RefundPayment" */
    const ProtobufCMessageDescriptor *desc; /* its request message */
    const kb_aggregate *agg;
    const char *id_field; /* string field naming the aggregate (or alias) */
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
