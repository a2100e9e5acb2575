/* payments get|list, events tail */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CLI_TAIL_POLL_MS   200
#define CLI_SOURCE_LEN_MAX 256

/* ---------------------------------------------------------------- get */

static void print_refunds(const Kasboek__V1__Payment *p) {
    cli_table t;
    char amount[CLI_TEXT_MAX], reason[CLI_TEXT_MAX], status[CLI_TEXT_MAX], created[CLI_TEXT_MAX];
    if (p->n_refunds == 0) return;
    cli_table_init(&t, "REFUND >AMOUNT REASON STATUS CREATED");
    for (size_t i = 0; i < p->n_refunds; i++) {
        const Kasboek__V1__Refund *r = p->refunds[i];
        const char *row[] = {
            r->refund_id,
            cli_money_msg(amount, sizeof amount, r->amount),
            cli_enum(reason, sizeof reason, &kasboek__v1__refund_reason__descriptor, r->reason),
            cli_enum(status, sizeof status, &kasboek__v1__refund_status__descriptor, r->status),
            cli_time(created, sizeof created, r->created_at),
        };
        cli_table_add(&t, row);
    }
    printf("\nrefunds\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

static void print_disputes(const Kasboek__V1__Payment *p) {
    cli_table t;
    char amount[CLI_TEXT_MAX], fee[CLI_TEXT_MAX], status[CLI_TEXT_MAX];
    char opened[CLI_TEXT_MAX], closed[CLI_TEXT_MAX];
    if (p->n_disputes == 0) return;
    cli_table_init(&t, "DISPUTE >AMOUNT >FEE STATUS OPENED CLOSED");
    for (size_t i = 0; i < p->n_disputes; i++) {
        const Kasboek__V1__Dispute *d = p->disputes[i];
        const char *row[] = {
            d->dispute_id,
            cli_money_msg(amount, sizeof amount, d->amount),
            cli_money_msg(fee, sizeof fee, d->fee),
            cli_enum(status, sizeof status, &kasboek__v1__dispute_status__descriptor, d->status),
            cli_time(opened, sizeof opened, d->opened_at),
            cli_time(closed, sizeof closed, d->closed_at),
        };
        cli_table_add(&t, row);
    }
    printf("\ndisputes\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

void cli_print_timeline_detail(Kasboek__V1__EventRecord *const *events, size_t n,
                               cli_event_detail_fn detail, const void *ctx) {
    cli_table t;
    char seq[32], version[32], occurred[CLI_TEXT_MAX], what[CLI_TEXT_MAX];
    cli_table_init(&t, detail ? ">SEQ >VERSION TYPE OCCURRED_AT DETAIL" : ">SEQ >VERSION TYPE OCCURRED_AT");
    for (size_t i = 0; i < n; i++) {
        const Kasboek__V1__EventRecord *e = events[i];
        Kasboek__V1__Event *ev = kasboek__v1__event__unpack(NULL, e->payload.len, e->payload.data);
        snprintf(seq, sizeof seq, "%" PRIu64, e->seq);
        snprintf(version, sizeof version, "%" PRIu64, e->version);
        what[0] = 0;
        if (ev && detail) detail(what, sizeof what, ev, ctx);
        const char *row[] = {seq, version, e->type,
                             cli_time(occurred, sizeof occurred, ev ? ev->occurred_at : 0),
                             cli_or_dash(what)};
        cli_table_add(&t, row);
        if (ev) kasboek__v1__event__free_unpacked(ev, NULL);
    }
    printf("\ntimeline\n");
    cli_table_print(&t, stdout, true);
    cli_table_fini(&t);
}

void cli_print_timeline(Kasboek__V1__EventRecord *const *events, size_t n) {
    cli_print_timeline_detail(events, n, NULL, NULL);
}

static void print_get(cli *c, const ProtobufCMessage *m) {
    const Kasboek__V1__GetPaymentReply *g = (const Kasboek__V1__GetPaymentReply *)m;
    if (g->payment) {
        cli_print_payment(g->payment);
        print_refunds(g->payment);
        print_disputes(g->payment);
    }
    cli_print_timeline(g->timeline, g->n_timeline);
}

int cli_cmd_get(cli *c) {
    Kasboek__V1__GetPaymentRequest q = KASBOEK__V1__GET_PAYMENT_REQUEST__INIT;
    q.payment_id = (char *)c->args.pos[0];
    return cli_query(c, "GetPayment", &q.base, &kasboek__v1__get_payment_reply__descriptor,
                     print_get);
}

/* --------------------------------------------------------------- list */

static void print_list(cli *c, const ProtobufCMessage *m) {
    const Kasboek__V1__ListPaymentsReply *l = (const Kasboek__V1__ListPaymentsReply *)m;
    char status[CLI_TEXT_MAX], method[CLI_TEXT_MAX], amount[CLI_TEXT_MAX];
    char refunded[CLI_TEXT_MAX], created[CLI_TEXT_MAX];
    cli_table t;
    cli_table_init(&t, "ID STATUS METHOD >AMOUNT >REFUNDED CUSTOMER CREATED");
    for (size_t i = 0; i < l->n_payments; i++) {
        const Kasboek__V1__Payment *p = l->payments[i];
        const char *cur = p->amount ? p->amount->currency : "";
        const char *row[] = {
            p->payment_id,
            cli_enum(status, sizeof status, &kasboek__v1__payment_status__descriptor, p->status),
            cli_enum(method, sizeof method, &kasboek__v1__payment_method__descriptor, p->method),
            cli_money_msg(amount, sizeof amount, p->amount),
            cli_money(refunded, sizeof refunded, p->amount_refunded, cur),
            cli_or_dash(p->associations ? p->associations->contact_id : ""),
            cli_time(created, sizeof created, p->created_at),
        };
        cli_table_add(&t, row);
    }
    if (l->n_payments > 0)
        cli_table_print(&t, stdout, true);
    else
        printf("no payments\n");
    cli_table_fini(&t);
    cli_print_totals(l->totals, l->n_totals, "payment");
    if (l->next_cursor[0]) printf("next cursor: %s\n", l->next_cursor);
}

static int list_amounts(cli *c, Kasboek__V1__ListPaymentsRequest *q, char cur[4]) {
    int ex = cli_currency_flag(c, cur);
    if (ex != CLI_EXIT_OK) return ex;
    if (cur[0]) q->currency = cur;
    bool min, max;
    ex = cli_amount_range(c, cur, &min, &q->min_amount, &max, &q->max_amount);
    if (min) q->min_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MIN_MIN_AMOUNT;
    if (max) q->max_case = KASBOEK__V1__LIST_PAYMENTS_REQUEST__MAX_MAX_AMOUNT;
    return ex;
}

static int list_filters(cli *c, Kasboek__V1__ListPaymentsRequest *q, char cur[4], char *source,
                        size_t source_n) {
    int status = 0, method = 0;
    uint64_t limit = 0;
    int ex = cli_enum_flag(c, "status", &kasboek__v1__payment_status__descriptor, &status);
    if (ex == CLI_EXIT_OK) {
        ex = cli_enum_flag(c, "method", &kasboek__v1__payment_method__descriptor, &method);
    }
    if (ex == CLI_EXIT_OK) ex = list_amounts(c, q, cur);
    if (ex == CLI_EXIT_OK) ex = cli_time_flag(c, "from", &q->from);
    if (ex == CLI_EXIT_OK) ex = cli_time_flag(c, "to", &q->to);
    if (ex == CLI_EXIT_OK) ex = cli_u64_flag(c, "limit", UINT32_MAX, &limit);
    if (ex == CLI_EXIT_OK) {
        ex = cli_source_flag(c, source, source_n, &q->source_type, &q->source_id);
    }
    if (ex != CLI_EXIT_OK) return ex;
    q->status = (Kasboek__V1__PaymentStatus)status;
    q->method = (Kasboek__V1__PaymentMethod)method;
    q->limit = (uint32_t)limit;
    if (cli_flag(c, "customer")) q->customer_id = (char *)cli_flag(c, "customer");
    if (cli_flag(c, "company")) q->company_id = (char *)cli_flag(c, "company");
    if (cli_flag(c, "cursor")) q->cursor = (char *)cli_flag(c, "cursor");
    q->totals = cli_has(c, "totals");
    return CLI_EXIT_OK;
}

int cli_cmd_list(cli *c) {
    Kasboek__V1__ListPaymentsRequest q = KASBOEK__V1__LIST_PAYMENTS_REQUEST__INIT;
    char cur[4], source[CLI_SOURCE_LEN_MAX];
    int ex = list_filters(c, &q, cur, source, sizeof source);
    if (ex != CLI_EXIT_OK) return ex;
    return cli_query(c, "ListPayments", &q.base, &kasboek__v1__list_payments_reply__descriptor,
                     print_list);
}

/* --------------------------------------------------------- events tail */

static volatile sig_atomic_t tail_stop;

static void on_stop_signal(int sig) {
    (void)sig;
    tail_stop = 1;
}

static void install_stop_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: the poll sleep wakes up */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void print_events_table(const Kasboek__V1__ReadEventsReply *r, bool header) {
    cli_table t;
    char seq[32], version[32], recorded[CLI_TEXT_MAX];
    cli_table_init(&t, ">SEQ STREAM >VERSION TYPE RECORDED");
    cli_table_min_width(&t, 0, 6); /* pages print separately: keep columns steady */
    cli_table_min_width(&t, 1, 24);
    cli_table_min_width(&t, 3, 18);
    for (size_t i = 0; i < r->n_events; i++) {
        const Kasboek__V1__EventRecord *e = r->events[i];
        int64_t occurred_at, recorded_at;
        cli_event_times(e, &occurred_at, &recorded_at);
        snprintf(seq, sizeof seq, "%" PRIu64, e->seq);
        snprintf(version, sizeof version, "%" PRIu64, e->version);
        const char *row[] = {seq, e->stream, version, e->type,
                             cli_time(recorded, sizeof recorded, recorded_at)};
        cli_table_add(&t, row);
    }
    cli_table_print(&t, stdout, header);
    cli_table_fini(&t);
}

/* Reads and prints one page from *from; advances *from. *more is set when
 * the server has events past this page. */
static int tail_page(cli *c, uint64_t *from, bool *header, bool *more) {
    kb_client_result res;
    Kasboek__V1__ReadEventsReply *r;
    int rv = kb_client_read_events(c->client, *from, 0, &res, &r);
    int ex = cli_check(c, rv, &res);
    kb_client_result_fini(&res);
    if (ex != CLI_EXIT_OK) return ex;
    for (size_t i = 0; c->output == CLI_OUT_JSON && i < r->n_events; i++) {
        cli_print_json(c, &r->events[i]->base, 0);
    }
    if (c->output == CLI_OUT_TABLE && r->n_events > 0) {
        print_events_table(r, *header);
        *header = false;
    }
    uint64_t next = r->next_seq;
    if (r->n_events > 0 && next <= r->events[r->n_events - 1]->seq) {
        next = r->events[r->n_events - 1]->seq + 1; /* never go back or stand still */
    }
    if (next > *from) *from = next;
    *more = r->n_events > 0 && *from <= r->head_seq;
    kasboek__v1__read_events_reply__free_unpacked(r, NULL);
    fflush(stdout);
    return CLI_EXIT_OK;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal cuts it short, which is what we want */
}

int cli_cmd_events_tail(cli *c) {
    uint64_t from = 0;
    bool follow = cli_has(c, "follow"), header = true, more;
    int ex = cli_u64_flag(c, "from", UINT64_MAX, &from);
    if (ex == CLI_EXIT_OK) ex = cli_connect(c);
    if (ex != CLI_EXIT_OK) return ex;
    if (follow) install_stop_handlers();
    while (!tail_stop) {
        ex = tail_page(c, &from, &header, &more);
        if (ex != CLI_EXIT_OK) return ex;
        if (more) continue;
        if (!follow) break;
        sleep_ms(CLI_TAIL_POLL_MS);
    }
    return CLI_EXIT_OK;
}
