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

/* Collected and not yet refunded, pending or disputed (minor units). */
int64_t kb_payment_refundable(const Kasboek__V1__Payment *p);

/* Index names (under "<tenant>/payment/"):
 *   created/<created_at hex16>/<id>               every payment
 *   contact/<contact id>/<created_at hex16>/<id>  payments of a contact */
void kb_payment_key_created(kb_key *k, const char *tenant, int64_t created_at, const char *id);
void kb_payment_key_contact(kb_key *k, const char *tenant, const char *contact, int64_t created_at,
                            const char *id);

#endif
