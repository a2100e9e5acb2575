/* The registry of aggregates and their commands. A new aggregate adds its
 * table here. */
#include <string.h>

#include "aggregate.h"
#include "balance.h"
#include "invoice.h"
#include "payment.h"
#include "plan.h"

const kb_aggregate *const kb_aggregates[] = {&kb_payment_aggregate, &kb_balance_aggregate,
                                             &kb_payout_aggregate, &kb_settings_aggregate,
                                             &kb_invoice_aggregate, &kb_invoice_series_aggregate,
                                             &kb_plan_aggregate, &kb_plan_settings_aggregate,
                                             NULL};

static const kb_command *const command_tables[] = {kb_payment_commands, kb_balance_commands,
                                                   kb_invoice_commands, kb_plan_commands, NULL};

const kb_command *kb_command_find(const char *method) {
    if (!method) return NULL;
    for (size_t t = 0; command_tables[t]; t++) {
        for (const kb_command *c = command_tables[t]; c->method; c++) {
            if (strcmp(c->method, method) == 0) return c;
        }
    }
    return NULL;
}

const kb_aggregate *kb_aggregate_find(const char *type) {
    for (size_t i = 0; kb_aggregates[i]; i++) {
        if (strcmp(kb_aggregates[i]->type, type) == 0) return kb_aggregates[i];
    }
    return NULL;
}
