#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "calendar.h"

#define DAYS_MIN (-719162) /* 0001-01-01 */
#define DAYS_MAX 2932896   /* 9999-12-31 */
#define SENTINEL INT64_C(0x5a5a5a5a)

static int32_t ymd(int32_t y, int32_t m, int32_t d) {
    kb_civil c = {.year = y, .month = m, .day = d};
    assert_true(kb_civil_valid(c));
    return kb_days_from_civil(c);
}

static void assert_civil(int32_t days, int32_t y, int32_t m, int32_t d) {
    kb_civil c = kb_civil_from_days(days);
    assert_int_equal(c.year, y);
    assert_int_equal(c.month, m);
    assert_int_equal(c.day, d);
}

static void test_leap_years(void **state) {
    (void)state;
    assert_false(kb_is_leap_year(1900));
    assert_true(kb_is_leap_year(2000));
    assert_true(kb_is_leap_year(2024));
    assert_false(kb_is_leap_year(2023));
    assert_false(kb_is_leap_year(2100));
    assert_true(kb_is_leap_year(2400));
    assert_true(kb_is_leap_year(4));
    assert_false(kb_is_leap_year(1));
    assert_int_equal(kb_days_in_month(2024, 2), 29);
    assert_int_equal(kb_days_in_month(2023, 2), 28);
    assert_int_equal(kb_days_in_month(1900, 2), 28);
    assert_int_equal(kb_days_in_month(2000, 2), 29);
    assert_int_equal(kb_days_in_month(2023, 4), 30);
    assert_int_equal(kb_days_in_month(2023, 12), 31);
    assert_int_equal(kb_days_in_month(2023, 0), 0);
    assert_int_equal(kb_days_in_month(2023, 13), 0);
}

static void test_civil_valid(void **state) {
    (void)state;
    assert_true(kb_civil_valid((kb_civil){2024, 2, 29}));
    assert_false(kb_civil_valid((kb_civil){2023, 2, 29}));
    assert_false(kb_civil_valid((kb_civil){2023, 4, 31}));
    assert_false(kb_civil_valid((kb_civil){2023, 1, 0}));
    assert_false(kb_civil_valid((kb_civil){2023, 0, 1}));
    assert_false(kb_civil_valid((kb_civil){2023, 13, 1}));
    assert_false(kb_civil_valid((kb_civil){0, 1, 1}));
    assert_false(kb_civil_valid((kb_civil){10000, 1, 1}));
    assert_true(kb_civil_valid((kb_civil){1, 1, 1}));
    assert_true(kb_civil_valid((kb_civil){9999, 12, 31}));
}

static void test_known_days(void **state) {
    (void)state;
    assert_int_equal(ymd(1970, 1, 1), 0);
    assert_int_equal(ymd(1969, 12, 31), -1);
    assert_int_equal(ymd(2000, 1, 1), 10957);
    assert_int_equal(ymd(2024, 2, 29), 19782);
    assert_int_equal(ymd(1, 1, 1), DAYS_MIN);
    assert_int_equal(ymd(9999, 12, 31), DAYS_MAX);
    assert_civil(0, 1970, 1, 1);
    assert_civil(-1, 1969, 12, 31);
    assert_civil(19782, 2024, 2, 29);
    assert_civil(DAYS_MIN, 1, 1, 1);
    assert_civil(DAYS_MAX, 9999, 12, 31);
}

/* Every day of years 1..9999: the round trip holds and consecutive days are
 * consecutive dates. */
static void test_round_trip_all_days(void **state) {
    (void)state;
    kb_civil prev = kb_civil_from_days(DAYS_MIN - 1);
    assert_int_equal(prev.year, 0);
    for (int32_t d = DAYS_MIN; d <= DAYS_MAX; d++) {
        kb_civil c = kb_civil_from_days(d);
        assert_true(kb_civil_valid(c));
        assert_int_equal(kb_days_from_civil(c), d);
        if (c.day == 1) {
            assert_int_equal(prev.day, kb_days_in_month(prev.year, prev.month));
            assert_int_equal(c.month, prev.month == 12 ? 1 : prev.month + 1);
            assert_int_equal(c.year, prev.month == 12 ? prev.year + 1 : prev.year);
        } else {
            assert_true(c.year == prev.year && c.month == prev.month && c.day == prev.day + 1);
        }
        prev = c;
    }
    /* Far outside years 1..9999 the conversion still gives a real date. */
    const int32_t far[] = {INT32_MIN, INT32_MIN + 1, -800000, 3000000, INT32_MAX};
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++) {
        kb_civil c = kb_civil_from_days(far[i]);
        assert_true(c.month >= 1 && c.month <= 12);
        assert_true(c.day >= 1 && c.day <= kb_days_in_month(c.year, c.month));
    }
}

static void test_weekday(void **state) {
    (void)state;
    assert_int_equal(kb_weekday(0), 3);               /* 1970-01-01 Thursday */
    assert_int_equal(kb_weekday(-1), 2);              /* Wednesday */
    assert_int_equal(kb_weekday(ymd(2024, 1, 1)), 0); /* Monday */
    assert_int_equal(kb_weekday(ymd(2000, 1, 1)), 5); /* Saturday */
    assert_int_equal(kb_weekday(ymd(2026, 2, 1)), 6); /* Sunday */
    assert_int_equal(kb_weekday(ymd(1, 1, 1)), 0);    /* Monday, proleptic */
    assert_int_equal(kb_weekday(INT32_MIN), ((INT32_MIN % 7) + 7 + 3) % 7);
    for (int32_t d = -10000; d < 10000; d++) {
        assert_int_equal(kb_weekday(d + 1), (kb_weekday(d) + 1) % 7);
    }
}

static void assert_add_months(int32_t from, int32_t months, int32_t y, int32_t m, int32_t d) {
    assert_civil(kb_add_months(from, months), y, m, d);
}

static void test_add_months(void **state) {
    (void)state;
    assert_add_months(ymd(2023, 1, 31), 1, 2023, 2, 28);
    assert_add_months(ymd(2024, 1, 31), 1, 2024, 2, 29);
    assert_add_months(ymd(2023, 3, 31), -1, 2023, 2, 28);
    assert_add_months(ymd(2024, 3, 31), -1, 2024, 2, 29);
    assert_add_months(ymd(2022, 12, 31), 2, 2023, 2, 28);
    assert_add_months(ymd(2023, 12, 31), 2, 2024, 2, 29);
    assert_add_months(ymd(2023, 1, 31), 3, 2023, 4, 30);
    assert_add_months(ymd(2024, 2, 29), 12, 2025, 2, 28);
    assert_add_months(ymd(2024, 2, 29), 48, 2028, 2, 29);
    assert_add_months(ymd(2024, 1, 15), -1, 2023, 12, 15);
    assert_add_months(ymd(2024, 1, 15), -13, 2022, 12, 15);
    assert_add_months(ymd(2024, 1, 15), 12, 2025, 1, 15);
    assert_add_months(ymd(2024, 1, 15), 0, 2024, 1, 15);
    assert_add_months(ymd(1969, 12, 31), 1, 1970, 1, 31);
    assert_add_months(ymd(1, 1, 31), 9998 * 12 + 11, 9999, 12, 31);
    assert_add_months(ymd(9999, 12, 31), -(9998 * 12 + 10), 1, 2, 28);
    /* The day never grows, and only shrinks to the month's end. */
    for (int32_t d = ymd(2020, 1, 1); d < ymd(2026, 1, 1); d++) {
        for (int32_t k = -25; k <= 25; k++) {
            kb_civil a = kb_civil_from_days(d), b = kb_civil_from_days(kb_add_months(d, k));
            int32_t index = a.year * 12 + a.month - 1 + k;
            assert_int_equal(b.year * 12 + b.month - 1, index);
            int32_t dim = kb_days_in_month(b.year, b.month);
            assert_int_equal(b.day, a.day < dim ? a.day : dim);
        }
    }
}

/* Reference: step a day at a time. */
static int32_t business_days_slow(int32_t d, int32_t n) {
    if (n == 0) return d;
    if (kb_weekday(d) >= 5) {
        while (kb_weekday(d) >= 5) d++;
        d--; /* so the Monday reached is day 1 */
    }
    while (n > 0) {
        d++;
        if (kb_weekday(d) < 5) n--;
    }
    return d;
}

static void test_business_days(void **state) {
    (void)state;
    int32_t mon = ymd(2026, 1, 5);
    assert_int_equal(kb_weekday(mon), 0);
    assert_int_equal(kb_add_business_days(mon, 0), mon);
    assert_int_equal(kb_add_business_days(mon, 1), mon + 1);
    assert_int_equal(kb_add_business_days(mon, 4), mon + 4);       /* Friday */
    assert_int_equal(kb_add_business_days(mon, 5), mon + 7);       /* next Monday */
    assert_int_equal(kb_add_business_days(mon + 4, 1), mon + 7);   /* Fri + 1 = Mon */
    assert_int_equal(kb_add_business_days(mon + 3, 2), mon + 7);   /* Thu + 2 = Mon */
    assert_int_equal(kb_add_business_days(mon + 2, 10), mon + 16); /* Wed + 10 = Wed */
    assert_int_equal(kb_add_business_days(mon + 5, 0), mon + 5);   /* Sat + 0 = Sat */
    assert_int_equal(kb_add_business_days(mon + 5, 1), mon + 7);   /* Sat + 1 = Mon */
    assert_int_equal(kb_add_business_days(mon + 6, 1), mon + 7);   /* Sun + 1 = Mon */
    assert_int_equal(kb_add_business_days(mon + 5, 5), mon + 11);  /* Sat + 5 = Fri */
    assert_int_equal(kb_add_business_days(mon + 6, 6), mon + 14);  /* Sun + 6 = Mon */
    for (int32_t d = -30; d < 30; d++) {
        for (int32_t n = 0; n <= 40; n++) {
            int32_t got = kb_add_business_days(d, n);
            assert_int_equal(got, business_days_slow(d, n));
            if (n > 0) assert_true(kb_weekday(got) < 5);
        }
    }
    assert_int_equal(kb_add_business_days(0, 260), business_days_slow(0, 260));
}

static void test_instant_days(void **state) {
    (void)state;
    assert_int_equal(kb_day_of_instant(0), 0);
    assert_int_equal(kb_day_of_instant(KB_US_PER_DAY - 1), 0);
    assert_int_equal(kb_day_of_instant(KB_US_PER_DAY), 1);
    assert_int_equal(kb_day_of_instant(-1), -1);
    assert_int_equal(kb_day_of_instant(-KB_US_PER_DAY), -1);
    assert_int_equal(kb_day_of_instant(-KB_US_PER_DAY - 1), -2);
    assert_int_equal(kb_day_of_instant(INT64_MAX), INT64_MAX / KB_US_PER_DAY);
    assert_int_equal(kb_day_of_instant(INT64_MIN), INT64_MIN / KB_US_PER_DAY - 1);
    assert_true(kb_instant_of_day(0) == 0);
    assert_true(kb_instant_of_day(1) == KB_US_PER_DAY);
    assert_true(kb_instant_of_day(-1) == -KB_US_PER_DAY);
    for (int32_t d = DAYS_MIN; d <= DAYS_MAX; d += 997) {
        assert_int_equal(kb_day_of_instant(kb_instant_of_day(d)), d);
        assert_int_equal(kb_day_of_instant(kb_instant_of_day(d) - 1), d - 1);
    }
}

static int64_t parse_ok(const char *text) {
    int64_t us = SENTINEL;
    assert_int_equal(kb_time_parse(text, &us), KB_OK);
    return us;
}

static void assert_time_text(int64_t us, const char *want) {
    char buf[28];
    assert_int_equal(kb_time_format(us, buf, sizeof buf), (int)strlen(want));
    assert_string_equal(buf, want);
}

/* text parses, and formats back as canon. */
static void assert_time_round(const char *text, const char *canon) {
    int64_t us = parse_ok(text);
    assert_time_text(us, canon);
    assert_true(parse_ok(canon) == us);
}

static void test_time_parse_format(void **state) {
    (void)state;
    int64_t base = kb_instant_of_day(ymd(2026, 1, 31));
    assert_true(parse_ok("2026-01-31") == base);
    assert_true(parse_ok("2026-01-31T10:00:00Z") == base + 10 * 3600 * KB_US_PER_SEC);
    assert_true(parse_ok("2026-01-31T10:00:00.123456Z") ==
                base + 10 * 3600 * KB_US_PER_SEC + 123456);
    assert_true(parse_ok("2026-01-31T10:00:00+01:00") == base + 9 * 3600 * KB_US_PER_SEC);
    assert_time_round("2026-01-31", "2026-01-31T00:00:00Z");
    assert_time_round("2026-01-31T10:00:00Z", "2026-01-31T10:00:00Z");
    assert_time_round("2026-01-31T10:00:00.123456Z", "2026-01-31T10:00:00.123456Z");
    assert_time_round("2026-01-31T10:00:00.5Z", "2026-01-31T10:00:00.500000Z");
    assert_time_round("2026-01-31T10:00:00.000001Z", "2026-01-31T10:00:00.000001Z");
    assert_time_round("2026-01-31T10:00:00.000000Z", "2026-01-31T10:00:00Z");
    assert_time_round("2026-01-31T10:00:00+01:00", "2026-01-31T09:00:00Z");
    assert_time_round("2026-01-31T10:00:00-05:30", "2026-01-31T15:30:00Z");
    assert_time_round("2026-01-31T10:00:00-00:00", "2026-01-31T10:00:00Z");
    assert_time_round("2026-03-01T00:30:00.25+01:00", "2026-02-28T23:30:00.250000Z");
    assert_time_round("2024-12-31T23:00:00-23:59", "2025-01-01T22:59:00Z");
    assert_time_round("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z");
    assert_time_round("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z");
    assert_time_round("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z");
    assert_time_round("0001-01-01T00:30:00+00:30", "0001-01-01T00:00:00Z");
    assert_time_text(-1, "1969-12-31T23:59:59.999999Z");
    assert_time_text(0, "1970-01-01T00:00:00Z");
}

static void test_time_parse_rejects(void **state) {
    (void)state;
    const char *bad[] = {
        "",
        "2026",
        "2026-02-30",
        "2023-02-29",
        "2026-02-30T10:00:00Z",
        "2026-13-01",
        "2026-00-10",
        "2026-01-00",
        "2026-1-31",
        "26-01-31",
        "20260131",
        "0000-12-31",
        "2026-01-31T24:00:00Z",
        "2026-01-31T23:60:00Z",
        "2026-01-31T23:59:60Z", /* no leap seconds */
        "2026-01-31T10:00:00",  /* missing Z */
        "2026-01-31T10:00Z",
        "2026-01-31T10:00:00.Z",
        "2026-01-31T10:00:00.1234567Z",
        "2026-01-31t10:00:00z",
        "2026-01-31 10:00:00Z",
        "2026-01-31T",
        "2026-01-31T10:00:00ZZ",
        "2026-01-31T10:00:00Z ",
        " 2026-01-31",
        "2026-01-31x",
        "2026-01-31T10:00:00+01",
        "2026-01-31T10:00:00+0100",
        "2026-01-31T10:00:00+24:00",
        "2026-01-31T10:00:00+01:60",
        "2026-01-31T1:00:00Z",
        "+2026-01-31",
        "-2026-01-31",
        "0001-01-01T00:00:00+00:01", /* before year 1 once the offset applies */
        "9999-12-31T23:59:59-00:01", /* after year 9999 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = SENTINEL;
        assert_int_equal(kb_time_parse(bad[i], &us), KB_ERR_ARG);
        assert_true(us == SENTINEL);
    }
    assert_int_equal(kb_time_parse(NULL, &(int64_t){0}), KB_ERR_ARG);
    assert_int_equal(kb_time_parse("2026-01-31", NULL), KB_ERR_ARG);
}

static void test_time_format_limits(void **state) {
    (void)state;
    char buf[32];
    int64_t us = parse_ok("2026-01-31T10:00:00.123456Z");
    assert_int_equal(kb_time_format(us, buf, 28), 27);
    assert_int_equal(kb_time_format(us, buf, 27), -1);
    assert_string_equal(buf, "");
    assert_int_equal(kb_time_format(0, buf, 21), 20);
    assert_int_equal(kb_time_format(0, buf, 20), -1);
    assert_int_equal(kb_time_format(0, NULL, 0), -1);
    assert_int_equal(kb_time_format(INT64_MIN, buf, sizeof buf), -1);
    assert_int_equal(kb_time_format(INT64_MAX, buf, sizeof buf), -1);
    int64_t first = kb_instant_of_day(DAYS_MIN), end = kb_instant_of_day(DAYS_MAX + 1);
    assert_int_equal(kb_time_format(first - 1, buf, sizeof buf), -1);
    assert_int_equal(kb_time_format(end, buf, sizeof buf), -1);
    assert_int_equal(kb_time_format(end - 1, buf, sizeof buf), 27);
}

static void test_time_round_trip_many(void **state) {
    (void)state;
    int64_t first = kb_instant_of_day(DAYS_MIN), span = kb_instant_of_day(DAYS_MAX + 1) - first;
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t us = first + (int64_t)(x % (uint64_t)span);
        if (i % 3 == 0) us -= us % KB_US_PER_SEC; /* whole seconds too */
        char buf[28];
        assert_true(kb_time_format(us, buf, sizeof buf) > 0);
        int64_t back = SENTINEL;
        assert_int_equal(kb_time_parse(buf, &back), KB_OK);
        assert_true(back == us);
    }
}

static void test_date_parse_format(void **state) {
    (void)state;
    char buf[16];
    int32_t d = -1;
    assert_int_equal(kb_date_parse("2024-02-29", &d), KB_OK);
    assert_int_equal(d, 19782);
    assert_int_equal(kb_date_format(d, buf, sizeof buf), 10);
    assert_string_equal(buf, "2024-02-29");
    assert_int_equal(kb_date_format(DAYS_MIN, buf, sizeof buf), 10);
    assert_string_equal(buf, "0001-01-01");
    assert_int_equal(kb_date_format(-1, buf, sizeof buf), 10);
    assert_string_equal(buf, "1969-12-31");
    assert_int_equal(kb_date_format(0, buf, 11), 10);
    assert_int_equal(kb_date_format(0, buf, 10), -1);
    assert_int_equal(kb_date_format(DAYS_MIN - 1, buf, sizeof buf), -1);
    assert_int_equal(kb_date_format(DAYS_MAX + 1, buf, sizeof buf), -1);
    const char *bad[] = {"2023-02-29",  "2024-02-29T00:00:00Z", "2024-2-29", "",
                         "2024-02-29 ", "10000-01-01",          "0000-01-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = 12345;
        assert_int_equal(kb_date_parse(bad[i], &d), KB_ERR_ARG);
        assert_int_equal(d, 12345);
    }
    for (int32_t day = DAYS_MIN; day <= DAYS_MAX; day += 101) {
        assert_int_equal(kb_date_format(day, buf, sizeof buf), 10);
        assert_int_equal(kb_date_parse(buf, &d), KB_OK);
        assert_int_equal(d, day);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_civil_valid),
        cmocka_unit_test(test_known_days),
        cmocka_unit_test(test_round_trip_all_days),
        cmocka_unit_test(test_weekday),
        cmocka_unit_test(test_add_months),
        cmocka_unit_test(test_business_days),
        cmocka_unit_test(test_instant_days),
        cmocka_unit_test(test_time_parse_format),
        cmocka_unit_test(test_time_parse_rejects),
        cmocka_unit_test(test_time_format_limits),
        cmocka_unit_test(test_time_round_trip_many),
        cmocka_unit_test(test_date_parse_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
