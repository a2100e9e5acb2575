/* Projections: the state row and index entries of one aggregate, as a fold
 * of evolve() over its events. The live engine and kasboek-audit replay use
 * these same calls, so a rebuild gives the same bytes. */
#ifndef KB_PROJECT_H
#define KB_PROJECT_H

#include "aggregate.h"
#include "store.h"

/* Loads the state of tenant/type/id through batch b (may be NULL: latest).
 * KB_ERR_NOT_FOUND when the stream has no events; KB_ERR_CORRUPT when the
 * row does not decode. Memory from a. */
kb_status kb_project_load(kb_store *s, kb_batch *b, const kb_snapshot *snap, kb_arena *a,
                          const char *tenant, const kb_aggregate *agg, const char *id,
                          ProtobufCMessage **out) KB_MUST_USE;

/* kb_project_load, or agg's fresh state for id when the stream has no
 * events (settings read before they are first set). */
kb_status kb_project_load_or_create(kb_store *s, kb_batch *b, const kb_snapshot *snap, kb_arena *a,
                                    const char *tenant, const kb_aggregate *agg, const char *id,
                                    ProtobufCMessage **out) KB_MUST_USE;

/* The index entries of state (state NULL: none). */
kb_status kb_project_index(const kb_aggregate *agg, const ProtobufCMessage *state,
                           const char *tenant, kb_arena *a, kb_index_set *out) KB_MUST_USE;

/* Writes state's row and the index changes from before to the entries of
 * state into b. */
kb_status kb_project_save(kb_batch *b, kb_arena *a, const char *tenant, const kb_aggregate *agg,
                          const char *id, const ProtobufCMessage *state,
                          const kb_index_set *before) KB_MUST_USE;

/* Where kb_project_save_to writes the row and index changes. */
struct kb_project_sink {
    void *ctx;
    void (*put)(void *ctx, kb_cf cf, const void *key, size_t key_len, const void *val,
                size_t val_len);
    void (*del)(void *ctx, kb_cf cf, const void *key, size_t key_len);
};

/* kb_project_save into any sink (kb_project_save is this with b's). */
kb_status kb_project_save_to(const kb_project_sink *sink, kb_arena *a, const char *tenant,
                             const kb_aggregate *agg, const char *id, const ProtobufCMessage *state,
                             const kb_index_set *before) KB_MUST_USE;

/* The effects of one event (agg->effects) into b; KB_OK when it has none. */
kb_status kb_project_effects(kb_batch *b, kb_arena *a, const char *tenant, const kb_aggregate *agg,
                             uint64_t seq, const Kasboek__V1__Event *ev) KB_MUST_USE;

/* Applies one stored event to the projections in b: load, evolve, save.
 * The stream must name a known aggregate ("payment/<id>"). Used by
 * replay. */
kb_status kb_project_record(kb_store *s, kb_batch *b, kb_arena *a,
                            const Kasboek__V1__EventRecord *rec) KB_MUST_USE;

#endif
