/* invoices create|update|add-line|add-fee|add-discount|remove-line|
 * finalize|void|write-off|mark-paid|get|list, settings invoices */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kb_limits.h"
#include "money.h"

typedef Kasboek__V1__Invoice Invoice;
typedef Kasboek__V1__InvoiceLine Line;
typedef Kasboek__V1__AddInvoiceLineRequest LineRequest;

#define BP_DECIMALS         2 /* "12.25%" -> 1225 basis points */
#define BP_ONE              10000
#define QTY_DECIMALS        3 /* "1.5" -> 1500 thousandths */
#define AMOUNT_DECIMALS_MAX 4 /* the shape of an amount before its currency is known */
#define TERMS(x)            KASBOEK__V1__INVOICE_TERMS__INVOICE_TERMS_##x
#define KIND(x)             KASBOEK__V1__INVOICE_LINE_KIND__INVOICE_LINE_KIND_##x
#define DISCOUNT(x)         KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_##x

/* ---------------------------------------------------------------- output */

/* Thousandths as a decimal without trailing zeros: 2000 -> "2", 1500 -> "1.5". */
static const char *qty_text(char *buf, size_t n, int64_t milli) {
    const char *sign = milli < 0 ? "-" : "";
    uint64_t m = milli < 0 ? -(uint64_t)milli : (uint64_t)milli;
    snprintf(buf, n, "%s%" PRIu64 ".%03" PRIu64, sign, m / 1000, m % 1000);
    size_t len = strlen(buf);
    while (len > 0 && buf[len - 1] == '0') buf[--len] = '\0';
    if (len > 0 && buf[len - 1] == '.') buf[--len] = '\0';
    return buf;
}

/* Basis points as a percentage: 2100 -> "21%", 1250 -> "12.5%". */
static const char *rate_text(char *buf, size_t n, uint32_t bp) {
    if (bp % 100 == 0)
        snprintf(buf, n, "%u%%", bp / 100);
    else if (bp % 10 == 0)
        snprintf(buf, n, "%u.%u%%", bp / 100, bp % 100 / 10);
    else
        snprintf(buf, n, "%u.%02u%%", bp / 100, bp % 100);
    return buf;
}

/* A line's discount: the amount, with the rate of a percentage discount line. */
static const char *line_discount(char *buf, size_t n, const Line *l, const char *cur) {
    char amount[CLI_TEXT_MAX], rate[16];
    cli_money(amount, sizeof amount, l->discount, cur);
    if (l->kind == KIND(DISCOUNT) && l->discount_bp)
        snprintf(buf, n, "%s (%s)", amount, rate_text(rate, sizeof rate, l->discount_bp));
    else
        snprintf(buf, n, "%s", amount);
    return buf;
}

static void add_line_row(cli_table *t, const Line *l, const char *cur) {
    char kind[CLI_TEXT_MAX], q[32], price[CLI_TEXT_MAX], disc[2 * CLI_TEXT_MAX], rate[16];
    char tax[CLI_TEXT_MAX], tot[CLI_TEXT_MAX];
    bool item = l->kind == KIND(ITEM) || l->kind == KIND(UNSPECIFIED);
    bool discount = l->kind == KIND(DISCOUNT);
    const char *row[] = {
        l->line_id,
        cli_enum(kind, sizeof kind, &kasboek__v1__invoice_line_kind__descriptor, (int)l->kind),
        l->description,
        item ? qty_text(q, sizeof q, l->quantity_milli) : "",
        discount ? "" : cli_money(price, sizeof price, l->unit_price, cur),
        line_discount(disc, sizeof disc, l, cur),
        discount ? "" : rate_text(rate, sizeof rate, l->tax_bp),
        discount ? "" : cli_money(tax, sizeof tax, l->tax, cur),
        cli_money(tot, sizeof tot, l->total, cur)};
    cli_table_add(t, row);
}

static void print_lines(const Invoice *inv) {
    cli_table t;
    if (!inv->n_lines) return;
    cli_table_init(&t,
                   "LINE KIND DESCRIPTION >QUANTITY >UNIT_PRICE >DISCOUNT >TAX_RATE >TAX >TOTAL");
    for (size_t i = 0; i < inv->n_lines; i++) add_line_row(&t, inv->lines[i], inv->currency);
    printf("\nlines\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

static void print_payments(const Invoice *inv) {
    char amt[CLI_TEXT_MAX], pend[CLI_TEXT_MAX], at[CLI_TEXT_MAX], ref[CLI_TEXT_MAX];
    cli_table t;
    if (!inv->n_payments) return;
    cli_table_init(&t, "PAYMENT REFERENCE >APPLIED >PENDING AT");
    for (size_t i = 0; i < inv->n_payments; i++) {
        const Kasboek__V1__InvoicePayment *p = inv->payments[i];
        /* what a payment plan passed on shows as "plan <id>" */
        if (p->plan_id[0]) snprintf(ref, sizeof ref, "plan %s", p->plan_id);
        const char *row[] = {cli_or_dash(p->payment_id), p->plan_id[0] ? ref : cli_or_dash(p->reference),
                             cli_money(amt, sizeof amt, p->amount, inv->currency),
                             cli_money(pend, sizeof pend, p->pending, inv->currency),
                             cli_time(at, sizeof at, p->at)};
        cli_table_add(&t, row);
    }
    printf("\npayments\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

static void print_amounts(const Invoice *inv) {
    char buf[CLI_TEXT_MAX], key[48], rate[16];
    const char *cur = inv->currency;
    cli_kv("subtotal", cli_money(buf, sizeof buf, inv->subtotal, cur));
    cli_kv("discount", cli_money(buf, sizeof buf, inv->discount, cur));
    cli_kv("fees", cli_money(buf, sizeof buf, inv->fees, cur));
    for (size_t i = 0; i < inv->n_taxes; i++) {
        snprintf(key, sizeof key, "tax %s", rate_text(rate, sizeof rate, inv->taxes[i]->tax_bp));
        cli_kv(key, cli_money(buf, sizeof buf, inv->taxes[i]->tax, cur));
    }
    if (!inv->n_taxes) cli_kv("tax", cli_money(buf, sizeof buf, inv->tax, cur));
    cli_kv("total", cli_money(buf, sizeof buf, inv->total, cur));
    cli_kv("paid", cli_money(buf, sizeof buf, inv->amount_paid, cur));
    cli_kv("pending", cli_money(buf, sizeof buf, inv->amount_pending, cur));
    cli_kv("written off", cli_money(buf, sizeof buf, inv->amount_written_off, cur));
    cli_kv("due", cli_money(buf, sizeof buf, inv->amount_due, cur));
    if (inv->amount_overpaid)
        cli_kv("overpaid", cli_money(buf, sizeof buf, inv->amount_overpaid, cur));
}

static void print_head(const Invoice *inv) {
    char buf[CLI_TEXT_MAX];
    const ProtobufCEnumDescriptor *terms = &kasboek__v1__invoice_terms__descriptor;
    cli_kv("invoice", inv->invoice_id);
    cli_kv("number", inv->number);
    cli_kv("status",
           cli_enum(buf, sizeof buf, &kasboek__v1__invoice_status__descriptor, (int)inv->status));
    cli_kv("overdue", inv->overdue ? "yes" : "no");
    if (inv->plan_id[0]) {
        char pm[CLI_TEXT_MAX], line[2 * CLI_TEXT_MAX];
        snprintf(line, sizeof line, "%s (collects %s)", inv->plan_id,
                 cli_money(pm, sizeof pm, inv->plan_amount, inv->currency));
        cli_kv("payment plan", line);
    }
    cli_kv("customer", inv->customer_id);
    if (inv->company_id[0]) cli_kv("company", inv->company_id);
    cli_kv("currency", inv->currency);
    cli_kv("terms", cli_enum(buf, sizeof buf, terms, (int)inv->terms));
    cli_kv("issue date", inv->issue_date);
    cli_kv("due date", inv->due_date);
    if (inv->source_type[0]) {
        snprintf(buf, sizeof buf, "%s:%s", inv->source_type, inv->source_id);
        cli_kv("source", buf);
    }
    if (inv->memo[0]) cli_kv("memo", inv->memo);
    if (inv->close_reason[0]) cli_kv("reason", inv->close_reason);
}

static void print_times(const Invoice *inv) {
    char buf[CLI_TEXT_MAX];
    cli_kv("created", cli_time(buf, sizeof buf, inv->created_at));
    cli_kv("updated", cli_time(buf, sizeof buf, inv->updated_at));
    if (inv->finalized_at) cli_kv("finalized", cli_time(buf, sizeof buf, inv->finalized_at));
    if (inv->overdue_at) cli_kv("overdue since", cli_time(buf, sizeof buf, inv->overdue_at));
    if (inv->paid_at) cli_kv("paid at", cli_time(buf, sizeof buf, inv->paid_at));
    if (inv->closed_at) cli_kv("closed", cli_time(buf, sizeof buf, inv->closed_at));
    snprintf(buf, sizeof buf, "%" PRIu64, inv->version);
    cli_kv("version", buf);
}

void cli_print_invoice_result(const Kasboek__V1__CommandResult *r) {
    if (!r->invoice) return;
    print_head(r->invoice);
    print_amounts(r->invoice);
}

void cli_print_invoice_tables(const Kasboek__V1__CommandResult *r) {
    if (!r->invoice) return;
    print_lines(r->invoice);
    print_payments(r->invoice);
}

static void print_get(cli *c, const ProtobufCMessage *m) {
    const Kasboek__V1__GetInvoiceReply *g = (const void *)m;
    if (g->invoice) {
        print_head(g->invoice);
        print_amounts(g->invoice);
        print_times(g->invoice);
        print_lines(g->invoice);
        print_payments(g->invoice);
    }
    cli_print_timeline(g->timeline, g->n_timeline);
}

static void add_list_row(cli_table *t, const Invoice *inv) {
    char st[CLI_TEXT_MAX], tot[CLI_TEXT_MAX], due[CLI_TEXT_MAX];
    const char *row[] = {
        cli_or_dash(inv->number),
        inv->invoice_id,
        cli_enum(st, sizeof st, &kasboek__v1__invoice_status__descriptor, (int)inv->status),
        cli_or_dash(inv->customer_id),
        cli_or_dash(inv->due_date),
        cli_money(tot, sizeof tot, inv->total, inv->currency),
        cli_money(due, sizeof due, inv->amount_due, inv->currency),
        inv->overdue ? "yes" : "no"};
    cli_table_add(t, row);
}

static void print_list(cli *c, const ProtobufCMessage *m) {
    const Kasboek__V1__ListInvoicesReply *l = (const void *)m;
    cli_table t;
    cli_table_init(&t, "NUMBER INVOICE STATUS CUSTOMER DUE_DATE >TOTAL >DUE OVERDUE");
    for (size_t i = 0; i < l->n_invoices; i++) add_list_row(&t, l->invoices[i]);
    if (l->n_invoices > 0)
        cli_table_print(&t, stdout, true);
    else
        printf("no invoices\n");
    cli_table_fini(&t);
    cli_print_totals_of(l->totals, l->n_totals, "invoice", " due");
    if (l->next_cursor[0]) printf("next cursor: %s\n", l->next_cursor);
}

/* ----------------------------------------------------------------- flags */

/* The flag's value, "" when absent (proto3 strings). */
static char *opt(const cli *c, const char *flag) {
    const char *v = cli_flag(c, flag);
    return (char *)(v ? v : "");
}

/* --terms due_on_receipt|net15|net30|net45|net60|net90 (or as printed:
 * net_30); a due date alone means custom terms. */
static int terms_flag(cli *c, Kasboek__V1__InvoiceTerms *out) {
    static const struct {
        const char *name;
        Kasboek__V1__InvoiceTerms terms;
    } names[] = {{"due_on_receipt", TERMS(DUE_ON_RECEIPT)},
                 {"net15", TERMS(NET_15)},
                 {"net30", TERMS(NET_30)},
                 {"net45", TERMS(NET_45)},
                 {"net60", TERMS(NET_60)},
                 {"net90", TERMS(NET_90)}};
    const char *v = cli_flag(c, "terms");
    int value;
    if (!v) return CLI_EXIT_OK;
    if (cli_flag(c, "due")) return cli_usage_error(c, "give --terms or --due, not both");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(v, names[i].name) == 0) {
            *out = names[i].terms;
            return CLI_EXIT_OK;
        }
    }
    if (kb_json_enum_parse(&kasboek__v1__invoice_terms__descriptor, v, &value) &&
        value > TERMS(UNSPECIFIED) && value < TERMS(CUSTOM)) {
        *out = (Kasboek__V1__InvoiceTerms)value;
        return CLI_EXIT_OK;
    }
    return cli_usage_error(c,
                           "invalid --terms '%s' (one of due_on_receipt|net15|net30|net45|net60|"
                           "net90; for a date use --due)",
                           v);
}

/* "21%" or "12.25%" -> basis points, min_bp to 10000. *pct is false (and
 * CLI_EXIT_OK returned) when the value has no '%'. */
static int percent(cli *c, const char *flag, uint32_t min_bp, uint32_t *bp, bool *pct) {
    const char *v = cli_flag(c, flag);
    size_t n = strlen(v);
    char num[32];
    int64_t x = -1;
    *pct = n > 0 && v[n - 1] == '%';
    if (!*pct) return CLI_EXIT_OK;
    if (n - 1 < sizeof num) {
        memcpy(num, v, n - 1);
        num[n - 1] = '\0';
        if (kb_decimal_parse(num, BP_DECIMALS, &x) != KB_OK) x = -1;
    }
    if (x >= (int64_t)min_bp && x <= BP_ONE) {
        *bp = (uint32_t)x;
        return CLI_EXIT_OK;
    }
    return cli_usage_error(c,
                           "invalid --%s '%s': expected a percentage %s 0%% up to 100%% with at "
                           "most 2 decimals (21%%, 12.5%%)",
                           flag, v, min_bp ? "above" : "from");
}

/* An amount that must not be negative; checked before its currency is known. */
static int price_syntax(cli *c, const char *flag) {
    const char *v = cli_flag(c, flag);
    if (v && v[0] == '-') return cli_usage_error(c, "--%s must not be negative", flag);
    return cli_amount_syntax(c, flag);
}

static int tax_flag(cli *c, LineRequest *r) {
    bool pct;
    if (!cli_flag(c, "tax")) return CLI_EXIT_OK;
    int ex = percent(c, "tax", 0, &r->tax_bp, &pct);
    if (ex == CLI_EXIT_OK && !pct) {
        return cli_usage_error(c, "invalid --tax '%s': expected a percentage (21%%, 9%%)",
                               cli_flag(c, "tax"));
    }
    return ex;
}

/* --discount 10% | 5.00: sets the oneof case; an amount is parsed later,
 * in the invoice's currency (discount_amounts). */
static int discount_flag(cli *c, LineRequest *r) {
    const char *v = cli_flag(c, "discount");
    bool pct;
    int64_t x;
    if (!v) return CLI_EXIT_OK;
    int ex = percent(c, "discount", 1, &r->discount_bp, &pct);
    if (ex != CLI_EXIT_OK) return ex;
    r->discount_case = pct ? DISCOUNT(BP) : DISCOUNT(AMOUNT);
    if (pct || (kb_decimal_parse(v, AMOUNT_DECIMALS_MAX, &x) == KB_OK && x > 0)) return CLI_EXIT_OK;
    return cli_usage_error(c,
                           "invalid --discount '%s': expected a percentage (10%%) or an amount "
                           "above 0 (5.00)",
                           v);
}

static int quantity_flag(cli *c, int64_t *milli) {
    const char *v = cli_flag(c, "quantity");
    if (kb_decimal_parse(v, QTY_DECIMALS, milli) == KB_OK && *milli > 0 &&
        *milli <= KB_INVOICE_QUANTITY_MILLI_MAX) {
        return CLI_EXIT_OK;
    }
    return cli_usage_error(c,
                           "invalid --quantity '%s': expected a number from 0.001 to 1000000 "
                           "with at most 3 decimals (2, 1.5, 0.125)",
                           v);
}

/* Everything of a line that does not need the currency. */
static int line_flags(cli *c, LineRequest *r) {
    bool item = r->kind == KIND(ITEM), fee = r->kind == KIND(FEE);
    int ex = item ? quantity_flag(c, &r->quantity_milli) : CLI_EXIT_OK;
    if (ex == CLI_EXIT_OK && item) ex = price_syntax(c, "unit-price");
    if (ex == CLI_EXIT_OK && fee) ex = price_syntax(c, "amount");
    if (ex == CLI_EXIT_OK && !fee) ex = discount_flag(c, r);
    if (ex == CLI_EXIT_OK && (item || fee)) ex = tax_flag(c, r);
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r->occurred_at);
    return ex;
}

/* The amounts of a line, in the invoice's currency. */
static int line_amounts(cli *c, const char *cur, LineRequest *r) {
    int ex = CLI_EXIT_OK;
    if (r->kind == KIND(ITEM)) ex = cli_amount_flag(c, "unit-price", cur, &r->unit_price);
    if (r->kind == KIND(FEE)) ex = cli_amount_flag(c, "amount", cur, &r->unit_price);
    if (ex == CLI_EXIT_OK && r->discount_case == DISCOUNT(AMOUNT))
        ex = cli_amount_flag(c, "discount", cur, &r->discount_amount);
    return ex;
}

/* The invoice's currency, asked of the server (amounts are typed in it). */
static const char *invoice_currency_of(const ProtobufCMessage *m) {
    const Kasboek__V1__GetInvoiceReply *g = (const void *)m;
    return g->invoice ? g->invoice->currency : NULL;
}

int cli_invoice_currency(cli *c, const char *id, char cur[4]) {
    Kasboek__V1__GetInvoiceRequest q = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    q.invoice_id = (char *)id;
    return cli_fetch_currency(c, "GetInvoice", &q.base, &kasboek__v1__get_invoice_reply__descriptor,
                              invoice_currency_of, cur);
}

/* -------------------------------------------------------------- commands */

int cli_cmd_invoices_create(cli *c) {
    Kasboek__V1__CreateInvoiceRequest r = KASBOEK__V1__CREATE_INVOICE_REQUEST__INIT;
    char cur[4];
    int ex = cli_currency_flag(c, cur);
    if (ex == CLI_EXIT_OK) ex = terms_flag(c, &r.terms);
    if (ex == CLI_EXIT_OK) ex = cli_date_flag(c, "due", &r.due_date);
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    r.invoice_id = (char *)c->args.pos[0];
    r.currency = cur;
    r.customer_id = opt(c, "customer");
    r.company_id = opt(c, "company");
    r.memo = opt(c, "memo");
    return cli_command(c, "CreateInvoice", &r.base);
}

int cli_cmd_invoices_update(cli *c) {
    Kasboek__V1__UpdateInvoiceRequest r = KASBOEK__V1__UPDATE_INVOICE_REQUEST__INIT;
    static const char *const fields[] = {"customer", "company", "terms", "due", "memo"};
    bool any = false;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) any |= cli_has(c, fields[i]);
    if (!any)
        return cli_usage_error(c,
                               "give at least one of --customer, --company, --terms, "
                               "--due, --memo");
    int ex = terms_flag(c, &r.terms);
    if (ex == CLI_EXIT_OK) ex = cli_date_flag(c, "due", &r.due_date);
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    r.invoice_id = (char *)c->args.pos[0];
    r.customer_id = opt(c, "customer");
    r.company_id = opt(c, "company");
    if (cli_flag(c, "memo")) { /* --memo "" clears it */
        r.memo_set_case = KASBOEK__V1__UPDATE_INVOICE_REQUEST__MEMO_SET_MEMO;
        r.memo = opt(c, "memo");
    }
    return cli_command(c, "UpdateInvoice", &r.base);
}

/* add-line, add-fee and add-discount: one command, three kinds of line. */
int cli_cmd_invoices_add(cli *c) {
    LineRequest r = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__INIT;
    const char *verb = c->cmd->verb;
    char cur[4];
    r.invoice_id = (char *)c->args.pos[0];
    r.description = opt(c, "description");
    r.line_id = opt(c, "line-id");
    r.kind = !strcmp(verb, "add-fee")        ? KIND(FEE)
             : !strcmp(verb, "add-discount") ? KIND(DISCOUNT)
                                             : KIND(ITEM);
    int ex = line_flags(c, &r);
    if (ex == CLI_EXIT_OK) ex = cli_invoice_currency(c, r.invoice_id, cur);
    if (ex == CLI_EXIT_OK) ex = line_amounts(c, cur, &r);
    return ex == CLI_EXIT_OK ? cli_command(c, "AddInvoiceLine", &r.base) : ex;
}

int cli_cmd_invoices_remove_line(cli *c) {
    Kasboek__V1__RemoveInvoiceLineRequest r = KASBOEK__V1__REMOVE_INVOICE_LINE_REQUEST__INIT;
    r.invoice_id = (char *)c->args.pos[0];
    r.line_id = (char *)c->args.pos[1];
    int ex = cli_at_flag(c, &r.occurred_at);
    return ex == CLI_EXIT_OK ? cli_command(c, "RemoveInvoiceLine", &r.base) : ex;
}

int cli_cmd_invoices_finalize(cli *c) {
    Kasboek__V1__FinalizeInvoiceRequest r = KASBOEK__V1__FINALIZE_INVOICE_REQUEST__INIT;
    r.invoice_id = (char *)c->args.pos[0];
    int ex = cli_at_flag(c, &r.occurred_at);
    return ex == CLI_EXIT_OK ? cli_command(c, "FinalizeInvoice", &r.base) : ex;
}

/* void and write-off: the same fields, two requests. */
int cli_cmd_invoices_close(cli *c) {
    bool is_void = !strcmp(c->cmd->verb, "void");
    Kasboek__V1__VoidInvoiceRequest v = KASBOEK__V1__VOID_INVOICE_REQUEST__INIT;
    Kasboek__V1__WriteOffInvoiceRequest w = KASBOEK__V1__WRITE_OFF_INVOICE_REQUEST__INIT;
    v.invoice_id = w.invoice_id = (char *)c->args.pos[0];
    v.reason = w.reason = opt(c, "reason");
    int ex = cli_at_flag(c, is_void ? &v.occurred_at : &w.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    return is_void ? cli_command(c, "VoidInvoice", &v.base)
                   : cli_command(c, "WriteOffInvoice", &w.base);
}

int cli_cmd_invoices_mark_paid(cli *c) {
    Kasboek__V1__MarkInvoicePaidRequest r = KASBOEK__V1__MARK_INVOICE_PAID_REQUEST__INIT;
    Kasboek__V1__Money m = KASBOEK__V1__MONEY__INIT;
    char cur[4];
    r.invoice_id = (char *)c->args.pos[0];
    r.reference = opt(c, "reference");
    int ex = price_syntax(c, "amount");
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r.occurred_at);
    if (ex == CLI_EXIT_OK) ex = cli_invoice_currency(c, r.invoice_id, cur);
    if (ex == CLI_EXIT_OK) ex = cli_amount_flag(c, "amount", cur, &m.amount);
    if (ex != CLI_EXIT_OK) return ex;
    m.currency = cur;
    r.amount = &m;
    return cli_command(c, "MarkInvoicePaid", &r.base);
}

/* invoices get ID | invoices get --number INV-2026-000001 */
int cli_cmd_invoices_get(cli *c) {
    Kasboek__V1__GetInvoiceRequest r = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    if (cli_has(c, "number"))
        r.number = (char *)c->args.pos[0];
    else
        r.invoice_id = (char *)c->args.pos[0];
    return cli_query(c, "GetInvoice", &r.base, &kasboek__v1__get_invoice_reply__descriptor,
                     print_get);
}

static int list_filters(cli *c, Kasboek__V1__ListInvoicesRequest *r, char cur[4]) {
    int st = 0;
    uint64_t limit = 0;
    bool min = false, max = false;
    int ex = cli_currency_flag(c, cur);
    if (ex == CLI_EXIT_OK)
        ex = cli_enum_flag(c, "status", &kasboek__v1__invoice_status__descriptor, &st);
    if (ex == CLI_EXIT_OK) ex = cli_date_flag(c, "due-from", &r->due_from);
    if (ex == CLI_EXIT_OK) ex = cli_date_flag(c, "due-to", &r->due_to);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "limit", 1000, &limit);
    if (ex == CLI_EXIT_OK)
        ex = cli_amount_range(c, cur, &min, &r->min_amount, &max, &r->max_amount);
    if (ex != CLI_EXIT_OK) return ex;
    if (min) r->min_case = KASBOEK__V1__LIST_INVOICES_REQUEST__MIN_MIN_AMOUNT;
    if (max) r->max_case = KASBOEK__V1__LIST_INVOICES_REQUEST__MAX_MAX_AMOUNT;
    r->status = (Kasboek__V1__InvoiceStatus)st;
    r->limit = (uint32_t)limit;
    return CLI_EXIT_OK;
}

int cli_cmd_invoices_list(cli *c) {
    Kasboek__V1__ListInvoicesRequest r = KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    char cur[4];
    int ex = list_filters(c, &r, cur);
    if (ex != CLI_EXIT_OK) return ex;
    r.currency = cur;
    r.customer_id = opt(c, "customer");
    r.overdue = cli_has(c, "overdue");
    r.cursor = opt(c, "cursor");
    r.totals = cli_has(c, "totals");
    return cli_query(c, "ListInvoices", &r.base, &kasboek__v1__list_invoices_reply__descriptor,
                     print_list);
}

/* --------------------------------------------------------------- settings */

/* settings invoices [--prefix P] [--digits N] [--without-year | --with-year] */
int cli_cmd_settings_invoices(cli *c) {
    Kasboek__V1__UpdateTenantSettingsRequest r = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__INIT;
    bool without = cli_has(c, "without-year"), with = cli_has(c, "with-year");
    uint64_t digits = 0;
    if (without && with) return cli_usage_error(c, "give --without-year or --with-year, not both");
    if (!cli_has(c, "prefix") && !cli_has(c, "digits") && !without && !with)
        return cli_usage_error(c,
                               "give at least one of --prefix, --digits, --without-year, "
                               "--with-year");
    int ex = cli_u64_flag(c, "digits", 8, &digits);
    if (ex != CLI_EXIT_OK) return ex;
    if (cli_has(c, "digits") && digits == 0)
        return cli_usage_error(c, "invalid --digits '0': expected 1 to 8");
    if (cli_has(c, "prefix")) {
        r.prefix_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__PREFIX_INVOICE_PREFIX;
        r.invoice_prefix = opt(c, "prefix");
    }
    if (cli_has(c, "digits")) {
        r.digits_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__DIGITS_INVOICE_NUMBER_DIGITS;
        r.invoice_number_digits = (uint32_t)digits;
    }
    if (without || with) {
        r.year_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__YEAR_INVOICE_NUMBER_WITHOUT_YEAR;
        r.invoice_number_without_year = without;
    }
    return cli_command(c, "UpdateTenantSettings", &r.base);
}
