#include "money.h"

#include <assert.h>
#include <string.h>

/* Longest text kb_money_parse reads; longer text is KB_ERR_ARG. A sign, 19
 * digits and a point need 21 bytes, the rest is room for leading zeros. */
#define KB_MONEY_TEXT_LEN_MAX 64
/* Largest exponent in the table (CLF, UYW). */
#define KB_MONEY_EXPONENT_MAX 4

typedef struct kb_currency {
    char code[KB_CURRENCY_LEN + 1];
    int exponent;
} kb_currency;

/* ISO 4217 list one (current codes), with its minor units. Codes without
 * minor units ("N.A.": XAU, XDR, XTS, XXX, ...) are not money here. ANG, CUC,
 * SLL and ZWL are kept while their withdrawal runs. Sorted, so the search can
 * stop early; the unit test checks the order through kb_currency_exponent. */
static const kb_currency currencies[] = {
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

#define KB_CURRENCY_COUNT (sizeof currencies / sizeof currencies[0])

static bool code_well_formed(const char *code) {
    if (!code) return false;
    for (int i = 0; i < KB_CURRENCY_LEN; i++) {
        if (code[i] < 'A' || code[i] > 'Z') return false; /* also stops at NUL */
    }
    return code[KB_CURRENCY_LEN] == '\0';
}

int kb_currency_exponent(const char *code) {
    if (!code_well_formed(code)) return -1;
    for (size_t i = 0; i < KB_CURRENCY_COUNT; i++) {
        int cmp = memcmp(currencies[i].code, code, KB_CURRENCY_LEN);
        if (cmp == 0) {
            int e = currencies[i].exponent;
            assert(e >= 0 && e <= KB_MONEY_EXPONENT_MAX);
            return e;
        }
        if (cmp > 0) return -1; /* sorted: passed the place it would be */
    }
    return -1;
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

/* Accumulates the digits of text (the sign already consumed) as a negative
 * number, so INT64_MIN is reachable; *frac_digits counts decimals. */
static kb_status parse_digits(const char *p, int exponent, int64_t *neg_out, int *frac_digits) {
    int64_t acc = 0;
    int int_digits = 0, frac = 0;
    bool point = false;
    for (; *p; p++) {
        if (*p == '.' && !point && exponent > 0) {
            point = true;
            continue;
        }
        if (!is_digit(*p)) return KB_ERR_ARG;
        if (point && ++frac > exponent) return KB_ERR_ARG;
        if (!point) int_digits++;
        if (__builtin_mul_overflow(acc, 10, &acc) ||
            __builtin_sub_overflow(acc, (int64_t)(*p - '0'), &acc))
            return KB_ERR_LIMIT;
    }
    /* "1." and ".5" and "-" are rejected: digits on both sides of a point. */
    if (int_digits == 0 || (point && frac == 0)) return KB_ERR_ARG;
    assert(acc <= 0);
    *neg_out = acc;
    *frac_digits = frac;
    return KB_OK;
}

kb_status kb_money_parse(const char *text, const char *currency, int64_t *out) {
    int exponent = kb_currency_exponent(currency);
    return exponent < 0 ? KB_ERR_ARG : kb_decimal_parse(text, exponent, out);
}

kb_status kb_decimal_parse(const char *text, int decimals, int64_t *out) {
    if (!text || !out || decimals < 0 || decimals > KB_MONEY_EXPONENT_MAX) return KB_ERR_ARG;
    int exponent = decimals;
    if (strnlen(text, KB_MONEY_TEXT_LEN_MAX + 1) > KB_MONEY_TEXT_LEN_MAX) return KB_ERR_ARG;

    bool negative = text[0] == '-';
    int64_t neg = 0;
    int frac = 0;
    kb_status st = parse_digits(text + (negative ? 1 : 0), exponent, &neg, &frac);
    if (st != KB_OK) return st;
    assert(frac >= 0 && frac <= exponent);
    for (int i = frac; i < exponent; i++) {
        if (__builtin_mul_overflow(neg, 10, &neg)) return KB_ERR_LIMIT;
    }
    int64_t value = neg;
    if (!negative && __builtin_sub_overflow((int64_t)0, neg, &value)) return KB_ERR_LIMIT;
    assert(negative ? value <= 0 : value >= 0);
    *out = value;
    return KB_OK;
}

int kb_money_format(int64_t minor, const char *currency, char *buf, size_t n) {
    int exponent = kb_currency_exponent(currency);
    if (!buf || n == 0) return -1;
    buf[0] = '\0';
    if (exponent < 0) return -1;

    /* Magnitude without negating INT64_MIN. */
    uint64_t mag = minor < 0 ? (uint64_t)(-(minor + 1)) + 1u : (uint64_t)minor;
    char rev[32]; /* 20 digits, a point, a sign */
    int len = 0;
    for (int i = 0; mag > 0 || i <= exponent; i++) {
        if (i == exponent && exponent > 0) rev[len++] = '.';
        rev[len++] = (char)('0' + (int)(mag % 10u));
        mag /= 10u;
        assert(len < (int)sizeof rev - 1);
    }
    if (minor < 0) rev[len++] = '-';
    if ((size_t)len >= n) return -1;
    for (int i = 0; i < len; i++) buf[i] = rev[len - 1 - i];
    buf[len] = '\0';
    return len;
}

bool kb_add_checked(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool kb_sub_checked(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool kb_mul_checked(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

#ifndef NDEBUG
/* Sum of parts, for asserts; every caller's parts share the total's sign
 * and are no larger than it in magnitude, so partial sums cannot overflow. */
static int64_t parts_sum(const int64_t *parts, uint32_t n) {
    int64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool ok = kb_add_checked(sum, parts[i], &sum);
        assert(ok);
    }
    return sum;
}
#endif

kb_status kb_money_split(int64_t total, uint32_t n, int64_t *parts) {
    if (n == 0 || !parts) return KB_ERR_ARG;
    int64_t base = total / (int64_t)n; /* truncates toward zero */
    /* |base * (n - 1)| <= |total|, same sign: neither step overflows. */
    int64_t last = total - base * (int64_t)(n - 1);
    for (uint32_t i = 0; i + 1 < n; i++) parts[i] = base;
    parts[n - 1] = last;

    assert(total >= 0 ? (base >= 0 && last >= base) : (base <= 0 && last <= base));
    assert(last - base < (int64_t)n && base - last < (int64_t)n);
    assert(parts_sum(parts, n) == total); /* money is conserved */
    return KB_OK;
}

kb_status kb_money_split_by_amount(int64_t total, int64_t amount, int64_t *parts,
                                   uint32_t parts_cap, uint32_t *n_out) {
    if (total <= 0 || amount <= 0 || !n_out) return KB_ERR_ARG;
    int64_t full = total / amount;
    int64_t rest = total % amount;
    int64_t n = full + (rest != 0);
    if (n > (int64_t)UINT32_MAX) return KB_ERR_LIMIT;
    *n_out = (uint32_t)n;
    if (n > (int64_t)parts_cap || !parts) return KB_ERR_LIMIT;

    for (int64_t i = 0; i < full; i++) parts[i] = amount;
    if (rest != 0) parts[n - 1] = rest;

    assert(rest >= 0 && rest < amount);
    assert(parts[n - 1] > 0 && parts[n - 1] <= amount);
    assert(parts_sum(parts, (uint32_t)n) == total); /* money is conserved */
    return KB_OK;
}
