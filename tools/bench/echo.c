/* Mode nng_echo: the transport ceiling. A REP socket in this process with
 * as many contexts as kasboekd opens answers every request at once with a
 * message the size of a RecordPayment Response; the clients send messages
 * the size of a RecordPayment Request over ipc://, closed-loop. */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define KBB_ECHO_CONTEXTS 256 /* kasboekd's default --contexts */

typedef struct echo_ctx echo_ctx;

typedef struct echo_server {
    nng_socket sock;
    echo_ctx *ctxs;
    uint32_t n_ctxs;
    size_t reply_bytes;
} echo_server;

struct echo_ctx {
    echo_server *srv;
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
};

static void echo_cb(void *arg) {
    echo_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    if (c->sending) {
        c->sending = false;
        if (rv != 0) nng_msg_free(nng_aio_get_msg(c->aio));
    } else if (rv == 0) {
        nng_msg *msg = nng_aio_get_msg(c->aio);
        if (nng_msg_realloc(msg, c->srv->reply_bytes) == 0) {
            c->sending = true;
            nng_aio_set_msg(c->aio, msg);
            nng_ctx_send(c->ctx, c->aio);
            return;
        }
        nng_msg_free(msg);
    }
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) return;
    nng_ctx_recv(c->ctx, c->aio);
}

static void echo_stop(echo_server *s) {
    nng_close(s->sock);
    for (uint32_t i = 0; s->ctxs && i < s->n_ctxs; i++) {
        if (s->ctxs[i].aio) nng_aio_stop(s->ctxs[i].aio);
    }
    for (uint32_t i = 0; s->ctxs && i < s->n_ctxs; i++) {
        if (s->ctxs[i].aio) nng_aio_free(s->ctxs[i].aio);
    }
    free(s->ctxs);
    s->ctxs = NULL;
}

static int echo_start(echo_server *s, const char *url, size_t reply_bytes) {
    memset(s, 0, sizeof *s);
    s->reply_bytes = reply_bytes;
    s->n_ctxs = KBB_ECHO_CONTEXTS;
    int rv = nng_rep0_open(&s->sock);
    if (rv != 0) {
        fprintf(stderr, "kasboek-bench: echo: %s\n", nng_strerror(rv));
        return -1;
    }
    s->ctxs = calloc(s->n_ctxs, sizeof *s->ctxs);
    if (!s->ctxs) rv = NNG_ENOMEM;
    for (uint32_t i = 0; rv == 0 && i < s->n_ctxs; i++) {
        s->ctxs[i].srv = s;
        rv = nng_aio_alloc(&s->ctxs[i].aio, echo_cb, &s->ctxs[i]);
        if (rv == 0) rv = nng_ctx_open(&s->ctxs[i].ctx, s->sock);
    }
    if (rv == 0) rv = nng_listen(s->sock, url, NULL, 0);
    if (rv != 0) {
        fprintf(stderr, "kasboek-bench: echo server on %s: %s\n", url, nng_strerror(rv));
        echo_stop(s);
        return -1;
    }
    for (uint32_t i = 0; i < s->n_ctxs; i++) nng_ctx_recv(s->ctxs[i].ctx, s->ctxs[i].aio);
    return 0;
}

/* ----------------------------------------------------------- clients */

typedef struct echo_load {
    const char *url;
    size_t request_bytes, reply_bytes;
} echo_load;

static int echo_open(kbb_worker *w) {
    echo_load *x = w->spec->ctx;
    nng_socket *sock = calloc(1, sizeof *sock);
    w->state = sock;
    if (!sock) return -1;
    int rv = nng_req0_open(sock);
    if (rv == 0) rv = nng_socket_set_ms(*sock, NNG_OPT_RECVTIMEO, KBB_CALL_TIMEOUT_MS);
    if (rv == 0) rv = nng_socket_set_ms(*sock, NNG_OPT_SENDTIMEO, KBB_CALL_TIMEOUT_MS);
    if (rv == 0) rv = nng_socket_set_ms(*sock, NNG_OPT_REQ_RESENDTIME, KBB_CALL_TIMEOUT_MS + 1000);
    if (rv == 0) rv = nng_dial(*sock, x->url, NULL, 0);
    if (rv != 0) {
        snprintf(w->error, sizeof w->error, "echo client %u: %s", w->index, nng_strerror(rv));
        return -1;
    }
    return 0;
}

static void echo_close(kbb_worker *w) {
    nng_socket *sock = w->state;
    if (!sock) return;
    nng_close(*sock);
    free(sock);
    w->state = NULL;
}

static int echo_request(kbb_worker *w) {
    echo_load *x = w->spec->ctx;
    nng_socket *sock = w->state;
    nng_msg *msg;
    int rv = nng_msg_alloc(&msg, x->request_bytes);
    if (rv == 0) {
        memset(nng_msg_body(msg), 0x5a, x->request_bytes);
        rv = nng_sendmsg(*sock, msg, 0);
        if (rv != 0) nng_msg_free(msg);
    }
    if (rv == 0) rv = nng_recvmsg(*sock, &msg, 0);
    if (rv != 0) {
        snprintf(w->error, sizeof w->error, "echo client %u: %s", w->index, nng_strerror(rv));
        return KBB_REQ_FAIL;
    }
    size_t got = nng_msg_len(msg);
    nng_msg_free(msg);
    if (got != x->reply_bytes) {
        snprintf(w->error, sizeof w->error, "echo client %u: reply of %zu bytes", w->index, got);
        return KBB_REQ_FAIL;
    }
    w->ops++;
    return KBB_REQ_OK;
}

static const kbb_load_ops echo_ops = {echo_open, echo_request, echo_close};

int kbb_mode_echo(const kbb_config *cfg, const char *tmp, kbb_results *res) {
    if (!res->request_bytes) kbb_workload_sizes(res, 0);
    char url[KBB_PATH_BYTES_MAX];
    snprintf(url, sizeof url, "ipc://%s/echo.sock", tmp);
    echo_server srv;
    if (echo_start(&srv, url, res->response_bytes) != 0) {
        res->echo.failed = true;
        return -1;
    }
    echo_load x = {
        .url = url, .request_bytes = res->request_bytes, .reply_bytes = res->response_bytes};
    int rc = 0;
    for (int i = 0; i < 3 && !kbb_interrupted; i++) {
        uint32_t n = cfg->clients[i];
        kbb_load_spec spec = {.ops = &echo_ops,
                              .ctx = &x,
                              .clients = n,
                              .requests_max = cfg->echo_requests_max / n + 1,
                              .duration_s = cfg->point_s};
        kbb_load_result lr;
        fprintf(stderr,
                "kasboek-bench: nng_echo, %u clients (%zu-byte requests, %zu-byte replies)\n", n,
                x.request_bytes, x.reply_bytes);
        if (kbb_load_run(&spec, &lr) != 0) {
            fprintf(stderr, "kasboek-bench: nng_echo: %s\n", lr.error);
            res->echo.failed = true;
            rc = -1;
            continue;
        }
        kbb_point_set(&res->echo.pts[res->echo.n++], n, n, 1, &lr);
    }
    echo_stop(&srv);
    return rc;
}
