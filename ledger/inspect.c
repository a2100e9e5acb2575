#include "inspect.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "kb_limits.h"
#include "validate.h"

typedef struct walk {
    kb_error *err;
    char path[KB_FIELD_LEN_MAX + 1];
} walk;

static bool walk_msg(walk *w, const ProtobufCMessage *m, size_t depth);

static void path_fail(walk *w, kb_reason r, const char *what) {
    kb_error_set(w->err, r, w->path, "%s: %s", w->path, what);
}

static bool check_string(walk *w, const char *s, size_t max) {
    size_t n = strlen(s);
    if (!kb_utf8_valid(s, n)) {
        path_fail(w, KB_REASON_INVALID_UTF8, "not valid UTF-8");
        return false;
    }
    if (n > max) {
        path_fail(w, KB_REASON_TEXT_TOO_LONG, "text too long");
        return false;
    }
    if (kb_contains_card_number(s, n)) {
        path_fail(w, KB_REASON_CARD_NUMBER_NOT_ALLOWED, "looks like a card number; never send one");
        return false;
    }
    return true;
}

static bool check_value(walk *w, const ProtobufCFieldDescriptor *f, const void *p, size_t depth) {
    switch (f->type) {
        case PROTOBUF_C_TYPE_STRING: {
            size_t max = strcmp(f->name, "key") == 0 ? KB_META_KEY_LEN_MAX : KB_TEXT_LEN_MAX;
            return check_string(w, *(char *const *)p, max);
        }
        case PROTOBUF_C_TYPE_ENUM: {
            int v = *(const int *)p;
            if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v)) {
                path_fail(w, KB_REASON_INVALID_ENUM, "unknown enum value");
                return false;
            }
            return true;
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
            const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
            return sub ? walk_msg(w, sub, depth + 1) : true;
        }
        default:
            return true;
    }
}

static bool walk_field(walk *w, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
                       size_t depth) {
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *)(base + f->quantifier_offset) != f->id) return true;
    }
    size_t plen = strlen(w->path);
    snprintf(w->path + plen, sizeof w->path - plen, "%s%s", plen ? "." : "", f->name);
    bool ok = true;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *)(base + f->quantifier_offset);
        const char *arr = *(char *const *)(base + f->offset);
        size_t sz = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE
                        ? sizeof(void *)
                    : f->type == PROTOBUF_C_TYPE_ENUM ? sizeof(int)
                                                      : 0;
        if (n > KB_LINE_ITEMS_MAX) {
            path_fail(w, KB_REASON_TOO_MANY_ITEMS, "too many entries");
            return false;
        }
        size_t flen = strlen(w->path);
        for (size_t i = 0; ok && sz && i < n; i++) {
            snprintf(w->path + flen, sizeof w->path - flen, "[%zu]", i);
            ok = check_value(w, f, arr + i * sz, depth);
        }
        if (ok) w->path[flen] = '\0';
    } else {
        ok = check_value(w, f, base + f->offset, depth);
    }
    if (ok) w->path[plen] = '\0';
    return ok;
}

/* Fuzzing fix: protobuf-c keeps the fields a message does not declare and
 * packs them out again, so an unknown field inside, say, the amount's Money
 * went into the event and the state unchecked: a card number, or text of
 * any length (past the bounds the arenas are sized for). Refused, naming
 * the message that holds it ("payload" at the top). */
static bool check_unknown(walk *w, const ProtobufCMessage *m) {
    if (m->n_unknown_fields == 0) return true;
    kb_error_set(w->err, KB_REASON_MALFORMED_PAYLOAD, w->path[0] ? w->path : "payload",
                 "%s: unknown field %u", w->path[0] ? w->path : "payload",
                 (unsigned)m->unknown_fields[0].tag);
    return false;
}

static bool walk_msg(walk *w, const ProtobufCMessage *m, size_t depth) {
    if (depth > 8) {
        path_fail(w, KB_REASON_MALFORMED_PAYLOAD, "nested too deeply");
        return false;
    }
    if (!check_unknown(w, m)) return false;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        if (!walk_field(w, m, &d->fields[i], depth)) return false;
    }
    return true;
}

bool kb_inspect_message(const ProtobufCMessage *msg, kb_error *err) {
    walk w = {.err = err, .path = ""};
    return walk_msg(&w, msg, 0);
}

static const ProtobufCFieldDescriptor *field(const ProtobufCMessage *m, const char *name,
                                             ProtobufCType type) {
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
    if (!f || f->type != type || f->label == PROTOBUF_C_LABEL_REPEATED) return NULL;
    return f;
}

const char *kb_pb_string(const ProtobufCMessage *m, const char *name) {
    const ProtobufCFieldDescriptor *f = field(m, name, PROTOBUF_C_TYPE_STRING);
    return f ? *(char *const *)((const char *)m + f->offset) : NULL;
}

bool kb_pb_int64(const ProtobufCMessage *m, const char *name, int64_t *out) {
    const ProtobufCFieldDescriptor *f = field(m, name, PROTOBUF_C_TYPE_INT64);
    if (!f) return false;
    *out = *(const int64_t *)((const char *)m + f->offset);
    return true;
}

bool kb_pb_uint64(const ProtobufCMessage *m, const char *name, uint64_t *out) {
    const ProtobufCFieldDescriptor *f = field(m, name, PROTOBUF_C_TYPE_UINT64);
    if (!f) return false;
    *out = *(const uint64_t *)((const char *)m + f->offset);
    return true;
}

bool kb_pb_set_uint64(ProtobufCMessage *m, const char *name, uint64_t v) {
    const ProtobufCFieldDescriptor *f = field(m, name, PROTOBUF_C_TYPE_UINT64);
    if (!f) return false;
    *(uint64_t *)((char *)m + f->offset) = v;
    return true;
}

/* -------------------------------------------------------------- enums */

#define KB_ENUM_NAME_BYTES_MAX 128

/* "PaymentStatus" -> "PAYMENT_STATUS_". Returns false if it does not fit. */
static bool enum_type_prefix(const char *short_name, char *buf, size_t n) {
    size_t o = 0;
    for (size_t i = 0; short_name && short_name[i]; i++) {
        char c = short_name[i];
        bool upper = isupper((unsigned char)c);
        bool after_lower = i > 0 && (islower((unsigned char)short_name[i - 1]) ||
                                     isdigit((unsigned char)short_name[i - 1]));
        bool acronym_end = i > 0 && isupper((unsigned char)short_name[i - 1]) &&
                           islower((unsigned char)short_name[i + 1]);
        if (upper && (after_lower || acronym_end)) {
            if (o + 1 >= n) return false;
            buf[o++] = '_';
        }
        if (o + 1 >= n) return false;
        buf[o++] = (char)toupper((unsigned char)c);
    }
    if (o + 2 > n) return false;
    buf[o++] = '_';
    buf[o] = '\0';
    return true;
}

static bool all_values_start_with(const ProtobufCEnumDescriptor *d, const char *prefix) {
    size_t len = strlen(prefix);
    for (unsigned i = 0; i < d->n_values; i++) {
        if (strncmp(d->values[i].name, prefix, len) != 0) return false;
        if (d->values[i].name[len] == '\0') return false; /* nothing would be left */
    }
    return true;
}

/* Length of the prefix to strip from every value name of d: the enum's type
 * name in UPPER_SNAKE when all values carry it, else the values' common
 * prefix up to and including its last '_' (for 2+ values), else 0. */
size_t kb_pb_enum_prefix_len(const ProtobufCEnumDescriptor *d) {
    char prefix[KB_ENUM_NAME_BYTES_MAX];
    if (d->n_values == 0) return 0;
    if (enum_type_prefix(d->short_name, prefix, sizeof prefix) &&
        all_values_start_with(d, prefix)) {
        return strlen(prefix);
    }
    if (d->n_values < 2) return 0;
    const char *first = d->values[0].name;
    size_t common = strlen(first);
    for (unsigned i = 1; i < d->n_values; i++) {
        size_t k = 0;
        while (k < common && d->values[i].name[k] == first[k]) k++;
        common = k;
    }
    while (common > 0 && first[common - 1] != '_') common--;
    for (unsigned i = 0; i < d->n_values; i++) {
        if (d->values[i].name[common] == '\0') return 0;
    }
    return common;
}

int kb_pb_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n) {
    if (n > 0) buf[0] = '\0';
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, value);
    if (!v) return -1;
    const char *s = v->name + kb_pb_enum_prefix_len(d);
    size_t len = strlen(s);
    if (len + 1 > n) return -1;
    for (size_t i = 0; i < len; i++) buf[i] = (char)tolower((unsigned char)s[i]);
    buf[len] = '\0';
    return (int)len;
}
