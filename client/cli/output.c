/* Output: money and time text, key/value lines, tables, JSON. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "cli.h"
#include "money.h"

#define CLI_KEY_WIDTH 16

const char *cli_money(char *buf, size_t n, int64_t amount, const char *currency) {
    char num[CLI_TEXT_MAX];
    const char *cur = currency ? currency : "";
    if (kb_money_format(amount, cur, num, sizeof num) < 0) {
        snprintf(num, sizeof num, "%" PRId64, amount); /* unknown currency: minor units */
    }
    snprintf(buf, n, "%s%s%s", num, cur[0] ? " " : "", cur);
    return buf;
}

const char *cli_money_msg(char *buf, size_t n, const Kasboek__V1__Money *m) {
    if (!m) {
        snprintf(buf, n, "-");
        return buf;
    }
    return cli_money(buf, n, m->amount, m->currency);
}

void cli_print_totals(Kasboek__V1__CurrencyTotal *const *t, size_t n, const char *what) {
    cli_print_totals_of(t, n, what, "");
}

void cli_print_totals_of(Kasboek__V1__CurrencyTotal *const *t, size_t n, const char *what,
                         const char *amount_is) {
    char amount[CLI_TEXT_MAX];
    for (size_t i = 0; i < n; i++) {
        printf("total %s: %llu %s%s, %s%s\n", t[i]->currency, (unsigned long long)t[i]->count, what,
               t[i]->count == 1 ? "" : "s",
               cli_money(amount, sizeof amount, t[i]->amount, t[i]->currency), amount_is);
    }
}

const char *cli_time(char *buf, size_t n, int64_t us) {
    if (us == 0)
        snprintf(buf, n, "-");
    else if (kb_time_format(us, buf, n) < 0)
        snprintf(buf, n, "%" PRId64, us);
    return buf;
}

const char *cli_enum(char *buf, size_t n, const ProtobufCEnumDescriptor *d, int value) {
    if (kb_json_enum_name(d, value, buf, n) < 0) snprintf(buf, n, "%d", value);
    return buf;
}

const char *cli_or_dash(const char *s) {
    return (s && s[0]) ? s : "-";
}

/* s with its control characters written out (C0 and DEL as \xHH, C1 as
 * \u00HH), malloc'd; NULL when out of memory. Text from the server is
 * anybody's who could record a payment: a newline in a description drew
 * lines of its own in `payments get` ("status refunded"), and terminal
 * escapes went to the admin's terminal (found by a review). */
static char *escape_dup(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(6 * n + 1), *o = out;
    if (!out) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            o += sprintf(o, "\\x%02x", *p);
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            o += sprintf(o, "\\u%04x", p[1]);
            p++;
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

/* A space after the key even when it is long. */
void cli_kv(const char *key, const char *value) {
    char *v = escape_dup(cli_or_dash(value));
    printf("%-*s %s\n", CLI_KEY_WIDTH - 1, key, v ? v : "?");
    free(v);
}

/* ----------------------------------------------------------------- json */

void cli_print_json(cli *c, const ProtobufCMessage *m, int indent) {
    kb_json_extra extra = {.key = "idempotency_key", .value = c->idempotency_key};
    kb_json_opts o = {.indent = indent, .decode_event_payload = true};
    if (c->idempotency_key) {
        o.extra = &extra;
        o.n_extra = 1;
    }
    kb_json_write(stdout, m, &o);
    fputc('\n', stdout);
}

static void json_member(const char *key, const char *value, bool last) {
    printf("    ");
    kb_json_write_string(stdout, key, strlen(key));
    printf(": ");
    kb_json_write_string(stdout, value, strlen(value));
    printf(last ? "\n" : ",\n");
}

void cli_print_error_json(cli *c, const char *code, const char *reason, const char *field,
                          const char *message) {
    printf("{\n");
    if (c->idempotency_key) {
        printf("  \"idempotency_key\": ");
        kb_json_write_string(stdout, c->idempotency_key, strlen(c->idempotency_key));
        printf(",\n");
    }
    printf("  \"error\": {\n");
    json_member("code", code, false);
    json_member("reason", reason, false);
    json_member("field", field, false);
    json_member("message", message, true);
    printf("  }\n}\n");
}

/* ------------------------------------------------------------- payments */

static void print_payment_amounts(const Kasboek__V1__Payment *p) {
    char buf[CLI_TEXT_MAX];
    const char *cur = p->amount ? p->amount->currency : "";
    cli_kv("amount", cli_money_msg(buf, sizeof buf, p->amount));
    if (p->fee && p->fee->amount != 0) cli_kv("fee", cli_money_msg(buf, sizeof buf, p->fee));
    cli_kv("refunded", cli_money(buf, sizeof buf, p->amount_refunded, cur));
    if (p->amount_refund_pending != 0) {
        cli_kv("refund pending", cli_money(buf, sizeof buf, p->amount_refund_pending, cur));
    }
    if (p->amount_disputed != 0) {
        cli_kv("disputed", cli_money(buf, sizeof buf, p->amount_disputed, cur));
    }
    cli_kv("refundable", cli_money(buf, sizeof buf, p->amount_refundable, cur));
}

static void print_payment_summary(const Kasboek__V1__Payment *p) {
    char buf[CLI_TEXT_MAX];
    cli_kv("payment", p->payment_id);
    cli_kv("status",
           cli_enum(buf, sizeof buf, &kasboek__v1__payment_status__descriptor, (int)p->status));
    print_payment_amounts(p);
}

void cli_print_command_result(cli *c, const char *method, const Kasboek__V1__CommandResult *r) {
    char buf[CLI_TEXT_MAX];
    if (c->output == CLI_OUT_JSON) {
        cli_print_json(c, &r->base, 2);
        return;
    }
    if (r->payment) print_payment_summary(r->payment);
    cli_print_payout_result(r);
    cli_print_invoice_result(r);
    cli_print_plan_result(r);
    if (r->created_id[0]) {
        cli_kv(strcmp(method, "OpenDispute") == 0 ? "dispute" : "refund", r->created_id);
    }
    snprintf(buf, sizeof buf, "%" PRIu64, r->version);
    cli_kv("version", buf);
    if (r->replayed) cli_kv("replayed", "yes (answered from the idempotency store)");
    cli_print_invoice_tables(r);
    cli_print_plan_tables(r);
}

static void print_payment_links(const Kasboek__V1__Payment *p) {
    char buf[CLI_TEXT_MAX];
    if (p->source_type[0] || p->source_id[0]) {
        snprintf(buf, sizeof buf, "%s:%s", p->source_type, p->source_id);
        cli_kv("source", buf);
    }
    const Kasboek__V1__Associations *a = p->associations;
    if (a) {
        if (a->contact_id[0]) cli_kv("customer", a->contact_id);
        if (a->company_id[0]) cli_kv("company", a->company_id);
        if (a->deal_id[0]) cli_kv("deal", a->deal_id);
        if (a->subscription_id[0]) cli_kv("subscription", a->subscription_id);
    }
    for (size_t i = 0; i < p->n_metadata; i++) {
        snprintf(buf, sizeof buf, "%s=%s", p->metadata[i]->key, p->metadata[i]->value);
        cli_kv(i == 0 ? "metadata" : "", buf);
    }
}

static void print_payment_receipt_times(const Kasboek__V1__Payment *p) {
    char buf[CLI_TEXT_MAX];
    if (p->receipt_email[0]) cli_kv("receipt email", p->receipt_email);
    if (p->receipt_status != 0) {
        cli_kv("receipt", cli_enum(buf, sizeof buf, &kasboek__v1__receipt_status__descriptor,
                                   (int)p->receipt_status));
    }
    if (p->receipt_error[0]) cli_kv("receipt error", p->receipt_error);
    if (p->failure_reason[0]) cli_kv("failure reason", p->failure_reason);
    cli_kv("created", cli_time(buf, sizeof buf, p->created_at));
    cli_kv("updated", cli_time(buf, sizeof buf, p->updated_at));
    if (p->settled_at) cli_kv("settled", cli_time(buf, sizeof buf, p->settled_at));
}

void cli_print_payment(const Kasboek__V1__Payment *p) {
    char buf[CLI_TEXT_MAX];
    print_payment_summary(p);
    cli_kv("method",
           cli_enum(buf, sizeof buf, &kasboek__v1__payment_method__descriptor, (int)p->method));
    cli_kv("provider",
           cli_enum(buf, sizeof buf, &kasboek__v1__provider__descriptor, (int)p->provider));
    if (p->provider_transaction_id[0]) cli_kv("provider id", p->provider_transaction_id);
    if (p->description[0]) cli_kv("description", p->description);
    print_payment_links(p);
    print_payment_receipt_times(p);
    snprintf(buf, sizeof buf, "%" PRIu64, p->version);
    cli_kv("version", buf);
}

void cli_event_times(const Kasboek__V1__EventRecord *e, int64_t *occurred, int64_t *recorded) {
    *occurred = 0;
    *recorded = 0;
    Kasboek__V1__Event *ev = kasboek__v1__event__unpack(NULL, e->payload.len, e->payload.data);
    if (!ev) return;
    *occurred = ev->occurred_at;
    *recorded = ev->recorded_at;
    kasboek__v1__event__free_unpacked(ev, NULL);
}

/* ---------------------------------------------------------------- table */

void cli_table_init(cli_table *t, const char *columns) {
    memset(t, 0, sizeof *t);
    const char *p = columns;
    while (*p && t->n_cols < CLI_TABLE_COLS_MAX) {
        while (*p == ' ') p++;
        size_t len = strcspn(p, " ");
        if (len == 0) break;
        size_t i = t->n_cols++;
        t->right[i] = p[0] == '>';
        size_t skip = t->right[i] ? 1 : 0;
        snprintf(t->head[i], sizeof t->head[i], "%.*s", (int)(len - skip), p + skip);
        t->width[i] = strlen(t->head[i]);
        p += len;
    }
}

void cli_table_min_width(cli_table *t, size_t col, size_t width) {
    if (col < t->n_cols && t->width[col] < width) t->width[col] = width;
}

bool cli_table_add(cli_table *t, const char *const *cells) {
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? 2 * t->cap_rows : 16;
        char **grown = realloc(t->cells, cap * t->n_cols * sizeof *grown);
        if (!grown) return false;
        t->cells = grown;
        t->cap_rows = cap;
    }
    char **row = t->cells + t->n_rows * t->n_cols;
    for (size_t i = 0; i < t->n_cols; i++) {
        row[i] = escape_dup(cells[i] ? cells[i] : "");
        if (!row[i]) {
            while (i > 0) free(row[--i]);
            return false;
        }
        size_t len = strlen(row[i]);
        if (len > t->width[i]) t->width[i] = len;
    }
    t->n_rows++;
    return true;
}

static void print_row(const cli_table *t, FILE *out, const char *const *cells) {
    for (size_t i = 0; i < t->n_cols; i++) {
        bool last = i + 1 == t->n_cols;
        int w = (int)t->width[i];
        if (t->right[i])
            fprintf(out, "%*s", w, cells[i]);
        else if (last)
            fputs(cells[i], out);
        else
            fprintf(out, "%-*s", w, cells[i]);
        fputs(last ? "\n" : "  ", out);
    }
}

void cli_table_print(const cli_table *t, FILE *out, bool header) {
    if (header) {
        const char *head[CLI_TABLE_COLS_MAX];
        for (size_t i = 0; i < t->n_cols; i++) head[i] = t->head[i];
        print_row(t, out, head);
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        print_row(t, out, (const char *const *)(t->cells + r * t->n_cols));
    }
}

void cli_table_fini(cli_table *t) {
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++) free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
