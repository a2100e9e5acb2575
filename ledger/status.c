#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

const char *kb_status_str(kb_status s) {
    switch (s) {
        case KB_OK:
            return "ok";
        case KB_ERR_IO:
            return "i/o error";
        case KB_ERR_CORRUPT:
            return "corrupt record";
        case KB_ERR_NOMEM:
            return "out of memory";
        case KB_ERR_LIMIT:
            return "limit reached";
        case KB_ERR_NOT_FOUND:
            return "not found";
        case KB_ERR_STATE:
            return "invalid state";
        case KB_ERR_ARG:
            return "invalid argument";
    }
    return "unknown status";
}

static const char *const code_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *kb_code_str(kb_code c) {
    if ((unsigned)c < sizeof code_names / sizeof code_names[0]) return code_names[c];
    return "UNKNOWN";
}

static const char *const reason_names[] = {
#define KB_REASON_NAME(name, code) #name,
    KB_REASONS(KB_REASON_NAME)
#undef KB_REASON_NAME
};

static const kb_code reason_codes[] = {
#define KB_REASON_CODE(name, code) KB_CODE_##code,
    KB_REASONS(KB_REASON_CODE)
#undef KB_REASON_CODE
};

const char *kb_reason_str(kb_reason r) {
    if (r == KB_REASON_NONE || (unsigned)r >= KB_REASON_COUNT_) return "";
    return reason_names[r];
}

kb_code kb_reason_code(kb_reason r) {
    if ((unsigned)r >= KB_REASON_COUNT_) return KB_CODE_INTERNAL;
    return reason_codes[r];
}

void kb_error_clear(kb_error *e) {
    memset(e, 0, sizeof *e);
}

/* Fuzzing fix: field and message go out in proto3 string fields, which
 * must be UTF-8 (strict decoders refuse the whole reply otherwise). A
 * precision ("'%.8s'" of a currency), the length bound, or input echoed as
 * is (a batch command's method, never inspected) could leave a broken
 * sequence: every byte not part of a well-formed one becomes '?'. */
static void utf8_scrub(char *s) {
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        size_t n = 1;
        while (n <= 4 && n <= len - i && !kb_utf8_valid(s + i, n)) n++;
        if (n <= 4 && n <= len - i) {
            i += n; /* one well-formed sequence */
        } else {
            s[i++] = '?';
        }
    }
}

kb_code kb_error_set(kb_error *e, kb_reason reason, const char *field, const char *fmt, ...) {
    e->code = kb_reason_code(reason);
    e->reason = reason;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    utf8_scrub(e->field);
    utf8_scrub(e->message);
    return e->code;
}

void kb_panic(const char *file, int line, const char *what) {
    fprintf(stderr, "kasboek: invariant broken at %s:%d: %s\n", file, line, what);
    abort();
}
