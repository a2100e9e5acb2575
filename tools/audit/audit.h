/* kasboek-audit: the auditor's tool (DESIGN.md §2-3).
 *
 *   verify DATA_DIR                       walk the hash chain
 *   replay DATA_DIR [--scratch DIR] [--keep]
 *                                         rebuild the projections from the log
 *                                         and compare them with the live ones
 *
 * Every store is opened read-only, so the tool works on a copy of a live
 * data dir and on a RocksDB checkpoint. Exit codes: 0 ok, 1 the data fails
 * the check, 2 usage, open or environment errors. */
#ifndef KB_AUDIT_H
#define KB_AUDIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store.h"

enum {
    KB_AUDIT_EXIT_OK = 0,
    KB_AUDIT_EXIT_FAIL = 1,  /* the data does not check */
    KB_AUDIT_EXIT_USAGE = 2, /* usage, open or environment error */
};

#define KB_AUDIT_DIFFS_SHOWN_MAX 20
#define KB_AUDIT_PATH_BYTES_MAX 4096

/* Subcommands (main.c dispatches; argv excludes the subcommand name). */
int kb_audit_verify(int argc, char **argv);
int kb_audit_replay(int argc, char **argv);
void kb_audit_usage(FILE *f);

/* Opens dir read-only; on failure prints "error: ..." to stderr. */
kb_status kb_audit_open_ro(const char *dir, kb_store **out);

/* Lower-case hex of n bytes. */
void kb_audit_print_hex(FILE *f, const void *p, size_t n);
/* A key: quoted when every byte is printable ASCII, else x'<hex>'. */
void kb_audit_print_key(FILE *f, const void *p, size_t n);

/* Runs task(arg, 0..n-1) on this thread and one other, taking them in
 * order; returns when all are done (ctx unused: kb_rebuild_config.run). */
void kb_audit_run_tasks(void *ctx, void (*task)(void *arg, size_t i), void *arg, size_t n);

/* One task on a thread of its own (kb_rebuild_config.start/join, with a
 * kb_audit_bg as ctx): start runs it there (here, when no thread can be
 * made); join waits for it. */
typedef struct kb_audit_bg {
    pthread_t tid;
    bool running;
    void (*task)(void *arg);
    void *arg;
} kb_audit_bg;
void kb_audit_bg_start(void *ctx, void (*task)(void *arg), void *arg);
void kb_audit_bg_join(void *ctx);

/* Seconds on the monotonic clock (tools only: ledger/ has no clock). */
double kb_audit_now_s(void);

/* Removes everything under dir (no symlinks followed), and dir itself
 * unless keep_top. 0 on success; failures are printed to stderr. Not
 * thread-safe. */
int kb_audit_rmtree(const char *dir, bool keep_top);

/* The byte-for-byte comparison of the projections of two stores. */
typedef struct kb_audit_cmp {
    uint64_t rows[KB_CF_COUNT_]; /* entries per family in the live store */
    uint64_t diffs;              /* differences found (all of them) */
    FILE *out;                   /* where the first KB_AUDIT_DIFFS_SHOWN_MAX go */
} kb_audit_cmp;

/* Compares family cf of live (at snap) with replay in key order. I/O
 * errors are returned; differences are counted and printed in cmp. */
kb_status kb_audit_cmp_family(kb_store *live, const kb_snapshot *snap, kb_store *replay,
                              kb_cf cf, kb_audit_cmp *cmp) KB_MUST_USE;
/* kb_audit_cmp_family over cfs[0..n) on two threads; the counts and the
 * lines shown are those of running them one after another in that order. */
kb_status kb_audit_cmp_families(kb_store *live, const kb_snapshot *snap, kb_store *replay,
                                const kb_cf *cfs, size_t n, kb_audit_cmp *cmp) KB_MUST_USE;
/* Compares the meta "head" value of both stores. */
kb_status kb_audit_cmp_head(kb_store *live, const kb_snapshot *snap, kb_store *replay,
                            kb_audit_cmp *cmp) KB_MUST_USE;

#endif
