/* Payment plans (DOMAIN.md §5): stream "plan/<id>", state PaymentPlan; the
 * tenant's plan settings, stream "plan_settings/tenant". This part holds
 * the schedule, the draft and its edits, activation, pause, resume and
 * cancel, payments and their reversals (reaction kb_payment_planning),
 * early re-spreading, and what Tick advances: due dates, SDD collections,
 * reminders and auto-cancel. */
#ifndef KB_PLAN_H
#define KB_PLAN_H

#include "aggregate.h"

extern const kb_aggregate kb_plan_aggregate;
extern const kb_aggregate kb_plan_settings_aggregate;
extern const kb_command kb_plan_commands[]; /* terminated by method NULL */
extern const kb_reaction kb_payment_planning; /* payment (source plan:ID) -> plan */

/* The schedule of total from start (a civil day) every period: with count
 * > 0, count instalments of total / count (truncated) and the last taking
 * the difference; else ceil(total / amount) instalments of amount, the
 * last the rest. Writes amounts and due days (cap entries) and *n.
 * KB_ERR_ARG on a non-positive total or amount, or a count above total
 * (an instalment of 0); KB_ERR_LIMIT when more than cap instalments would
 * be needed. */
kb_status kb_plan_schedule(int64_t total, uint32_t count, int64_t amount, int32_t start,
                           Kasboek__V1__PlanPeriod period, int64_t *amounts, int32_t *days,
                           uint32_t cap, uint32_t *n) KB_MUST_USE;

/* The next day the clock changes an open plan's instalments (INT32_MAX:
 * none; an unpaid one with nothing open, from a schedule before 0.00
 * instalments were refused, is paid on its due date), requests a reminder
 * (the day after the due date plus the offset; a negative offset, the due
 * date plus it) or cancels it past its tolerance, and Tick's list of
 * plans by that day:
 * "~sys/plan_due/<day hex16>/<tenant>/<id>". */
int32_t kb_plan_next_action_day(const Kasboek__V1__PaymentPlan *p);
void kb_plan_due_prefix(kb_key *k);
/* A list of plans: dim "all" (v "plans"), "status" (v the number) or
 * "customer" (v the id); entries <created_at hex16>/<id> -> "". */
void kb_plan_list_prefix(kb_key *k, const char *tenant, const char *dim, const char *v);

#endif
