/* refunds settle|fail, disputes close, receipts report, clock set|tick,
 * status, checkpoint */
#include <inttypes.h>
#include <string.h>

#include "calendar.h"
#include "cli.h"

/* ------------------------------------------------- refunds, disputes */

int cli_cmd_refund_settle(cli *c) {
    Kasboek__V1__SettleRefundRequest r = KASBOEK__V1__SETTLE_REFUND_REQUEST__INIT;
    r.refund_id = (char *)c->args.pos[0];
    int ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    return cli_command(c, "SettleRefund", &r.base);
}

int cli_cmd_refund_fail(cli *c) {
    Kasboek__V1__FailRefundRequest r = KASBOEK__V1__FAIL_REFUND_REQUEST__INIT;
    r.refund_id = (char *)c->args.pos[0];
    if (cli_flag(c, "reason")) r.reason = (char *)cli_flag(c, "reason");
    int ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    return cli_command(c, "FailRefund", &r.base);
}

int cli_cmd_dispute_close(cli *c) {
    Kasboek__V1__CloseDisputeRequest r = KASBOEK__V1__CLOSE_DISPUTE_REQUEST__INIT;
    int outcome = 0;
    r.dispute_id = (char *)c->args.pos[0];
    int ex = cli_enum_flag(c, "outcome", &kasboek__v1__dispute_outcome__descriptor, &outcome);
    if (ex == CLI_EXIT_OK) ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    r.outcome = (Kasboek__V1__DisputeOutcome)outcome;
    return cli_command(c, "CloseDispute", &r.base);
}

int cli_cmd_receipt_report(cli *c) {
    Kasboek__V1__ReportReceiptRequest r = KASBOEK__V1__REPORT_RECEIPT_REQUEST__INIT;
    r.payment_id = (char *)c->args.pos[0];
    bool sent = cli_has(c, "sent"), failed = cli_flag(c, "failed") != NULL;
    if (sent == failed) return cli_usage_error(c, "give exactly one of --sent and --failed ERROR");
    r.sent = sent;
    if (failed) r.error = (char *)cli_flag(c, "failed");
    int ex = cli_at_flag(c, &r.occurred_at);
    if (ex != CLI_EXIT_OK) return ex;
    return cli_command(c, "ReportReceipt", &r.base);
}

/* --------------------------------------------------------------- clock */

static void print_clock(cli *c, const ProtobufCMessage *m) {
    const Kasboek__V1__ClockReply *r = (const Kasboek__V1__ClockReply *)m;
    char now[CLI_TEXT_MAX], line[2 * CLI_TEXT_MAX];
    snprintf(line, sizeof line, "%s%s", cli_time(now, sizeof now, r->now),
             r->manual ? " (manual)" : " (system)");
    cli_kv("clock", line);
    if (r->payouts_closed) {
        snprintf(line, sizeof line, "%u", r->payouts_closed);
        cli_kv("payouts closed", line);
    }
    if (r->invoices_overdue) {
        snprintf(line, sizeof line, "%u", r->invoices_overdue);
        cli_kv("invoices overdue", line);
    }
    if (r->plans_advanced) {
        snprintf(line, sizeof line, "%u", r->plans_advanced);
        cli_kv("plans advanced", line);
    }
    if (r->more) cli_kv("more due", "yes: tick again");
}

int cli_cmd_clock_set(cli *c) {
    Kasboek__V1__SetClockRequest r = KASBOEK__V1__SET_CLOCK_REQUEST__INIT;
    if (kb_time_parse(c->args.pos[0], &r.now) != KB_OK) {
        return cli_usage_error(c,
                               "invalid time '%s': expected RFC 3339 (2026-01-31T10:00:00Z) or "
                               "a date (2026-01-31)",
                               c->args.pos[0]);
    }
    return cli_query(c, "SetClock", &r.base, &kasboek__v1__clock_reply__descriptor, print_clock);
}

int cli_cmd_clock_tick(cli *c) {
    Kasboek__V1__TickRequest r = KASBOEK__V1__TICK_REQUEST__INIT;
    return cli_query(c, "Tick", &r.base, &kasboek__v1__clock_reply__descriptor, print_clock);
}

/* -------------------------------------------------- status, checkpoint */

static void print_status(cli *c, const ProtobufCMessage *m) {
    const Kasboek__V1__StatusReply *s = (const Kasboek__V1__StatusReply *)m;
    char buf[2 * CLI_TEXT_MAX], now[CLI_TEXT_MAX];
    snprintf(buf, sizeof buf, "%" PRIu64, s->head_seq);
    cli_kv("head seq", buf);
    size_t len = 0;
    for (size_t i = 0; i < s->head_hash.len && len + 3 <= sizeof buf; i++) {
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%02x", s->head_hash.data[i]);
    }
    buf[len] = '\0';
    cli_kv("head hash", buf);
    snprintf(buf, sizeof buf, "%s%s", cli_time(now, sizeof now, s->now),
             s->manual_clock ? " (manual)" : " (system)");
    cli_kv("clock", buf);
    if (s->version[0]) cli_kv("version", s->version);
}

int cli_cmd_status(cli *c) {
    Kasboek__V1__GetStatusRequest r = KASBOEK__V1__GET_STATUS_REQUEST__INIT;
    return cli_query(c, "GetStatus", &r.base, &kasboek__v1__status_reply__descriptor, print_status);
}

static void print_checkpoint(cli *c, const ProtobufCMessage *m) {
    const Kasboek__V1__CheckpointReply *r = (const Kasboek__V1__CheckpointReply *)m;
    char seq[32];
    snprintf(seq, sizeof seq, "%" PRIu64, r->head_seq);
    cli_kv("checkpoint", r->dir);
    cli_kv("head seq", seq);
}

int cli_cmd_checkpoint(cli *c) {
    Kasboek__V1__CheckpointRequest r = KASBOEK__V1__CHECKPOINT_REQUEST__INIT;
    r.dir = (char *)c->args.pos[0];
    return cli_query(c, "Checkpoint", &r.base, &kasboek__v1__checkpoint_reply__descriptor,
                     print_checkpoint);
}
