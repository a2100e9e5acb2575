/* libkasboek: the C client API of kasboekd (what microservices link).
 *
 * A kb_client is one nng REQ connection: one call at a time per client
 * (open one client per thread). Every call sends a kasboek.v1.Request
 * envelope and waits for the Response.
 *
 * Ownership: strings passed in are borrowed for the call. kb_client_result
 * owns its payload until kb_client_result_fini. Unpacked replies returned
 * by the typed helpers are owned by the caller and freed with the matching
 * protobuf-c __free_unpacked(…, NULL). */
#ifndef KASBOEK_CLIENT_H
#define KASBOEK_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kasboek.pb-c.h"

#define KB_CLIENT_DEFAULT_URL "ipc://./run/kasboek.sock"
#define KB_CLIENT_DEFAULT_TENANT "default"
#define KB_CLIENT_METHOD_PREFIX "kasboek.v1.Ledger/"

typedef struct kb_client kb_client;

typedef struct kb_client_options {
    const char *url;      /* NULL = $KASBOEK_SERVER, else KB_CLIENT_DEFAULT_URL */
    const char *tenant;   /* NULL = KB_CLIENT_DEFAULT_TENANT */
    const char *api_key;  /* NULL = $KASBOEK_API_KEY, else "" */
    int timeout_ms;       /* per call; 0 = 30000 */
} kb_client_options;

/* Connects (the dial is synchronous: fails if nothing listens). Returns 0,
 * or an nng error number (use kb_client_strerror). */
int kb_client_open(const kb_client_options *opts, kb_client **out);
void kb_client_close(kb_client *c);
const char *kb_client_strerror(int err);

/* The outcome of one call. code is a gRPC canonical code (0 = OK). */
typedef struct kb_client_result {
    int code;
    char reason[64];
    char field[72];
    char message[256];
    uint8_t *payload; /* reply message bytes when code == 0 */
    size_t payload_len;
} kb_client_result;

void kb_client_result_fini(kb_client_result *r);
const char *kb_client_code_str(int code); /* "INVALID_ARGUMENT" */

typedef struct kb_client_call_opts {
    const char *idempotency_key;  /* NULL or "" = none */
    bool has_expected_version;
    uint64_t expected_version;
    const char *tenant;           /* NULL = the client's */
} kb_client_call_opts;

/* Sends method ("RecordPayment" or "kasboek.v1.Ledger/RecordPayment") with
 * request (may be NULL for an empty payload). Returns 0 when a Response
 * arrived (its code in *res), else an nng error number (timeout, closed).
 * opts may be NULL. */
int kb_client_call(kb_client *c, const char *method, const ProtobufCMessage *request,
                   const kb_client_call_opts *opts, kb_client_result *res);

/* Sends raw payload bytes as they are (tests of bad input). */
int kb_client_call_raw(kb_client *c, const char *method, const uint8_t *payload, size_t len,
                       const kb_client_call_opts *opts, kb_client_result *res);

/* Sends raw envelope bytes (not a Request at all) and returns the raw
 * reply bytes in res->payload with code -1 if it does not decode. */
int kb_client_send_bytes(kb_client *c, const uint8_t *bytes, size_t len, kb_client_result *res);

/* Typed helpers: call + unpack the reply on OK (*out owned by the caller),
 * *out = NULL otherwise. Return as kb_client_call. */
int kb_client_command(kb_client *c, const char *method, const ProtobufCMessage *request,
                      const kb_client_call_opts *opts, kb_client_result *res,
                      Kasboek__V1__CommandResult **out);
int kb_client_get_payment(kb_client *c, const char *payment_id, kb_client_result *res,
                          Kasboek__V1__GetPaymentReply **out);
int kb_client_list_payments(kb_client *c, const Kasboek__V1__ListPaymentsRequest *q,
                            kb_client_result *res, Kasboek__V1__ListPaymentsReply **out);
int kb_client_read_events(kb_client *c, uint64_t from_seq, uint32_t limit,
                          kb_client_result *res, Kasboek__V1__ReadEventsReply **out);
int kb_client_status(kb_client *c, kb_client_result *res, Kasboek__V1__StatusReply **out);

#endif
