/* A generic protobuf-c -> JSON printer, driven by the message descriptors.
 *
 * Mapping (kasboek's JSON, close to proto3 JSON with proto field names):
 *  - every field is printed under its proto name ("payment_id"), in field
 *    number order, default values included, so scripts see a fixed shape;
 *  - string: JSON-escaped (invalid UTF-8 bytes become U+FFFD);
 *  - bytes: lowercase hex string;
 *  - int32/int64/uint32/uint64 (all fixed/sint variants): JSON numbers,
 *    exact (a 64-bit reader such as jq 1.7 or Python keeps them exact);
 *  - bool: true/false; float/double: "%.17g" (null if not finite);
 *  - enum: the value's name in lower case with the enum's prefix stripped
 *    (PAYMENT_STATUS_PARTIALLY_REFUNDED -> "partially_refunded"); a number
 *    the descriptor does not know is printed as a JSON number;
 *  - message: nested object; an absent (NULL) sub-message is null;
 *  - repeated: array (empty: []);
 *  - oneof: only the member that is set; nothing when none is;
 *  - Money comes out as {"amount": 1250, "currency": "EUR"} (integer minor
 *    units) by the rules above.
 * With decode_event_payload, a kasboek.v1.EventRecord's payload is decoded
 * as a kasboek.v1.Event and printed as "event": {...} in place of
 * "payload" (hex is kept if it does not decode). */
#ifndef KASBOEK_JSON_H
#define KASBOEK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

/* An extra string member printed first in the top-level object. */
typedef struct kb_json_extra {
    const char *key;
    const char *value;
} kb_json_extra;

typedef struct kb_json_opts {
    int indent;                 /* spaces per level; 0 = one line */
    bool decode_event_payload;  /* EventRecord.payload -> "event" */
    const kb_json_extra *extra; /* may be NULL */
    size_t n_extra;
} kb_json_opts;

/* Writes msg as one JSON value (no trailing newline) to out. opts may be
 * NULL (one line, no decoding). Returns 0, or -1 if writing failed
 * (ferror(out)) or msg is NULL. Nesting deeper than 32 levels prints null. */
int kb_json_write(FILE *out, const ProtobufCMessage *msg, const kb_json_opts *opts);

/* Writes s (len bytes) as a JSON string literal with its quotes. */
void kb_json_write_string(FILE *out, const char *s, size_t len);

/* The short lower-case name of an enum value ("partially_refunded") into
 * buf (n bytes, NUL-terminated). Returns the length, or -1 when the value is
 * unknown to the descriptor or buf is too small (buf then holds ""). */
int kb_json_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n);

/* The reverse: "partially_refunded" (case-insensitive; the full name
 * "PAYMENT_STATUS_PARTIALLY_REFUNDED" works too) -> *value. Returns true and
 * writes *value only on a match. */
bool kb_json_enum_parse(const ProtobufCEnumDescriptor *d, const char *name, int *value);

#endif
