/* kasboek: the admin command-line client of kasboekd. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define AT "at= "

static const cli_cmd commands[] = {
    {"payments", "record", 1,
     "amount= currency= method= fee= customer= company= deal= subscription= source= provider= "
     "provider-id= email= meta=* description= " AT,
     "amount currency method", true, cli_cmd_record,
     "payments record ID --amount 12.50 --currency EUR --method METHOD [options]"},
    {"payments", "settle", 1, AT, "", true, cli_cmd_settle, "payments settle ID"},
    {"payments", "fail", 1, "reason= " AT, "reason", true, cli_cmd_fail,
     "payments fail ID --reason TEXT"},
    {"payments", "refund", 1, "amount= reason= refund-id= currency= " AT, "amount reason", true,
     cli_cmd_refund, "payments refund ID --amount 5.00 --reason REASON [--refund-id R]"},
    {"payments", "dispute", 1, "amount= fee= dispute-id= reason= currency= " AT, "amount", true,
     cli_cmd_dispute, "payments dispute ID --amount X [--fee Y] [--dispute-id D]"},
    {"payments", "associate", 1, "customer= company= deal= subscription= " AT, "", true,
     cli_cmd_associate,
     "payments associate ID [--customer C] [--company C] [--deal D] "
     "[--subscription S]"},
    {"payments", "receipt", 1, "email= " AT, "email", true, cli_cmd_receipt,
     "payments receipt ID --email E"},
    {"payments", "get", 1, "", "", false, cli_cmd_get, "payments get ID"},
    {"payments", "list", 0,
     "status= method= min-amount= max-amount= currency= customer= company= source= from= to= "
     "limit= cursor= totals",
     "", false, cli_cmd_list, "payments list [filters] [--totals] [--limit N] [--cursor C]"},
    {"refunds", "settle", 1, AT, "", true, cli_cmd_refund_settle, "refunds settle REFUND_ID"},
    {"refunds", "fail", 1, "reason= " AT, "", true, cli_cmd_refund_fail,
     "refunds fail REFUND_ID [--reason TEXT]"},
    {"disputes", "close", 1, "outcome= " AT, "outcome", true, cli_cmd_dispute_close,
     "disputes close DISPUTE_ID --outcome won|lost"},
    {"receipts", "report", 1, "sent failed= " AT, "", true, cli_cmd_receipt_report,
     "receipts report PAYMENT_ID --sent | --failed ERROR"},
    {"events", "tail", 0, "from= follow", "", false, cli_cmd_events_tail,
     "events tail [--from SEQ] [--follow]"},
    {"clock", "set", 1, "", "", true, cli_cmd_clock_set, "clock set TIME"},
    {"clock", "tick", 0, "", "", true, cli_cmd_clock_tick, "clock tick"},
    {"balance", NULL, 0, "currency= as-of=", "", false, cli_cmd_balance,
     "balance [--currency C] [--as-of SEQ|TIME]"},
    {"payouts", "close", 0, "date= currency=", "", true, cli_cmd_payouts_close,
     "payouts close [--date 2026-03-02] [--currency EUR]"},
    {"payouts", "list", 0,
     "from= to= status= currency= min-amount= max-amount= limit= cursor= totals", "", false,
     cli_cmd_payouts_list,
     "payouts list [--from D] [--to D] [--status S] [--currency C] [--min-amount A] "
     "[--max-amount A] [--totals]"},
    {"payouts", "get", 1, "", "", false, cli_cmd_payouts_get, "payouts get ID"},
    {"payouts", "paid", 1, AT, "", true, cli_cmd_payouts_paid, "payouts paid ID"},
    {"payouts", "failed", 1, "reason= " AT, "reason", true, cli_cmd_payouts_failed,
     "payouts failed ID --reason R"},
    {"reports", "reconciliation", 0, "from= to= format= out= as-of=", "from to", false,
     cli_cmd_reports, "reports reconciliation --from D --to D [--format csv|json] [--out FILE]"},
    {"reports", "payments", 0, "from= to= format= out= as-of=", "from to", false, cli_cmd_reports,
     "reports payments --from D --to D [--format csv|json] [--out FILE]"},
    {"reports", "payouts", 0, "from= to= format= out= as-of=", "from to", false, cli_cmd_reports,
     "reports payouts --from D --to D [--format csv|json] [--out FILE]"},
    {"settings", "get", 0, "", "", false, cli_cmd_settings_get, "settings get"},
    {"settings", "set", 0, "card-days= debit-days= payout-time= arrival-days=", "", true,
     cli_cmd_settings_set,
     "settings set [--card-days N] [--debit-days N] [--payout-time HH:MM] [--arrival-days N]"},
    {"settings", "invoices", 0, "prefix= digits= without-year with-year", "", true,
     cli_cmd_settings_invoices,
     "settings invoices [--prefix P] [--digits N] [--without-year | --with-year]"},
    {"invoices", "create", 1, "customer= currency= company= terms= due= memo= " AT,
     "customer currency", true, cli_cmd_invoices_create,
     "invoices create ID --customer C --currency EUR [--company CO] "
     "[--terms due_on_receipt|net15|net30|net45|net60|net90 | --due 2026-04-01] [--memo TEXT]"},
    {"invoices", "update", 1, "customer= company= terms= due= memo= " AT, "", true,
     cli_cmd_invoices_update,
     "invoices update ID [--customer C] [--company CO] [--terms T | --due D] [--memo TEXT]"},
    {"invoices", "add-line", 1, "description= quantity= unit-price= discount= tax= line-id= " AT,
     "description quantity unit-price", true, cli_cmd_invoices_add,
     "invoices add-line ID --description TEXT --quantity 2 --unit-price 10.00 "
     "[--discount 10%|5.00] [--tax 21%] [--line-id L]"},
    {"invoices", "add-fee", 1, "description= amount= tax= line-id= " AT, "description amount", true,
     cli_cmd_invoices_add,
     "invoices add-fee ID --description TEXT --amount 5.00 [--tax 21%] [--line-id L]"},
    {"invoices", "add-discount", 1, "description= discount= line-id= " AT, "description discount",
     true, cli_cmd_invoices_add,
     "invoices add-discount ID --description TEXT --discount 10%|5.00 [--line-id L]"},
    {"invoices", "remove-line", 2, AT, "", true, cli_cmd_invoices_remove_line,
     "invoices remove-line ID LINE"},
    {"invoices", "finalize", 1, AT, "", true, cli_cmd_invoices_finalize, "invoices finalize ID"},
    {"invoices", "void", 1, "reason= " AT, "reason", true, cli_cmd_invoices_close,
     "invoices void ID --reason R"},
    {"invoices", "write-off", 1, "reason= " AT, "reason", true, cli_cmd_invoices_close,
     "invoices write-off ID --reason R"},
    {"invoices", "mark-paid", 1, "amount= reference= " AT, "amount reference", true,
     cli_cmd_invoices_mark_paid, "invoices mark-paid ID --amount A --reference REF [--at T]"},
    {"invoices", "get", 1, "number", "", false, cli_cmd_invoices_get,
     "invoices get ID | invoices get --number INV-2026-000001"},
    {"invoices", "list", 0,
     "status= customer= overdue due-from= due-to= currency= min-amount= max-amount= limit= "
     "cursor= totals",
     "", false, cli_cmd_invoices_list,
     "invoices list [--status S] [--customer C] [--overdue] [--due-from D] [--due-to D] "
     "[--currency C] [--min-amount A] [--max-amount A] [--totals] [--limit N] [--cursor C]"},
    {"plans", "create", 1,
     "customer= method= invoice=* case=* currency= start= period= count= instalment-amount= "
     "reminder= tolerance-days= tolerance-count= early-recalc " AT,
     "customer method start period", true, cli_cmd_plans_create,
     "plans create ID --customer C --method sdd|sct (--invoice INV)... (--case REF:AMOUNT)... "
     "[--currency EUR] --start 2026-01-15 --period weekly|monthly|quarterly "
     "(--count 6 | --instalment-amount 150.00)"},
    {"plans", "update", 1,
     "method= start= period= count= instalment-amount= reminder= tolerance-days= "
     "tolerance-count= early-recalc " AT,
     "", true, cli_cmd_plans_update, "plans update ID [same flags as create]"},
    {"plans", "activate", 1, AT, "", true, cli_cmd_plans_lifecycle, "plans activate ID"},
    {"plans", "pause", 1, "reason= " AT, "reason", true, cli_cmd_plans_lifecycle,
     "plans pause ID --reason R"},
    {"plans", "resume", 1, AT, "", true, cli_cmd_plans_lifecycle, "plans resume ID"},
    {"plans", "cancel", 1, "reason= " AT, "reason", true, cli_cmd_plans_lifecycle,
     "plans cancel ID --reason R"},
    {"plans", "pay", 1, "amount= payment= " AT, "amount", true, cli_cmd_plans_pay,
     "plans pay ID --amount A [--payment P] [--at T]"},
    {"plans", "retry", 1, "instalment= " AT, "instalment", true, cli_cmd_plans_retry,
     "plans retry ID --instalment N"},
    {"plans", "get", 1, "", "", false, cli_cmd_plans_get, "plans get ID"},
    {"plans", "timeline", 1, "", "", false, cli_cmd_plans_get, "plans timeline ID"},
    {"plans", "list", 0, "status= customer= limit= cursor=", "", false, cli_cmd_plans_list,
     "plans list [--status S] [--customer C] [--limit N] [--cursor C]"},
    {"settings", "plans", 0,
     "early-days= reminder-offset-days= default-tolerance-days= default-tolerance-count=", "",
     true, cli_cmd_settings_plans,
     "settings plans [--early-days N] [--reminder-offset-days N] [--default-tolerance-days N] "
     "[--default-tolerance-count N]"},
    {"status", NULL, 0, "", "", false, cli_cmd_status, "status"},
    {"checkpoint", NULL, 1, "", "", false, cli_cmd_checkpoint, "checkpoint DIR"},
};

static const char usage_text[] =
    "usage: kasboek [GLOBAL OPTIONS] RESOURCE VERB [ARGS] [OPTIONS]\n"
    "\n"
    "Global options (anywhere on the line):\n"
    "  --server URL            default $KASBOEK_SERVER, else " KB_CLIENT_DEFAULT_URL
    "\n"
    "  --tenant T              default \"" KB_CLIENT_DEFAULT_TENANT
    "\"\n"
    "  --api-key K             default $KASBOEK_API_KEY\n"
    "  -o, --output table|json default table\n"
    "  --idempotency-key K     for commands; default: a fresh random key per run\n"
    "                          (shown with -o json, as \"idempotency_key\", and on\n"
    "                          stderr when no reply came: run the command again\n"
    "                          with it to learn what happened; it applies once)\n"
    "  -h, --help              this text\n"
    "\n"
    "Payments:\n"
    "  payments record ID --amount 12.50 --currency EUR\n"
    "          --method card|ach_debit|sepa_debit|ideal|bank_transfer|paypal|other\n"
    "          [--customer CONTACT] [--company C] [--deal D] [--subscription S]\n"
    "          [--fee 0.35] [--source TYPE:ID] [--provider kasboek|stripe|mollie|manual]\n"
    "          [--provider-id X] [--email E] [--meta k=v]... [--description TEXT]\n"
    "          [--at 2026-01-31T10:00:00Z]\n"
    "  payments settle ID\n"
    "  payments fail ID --reason TEXT\n"
    "  payments refund ID --amount 5.00\n"
    "          --reason duplicate|fraudulent|requested_by_customer|other\n"
    "          [--refund-id R] [--currency C]\n"
    "  payments dispute ID --amount X [--fee Y] [--dispute-id D] [--reason TEXT]\n"
    "          [--currency C]\n"
    "  payments associate ID [--customer C] [--company C] [--deal D] [--subscription S]\n"
    "  payments receipt ID --email E\n"
    "  payments get ID\n"
    "  payments list [--status S] [--method M] [--currency C] [--min-amount A]\n"
    "          [--max-amount A] [--customer C] [--company C] [--source TYPE:ID]\n"
    "          [--from T] [--to T] [--totals] [--limit N] [--cursor C]\n"
    "          every filter reads its own index; --totals: count and sum per currency\n"
    "          over the whole filter (not just the page)\n"
    "  refunds settle REFUND_ID\n"
    "  refunds fail REFUND_ID [--reason TEXT]\n"
    "  disputes close DISPUTE_ID --outcome won|lost\n"
    "  receipts report PAYMENT_ID --sent | --failed ERROR\n"
    "\n"
    "Balance and payouts:\n"
    "  balance [--currency C] [--as-of SEQ|TIME]  available and pending per currency\n"
    "  payouts close [--date D] [--currency C]  close the payout day D (default today)\n"
    "          for C (default every currency with a balance); a day closes once\n"
    "  payouts list [--from D] [--to D] [--status pending|paid|failed] [--currency C]\n"
    "          [--min-amount A] [--max-amount A] [--totals]\n"
    "          [--limit N] [--cursor C]        newest first\n"
    "  payouts get ID                          the payout and every transaction in it\n"
    "  payouts paid ID | payouts failed ID --reason R\n"
    "  reports reconciliation|payments|payouts --from D --to D [--format csv|json]\n"
    "          [--out FILE] [--as-of SEQ]   the document on stdout (or FILE); its seq\n"
    "          and BLAKE2b digest on stderr; the same seq gives the same bytes\n"
    "  settings get | settings set [--card-days N] [--debit-days N]\n"
    "          [--payout-time HH:MM] [--arrival-days N]\n"
    "  settings invoices [--prefix P] [--digits N] [--without-year|--with-year]\n"
    "          invoice numbers: P-<year>-<sequence> (default INV, 6 digits)\n"
    "\n"
    "Invoices:\n"
    "  invoices create ID --customer C --currency EUR [--company CO]\n"
    "          [--terms due_on_receipt|net15|net30|net45|net60|net90 | --due D]\n"
    "          [--memo TEXT]            a draft; default terms net30, --due D: custom\n"
    "  invoices update ID [--customer C] [--company CO] [--terms T | --due D]\n"
    "          [--memo TEXT]            drafts only; what is not given stays\n"
    "  invoices add-line ID --description TEXT --quantity 2 --unit-price 10.00\n"
    "          [--discount 10%|5.00] [--tax 21%] [--line-id L]\n"
    "          quantity: at most 3 decimals; percentages: at most 2 decimals\n"
    "  invoices add-fee ID --description TEXT --amount 5.00 [--tax 21%] [--line-id L]\n"
    "  invoices add-discount ID --description TEXT --discount 10%|5.00 [--line-id L]\n"
    "          off the whole invoice, spread over the items before tax\n"
    "  invoices remove-line ID LINE\n"
    "  invoices finalize ID      the next number of the series; open, due by its terms\n"
    "  invoices void ID --reason R | invoices write-off ID --reason R\n"
    "  invoices mark-paid ID --amount A --reference REF\n"
    "          money received outside kasboek; a part leaves the rest open\n"
    "  invoices get ID | invoices get --number INV-2026-000001\n"
    "          the invoice with its lines, payments and timeline\n"
    "  invoices list [--status draft|open|paid|void|written_off] [--customer C]\n"
    "          [--overdue] [--due-from D] [--due-to D] [--currency C]\n"
    "          [--min-amount A] [--max-amount A] [--totals] [--limit N] [--cursor C]\n"
    "          newest first; --totals: count and amount due per currency over the\n"
    "          whole filter; --min/--max-amount: on the total\n"
    "\n"
    "Payment plans:\n"
    "  plans create ID --customer C --method sdd|sct (--invoice INV)... (--case REF:AMOUNT)...\n"
    "          [--currency EUR] --start 2026-01-15 --period weekly|monthly|quarterly\n"
    "          (--count 6 | --instalment-amount 150.00) [--reminder email|e_invoice|post|none]\n"
    "          [--tolerance-days N | --tolerance-count N] [--early-recalc]   a draft\n"
    "  plans update ID [same flags]   drafts; active plans: --tolerance-* and --reminder only\n"
    "  plans activate ID | pause ID --reason R | resume ID | cancel ID --reason R\n"
    "  plans pay ID --amount A [--payment P] [--at T]   records payment P (bank transfer,\n"
    "          source plan:ID), allocated to the oldest open instalment first; refunding P\n"
    "          or losing a dispute on it is a reversal\n"
    "  plans retry ID --instalment N   collect a failed SDD instalment again\n"
    "  plans get ID | plans timeline ID | plans list [--status S] [--customer C]\n"
    "  settings plans [--early-days N] [--reminder-offset-days N]\n"
    "          [--default-tolerance-days N] [--default-tolerance-count N]\n"
    "          without a flag: shows them; new plans copy them at creation\n"
    "\n"
    "Log and admin:\n"
    "  events tail [--from SEQ] [--follow]   all events from SEQ (default: the first);\n"
    "          --follow keeps polling every 200 ms until SIGINT/SIGTERM (exit 0)\n"
    "  clock set TIME          manual clock only: move it forward and run Tick\n"
    "  clock tick              run Tick at the current time\n"
    "  status                  head seq, head hash, clock\n"
    "  checkpoint DIR          RocksDB checkpoint into DIR, a path on the server's\n"
    "                          machine that must not exist yet\n"
    "\n"
    "Payment, refund, dispute, receipt and invoice commands and payouts paid|failed\n"
    "also take --at TIME (occurred_at; default: the server's clock).\n"
    "\n"
    "Amounts are decimal major units (12.50), parsed exactly in the currency:\n"
    "  record: in --currency (required); --fee in the same currency.\n"
    "  refund, dispute: in --currency if given, else in the payment's own currency\n"
    "          (the CLI reads the payment first with GetPayment).\n"
    "  list:   --min-amount/--max-amount need --currency (which also filters).\n"
    "  invoice lines, fees, discounts, mark-paid: in the invoice's currency\n"
    "          (the CLI reads the invoice first with GetInvoice).\n"
    "Times: RFC 3339 (2026-01-31T10:00:00Z, 2026-01-31T11:00:00+01:00) or a date\n"
    "(2026-01-31, midnight UTC). --from is inclusive, --to exclusive. Invoice dates\n"
    "(--due, --due-from, --due-to) are dates (2026-04-01), both ends inclusive.\n"
    "\n"
    "Output: table (aligned columns, money as \"12.50 EUR\") or json (the reply\n"
    "message; money as integer minor units {\"amount\": 1250, \"currency\": \"EUR\"},\n"
    "times as microseconds since the epoch, enums in lower case; events tail prints\n"
    "one JSON object per line).\n"
    "\n"
    "Exit status: 0 ok, 1 the server returned an error (stderr: CODE REASON: message;\n"
    "with -o json also {\"error\": {...}} on stdout), 2 usage error (nothing sent),\n"
    "3 transport error (no connection, timeout), 4 the answer came but could not be\n"
    "written (--out, standard output; a command that wrote has still been applied).\n";

void cli_usage(FILE *out) {
    fputs(usage_text, out);
}

/* Commands get the given key or a fresh random one, so nng's automatic
 * resend of a request can never apply a command twice. */
static int prepare_idempotency(cli *c) {
    if (!c->cmd->mutating) {
        c->idempotency_key = NULL;
        return CLI_EXIT_OK;
    }
    if (c->idempotency_key) {
        if (c->idempotency_key[0] == '\0') return cli_usage_error(c, "empty --idempotency-key");
        c->run_key = c->idempotency_key;
        return CLI_EXIT_OK;
    }
    if (sodium_init() < 0) return cli_usage_error(c, "libsodium failed to initialize");
    /* Letters only: a hex key can hold a run of 13+ digits that passes the
     * Luhn check, which the server refuses as a card number. 32 letters of
     * 26 carry 150 random bits. */
    memcpy(c->idem_buf, "cli-", 4);
    for (size_t i = 0; i < CLI_IDEM_KEY_LETTERS; i++)
        c->idem_buf[4 + i] = (char)('a' + randombytes_uniform(26));
    c->idem_buf[4 + CLI_IDEM_KEY_LETTERS] = '\0';
    c->idempotency_key = c->run_key = c->idem_buf;
    return CLI_EXIT_OK;
}

int main(int argc, char **argv) {
    cli c;
    memset(&c, 0, sizeof c);
    c.output = CLI_OUT_TABLE;
    int ex = cli_parse(&c, argc, argv, commands, sizeof commands / sizeof commands[0]);
    if (ex == CLI_EXIT_OK && c.help) {
        cli_usage(stdout);
        return CLI_EXIT_OK;
    }
    if (ex == CLI_EXIT_OK) ex = prepare_idempotency(&c);
    if (ex == CLI_EXIT_OK) ex = c.cmd->run(&c);
    kb_client_close(c.client);
    if ((fflush(stdout) != 0 || ferror(stdout)) && ex == CLI_EXIT_OK) {
        fprintf(stderr, "kasboek: writing to standard output failed\n");
        ex = CLI_EXIT_OUTPUT;
    }
    return ex;
}
