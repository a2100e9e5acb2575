/* The command pipeline (DESIGN.md §2-3): idempotency, load state, decide,
 * evolve, and write events + projections into the writer's batch.
 *
 * Use (one thread, the writer):
 *   kb_engine_open -> { kb_engine_batch_begin; kb_engine_execute…;
 *                       kb_engine_batch_commit } … -> kb_engine_close
 * A reply may be sent only after kb_engine_batch_commit returned KB_OK: that
 * is when its events are on disk. A failed commit makes the engine sticky:
 * every later call fails with KB_ERR_STATE until it is reopened.
 *
 * Pipelined (the server): kb_engine_batch_seal hands the open batch over;
 * kb_sealed_write writes it (on any thread) while the writer begins and
 * runs the next batch, which reads the sealed one's writes. Before the
 * next seal the writer calls kb_engine_sealed_done with the write's status;
 * replies of the sealed batch go out after a KB_OK write, and when it
 * failed the open batch (built on it) must be aborted and its replies
 * failed too: the engine is sticky from then on. */
#ifndef KB_ENGINE_H
#define KB_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "log.h"
#include "status.h"
#include "store.h"

typedef struct kb_engine kb_engine;

/* One request as the engine sees it. Strings are NUL-terminated and
 * borrowed for the call. */
typedef struct kb_request {
    const char *tenant;
    const char *actor;           /* API key id, recorded in every event */
    const char *method;          /* short name: "RecordPayment" */
    const char *idempotency_key; /* "" = none */
    bool has_expected_version;
    uint64_t expected_version;
    const uint8_t *payload;
    size_t payload_len;
    int64_t now; /* the server's clock, microseconds UTC */
} kb_request;

/* A reply. payload is malloc'd and owned by the caller (free()). */
typedef struct kb_reply {
    kb_error err;
    uint8_t *payload;
    size_t payload_len;
} kb_reply;

void kb_reply_fini(kb_reply *r);
/* Packs m into a new malloc'd reply payload. */
kb_status kb_reply_set(kb_reply *r, const ProtobufCMessage *m) KB_MUST_USE;

kb_status kb_engine_open(kb_store *store, kb_engine **out) KB_MUST_USE;
void kb_engine_close(kb_engine *e);

kb_status kb_engine_batch_begin(kb_engine *e) KB_MUST_USE;
/* Runs one command into the open batch. Returns KB_OK when the command was
 * handled (accepted, replayed or rejected: see reply->err); a system error
 * otherwise (the batch must then be aborted). */
kb_status kb_engine_execute(kb_engine *e, const kb_request *rq, kb_reply *reply) KB_MUST_USE;
/* True for every method kb_engine_execute takes: each aggregate command,
 * and "SubmitBatch" (a SubmitBatchRequest of up to
 * KB_SUBMIT_BATCH_COMMANDS_MAX commands, each run as if it came alone, in
 * order; the reply is a SubmitBatchReply with one result per command). */
bool kb_engine_is_command(const char *method);

/* Records the manual clock reading in the batch (meta/clock). */
void kb_engine_set_clock(kb_engine *e, int64_t now);
/* Writes the batch with sync. On failure the engine turns sticky. */
kb_status kb_engine_batch_commit(kb_engine *e) KB_MUST_USE;

typedef struct kb_sealed {
    kb_store *store;
    kb_batch *batch;
    kb_head head;        /* the log's head once it is written */
    kb_head head_before; /* and before */
} kb_sealed;
/* Seals the open batch (KB_ERR_STATE while another sealed batch is not
 * done). */
kb_status kb_engine_batch_seal(kb_engine *e, kb_sealed *out) KB_MUST_USE;
/* The synced write of a sealed batch; touches nothing of the engine. */
kb_status kb_sealed_write(const kb_sealed *s) KB_MUST_USE;
/* On the writer thread, after kb_sealed_write returned written. */
void kb_engine_sealed_done(kb_engine *e, const kb_sealed *s, kb_status written);
void kb_engine_batch_abort(kb_engine *e);

/* Commands executed in the open batch so far. */
int kb_engine_batch_commands(const kb_engine *e);
size_t kb_engine_batch_bytes(kb_engine *e);
kb_head kb_engine_head(const kb_engine *e);
/* The store, and the open batch (reads through it see what the batch
 * holds so far); for ledger modules that run commands (tick.c). */
kb_store *kb_engine_store(kb_engine *e);
kb_batch *kb_engine_open_batch(kb_engine *e);

/* What one Tick did. */
typedef struct kb_tick_result {
    uint32_t payouts_closed;
    uint32_t invoices_overdue;
    uint32_t plans_advanced;
    bool more; /* more was due than KB_TICK_ACTIONS_MAX: tick again */
} kb_tick_result;

/* Runs what time makes due at now as commands of the open batch (actor
 * "system:tick"): each tenant's payout day closes once its payout minute
 * has passed and something is available by it, and each open invoice
 * whose due date has passed is marked overdue (InvoiceBecameOverdue,
 * once), and each open payment plan's instalments become due (SDD ones
 * collecting) on their date and overdue the day after. At most KB_TICK_ACTIONS_MAX commands per call. */
kb_status kb_engine_tick(kb_engine *e, int64_t now, kb_tick_result *out) KB_MUST_USE;

/* Reads the stored manual clock (0 when never set). */
kb_status kb_engine_clock_read(kb_store *s, int64_t *now) KB_MUST_USE;

#endif
