/* kasboek-audit verify DATA_DIR: walks the whole hash chain and names the
 * first bad seq. The checks are kb_log_verify's (kb_log_walk_step, _end);
 * the records come from a reader thread (scan.h), so RocksDB's reads and
 * the hashing run on two cores. */
#include <string.h>

#include "audit.h"
#include "log.h"
#include "scan.h"

static kb_status verify_step(void *ctx, const char *key, size_t kl, const char *val, size_t vl) {
    return kb_log_walk_step(ctx, key, kl, val, vl);
}

/* kb_log_verify, pipelined: same results in count, bad_seq and why. */
static kb_status verify_log(kb_store *s, uint64_t *count, uint64_t *bad_seq, char *why,
                            size_t why_n) {
    kb_snapshot *snap = kb_store_snapshot(s);
    kb_head head;
    kb_log_walk w;
    kb_log_walk_init(&w);
    kb_status st = kb_log_head_read(s, NULL, snap, &head);
    if (st == KB_OK) {
        kb_audit_scan_result res;
        st = kb_audit_scan(s, snap, NULL, verify_step, &w, &res);
    }
    if (st == KB_OK) st = kb_log_walk_end(&w, &head);
    kb_store_snapshot_release(s, snap);
    *count = w.count;
    *bad_seq = w.bad_seq;
    snprintf(why, why_n, "%s", w.why);
    return st;
}

static int verify_report_ok(kb_store *s, uint64_t count) {
    kb_head head;
    kb_status st = kb_log_head_read(s, NULL, NULL, &head);
    if (st != KB_OK) {
        /* verify_log just read the same head: only an I/O error is left. */
        fprintf(stderr, "error: reading the head: %s\n", kb_status_str(st));
        return KB_AUDIT_EXIT_USAGE;
    }
    printf("ok: %llu events, head seq %llu, head hash ", (unsigned long long)count,
           (unsigned long long)head.seq);
    kb_audit_print_hex(stdout, head.hash, sizeof head.hash);
    printf("\n");
    return KB_AUDIT_EXIT_OK;
}

static int verify_report_fail(kb_status st, uint64_t count, uint64_t bad_seq, const char *why) {
    if (st == KB_ERR_CORRUPT && why[0]) {
        printf("FAIL at seq %llu: %s\n", (unsigned long long)bad_seq, why);
    } else if (st == KB_ERR_CORRUPT) {
        /* verify_log fails before the walk only when meta/head is bad. */
        printf("FAIL at seq %llu: the head in meta is malformed\n", (unsigned long long)bad_seq);
    } else {
        /* The walk stopped on a RocksDB error (an unreadable block, a bad
         * checksum): the chain could not be checked past count events. */
        printf("FAIL at seq %llu: storage error reading the log after %llu good events (%s)\n",
               (unsigned long long)(count + 1), (unsigned long long)count, kb_status_str(st));
    }
    return KB_AUDIT_EXIT_FAIL;
}

int kb_audit_verify(int argc, char **argv) {
    if (argc == 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        kb_audit_usage(stdout);
        return KB_AUDIT_EXIT_OK;
    }
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: kasboek-audit verify DATA_DIR\n");
        return KB_AUDIT_EXIT_USAGE;
    }
    kb_store *s = NULL;
    if (kb_audit_open_ro(argv[0], &s) != KB_OK) return KB_AUDIT_EXIT_USAGE;
    uint64_t count = 0, bad_seq = 0;
    char why[256];
    kb_status st = verify_log(s, &count, &bad_seq, why, sizeof why);
    int rc = st == KB_OK ? verify_report_ok(s, count) : verify_report_fail(st, count, bad_seq, why);
    kb_store_close(s);
    return rc;
}
