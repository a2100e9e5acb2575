/* balance, payouts close|list|get|paid|failed, settings get|set */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calendar.h"
#include "cli.h"
#include "kb_limits.h"

static const char *date_text(char *buf, size_t n, int32_t day) {
    if (day == 0 || kb_date_format(day, buf, n) < 0) snprintf(buf, n, "-");
    return buf;
}

static int uint_flag(cli *c, const char *flag, uint32_t max, uint32_t *out, bool *given) {
    uint64_t v = 0;
    *given = cli_has(c, flag);
    int ex = cli_u64_flag(c, flag, max, &v);
    *out = (uint32_t)v;
    return ex;
}

/* --------------------------------------------------------------- balance */

static void print_balance(cli *c, const ProtobufCMessage *m) {
    (void)c;
    const Kasboek__V1__GetBalanceReply *g = (const void *)m;
    char a[CLI_TEXT_MAX], p[CLI_TEXT_MAX], t[CLI_TEXT_MAX], n[32], d[16], seq[32];
    snprintf(seq, sizeof seq, "%" PRIu64, g->as_of_seq);
    cli_kv("as of seq", seq);
    cli_kv("as of date", date_text(d, sizeof d, g->as_of_date));
    cli_table tb;
    cli_table_init(&tb, "CURRENCY >AVAILABLE >PENDING >TOTAL >OPEN");
    for (size_t i = 0; i < g->n_balances; i++) {
        const Kasboek__V1__CurrencyBalance *b = g->balances[i];
        snprintf(n, sizeof n, "%u", b->open_transactions);
        const char *row[] = {b->currency, cli_money(a, sizeof a, b->available, b->currency),
                             cli_money(p, sizeof p, b->pending, b->currency),
                             cli_money(t, sizeof t, b->total, b->currency), n};
        cli_table_add(&tb, row);
    }
    printf("\n");
    cli_table_print(&tb, stdout, true);
    cli_table_fini(&tb);
}

/* --as-of SEQ (digits) or TIME. */
static int as_of_flag(cli *c, Kasboek__V1__GetBalanceRequest *r) {
    const char *v = cli_flag(c, "as-of");
    if (!v) return CLI_EXIT_OK;
    size_t i = 0;
    while (isdigit((unsigned char)v[i])) i++;
    if (i > 0 && v[i] == '\0' && i < 20) {
        r->as_of_case = KASBOEK__V1__GET_BALANCE_REQUEST__AS_OF_AS_OF_SEQ;
        r->as_of_seq = strtoull(v, NULL, 10);
        return CLI_EXIT_OK;
    }
    r->as_of_case = KASBOEK__V1__GET_BALANCE_REQUEST__AS_OF_AS_OF_TIME;
    return cli_time_flag(c, "as-of", &r->as_of_time);
}

int cli_cmd_balance(cli *c) {
    Kasboek__V1__GetBalanceRequest r = KASBOEK__V1__GET_BALANCE_REQUEST__INIT;
    char cur[4];
    int ex = cli_currency_flag(c, cur);
    if (ex == CLI_EXIT_OK) ex = as_of_flag(c, &r);
    if (ex != CLI_EXIT_OK) return ex;
    r.currency = cur;
    return cli_query(c, "GetBalance", &r.base, &kasboek__v1__get_balance_reply__descriptor,
                     print_balance);
}

/* --------------------------------------------------------------- payouts */

static void payout_summary(const Kasboek__V1__Payout *p) {
    char buf[CLI_TEXT_MAX], d[16];
    cli_kv("payout", p->payout_id);
    cli_kv("status",
           cli_enum(buf, sizeof buf, &kasboek__v1__payout_status__descriptor, (int)p->status));
    cli_kv("amount", cli_money_msg(buf, sizeof buf, p->amount));
    if (p->debit) cli_kv("debit", "yes: the bank account is debited");
    cli_kv("date", date_text(d, sizeof d, p->date));
    cli_kv("arrival", date_text(d, sizeof d, p->arrival_date));
    snprintf(buf, sizeof buf, "%u", p->transaction_count);
    cli_kv("transactions", buf);
    if (p->failure_reason[0]) cli_kv("failure", p->failure_reason);
}

void cli_print_payout_result(const Kasboek__V1__CommandResult *r) {
    char buf[CLI_TEXT_MAX];
    if (r->payout) payout_summary(r->payout);
    if (r->balance) {
        const Kasboek__V1__Balance *b = r->balance;
        cli_kv("currency", b->currency);
        cli_kv("total", cli_money(buf, sizeof buf, b->total, b->currency));
        cli_kv("last payout", b->last_payout_id);
        if (!r->first_seq) cli_kv("closed", "nothing (already closed, or nothing available)");
    }
    if (r->settings) {
        const Kasboek__V1__TenantSettings *s = r->settings;
        snprintf(buf, sizeof buf, "%u business days", s->card_available_days);
        cli_kv("card available", buf);
        snprintf(buf, sizeof buf, "%u business days after settling", s->debit_available_days);
        cli_kv("debit available", buf);
        snprintf(buf, sizeof buf, "%02u:%02u UTC", s->payout_minute_of_day / 60,
                 s->payout_minute_of_day % 60);
        cli_kv("payout time", buf);
        snprintf(buf, sizeof buf, "%u business days", s->payout_arrival_days);
        cli_kv("payout arrival", buf);
        const char *prefix = s->invoice_prefix[0] ? s->invoice_prefix : "INV";
        unsigned digits = s->invoice_number_digits ? s->invoice_number_digits : 6;
        if (s->invoice_number_without_year)
            snprintf(buf, sizeof buf, "%s-%0*u", prefix, (int)digits, 1u);
        else
            snprintf(buf, sizeof buf, "%s-<year>-%0*u", prefix, (int)digits, 1u);
        cli_kv("invoice numbers", buf);
    }
}

static int close_one(cli *c, const char *cur, const char *date, const char *key) {
    Kasboek__V1__ClosePayoutRequest r = KASBOEK__V1__CLOSE_PAYOUT_REQUEST__INIT;
    r.currency = (char *)cur;
    r.date = (char *)(date ? date : "");
    const char *saved = c->idempotency_key;
    c->idempotency_key = key;
    int ex = cli_command(c, "ClosePayout", &r.base);
    c->idempotency_key = saved;
    return ex;
}

/* Without --currency: every currency the tenant has a balance in, each
 * with its own key derived from the run's. */
int cli_cmd_payouts_close(cli *c) {
    char cur[4];
    int ex = cli_currency_flag(c, cur);
    if (ex != CLI_EXIT_OK) return ex;
    const char *date = cli_flag(c, "date");
    if (cur[0]) return close_one(c, cur, date, c->idempotency_key);
    /* each currency's key is "<key>-<CUR>": it must fit the server's bound
     * (a 48-byte buffer cut long keys to one and the same prefix, and every
     * currency after the first was refused as a reused key) */
    if (strlen(c->idempotency_key) + 4 > KB_IDEMPOTENCY_KEY_LEN_MAX) {
        return cli_usage_error(c,
                               "without --currency, --idempotency-key may have at most %d "
                               "characters (one key per currency adds \"-<CUR>\")",
                               KB_IDEMPOTENCY_KEY_LEN_MAX - 4);
    }
    ex = cli_connect(c);
    if (ex != CLI_EXIT_OK) return ex;
    Kasboek__V1__GetBalanceRequest q = KASBOEK__V1__GET_BALANCE_REQUEST__INIT;
    kb_client_call_opts o = {0};
    kb_client_result res;
    int rv = kb_client_call(c->client, "GetBalance", &q.base, &o, &res);
    ex = cli_check(c, rv, &res);
    if (ex != CLI_EXIT_OK) {
        kb_client_result_fini(&res);
        return ex;
    }
    Kasboek__V1__GetBalanceReply *g =
        kasboek__v1__get_balance_reply__unpack(NULL, res.payload_len, res.payload);
    kb_client_result_fini(&res);
    if (!g) return cli_check(c, -1, NULL);
    /* -o json: one array of the results, one per currency */
    bool json = c->output == CLI_OUT_JSON;
    if (json) printf("[\n");
    if (!json && g->n_balances == 0) printf("no balance to close a payout of\n");
    for (size_t i = 0; i < g->n_balances && ex == CLI_EXIT_OK; i++) {
        char key[KB_IDEMPOTENCY_KEY_LEN_MAX + 1];
        snprintf(key, sizeof key, "%s-%s", c->idempotency_key, g->balances[i]->currency);
        if (i) printf(json ? ",\n" : "\n");
        ex = close_one(c, g->balances[i]->currency, date, key);
    }
    if (json) printf("]\n");
    kasboek__v1__get_balance_reply__free_unpacked(g, NULL);
    return ex;
}

static void print_payouts(cli *c, const ProtobufCMessage *m) {
    (void)c;
    const Kasboek__V1__ListPayoutsReply *l = (const void *)m;
    char d[16], arr[16], st[CLI_TEXT_MAX], amt[CLI_TEXT_MAX], n[16];
    cli_table t;
    cli_table_init(&t, "PAYOUT DATE STATUS >AMOUNT >TXNS ARRIVAL");
    for (size_t i = 0; i < l->n_payouts; i++) {
        const Kasboek__V1__Payout *p = l->payouts[i];
        snprintf(n, sizeof n, "%u", p->transaction_count);
        const char *row[] = {
            p->payout_id,
            date_text(d, sizeof d, p->date),
            cli_enum(st, sizeof st, &kasboek__v1__payout_status__descriptor, (int)p->status),
            cli_money_msg(amt, sizeof amt, p->amount),
            n,
            date_text(arr, sizeof arr, p->arrival_date)};
        cli_table_add(&t, row);
    }
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
    cli_print_totals(l->totals, l->n_totals, "payout");
    if (l->next_cursor[0]) printf("next cursor: %s\n", l->next_cursor);
}

int cli_cmd_payouts_list(cli *c) {
    Kasboek__V1__ListPayoutsRequest r = KASBOEK__V1__LIST_PAYOUTS_REQUEST__INIT;
    char cur[4];
    int st = 0;
    bool given;
    uint32_t limit = 0;
    int ex = cli_currency_flag(c, cur);
    if (ex == CLI_EXIT_OK)
        ex = cli_enum_flag(c, "status", &kasboek__v1__payout_status__descriptor, &st);
    if (ex == CLI_EXIT_OK) ex = uint_flag(c, "limit", 1000, &limit, &given);
    bool min = false, max = false;
    if (ex == CLI_EXIT_OK) ex = cli_amount_range(c, cur, &min, &r.min_amount, &max, &r.max_amount);
    if (ex != CLI_EXIT_OK) return ex;
    if (min) r.min_case = KASBOEK__V1__LIST_PAYOUTS_REQUEST__MIN_MIN_AMOUNT;
    if (max) r.max_case = KASBOEK__V1__LIST_PAYOUTS_REQUEST__MAX_MAX_AMOUNT;
    r.totals = cli_has(c, "totals");
    r.currency = cur;
    r.status = (Kasboek__V1__PayoutStatus)st;
    r.from = (char *)(cli_flag(c, "from") ? cli_flag(c, "from") : "");
    r.to = (char *)(cli_flag(c, "to") ? cli_flag(c, "to") : "");
    r.cursor = (char *)(cli_flag(c, "cursor") ? cli_flag(c, "cursor") : "");
    r.limit = limit;
    return cli_query(c, "ListPayouts", &r.base, &kasboek__v1__list_payouts_reply__descriptor,
                     print_payouts);
}

static const char *btxn_type(char *buf, size_t n, int type) {
    return cli_enum(buf, n, &kasboek__v1__balance_transaction_type__descriptor, type);
}

static void print_payout(cli *c, const ProtobufCMessage *m) {
    (void)c;
    const Kasboek__V1__GetPayoutReply *g = (const void *)m;
    payout_summary(g->payout);
    char ty[CLI_TEXT_MAX], amt[CLI_TEXT_MAX], on[16], src[2 * KB_ID_LEN_MAX + 2];
    cli_table t;
    cli_table_init(&t, "TRANSACTION TYPE >AMOUNT SOURCE PAYMENT AVAILABLE_ON");
    for (size_t i = 0; i < g->n_transactions; i++) {
        const Kasboek__V1__BalanceTransaction *x = g->transactions[i];
        snprintf(src, sizeof src, "%s:%s", x->source_type, x->source_id);
        const char *row[] = {x->id,
                             btxn_type(ty, sizeof ty, (int)x->type),
                             cli_money(amt, sizeof amt, x->amount, x->currency),
                             src,
                             cli_or_dash(x->payment_id),
                             date_text(on, sizeof on, x->available_on)};
        cli_table_add(&t, row);
    }
    printf("\ntransactions\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

int cli_cmd_payouts_get(cli *c) {
    Kasboek__V1__GetPayoutRequest r = KASBOEK__V1__GET_PAYOUT_REQUEST__INIT;
    r.payout_id = (char *)c->args.pos[0];
    return cli_query(c, "GetPayout", &r.base, &kasboek__v1__get_payout_reply__descriptor,
                     print_payout);
}

int cli_cmd_payouts_paid(cli *c) {
    Kasboek__V1__MarkPayoutPaidRequest r = KASBOEK__V1__MARK_PAYOUT_PAID_REQUEST__INIT;
    r.payout_id = (char *)c->args.pos[0];
    int ex = cli_at_flag(c, &r.occurred_at);
    return ex == CLI_EXIT_OK ? cli_command(c, "MarkPayoutPaid", &r.base) : ex;
}

int cli_cmd_payouts_failed(cli *c) {
    Kasboek__V1__MarkPayoutFailedRequest r = KASBOEK__V1__MARK_PAYOUT_FAILED_REQUEST__INIT;
    r.payout_id = (char *)c->args.pos[0];
    r.reason = (char *)cli_flag(c, "reason");
    int ex = cli_at_flag(c, &r.occurred_at);
    return ex == CLI_EXIT_OK ? cli_command(c, "MarkPayoutFailed", &r.base) : ex;
}

/* -------------------------------------------------------------- settings */

static void print_settings(cli *c, const ProtobufCMessage *m) {
    (void)c;
    Kasboek__V1__CommandResult r = KASBOEK__V1__COMMAND_RESULT__INIT;
    r.settings = (Kasboek__V1__TenantSettings *)m;
    cli_print_payout_result(&r);
}

int cli_cmd_settings_get(cli *c) {
    Kasboek__V1__GetTenantSettingsRequest r = KASBOEK__V1__GET_TENANT_SETTINGS_REQUEST__INIT;
    return cli_query(c, "GetTenantSettings", &r.base, &kasboek__v1__tenant_settings__descriptor,
                     print_settings);
}

/* --payout-time HH:MM (UTC). */
static int payout_time_flag(cli *c, Kasboek__V1__UpdateTenantSettingsRequest *r) {
    const char *v = cli_flag(c, "payout-time");
    if (!v) return CLI_EXIT_OK;
    unsigned h, m;
    char tail;
    if (strlen(v) != 5 || sscanf(v, "%2u:%2u%c", &h, &m, &tail) != 2 || h > 23 || m > 59) {
        return cli_usage_error(c, "--payout-time must be HH:MM (UTC), such as 06:00");
    }
    r->minute_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__MINUTE_PAYOUT_MINUTE_OF_DAY;
    r->payout_minute_of_day = h * 60 + m;
    return CLI_EXIT_OK;
}

int cli_cmd_settings_set(cli *c) {
    Kasboek__V1__UpdateTenantSettingsRequest r = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__INIT;
    bool card, debit, arrival;
    int ex = uint_flag(c, "card-days", 30, &r.card_available_days, &card);
    if (ex == CLI_EXIT_OK) ex = uint_flag(c, "debit-days", 30, &r.debit_available_days, &debit);
    if (ex == CLI_EXIT_OK) ex = uint_flag(c, "arrival-days", 10, &r.payout_arrival_days, &arrival);
    if (ex == CLI_EXIT_OK) ex = payout_time_flag(c, &r);
    if (ex != CLI_EXIT_OK) return ex;
    if (card) r.card_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__CARD_CARD_AVAILABLE_DAYS;
    if (debit) {
        r.debit_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__DEBIT_DEBIT_AVAILABLE_DAYS;
    }
    if (arrival) {
        r.arrival_case = KASBOEK__V1__UPDATE_TENANT_SETTINGS_REQUEST__ARRIVAL_PAYOUT_ARRIVAL_DAYS;
    }
    return cli_command(c, "UpdateTenantSettings", &r.base);
}

/* --------------------------------------------------------------- reports */

/* reports reconciliation|payments|payouts --from D --to D [--format csv|json]
 * [--out FILE] [--as-of SEQ]: the document on stdout (or in FILE); the seq
 * and digest on stderr, so stdout stays the document. */
int cli_cmd_reports(cli *c) {
    static const struct {
        const char *name;
        Kasboek__V1__ReportKind kind;
    } kinds[] = {{"reconciliation", KASBOEK__V1__REPORT_KIND__REPORT_KIND_RECONCILIATION},
                 {"payments", KASBOEK__V1__REPORT_KIND__REPORT_KIND_PAYMENTS},
                 {"payouts", KASBOEK__V1__REPORT_KIND__REPORT_KIND_PAYOUTS}};
    Kasboek__V1__GetReportRequest r = KASBOEK__V1__GET_REPORT_REQUEST__INIT;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(c->cmd->verb, kinds[i].name) == 0) r.kind = kinds[i].kind;
    }
    const char *fmt = cli_flag(c, "format");
    if (fmt && strcmp(fmt, "csv") && strcmp(fmt, "json")) {
        return cli_usage_error(c, "--format must be csv or json");
    }
    r.format = fmt && !strcmp(fmt, "json") ? KASBOEK__V1__REPORT_FORMAT__REPORT_FORMAT_JSON
                                           : KASBOEK__V1__REPORT_FORMAT__REPORT_FORMAT_CSV;
    r.from = (char *)cli_flag(c, "from");
    r.to = (char *)cli_flag(c, "to");
    int ex = cli_u64_flag(c, "as-of", UINT64_MAX, &r.as_of_seq);
    if (ex != CLI_EXIT_OK) return ex;
    /* --out is tried before the server is asked (opened to append, which
     * leaves a file that is there as it is): a path that cannot be written
     * is a usage error, with nothing sent (it was found out after the
     * report had been fetched) */
    const char *out = cli_flag(c, "out");
    bool made = false;
    if (out) {
        made = access(out, F_OK) != 0;
        FILE *t = fopen(out, "ab");
        if (!t) return cli_usage_error(c, "cannot write %s: %s", out, strerror(errno));
        fclose(t);
    }
    ex = cli_connect(c);
    kb_client_call_opts o = {0};
    kb_client_result res;
    int rv = kb_client_call(c->client, "GetReport", &r.base, &o, &res);
    ex = cli_check(c, rv, &res);
    Kasboek__V1__GetReportReply *g = ex == CLI_EXIT_OK ? kasboek__v1__get_report_reply__unpack(
                                                             NULL, res.payload_len, res.payload)
                                                       : NULL;
    kb_client_result_fini(&res);
    if (ex == CLI_EXIT_OK && !g) ex = cli_check(c, -1, NULL);
    if (ex != CLI_EXIT_OK) {
        if (made) (void)remove(out); /* the empty file the try made */
        return ex;
    }
    FILE *f = out ? fopen(out, "wb") : stdout;
    bool ok = f && fwrite(g->content.data, 1, g->content.len, f) == g->content.len;
    if (f) ok = (out ? fclose(f) : fflush(f)) == 0 && ok;
    if (ok) {
        fprintf(stderr, "report: %u rows, as of seq %llu, blake2b %s\n", g->rows,
                (unsigned long long)g->as_of_seq, g->digest);
    } else {
        fprintf(stderr, "kasboek: writing the report to %s failed\n",
                out ? out : "standard output");
    }
    kasboek__v1__get_report_reply__free_unpacked(g, NULL);
    return ok ? CLI_EXIT_OK : CLI_EXIT_OUTPUT;
}
