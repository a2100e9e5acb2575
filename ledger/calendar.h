/* Civil dates and UTC instants. No wall clock here: time is an input.
 *  - a civil date is days since 1970-01-01 (int32_t, may be negative);
 *  - an instant is microseconds since 1970-01-01T00:00:00Z (int64_t).
 * Valid years are 1..9999. */
#ifndef KB_CALENDAR_H
#define KB_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "status.h"

#define KB_US_PER_SEC INT64_C(1000000)
#define KB_US_PER_DAY (INT64_C(86400) * KB_US_PER_SEC)

typedef struct kb_civil {
    int32_t year;
    int32_t month; /* 1..12 */
    int32_t day;   /* 1..31 */
} kb_civil;

bool kb_is_leap_year(int32_t year);
/* 28..31, or 0 for a month outside 1..12. */
int32_t kb_days_in_month(int32_t year, int32_t month);
bool kb_civil_valid(kb_civil c);

/* c must be valid (kb_civil_valid; asserted). */
int32_t kb_days_from_civil(kb_civil c);
/* Any days value; the year may fall outside 1..9999 for far-off days. */
kb_civil kb_civil_from_days(int32_t days);

/* 0 = Monday … 6 = Sunday (ISO 8601). */
int kb_weekday(int32_t days);

/* Adds (or subtracts) months, clamping the day to the end of the target
 * month: Jan 31 + 1 month = Feb 28 (Feb 29 in leap years). days and the
 * result must lie in years 1..9999 (asserted). */
int32_t kb_add_months(int32_t days, int32_t months);

/* Adds n >= 0 business days (Saturday and Sunday skipped); from a weekend
 * day, counting starts at the next Monday, which is day 1: Saturday + 1 =
 * Monday, like Friday + 1. n == 0 returns days unchanged (even a weekend
 * day). days and the result must lie in years 1..9999 (asserted). */
int32_t kb_add_business_days(int32_t days, int32_t n);

/* The civil date (UTC) an instant falls on; floors negative instants.
 * kb_instant_of_day asserts that days * KB_US_PER_DAY fits in int64_t. */
int32_t kb_day_of_instant(int64_t us);
int64_t kb_instant_of_day(int32_t days);

/* Parses "2026-01-31" (a date: midnight UTC) or RFC 3339
 * "2026-01-31T10:00:00Z", "2026-01-31T10:00:00.123456Z",
 * "2026-01-31T10:00:00+01:00". KB_ERR_ARG on anything else, or on an
 * invalid date/time. Strict: upper-case 'T' and 'Z' only, 1..6 fraction
 * digits (more would lose precision), no leap second (:60), no 24:00:00,
 * offsets up to +-23:59, and the instant (after the offset) must lie in
 * years 1..9999. *out written only on KB_OK. */
kb_status kb_time_parse(const char *text, int64_t *out) KB_MUST_USE;

/* Formats an instant as "2026-01-31T10:00:00Z", with ".123456" added only
 * when the sub-second part is non-zero. Returns length or -1 (buf too small,
 * year out of range; buf then holds "" if n > 0). Needs at most 28 bytes. */
int kb_time_format(int64_t us, char *buf, size_t n);

/* Formats a civil date "2026-01-31". Returns length or -1. */
int kb_date_format(int32_t days, char *buf, size_t n);
/* Parses "2026-01-31" only. */
kb_status kb_date_parse(const char *text, int32_t *out) KB_MUST_USE;
/* A date field that may be empty: true with *out when text is a valid
 * "2026-01-31", false when it is empty or malformed. */
bool kb_date_given(const char *text, int32_t *out);
/* "2026-01-31" of day in a (NULL when out of memory; "" when the year is
 * out of range). */
char *kb_date_text(kb_arena *a, int32_t day);

#endif
