/* The kasboek admin CLI: shared declarations of its files.
 *   main.c      entry point, command table, usage text
 *   args.c      argument parsing (global and per-command flags)
 *   call.c      connecting, calling, error reporting, flag conversions
 *   output.c    tables, money/time text, JSON output
 *   cmd_*.c     the commands */
#ifndef KASBOEK_CLI_H
#define KASBOEK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kasboek.h"
#include "kasboek_json.h"

/* Exit statuses. */
#define CLI_EXIT_OK        0
#define CLI_EXIT_SERVER    1 /* the server answered with an error code */
#define CLI_EXIT_USAGE     2 /* bad command line; the server was not asked */
#define CLI_EXIT_TRANSPORT 3 /* no answer: connect failed, timeout, bad reply */
#define CLI_EXIT_OUTPUT    4 /* the answer came but could not be written (--out, stdout) */

#define CLI_POS_MAX          4   /* positional arguments of a command */
#define CLI_FLAGS_MAX        24  /* flags one command declares */
#define CLI_REPEAT_MAX       64  /* values of a repeatable flag (--meta) */
#define CLI_IDEM_KEY_LETTERS 32  /* random letters of a generated idempotency key */
#define CLI_TEXT_MAX         128 /* money and time text buffers */

typedef enum cli_output { CLI_OUT_TABLE, CLI_OUT_JSON } cli_output;

struct cli;
typedef int (*cli_run_fn)(struct cli *c);

/* One command. flags is a space-separated list: "amount=" takes a value,
 * "meta=*" takes a value and may repeat (cli_values reads every value; a
 * command may have several), "follow" is a switch. required lists flags
 * that must be given.
 * Every command also takes the global flags. */
typedef struct cli_cmd {
    const char *resource;
    const char *verb; /* NULL: the resource alone is the command */
    int n_pos;        /* positional arguments, exactly */
    const char *flags;
    const char *required;
    bool mutating; /* a command through the writer: sends an idempotency key */
    cli_run_fn run;
    const char *synopsis; /* for usage errors */
} cli_cmd;

typedef struct cli_args {
    const char *pos[CLI_POS_MAX];
    size_t n_pos;
    const char *val[CLI_FLAGS_MAX]; /* value of each declared flag, NULL if absent */
    bool seen[CLI_FLAGS_MAX];
    const char *rep[CLI_REPEAT_MAX]; /* every value of the repeatable flags */
    int rep_flag[CLI_REPEAT_MAX];    /* which flag each value belongs to */
    size_t n_rep;
} cli_args;

typedef struct cli {
    const char *url;     /* NULL: $KASBOEK_SERVER or the default */
    const char *tenant;  /* NULL: the default tenant */
    const char *api_key; /* NULL: $KASBOEK_API_KEY */
    cli_output output;
    bool help;
    const char *idempotency_key; /* given or generated; NULL for queries */
    const char *run_key;         /* the run's key, what a retry passes (idempotency_key
                                  * may be one derived from it) */
    char idem_buf[CLI_IDEM_KEY_LETTERS + 8];
    const cli_cmd *cmd;
    cli_args args;
    kb_client *client; /* opened by cli_connect */
} cli;

/* main.c */
void cli_usage(FILE *out);

/* args.c: parses argv into c (c->cmd, c->args and the global flags).
 * Returns CLI_EXIT_OK or CLI_EXIT_USAGE (after printing why). */
int cli_parse(cli *c, int argc, char **argv, const cli_cmd *table, size_t n_table);
const char *cli_flag(const cli *c, const char *name); /* value or NULL */
bool cli_has(const cli *c, const char *name);
/* The values of repeatable flag name, in order (at most cap). */
size_t cli_values(const cli *c, const char *name, const char **out, size_t cap);
int cli_usage_error(const cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* call.c */
int cli_connect(cli *c);
/* Maps a call's outcome to an exit status, printing any error. */
int cli_check(cli *c, int rv, const kb_client_result *res);
/* connect + call + print the CommandResult. */
int cli_command(cli *c, const char *method, const ProtobufCMessage *req);
/* connect + call a query (no idempotency key) + decode its reply (a d
 * message) into *out (NULL unless CLI_EXIT_OK; free it with
 * protobuf_c_message_free_unpacked). For a look-up inside a command. */
/* cli_fetch, then the reply's currency (via currency_of) into cur: the
 * currency a command's amounts are typed in. */
int cli_fetch_currency(cli *c, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *d,
                       const char *(*currency_of)(const ProtobufCMessage *reply), char cur[4]);
int cli_fetch(cli *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *d, ProtobufCMessage **out);
/* connect + call + print the reply (a d message) with print_table. */
typedef void (*cli_print_fn)(cli *c, const ProtobufCMessage *reply);
int cli_query(cli *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *d, cli_print_fn print_table);
/* Flag conversions; each returns CLI_EXIT_OK or a usage error. Absent
 * flags leave *out untouched. */
int cli_time_flag(cli *c, const char *flag, int64_t *out);
int cli_at_flag(cli *c, int64_t *occurred_at);
/* A date (YYYY-MM-DD), checked and passed on as text. */
int cli_date_flag(cli *c, const char *flag, char **out);
int cli_u64_flag(cli *c, const char *flag, uint64_t max, uint64_t *out);
int cli_currency_flag(cli *c, char out[4]);
int cli_amount_text(cli *c, const char *flag, const char *currency, int64_t *out);
int cli_amount_flag(cli *c, const char *flag, const char *currency, int64_t *out);
int cli_amount_syntax(cli *c, const char *flag);
/* --min-amount / --max-amount in currency (required when either is given). */
int cli_amount_range(cli *c, const char *currency, bool *min, int64_t *min_amount, bool *max,
                     int64_t *max_amount);
int cli_enum_flag(cli *c, const char *flag, const ProtobufCEnumDescriptor *d, int *out);
int cli_source_flag(cli *c, char *buf, size_t n, char **type, char **id);

/* output.c */
const char *cli_money(char *buf, size_t n, int64_t amount, const char *currency);
const char *cli_money_msg(char *buf, size_t n, const Kasboek__V1__Money *m);
const char *cli_time(char *buf, size_t n, int64_t us);
const char *cli_enum(char *buf, size_t n, const ProtobufCEnumDescriptor *d, int value);
const char *cli_or_dash(const char *s);
void cli_kv(const char *key, const char *value);
void cli_print_json(cli *c, const ProtobufCMessage *m, int indent);
void cli_print_error_json(cli *c, const char *code, const char *reason, const char *field,
                          const char *message);
void cli_print_command_result(cli *c, const char *method, const Kasboek__V1__CommandResult *r);
void cli_print_payment(const Kasboek__V1__Payment *p);
/* "total EUR: 12 payments, 1234.56 EUR" per currency (what: the row noun,
 * singular). */
void cli_print_totals(Kasboek__V1__CurrencyTotal *const *t, size_t n, const char *what);
/* The same with words after the amount ("total EUR: 2 invoices, 302.50 EUR due"). */
void cli_print_totals_of(Kasboek__V1__CurrencyTotal *const *t, size_t n, const char *what,
                         const char *amount_is);
/* occurred_at and recorded_at of an EventRecord's packed Event (0 if it
 * does not decode). */
void cli_event_times(const Kasboek__V1__EventRecord *e, int64_t *occurred, int64_t *recorded);

/* A text table with aligned columns. Cells are copied. */
#define CLI_TABLE_COLS_MAX 10
typedef struct cli_table {
    size_t n_cols;
    char head[CLI_TABLE_COLS_MAX][16];
    bool right[CLI_TABLE_COLS_MAX];
    size_t width[CLI_TABLE_COLS_MAX];
    char **cells; /* n_rows * n_cols */
    size_t n_rows;
    size_t cap_rows;
} cli_table;

/* columns: "ID STATUS >AMOUNT" (a leading '>' right-aligns the column). */
void cli_table_init(cli_table *t, const char *columns);
void cli_table_min_width(cli_table *t, size_t col, size_t width);
/* Adds a row of t->n_cols cells. Returns false when out of memory. */
bool cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *out, bool header);
void cli_table_fini(cli_table *t);

/* Commands. */
int cli_cmd_record(cli *c);
int cli_cmd_settle(cli *c);
int cli_cmd_fail(cli *c);
int cli_cmd_refund(cli *c);
int cli_cmd_dispute(cli *c);
int cli_cmd_associate(cli *c);
int cli_cmd_receipt(cli *c);
int cli_cmd_get(cli *c);
int cli_cmd_list(cli *c);
int cli_cmd_refund_settle(cli *c);
int cli_cmd_refund_fail(cli *c);
int cli_cmd_dispute_close(cli *c);
int cli_cmd_receipt_report(cli *c);
int cli_cmd_events_tail(cli *c);
int cli_cmd_clock_set(cli *c);
int cli_cmd_clock_tick(cli *c);
int cli_cmd_status(cli *c);
int cli_cmd_checkpoint(cli *c);
int cli_cmd_balance(cli *c);
int cli_cmd_payouts_close(cli *c);
int cli_cmd_payouts_list(cli *c);
int cli_cmd_payouts_get(cli *c);
int cli_cmd_payouts_paid(cli *c);
int cli_cmd_payouts_failed(cli *c);
int cli_cmd_settings_get(cli *c);
int cli_cmd_settings_set(cli *c);
int cli_cmd_reports(cli *c);
int cli_cmd_invoices_create(cli *c);
int cli_cmd_invoices_update(cli *c);
int cli_cmd_invoices_add(cli *c);
int cli_cmd_invoices_remove_line(cli *c);
int cli_cmd_invoices_finalize(cli *c);
int cli_cmd_invoices_close(cli *c);
int cli_cmd_invoices_mark_paid(cli *c);
int cli_cmd_invoices_get(cli *c);
int cli_cmd_invoices_list(cli *c);
int cli_cmd_settings_invoices(cli *c);
int cli_cmd_plans_create(cli *c);
int cli_cmd_plans_update(cli *c);
int cli_cmd_plans_lifecycle(cli *c);
int cli_cmd_plans_pay(cli *c);
int cli_cmd_plans_retry(cli *c);
int cli_cmd_plans_get(cli *c);
int cli_cmd_plans_list(cli *c);
int cli_cmd_settings_plans(cli *c);
/* cmd_plans.c: the plan part of a CommandResult (key/value lines, then
 * the instalments table). */
void cli_print_plan_result(const Kasboek__V1__CommandResult *r);
void cli_print_plan_tables(const Kasboek__V1__CommandResult *r);
/* cmd_invoices.c: an invoice's currency, asked of the server (amounts
 * are typed in it). */
int cli_invoice_currency(cli *c, const char *id, char cur[4]);
/* cmd_invoices.c: the invoice of a CommandResult: its key/value lines,
 * and (after the result's own lines) its lines and payments tables. */
void cli_print_invoice_result(const Kasboek__V1__CommandResult *r);
void cli_print_invoice_tables(const Kasboek__V1__CommandResult *r);
/* cmd_query.c: a stream's events (seq, version, type, occurred_at), and
 * with a DETAIL column that detail writes for each event (ctx passed on). */
void cli_print_timeline(Kasboek__V1__EventRecord *const *events, size_t n);
typedef void (*cli_event_detail_fn)(char *buf, size_t n, const Kasboek__V1__Event *ev,
                                    const void *ctx);
void cli_print_timeline_detail(Kasboek__V1__EventRecord *const *events, size_t n,
                               cli_event_detail_fn detail, const void *ctx);
/* cmd_balance.c: the payout, balance or settings part of a CommandResult. */
void cli_print_payout_result(const Kasboek__V1__CommandResult *r);

#endif
