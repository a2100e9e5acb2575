/* Fuzz target: the pure text checks and parsers on arbitrary bytes.
 *
 * Input: the whole input (and a NUL-terminated copy) goes through
 * kb_utf8_valid (against a reference decoder), kb_contains_card_number,
 * kb_email_valid, kb_id_valid, kb_idempotency_key_valid, kb_time_parse and
 * kb_date_parse; byte 0 picks a currency and the rest goes through
 * kb_money_parse; the first 8 bytes as an int64 go through kb_money_format
 * and kb_time_format, the first 4 as an int32 through kb_date_format.
 *
 * Round trips: parse(format(x)) == x for every value parsed, and for every
 * value that formats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "harness.h"
#include "money.h"
#include "validate.h"

static const char *const currencies[] = {"EUR", "JPY", "BHD", "CLF", "XXX", "eur"};
#define N_CURRENCIES (sizeof currencies / sizeof currencies[0])

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    return 0;
}

/* Decodes code points the textbook way: a different algorithm than
 * kb_utf8_valid's table of second-byte ranges. */
static bool utf8_reference(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t c = s[i], min;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, c &= 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            len = 3, c &= 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            len = 4, c &= 0x07, min = 0x10000;
        else
            return false;
        if (n - i < len) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            c = c << 6 | (s[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

static void check_texts(const uint8_t *data, size_t size, const char *s) {
    FZ_CHECK(kb_utf8_valid((const char *)data, size) == utf8_reference(data, size));
    if (kb_contains_card_number((const char *)data, size)) {
        size_t digits = 0;
        for (size_t i = 0; i < size; i++) digits += data[i] >= '0' && data[i] <= '9';
        FZ_CHECK(digits >= 13);
    }
    (void)kb_email_valid(s);
    if (kb_id_valid(s)) FZ_CHECK(strlen(s) <= KB_ID_LEN_MAX && kb_utf8_valid(s, strlen(s)));
    if (kb_idempotency_key_valid(s)) FZ_CHECK(strlen(s) <= KB_IDEMPOTENCY_KEY_LEN_MAX);
}

static void money_round_trip(int64_t x, const char *currency) {
    char buf[40];
    int n = kb_money_format(x, currency, buf, sizeof buf);
    if (kb_currency_exponent(currency) < 0) {
        FZ_CHECK(n == -1 && buf[0] == '\0');
        return;
    }
    FZ_CHECK(n > 0 && (size_t)n == strlen(buf));
    int64_t back = 0;
    FZ_CHECK(kb_money_parse(buf, currency, &back) == KB_OK);
    FZ_CHECK(back == x);
}

static void time_round_trip(int64_t t) {
    char buf[40];
    if (kb_time_format(t, buf, sizeof buf) < 0) return;
    int64_t back = 0;
    FZ_CHECK(kb_time_parse(buf, &back) == KB_OK);
    FZ_CHECK(back == t);
}

static void date_round_trip(int32_t d) {
    char buf[16];
    if (kb_date_format(d, buf, sizeof buf) < 0) return;
    int32_t back = 0;
    FZ_CHECK(kb_date_parse(buf, &back) == KB_OK);
    FZ_CHECK(back == d);
}

static void check_parsers(const char *s, const char *currency) {
    int64_t x;
    if (kb_money_parse(s, currency, &x) == KB_OK) money_round_trip(x, currency);
    int64_t t;
    if (kb_time_parse(s, &t) == KB_OK) time_round_trip(t);
    int32_t d;
    if (kb_date_parse(s, &d) == KB_OK) date_round_trip(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    FZ_CHECK(s);
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    check_texts(data, size, s);
    if (size >= 1) check_parsers(s + 1, currencies[data[0] % N_CURRENCIES]);
    check_parsers(s, "EUR");
    if (size >= 8) {
        int64_t x;
        memcpy(&x, data, sizeof x);
        money_round_trip(x, currencies[data[size - 1] % N_CURRENCIES]);
        time_round_trip(x);
        date_round_trip((int32_t)x);
    }
    free(s);
    return 0;
}
