/* kasboek status codes.
 *
 * Two kinds of outcome, kept apart (DESIGN.md §7):
 *  - kb_status: system errors of ledger calls (I/O, corruption, memory).
 *  - kb_error:  a command's domain outcome, sent to the caller as a gRPC
 *               canonical code plus a stable reason (kb_reason) and field.
 */
#ifndef KB_STATUS_H
#define KB_STATUS_H

#include <stddef.h>

#include "kb_limits.h"

#define KB_MUST_USE __attribute__((warn_unused_result))

/* A check that stays on in release builds, for conditions that must never
 * happen (a broken invariant, an exhausted arena bounded by kb_limits.h):
 * prints where and aborts rather than go on with a wrong ledger. */
#define KB_VERIFY(cond) ((cond) ? (void)0 : kb_panic(__FILE__, __LINE__, #cond))
_Noreturn void kb_panic(const char *file, int line, const char *what);

typedef enum kb_status {
    KB_OK = 0,
    KB_ERR_IO,      /* RocksDB or the file system failed */
    KB_ERR_CORRUPT, /* a stored record fails its checks */
    KB_ERR_NOMEM,
    KB_ERR_LIMIT,     /* a bound in limits.h was reached */
    KB_ERR_NOT_FOUND, /* key absent (not an error for most callers) */
    KB_ERR_STATE,     /* call not allowed in this state (sticky error) */
    KB_ERR_ARG,       /* caller passed arguments outside the contract */
} kb_status;

const char *kb_status_str(kb_status s);

/* gRPC canonical codes, same numbers as proto Code. */
typedef enum kb_code {
    KB_CODE_OK = 0,
    KB_CODE_CANCELLED = 1,
    KB_CODE_UNKNOWN = 2,
    KB_CODE_INVALID_ARGUMENT = 3,
    KB_CODE_DEADLINE_EXCEEDED = 4,
    KB_CODE_NOT_FOUND = 5,
    KB_CODE_ALREADY_EXISTS = 6,
    KB_CODE_PERMISSION_DENIED = 7,
    KB_CODE_RESOURCE_EXHAUSTED = 8,
    KB_CODE_FAILED_PRECONDITION = 9,
    KB_CODE_ABORTED = 10,
    KB_CODE_OUT_OF_RANGE = 11,
    KB_CODE_UNIMPLEMENTED = 12,
    KB_CODE_INTERNAL = 13,
    KB_CODE_UNAVAILABLE = 14,
    KB_CODE_DATA_LOSS = 15,
    KB_CODE_UNAUTHENTICATED = 16,
} kb_code;

const char *kb_code_str(kb_code c); /* "INVALID_ARGUMENT" */

/* Stable machine reasons. Append only: the string is the contract.
 * X(name, default code) */
#define KB_REASONS(X)                                 \
    X(NONE, OK)                                       \
    X(UNKNOWN_METHOD, UNIMPLEMENTED)                  \
    X(MALFORMED_REQUEST, INVALID_ARGUMENT)            \
    X(MALFORMED_PAYLOAD, INVALID_ARGUMENT)            \
    X(MESSAGE_TOO_LARGE, RESOURCE_EXHAUSTED)          \
    X(FIELD_REQUIRED, INVALID_ARGUMENT)               \
    X(INVALID_ID, INVALID_ARGUMENT)                   \
    X(INVALID_TENANT, INVALID_ARGUMENT)               \
    X(INVALID_UTF8, INVALID_ARGUMENT)                 \
    X(TEXT_TOO_LONG, INVALID_ARGUMENT)                \
    X(INVALID_IDEMPOTENCY_KEY, INVALID_ARGUMENT)      \
    X(CARD_NUMBER_NOT_ALLOWED, INVALID_ARGUMENT)      \
    X(INVALID_AMOUNT, INVALID_ARGUMENT)               \
    X(AMOUNT_OVERFLOW, INVALID_ARGUMENT)              \
    X(UNKNOWN_CURRENCY, INVALID_ARGUMENT)             \
    X(CURRENCY_MISMATCH, INVALID_ARGUMENT)            \
    X(INVALID_ENUM, INVALID_ARGUMENT)                 \
    X(INVALID_EMAIL, INVALID_ARGUMENT)                \
    X(INVALID_TIME, INVALID_ARGUMENT)                 \
    X(TOO_MANY_ITEMS, INVALID_ARGUMENT)               \
    X(DUPLICATE_KEY, INVALID_ARGUMENT)                \
    X(LINE_ITEMS_TOTAL_MISMATCH, INVALID_ARGUMENT)    \
    X(FEE_EXCEEDS_AMOUNT, INVALID_ARGUMENT)           \
    X(INVALID_CURSOR, INVALID_ARGUMENT)               \
    X(INVALID_RANGE, INVALID_ARGUMENT)                \
    X(IDEMPOTENCY_KEY_REUSED, ALREADY_EXISTS)         \
    X(PAYMENT_EXISTS, ALREADY_EXISTS)                 \
    X(REFUND_EXISTS, ALREADY_EXISTS)                  \
    X(DISPUTE_EXISTS, ALREADY_EXISTS)                 \
    X(PROVIDER_TRANSACTION_EXISTS, ALREADY_EXISTS)    \
    X(PAYMENT_NOT_FOUND, NOT_FOUND)                   \
    X(REFUND_NOT_FOUND, NOT_FOUND)                    \
    X(DISPUTE_NOT_FOUND, NOT_FOUND)                   \
    X(VERSION_CONFLICT, ABORTED)                      \
    X(PAYMENT_NOT_PROCESSING, FAILED_PRECONDITION)    \
    X(PAYMENT_NOT_SUCCEEDED, FAILED_PRECONDITION)     \
    X(REFUND_EXCEEDS_AVAILABLE, FAILED_PRECONDITION)  \
    X(REFUND_NOT_PENDING, FAILED_PRECONDITION)        \
    X(DISPUTE_EXCEEDS_AVAILABLE, FAILED_PRECONDITION) \
    X(DISPUTE_NOT_OPEN, FAILED_PRECONDITION)          \
    X(RECEIPT_NOT_REQUESTED, FAILED_PRECONDITION)     \
    X(TOO_MANY_REFUNDS, FAILED_PRECONDITION)          \
    X(TOO_MANY_DISPUTES, FAILED_PRECONDITION)         \
    X(OCCURRED_IN_FUTURE, INVALID_ARGUMENT)           \
    X(CLOCK_NOT_MANUAL, FAILED_PRECONDITION)          \
    X(CLOCK_BACKWARDS, FAILED_PRECONDITION)           \
    X(CHECKPOINT_FAILED, FAILED_PRECONDITION)         \
    X(UNAUTHENTICATED, UNAUTHENTICATED)               \
    X(OVERLOADED, RESOURCE_EXHAUSTED)                 \
    X(SHUTTING_DOWN, UNAVAILABLE)                     \
    X(STORAGE_FAILED, UNAVAILABLE)                    \
    X(RECORD_CORRUPT, DATA_LOSS)                      \
    X(INTERNAL_ERROR, INTERNAL)                       \
    X(INVALID_DATE, INVALID_ARGUMENT)                 \
    X(SETTING_OUT_OF_RANGE, INVALID_ARGUMENT)         \
    X(BALANCE_NOT_FOUND, NOT_FOUND)                   \
    X(PAYOUT_NOT_FOUND, NOT_FOUND)                    \
    X(PAYOUT_DATE_IN_FUTURE, FAILED_PRECONDITION)     \
    X(PAYOUT_DATE_CLOSED, FAILED_PRECONDITION)        \
    X(PAYOUT_NOT_PENDING, FAILED_PRECONDITION)        \
    X(PAYOUT_ALREADY_FAILED, FAILED_PRECONDITION)     \
    X(TOO_MANY_OPEN_DAYS, RESOURCE_EXHAUSTED)         \
    X(REPORT_TOO_LARGE, RESOURCE_EXHAUSTED)           \
    X(FILTER_TOO_BROAD, RESOURCE_EXHAUSTED)           \
    X(INVOICE_EXISTS, ALREADY_EXISTS)                 \
    X(INVOICE_NOT_FOUND, NOT_FOUND)                   \
    X(INVOICE_LINE_EXISTS, ALREADY_EXISTS)            \
    X(INVOICE_LINE_NOT_FOUND, NOT_FOUND)              \
    X(INVOICE_NOT_DRAFT, FAILED_PRECONDITION)         \
    X(INVOICE_NOT_OPEN, FAILED_PRECONDITION)          \
    X(INVOICE_ALREADY_PAID, FAILED_PRECONDITION)      \
    X(INVOICE_HAS_PAYMENTS, FAILED_PRECONDITION)      \
    X(INVOICE_PAYMENT_PENDING, FAILED_PRECONDITION)   \
    X(INVOICE_OVERPAYMENT, FAILED_PRECONDITION)       \
    X(INVOICE_EMPTY, FAILED_PRECONDITION)             \
    X(INVOICE_NOT_OVERDUE, FAILED_PRECONDITION)       \
    X(INVOICE_NUMBER_TAKEN, ALREADY_EXISTS)           \
    X(DUE_DATE_IN_PAST, FAILED_PRECONDITION)          \
    X(DUE_DATE_WITH_TERMS, INVALID_ARGUMENT)          \
    X(INVALID_QUANTITY, INVALID_ARGUMENT)             \
    X(INVALID_RATE, INVALID_ARGUMENT)                 \
    X(FIELD_NOT_ALLOWED, INVALID_ARGUMENT)            \
    X(DISCOUNT_EXCEEDS_LINE, INVALID_ARGUMENT)        \
    X(DISCOUNT_EXCEEDS_SUBTOTAL, INVALID_ARGUMENT)    \
    X(PLAN_EXISTS, ALREADY_EXISTS)                    \
    X(PLAN_NOT_FOUND, NOT_FOUND)                      \
    X(PLAN_NOT_DRAFT, FAILED_PRECONDITION)            \
    X(PLAN_NOT_ACTIVE, FAILED_PRECONDITION)           \
    X(PLAN_NOT_PAUSED, FAILED_PRECONDITION)           \
    X(PLAN_CLOSED, FAILED_PRECONDITION)               \
    X(SMS_NOT_SUPPORTED, INVALID_ARGUMENT)            \
    X(PLAN_OVERPAYMENT, FAILED_PRECONDITION)          \
    X(PLAN_NOTHING_DUE, FAILED_PRECONDITION)          \
    X(INSTALMENT_NOT_FOUND, NOT_FOUND)                \
    X(INSTALMENT_NOT_COLLECTING, FAILED_PRECONDITION) \
    X(INSTALMENT_NOT_FAILED, FAILED_PRECONDITION)     \
    X(REMINDER_NOT_REQUESTED, FAILED_PRECONDITION)    \
    X(INVOICE_IN_PLAN, FAILED_PRECONDITION)           \
    X(PLAN_INVOICE_CHANGED, FAILED_PRECONDITION)      \
    X(INVOICE_REFUND_PENDING, FAILED_PRECONDITION)

typedef enum kb_reason {
#define KB_REASON_ENUM(name, code) KB_REASON_##name,
    KB_REASONS(KB_REASON_ENUM)
#undef KB_REASON_ENUM
        KB_REASON_COUNT_
} kb_reason;

const char *kb_reason_str(kb_reason r); /* "REFUND_EXCEEDS_AVAILABLE", "" for NONE */
kb_code kb_reason_code(kb_reason r);    /* its default code */

/* A command's outcome as the caller sees it. Plain data, caller owned. */
typedef struct kb_error {
    kb_code code;
    kb_reason reason;
    char field[KB_FIELD_LEN_MAX + 1];
    char message[KB_MESSAGE_LEN_MAX + 1];
} kb_error;

/* Clears e to OK. */
void kb_error_clear(kb_error *e);

/* Sets e to reason (with its default code), field (may be NULL) and a
 * printf-style message. Returns the reason's code for convenience. */
kb_code kb_error_set(kb_error *e, kb_reason reason, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
