#include "keys.h"

#include <stdlib.h>
#include <string.h>

#include "store.h"

void kb_key_init(kb_key *k) {
    k->len = 0;
}

void kb_key_raw(kb_key *k, const void *p, size_t n) {
    /* Keys are built from validated, bounded ids; stays on in release. */
    if (k->len + n > KB_KEY_BYTES_MAX) abort();
    memcpy(k->bytes + k->len, p, n);
    k->len += n;
}

void kb_key_add(kb_key *k, const char *s) {
    if (k->len) kb_key_raw(k, "/", 1);
    kb_key_raw(k, s, strlen(s));
}

bool kb_key_parse_hex64(const char *p, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

void kb_key_raw_hex64(kb_key *k, uint64_t v) {
    static const char hex[] = "0123456789abcdef";
    char buf[16];
    for (int i = 15; i >= 0; i--) {
        buf[i] = hex[v & 0xfu];
        v >>= 4;
    }
    kb_key_raw(k, buf, sizeof buf);
}

void kb_key_add_hex64(kb_key *k, uint64_t v) {
    if (k->len) kb_key_raw(k, "/", 1);
    kb_key_raw_hex64(k, v);
}

void kb_cursor_num_put(char out[16], uint64_t v) {
    for (int i = 15; i >= 0; i--) {
        out[i] = (char)('a' + (v & 0xfu));
        v >>= 4;
    }
}

bool kb_cursor_num_get(const char *p, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        if (p[i] < 'a' || p[i] > 'p') return false;
        v = v << 4 | (uint64_t)(p[i] - 'a');
    }
    *out = v;
    return true;
}

void kb_key_prefix_end(const kb_key *prefix, kb_key *out) {
    *out = *prefix;
    while (out->len > 0) {
        unsigned char c = (unsigned char)out->bytes[out->len - 1];
        if (c != 0xffu) {
            out->bytes[out->len - 1] = (char)(c + 1);
            return;
        }
        out->len--;
    }
}

void kb_key_state(kb_key *k, const char *tenant, const char *type, const char *id) {
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, type);
    kb_key_add(k, id);
}

void kb_key_stream(kb_key *k, const char *tenant, const char *type, const char *id,
                   uint64_t version) {
    kb_key_state(k, tenant, type, id);
    kb_key_add_hex64(k, version);
}

void kb_key_idempotency(kb_key *k, const char *tenant, const char *idem_key) {
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, idem_key);
}

void kb_key_event(kb_key *k, uint64_t seq) {
    unsigned char b[8];
    kb_be64_put(b, seq);
    kb_key_init(k);
    kb_key_raw(k, b, 8);
}
