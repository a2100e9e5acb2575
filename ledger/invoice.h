/* The invoice aggregate (DOMAIN.md §3): stream "invoice/<id>", state
 * message Invoice; the tenant's number series, stream
 * "invoice_series/numbers" (the finalize command's peer); and the reaction
 * that applies payments to invoices (source "invoice:<id>") and makes the
 * paid invoice of a payment link or quote payment; and the one that passes
 * a payment plan's money on to the invoices it covers. */
#ifndef KB_INVOICE_H
#define KB_INVOICE_H

#include "aggregate.h"

extern const kb_aggregate kb_invoice_aggregate;
extern const kb_aggregate kb_invoice_series_aggregate;
extern const kb_command kb_invoice_commands[]; /* terminated by method NULL */
extern const kb_reaction kb_payment_invoicing; /* payment -> invoice */
/* plan -> the invoices it covers: planned at activation, handed back at
 * cancellation, paid by what the plan's payments cover of them. */
extern const kb_reaction kb_plan_invoicing;

/* Works out every derived amount of inv from its lines (README "Invoice
 * totals"): line subtotals, discounts (the invoice-level ones spread over
 * the items), taxes, and the invoice's subtotal, discount, fees, taxes per
 * rate, total and amount due. Pure. Returns KB_CODE_OK, or sets err (on
 * field: a
 * discount larger than what it discounts, or an amount past int64) and
 * leaves inv's amounts partly updated. */
kb_code kb_invoice_compute(Kasboek__V1__Invoice *inv, kb_arena *a, const char *field,
                           kb_error *err);

/* q / d rounded half away from zero; d > 0. */
int64_t kb_round_div(__int128 q, int64_t d);

/* Lists of invoices (index family, under "<tenant>/invoice/"), newest
 * first, each entry keyed <created_at hex16>/<id>:
 *   created/<sfx>              every invoice
 *   by/status/<n>/<sfx>, by/customer/<id>/<sfx>, by/overdue/1/<sfx>
 * -> "<CUR> <status> <overdue 0|1> <due day|-> <total> <amount_due>".
 * Invoices whose Tick is due: "~sys/invoice_due/<due day hex16>/<tenant>/<id>". */
void kb_invoice_list_prefix(kb_key *k, const char *tenant, const char *dim, const char *v);
typedef struct kb_invoice_row {
    char currency[4];
    int status;
    bool overdue;
    bool has_due;
    int32_t due_day;
    int64_t total;
    int64_t amount_due;
} kb_invoice_row;
bool kb_invoice_row_parse(const char *v, size_t n, kb_invoice_row *out);
void kb_invoice_due_prefix(kb_key *k);

#endif
