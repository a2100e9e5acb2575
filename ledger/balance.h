/* Balance, payouts and tenant settings (DOMAIN.md §2).
 *
 * Every money movement of a payment books balance transactions in the
 * stream "balance/<currency>" in the same commit (a reaction, see
 * aggregate.h): payment +amount and fee -fee (available 2 business days
 * after a card payment, 3 after a bank debit settles; tenant settings),
 * refund -amount and refund_failure +amount (available the day they
 * happen), dispute -(amount + fee) when lost. The Balance state keeps the
 * open (not yet paid out) amounts per available_on day; every transaction
 * is also an immutable index row (effects).
 *
 * ClosePayout(currency, date) closes every open day up to date into the
 * payout "po_<YYYYMMDD>_<currency>" (a reaction creates its stream) and
 * books the payout's own -amount transaction. Membership needs no list:
 * a transaction (available_on d, booked at seq s) belongs to the first
 * payout of its currency, in close order, with date >= d and closed_seq
 * > s. Payout dates only move forward, so payout k holds exactly
 *   (a) the transactions booked between closed_seq(k-1) and closed_seq(k)
 *       with available_on <= date(k), and
 *   (b) those booked before closed_seq(k-1) with available_on in
 *       (date(k-1), date(k)].
 * A failed payout books its amount back (payout_failure, available at once);
 * its transactions stay in it. */
#ifndef KB_BALANCE_H
#define KB_BALANCE_H

#include "aggregate.h"

extern const kb_aggregate kb_settings_aggregate;
extern const kb_aggregate kb_balance_aggregate;
extern const kb_aggregate kb_payout_aggregate;
extern const kb_command kb_balance_commands[]; /* terminated by method NULL */
extern const kb_reaction kb_payment_booking;   /* payment -> balance */

#define KB_SETTINGS_CARD_DAYS_DEFAULT     2
#define KB_SETTINGS_DEBIT_DAYS_DEFAULT    3
#define KB_SETTINGS_PAYOUT_MINUTE_DEFAULT 360 /* 06:00 UTC */
#define KB_SETTINGS_ARRIVAL_DAYS_DEFAULT  1

/* Index rows (family index):
 *   <tenant>/btxn/seq/<currency>/<seq hex16>/<n hex16>  -> BalanceTransaction
 *        (n: the transaction's place in its event, 0 on)
 *   <tenant>/btxn/day/<currency>/<day hex16>/<seq hex16> -> mask (1 byte)
 *        (one per event and day its transactions, but payouts' own, are
 *        available on; bit n of mask: seq row n is one of them)
 *   <tenant>/btxn/created/<day hex16>/<seq hex16>  -> currency, mask
 *        (the same by the day they were created: the payments report)
 *   An event's transactions are of one currency (one balance stream).
 *   <tenant>/payout/date/<currency>/<day hex16>          -> payout id
 *   <tenant>/payout/all/<day hex16>/<currency>           -> payout id
 *   <tenant>/payout/status/<n>/<day hex16>/<currency>    -> payout id */
void kb_btxn_key_seq(kb_key *k, const char *tenant, const char *currency, uint64_t seq, uint64_t n);
_Static_assert(KB_BALANCE_ENTRIES_PER_EVENT_MAX <= 8, "a day row's mask is one byte");
void kb_btxn_key_day(kb_key *k, const char *tenant, const char *currency, int32_t day,
                     uint64_t seq);
/* Tenant-independent rows start with KB_SYS_PREFIX, a character no tenant
 * id may hold: "~sys/balances/<tenant>/<currency>" -> "" lists every
 * balance for Tick. */
#define KB_SYS_PREFIX "~sys"
void kb_balance_key_due(kb_key *k, const char *tenant, const char *currency);
void kb_btxn_key_created(kb_key *k, const char *tenant, int32_t day, uint64_t seq);
void kb_payout_key_date(kb_key *k, const char *tenant, const char *currency, int32_t day);
/* "<tenant>/payout/all/" (status 0) or "<tenant>/payout/status/<n>/". */
void kb_payout_list_prefix(kb_key *k, const char *tenant, int status);

/* "po_20260302_EUR" into buf (at least KB_ID_LEN_MAX + 1 bytes). */
void kb_payout_id(int32_t day, const char *currency, char *buf, size_t n);

/* The payout day due at now for a tenant's settings: today once the
 * payout minute has passed, else yesterday. */
int32_t kb_payout_day_due(const Kasboek__V1__TenantSettings *s, int64_t now);

/* Sum of a Balance's open days available on or before day, and after it,
 * and the open transactions; false when a sum overflows int64. */
bool kb_balance_split(const Kasboek__V1__Balance *b, int32_t day, int64_t *available,
                      int64_t *pending, uint32_t *open);

#endif
