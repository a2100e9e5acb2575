/* invoices create|update|add-line|add-fee|add-discount|remove-line|
 * finalize|void|write-off|mark-paid|get|list, settings invoices */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "money.h"

typedef Kasboek__V1__Invoice Invoice;

#define BP_DECIMALS    2 /* "12.25%" -> 1225 basis points */
#define QTY_DECIMALS   3 /* "1.5" -> 1500 thousandths */
#define TERMS(x)       KASBOEK__V1__INVOICE_TERMS__INVOICE_TERMS_##x
#define KIND(x)        KASBOEK__V1__INVOICE_LINE_KIND__INVOICE_LINE_KIND_##x

/* ---------------------------------------------------------------- output */

static const char *qty_text(char *buf, size_t n, int64_t milli) {
    snprintf(buf, n, "%" PRId64 ".%03" PRId64, milli / 1000, milli % 1000);
    size_t len = strlen(buf); /* "2.000" -> "2", "1.500" -> "1.5" */
    while (buf[len - 1] == '0') buf[--len] = 0;
    if (buf[len - 1] == '.') buf[len - 1] = 0;
    return buf;
}

static const char *rate_text(char *buf, size_t n, uint32_t bp) {
    if (bp % 100) snprintf(buf, n, "%u.%02u%%", bp / 100, bp % 100);
    else snprintf(buf, n, "%u%%", bp / 100);
    return buf;
}

static void print_lines(const Invoice *inv) {
    char q[32], price[CLI_TEXT_MAX], disc[CLI_TEXT_MAX], rate[16], tot[CLI_TEXT_MAX],
        kind[CLI_TEXT_MAX];
    cli_table t;
    cli_table_init(&t, "LINE KIND DESCRIPTION >QTY >UNIT_PRICE >DISCOUNT >TAX_RATE >TOTAL");
    for (size_t i = 0; i < inv->n_lines; i++) {
        const Kasboek__V1__InvoiceLine *l = inv->lines[i];
        bool item = l->kind == KIND(ITEM) || l->kind == KIND(UNSPECIFIED);
        const char *row[] = {
            l->line_id,
            cli_enum(kind, sizeof kind, &kasboek__v1__invoice_line_kind__descriptor, (int)l->kind),
            l->description,
            item ? qty_text(q, sizeof q, l->quantity_milli) : "",
            l->kind == KIND(DISCOUNT) ? "" : cli_money(price, sizeof price, l->unit_price, inv->currency),
            cli_money(disc, sizeof disc, l->discount, inv->currency),
            l->kind == KIND(DISCOUNT) ? "" : rate_text(rate, sizeof rate, l->tax_bp),
            cli_money(tot, sizeof tot, l->total, inv->currency)};
        cli_table_add(&t, row);
    }
    printf("\nlines\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

static void print_amounts(const Invoice *inv) {
    char buf[CLI_TEXT_MAX], key[48], rate[16];
    const char *cur = inv->currency;
    cli_kv("subtotal", cli_money(buf, sizeof buf, inv->subtotal, cur));
    cli_kv("discount", cli_money(buf, sizeof buf, inv->discount, cur));
    if (inv->fees) cli_kv("fees", cli_money(buf, sizeof buf, inv->fees, cur));
    for (size_t i = 0; i < inv->n_taxes; i++) {
        snprintf(key, sizeof key, "tax %s", rate_text(rate, sizeof rate, inv->taxes[i]->tax_bp));
        cli_kv(key, cli_money(buf, sizeof buf, inv->taxes[i]->tax, cur));
    }
    cli_kv("total", cli_money(buf, sizeof buf, inv->total, cur));
    cli_kv("paid", cli_money(buf, sizeof buf, inv->amount_paid, cur));
    if (inv->amount_pending) cli_kv("pending", cli_money(buf, sizeof buf, inv->amount_pending, cur));
    if (inv->amount_written_off)
        cli_kv("written off", cli_money(buf, sizeof buf, inv->amount_written_off, cur));
    cli_kv("due", cli_money(buf, sizeof buf, inv->amount_due, cur));
    if (inv->amount_overpaid)
        cli_kv("overpaid", cli_money(buf, sizeof buf, inv->amount_overpaid, cur));
}

static void print_invoice(const Invoice *inv) {
    char buf[CLI_TEXT_MAX];
    cli_kv("invoice", inv->invoice_id);
    cli_kv("number", cli_or_dash(inv->number));
    cli_kv("status",
           cli_enum(buf, sizeof buf, &kasboek__v1__invoice_status__descriptor, (int)inv->status));
    if (inv->overdue) cli_kv("overdue", "yes");
    cli_kv("customer", cli_or_dash(inv->customer_id));
    if (inv->company_id[0]) cli_kv("company", inv->company_id);
    cli_kv("currency", inv->currency);
    cli_kv("terms", cli_enum(buf, sizeof buf, &kasboek__v1__invoice_terms__descriptor, (int)inv->terms));
    cli_kv("issued", cli_or_dash(inv->issue_date));
    cli_kv("due date", cli_or_dash(inv->due_date));
    if (inv->source_type[0]) {
        snprintf(buf, sizeof buf, "%s:%s", inv->source_type, inv->source_id);
        cli_kv("source", buf);
    }
    if (inv->memo[0]) cli_kv("memo", inv->memo);
    if (inv->close_reason[0]) cli_kv("reason", inv->close_reason);
    print_amounts(inv);
    if (inv->n_lines) print_lines(inv);
}

static void print_payments(const Invoice *inv) {
    if (!inv->n_payments) return;
    char amt[CLI_TEXT_MAX], pend[CLI_TEXT_MAX], at[CLI_TEXT_MAX];
    cli_table t;
    cli_table_init(&t, "PAYMENT REFERENCE >APPLIED >PENDING AT");
    for (size_t i = 0; i < inv->n_payments; i++) {
        const Kasboek__V1__InvoicePayment *p = inv->payments[i];
        const char *row[] = {cli_or_dash(p->payment_id), cli_or_dash(p->reference),
                             cli_money(amt, sizeof amt, p->amount, inv->currency),
                             cli_money(pend, sizeof pend, p->pending, inv->currency),
                             cli_time(at, sizeof at, p->at)};
        cli_table_add(&t, row);
    }
    printf("\npayments\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

void cli_print_invoice_result(const Kasboek__V1__CommandResult *r) {
    if (r->invoice) print_invoice(r->invoice);
}

static void print_get(cli *c, const ProtobufCMessage *m) {
    (void)c;
    const Kasboek__V1__GetInvoiceReply *g = (const void *)m;
    if (g->invoice) {
        print_invoice(g->invoice);
        print_payments(g->invoice);
    }
    cli_print_timeline(g->timeline, g->n_timeline);
}

static void print_list(cli *c, const ProtobufCMessage *m) {
    (void)c;
    const Kasboek__V1__ListInvoicesReply *l = (const void *)m;
    char st[CLI_TEXT_MAX], tot[CLI_TEXT_MAX], due[CLI_TEXT_MAX];
    cli_table t;
    cli_table_init(&t, "NUMBER INVOICE STATUS CUSTOMER DUE_DATE >TOTAL >DUE OVERDUE");
    for (size_t i = 0; i < l->n_invoices; i++) {
        const Invoice *inv = l->invoices[i];
        const char *row[] = {
            cli_or_dash(inv->number),
            inv->invoice_id,
            cli_enum(st, sizeof st, &kasboek__v1__invoice_status__descriptor, (int)inv->status),
            cli_or_dash(inv->customer_id),
            cli_or_dash(inv->due_date),
            cli_money(tot, sizeof tot, inv->total, inv->currency),
            cli_money(due, sizeof due, inv->amount_due, inv->currency),
            inv->overdue ? "yes" : ""};
        cli_table_add(&t, row);
    }
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
    cli_print_totals_of(l->totals, l->n_totals, "invoice", " due");
    if (l->next_cursor[0]) printf("next cursor: %s\n", l->next_cursor);
}

/* ----------------------------------------------------------------- flags */

static const char *opt(const cli *c, const char *flag) {
    const char *v = cli_flag(c, flag);
    return v ? v : "";
}

/* --terms due_on_receipt|net15|net30|net45|net60|net90. */
static int terms_flag(cli *c, Kasboek__V1__InvoiceTerms *out) {
    static const struct {
        const char *name;
        Kasboek__V1__InvoiceTerms terms;
    } names[] = {{"due_on_receipt", TERMS(DUE_ON_RECEIPT)}, {"net15", TERMS(NET_15)},
                 {"net30", TERMS(NET_30)}, {"net45", TERMS(NET_45)},
                 {"net60", TERMS(NET_60)}, {"net90", TERMS(NET_90)}};
    const char *v = cli_flag(c, "terms");
    if (!v) return CLI_EXIT_OK;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(v, names[i].name) == 0) {
            *out = names[i].terms;
            return CLI_EXIT_OK;
        }
    }
    return cli_usage_error(c, "invalid --terms '%s' (due_on_receipt, net15, net30, net45, net60, "
                              "net90; or --due DATE)", v);
}

/* "21%" or "12.25%" -> basis points; *pct false (and CLI_EXIT_OK) when v
 * has no '%'. */
static int percent(cli *c, const char *flag, const char *v, uint32_t *bp, bool *pct) {
    size_t n = strlen(v);
    *pct = n > 1 && v[n - 1] == '%';
    if (!*pct) return CLI_EXIT_OK;
    char num[32];
    int64_t x;
    if (n - 1 >= sizeof num) return cli_usage_error(c, "invalid --%s '%s'", flag, v);
    memcpy(num, v, n - 1);
    num[n - 1] = 0;
    if (kb_decimal_parse(num, BP_DECIMALS, &x) != KB_OK || x < 0 || x > 10000)
        return cli_usage_error(c, "invalid --%s '%s': a percentage 0-100%% with at most 2 "
                                  "decimals (21%%, 12.5%%)", flag, v);
    *bp = (uint32_t)x;
    return CLI_EXIT_OK;
}

static int tax_flag(cli *c, uint32_t *bp) {
    const char *v = cli_flag(c, "tax");
    bool pct;
    if (!v) return CLI_EXIT_OK;
    int ex = percent(c, "tax", v, bp, &pct);
    if (ex == CLI_EXIT_OK && !pct) return cli_usage_error(c, "--tax takes a percentage (21%%)");
    return ex;
}

/* --discount 10% | 5.00 (in the invoice's currency). */
static int discount_flag(cli *c, const char *cur, Kasboek__V1__AddInvoiceLineRequest *r) {
    const char *v = cli_flag(c, "discount");
    if (!v) return CLI_EXIT_OK;
    bool pct;
    uint32_t bp = 0;
    int ex = percent(c, "discount", v, &bp, &pct);
    if (ex != CLI_EXIT_OK) return ex;
    if (pct) {
        r->discount_case = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_BP;
        r->discount_bp = bp;
        return CLI_EXIT_OK;
    }
    r->discount_case = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__DISCOUNT_DISCOUNT_AMOUNT;
    return cli_amount_text(c, "discount", cur, &r->discount_amount);
}

static int quantity_flag(cli *c, int64_t *milli) {
    const char *v = cli_flag(c, "quantity");
    if (kb_decimal_parse(v, QTY_DECIMALS, milli) == KB_OK && *milli > 0) return CLI_EXIT_OK;
    return cli_usage_error(c, "invalid --quantity '%s': a number > 0 with at most 3 decimals (2, "
                              "1.5, 0.125)", v);
}

/* The invoice's currency, asked of the server (amounts are typed in it). */
static int invoice_currency(cli *c, const char *id, char cur[4]) {
    int ex = cli_connect(c);
    if (ex != CLI_EXIT_OK) return ex;
    Kasboek__V1__GetInvoiceRequest q = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    q.invoice_id = (char *)id;
    kb_client_call_opts o = {0};
    kb_client_result res;
    int rv = kb_client_call(c->client, "GetInvoice", &q.base, &o, &res);
    ex = cli_check(c, rv, &res);
    Kasboek__V1__GetInvoiceReply *g =
        ex == CLI_EXIT_OK ? kasboek__v1__get_invoice_reply__unpack(NULL, res.payload_len, res.payload)
                          : NULL;
    kb_client_result_fini(&res);
    if (ex != CLI_EXIT_OK) return ex;
    if (!g || !g->invoice) return cli_check(c, -1, NULL);
    snprintf(cur, 4, "%s", g->invoice->currency);
    kasboek__v1__get_invoice_reply__free_unpacked(g, NULL);
    return CLI_EXIT_OK;
}

/* -------------------------------------------------------------- commands */

int cli_cmd_invoices_create(cli *c) {
    Kasboek__V1__CreateInvoiceRequest r = KASBOEK__V1__CREATE_INVOICE_REQUEST__INIT;
    char cur[4];
    int ex = cli_currency_flag(c, cur);
    if (ex == CLI_EXIT_OK) ex = terms_flag(c, &r.terms);
    if (ex != CLI_EXIT_OK) return ex;
    r.invoice_id = (char *)c->args.pos[0];
    r.currency = cur;
    r.customer_id = (char *)opt(c, "customer");
    r.company_id = (char *)opt(c, "company");
    r.due_date = (char *)opt(c, "due");
    r.memo = (char *)opt(c, "memo");
    return cli_command(c, "CreateInvoice", &r.base);
}

int cli_cmd_invoices_update(cli *c) {
    Kasboek__V1__UpdateInvoiceRequest r = KASBOEK__V1__UPDATE_INVOICE_REQUEST__INIT;
    int ex = terms_flag(c, &r.terms);
    if (ex != CLI_EXIT_OK) return ex;
    r.invoice_id = (char *)c->args.pos[0];
    r.customer_id = (char *)opt(c, "customer");
    r.company_id = (char *)opt(c, "company");
    r.due_date = (char *)opt(c, "due");
    if (cli_flag(c, "memo")) {
        r.memo_set_case = KASBOEK__V1__UPDATE_INVOICE_REQUEST__MEMO_SET_MEMO;
        r.memo = (char *)cli_flag(c, "memo");
    }
    return cli_command(c, "UpdateInvoice", &r.base);
}

/* add-line, add-fee and add-discount: one command, three kinds. */
int cli_cmd_invoices_add(cli *c) {
    Kasboek__V1__AddInvoiceLineRequest r = KASBOEK__V1__ADD_INVOICE_LINE_REQUEST__INIT;
    r.invoice_id = (char *)c->args.pos[0];
    r.description = (char *)opt(c, "description");
    r.line_id = (char *)opt(c, "line-id");
    const char *verb = c->cmd->verb;
    r.kind = !strcmp(verb, "add-fee")        ? KIND(FEE)
             : !strcmp(verb, "add-discount") ? KIND(DISCOUNT)
                                             : KIND(ITEM);
    bool item = r.kind == KIND(ITEM), fee = r.kind == KIND(FEE);
    char cur[4];
    int ex = item ? quantity_flag(c, &r.quantity_milli) : CLI_EXIT_OK;
    if (ex == CLI_EXIT_OK && (item || fee)) ex = tax_flag(c, &r.tax_bp);
    if (ex == CLI_EXIT_OK) ex = invoice_currency(c, r.invoice_id, cur);
    if (ex == CLI_EXIT_OK && !fee) ex = discount_flag(c, cur, &r);
    if (ex == CLI_EXIT_OK && item) ex = cli_amount_flag(c, "unit-price", cur, &r.unit_price);
    if (ex == CLI_EXIT_OK && fee) ex = cli_amount_flag(c, "amount", cur, &r.unit_price);
    return ex == CLI_EXIT_OK ? cli_command(c, "AddInvoiceLine", &r.base) : ex;
}

int cli_cmd_invoices_remove_line(cli *c) {
    Kasboek__V1__RemoveInvoiceLineRequest r = KASBOEK__V1__REMOVE_INVOICE_LINE_REQUEST__INIT;
    r.invoice_id = (char *)c->args.pos[0];
    r.line_id = (char *)c->args.pos[1];
    return cli_command(c, "RemoveInvoiceLine", &r.base);
}

int cli_cmd_invoices_finalize(cli *c) {
    Kasboek__V1__FinalizeInvoiceRequest r = KASBOEK__V1__FINALIZE_INVOICE_REQUEST__INIT;
    r.invoice_id = (char *)c->args.pos[0];
    int ex = cli_at_flag(c, &r.occurred_at);
    return ex == CLI_EXIT_OK ? cli_command(c, "FinalizeInvoice", &r.base) : ex;
}

int cli_cmd_invoices_close(cli *c) {
    bool is_void = !strcmp(c->cmd->verb, "void");
    Kasboek__V1__VoidInvoiceRequest v = KASBOEK__V1__VOID_INVOICE_REQUEST__INIT;
    Kasboek__V1__WriteOffInvoiceRequest w = KASBOEK__V1__WRITE_OFF_INVOICE_REQUEST__INIT;
    v.invoice_id = w.invoice_id = (char *)c->args.pos[0];
    v.reason = w.reason = (char *)opt(c, "reason");
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
    r.reference = (char *)opt(c, "reference");
    int ex = cli_at_flag(c, &r.occurred_at);
    if (ex == CLI_EXIT_OK) ex = cli_amount_syntax(c, "amount");
    if (ex == CLI_EXIT_OK) ex = invoice_currency(c, r.invoice_id, cur);
    if (ex == CLI_EXIT_OK) ex = cli_amount_text(c, "amount", cur, &m.amount);
    if (ex != CLI_EXIT_OK) return ex;
    m.currency = cur;
    r.amount = &m;
    return cli_command(c, "MarkInvoicePaid", &r.base);
}

int cli_cmd_invoices_get(cli *c) {
    Kasboek__V1__GetInvoiceRequest r = KASBOEK__V1__GET_INVOICE_REQUEST__INIT;
    const char *id = c->args.pos[0];
    if (cli_has(c, "number")) r.number = (char *)id; /* invoices get INV-2026-000123 --number */
    else r.invoice_id = (char *)id;
    return cli_query(c, "GetInvoice", &r.base, &kasboek__v1__get_invoice_reply__descriptor,
                     print_get);
}

int cli_cmd_invoices_list(cli *c) {
    Kasboek__V1__ListInvoicesRequest r = KASBOEK__V1__LIST_INVOICES_REQUEST__INIT;
    char cur[4];
    int st = 0;
    uint64_t limit = 0;
    bool min = false, max = false;
    int ex = cli_currency_flag(c, cur);
    if (ex == CLI_EXIT_OK)
        ex = cli_enum_flag(c, "status", &kasboek__v1__invoice_status__descriptor, &st);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "limit", 1000, &limit);
    if (ex == CLI_EXIT_OK) ex = cli_amount_range(c, cur, &min, &r.min_amount, &max, &r.max_amount);
    if (ex != CLI_EXIT_OK) return ex;
    if (min) r.min_case = KASBOEK__V1__LIST_INVOICES_REQUEST__MIN_MIN_AMOUNT;
    if (max) r.max_case = KASBOEK__V1__LIST_INVOICES_REQUEST__MAX_MAX_AMOUNT;
    r.status = (Kasboek__V1__InvoiceStatus)st;
    r.currency = cur;
    r.customer_id = (char *)opt(c, "customer");
    r.overdue = cli_has(c, "overdue");
    r.due_from = (char *)opt(c, "due-from");
    r.due_to = (char *)opt(c, "due-to");
    r.cursor = (char *)opt(c, "cursor");
    r.limit = (uint32_t)limit;
    r.totals = cli_has(c, "totals");
    return cli_query(c, "ListInvoices", &r.base, &kasboek__v1__list_invoices_reply__descriptor,
                     print_list);
}

/* settings invoices [--prefix P] [--digits N] [--without-year | --with-year] */
int cli_cmd_settings_invoices(cli *c) {
    Kasboek__V1__UpdateTenantSettingsRequest r = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__INIT;
    uint64_t digits = 0;
    int ex = cli_u64_flag(c, "digits", 8, &digits);
    if (ex != CLI_EXIT_OK) return ex;
    if (cli_has(c, "without-year") && cli_has(c, "with-year"))
        return cli_usage_error(c, "--without-year and --with-year exclude each other");
    if (cli_flag(c, "prefix")) {
        r.prefix_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__PREFIX_INVOICE_PREFIX;
        r.invoice_prefix = (char *)cli_flag(c, "prefix");
    }
    if (cli_has(c, "digits")) {
        r.digits_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__DIGITS_INVOICE_NUMBER_DIGITS;
        r.invoice_number_digits = (uint32_t)digits;
    }
    if (cli_has(c, "without-year") || cli_has(c, "with-year")) {
        r.year_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__YEAR_INVOICE_NUMBER_WITHOUT_YEAR;
        r.invoice_number_without_year = cli_has(c, "without-year");
    }
    return cli_command(c, "UpdateTenantSettings", &r.base);
}
