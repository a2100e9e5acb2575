/* payments record|settle|fail|refund|dispute|associate|receipt */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define CLI_SOURCE_LEN_MAX 256

/* ------------------------------------------------------------- record */

typedef struct record_parts {
    Kasboek__V1__Money amount;
    Kasboek__V1__Money fee;
    Kasboek__V1__Associations assoc;
    Kasboek__V1__MetadataEntry meta[CLI_REPEAT_MAX];
    Kasboek__V1__MetadataEntry *meta_ptr[CLI_REPEAT_MAX];
    char *meta_text[CLI_REPEAT_MAX]; /* "k=v" copies, split in place */
    char currency[4];
    char source[CLI_SOURCE_LEN_MAX];
} record_parts;

static void parts_fini(record_parts *p) {
    for (size_t i = 0; i < CLI_REPEAT_MAX; i++) free(p->meta_text[i]);
}

static int meta_flags(cli *c, record_parts *p, Kasboek__V1__RecordPaymentRequest *r) {
    for (size_t i = 0; i < c->args.n_rep; i++) {
        const char *v = c->args.rep[i];
        const char *eq = strchr(v, '=');
        if (!eq || eq == v) return cli_usage_error(c, "invalid --meta '%s': expected KEY=VALUE", v);
        p->meta_text[i] = strdup(v);
        if (!p->meta_text[i]) return cli_usage_error(c, "out of memory");
        p->meta_text[i][eq - v] = '\0';
        kasboek__v1__metadata_entry__init(&p->meta[i]);
        p->meta[i].key = p->meta_text[i];
        p->meta[i].value = p->meta_text[i] + (eq - v) + 1;
        p->meta_ptr[i] = &p->meta[i];
    }
    r->n_metadata = c->args.n_rep;
    r->metadata = c->args.n_rep ? p->meta_ptr : NULL;
    return CLI_EXIT_OK;
}

/* --customer/--company/--deal/--subscription into a (NULL if none). */
static Kasboek__V1__Associations *assoc_flags(cli *c, Kasboek__V1__Associations *a) {
    static const char *const names[] = {"customer", "company", "deal", "subscription"};
    char **slots[] = {&a->contact_id, &a->company_id, &a->deal_id, &a->subscription_id};
    bool any = false;
    kasboek__v1__associations__init(a);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = cli_flag(c, names[i]);
        if (!v) continue;
        *slots[i] = (char *)v;
        any = true;
    }
    return any ? a : NULL;
}

static int record_money(cli *c, record_parts *p, Kasboek__V1__RecordPaymentRequest *r) {
    int ex = cli_currency_flag(c, p->currency);
    if (ex == CLI_EXIT_OK) ex = cli_amount_flag(c, "amount", p->currency, &p->amount.amount);
    if (ex != CLI_EXIT_OK) return ex;
    p->amount.currency = p->currency;
    r->amount = &p->amount;
    if (!cli_flag(c, "fee")) return CLI_EXIT_OK;
    p->fee.currency = p->currency;
    r->fee = &p->fee;
    return cli_amount_flag(c, "fee", p->currency, &p->fee.amount);
}

static int record_fields(cli *c, record_parts *p, Kasboek__V1__RecordPaymentRequest *r) {
    int method = 0, provider = 0;
    int ex = record_money(c, p, r);
    if (ex == CLI_EXIT_OK) {
        ex = cli_enum_flag(c, "method", &kasboek__v1__payment_method__descriptor, &method);
    }
    if (ex == CLI_EXIT_OK) {
        ex = cli_enum_flag(c, "provider", &kasboek__v1__provider__descriptor, &provider);
    }
    if (ex == CLI_EXIT_OK) {
        ex = cli_source_flag(c, p->source, sizeof p->source, &r->source_type, &r->source_id);
    }
    if (ex == CLI_EXIT_OK) ex = meta_flags(c, p, r);
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r->occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    r->method = (Kasboek__V1__PaymentMethod)method;
    r->provider = (Kasboek__V1__Provider)provider;
    r->associations = assoc_flags(c, &p->assoc);
    if (cli_flag(c, "provider-id")) r->provider_transaction_id = (char *)cli_flag(c, "provider-id");
    if (cli_flag(c, "email")) r->receipt_email = (char *)cli_flag(c, "email");
    if (cli_flag(c, "description")) r->description = (char *)cli_flag(c, "description");
    return CLI_EXIT_OK;
}

int cli_cmd_record(cli *c) {
    Kasboek__V1__RecordPaymentRequest r = KASBOEK__V1__RECORD_PAYMENT_REQUEST__INIT;
    record_parts *p = calloc(1, sizeof *p);
    if (!p) return cli_usage_error(c, "out of memory");
    kasboek__v1__money__init(&p->amount);
    kasboek__v1__money__init(&p->fee);
    r.payment_id = (char *)c->args.pos[0];
    int ex = record_fields(c, p, &r);
    if (ex == CLI_EXIT_OK) ex = cli_command(c, "RecordPayment", &r.base);
    parts_fini(p);
    free(p);
    return ex;
}

/* ------------------------------------------------------- settle, fail */

int cli_cmd_settle(cli *c) {
    Kasboek__V1__SettlePaymentRequest r = KASBOEK__V1__SETTLE_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)c->args.pos[0];
    int ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    return cli_command(c, "SettlePayment", &r.base);
}

int cli_cmd_fail(cli *c) {
    Kasboek__V1__FailPaymentRequest r = KASBOEK__V1__FAIL_PAYMENT_REQUEST__INIT;
    r.payment_id = (char *)c->args.pos[0];
    r.reason = (char *)cli_flag(c, "reason");
    int ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    return cli_command(c, "FailPayment", &r.base);
}

/* ---------------------------------------------------- refund, dispute */

/* The currency amounts of a refund or dispute are in: --currency, else the
 * payment's own (one GetPayment). */
static int payment_currency(cli *c, const char *payment_id, char cur[4]) {
    int ex = cli_currency_flag(c, cur);
    if (ex != CLI_EXIT_OK || cur[0]) return ex;
    ex = cli_connect(c);
    if (ex != CLI_EXIT_OK) return ex;
    kb_client_result res;
    Kasboek__V1__GetPaymentReply *g;
    int rv = kb_client_get_payment(c->client, payment_id, &res, &g);
    ex = cli_check(c, rv, &res);
    kb_client_result_fini(&res);
    if (ex != CLI_EXIT_OK) return ex;
    const Kasboek__V1__Payment *p = g->payment;
    if (p && p->amount && strlen(p->amount->currency) == 3) memcpy(cur, p->amount->currency, 4);
    kasboek__v1__get_payment_reply__free_unpacked(g, NULL);
    if (!cur[0])
        return cli_usage_error(c, "payment %s has no currency: give --currency", payment_id);
    return CLI_EXIT_OK;
}

int cli_cmd_refund(cli *c) {
    Kasboek__V1__RefundPaymentRequest r = KASBOEK__V1__REFUND_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Money amount = KASBOEK__V1__MONEY__INIT;
    char cur[4];
    int reason = 0;
    r.payment_id = (char *)c->args.pos[0];
    int ex = cli_amount_syntax(c, "amount");
    if (ex == CLI_EXIT_OK) {
        ex = cli_enum_flag(c, "reason", &kasboek__v1__refund_reason__descriptor, &reason);
    }
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r.occurred_at);
    if (ex == CLI_EXIT_OK) ex = payment_currency(c, r.payment_id, cur);
    if (ex == CLI_EXIT_OK) ex = cli_amount_flag(c, "amount", cur, &amount.amount);
    if (ex != CLI_EXIT_OK) return ex;
    amount.currency = cur;
    r.amount = &amount;
    r.reason = (Kasboek__V1__RefundReason)reason;
    if (cli_flag(c, "refund-id")) r.refund_id = (char *)cli_flag(c, "refund-id");
    return cli_command(c, "RefundPayment", &r.base);
}

int cli_cmd_dispute(cli *c) {
    Kasboek__V1__OpenDisputeRequest r = KASBOEK__V1__OPEN_DISPUTE_REQUEST__INIT;
    Kasboek__V1__Money amount = KASBOEK__V1__MONEY__INIT;
    Kasboek__V1__Money fee = KASBOEK__V1__MONEY__INIT;
    char cur[4];
    r.payment_id = (char *)c->args.pos[0];
    int ex = cli_amount_syntax(c, "amount");
    if (ex == CLI_EXIT_OK) ex = cli_amount_syntax(c, "fee");
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r.occurred_at);
    if (ex == CLI_EXIT_OK) ex = payment_currency(c, r.payment_id, cur);
    if (ex == CLI_EXIT_OK) ex = cli_amount_flag(c, "amount", cur, &amount.amount);
    if (ex == CLI_EXIT_OK) ex = cli_amount_flag(c, "fee", cur, &fee.amount);
    if (ex != CLI_EXIT_OK) return ex;
    amount.currency = cur;
    r.amount = &amount;
    if (cli_flag(c, "fee")) {
        fee.currency = cur;
        r.fee = &fee;
    }
    if (cli_flag(c, "dispute-id")) r.dispute_id = (char *)cli_flag(c, "dispute-id");
    if (cli_flag(c, "reason")) r.reason = (char *)cli_flag(c, "reason");
    return cli_command(c, "OpenDispute", &r.base);
}

/* -------------------------------------------------- associate, receipt */

int cli_cmd_associate(cli *c) {
    Kasboek__V1__AssociatePaymentRequest r = KASBOEK__V1__ASSOCIATE_PAYMENT_REQUEST__INIT;
    Kasboek__V1__Associations a;
    r.payment_id = (char *)c->args.pos[0];
    int ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    r.associations = assoc_flags(c, &a);
    if (!r.associations) {
        return cli_usage_error(c,
                               "give at least one of --customer, --company, --deal, "
                               "--subscription");
    }
    return cli_command(c, "AssociatePayment", &r.base);
}

int cli_cmd_receipt(cli *c) {
    Kasboek__V1__RequestReceiptRequest r = KASBOEK__V1__REQUEST_RECEIPT_REQUEST__INIT;
    r.payment_id = (char *)c->args.pos[0];
    r.email = (char *)cli_flag(c, "email");
    int ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    return cli_command(c, "RequestReceipt", &r.base);
}
