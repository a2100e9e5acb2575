/* A two-thread scan of the events family: a reader thread walks the
 * RocksDB iterator (and, if asked, checks the hash chain) and copies the
 * records into a ring of buffers; the calling thread takes them in key
 * order. On a 2-core machine this puts RocksDB's reads and BLAKE2b on
 * separate cores (kasboek-audit verify and replay). */
#ifndef KB_AUDIT_SCAN_H
#define KB_AUDIT_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "store.h"

#define KB_AUDIT_SCAN_SLOTS         8               /* buffers in the ring */
#define KB_AUDIT_SCAN_SLOT_BYTES    (1024u * 1024u) /* each holds whole records */
#define KB_AUDIT_SCAN_KEY_BYTES_MAX 64              /* longer keys are handed on empty */

/* Called on the calling thread for each record, in key order. A value
 * longer than KB_LOG_RECORD_BYTES_MAX (or a key longer than
 * KB_AUDIT_SCAN_KEY_BYTES_MAX) arrives empty: such a record can never
 * check, and kb_log_walk_step gives the same verdict and reason for the
 * empty one (an events key must be 8 bytes; see log.h). */
typedef kb_status (*kb_audit_scan_fn)(void *ctx, const char *key, size_t key_len, const char *val,
                                      size_t val_len);

typedef struct kb_audit_scan_result {
    kb_status fn;     /* fn's first failure (it stopped the scan), else KB_OK */
    kb_status reader; /* KB_ERR_CORRUPT: walk failed (walk says where and why);
                         KB_ERR_IO: the iterator failed; KB_ERR_NOMEM */
} kb_audit_scan_result;

/* Reads every record of the events family of s at snap. When walk is
 * non-NULL the reader checks each record with kb_log_walk_step before
 * handing it on and stops at the first that fails; fn still sees every
 * record before it. The first failure of fn stops the reader. Returns
 * fn's failure if any, else the reader's. */
kb_status kb_audit_scan(kb_store *s, const kb_snapshot *snap, kb_log_walk *walk,
                        kb_audit_scan_fn fn, void *ctx, kb_audit_scan_result *res) KB_MUST_USE;

#endif
