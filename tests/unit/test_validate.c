#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "kb_limits.h"
#include "validate.h"

/* A string of n copies of c (n < 1024). */
static const char *repeat(char c, size_t n) {
    static char buf[1024];
    assert_true(n < sizeof buf);
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

static void test_id(void **state) {
    (void)state;
    assert_true(kb_id_valid("a"));
    assert_true(kb_id_valid("pay_123-ABC"));
    assert_true(kb_id_valid("0"));
    assert_true(kb_id_valid(repeat('x', KB_ID_LEN_MAX)));
    assert_false(kb_id_valid(repeat('x', KB_ID_LEN_MAX + 1)));
    assert_false(kb_id_valid(repeat('x', 500)));
    const char *bad[] = {"",    "a b", " a",   "a ",   "a/b",         "a.b",   "a:b",
                         "a@b", "a+b", "a\tb", "a\nb", "caf\xc3\xa9", "a\x7f", "tenant/payment"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(kb_id_valid(bad[i]));
    assert_false(kb_id_valid(NULL));
}

static bool utf8(const char *s) {
    return kb_utf8_valid(s, strlen(s));
}

static void test_utf8_examples(void **state) {
    (void)state;
    assert_true(kb_utf8_valid("", 0));
    assert_true(kb_utf8_valid(NULL, 0));
    assert_false(kb_utf8_valid(NULL, 1));
    assert_true(utf8("plain ascii ~"));
    assert_true(utf8("caf\xc3\xa9"));                          /* U+00E9 */
    assert_true(utf8("\xc2\x80"));                             /* U+0080, smallest 2-byte */
    assert_true(utf8("\xdf\xbf"));                             /* U+07FF */
    assert_true(utf8("\xe0\xa0\x80"));                         /* U+0800, smallest 3-byte */
    assert_true(utf8("\xe2\x82\xac 12"));                      /* euro sign */
    assert_true(utf8("\xed\x9f\xbf"));                         /* U+D7FF, below surrogates */
    assert_true(utf8("\xee\x80\x80"));                         /* U+E000, above surrogates */
    assert_true(utf8("\xef\xbf\xbf"));                         /* U+FFFF */
    assert_true(utf8("\xf0\x90\x80\x80"));                     /* U+10000 */
    assert_true(utf8("\xf0\x9d\x84\x9e"));                     /* U+1D11E */
    assert_true(utf8("\xf4\x8f\xbf\xbf"));                     /* U+10FFFF */
    assert_true(utf8("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e")); /* three CJK */
    assert_true(kb_utf8_valid("a\0b", 3));                     /* U+0000 is well-formed */

    const char *bad[] = {
        "\x80", /* lone continuation */
        "\xbf",
        "a\x80z",
        "\xc0\x80",                 /* overlong NUL */
        "\xc1\xbf",                 /* overlong U+007F */
        "\xe0\x80\x80",             /* overlong */
        "\xe0\x9f\xbf",             /* overlong U+07FF */
        "\xf0\x80\x80\x80",         /* overlong */
        "\xf0\x8f\xbf\xbf",         /* overlong U+FFFF */
        "\xed\xa0\x80",             /* U+D800 surrogate */
        "\xed\xbf\xbf",             /* U+DFFF surrogate */
        "\xed\xa0\xbd\xed\xb2\xa9", /* CESU-8 pair */
        "\xf4\x90\x80\x80",         /* U+110000 */
        "\xf5\x80\x80\x80",
        "\xf7\xbf\xbf\xbf",
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xfc\x84\x80\x80\x80\x80",
        "\xfe",
        "\xff",
        "\xc3", /* truncated */
        "\xe2\x82",
        "\xf0\x9d\x84",
        "abc\xc3",
        "\xc3\x41", /* bad continuation */
        "\xe2\x28\xa1",
        "\xe2\x82\x28",
        "\xf0\x9d\x28\x9e",
        "\xf0\x9d\x84\xc0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(utf8(bad[i]));
    /* len is honoured: a sequence cut by len is truncated. */
    assert_false(kb_utf8_valid("caf\xc3\xa9", 4));
    assert_true(kb_utf8_valid("caf\xc3\xa9", 3));
    assert_false(kb_utf8_valid("\xf0\x9d\x84\x9e", 3));
}

/* An independent decoder: decode the scalar value, then check it. */
static bool utf8_reference(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) {
            n = 1;
            cp = b;
        } else if ((b & 0xe0) == 0xc0) {
            n = 2;
            cp = b & 0x1fu;
        } else if ((b & 0xf0) == 0xe0) {
            n = 3;
            cp = b & 0x0fu;
        } else if ((b & 0xf8) == 0xf0) {
            n = 4;
            cp = b & 0x07u;
        } else
            return false;
        if (n > len - i) return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n;
    }
    return true;
}

static void test_utf8_exhaustive(void **state) {
    (void)state;
    unsigned char b[4];
    int valid3 = 0;
    for (unsigned x = 0; x < 256; x++) {
        b[0] = (unsigned char)x;
        assert_int_equal(kb_utf8_valid((char *)b, 1), utf8_reference(b, 1));
        for (unsigned y = 0; y < 256; y++) {
            b[1] = (unsigned char)y;
            assert_int_equal(kb_utf8_valid((char *)b, 2), utf8_reference(b, 2));
            for (unsigned z = 0; z < 256; z++) {
                b[2] = (unsigned char)z;
                bool v = kb_utf8_valid((char *)b, 3);
                assert_int_equal(v, utf8_reference(b, 3));
                if (v && x >= 0xe0) valid3++;
            }
        }
    }
    /* Every 3-byte scalar value: U+0800..U+FFFF less 2048 surrogates. */
    assert_int_equal(valid3, 0x10000 - 0x800 - 0x800);
    const unsigned char tails[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0xbf, 0xc0, 0xff};
    for (unsigned x = 0xf0; x < 256; x++) {
        for (unsigned y = 0; y < 256; y++) {
            for (size_t t = 0; t < sizeof tails; t++) {
                for (size_t u = 0; u < sizeof tails; u++) {
                    b[0] = (unsigned char)x, b[1] = (unsigned char)y;
                    b[2] = tails[t], b[3] = tails[u];
                    assert_int_equal(kb_utf8_valid((char *)b, 4), utf8_reference(b, 4));
                }
            }
        }
    }
}

static bool card(const char *s) {
    return kb_contains_card_number(s, strlen(s));
}

static void test_card_detected(void **state) {
    (void)state;
    assert_true(card("4111111111111111"));
    assert_true(card("4111 1111 1111 1111"));
    assert_true(card("4111-1111-1111-1111"));
    assert_true(card("4111 1111-1111 1111")); /* mixed separators */
    assert_true(card("card 4111 1111 1111 1111 exp 12/27"));
    assert_true(card("paid with4111111111111111."));
    assert_true(card("-4111111111111111-"));
    assert_true(card("378282246310005"));     /* Amex, 15 digits */
    assert_true(card("3782 822463 10005"));   /* Amex grouping */
    assert_true(card("4222222222222"));       /* 13 digits */
    assert_true(card("4111111111111111110")); /* 19 digits */
    assert_true(card("6011111111111117"));
    assert_true(card("5500 0000 0000 0004"));
    assert_true(card("ref 12 4111111111111111 34"));
    /* A window inside a longer run: 20 digits around a PAN. */
    assert_true(card("9941111111111111111199"));
    assert_true(card("00 4111 1111 1111 1111 00"));
    /* Capitals before the digits do not make an IBAN unless mod 97 says so. */
    assert_true(card("CC4111111111111111"));
    assert_true(card("ref CC 4111 1111 1111 1111"));
    assert_true(card("DE00 4111 1111 1111 1111"));
    /* len is honoured. */
    assert_true(kb_contains_card_number("4111111111111111 and more", 16));
}

static void test_card_not_detected(void **state) {
    (void)state;
    const char *fine[] = {
        "",
        "no digits at all",
        "1234567812345678", /* 16 digits, fails Luhn (and so does every window) */
        "4111111111111113",
        "411111111111", /* 12 digits */
        "4111 1111 1111",
        "411111111111111",      /* 15 digits, no window passes */
        "4111  1111 1111 1111", /* a double space ends the run: 4 + 12 */
        "4111 - 1111 1111 1111",
        "4111--1111-1111-1111",
        "4111.1111.1111.1111", /* dots are not separators */
        "4111/1111/1111/1111",
        "4111_1111_1111_1111",
        "+31 20 123 4567", /* phone numbers */
        "+1-555-123-4567",
        "(020) 555 0123",
        "NL91ABNA0417164300",          /* IBAN */
        "DE89 3704 0044 0532 0130 00", /* IBAN with spaces: digits glued to letters */
        "ref DE89370400440532013000 paid",
        "00000000000000000", /* zeros pass Luhn but start no card number */
        "order 0000-0000-0000-0000",
        "NL91 ABNA 0417 1643 00",
        "invoice 2026-01-31 amount 1250.00 EUR",
        "order #123456789012",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) assert_false(card(fine[i]));
    assert_false(kb_contains_card_number(NULL, 0));
    assert_false(kb_contains_card_number("4111111111111111", 15)); /* cut by len */
    assert_false(kb_contains_card_number("4111111111111111", 0));
    /* A separator is only one when a digit follows inside len. */
    assert_false(kb_contains_card_number("4111 1111 1111 1111", 15));
}

/* Every 13..19-digit Luhn-valid number is found, whatever text surrounds
 * it; changing its check digit makes it vanish when nothing else passes. */
static void test_card_generated(void **state) {
    (void)state;
    uint64_t x = 0x2545f4914f6cdd1du;
    for (int i = 0; i < 5000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t len = 13 + (size_t)(x % 7);
        char pan[20];
        int sum = 0;
        for (size_t k = 0; k + 1 < len; k++) {
            int d = (int)((x >> (k * 3)) % 10);
            if (k == 0 && d == 0) d = 4;
            pan[k] = (char)('0' + d);
        }
        for (size_t k = 0; k + 1 < len; k++) { /* distance from the check digit */
            int d = pan[k] - '0';
            if ((len - 1 - k) % 2 == 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
            sum += d;
        }
        pan[len - 1] = (char)('0' + (10 - sum % 10) % 10);
        pan[len] = '\0';
        char text[64];
        memcpy(text, "pan: ", 5);
        memcpy(text + 5, pan, len);
        memcpy(text + 5 + len, " ok", 4);
        assert_true(card(pan));
        assert_true(card(text));
        /* Inside a longer digit run, with 1..5 digits either side. */
        size_t before = 1 + (size_t)(x >> 58) % 5, after = 1 + (size_t)(x >> 61) % 5;
        memset(text, '7', before);
        memcpy(text + before, pan, len);
        memset(text + before + len, '3', after);
        assert_true(kb_contains_card_number(text, before + len + after));
    }
}

static void test_email(void **state) {
    (void)state;
    assert_true(kb_email_valid("a@b.c"));
    assert_true(kb_email_valid("user.name+tag@example.co.uk"));
    assert_true(kb_email_valid("x_y-z@sub.example.com"));
    const char *bad[] = {"",        "ab",      "a@b",     "@b.c",   "a@",
                         "a@@b.c",  "a@b@c.d", "a b@c.d", "a@b .c", "a@.bc",
                         "a@bc.",   "a@b..c",  "a@.",     "a.b.c",  "caf\xc3\xa9@b.c",
                         "a\t@b.c", "a@b.c\n", " a@b.c",  "a@b.c "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(kb_email_valid(bad[i]));
    assert_false(kb_email_valid(NULL));
    /* Length bounds: 254 fine, 255 not. */
    char long_mail[300];
    size_t local = KB_EMAIL_LEN_MAX - strlen("@example.com");
    memset(long_mail, 'a', local);
    strcpy(long_mail + local, "@example.com");
    assert_int_equal(strlen(long_mail), KB_EMAIL_LEN_MAX);
    assert_true(kb_email_valid(long_mail));
    memset(long_mail, 'a', local + 1);
    strcpy(long_mail + local + 1, "@example.com");
    assert_false(kb_email_valid(long_mail));
}

static void test_idempotency_key(void **state) {
    (void)state;
    assert_true(kb_idempotency_key_valid("k"));
    assert_true(kb_idempotency_key_valid("order-42/retry:1"));
    assert_true(kb_idempotency_key_valid("!~"));
    assert_true(kb_idempotency_key_valid(repeat('k', KB_IDEMPOTENCY_KEY_LEN_MAX)));
    assert_false(kb_idempotency_key_valid(repeat('k', KB_IDEMPOTENCY_KEY_LEN_MAX + 1)));
    const char *bad[] = {"", " ", "a b", "a\tb", "a\nb", "\x7f", "a\x80", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(kb_idempotency_key_valid(bad[i]));
    }
    assert_false(kb_idempotency_key_valid(NULL));
    char all[0x7f - 0x21 + 1];
    for (int c = 0x21; c < 0x7f; c++) all[c - 0x21] = (char)c;
    all[sizeof all - 1] = '\0';
    assert_true(kb_idempotency_key_valid(all));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_utf8_examples),
        cmocka_unit_test(test_utf8_exhaustive),
        cmocka_unit_test(test_card_detected),
        cmocka_unit_test(test_card_not_detected),
        cmocka_unit_test(test_card_generated),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_idempotency_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
