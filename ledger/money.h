/* Money: int64 minor units of an ISO 4217 currency. No floating point.
 * Every arithmetic helper is checked: on overflow it returns false and
 * leaves *out untouched. */
#ifndef KB_MONEY_H
#define KB_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define KB_CURRENCY_LEN 3

/* The currency's minor-unit exponent (EUR 2, JPY 0, BHD 3), or -1 when the
 * code is not a known ISO 4217 currency. Codes are upper case, exactly 3
 * letters; anything else is unknown. */
int kb_currency_exponent(const char *code);

/* Parses a decimal major-unit amount ("12.50", "-3", "0.125", "1,000" is
 * rejected) for the currency into minor units. At most the currency's
 * exponent of decimals; no exponent notation, no spaces, optional leading
 * '-' (no '+'). A point needs digits on both sides: "1." and ".5" are
 * rejected, and so is any point for a 0-exponent currency ("5.0" JPY).
 * Leading zeros are accepted; text longer than 64 bytes is rejected.
 * Returns KB_OK, or KB_ERR_ARG (bad text, too many decimals, unknown
 * currency) or KB_ERR_LIMIT (out of int64 range). *out is written only on
 * KB_OK. */
kb_status kb_money_parse(const char *text, const char *currency, int64_t *out) KB_MUST_USE;

/* The same rules for a plain decimal with at most decimals (0-4) digits
 * after the point, scaled by 10^decimals: "1.5" at 3 is 1500 (an invoice
 * quantity), "12.25" at 2 is 1225 (a rate in basis points). */
kb_status kb_decimal_parse(const char *text, int decimals, int64_t *out) KB_MUST_USE;

/* Formats minor units as a decimal with exactly the currency's exponent of
 * decimals ("12.50", "-0.05", "1000", "0.125"); no currency code, no
 * grouping. Writes a NUL-terminated string into buf (at most n bytes).
 * Returns the length, or -1 if the currency is unknown or buf too small
 * (buf then holds "" if n > 0). INT64_MIN formats correctly. */
int kb_money_format(int64_t minor, const char *currency, char *buf, size_t n);

bool kb_add_checked(int64_t a, int64_t b, int64_t *out) KB_MUST_USE;
bool kb_sub_checked(int64_t a, int64_t b, int64_t *out) KB_MUST_USE;
bool kb_mul_checked(int64_t a, int64_t b, int64_t *out) KB_MUST_USE;

/* Splits total into n parts of total/n each (truncated toward zero), the
 * last part taking the difference, so the parts always sum to total.
 * parts must hold n entries. KB_ERR_ARG when n == 0. */
kb_status kb_money_split(int64_t total, uint32_t n, int64_t *parts) KB_MUST_USE;

/* n = ceil(total / amount) parts of amount each, the last one smaller (the
 * remainder) when amount does not divide total. total > 0, amount > 0, else
 * KB_ERR_ARG. Writes *n_out on KB_OK, and also on the KB_ERR_LIMIT for
 * parts_cap < n (so the caller learns the size it needs); writes parts only
 * when parts_cap >= n (else KB_ERR_LIMIT and nothing written to parts).
 * KB_ERR_LIMIT without *n_out written when n does not fit in uint32_t. */
kb_status kb_money_split_by_amount(int64_t total, int64_t amount, int64_t *parts,
                                   uint32_t parts_cap, uint32_t *n_out) KB_MUST_USE;

#endif
