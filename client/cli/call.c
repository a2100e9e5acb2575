/* Connecting, calling, reporting errors, and turning flag text into
 * request values (usage errors never reach the server). */
#include <ctype.h>
#include <inttypes.h>
#include <errno.h>
#include <nng/nng.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "cli.h"
#include "money.h"

static const char *cli_url(const cli *c) {
    if (c->url) return c->url;
    const char *env = getenv("KASBOEK_SERVER");
    return (env && env[0]) ? env : KB_CLIENT_DEFAULT_URL;
}

/* No reply: connect failed, timed out, or the reply was not a Response. */
static int transport_error(cli *c, const char *what, int err) {
    const char *code = err == NNG_ETIMEDOUT ? "DEADLINE_EXCEEDED" : "UNAVAILABLE";
    char message[256];
    snprintf(message, sizeof message, "%s %s: %s", what, cli_url(c), kb_client_strerror(err));
    fprintf(stderr, "%s: %s\n", code, message);
    if (c->output == CLI_OUT_JSON) cli_print_error_json(c, code, "", "", message);
    return CLI_EXIT_TRANSPORT;
}

int cli_connect(cli *c) {
    if (c->client) return CLI_EXIT_OK;
    kb_client_options o = {.url = c->url, .tenant = c->tenant, .api_key = c->api_key};
    int rv = kb_client_open(&o, &c->client);
    if (rv != 0) {
        c->client = NULL;
        return transport_error(c, "cannot connect to", rv);
    }
    return CLI_EXIT_OK;
}

int cli_check(cli *c, int rv, const kb_client_result *res) {
    if (rv != 0) {
        int ex = transport_error(c, "no reply from", rv);
        /* The command may have been applied: the same key again answers
         * what happened and applies it at most once (a new run's fresh key
         * would apply it again; a review refunded twice that way). */
        if (c->run_key) {
            fprintf(stderr,
                    "the command may or may not have been applied: run it again with "
                    "--idempotency-key %s to find out (it is applied at most once)\n",
                    c->run_key);
        }
        return ex;
    }
    if (res->code == 0) return CLI_EXIT_OK;
    const char *code = kb_client_code_str(res->code);
    if (res->reason[0] && res->field[0])
        fprintf(stderr, "%s %s (field %s): %s\n", code, res->reason, res->field, res->message);
    else if (res->reason[0])
        fprintf(stderr, "%s %s: %s\n", code, res->reason, res->message);
    else
        fprintf(stderr, "%s: %s\n", code, res->message);
    if (c->output == CLI_OUT_JSON) {
        cli_print_error_json(c, code, res->reason, res->field, res->message);
    }
    return CLI_EXIT_SERVER;
}

int cli_command(cli *c, const char *method, const ProtobufCMessage *req) {
    int ex = cli_connect(c);
    if (ex != CLI_EXIT_OK) return ex;
    kb_client_call_opts o = {.idempotency_key = c->idempotency_key};
    kb_client_result res;
    Kasboek__V1__CommandResult *r;
    int rv = kb_client_command(c->client, method, req, &o, &res, &r);
    ex = cli_check(c, rv, &res);
    if (ex == CLI_EXIT_OK) {
        cli_print_command_result(c, method, r);
        kasboek__v1__command_result__free_unpacked(r, NULL);
    }
    kb_client_result_fini(&res);
    return ex;
}

/* connect + call + decode the reply into *out; key: the idempotency key
 * to send (NULL: none). */
static int call_decode(cli *c, const char *key, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *d, ProtobufCMessage **out) {
    *out = NULL;
    int ex = cli_connect(c);
    if (ex != CLI_EXIT_OK) return ex;
    kb_client_call_opts o = {.idempotency_key = key};
    kb_client_result res;
    int rv = kb_client_call(c->client, method, req, &o, &res);
    ex = cli_check(c, rv, &res);
    if (ex == CLI_EXIT_OK) {
        *out = protobuf_c_message_unpack(d, NULL, res.payload_len, res.payload);
        if (!*out) ex = transport_error(c, "undecodable reply from", NNG_EPROTO);
    }
    kb_client_result_fini(&res);
    return ex;
}

int cli_fetch(cli *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *d, ProtobufCMessage **out) {
    return call_decode(c, NULL, method, req, d, out);
}

int cli_query(cli *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *d, cli_print_fn print_table) {
    ProtobufCMessage *m;
    int ex = call_decode(c, c->idempotency_key, method, req, d, &m);
    if (ex != CLI_EXIT_OK) return ex;
    if (c->output == CLI_OUT_JSON)
        cli_print_json(c, m, 2);
    else
        print_table(c, m);
    protobuf_c_message_free_unpacked(m, NULL);
    return CLI_EXIT_OK;
}

int cli_fetch_currency(cli *c, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *d,
                       const char *(*currency_of)(const ProtobufCMessage *reply), char cur[4]) {
    ProtobufCMessage *m;
    int ex = cli_fetch(c, method, req, d, &m);
    if (ex != CLI_EXIT_OK) return ex;
    const char *v = currency_of(m);
    cur[0] = '\0';
    if (v && strlen(v) == 3) memcpy(cur, v, 4);
    protobuf_c_message_free_unpacked(m, NULL);
    if (!cur[0]) return cli_usage_error(c, "%s gave no currency", method);
    return CLI_EXIT_OK;
}

/* ------------------------------------------------------- flag values */

int cli_time_flag(cli *c, const char *flag, int64_t *out) {
    const char *v = cli_flag(c, flag);
    if (!v) return CLI_EXIT_OK;
    if (kb_time_parse(v, out) != KB_OK) {
        return cli_usage_error(c,
                               "invalid --%s '%s': expected RFC 3339 (2026-01-31T10:00:00Z, "
                               "2026-01-31T11:00:00+01:00) or a date (2026-01-31)",
                               flag, v);
    }
    return CLI_EXIT_OK;
}

int cli_at_flag(cli *c, int64_t *occurred_at) {
    return cli_time_flag(c, "at", occurred_at);
}

int cli_date_flag(cli *c, const char *flag, char **out) {
    const char *v = cli_flag(c, flag);
    int32_t day;
    if (!v) return CLI_EXIT_OK;
    if (kb_date_parse(v, &day) != KB_OK) {
        return cli_usage_error(c, "invalid --%s '%s': expected a date (2026-01-31)", flag, v);
    }
    *out = (char *)v;
    return CLI_EXIT_OK;
}

/* --currency, upper-cased ("eur" -> "EUR"); out[0] = '\0' when absent. */
int cli_u64_flag(cli *c, const char *flag, uint64_t max, uint64_t *out) {
    const char *v = cli_flag(c, flag);
    if (!v) return CLI_EXIT_OK;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end || errno || n > max) {
        return cli_usage_error(c, "invalid --%s '%s': expected a number up to %" PRIu64, flag, v,
                               max);
    }
    *out = (uint64_t)n;
    return CLI_EXIT_OK;
}

int cli_currency_flag(cli *c, char out[4]) {
    const char *v = cli_flag(c, "currency");
    out[0] = '\0';
    if (!v) return CLI_EXIT_OK;
    size_t len = strlen(v);
    for (size_t i = 0; i < len && i < 3; i++) out[i] = (char)toupper((unsigned char)v[i]);
    out[len < 3 ? len : 3] = '\0';
    if (len != 3 || kb_currency_exponent(out) < 0) {
        out[0] = '\0';
        return cli_usage_error(c, "unknown currency '%s' (an ISO 4217 code such as EUR)", v);
    }
    return CLI_EXIT_OK;
}

int cli_amount_text(cli *c, const char *flag, const char *currency, int64_t *out) {
    const char *v = cli_flag(c, flag);
    kb_status s = kb_money_parse(v, currency, out);
    if (s == KB_OK) return CLI_EXIT_OK;
    if (s == KB_ERR_LIMIT) return cli_usage_error(c, "--%s '%s' is out of range", flag, v);
    return cli_usage_error(c,
                           "invalid --%s '%s': expected a decimal amount in major units of "
                           "%s with at most %d decimals (12.50)",
                           flag, v, currency, kb_currency_exponent(currency));
}

int cli_amount_flag(cli *c, const char *flag, const char *currency, int64_t *out) {
    if (!cli_flag(c, flag)) return CLI_EXIT_OK;
    return cli_amount_text(c, flag, currency, out);
}

int cli_amount_range(cli *c, const char *currency, bool *min, int64_t *min_amount, bool *max,
                     int64_t *max_amount) {
    *min = cli_flag(c, "min-amount") != NULL;
    *max = cli_flag(c, "max-amount") != NULL;
    if ((*min || *max) && !currency[0]) {
        return cli_usage_error(c, "--min-amount and --max-amount need --currency");
    }
    int ex = cli_amount_flag(c, "min-amount", currency, min_amount);
    return ex == CLI_EXIT_OK ? cli_amount_flag(c, "max-amount", currency, max_amount) : ex;
}

/* Checks the shape of an amount before its currency is known: an optional
 * '-', digits, and optionally a point followed by digits. */
int cli_amount_syntax(cli *c, const char *flag) {
    const char *v = cli_flag(c, flag);
    if (!v) return CLI_EXIT_OK;
    const char *p = v + (v[0] == '-');
    size_t digits = strspn(p, "0123456789");
    bool ok = digits > 0 && strlen(v) <= 64;
    if (ok && p[digits] == '.') {
        size_t decimals = strspn(p + digits + 1, "0123456789");
        ok = decimals > 0 && p[digits + 1 + decimals] == '\0';
    } else if (ok) {
        ok = p[digits] == '\0';
    }
    if (ok) return CLI_EXIT_OK;
    return cli_usage_error(c, "invalid --%s '%s': expected a decimal amount in major units (12.50)",
                           flag, v);
}

static void enum_choices(const ProtobufCEnumDescriptor *d, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        char name[64];
        if (d->values[i].value == 0) continue; /* UNSPECIFIED */
        if (kb_json_enum_name(d, d->values[i].value, name, sizeof name) < 0) continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? "|" : "", name);
        if (w < 0 || (size_t)w >= n - used) return;
        used += (size_t)w;
    }
}

int cli_enum_flag(cli *c, const char *flag, const ProtobufCEnumDescriptor *d, int *out) {
    const char *v = cli_flag(c, flag);
    if (!v) return CLI_EXIT_OK;
    int value;
    if (kb_json_enum_parse(d, v, &value) && value != 0) {
        *out = value;
        return CLI_EXIT_OK;
    }
    char choices[256];
    enum_choices(d, choices, sizeof choices);
    return cli_usage_error(c, "invalid --%s '%s' (one of %s)", flag, v, choices);
}

/* --source TYPE:ID into buf (n bytes), split at the first ':'. */
int cli_source_flag(cli *c, char *buf, size_t n, char **type, char **id) {
    const char *v = cli_flag(c, "source");
    if (!v) return CLI_EXIT_OK;
    const char *colon = strchr(v, ':');
    if (!colon || colon == v || colon[1] == '\0') {
        return cli_usage_error(c, "invalid --source '%s': expected TYPE:ID (invoice:inv-1)", v);
    }
    if (strlen(v) >= n) return cli_usage_error(c, "--source '%s' is too long", v);
    memcpy(buf, v, strlen(v) + 1);
    buf[colon - v] = '\0';
    *type = buf;
    *id = buf + (colon - v) + 1;
    return CLI_EXIT_OK;
}
