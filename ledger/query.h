/* The read side: queries answered from one RocksDB snapshot each, off the
 * writer thread. Safe to call from many threads at once. */
#ifndef KB_QUERY_H
#define KB_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "store.h"

/* True when method is a query this module answers. */
bool kb_query_known(const char *method);

/* Answers rq (idempotency fields are ignored; rq->now is the server's clock,
 * which splits available from pending in GetBalance). Returns KB_OK
 * when answered (see reply->err), or a system error. */
kb_status kb_query_execute(kb_store *s, const kb_request *rq, kb_reply *reply) KB_MUST_USE;

/* Index entries one ListPayments page may read (KB_LIST_SCAN_MAX); a
 * test lowers it to reach the out-of-budget cursor with few rows. Set it
 * before any query runs. */
extern uint64_t kb_query_list_scan_max;

#endif
