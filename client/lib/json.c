/* Generic protobuf-c -> JSON printer (see kasboek_json.h for the mapping). */
#include "kasboek_json.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inspect.h"
#include "kasboek.pb-c.h"

#define KB_JSON_DEPTH_MAX       32
#define KB_JSON_ENUM_PREFIX_MAX 128

typedef struct jw {
    FILE *out;
    int indent;
    bool decode_event_payload;
    int depth;
} jw;

static void jw_newline(jw *w) {
    if (w->indent <= 0) return;
    fputc('\n', w->out);
    for (int i = 0; i < w->depth * w->indent; i++) fputc(' ', w->out);
}

/* ------------------------------------------------------------ strings */

/* Length of the valid UTF-8 sequence at s (at most left bytes), or 0 if the
 * bytes there are not one (overlong forms and surrogates are invalid). */
static size_t utf8_seq_len(const unsigned char *s, size_t left) {
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (left < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0u) != 0x80u) return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return n;
}

static void write_escape(FILE *out, unsigned char c) {
    switch (c) {
        case '"':
            fputs("\\\"", out);
            return;
        case '\\':
            fputs("\\\\", out);
            return;
        case '\b':
            fputs("\\b", out);
            return;
        case '\f':
            fputs("\\f", out);
            return;
        case '\n':
            fputs("\\n", out);
            return;
        case '\r':
            fputs("\\r", out);
            return;
        case '\t':
            fputs("\\t", out);
            return;
        default:
            fprintf(out, "\\u%04x", (unsigned)c);
            return;
    }
}

void kb_json_write_string(FILE *out, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    size_t i = 0;
    while (p && i < len) {
        unsigned char c = p[i];
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7F) {
            write_escape(out, c);
            i++;
            continue;
        }
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0) {
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        fwrite(p + i, 1, n, out);
        i += n;
    }
    fputc('"', out);
}

static void write_cstring(FILE *out, const char *s) {
    if (!s) {
        fputs("null", out);
        return;
    }
    kb_json_write_string(out, s, strlen(s));
}

static void write_hex(FILE *out, const ProtobufCBinaryData *b) {
    static const char digits[] = "0123456789abcdef";
    fputc('"', out);
    for (size_t i = 0; b->data && i < b->len; i++) {
        fputc(digits[b->data[i] >> 4], out);
        fputc(digits[b->data[i] & 0x0F], out);
    }
    fputc('"', out);
}

/* -------------------------------------------------------------- enums */

int kb_json_enum_name(const ProtobufCEnumDescriptor *d, int value, char *buf, size_t n) {
    return kb_pb_enum_name(d, value, buf, n);
}

bool kb_json_enum_parse(const ProtobufCEnumDescriptor *d, const char *name, int *value) {
    if (!name || !name[0]) return false;
    size_t skip = kb_pb_enum_prefix_len(d);
    for (unsigned i = 0; i < d->n_values; i++) {
        const char *full = d->values[i].name;
        if (strcasecmp(name, full + skip) == 0 || strcasecmp(name, full) == 0) {
            *value = d->values[i].value;
            return true;
        }
    }
    return false;
}

static void write_enum(FILE *out, const ProtobufCEnumDescriptor *d, int value) {
    char name[KB_JSON_ENUM_PREFIX_MAX];
    if (d && kb_json_enum_name(d, value, name, sizeof name) >= 0) {
        write_cstring(out, name);
    } else {
        fprintf(out, "%d", value);
    }
}

/* ------------------------------------------------------------ messages */

static void write_message(jw *w, const ProtobufCMessage *msg);

static size_t element_size(ProtobufCType type) {
    switch (type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            return sizeof(int32_t);
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            return sizeof(int64_t);
        case PROTOBUF_C_TYPE_FLOAT:
            return sizeof(float);
        case PROTOBUF_C_TYPE_DOUBLE:
            return sizeof(double);
        case PROTOBUF_C_TYPE_BOOL:
            return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_ENUM:
            return sizeof(int);
        case PROTOBUF_C_TYPE_STRING:
            return sizeof(char *);
        case PROTOBUF_C_TYPE_BYTES:
            return sizeof(ProtobufCBinaryData);
        case PROTOBUF_C_TYPE_MESSAGE:
            return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static void write_double(FILE *out, double v) {
    if (isfinite(v))
        fprintf(out, "%.17g", v);
    else
        fputs("null", out);
}

/* One value of field f stored at p. */
static void write_value(jw *w, const ProtobufCFieldDescriptor *f, const void *p) {
    FILE *out = w->out;
    switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
            fprintf(out, "%" PRId32, *(const int32_t *)p);
            break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            fprintf(out, "%" PRIu32, *(const uint32_t *)p);
            break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            fprintf(out, "%" PRId64, *(const int64_t *)p);
            break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            fprintf(out, "%" PRIu64, *(const uint64_t *)p);
            break;
        case PROTOBUF_C_TYPE_FLOAT:
            write_double(out, *(const float *)p);
            break;
        case PROTOBUF_C_TYPE_DOUBLE:
            write_double(out, *(const double *)p);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            fputs(*(const protobuf_c_boolean *)p ? "true" : "false", out);
            break;
        case PROTOBUF_C_TYPE_ENUM:
            write_enum(out, f->descriptor, *(const int *)p);
            break;
        case PROTOBUF_C_TYPE_STRING:
            write_cstring(out, *(char *const *)p);
            break;
        case PROTOBUF_C_TYPE_BYTES:
            write_hex(out, (const ProtobufCBinaryData *)p);
            break;
        case PROTOBUF_C_TYPE_MESSAGE:
            write_message(w, *(ProtobufCMessage *const *)p);
            break;
    }
}

static void write_repeated(jw *w, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg) {
    const char *base = (const char *)msg;
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *arr = *(char *const *)(base + f->offset);
    size_t size = element_size(f->type);
    if (n == 0 || !arr) {
        fputs("[]", w->out);
        return;
    }
    fputc('[', w->out);
    w->depth++;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) fputc(',', w->out);
        jw_newline(w);
        write_value(w, f, arr + i * size);
    }
    w->depth--;
    jw_newline(w);
    fputc(']', w->out);
}

/* Whether field f of msg is printed at all (oneof members and proto2
 * optionals only when set). */
static bool field_present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg) {
    const char *base = (const char *)msg;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    }
    if (f->label != PROTOBUF_C_LABEL_OPTIONAL) return true;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE || f->type == PROTOBUF_C_TYPE_STRING) {
        return *(void *const *)(base + f->offset) != NULL;
    }
    return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
}

static void write_key(jw *w, const char *key, bool *first) {
    if (!*first) fputc(',', w->out);
    *first = false;
    jw_newline(w);
    write_cstring(w->out, key);
    fputs(w->indent > 0 ? ": " : ":", w->out);
}

/* EventRecord.payload as "event": {...}; false if it does not decode. */
static bool write_event_payload(jw *w, const ProtobufCBinaryData *b, bool *first) {
    Kasboek__V1__Event *ev = kasboek__v1__event__unpack(NULL, b->len, b->data);
    if (!ev) return false;
    write_key(w, "event", first);
    write_message(w, &ev->base);
    kasboek__v1__event__free_unpacked(ev, NULL);
    return true;
}

static void write_field(jw *w, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg,
                        bool *first) {
    const char *p = (const char *)msg + f->offset;
    if (w->decode_event_payload && msg->descriptor == &kasboek__v1__event_record__descriptor &&
        f->type == PROTOBUF_C_TYPE_BYTES && strcmp(f->name, "payload") == 0 &&
        write_event_payload(w, (const ProtobufCBinaryData *)p, first)) {
        return;
    }
    write_key(w, f->name, first);
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        write_repeated(w, f, msg);
    else
        write_value(w, f, p);
}

static void write_fields(jw *w, const ProtobufCMessage *msg, bool *first) {
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (field_present(f, msg)) write_field(w, f, msg, first);
    }
}

static void write_object(jw *w, const ProtobufCMessage *msg, const kb_json_extra *extra,
                         size_t n_extra) {
    bool first = true;
    fputc('{', w->out);
    w->depth++;
    for (size_t i = 0; i < n_extra; i++) {
        write_key(w, extra[i].key, &first);
        write_cstring(w->out, extra[i].value);
    }
    write_fields(w, msg, &first);
    w->depth--;
    if (!first) jw_newline(w);
    fputc('}', w->out);
}

static void write_message(jw *w, const ProtobufCMessage *msg) {
    if (!msg || w->depth >= KB_JSON_DEPTH_MAX) {
        fputs("null", w->out);
        return;
    }
    write_object(w, msg, NULL, 0);
}

int kb_json_write(FILE *out, const ProtobufCMessage *msg, const kb_json_opts *opts) {
    if (!out || !msg) return -1;
    jw w = {.out = out, .indent = 0, .decode_event_payload = false, .depth = 0};
    const kb_json_extra *extra = NULL;
    size_t n_extra = 0;
    if (opts) {
        w.indent = opts->indent;
        w.decode_event_payload = opts->decode_event_payload;
        extra = opts->extra;
        n_extra = opts->extra ? opts->n_extra : 0;
    }
    write_object(&w, msg, extra, n_extra);
    return ferror(out) ? -1 : 0;
}
