/* Key layout of every column family (see store.h). Readable with `ldb`:
 * components are ids of [A-Za-z0-9_-] joined by '/', numbers as 16 hex
 * digits so byte order is numeric order.
 *
 *   events       <seq 8 bytes BE>
 *   streams      <tenant>/<type>/<id>/<version hex16>
 *   idempotency  <tenant>/<idempotency key>
 *   state        <tenant>/<type>/<id>
 *   index        <tenant>/<type>/<index name>/<components...>
 *   meta         head | schema | clock
 */
#ifndef KB_KEYS_H
#define KB_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KB_KEY_BYTES_MAX 512

typedef struct kb_key {
    size_t len;
    char bytes[KB_KEY_BYTES_MAX];
} kb_key;

void kb_key_init(kb_key *k);
/* Appends "/" (unless empty) then s. Asserts the bound: keys are built only
 * from validated, bounded ids. */
void kb_key_add(kb_key *k, const char *s);
void kb_key_add_hex64(kb_key *k, uint64_t v);
/* Appends the 16 hex digits with no separator. */
void kb_key_raw_hex64(kb_key *k, uint64_t v);
/* Reads the 16 lower-case hex digits kb_key_add_hex64 writes at p; false
 * on anything else. */
bool kb_key_parse_hex64(const char *p, uint64_t *out);
/* Appends raw bytes with no separator. */
void kb_key_raw(kb_key *k, const void *p, size_t n);

/* Page cursors carry numbers as 16 letters a..p, a nibble each, never as
 * digits: a run of hex digits can pass the Luhn check, and every string of
 * a request is refused when it looks like a card number. Found by
 * test_list: a ListPayments cursor "0006450023405880/r0123" (created_at in
 * hex) was refused; 675 of 370,286 times in a month, one every 7 s, were. */
void kb_cursor_num_put(char out[16], uint64_t v);
bool kb_cursor_num_get(const char *p, uint64_t *out);

/* The key one past every key starting with prefix (for iterator bounds). */
void kb_key_prefix_end(const kb_key *prefix, kb_key *out);

void kb_key_state(kb_key *k, const char *tenant, const char *type, const char *id);
void kb_key_stream(kb_key *k, const char *tenant, const char *type, const char *id,
                   uint64_t version);
void kb_key_idempotency(kb_key *k, const char *tenant, const char *idem_key);
void kb_key_event(kb_key *k, uint64_t seq);

#define KB_META_HEAD      "head"
#define KB_META_SCHEMA    "schema"
#define KB_META_CLOCK     "clock"
/* The shape of the projections (state, index and streams families): a
 * change to any key or value there bumps it, and a store of another
 * version is reprojected from its log on open (kb_projections_ensure).
 * 1: the first layout (never written: a store without the key is 1).
 * 2: payment lists by status, method, currency, contact, company, source
 *    and amount with "<CUR> <amount>" values; payout status lists.
 * 3: balance transactions' day and created rows one per event and day
 *    (they were one per transaction).
 * 4: plan states hold amount_pending and amount_overpaid (and their
 *    payments pending and overpaid): processing debits held, money on no
 *    instalment kept.
 * 5: invoice series hold last_sequence_without_year.
 * 6: a plan's due-list day (kb_plan_next_action_day) counts reminders from
 *    the overdue day and a count tolerance already passed. */
#define KB_SCHEMA_VERSION 6

#endif
