/* Modes kasboek_single (one command per request) and kasboek_batch
 * (SubmitBatch of many commands), each point against a fresh kasboekd
 * started with its production defaults (every reply after a synced commit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "status.h" /* KB_VERIFY */

/* ------------------------------------------------------------ single */

typedef struct single_ctx {
    const char *url;
    uint32_t ids_per_client;
    atomic_size_t reply_bytes; /* a RecordPayment's CommandResult */
} single_ctx;

typedef struct single_state {
    kb_client *client;
    kbb_gen *gen;
} single_state;

static int single_open(kbb_worker *w) {
    single_ctx *x = w->spec->ctx;
    single_state *s = calloc(1, sizeof *s);
    w->state = s;
    if (!s) return -1;
    s->gen = kbb_gen_new("s", w->index, x->ids_per_client);
    if (!s->gen || kbb_client_open(x->url, &s->client) != 0) {
        snprintf(w->error, sizeof w->error, "client %u: cannot connect to %s", w->index, x->url);
        return -1;
    }
    return 0;
}

static void single_close(kbb_worker *w) {
    single_state *s = w->state;
    if (!s) return;
    if (s->client) kb_client_close(s->client);
    kbb_gen_free(s->gen);
    free(s);
    w->state = NULL;
}

static int single_request(kbb_worker *w) {
    single_state *s = w->state;
    single_ctx *x = w->spec->ctx;
    kbb_cmd cmd;
    if (!kbb_gen_next(s->gen, &cmd)) return KBB_REQ_DONE;
    kb_client_call_opts opts = {.idempotency_key = cmd.idempotency_key};
    kb_client_result res;
    int rv = kb_client_call(s->client, cmd.method, cmd.msg, &opts, &res);
    if (rv != 0) {
        snprintf(w->error, sizeof w->error, "client %u: %s: %s", w->index, cmd.method,
                 kb_client_strerror(rv));
        return KBB_REQ_FAIL;
    }
    int rc = KBB_REQ_OK;
    if (res.code != 0) {
        snprintf(w->error, sizeof w->error, "client %u: %s: %s %.60s: %.120s", w->index, cmd.method,
                 kb_client_code_str(res.code), res.reason, res.message);
        rc = KBB_REQ_FAIL;
    } else {
        w->ops++;
        if (cmd.events == 1) atomic_store(&x->reply_bytes, res.payload_len);
    }
    kb_client_result_fini(&res);
    return rc;
}

static const kbb_load_ops single_ops = {single_open, single_request, single_close};

/* One point on a fresh server in tmp/<name>; the server is always stopped. */
static int run_on_server(const kbb_config *cfg, const char *tmp, const char *name,
                         kbb_load_spec *spec, const char **url, kbb_results *res,
                         kbb_load_result *lr) {
    char dir[KBB_PATH_BYTES_MAX];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    kbb_server srv;
    if (kbb_server_start(cfg, dir, &srv) != 0) return -1;
    *url = srv.url;
    int rc = kbb_load_run(spec, lr);
    if (rc != 0) fprintf(stderr, "kasboek-bench: %s: %s\n", name, lr->error);
    if (kbb_server_stop(&srv) != 0) rc = -1;
    kbb_note_rss(res, &srv);
    lr->server_cpu_s = srv.cpu_s;
    if (kbb_rmtree(dir) != 0) fprintf(stderr, "kasboek-bench: cannot remove %s\n", dir);
    return rc;
}

int kbb_mode_single(const kbb_config *cfg, const char *tmp, kbb_results *res) {
    kbb_series *sr = &res->single;
    int rc = 0;
    for (int i = 0; i < 3 && !kbb_interrupted; i++) {
        uint32_t n = cfg->clients[i];
        single_ctx x = {.ids_per_client = cfg->payment_ids / n};
        atomic_init(&x.reply_bytes, 0);
        kbb_load_spec spec = {.ops = &single_ops,
                              .ctx = &x,
                              .clients = n,
                              .requests_max = x.ids_per_client * 10ull / 9 + 2,
                              .duration_s = cfg->point_s};
        char name[32];
        snprintf(name, sizeof name, "single-%u", n);
        kbb_load_result lr;
        fprintf(stderr, "kasboek-bench: kasboek_single, %u clients\n", n);
        if (run_on_server(cfg, tmp, name, &spec, &x.url, res, &lr) != 0) {
            sr->failed = true;
            rc = -1;
            continue;
        }
        kbb_point_set(&sr->pts[sr->n++], n, n, 1, &lr);
        kbb_workload_sizes(res, atomic_load(&x.reply_bytes));
    }
    return rc;
}

/* ------------------------------------------------------------- batch */

typedef struct batch_state {
    kb_client *client;
    kbb_gen *gen;
    Kasboek__V1__BatchCommand cmds[KBB_BATCH_COMMANDS_MAX];
    Kasboek__V1__BatchCommand *ptrs[KBB_BATCH_COMMANDS_MAX];
    char keys[KBB_BATCH_COMMANDS_MAX][64];
    uint8_t bufs[KBB_BATCH_COMMANDS_MAX][KBB_COMMAND_BYTES_MAX];
} batch_state;

static int batch_open(kbb_worker *w) {
    kbb_batch_ctx *x = w->spec->ctx;
    batch_state *s = calloc(1, sizeof *s);
    w->state = s;
    if (!s) return -1;
    s->gen = kbb_gen_new(x->tag, w->index, x->ids_per_client);
    if (!s->gen || kbb_client_open(x->url, &s->client) != 0) {
        snprintf(w->error, sizeof w->error, "client %u: cannot connect to %s", w->index, x->url);
        return -1;
    }
    for (uint32_t i = 0; i < KBB_BATCH_COMMANDS_MAX; i++) {
        kasboek__v1__batch_command__init(&s->cmds[i]);
        s->cmds[i].idempotency_key = s->keys[i];
        s->cmds[i].payload.data = s->bufs[i];
        s->ptrs[i] = &s->cmds[i];
    }
    return 0;
}

static void batch_close(kbb_worker *w) {
    batch_state *s = w->state;
    if (!s) return;
    if (s->client) kb_client_close(s->client);
    kbb_gen_free(s->gen);
    free(s);
    w->state = NULL;
}

/* Fills up to batch commands; *events = events they will append. */
static size_t batch_fill(batch_state *s, uint32_t batch, uint64_t *events) {
    size_t n = 0;
    kbb_cmd cmd;
    while (n < batch && kbb_gen_next(s->gen, &cmd)) {
        size_t len = protobuf_c_message_get_packed_size(cmd.msg);
        KB_VERIFY(len <= KBB_COMMAND_BYTES_MAX);
        s->cmds[n].payload.len = protobuf_c_message_pack(cmd.msg, s->bufs[n]);
        s->cmds[n].method = (char *)cmd.method;
        snprintf(s->keys[n], sizeof s->keys[n], "%s", cmd.idempotency_key);
        *events += cmd.events;
        n++;
    }
    return n;
}

/* Every command of the reply must be OK. */
/* Adds the events one command appended, reactions' included (its
 * CommandResult's seq range), to *events. */
static void count_events(const Kasboek__V1__BatchResult *b, uint64_t *events) {
    Kasboek__V1__CommandResult *c =
        kasboek__v1__command_result__unpack(NULL, b->payload.len, b->payload.data);
    if (!c) return;
    if (c->first_seq && c->last_seq >= c->first_seq) *events += c->last_seq - c->first_seq + 1;
    kasboek__v1__command_result__free_unpacked(c, NULL);
}

/* Every command succeeded; with events, also counts what they appended
 * (only where a log of a given size is built: it costs a decode each). */
static int batch_check(kbb_worker *w, const kb_client_result *res, size_t n, uint64_t *events) {
    Kasboek__V1__SubmitBatchReply *r =
        kasboek__v1__submit_batch_reply__unpack(NULL, res->payload_len, res->payload);
    if (!r || r->n_results != n) {
        snprintf(w->error, sizeof w->error, "client %u: SubmitBatch: bad reply", w->index);
        if (r) kasboek__v1__submit_batch_reply__free_unpacked(r, NULL);
        return KBB_REQ_FAIL;
    }
    int rc = KBB_REQ_OK;
    for (size_t i = 0; i < n && rc == KBB_REQ_OK; i++) {
        const Kasboek__V1__BatchResult *b = r->results[i];
        if (b->code == KASBOEK__V1__CODE__OK) {
            if (events) count_events(b, events);
            continue;
        }
        snprintf(w->error, sizeof w->error, "client %u: SubmitBatch command %zu: %s %s: %s",
                 w->index, i, kb_client_code_str((int)b->code), b->reason, b->message);
        rc = KBB_REQ_FAIL;
    }
    kasboek__v1__submit_batch_reply__free_unpacked(r, NULL);
    return rc;
}

static int batch_request(kbb_worker *w) {
    batch_state *s = w->state;
    kbb_batch_ctx *x = w->spec->ctx;
    uint64_t events = 0, appended = 0;
    size_t n = batch_fill(s, x->batch, &events);
    if (n == 0) return KBB_REQ_DONE;
    Kasboek__V1__SubmitBatchRequest req = KASBOEK__V1__SUBMIT_BATCH_REQUEST__INIT;
    req.n_commands = n;
    req.commands = s->ptrs;
    kb_client_result res;
    int rv = kb_client_call(s->client, "SubmitBatch", &req.base, NULL, &res);
    if (rv != 0) {
        snprintf(w->error, sizeof w->error, "client %u: SubmitBatch: %s", w->index,
                 kb_client_strerror(rv));
        return KBB_REQ_FAIL;
    }
    int rc = KBB_REQ_FAIL;
    if (res.code != 0) {
        snprintf(w->error, sizeof w->error, "client %u: SubmitBatch: %s %.60s: %.120s", w->index,
                 kb_client_code_str(res.code), res.reason, res.message);
    } else {
        rc = batch_check(w, &res, n, x->events_target ? &appended : NULL);
    }
    kb_client_result_fini(&res);
    if (rc != KBB_REQ_OK) return rc;
    w->ops += n;
    if (x->events_target) events = appended; /* a log of N events: reactions' count too */
    uint64_t total = atomic_fetch_add(&x->events, events) + events;
    if (x->events_target && total >= x->events_target) atomic_store(w->stop, true);
    return KBB_REQ_OK;
}

const kbb_load_ops kbb_batch_ops = {batch_open, batch_request, batch_close};

int kbb_mode_batch(const kbb_config *cfg, const char *tmp, kbb_results *res) {
    kbb_series *sr = &res->batch;
    int rc = 0;
    for (int i = 0; i < 2 && !kbb_interrupted; i++) {
        uint32_t b = cfg->batch_sizes[i], n = cfg->batch_clients;
        kbb_batch_ctx x = {
            .tag = "b", .batch = b, .ids_per_client = cfg->batch_commands_max / n * 9 / 10};
        atomic_init(&x.events, 0);
        kbb_load_spec spec = {.ops = &kbb_batch_ops,
                              .ctx = &x,
                              .clients = n,
                              .requests_max = cfg->batch_commands_max / n / b + 2,
                              .duration_s = cfg->point_s};
        char name[32];
        snprintf(name, sizeof name, "batch-%u", b);
        kbb_load_result lr;
        fprintf(stderr, "kasboek-bench: kasboek_batch, %u commands per request, %u clients\n", b,
                n);
        if (run_on_server(cfg, tmp, name, &spec, &x.url, res, &lr) != 0) {
            sr->failed = true;
            rc = -1;
            continue;
        }
        kbb_point_set(&sr->pts[sr->n++], b, n, b, &lr);
    }
    return rc;
}
