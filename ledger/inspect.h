/* Generic checks over any decoded protobuf message, driven by its
 * descriptor, so every string field of every command is covered without a
 * per-field list: protobuf-c checks no UTF-8, and no card number may be
 * stored in any field (DOMAIN.md §1). */
#ifndef KB_INSPECT_H
#define KB_INSPECT_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

#include "status.h"

/* Walks msg recursively. Every string must be valid UTF-8 (INVALID_UTF8),
 * at most KB_TEXT_LEN_MAX bytes (TEXT_TOO_LONG; metadata keys
 * KB_META_KEY_LEN_MAX) and hold no card number (CARD_NUMBER_NOT_ALLOWED);
 * every enum must hold a declared value (INVALID_ENUM); every repeated
 * field at most KB_LINE_ITEMS_MAX entries (TOO_MANY_ITEMS); no message may
 * carry a field it does not declare (MALFORMED_PAYLOAD, field = the path of
 * the message holding it, "payload" at the top). On the first
 * failure sets err (field = path such as "metadata[2].value") and returns
 * false. */
bool kb_inspect_message(const ProtobufCMessage *msg, kb_error *err);

/* Field access by name; NULL / false when the message has no such field. */
const char *kb_pb_string(const ProtobufCMessage *msg, const char *name);
bool kb_pb_int64(const ProtobufCMessage *msg, const char *name, int64_t *out);
bool kb_pb_uint64(const ProtobufCMessage *msg, const char *name, uint64_t *out);
bool kb_pb_set_uint64(ProtobufCMessage *msg, const char *name, uint64_t v);

/* An enum value's name as the JSON output and the reports spell it: lower
 * case, without the prefix every value of d shares (its type name in
 * UPPER_SNAKE, or else their common prefix up to a '_'):
 * PAYMENT_STATUS_SUCCEEDED -> "succeeded". Returns the length, or -1 when
 * value is not declared or buf is too small (buf then holds ""). */
int kb_pb_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n);
/* The length of that prefix. */
size_t kb_pb_enum_prefix_len(const ProtobufCEnumDescriptor *d);

#endif
