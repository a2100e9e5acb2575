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
/* From now on every new request is answered UNAVAILABLE SHUTTING_DOWN;
 * connections stay open so the replies of accepted commands still reach
 * their clients (closing a listener would close its connections too). */
void kbd_rpc_quiesce(kbd_rpc *r);
/* Waits until every command the writer took has had its reply sent (or
 * timeout_ms passed: false). Call after kbd_rpc_quiesce. */
bool kbd_rpc_drain(kbd_rpc *r, int timeout_ms);
/* Closes the socket and frees everything. Stop the writer first: a job it
 * still holds points into a context freed here. */
void kbd_rpc_close(kbd_rpc *r);

#endif
