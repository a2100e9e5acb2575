/* The request/reply front: an nng REP socket with many contexts, each
 * holding one request at a time. Commands go to the writer; queries are
 * answered on nng's worker thread from a snapshot. */
#ifndef KBD_RPC_H
#define KBD_RPC_H

#include "clock.h"
#include "config.h"
#include "store.h"
#include "writer.h"

typedef struct kbd_rpc kbd_rpc;

/* Opens the socket, listens on every configured URL and starts receiving.
 * NULL on failure (reason printed). */
kbd_rpc *kbd_rpc_start(const kbd_config *cfg, kb_store *store, kbd_writer *writer,
                       kbd_clock *clock);
/* Stops listening for new connections. */
void kbd_rpc_stop_listening(kbd_rpc *r);
/* Waits until no request is being handled (or timeout_ms passed). */
void kbd_rpc_drain(kbd_rpc *r, int timeout_ms);
/* Closes the socket and frees everything. The writer must still run until
 * this returns only if requests are in flight; call after drain. */
void kbd_rpc_close(kbd_rpc *r);

#endif
