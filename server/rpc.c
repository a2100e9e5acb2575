#include "rpc.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/util/platform.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kasboek.pb-c.h"
#include "aggregate.h"
#include "keys.h"
#include "query.h"
#include "validate.h"
#include "kb_limits.h"

#define KBD_METHOD_PREFIX "kasboek.v1.Ledger/"
#define KBD_VERSION       "0.1.0"

typedef enum { CTX_RECV, CTX_WAIT, CTX_SEND } ctx_state;

typedef struct kbd_ctx {
    kbd_rpc *rpc;
    nng_ctx ctx;
    nng_aio *aio;
    ctx_state state;
    Kasboek__V1__Request *req; /* decoded envelope, owned */
    char actor[40];
    char dir[512]; /* checkpoint target */
    bool accepted; /* its command went to the writer; reply not yet sent */
    kbd_job job;
} kbd_ctx;

struct kbd_rpc {
    nng_socket sock;
    nng_listener listeners[KBD_LISTEN_MAX];
    int n_listeners;
    kbd_ctx *ctxs;
    uint32_t n_ctxs;
    const kbd_config *cfg;
    kb_store *store;
    kbd_writer *writer;
    kbd_clock *clock;
    atomic_int busy;      /* contexts between a received request and its reply */
    atomic_bool stopping; /* new requests are answered SHUTTING_DOWN */
    atomic_int accepted;  /* commands taken by the writer whose reply is not sent */
};

static void ctx_cb(void *arg);

/* ---------------------------------------------------------------- reply */

static void ctx_send(kbd_ctx *c, uint64_t request_id, const kb_error *err, const uint8_t *payload,
                     size_t len) {
    Kasboek__V1__Response resp = KASBOEK__V1__RESPONSE__INIT;
    resp.request_id = request_id;
    resp.code = (Kasboek__V1__Code)err->code;
    resp.message = (char *)err->message;
    resp.reason = (char *)kb_reason_str(err->reason);
    resp.field = (char *)err->field;
    if (err->code == KB_CODE_OK) {
        resp.payload.data = (uint8_t *)payload;
        resp.payload.len = len;
    }
    size_t n = kasboek__v1__response__get_packed_size(&resp);
    nng_msg *msg;
    if (nng_msg_alloc(&msg, n) != 0) { /* no reply: as if it was sent */
        if (c->accepted) {
            c->accepted = false;
            atomic_fetch_sub(&c->rpc->accepted, 1);
        }
        if (c->req) kasboek__v1__request__free_unpacked(c->req, NULL);
        c->req = NULL;
        c->state = CTX_RECV;
        atomic_fetch_sub(&c->rpc->busy, 1);
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    kasboek__v1__response__pack(&resp, nng_msg_body(msg));
    c->state = CTX_SEND;
    nng_aio_set_msg(c->aio, msg);
    nng_ctx_send(c->ctx, c->aio);
}

static void ctx_error(kbd_ctx *c, uint64_t request_id, kb_reason reason, const char *field,
                      const char *msg) {
    kb_error e;
    kb_error_set(&e, reason, field, "%s", msg);
    ctx_send(c, request_id, &e, NULL, 0);
}

/* Once the reply is handed to nng the context, and so job, may already
 * belong to the next request (its send completes on nng's thread, which
 * receives again and dispatches the next request into the same job): the
 * reply is taken out of job first, and nothing of the context is touched
 * after ctx_send. */
static void job_done(kbd_job *job) {
    kbd_ctx *c = job->owner;
    kb_reply r = job->reply;
    memset(&job->reply, 0, sizeof job->reply);
    ctx_send(c, c->req ? c->req->request_id : 0, &r.err, r.payload, r.payload_len);
    kb_reply_fini(&r);
}

/* -------------------------------------------------------------- dispatch */

static void actor_of(const char *api_key, char out[40]) {
    if (!api_key[0]) {
        snprintf(out, 40, "anonymous");
        return;
    }
    unsigned char h[8];
    crypto_generichash(h, sizeof h, (const unsigned char *)api_key, strlen(api_key), NULL, 0);
    char hex[17];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    snprintf(out, 40, "key:%s", hex);
}

static void fill_request(kbd_ctx *c, const char *method) {
    Kasboek__V1__Request *q = c->req;
    kb_request *rq = &c->job.rq;
    memset(rq, 0, sizeof *rq);
    rq->tenant = q->tenant;
    rq->actor = c->actor;
    rq->method = method;
    rq->idempotency_key = q->idempotency_key;
    rq->has_expected_version = q->expected_case == KASBOEK__V1__REQUEST__EXPECTED_EXPECTED_VERSION;
    rq->expected_version = q->expected_version;
    rq->payload = q->payload.data;
    rq->payload_len = q->payload.len;
}

static void answer_status(kbd_ctx *c) {
    kb_head head;
    kb_error err;
    kb_error_clear(&err);
    if (kb_log_head_read(c->rpc->store, NULL, NULL, &head) != KB_OK) {
        ctx_error(c, c->req->request_id, KB_REASON_STORAGE_FAILED, "", "cannot read the head");
        return;
    }
    Kasboek__V1__StatusReply r = KASBOEK__V1__STATUS_REPLY__INIT;
    r.head_seq = head.seq;
    r.head_hash.data = head.hash;
    r.head_hash.len = sizeof head.hash;
    r.now = kbd_clock_now(c->rpc->clock);
    r.manual_clock = kbd_clock_manual(c->rpc->clock);
    r.version = KBD_VERSION;
    uint8_t buf[256];
    size_t n = kasboek__v1__status_reply__pack(&r, buf);
    ctx_send(c, c->req->request_id, &err, buf, n);
}

static void answer_query(kbd_ctx *c, const char *method) {
    fill_request(c, method);
    c->job.rq.now = kbd_clock_now(c->rpc->clock); /* GetBalance splits by today */
    kb_reply reply;
    kb_status st = kb_query_execute(c->rpc->store, &c->job.rq, &reply);
    if (st != KB_OK) {
        kb_reply_fini(&reply);
        ctx_error(c, c->req->request_id, KB_REASON_INTERNAL_ERROR, "", kb_status_str(st));
        return;
    }
    ctx_send(c, c->req->request_id, &reply.err, reply.payload, reply.payload_len);
    kb_reply_fini(&reply);
}

/* Decodes an admin request's argument into the job. false when an error
 * reply was sent instead. */
static bool admin_job(kbd_ctx *c, const char *method) {
    Kasboek__V1__Request *q = c->req;
    if (!strcmp(method, "Tick")) {
        c->job.kind = KBD_JOB_TICK;
        return true;
    }
    if (!strcmp(method, "SetClock")) {
        Kasboek__V1__SetClockRequest *r =
            kasboek__v1__set_clock_request__unpack(NULL, q->payload.len, q->payload.data);
        if (!r || r->now <= 0 || r->now > KB_TIME_MAX_US) {
            ctx_error(c, q->request_id, r ? KB_REASON_INVALID_TIME : KB_REASON_MALFORMED_PAYLOAD,
                      r ? "now" : "payload",
                      r ? "now must be after 1970 and before 9000-01-01T00:00:00Z"
                        : "not a SetClockRequest");
            if (r) kasboek__v1__set_clock_request__free_unpacked(r, NULL);
            return false;
        }
        c->job.kind = KBD_JOB_SET_CLOCK;
        c->job.arg_time_us = r->now;
        kasboek__v1__set_clock_request__free_unpacked(r, NULL);
        return true;
    }
    Kasboek__V1__CheckpointRequest *r =
        kasboek__v1__checkpoint_request__unpack(NULL, q->payload.len, q->payload.data);
    size_t n = r ? strlen(r->dir) : 0;
    bool ok = r && n > 0 && n < sizeof c->dir && kb_utf8_valid(r->dir, n);
    if (ok) memcpy(c->dir, r->dir, n + 1);
    if (r) kasboek__v1__checkpoint_request__free_unpacked(r, NULL);
    if (!ok) {
        ctx_error(c, q->request_id, r ? KB_REASON_FIELD_REQUIRED : KB_REASON_MALFORMED_PAYLOAD,
                  r ? "dir" : "payload", "dir is required (a path that does not exist yet)");
        return false;
    }
    c->job.kind = KBD_JOB_CHECKPOINT;
    c->job.arg_dir = c->dir;
    return true;
}

static bool is_admin(const char *m) {
    return !strcmp(m, "SetClock") || !strcmp(m, "Tick") || !strcmp(m, "Checkpoint");
}

static void to_writer(kbd_ctx *c, const char *method) {
    fill_request(c, method);
    c->job.owner = c;
    c->job.done = job_done;
    c->state = CTX_WAIT;
    c->accepted = true;
    atomic_fetch_add(&c->rpc->accepted, 1);
    if (!kbd_writer_submit(c->rpc->writer, &c->job)) {
        c->accepted = false;
        atomic_fetch_sub(&c->rpc->accepted, 1);
        ctx_error(c, c->req->request_id, KB_REASON_SHUTTING_DOWN, "", "kasboekd is stopping");
    }
}

static void dispatch(kbd_ctx *c) {
    Kasboek__V1__Request *q = c->req;
    const char *m = q->method;
    if (strncmp(m, KBD_METHOD_PREFIX, strlen(KBD_METHOD_PREFIX)) != 0) {
        ctx_error(c, q->request_id, KB_REASON_UNKNOWN_METHOD, "method",
                  "methods are named kasboek.v1.Ledger/<Rpc>");
        return;
    }
    m += strlen(KBD_METHOD_PREFIX);
    if (!kb_utf8_valid(q->api_key, strlen(q->api_key)) || strlen(q->api_key) > KB_API_KEY_LEN_MAX) {
        ctx_error(c, q->request_id, KB_REASON_UNAUTHENTICATED, "api_key", "malformed api key");
        return;
    }
    actor_of(q->api_key, c->actor);
    memset(&c->job, 0, sizeof c->job);
    if (!strcmp(m, "GetStatus")) {
        answer_status(c);
    } else if (kb_query_known(m)) {
        answer_query(c, m);
    } else if (is_admin(m)) {
        if (admin_job(c, m)) to_writer(c, m);
    } else if (kb_engine_is_command(m)) {
        c->job.kind = KBD_JOB_COMMAND;
        to_writer(c, m);
    } else {
        ctx_error(c, q->request_id, KB_REASON_UNKNOWN_METHOD, "method", "unknown method");
    }
}

/* request_id of an envelope we will not decode (too large or malformed):
 * field 1, a varint, which encoders write first; 0 if it is not there. */
static uint64_t peek_request_id(const uint8_t *b, size_t len) {
    if (len < 2 || b[0] != 0x08) return 0;
    uint64_t v = 0;
    for (size_t i = 1; i < len && i <= 10; i++) {
        v |= (uint64_t)(b[i] & 0x7f) << (7 * (i - 1));
        if (!(b[i] & 0x80)) return v;
    }
    return 0;
}

static void on_recv(kbd_ctx *c) {
    nng_msg *msg = nng_aio_get_msg(c->aio);
    size_t len = nng_msg_len(msg);
    uint64_t peeked = peek_request_id(nng_msg_body(msg), len);
    atomic_fetch_add(&c->rpc->busy, 1);
    if (len > c->rpc->cfg->message_bytes_max) {
        nng_msg_free(msg);
        ctx_error(c, peeked, KB_REASON_MESSAGE_TOO_LARGE, "",
                  "request exceeds --max-message-bytes");
        return;
    }
    c->req = kasboek__v1__request__unpack(NULL, len, nng_msg_body(msg));
    nng_msg_free(msg);
    if (!c->req) {
        ctx_error(c, peeked, KB_REASON_MALFORMED_REQUEST, "", "not a kasboek.v1.Request");
        return;
    }
    if (atomic_load(&c->rpc->stopping)) {
        ctx_error(c, c->req->request_id, KB_REASON_SHUTTING_DOWN, "", "kasboekd is stopping");
        return;
    }
    dispatch(c);
}

static void ctx_cb(void *arg) {
    kbd_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    switch (c->state) {
        case CTX_RECV:
            if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) return;
            if (rv != 0) {
                nng_ctx_recv(c->ctx, c->aio);
                return;
            }
            on_recv(c);
            return;
        case CTX_SEND:
            if (rv != 0) nng_msg_free(nng_aio_get_msg(c->aio));
            if (c->accepted) {
                c->accepted = false;
                atomic_fetch_sub(&c->rpc->accepted, 1);
            }
            if (c->req) kasboek__v1__request__free_unpacked(c->req, NULL);
            c->req = NULL;
            c->state = CTX_RECV;
            atomic_fetch_sub(&c->rpc->busy, 1);
            if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) return;
            nng_ctx_recv(c->ctx, c->aio);
            return;
        case CTX_WAIT:
            return; /* not an aio state */
    }
}

/* ------------------------------------------------------------- lifecycle */

/* ipc://PATH needs PATH's directory. */
static void make_ipc_dir(const char *url) {
    if (strncmp(url, "ipc://", 6) != 0) return;
    char path[256];
    snprintf(path, sizeof path, "%s", url + 6);
    char *slash = strrchr(path, '/');
    if (!slash || slash == path) return;
    *slash = 0;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(path, 0755);
        *p = '/';
    }
    mkdir(path, 0755);
}

static int open_contexts(kbd_rpc *r) {
    r->ctxs = calloc(r->n_ctxs, sizeof *r->ctxs);
    if (!r->ctxs) return NNG_ENOMEM;
    for (uint32_t i = 0; i < r->n_ctxs; i++) {
        kbd_ctx *c = &r->ctxs[i];
        c->rpc = r;
        int rv = nng_aio_alloc(&c->aio, ctx_cb, c);
        if (rv == 0) rv = nng_ctx_open(&c->ctx, r->sock);
        if (rv != 0) return rv;
    }
    return 0;
}

kbd_rpc *kbd_rpc_start(const kbd_config *cfg, kb_store *store, kbd_writer *writer,
                       kbd_clock *clock) {
    kbd_rpc *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->cfg = cfg;
    r->store = store;
    r->writer = writer;
    r->clock = clock;
    r->n_ctxs = cfg->contexts;
    int rv = nng_rep0_open(&r->sock);
    if (rv == 0) {
        /* nng drops larger messages silently; up to twice the limit we
         * answer MESSAGE_TOO_LARGE instead. */
        rv = nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, (size_t)cfg->message_bytes_max * 2);
    }
    if (rv == 0) rv = open_contexts(r);
    for (int i = 0; rv == 0 && i < cfg->n_listen; i++) {
        make_ipc_dir(cfg->listen[i]);
        rv = nng_listen(r->sock, cfg->listen[i], &r->listeners[i], 0);
        if (rv != 0)
            fprintf(stderr, "kasboekd: cannot listen on %s: %s\n", cfg->listen[i],
                    nng_strerror(rv));
        else
            r->n_listeners++;
    }
    if (rv != 0) {
        kbd_rpc_close(r);
        return NULL;
    }
    for (uint32_t i = 0; i < r->n_ctxs; i++) {
        r->ctxs[i].state = CTX_RECV;
        nng_ctx_recv(r->ctxs[i].ctx, r->ctxs[i].aio);
    }
    return r;
}

void kbd_rpc_quiesce(kbd_rpc *r) {
    atomic_store(&r->stopping, true);
}

/* Closing a listener also closes every connection it accepted. */
static void close_listeners(kbd_rpc *r) {
    for (int i = 0; i < r->n_listeners; i++) nng_listener_close(r->listeners[i]);
    r->n_listeners = 0;
}

bool kbd_rpc_drain(kbd_rpc *r, int timeout_ms) {
    int64_t until = kbd_monotonic_ms() + timeout_ms;
    while (atomic_load(&r->accepted) > 0 && kbd_monotonic_ms() < until) nng_msleep(2);
    bool done = atomic_load(&r->accepted) == 0;
    nng_msleep(50); /* let the pipes hand the last replies to the kernel */
    return done;
}

void kbd_rpc_close(kbd_rpc *r) {
    if (!r) return;
    atomic_store(&r->stopping, true);
    close_listeners(r);
    /* Contexts first: nng_close waits until none is left. */
    for (uint32_t i = 0; r->ctxs && i < r->n_ctxs; i++) {
        kbd_ctx *c = &r->ctxs[i];
        if (c->aio) nng_ctx_close(c->ctx);
    }
    for (uint32_t i = 0; r->ctxs && i < r->n_ctxs; i++) {
        kbd_ctx *c = &r->ctxs[i];
        if (c->aio) nng_aio_stop(c->aio);
    }
    nng_close(r->sock);
    for (uint32_t i = 0; r->ctxs && i < r->n_ctxs; i++) {
        kbd_ctx *c = &r->ctxs[i];
        if (c->aio) nng_aio_free(c->aio);
        if (c->req) kasboek__v1__request__free_unpacked(c->req, NULL);
    }
    free(r->ctxs);
    free(r);
}
