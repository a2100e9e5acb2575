#include "calendar.h"

#include <assert.h>
#include <string.h>

/* Algorithms after Howard Hinnant, "chrono-Compatible Low-Level Date
 * Algorithms": proleptic Gregorian calendar, eras of 400 years (146097
 * days). Worked in int64_t so no intermediate step can overflow. */

#define KB_YEAR_MIN            1
#define KB_YEAR_MAX            9999
#define KB_DAYS_MIN            INT32_C(-719162) /* 0001-01-01 */
#define KB_DAYS_MAX            INT32_C(2932896) /* 9999-12-31 */
#define KB_US_PER_MIN          (INT64_C(60) * KB_US_PER_SEC)
#define KB_US_PER_HOUR         (INT64_C(60) * KB_US_PER_MIN)
#define KB_FRACTION_DIGITS_MAX 6 /* microseconds */

static int64_t floor_div(int64_t a, int64_t b) {
    assert(b > 0);
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

static int64_t days_from_ymd(int64_t y, int64_t m, int64_t d) {
    assert(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static kb_civil civil_from_days64(int64_t z) {
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    assert(y >= INT32_MIN && y <= INT32_MAX);
    return (kb_civil){.year = (int32_t)y, .month = (int32_t)m, .day = (int32_t)d};
}

bool kb_is_leap_year(int32_t year) {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

int32_t kb_days_in_month(int32_t year, int32_t month) {
    static const int32_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12) return 0;
    if (month == 2 && kb_is_leap_year(year)) return 29;
    return days[month - 1];
}

bool kb_civil_valid(kb_civil c) {
    return c.year >= KB_YEAR_MIN && c.year <= KB_YEAR_MAX && c.month >= 1 && c.month <= 12 &&
           c.day >= 1 && c.day <= kb_days_in_month(c.year, c.month);
}

int32_t kb_days_from_civil(kb_civil c) {
    assert(kb_civil_valid(c));
    int64_t days = days_from_ymd(c.year, c.month, c.day);
    assert(days >= KB_DAYS_MIN && days <= KB_DAYS_MAX);
    return (int32_t)days;
}

kb_civil kb_civil_from_days(int32_t days) {
    kb_civil c = civil_from_days64(days);
    assert(c.month >= 1 && c.month <= 12);
    assert(c.day >= 1 && c.day <= kb_days_in_month(c.year, c.month));
    return c;
}

int kb_weekday(int32_t days) {
    /* 1970-01-01 was a Thursday (3). */
    int wd = (int)(((int64_t)days % 7 + 7 + 3) % 7);
    assert(wd >= 0 && wd <= 6);
    return wd;
}

int32_t kb_add_months(int32_t days, int32_t months) {
    assert(days >= KB_DAYS_MIN && days <= KB_DAYS_MAX);
    kb_civil c = civil_from_days64(days);
    int64_t index = (int64_t)c.year * 12 + (c.month - 1) + months; /* months since 0000-01 */
    int64_t year = floor_div(index, 12);
    int32_t month = (int32_t)(index - year * 12) + 1;
    assert(year >= KB_YEAR_MIN && year <= KB_YEAR_MAX); /* result stays in range */
    int32_t dim = kb_days_in_month((int32_t)year, month);
    int32_t day = c.day < dim ? c.day : dim; /* clamp to the month's end */
    int32_t out = kb_days_from_civil((kb_civil){.year = (int32_t)year, .month = month, .day = day});
    assert(kb_civil_from_days(out).day <= c.day);
    return out;
}

int32_t kb_add_business_days(int32_t days, int32_t n) {
    assert(n >= 0);
    assert(days >= KB_DAYS_MIN && days <= KB_DAYS_MAX);
    if (n == 0) return days;
    int64_t d = days;
    int wd = kb_weekday(days);
    if (wd >= 5) { /* a weekend: count as from the Friday before, so Monday is day 1 */
        d -= wd - 4;
        wd = 4;
    }
    d += (int64_t)(n / 5) * 7;
    int rem = n % 5;
    d += (wd + rem >= 5) ? rem + 2 : rem; /* step over one weekend */
    assert(d >= KB_DAYS_MIN && d <= KB_DAYS_MAX);
    assert(kb_weekday((int32_t)d) < 5);
    return (int32_t)d;
}

int32_t kb_day_of_instant(int64_t us) {
    int64_t day = floor_div(us, KB_US_PER_DAY);
    assert(day >= INT32_MIN && day <= INT32_MAX);
    return (int32_t)day;
}

int64_t kb_instant_of_day(int32_t days) {
    assert(days >= INT64_MIN / KB_US_PER_DAY && days <= INT64_MAX / KB_US_PER_DAY);
    return (int64_t)days * KB_US_PER_DAY;
}

/* ---- text ---- */

/* Reads exactly width decimal digits at *p; stops at the first non-digit
 * (so never past a NUL). */
static bool read_num(const char **p, int width, int32_t *v) {
    int32_t acc = 0;
    for (int i = 0; i < width; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9') return false;
        acc = acc * 10 + (ch - '0');
    }
    *p += width;
    *v = acc;
    return true;
}

static bool expect(const char **p, char ch) {
    if (**p != ch) return false;
    (*p)++;
    return true;
}

/* "YYYY-MM-DD" -> days. */
static bool read_date(const char **p, int32_t *days) {
    kb_civil c;
    if (!read_num(p, 4, &c.year) || !expect(p, '-') || !read_num(p, 2, &c.month) ||
        !expect(p, '-') || !read_num(p, 2, &c.day))
        return false;
    if (!kb_civil_valid(c)) return false;
    *days = kb_days_from_civil(c);
    return true;
}

/* "HH:MM:SS" with an optional ".f" of 1..6 digits -> microseconds into the
 * day. 24:00:00 and leap seconds (:60) are rejected. */
static bool read_clock(const char **p, int64_t *us) {
    int32_t h, m, s;
    if (!read_num(p, 2, &h) || !expect(p, ':') || !read_num(p, 2, &m) || !expect(p, ':') ||
        !read_num(p, 2, &s))
        return false;
    if (h > 23 || m > 59 || s > 59) return false;
    int64_t frac = 0;
    if (expect(p, '.')) {
        int digits = 0;
        while (**p >= '0' && **p <= '9') {
            if (++digits > KB_FRACTION_DIGITS_MAX) return false;
            frac = frac * 10 + (**p - '0');
            (*p)++;
        }
        if (digits == 0) return false;
        for (int i = digits; i < KB_FRACTION_DIGITS_MAX; i++) frac *= 10;
    }
    assert(frac >= 0 && frac < KB_US_PER_SEC);
    *us = h * KB_US_PER_HOUR + m * KB_US_PER_MIN + s * KB_US_PER_SEC + frac;
    return true;
}

/* "Z" or "+HH:MM" / "-HH:MM" -> the offset east of UTC in microseconds. */
static bool read_offset(const char **p, int64_t *us) {
    if (expect(p, 'Z')) {
        *us = 0;
        return true;
    }
    int sign = **p == '+' ? 1 : **p == '-' ? -1 : 0;
    if (sign == 0) return false;
    (*p)++;
    int32_t h, m;
    if (!read_num(p, 2, &h) || !expect(p, ':') || !read_num(p, 2, &m)) return false;
    if (h > 23 || m > 59) return false;
    *us = sign * (h * KB_US_PER_HOUR + m * KB_US_PER_MIN);
    return true;
}

kb_status kb_time_parse(const char *text, int64_t *out) {
    if (!text || !out) return KB_ERR_ARG;
    const char *p = text;
    int32_t days;
    if (!read_date(&p, &days)) return KB_ERR_ARG;
    int64_t clock_us = 0, offset_us = 0;
    if (*p != '\0') {
        if (!expect(&p, 'T') || !read_clock(&p, &clock_us) || !read_offset(&p, &offset_us))
            return KB_ERR_ARG;
        if (*p != '\0') return KB_ERR_ARG;
    }
    int64_t us = kb_instant_of_day(days) + clock_us - offset_us;
    /* The offset may carry the instant out of years 1..9999. */
    if (us < kb_instant_of_day(KB_DAYS_MIN) || us >= kb_instant_of_day(KB_DAYS_MAX) + KB_US_PER_DAY)
        return KB_ERR_ARG;
    *out = us;
    return KB_OK;
}

/* Writes v as exactly width digits (v >= 0 and fits). */
static char *put_num(char *b, int64_t v, int width) {
    assert(v >= 0);
    for (int i = width - 1; i >= 0; i--) {
        b[i] = (char)('0' + (int)(v % 10));
        v /= 10;
    }
    assert(v == 0);
    return b + width;
}

static char *put_date(char *b, kb_civil c) {
    b = put_num(b, c.year, 4);
    *b++ = '-';
    b = put_num(b, c.month, 2);
    *b++ = '-';
    return put_num(b, c.day, 2);
}

/* Leaves buf an empty string when it has room for one; returns -1. */
static int emit_fail(char *buf, size_t n) {
    if (buf && n > 0) buf[0] = '\0';
    return -1;
}

/* Copies the len bytes of tmp and a NUL into buf if they fit. */
static int emit(const char *tmp, int len, char *buf, size_t n) {
    if (!buf || (size_t)len >= n) return emit_fail(buf, n);
    memcpy(buf, tmp, (size_t)len);
    buf[len] = '\0';
    return len;
}

int kb_time_format(int64_t us, char *buf, size_t n) {
    int32_t days = kb_day_of_instant(us);
    if (days < KB_DAYS_MIN || days > KB_DAYS_MAX) return emit_fail(buf, n);
    int64_t in_day = us - kb_instant_of_day(days);
    assert(in_day >= 0 && in_day < KB_US_PER_DAY);
    char tmp[32];
    char *b = put_date(tmp, kb_civil_from_days(days));
    *b++ = 'T';
    b = put_num(b, in_day / KB_US_PER_HOUR, 2);
    *b++ = ':';
    b = put_num(b, in_day / KB_US_PER_MIN % 60, 2);
    *b++ = ':';
    b = put_num(b, in_day / KB_US_PER_SEC % 60, 2);
    if (in_day % KB_US_PER_SEC != 0) {
        *b++ = '.';
        b = put_num(b, in_day % KB_US_PER_SEC, KB_FRACTION_DIGITS_MAX);
    }
    *b++ = 'Z';
    assert(b - tmp <= 27);
    return emit(tmp, (int)(b - tmp), buf, n);
}

int kb_date_format(int32_t days, char *buf, size_t n) {
    if (days < KB_DAYS_MIN || days > KB_DAYS_MAX) return emit_fail(buf, n);
    char tmp[16];
    char *b = put_date(tmp, kb_civil_from_days(days));
    assert(b - tmp == 10);
    return emit(tmp, (int)(b - tmp), buf, n);
}

kb_status kb_date_parse(const char *text, int32_t *out) {
    if (!text || !out) return KB_ERR_ARG;
    const char *p = text;
    int32_t days;
    if (!read_date(&p, &days) || *p != '\0') return KB_ERR_ARG;
    *out = days;
    return KB_OK;
}

bool kb_date_given(const char *text, int32_t *out) {
    return text && text[0] && kb_date_parse(text, out) == KB_OK;
}

#define KB_DATE_TEXT_LEN 11 /* "2026-01-31" and its NUL */

char *kb_date_text(kb_arena *a, int32_t day) {
    char *s = kb_arena_alloc(a, KB_DATE_TEXT_LEN);
    if (s && kb_date_format(day, s, KB_DATE_TEXT_LEN) < 0) s[0] = 0;
    return s;
}
