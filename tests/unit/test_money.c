#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "money.h"

#define SENTINEL INT64_C(0x5a5a5a5a)

/* The whole ISO 4217 table as the tests expect it. A missing, misordered
 * (the lookup stops early in a sorted table) or wrong entry fails here. */
static const struct {
    const char *code;
    int exponent;
} iso[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"ANG", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2},
    {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BGN", 2}, {"BHD", 3}, {"BIF", 0},
    {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2},
    {"BYN", 2}, {"BZD", 2}, {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4},
    {"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUC", 2}, {"CUP", 2}, {"CVE", 2},
    {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2},
    {"EUR", 2}, {"FJD", 2}, {"FKP", 2}, {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2},
    {"GNF", 0}, {"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2},
    {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0},
    {"KES", 2}, {"KGS", 2}, {"KHR", 2}, {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2},
    {"KZT", 2}, {"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2},
    {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2},
    {"MVR", 2}, {"MWK", 2}, {"MXN", 2}, {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2},
    {"NIO", 2}, {"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2},
    {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2},
    {"RWF", 0}, {"SAR", 2}, {"SBD", 2}, {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2},
    {"SLE", 2}, {"SLL", 2}, {"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2},
    {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2},
    {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0}, {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2},
    {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAF", 0},
    {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
    {"ZWL", 2},
};

static void test_currency_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof iso / sizeof iso[0]; i++) {
        if (i > 0) assert_true(strcmp(iso[i - 1].code, iso[i].code) < 0);
        assert_int_equal(kb_currency_exponent(iso[i].code), iso[i].exponent);
    }
    assert_int_equal(kb_currency_exponent("EUR"), 2);
    assert_int_equal(kb_currency_exponent("JPY"), 0);
    assert_int_equal(kb_currency_exponent("ISK"), 0);
    assert_int_equal(kb_currency_exponent("BHD"), 3);
    assert_int_equal(kb_currency_exponent("KWD"), 3);
    assert_int_equal(kb_currency_exponent("CLF"), 4);
}

static void test_currency_unknown(void **state) {
    (void)state;
    const char *bad[] = {"",    "E",   "EU",  "EURO", "eur", "Eur", "EU1", " EUR", "EUR ",
                         "XAU", "XDR", "XXX", "XTS",  "ABC", "AAA", "ZZZ", "DEM",  "NLG"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(kb_currency_exponent(bad[i]), -1);
    }
    assert_int_equal(kb_currency_exponent(NULL), -1);
}

static void assert_parses(const char *text, const char *cur, int64_t want) {
    int64_t got = SENTINEL;
    assert_int_equal(kb_money_parse(text, cur, &got), KB_OK);
    assert_true(got == want);
}

static void assert_parse_fails(const char *text, const char *cur, kb_status want) {
    int64_t got = SENTINEL;
    assert_int_equal(kb_money_parse(text, cur, &got), want);
    assert_true(got == SENTINEL); /* *out untouched on failure */
}

static void assert_formats(int64_t minor, const char *cur, const char *want) {
    char buf[64];
    assert_int_equal(kb_money_format(minor, cur, buf, sizeof buf), (int)strlen(want));
    assert_string_equal(buf, want);
}

static void test_parse_examples(void **state) {
    (void)state;
    assert_parses("12.50", "EUR", 1250);
    assert_parses("12.5", "EUR", 1250);
    assert_parses("12", "EUR", 1200);
    assert_parses("-3", "EUR", -300);
    assert_parses("-0.05", "EUR", -5);
    assert_parses("0", "EUR", 0);
    assert_parses("-0", "EUR", 0);
    assert_parses("-0.00", "EUR", 0);
    assert_parses("007.10", "EUR", 710);
    assert_parses("1000", "JPY", 1000);
    assert_parses("-1", "JPY", -1);
    assert_parses("0.125", "BHD", 125);
    assert_parses("1.5", "BHD", 1500);
    assert_parses("1.0001", "CLF", 10001);
}

static void test_parse_rejects(void **state) {
    (void)state;
    const char *bad[] = {"",     "-",     "+",     "+5",    "--5",  "1.",  ".5",  "-.5",
                         "1..5", "1.2.3", "1,000", "1 000", " 1",   "1 ",  "1e3", "0x10",
                         "abc",  "12a",   "1.-5",  "-1-",   "1.5.", "\t1", ".",   "-."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_parse_fails(bad[i], "EUR", KB_ERR_ARG);
    }
    /* Too many decimals for the currency. */
    assert_parse_fails("12.505", "EUR", KB_ERR_ARG);
    assert_parse_fails("0.001", "EUR", KB_ERR_ARG);
    assert_parse_fails("1.0", "JPY", KB_ERR_ARG);
    assert_parse_fails("1.5", "JPY", KB_ERR_ARG);
    assert_parse_fails("0.1234", "BHD", KB_ERR_ARG);
    assert_parse_fails("12.500", "EUR", KB_ERR_ARG); /* even zero digits count */
    /* Unknown currency, NULL arguments. */
    assert_parse_fails("1", "XXX", KB_ERR_ARG);
    assert_parse_fails("1", "eur", KB_ERR_ARG);
    assert_parse_fails("1", NULL, KB_ERR_ARG);
    assert_int_equal(kb_money_parse(NULL, "EUR", &(int64_t){0}), KB_ERR_ARG);
    assert_int_equal(kb_money_parse("1", "EUR", NULL), KB_ERR_ARG);
    /* Longer than 64 bytes, even if only leading zeros. */
    char zeros[80];
    memset(zeros, '0', sizeof zeros - 2);
    zeros[sizeof zeros - 2] = '1';
    zeros[sizeof zeros - 1] = '\0';
    assert_parse_fails(zeros, "JPY", KB_ERR_ARG);
    assert_parses(zeros + (sizeof zeros - 1 - 64), "JPY", 1); /* exactly 64 is fine */
}

static void test_parse_int64_edges(void **state) {
    (void)state;
    assert_parses("92233720368547758.07", "EUR", INT64_MAX);
    assert_parses("-92233720368547758.08", "EUR", INT64_MIN);
    assert_parse_fails("92233720368547758.08", "EUR", KB_ERR_LIMIT);
    assert_parse_fails("-92233720368547758.09", "EUR", KB_ERR_LIMIT);
    assert_parse_fails("92233720368547759", "EUR", KB_ERR_LIMIT); /* overflows when scaled */
    assert_parse_fails("92233720368547758.1", "EUR", KB_ERR_LIMIT);
    assert_parses("9223372036854775807", "JPY", INT64_MAX);
    assert_parses("-9223372036854775808", "JPY", INT64_MIN);
    assert_parse_fails("9223372036854775808", "JPY", KB_ERR_LIMIT);
    assert_parse_fails("-9223372036854775809", "JPY", KB_ERR_LIMIT);
    assert_parse_fails("99999999999999999999999", "JPY", KB_ERR_LIMIT);
    assert_parses("9223372036854775.807", "BHD", INT64_MAX);
    assert_parse_fails("9223372036854775.808", "BHD", KB_ERR_LIMIT);
    assert_parses("-9223372036854775.808", "BHD", INT64_MIN);
    assert_parses("922337203685477.5807", "CLF", INT64_MAX);
}

static void test_format_examples(void **state) {
    (void)state;
    assert_formats(1250, "EUR", "12.50");
    assert_formats(-5, "EUR", "-0.05");
    assert_formats(0, "EUR", "0.00");
    assert_formats(7, "EUR", "0.07");
    assert_formats(-100, "EUR", "-1.00");
    assert_formats(1000, "JPY", "1000");
    assert_formats(0, "JPY", "0");
    assert_formats(-1, "JPY", "-1");
    assert_formats(125, "BHD", "0.125");
    assert_formats(-1, "BHD", "-0.001");
    assert_formats(10001, "CLF", "1.0001");
    assert_formats(INT64_MAX, "EUR", "92233720368547758.07");
    assert_formats(INT64_MIN, "EUR", "-92233720368547758.08");
    assert_formats(INT64_MIN, "JPY", "-9223372036854775808");
    assert_formats(INT64_MIN, "BHD", "-9223372036854775.808");
}

static void test_format_buffer_and_currency(void **state) {
    (void)state;
    char buf[8];
    memset(buf, 'x', sizeof buf);
    assert_int_equal(kb_money_format(1250, "EUR", buf, 6), 5); /* "12.50" + NUL */
    assert_string_equal(buf, "12.50");
    assert_int_equal(kb_money_format(1250, "EUR", buf, 5), -1);
    assert_string_equal(buf, ""); /* left empty, not truncated */
    assert_int_equal(kb_money_format(-1250, "EUR", buf, 6), -1);
    assert_int_equal(kb_money_format(1, "XXX", buf, sizeof buf), -1);
    assert_int_equal(kb_money_format(1, NULL, buf, sizeof buf), -1);
    assert_int_equal(kb_money_format(1, "EUR", NULL, 0), -1);
    assert_int_equal(kb_money_format(1, "EUR", buf, 0), -1);
    char big[32];
    assert_int_equal(kb_money_format(INT64_MIN, "EUR", big, 22), 21);
    assert_int_equal(kb_money_format(INT64_MIN, "EUR", big, 21), -1);
}

/* Format then parse gives the value back, and parse then format gives the
 * canonical text back. */
static void round_trip(int64_t minor, const char *cur) {
    char buf[64];
    int len = kb_money_format(minor, cur, buf, sizeof buf);
    assert_true(len > 0);
    int64_t back = SENTINEL;
    assert_int_equal(kb_money_parse(buf, cur, &back), KB_OK);
    assert_true(back == minor);
}

static void test_round_trips(void **state) {
    (void)state;
    const char *curs[] = {"JPY", "EUR", "BHD", "CLF"};
    const int64_t fixed[] = {
        0,   1,    -1,   9,         10,        99,        100,           101,
        999, 1000, 1001, 123456789, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
    for (size_t c = 0; c < 4; c++) {
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) round_trip(fixed[i], curs[c]);
        uint64_t x = 0x9e3779b97f4a7c15u; /* xorshift: many magnitudes, both signs */
        for (int i = 0; i < 20000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t v = (int64_t)(x >> (i % 64));
            round_trip((i & 1) && v != INT64_MIN ? -v : v, curs[c]);
        }
    }
    const struct {
        const char *text, *cur;
    } canon[] = {{"0", "JPY"},      {"-42", "JPY"},       {"12.50", "EUR"},
                 {"-0.05", "EUR"},  {"0.125", "BHD"},     {"-1000.001", "BHD"},
                 {"1.0001", "CLF"}, {"-12345.67", "USD"}, {"1000", "KRW"}};
    for (size_t i = 0; i < sizeof canon / sizeof canon[0]; i++) {
        int64_t v = 0;
        char buf[64];
        assert_int_equal(kb_money_parse(canon[i].text, canon[i].cur, &v), KB_OK);
        assert_true(kb_money_format(v, canon[i].cur, buf, sizeof buf) > 0);
        assert_string_equal(buf, canon[i].text);
    }
}

static void test_checked_arithmetic(void **state) {
    (void)state;
    int64_t r = SENTINEL;
    assert_true(kb_add_checked(2, 3, &r) && r == 5);
    assert_true(kb_add_checked(INT64_MAX, 0, &r) && r == INT64_MAX);
    assert_true(kb_add_checked(INT64_MAX, INT64_MIN, &r) && r == -1);
    r = SENTINEL;
    assert_false(kb_add_checked(INT64_MAX, 1, &r));
    assert_false(kb_add_checked(INT64_MIN, -1, &r));
    assert_false(kb_add_checked(INT64_MIN, INT64_MIN, &r));
    assert_true(r == SENTINEL);

    assert_true(kb_sub_checked(2, 3, &r) && r == -1);
    assert_true(kb_sub_checked(INT64_MIN, -1, &r) && r == INT64_MIN + 1);
    r = SENTINEL;
    assert_false(kb_sub_checked(INT64_MIN, 1, &r));
    assert_false(kb_sub_checked(0, INT64_MIN, &r));
    assert_false(kb_sub_checked(INT64_MAX, -1, &r));
    assert_true(r == SENTINEL);

    assert_true(kb_mul_checked(-4, 5, &r) && r == -20);
    assert_true(kb_mul_checked(INT64_MIN, 1, &r) && r == INT64_MIN);
    assert_true(kb_mul_checked(INT64_MAX, -1, &r) && r == -INT64_MAX);
    r = SENTINEL;
    assert_false(kb_mul_checked(INT64_MIN, -1, &r));
    assert_false(kb_mul_checked(INT64_MAX, 2, &r));
    assert_false(kb_mul_checked(INT64_C(3037000500), INT64_C(3037000500), &r));
    assert_true(r == SENTINEL);
}

static int64_t sum_of(const int64_t *parts, uint32_t n) {
    int64_t s = 0;
    for (uint32_t i = 0; i < n; i++) assert_true(kb_add_checked(s, parts[i], &s));
    return s;
}

static void test_split(void **state) {
    (void)state;
    int64_t p[8];
    assert_int_equal(kb_money_split(100, 3, p), KB_OK);
    assert_true(p[0] == 33 && p[1] == 33 && p[2] == 34);
    assert_int_equal(kb_money_split(-100, 3, p), KB_OK);
    assert_true(p[0] == -33 && p[1] == -33 && p[2] == -34);
    assert_int_equal(kb_money_split(2, 5, p), KB_OK);
    assert_true(p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0 && p[4] == 2);
    assert_int_equal(kb_money_split(12345, 1, p), KB_OK);
    assert_true(p[0] == 12345);
    assert_int_equal(kb_money_split(0, 4, p), KB_OK);
    assert_true(p[0] == 0 && p[3] == 0);
    assert_int_equal(kb_money_split(INT64_MIN, 1, p), KB_OK);
    assert_true(p[0] == INT64_MIN);
    assert_int_equal(kb_money_split(INT64_MIN, 7, p), KB_OK);
    assert_true(sum_of(p, 7) == INT64_MIN);
    assert_int_equal(kb_money_split(INT64_MAX, 8, p), KB_OK);
    assert_true(sum_of(p, 8) == INT64_MAX);
    p[0] = SENTINEL;
    assert_int_equal(kb_money_split(100, 0, p), KB_ERR_ARG);
    assert_true(p[0] == SENTINEL);
}

static void test_split_sums_to_total(void **state) {
    (void)state;
    int64_t p[64];
    for (int64_t total = -1000; total <= 1000; total += 7) {
        for (uint32_t n = 1; n <= 64; n++) {
            assert_int_equal(kb_money_split(total, n, p), KB_OK);
            assert_true(sum_of(p, n) == total);
            for (uint32_t i = 0; i + 1 < n; i++) assert_true(p[i] == total / (int64_t)n);
            int64_t diff = p[n - 1] - p[0];
            assert_true(diff >= -(int64_t)n && diff <= (int64_t)n);
        }
    }
}

static void test_split_by_amount(void **state) {
    (void)state;
    int64_t p[8];
    uint32_t n = 0;
    assert_int_equal(kb_money_split_by_amount(1000, 300, p, 8, &n), KB_OK);
    assert_int_equal(n, 4);
    assert_true(p[0] == 300 && p[1] == 300 && p[2] == 300 && p[3] == 100);
    assert_int_equal(kb_money_split_by_amount(900, 300, p, 8, &n), KB_OK);
    assert_int_equal(n, 3);
    assert_true(p[0] == 300 && p[1] == 300 && p[2] == 300);
    assert_int_equal(kb_money_split_by_amount(100, 300, p, 8, &n), KB_OK);
    assert_int_equal(n, 1);
    assert_true(p[0] == 100);
    assert_int_equal(kb_money_split_by_amount(INT64_MAX, INT64_MAX, p, 8, &n), KB_OK);
    assert_int_equal(n, 1);

    /* Too small an array: the needed count, nothing written to parts. */
    p[0] = SENTINEL;
    n = 0;
    assert_int_equal(kb_money_split_by_amount(1000, 100, p, 8, &n), KB_ERR_LIMIT);
    assert_int_equal(n, 10);
    assert_true(p[0] == SENTINEL);
    assert_int_equal(kb_money_split_by_amount(1000, 100, NULL, 0, &n), KB_ERR_LIMIT);
    assert_int_equal(n, 10);
    int64_t p10[10];
    p10[0] = SENTINEL;
    assert_int_equal(kb_money_split_by_amount(1000, 100, p10, 9, &n), KB_ERR_LIMIT); /* one short */
    assert_true(p10[0] == SENTINEL);
    assert_int_equal(kb_money_split_by_amount(1000, 100, p10, 10, &n), KB_OK); /* exact fit */
    assert_int_equal(n, 10);
    assert_true(p10[0] == 100 && p10[9] == 100);
    /* More parts than uint32_t counts: n_out untouched. */
    n = 77;
    assert_int_equal(kb_money_split_by_amount(INT64_MAX, 1, NULL, 0, &n), KB_ERR_LIMIT);
    assert_int_equal(n, 77);

    n = 77;
    assert_int_equal(kb_money_split_by_amount(0, 300, p, 8, &n), KB_ERR_ARG);
    assert_int_equal(kb_money_split_by_amount(-1000, 300, p, 8, &n), KB_ERR_ARG);
    assert_int_equal(kb_money_split_by_amount(1000, 0, p, 8, &n), KB_ERR_ARG);
    assert_int_equal(kb_money_split_by_amount(1000, -300, p, 8, &n), KB_ERR_ARG);
    assert_int_equal(n, 77);
}

static void test_split_by_amount_sums(void **state) {
    (void)state;
    int64_t p[64];
    for (int64_t total = 1; total <= 640; total += 3) {
        for (int64_t amount = total / 64 + 1; amount <= total + 5; amount += 5) {
            uint32_t n = 0;
            assert_int_equal(kb_money_split_by_amount(total, amount, p, 64, &n), KB_OK);
            assert_true(n == (uint32_t)((total + amount - 1) / amount));
            assert_true(sum_of(p, n) == total);
            for (uint32_t i = 0; i + 1 < n; i++) assert_true(p[i] == amount);
            assert_true(p[n - 1] > 0 && p[n - 1] <= amount);
        }
    }
}

/* Plain decimals (invoice quantities in thousandths, rates in basis
 * points) follow the money rules at a given number of decimals. */
static void test_decimal_parse(void **state) {
    (void)state;
    int64_t v;
    assert_int_equal(kb_decimal_parse("1.5", 3, &v), KB_OK);
    assert_int_equal(v, 1500);
    assert_int_equal(kb_decimal_parse("0.125", 3, &v), KB_OK);
    assert_int_equal(v, 125);
    assert_int_equal(kb_decimal_parse("2", 3, &v), KB_OK);
    assert_int_equal(v, 2000);
    assert_int_equal(kb_decimal_parse("12.25", 2, &v), KB_OK);
    assert_int_equal(v, 1225);
    assert_int_equal(kb_decimal_parse("0.0001", 3, &v), KB_ERR_ARG);
    assert_int_equal(kb_decimal_parse("1.", 3, &v), KB_ERR_ARG);
    assert_int_equal(kb_decimal_parse("1.5", 0, &v), KB_ERR_ARG);
    assert_int_equal(kb_decimal_parse("1", 5, &v), KB_ERR_ARG);
    assert_int_equal(kb_decimal_parse("99999999999999999999", 0, &v), KB_ERR_LIMIT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_currency_table),
        cmocka_unit_test(test_currency_unknown),
        cmocka_unit_test(test_parse_examples),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_int64_edges),
        cmocka_unit_test(test_format_examples),
        cmocka_unit_test(test_format_buffer_and_currency),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_checked_arithmetic),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_sums_to_total),
        cmocka_unit_test(test_split_by_amount),
        cmocka_unit_test(test_split_by_amount_sums),
        cmocka_unit_test(test_decimal_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
