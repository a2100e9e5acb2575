#include "validate.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "kb_limits.h"

#define KB_CARD_DIGITS_MIN 13
#define KB_CARD_DIGITS_MAX 19

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static bool is_id_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}

/* 0x21..0x7e: printable ASCII without the space. */
static bool is_graph_ascii(char c) {
    return (unsigned char)c >= 0x21 && (unsigned char)c <= 0x7e;
}

bool kb_id_valid(const char *s) {
    if (!s) return false;
    size_t len = strnlen(s, KB_ID_LEN_MAX + 1);
    if (len == 0 || len > KB_ID_LEN_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_id_char(s[i])) return false;
    }
    return true;
}

/* The sequence length of lead byte b and the range its second byte must lie
 * in (Unicode Table 3-7, "Well-Formed UTF-8 Byte Sequences"); 0 when b can
 * not start a sequence (continuation bytes, C0, C1, F5..FF). */
static int utf8_lead(unsigned char b, unsigned char *lo, unsigned char *hi) {
    *lo = 0x80;
    *hi = 0xbf;
    if (b <= 0x7f) return 1;
    if (b >= 0xc2 && b <= 0xdf) return 2;
    if (b == 0xe0) *lo = 0xa0; /* no overlongs */
    if (b == 0xed) *hi = 0x9f; /* no surrogates D800..DFFF */
    if (b >= 0xe0 && b <= 0xef) return 3;
    if (b == 0xf0) *lo = 0x90; /* no overlongs */
    if (b == 0xf4) *hi = 0x8f; /* nothing above U+10FFFF */
    if (b >= 0xf0 && b <= 0xf4) return 4;
    return 0;
}

bool kb_utf8_valid(const char *s, size_t len) {
    if (!s) return len == 0;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char lo, hi;
        int n = utf8_lead(u[i], &lo, &hi);
        if (n == 0 || (size_t)n > len - i) return false; /* bad lead or truncated */
        for (int k = 1; k < n; k++) {
            unsigned char c = u[i + (size_t)k];
            if (k == 1 ? (c < lo || c > hi) : (c < 0x80 || c > 0xbf)) return false;
        }
        i += (size_t)n;
    }
    assert(i == len);
    return true;
}

static bool is_upper(char c) {
    return c >= 'A' && c <= 'Z';
}

static bool is_alnum(char c) {
    return is_upper(c) || (c >= 'a' && c <= 'z') || is_digit(c);
}

/* Collects the alphanumerics of an IBAN candidate starting at s[p] (single
 * spaces between groups allowed) into out; returns how many. */
static size_t iban_chars(const char *s, size_t len, size_t p, char out[35]) {
    size_t n = 0;
    for (size_t i = p; i < len && n < 35; i++) {
        if (is_upper(s[i]) || is_digit(s[i])) {
            out[n++] = s[i];
        } else if (!(s[i] == ' ' && i + 1 < len && i > p && is_alnum(s[i - 1]) &&
                     (is_upper(s[i + 1]) || is_digit(s[i + 1])))) {
            break;
        }
    }
    return n;
}

/* The ISO 13616 check: move the first four characters to the end, letters
 * become 10..35, and the number mod 97 is 1. */
static bool iban_checksum_ok(const char *c, size_t n) {
    unsigned r = 0;
    for (size_t k = 0; k < n; k++) {
        char ch = c[(k + 4) % n];
        unsigned v = is_digit(ch) ? (unsigned)(ch - '0') : (unsigned)(ch - 'A' + 10);
        r = v >= 10 ? (r * 100 + v) % 97 : (r * 10 + v) % 97;
    }
    return r == 1;
}

/* A digit run at s[i] right after a word-initial pair of capitals that,
 * with what follows, forms a valid IBAN ("DE89 3704 0044 0532 0130 00")
 * is a bank account, not a card number. */
static bool iban_body_at(const char *s, size_t len, size_t i) {
    if (i < 2 || !is_upper(s[i - 1]) || !is_upper(s[i - 2])) return false;
    if (i > 2 && is_alnum(s[i - 3])) return false;
    char c[35];
    size_t n = iban_chars(s, len, i - 2, c);
    return n >= 15 && n <= 34 && is_digit(c[2]) && is_digit(c[3]) && iban_checksum_ok(c, n);
}

/* The Luhn term of a digit at distance k from the check digit (k = 0 is the
 * check digit itself); odd distances count twice, minus 9 past 9. */
static int luhn_term(int digit, int k) {
    if (k % 2 == 0) return digit;
    int t = digit * 2;
    return t > 9 ? t - 9 : t;
}

/* recent[0..avail-1] are the latest digits of a run, recent[0] the newest.
 * True when some window of 13..19 of them ending at the newest digit passes
 * the Luhn check and starts with a non-zero digit (no issuer number starts
 * with 0; this keeps runs of zeros, which pass Luhn, from matching). */
static bool luhn_window_ending_here(const uint8_t *recent, int avail) {
    assert(avail >= 0 && avail <= KB_CARD_DIGITS_MAX);
    int sum = 0;
    for (int k = 0; k < avail; k++) {
        sum += luhn_term(recent[k], k);
        if (k + 1 >= KB_CARD_DIGITS_MIN && sum % 10 == 0 && recent[k] != 0) return true;
    }
    return false;
}

/* One pass over s. A run is digits where a single ' ' or '-' between two
 * digits continues it; anything else ends it (a separator not followed by a
 * digit ends it at the next byte). At every digit, each window of 13..19
 * run digits ending there is checked, which covers every window of every
 * run, at a cost bounded by 19 steps a byte. A run that is the body of a
 * valid IBAN (country code, check digits passing mod 97) is passed over. */
bool kb_contains_card_number(const char *s, size_t len) {
    if (!s) return false;
    uint8_t recent[KB_CARD_DIGITS_MAX] = {0};
    int avail = 0; /* digits of the current run in recent[], at most 19 */
    bool in_run = false;
    bool coded = false; /* the current run is an IBAN's body */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (is_digit(c) && !in_run) {
            in_run = true;
            coded = iban_body_at(s, len, i);
        }
        if (is_digit(c) && coded) continue;
        if (is_digit(c)) {
            memmove(recent + 1, recent, KB_CARD_DIGITS_MAX - 1);
            recent[0] = (uint8_t)(c - '0');
            if (avail < KB_CARD_DIGITS_MAX) avail++;
            if (avail >= KB_CARD_DIGITS_MIN && luhn_window_ending_here(recent, avail)) return true;
            continue;
        }
        bool separator = (c == ' ' || c == '-') && i > 0 && is_digit(s[i - 1]);
        if (!separator) {
            avail = 0;
            in_run = false;
        }
    }
    return false;
}

/* Every label of a domain non-empty, and at least two of them. */
static bool domain_plausible(const char *d, size_t len) {
    if (len == 0 || d[0] == '.' || d[len - 1] == '.') return false;
    bool dot = false;
    for (size_t i = 0; i < len; i++) {
        if (d[i] != '.') continue;
        if (d[i + 1] == '.') return false; /* i + 1 < len: the last byte is no dot */
        dot = true;
    }
    return dot;
}

bool kb_email_valid(const char *s) {
    if (!s) return false;
    size_t len = strnlen(s, KB_EMAIL_LEN_MAX + 1);
    if (len < 3 || len > KB_EMAIL_LEN_MAX) return false;
    size_t at = len; /* index of the one '@' */
    for (size_t i = 0; i < len; i++) {
        if (!is_graph_ascii(s[i])) return false;
        if (s[i] != '@') continue;
        if (at != len) return false; /* a second '@' */
        at = i;
    }
    if (at == len || at == 0) return false;
    return domain_plausible(s + at + 1, len - at - 1);
}

bool kb_idempotency_key_valid(const char *s) {
    if (!s) return false;
    size_t len = strnlen(s, KB_IDEMPOTENCY_KEY_LEN_MAX + 1);
    if (len == 0 || len > KB_IDEMPOTENCY_KEY_LEN_MAX) return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_graph_ascii(s[i])) return false;
    }
    return true;
}
