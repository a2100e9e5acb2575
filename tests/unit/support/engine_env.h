/* Unit-test support: a temporary store with an engine, one command per
 * committed batch, and the rebuild-equals-live check. Linked into every
 * ledger unit test. */
#ifndef KBT_ENGINE_ENV_H
#define KBT_ENGINE_ENV_H

#include <stdint.h>
#include <sys/stat.h>
#include <ftw.h>

#include "engine.h"
#include "kasboek.pb-c.h"
#include "store.h"

#ifndef NOW
#define NOW INT64_C(1767225600000000) /* 2026-01-01 */
#endif

typedef struct env {
    char dir[64];
    kb_store *store;
    kb_engine *engine;
    kb_reply reply;
    kb_reply qreply; /* the last query's */
    uint8_t buf[1 << 17]; /* one packed request */
    int64_t now;          /* the clock exec runs at; 0 = NOW */
} env;

int kbt_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw);
/* cmocka setup/teardown: *st becomes an env on a fresh store in /tmp. */
int env_setup(void **st);
int env_teardown(void **st);
/* Runs one command of tenant t1 at e->now (NOW unless set) in the open
 * batch (no begin, no commit). Returns the code. */
kb_code exec_open(env *e, const char *method, const ProtobufCMessage *m, const char *idem,
                  int expected);
/* Executes one command of tenant t1 at e->now (NOW unless set): in the
 * engine's open batch when there is one, else in its own committed batch;
 * expected < 0: no expected_version. Returns the code. */
kb_code exec(env *e, const char *method, const ProtobufCMessage *m, const char *idem, int expected);
/* Runs a query of tenant t1 at e's clock; returns the reply's code (the
 * reply in e->qreply). */
kb_code query(env *e, const char *method, const ProtobufCMessage *m);
/* The civil day of "YYYY-MM-DD", and 10:00 UTC on it (the test fails on a
 * malformed date). */
int32_t kbt_day(const char *date);
int64_t kbt_at(const char *date);
/* A seeded generator for the randomized runs (the same seed, the same
 * run): kbt_seed sets it, kbt_rnd(n) draws 0..n-1. */
void kbt_seed(uint64_t seed);
uint32_t kbt_rnd(uint32_t n);
/* Payment commands through exec (reasons and refund reason fixed). */
kb_code kbt_settle(env *e, const char *id);
kb_code kbt_fail_payment(env *e, const char *id);
kb_code kbt_refund(env *e, const char *pid, const char *rid, int64_t amount, const char *cur);
/* GetInvoice of tenant t1's invoice id (the test fails when it is not
 * found); free with kasboek__v1__invoice__free_unpacked. */
Kasboek__V1__Invoice *kbt_get_invoice(env *e, const char *id);
/* The last reply's CommandResult (free with ..._free_unpacked). */
Kasboek__V1__CommandResult *result(env *e);
/* Family cf of a and b hold the same keys and values (and some). */
void assert_family_equal(kb_store *a, kb_store *b, kb_cf cf);
/* Rebuilds e's log into a new store, chunk_events per chunk, and asserts
 * every projection family equals the live one; three times: each chunk
 * written before the next folds, on another thread while it folds, and
 * only after it folded (so its states come from memory). */
void rebuild_and_compare(env *e, size_t chunk_events);
/* Reprojects e's store in place (kb_reproject, as kasboekd does on open),
 * each chunk of chunk_events written on another thread while the next one
 * folds; the events folded. */
uint64_t kbt_reproject_threaded(env *e, size_t chunk_events);
/* Rebuilds e's log (at least 5 events) with chunks of 2 written on another
 * thread into table files that cannot be made, and asserts the failure is
 * reported as a write failure once the next chunk ends or at the flush. */
void rebuild_write_fails(env *e);

#endif
