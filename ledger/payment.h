/* The payment aggregate (DOMAIN.md §1): stream "payment/<id>", state
 * message Payment. decide() per command, evolve() per event, index(). */
#ifndef KB_PAYMENT_H
#define KB_PAYMENT_H

#include "aggregate.h"

extern const kb_aggregate kb_payment_aggregate;
extern const kb_command kb_payment_commands[]; /* terminated by method NULL */

/* The refund or dispute of p with that id, NULL when none. */
const Kasboek__V1__Refund *kb_payment_find_refund(const Kasboek__V1__Payment *p, const char *id);
const Kasboek__V1__Dispute *kb_payment_find_dispute(const Kasboek__V1__Payment *p, const char *id);

/* A positive (or, with allow_zero, non-negative) amount in a known
 * currency, equal to want_currency when given; field names the Money. */
kb_code kb_check_money(const Kasboek__V1__Money *m, const char *field, const char *want_currency,
                       bool allow_zero, kb_error *err);

/* An optional id: "" or 1-64 characters of [A-Za-z0-9_-]. */
kb_code kb_check_opt_id(const char *v, const char *field, kb_error *err);

/* Collected and not yet refunded, pending or disputed (minor units). */
int64_t kb_payment_refundable(const Kasboek__V1__Payment *p);

/* Lists of payments (index family, under "<tenant>/payment/"), newest
 * first. Every list ends in the same suffix, <created_at hex16>/<id>, so
 * lists can be intersected by seeking (ledger/query_list.c):
 *   created/<sfx>                               every payment
 *   by/status/<n>/<sfx>, by/method/<n>/<sfx>    enum numbers
 *   by/currency/<CUR>/<sfx>
 *   by/contact/<id>/<sfx>, by/company/<id>/<sfx>
 *   by/source_type/<type>/<sfx>, by/source/<type>/<id>/<sfx>
 * each -> "<CUR> <amount>" (immutable, so a status change moves one entry
 * and totals need no payment read), and, ordered by amount:
 *   amount/<CUR>/<amount + 2^63 hex16>/<sfx>   -> "" */
#define KB_PAYMENT_LIST_VALUE_LEN_MAX 32

/* The prefix (ending in '/') of one list: dim NULL = every payment, else
 * by/<dim>/<v1>[/<v2>]. */
void kb_payment_list_prefix(kb_key *k, const char *tenant, const char *dim, const char *v1,
                            const char *v2);
void kb_payment_amount_prefix(kb_key *k, const char *tenant, const char *currency);
/* Appends <created_at hex16>/<id> (no separator before). */
void kb_payment_list_suffix(kb_key *k, int64_t created_at, const char *id);
/* The "<CUR> <amount>" value of a list entry; false when malformed. */
bool kb_payment_list_value_parse(const char *v, size_t n, char cur[4], int64_t *amount);

#endif
