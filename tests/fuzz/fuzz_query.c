/* Fuzz target: one query through kb_query_execute on a seeded store (the
 * same seeds as fuzz_engine; queries write nothing, so every input runs
 * against the same data and reproduces alone).
 *
 * Input: byte 0 picks GetPayment, ListPayments, ReadEvents, GetInvoice or
 * ListInvoices; byte 1 bits
 * 0-1 the tenant (t1 with the seeds, t2 with one payment, t3 empty, an
 * invalid one); the rest is the payload.
 *
 * Invariants: no system error; a rejection has a reason, a field, UTF-8
 * text and no payload; an answer unpacks, is clean, and holds only the
 * tenant's data in the promised order and bounds: a payment's timeline is
 * its stream in version order, a list page honours every filter and the
 * limit and its cursor leads to a page with none of the same payments,
 * events come in seq order from from_seq. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "validate.h"

static fz_env *E;

static const char *const methods[] = {"GetPayment",   "ListPayments", "ReadEvents",
                                      "GetInvoice",   "ListInvoices", "GetPlan",
                                      "ListPlans",    "GetPlanSettings"};
#define N_METHODS (sizeof methods / sizeof methods[0])
static const char *const tenants[] = {"t1", "t2", "t3", "bad/tenant"};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    for (size_t i = 0; i < N_METHODS; i++) FZ_CHECK(kb_query_known(methods[i]));
    E = fz_env_open();
    return 0;
}

static void run_query(const char *tenant, const char *method, const uint8_t *p, size_t n,
                      kb_reply *rep) {
    kb_request rq = {.tenant = tenant,
                     .actor = "fuzz",
                     .method = method,
                     .idempotency_key = "",
                     .payload = p,
                     .payload_len = n,
                     .now = FZ_NOW};
    FZ_CHECK(kb_query_execute(E->store, &rq, rep) == KB_OK);
    if (rep->err.code != KB_CODE_OK) fz_check_rejection(rep);
}

/* ------------------------------------------------------------ GetPayment */

static void check_get(const char *tenant, const kb_reply *rep) {
    Kasboek__V1__GetPaymentReply *g =
        kasboek__v1__get_payment_reply__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(g && g->payment);
    fz_check_clean(&g->base);
    fz_check_payment(g->payment);
    uint64_t events = g->payment->version; /* the timeline is cut at KB_PAGE_SIZE_MAX */
    FZ_CHECK(g->n_timeline == (events < KB_PAGE_SIZE_MAX ? events : KB_PAGE_SIZE_MAX));
    char stream[80];
    snprintf(stream, sizeof stream, "payment/%s", g->payment->payment_id);
    for (size_t i = 0; i < g->n_timeline; i++) {
        const Kasboek__V1__EventRecord *e = g->timeline[i];
        FZ_CHECK(!strcmp(e->tenant, tenant) && !strcmp(e->stream, stream));
        FZ_CHECK(e->version == i + 1 && (i == 0 || e->seq > g->timeline[i - 1]->seq));
    }
    kasboek__v1__get_payment_reply__free_unpacked(g, NULL);
}

/* ---------------------------------------------------------- ListPayments */

static void check_row(const Kasboek__V1__ListPaymentsRequest *q, const Kasboek__V1__Payment *p) {
    fz_check_payment(p);
    if (q->status) FZ_CHECK(p->status == q->status);
    if (q->method) FZ_CHECK(p->method == q->method);
    if (q->currency[0]) FZ_CHECK(!strcmp(p->amount->currency, q->currency));
    if (q->min_case) FZ_CHECK(p->amount->amount >= q->min_amount);
    if (q->max_case) FZ_CHECK(p->amount->amount <= q->max_amount);
    if (q->customer_id[0])
        FZ_CHECK(p->associations && !strcmp(p->associations->contact_id, q->customer_id));
    if (q->company_id[0])
        FZ_CHECK(p->associations && !strcmp(p->associations->company_id, q->company_id));
    if (q->source_type[0]) FZ_CHECK(!strcmp(p->source_type, q->source_type));
    if (q->source_id[0]) FZ_CHECK(!strcmp(p->source_id, q->source_id));
    FZ_CHECK(p->created_at >= q->from && (!q->to || p->created_at < q->to));
}

/* "<16 letters a-p>/<id>", "~" appended when the page ran out of reads. */
static bool cursor_plausible(const char *c) {
    size_t n = strlen(c);
    if (n < 18 || c[16] != '/') return false;
    for (int i = 0; i < 16; i++) {
        if (c[i] < 'a' || c[i] > 'p') return false;
    }
    char id[KB_ID_LEN_MAX + 2];
    snprintf(id, sizeof id, "%.*s", (int)(n - 17 - (c[n - 1] == '~')), c + 17);
    return kb_id_valid(id);
}

static bool listed(const Kasboek__V1__ListPaymentsReply *l, const char *id) {
    for (size_t i = 0; i < l->n_payments; i++) {
        if (!strcmp(l->payments[i]->payment_id, id)) return true;
    }
    return false;
}

static Kasboek__V1__ListPaymentsReply *check_page(const Kasboek__V1__ListPaymentsRequest *q,
                                                  const kb_reply *rep) {
    Kasboek__V1__ListPaymentsReply *l =
        kasboek__v1__list_payments_reply__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(l);
    fz_check_clean(&l->base);
    FZ_CHECK(l->n_payments <= (q->limit ? q->limit : KB_PAGE_SIZE_DEFAULT));
    for (size_t i = 0; i < l->n_payments; i++) {
        check_row(q, l->payments[i]);
        for (size_t j = 0; j < i; j++) {
            FZ_CHECK(strcmp(l->payments[j]->payment_id, l->payments[i]->payment_id));
            FZ_CHECK(l->payments[j]->created_at >= l->payments[i]->created_at); /* newest first */
        }
    }
    FZ_CHECK(!l->next_cursor[0] || cursor_plausible(l->next_cursor));
    FZ_CHECK(q->totals || l->n_totals == 0);
    for (size_t i = 0; q->totals && i < l->n_payments; i++) { /* totals cover the page */
        const Kasboek__V1__Money *m = l->payments[i]->amount;
        uint64_t on_page = 0, in_total = 0;
        for (size_t j = 0; j < l->n_payments; j++)
            on_page += !strcmp(l->payments[j]->amount->currency, m->currency);
        for (size_t j = 0; j < l->n_totals; j++)
            if (!strcmp(l->totals[j]->currency, m->currency)) in_total = l->totals[j]->count;
        FZ_CHECK(in_total >= on_page); /* over the whole filter, whatever the cursor */
    }
    return l;
}

/* The next page (from the cursor) repeats none of this page's payments. */
static void check_next_page(const char *tenant, Kasboek__V1__ListPaymentsRequest *q,
                            const Kasboek__V1__ListPaymentsReply *l) {
    q->cursor = l->next_cursor;
    size_t n = kasboek__v1__list_payments_request__get_packed_size(q);
    uint8_t *buf = malloc(n ? n : 1);
    FZ_CHECK(buf);
    kasboek__v1__list_payments_request__pack(q, buf);
    kb_reply rep;
    run_query(tenant, "ListPayments", buf, n, &rep);
    FZ_CHECK(rep.err.code == KB_CODE_OK);
    Kasboek__V1__ListPaymentsReply *next = check_page(q, &rep);
    for (size_t i = 0; i < next->n_payments; i++) {
        FZ_CHECK(!listed(l, next->payments[i]->payment_id));
    }
    kasboek__v1__list_payments_reply__free_unpacked(next, NULL);
    kb_reply_fini(&rep);
    free(buf);
}

static void check_list(const char *tenant, const uint8_t *p, size_t n, const kb_reply *rep) {
    Kasboek__V1__ListPaymentsRequest *q = kasboek__v1__list_payments_request__unpack(NULL, n, p);
    FZ_CHECK(q);
    Kasboek__V1__ListPaymentsReply *l = check_page(q, rep);
    if (l->next_cursor[0]) {
        char *own = q->cursor; /* restored so free_unpacked frees its own */
        check_next_page(tenant, q, l);
        q->cursor = own;
    }
    kasboek__v1__list_payments_reply__free_unpacked(l, NULL);
    kasboek__v1__list_payments_request__free_unpacked(q, NULL);
}

/* ------------------------------------------------------------ ReadEvents */

static void check_events(const char *tenant, const uint8_t *p, size_t n, const kb_reply *rep) {
    Kasboek__V1__ReadEventsRequest *q = kasboek__v1__read_events_request__unpack(NULL, n, p);
    Kasboek__V1__ReadEventsReply *r =
        kasboek__v1__read_events_reply__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(q && r);
    fz_check_clean(&r->base);
    kb_head head;
    FZ_CHECK(kb_log_head_read(E->store, NULL, NULL, &head) == KB_OK);
    FZ_CHECK(r->head_seq == head.seq);
    FZ_CHECK(r->n_events <= (q->limit ? q->limit : 2 * KB_PAGE_SIZE_DEFAULT));
    uint64_t prev = q->from_seq ? q->from_seq - 1 : 0;
    for (size_t i = 0; i < r->n_events; i++) {
        const Kasboek__V1__EventRecord *e = r->events[i];
        FZ_CHECK(!strcmp(e->tenant, tenant) && e->seq > prev && e->seq <= head.seq);
        prev = e->seq;
    }
    FZ_CHECK(r->next_seq > prev);
    kasboek__v1__read_events_reply__free_unpacked(r, NULL);
    kasboek__v1__read_events_request__free_unpacked(q, NULL);
}

/* -------------------------------------------------------------- invoices */

/* A found invoice adds up, and so does its timeline's stream. */
static void check_get_invoice(const char *tenant, const kb_reply *rep) {
    Kasboek__V1__GetInvoiceReply *r =
        kasboek__v1__get_invoice_reply__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(r && r->invoice);
    fz_check_clean(&r->base);
    fz_check_invoice(r->invoice);
    FZ_CHECK(r->n_timeline == r->invoice->version);
    for (size_t i = 0; i < r->n_timeline; i++) {
        FZ_CHECK(!strcmp(r->timeline[i]->tenant, tenant) && r->timeline[i]->version == i + 1);
    }
    kasboek__v1__get_invoice_reply__free_unpacked(r, NULL);
}

/* Every row is the tenant's, adds up and honours the filters it can be
 * checked against; the totals cover at least the page. */
static void check_list_invoices(const uint8_t *p, size_t n, const kb_reply *rep) {
    Kasboek__V1__ListInvoicesRequest *q = kasboek__v1__list_invoices_request__unpack(NULL, n, p);
    Kasboek__V1__ListInvoicesReply *l =
        kasboek__v1__list_invoices_reply__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(q && l);
    fz_check_clean(&l->base);
    FZ_CHECK(l->n_invoices <= (q->limit ? q->limit : KB_PAGE_SIZE_DEFAULT));
    for (size_t i = 0; i < l->n_invoices; i++) {
        const Kasboek__V1__Invoice *inv = l->invoices[i];
        fz_check_invoice(inv);
        if (q->status) FZ_CHECK(inv->status == q->status);
        if (q->customer_id[0]) FZ_CHECK(!strcmp(inv->customer_id, q->customer_id));
        if (q->overdue) FZ_CHECK(inv->overdue);
        if (q->currency[0]) FZ_CHECK(!strcmp(inv->currency, q->currency));
        if (q->min_case) FZ_CHECK(inv->total >= q->min_amount);
        if (q->max_case) FZ_CHECK(inv->total <= q->max_amount);
    }
    uint64_t counted = 0;
    for (size_t i = 0; i < l->n_totals; i++) counted += l->totals[i]->count;
    if (q->totals && !q->cursor[0]) FZ_CHECK(counted >= l->n_invoices);
    kasboek__v1__list_invoices_reply__free_unpacked(l, NULL);
    kasboek__v1__list_invoices_request__free_unpacked(q, NULL);
}

/* ----------------------------------------------------------------- plans */

static void check_get_plan(const char *tenant, const kb_reply *rep) {
    Kasboek__V1__GetPlanReply *r = kasboek__v1__get_plan_reply__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(r && r->plan);
    fz_check_clean(&r->base);
    fz_check_plan(r->plan);
    uint64_t events = r->plan->version; /* the timeline is cut at KB_PAGE_SIZE_MAX */
    FZ_CHECK(r->n_timeline == (events < KB_PAGE_SIZE_MAX ? events : KB_PAGE_SIZE_MAX));
    for (size_t i = 0; i < r->n_timeline; i++)
        FZ_CHECK(!strcmp(r->timeline[i]->tenant, tenant) && r->timeline[i]->version == i + 1);
    kasboek__v1__get_plan_reply__free_unpacked(r, NULL);
}

/* Every row is a sound plan of the filter's status and customer. */
static void check_list_plans(const uint8_t *p, size_t n, const kb_reply *rep) {
    Kasboek__V1__ListPlansRequest *q = kasboek__v1__list_plans_request__unpack(NULL, n, p);
    Kasboek__V1__ListPlansReply *l =
        kasboek__v1__list_plans_reply__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(q && l);
    fz_check_clean(&l->base);
    FZ_CHECK(l->n_plans <= (q->limit ? q->limit : KB_PAGE_SIZE_DEFAULT));
    for (size_t i = 0; i < l->n_plans; i++) {
        fz_check_plan(l->plans[i]);
        if (q->status) FZ_CHECK(l->plans[i]->status == q->status);
        if (q->customer_id[0]) FZ_CHECK(!strcmp(l->plans[i]->customer_id, q->customer_id));
    }
    kasboek__v1__list_plans_reply__free_unpacked(l, NULL);
    kasboek__v1__list_plans_request__free_unpacked(q, NULL);
}

static void check_plan_settings(const kb_reply *rep) {
    Kasboek__V1__PlanSettings *s =
        kasboek__v1__plan_settings__unpack(NULL, rep->payload_len, rep->payload);
    FZ_CHECK(s);
    fz_check_clean(&s->base);
    FZ_CHECK(s->early_days <= 365 && s->reminder_offset_days >= -60 && s->reminder_offset_days <= 60);
    kasboek__v1__plan_settings__free_unpacked(s, NULL);
}

/* --------------------------------------------------------------- input */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const char *method = methods[data[0] % N_METHODS];
    const char *tenant = tenants[data[1] & 3];
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    kb_reply rep;
    run_query(tenant, method, p, n, &rep);
    if (rep.err.code == KB_CODE_OK) {
        FZ_CHECK(kb_id_valid(tenant));
        switch (data[0] % N_METHODS) {
            case 0: check_get(tenant, &rep); break;
            case 1: check_list(tenant, p, n, &rep); break;
            case 2: check_events(tenant, p, n, &rep); break;
            case 3: check_get_invoice(tenant, &rep); break;
            case 4: check_list_invoices(p, n, &rep); break;
            case 5: check_get_plan(tenant, &rep); break;
            case 6: check_list_plans(p, n, &rep); break;
            default: check_plan_settings(&rep); break;
        }
    }
    kb_reply_fini(&rep);
    return 0;
}
