/* kasboek limits: every bound in one place (DESIGN.md §7, TigerBeetle style).
 * Units come last in names. Changing a limit that shapes stored data (ids,
 * per-payment arrays) needs a schema version bump. */
#ifndef KB_LIMITS_H
#define KB_LIMITS_H

#define KB_ID_LEN_MAX                    64 /* tenant and aggregate ids */
#define KB_IDEMPOTENCY_KEY_LEN_MAX       128
#define KB_API_KEY_LEN_MAX               256
#define KB_METHOD_LEN_MAX                96
#define KB_TEXT_LEN_MAX                  500 /* reasons, descriptions, names */
#define KB_EMAIL_LEN_MAX                 254
#define KB_META_KEY_LEN_MAX              40
#define KB_META_VALUE_LEN_MAX            500
#define KB_META_ENTRIES_MAX              20
#define KB_LINE_ITEMS_MAX                50
#define KB_REFUNDS_MAX                   64 /* per payment */
#define KB_DISPUTES_MAX                  8  /* per payment */
#define KB_INVOICE_LINES_MAX             100 /* lines, fees and discounts of one invoice */
#define KB_INVOICE_PAYMENTS_MAX          64  /* payments applied to one invoice */
#define KB_INVOICE_QUANTITY_MILLI_MAX    1000000000 /* 1,000,000.000 units */
/* Any one amount of a request (a payment, its fee, a refund, a dispute's
 * fee, an invoice's unit price, ...), in minor units: 10^15, ten trillion
 * euros. Sums of many of them are still checked where they are made. */
#define KB_AMOUNT_MAX        1000000000000000LL
#define KB_INVOICE_PRICE_MAX KB_AMOUNT_MAX
/* The latest clock reading the ledger takes: 9000-01-01T00:00:00Z in
 * microseconds. The calendar ends with 9999; this leaves its business-day,
 * month and plan arithmetic room. (A review set the manual clock to
 * INT64_MAX: the next card payment aborted kasboekd, and the clock, which
 * never moves back, kept the data dir broken.) */
#define KB_TIME_MAX_US                   INT64_C(221845392000000000)
#define KB_EVENTS_PER_COMMAND_MAX        8
#define KB_PEER_EVENTS_MAX               2 /* events one command appends to its peer stream */
#define KB_READS_MAX                     20 /* other streams one decide reads */
#define KB_PLAN_ITEMS_MAX                20 /* invoices and cases one plan covers */
#define KB_PLAN_PAUSES_MAX               24 /* pauses one plan may take */
#define KB_REACTION_TARGETS_MAX          KB_PLAN_ITEMS_MAX /* streams one reaction writes */
#define KB_PLAN_INSTALMENTS_MAX          120
#define KB_BALANCE_OPEN_DAYS_MAX         1000 /* open available_on days of one balance */
#define KB_BALANCE_ENTRIES_PER_EVENT_MAX 4
#define KB_REPORT_BYTES_MAX              (32u * 1024u * 1024u) /* one report document */
#define KB_TICK_ACTIONS_MAX              1000                  /* commands one Tick runs */
#define KB_STREAM_LEN_MAX                96                    /* "payment/<id>" */
#define KB_FIELD_LEN_MAX                 64                    /* offending field path in errors */
#define KB_MESSAGE_LEN_MAX               200                   /* error message text */

#define KB_MESSAGE_BYTES_MAX   (1u << 20)           /* default request size cap */
#define KB_EVENT_BYTES_MAX     (256u * 1024u)       /* one packed event */
#define KB_COMMAND_ARENA_BYTES (8u * 1024u * 1024u) /* a bound; chunks come as needed */

#define KB_PAGE_SIZE_DEFAULT 50
#define KB_PAGE_SIZE_MAX     1000
#define KB_LIST_SCAN_MAX     100000                /* index entries one list page reads */
#define KB_LIST_SORT_MAX     10000                 /* amount-range candidates sorted */
#define KB_TOTALS_SCAN_MAX   2000000               /* index entries one totals walk reads */
#define KB_QUERY_ARENA_BYTES (64u * 1024u * 1024u) /* one query's reply rows */
#define KB_QUERY_PAGE_BYTES  (32u * 1024u * 1024u) /* a page ends (with a cursor) past this */

#define KB_BATCH_COMMANDS_MAX_DEFAULT 512
#define KB_SUBMIT_BATCH_COMMANDS_MAX  1000 /* commands in one SubmitBatch */
#define KB_BATCH_BYTES_MAX_DEFAULT    (8u * 1024u * 1024u)

#define KB_HASH_BYTES 32 /* BLAKE2b-256 */

#endif
