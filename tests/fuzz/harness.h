/* Shared support of the fuzz targets (tests/fuzz/fuzz_*.c): a seeded
 * engine on a temporary store, and the invariants every reply must keep.
 *
 * A broken invariant calls fz_fail, which prints it and aborts, so that
 * libFuzzer (or replay_main.c) reports the input. FZ_CHECK stays on in
 * release builds (no assert: RelWithDebInfo defines NDEBUG). */
#ifndef KB_FUZZ_HARNESS_H
#define KB_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "kasboek.pb-c.h"
#include "query.h"

#define FZ_NOW INT64_C(1767225600000000) /* 2026-01-01, every request's clock */

#define FZ_CHECK(cond) ((cond) ? (void)0 : fz_fail(__FILE__, __LINE__, #cond))
_Noreturn void fz_fail(const char *file, int line, const char *what);

typedef struct fz_env {
    char dir[64];
    kb_store *store;
    kb_engine *engine;
} fz_env;

/* sodium_init, then a store in a new temp dir with the seed payments (see
 * harness.c), removed again at exit. Aborts on any failure. */
fz_env *fz_env_open(void);

/* Runs one command alone in a committed batch; *out gets the reply (the
 * caller calls kb_reply_fini). Aborts on a system error. */
void fz_exec_commit(fz_env *e, const char *tenant, const char *method, const ProtobufCMessage *m,
                    const char *idem, kb_reply *out);

/* Runs one query; aborts on a system error. */
void fz_query(fz_env *e, const char *tenant, const char *method, const ProtobufCMessage *m,
              kb_reply *out);

bool fz_heads_equal(const kb_head *a, const kb_head *b);

/* A rejection: a reason (with its own code), an offending field, UTF-8
 * text, no payload. */
void fz_check_rejection(const kb_reply *r);
/* A rejection as a BatchResult carries it. */
void fz_check_batch_rejection(const Kasboek__V1__BatchResult *r);

/* Every string valid UTF-8 and free of card numbers, every enum a declared
 * value, and no unknown fields, recursively. */
void fz_check_clean(const ProtobufCMessage *m);

/* The payment's derived amounts match its refunds and disputes, and the
 * parts sum to the whole once collected. */
void fz_check_payment(const Kasboek__V1__Payment *p);
/* The invoice's amounts add up (lines, taxes, payments, due). */
void fz_check_invoice(const Kasboek__V1__Invoice *inv);
/* A plan's instalments sum to its total, and so do its items. */
void fz_check_plan(const Kasboek__V1__PaymentPlan *p);

#endif
