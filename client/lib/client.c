/* libkasboek: one nng REQ socket per kb_client (see kasboek.h). */
#include "kasboek.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kb_limits.h"
#include "status.h"

#define KB_CLIENT_TIMEOUT_MS_DEFAULT 30000
/* Replies can hold a page of up to KB_PAGE_SIZE_MAX payments or events. */
#define KB_CLIENT_RECV_BYTES_MAX (64u * 1024u * 1024u)
/* nng's REQ resends a request after its resend time and when the pipe it
 * went out on closes. A resend time beyond the call's timeout keeps only
 * the reconnect resend, which is safe because commands carry idempotency
 * keys (the CLI always sends one). */
#define KB_CLIENT_RESEND_SLACK_MS 1000

struct kb_client {
    nng_socket sock;
    uint64_t next_request_id;
    int timeout_ms;
    char tenant[KB_ID_LEN_MAX + 1];
    char api_key[KB_API_KEY_LEN_MAX + 1];
};

/* The names come from the ledger's table, which follows proto enum Code. */
_Static_assert(KB_CODE_UNAUTHENTICATED == (int)KASBOEK__V1__CODE__UNAUTHENTICATED,
               "kb_code must follow proto enum Code");

const char *kb_client_code_str(int code) {
    if (code < 0 || code > KB_CODE_UNAUTHENTICATED) return "UNKNOWN";
    return kb_code_str((kb_code)code);
}

const char *kb_client_strerror(int err) {
    return nng_strerror(err);
}

/* Copies src into dst (n bytes), truncating; always NUL-terminates. */
static void copy_text(char *dst, size_t n, const char *src) {
    size_t len = src ? strlen(src) : 0;
    if (len >= n) len = n - 1;
    if (len > 0) memcpy(dst, src, len);
    dst[len] = '\0';
}

static const char *env_or(const char *given, const char *env, const char *fallback) {
    if (given) return given;
    const char *v = getenv(env);
    return (v && v[0]) ? v : fallback;
}

static int set_options(kb_client *c) {
    int rv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, c->timeout_ms);
    if (rv == 0) rv = nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, c->timeout_ms);
    if (rv == 0) {
        rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
                               c->timeout_ms + KB_CLIENT_RESEND_SLACK_MS);
    }
    if (rv == 0) rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, KB_CLIENT_RECV_BYTES_MAX);
    return rv;
}

int kb_client_open(const kb_client_options *opts, kb_client **out) {
    kb_client_options none = {0};
    if (!opts) opts = &none;
    const char *url = env_or(opts->url, "KASBOEK_SERVER", KB_CLIENT_DEFAULT_URL);
    const char *tenant = opts->tenant ? opts->tenant : KB_CLIENT_DEFAULT_TENANT;
    const char *api_key = env_or(opts->api_key, "KASBOEK_API_KEY", "");
    if (!out || opts->timeout_ms < 0 || opts->timeout_ms > INT32_MAX - KB_CLIENT_RESEND_SLACK_MS ||
        strlen(tenant) > KB_ID_LEN_MAX || strlen(api_key) > KB_API_KEY_LEN_MAX) {
        return NNG_EINVAL;
    }
    kb_client *c = calloc(1, sizeof *c);
    if (!c) return NNG_ENOMEM;
    c->timeout_ms = opts->timeout_ms ? opts->timeout_ms : KB_CLIENT_TIMEOUT_MS_DEFAULT;
    copy_text(c->tenant, sizeof c->tenant, tenant);
    copy_text(c->api_key, sizeof c->api_key, api_key);
    int rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        sodium_memzero(c, sizeof *c);
        free(c);
        return rv;
    }
    rv = set_options(c);
    if (rv == 0) rv = nng_dial(c->sock, url, NULL, 0);
    if (rv != 0) {
        kb_client_close(c);
        return rv;
    }
    *out = c;
    return 0;
}

void kb_client_close(kb_client *c) {
    if (!c) return;
    nng_close(c->sock);
    sodium_memzero(c, sizeof *c);
    free(c);
}

void kb_client_result_fini(kb_client_result *r) {
    if (!r) return;
    free(r->payload);
    memset(r, 0, sizeof *r);
}

static void result_clear(kb_client_result *r) {
    memset(r, 0, sizeof *r);
}

/* Copies bytes into res->payload (NULL for 0 bytes). */
static int result_set_payload(kb_client_result *res, const uint8_t *data, size_t len) {
    res->payload = NULL;
    res->payload_len = 0;
    if (len == 0) return 0;
    res->payload = malloc(len);
    if (!res->payload) return NNG_ENOMEM;
    memcpy(res->payload, data, len);
    res->payload_len = len;
    return 0;
}

static int result_from_response(const Kasboek__V1__Response *r, kb_client_result *res) {
    res->code = (int)r->code;
    copy_text(res->reason, sizeof res->reason, r->reason);
    copy_text(res->field, sizeof res->field, r->field);
    copy_text(res->message, sizeof res->message, r->message);
    if (r->code != KASBOEK__V1__CODE__OK) return 0;
    return result_set_payload(res, r->payload.data, r->payload.len);
}

/* Sends len bytes and waits for the reply message (*reply owned by the
 * caller, freed with nng_msg_free). */
static int exchange(kb_client *c, const uint8_t *bytes, size_t len, nng_msg **reply) {
    nng_msg *msg;
    int rv = nng_msg_alloc(&msg, 0);
    if (rv != 0) return rv;
    rv = nng_msg_append(msg, bytes, len);
    if (rv == 0) rv = nng_sendmsg(c->sock, msg, 0);
    if (rv != 0) {
        nng_msg_free(msg);
        return rv;
    }
    return nng_recvmsg(c->sock, reply, 0);
}

int kb_client_send_bytes(kb_client *c, const uint8_t *bytes, size_t len, kb_client_result *res) {
    nng_msg *reply;
    result_clear(res);
    int rv = exchange(c, bytes, len, &reply);
    if (rv != 0) return rv;
    const uint8_t *body = nng_msg_body(reply);
    size_t body_len = nng_msg_len(reply);
    Kasboek__V1__Response *r = kasboek__v1__response__unpack(NULL, body_len, body);
    if (r) {
        rv = result_from_response(r, res);
        kasboek__v1__response__free_unpacked(r, NULL);
    } else {
        res->code = -1;
        copy_text(res->message, sizeof res->message, "reply is not a kasboek.v1.Response");
        rv = result_set_payload(res, body, body_len);
    }
    nng_msg_free(reply);
    if (rv != 0) kb_client_result_fini(res);
    return rv;
}

/* "RecordPayment" -> "kasboek.v1.Ledger/RecordPayment"; a name with a '/'
 * is taken as it is. */
static int full_method(const char *method, char *buf, size_t n) {
    const char *prefix = strchr(method, '/') ? "" : KB_CLIENT_METHOD_PREFIX;
    size_t need = strlen(prefix) + strlen(method) + 1;
    if (method[0] == '\0' || need > n) return NNG_EINVAL;
    memcpy(buf, prefix, strlen(prefix));
    memcpy(buf + strlen(prefix), method, strlen(method) + 1);
    return 0;
}

static void envelope_init(kb_client *c, const kb_client_call_opts *opts, char *method,
                          Kasboek__V1__Request *env) {
    kasboek__v1__request__init(env);
    env->request_id = ++c->next_request_id;
    env->api_key = c->api_key;
    env->tenant = (opts && opts->tenant) ? (char *)opts->tenant : c->tenant;
    env->method = method;
    if (opts && opts->idempotency_key) env->idempotency_key = (char *)opts->idempotency_key;
    if (opts && opts->has_expected_version) {
        env->expected_case = KASBOEK__V1__REQUEST__EXPECTED_EXPECTED_VERSION;
        env->expected_version = opts->expected_version;
    }
}

/* Sends the packed envelope, checks the reply echoes its request id. */
static int call_envelope(kb_client *c, const Kasboek__V1__Request *env, kb_client_result *res) {
    size_t len = kasboek__v1__request__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return NNG_ENOMEM;
    kasboek__v1__request__pack(env, buf);
    nng_msg *reply;
    int rv = exchange(c, buf, len, &reply);
    sodium_memzero(buf, len); /* it holds the API key */
    free(buf);
    if (rv != 0) return rv;
    Kasboek__V1__Response *r =
        kasboek__v1__response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
    nng_msg_free(reply);
    if (!r) return NNG_EPROTO;
    if (r->request_id != env->request_id)
        rv = NNG_EPROTO;
    else
        rv = result_from_response(r, res);
    kasboek__v1__response__free_unpacked(r, NULL);
    if (rv != 0) kb_client_result_fini(res);
    return rv;
}

int kb_client_call_raw(kb_client *c, const char *method, const uint8_t *payload, size_t len,
                       const kb_client_call_opts *opts, kb_client_result *res) {
    char name[KB_METHOD_LEN_MAX + 1];
    result_clear(res);
    if (!c || !method) return NNG_EINVAL;
    int rv = full_method(method, name, sizeof name);
    if (rv != 0) return rv;
    Kasboek__V1__Request env;
    envelope_init(c, opts, name, &env);
    env.payload.data = (uint8_t *)payload;
    env.payload.len = payload ? len : 0;
    return call_envelope(c, &env, res);
}

int kb_client_call(kb_client *c, const char *method, const ProtobufCMessage *request,
                   const kb_client_call_opts *opts, kb_client_result *res) {
    if (!request) return kb_client_call_raw(c, method, NULL, 0, opts, res);
    size_t len = protobuf_c_message_get_packed_size(request);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        result_clear(res);
        return NNG_ENOMEM;
    }
    protobuf_c_message_pack(request, buf);
    int rv = kb_client_call_raw(c, method, buf, len, opts, res);
    free(buf);
    return rv;
}

/* Unpacks res->payload as a d message on OK (NULL otherwise); a payload
 * that does not decode turns the result into INTERNAL MALFORMED_REPLY. */
static ProtobufCMessage *unpack_reply(int rv, kb_client_result *res,
                                      const ProtobufCMessageDescriptor *d) {
    if (rv != 0 || res->code != 0) return NULL;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, res->payload_len, res->payload);
    if (m) return m;
    res->code = KASBOEK__V1__CODE__INTERNAL;
    copy_text(res->reason, sizeof res->reason, "MALFORMED_REPLY");
    res->field[0] = '\0';
    snprintf(res->message, sizeof res->message, "reply payload does not decode as %s", d->name);
    return NULL;
}

int kb_client_command(kb_client *c, const char *method, const ProtobufCMessage *request,
                      const kb_client_call_opts *opts, kb_client_result *res,
                      Kasboek__V1__CommandResult **out) {
    int rv = kb_client_call(c, method, request, opts, res);
    *out = (Kasboek__V1__CommandResult *)unpack_reply(rv, res,
                                                      &kasboek__v1__command_result__descriptor);
    return rv;
}

int kb_client_get_payment(kb_client *c, const char *payment_id, kb_client_result *res,
                          Kasboek__V1__GetPaymentReply **out) {
    Kasboek__V1__GetPaymentRequest q = KASBOEK__V1__GET_PAYMENT_REQUEST__INIT;
    q.payment_id = (char *)payment_id;
    int rv = kb_client_call(c, "GetPayment", &q.base, NULL, res);
    *out = (Kasboek__V1__GetPaymentReply *)unpack_reply(
        rv, res, &kasboek__v1__get_payment_reply__descriptor);
    return rv;
}

int kb_client_list_payments(kb_client *c, const Kasboek__V1__ListPaymentsRequest *q,
                            kb_client_result *res, Kasboek__V1__ListPaymentsReply **out) {
    int rv = kb_client_call(c, "ListPayments", &q->base, NULL, res);
    *out = (Kasboek__V1__ListPaymentsReply *)unpack_reply(
        rv, res, &kasboek__v1__list_payments_reply__descriptor);
    return rv;
}

int kb_client_read_events(kb_client *c, uint64_t from_seq, uint32_t limit, kb_client_result *res,
                          Kasboek__V1__ReadEventsReply **out) {
    Kasboek__V1__ReadEventsRequest q = KASBOEK__V1__READ_EVENTS_REQUEST__INIT;
    q.from_seq = from_seq;
    q.limit = limit;
    int rv = kb_client_call(c, "ReadEvents", &q.base, NULL, res);
    *out = (Kasboek__V1__ReadEventsReply *)unpack_reply(
        rv, res, &kasboek__v1__read_events_reply__descriptor);
    return rv;
}

int kb_client_status(kb_client *c, kb_client_result *res, Kasboek__V1__StatusReply **out) {
    Kasboek__V1__GetStatusRequest q = KASBOEK__V1__GET_STATUS_REQUEST__INIT;
    int rv = kb_client_call(c, "GetStatus", &q.base, NULL, res);
    *out =
        (Kasboek__V1__StatusReply *)unpack_reply(rv, res, &kasboek__v1__status_reply__descriptor);
    return rv;
}
