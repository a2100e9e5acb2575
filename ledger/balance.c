#include "balance.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "calendar.h"
#include "money.h"
#include "payment.h"
#include "project.h"

typedef Kasboek__V1__Balance Balance;
typedef Kasboek__V1__BalanceDay BalanceDay;
typedef Kasboek__V1__BalanceTransaction Btxn;
typedef Kasboek__V1__Event Event;
typedef Kasboek__V1__Payment Payment;
typedef Kasboek__V1__TenantSettings Settings;

/* ------------------------------------------------------------------ keys */

static void btxn_prefix(kb_key *k, const char *tenant, const char *index, const char *currency) {
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, "btxn");
    kb_key_add(k, index);
    kb_key_add(k, currency);
}

void kb_btxn_key_seq(kb_key *k, const char *tenant, const char *currency, uint64_t seq,
                     uint64_t n) {
    btxn_prefix(k, tenant, "seq", currency);
    kb_key_add_hex64(k, seq);
    kb_key_add_hex64(k, n);
}

void kb_btxn_key_day(kb_key *k, const char *tenant, const char *currency, int32_t day,
                     uint64_t seq) {
    KB_VERIFY(day >= 0);
    btxn_prefix(k, tenant, "day", currency);
    kb_key_add_hex64(k, (uint64_t)day);
    kb_key_add_hex64(k, seq);
}

void kb_btxn_key_created(kb_key *k, const char *tenant, int32_t day, uint64_t seq) {
    KB_VERIFY(day >= 0);
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, "btxn");
    kb_key_add(k, "created");
    kb_key_add_hex64(k, (uint64_t)day);
    kb_key_add_hex64(k, seq);
}

void kb_payout_key_date(kb_key *k, const char *tenant, const char *currency, int32_t day) {
    KB_VERIFY(day >= 0);
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, "payout");
    kb_key_add(k, "date");
    kb_key_add(k, currency);
    kb_key_add_hex64(k, (uint64_t)day);
}

void kb_payout_list_prefix(kb_key *k, const char *tenant, int status) {
    kb_key_init(k);
    kb_key_add(k, tenant);
    kb_key_add(k, "payout");
    if (status) {
        char n[12];
        snprintf(n, sizeof n, "%d", status);
        kb_key_add(k, "status");
        kb_key_add(k, n);
    } else {
        kb_key_add(k, "all");
    }
    kb_key_raw(k, "/", 1);
}

void kb_payout_id(int32_t day, const char *currency, char *buf, size_t n) {
    kb_civil c = kb_civil_from_days(day);
    snprintf(buf, n, "po_%04d%02d%02d_%s", (int)c.year, (int)c.month, (int)c.day, currency);
}

static const char *btxn_id(kb_arena *a, uint64_t seq, size_t n) {
    return kb_arena_printf(a, "bt_%llu_%zu", (unsigned long long)seq, n);
}

/* -------------------------------------------------------------- settings */

static ProtobufCMessage *settings_create(kb_arena *a, const char *id) {
    Settings *s = KB_NEW(a, Settings, KASBOEK__V1__TENANT_SETTINGS__INIT);
    if (!s) return NULL;
    s->tenant_id = kb_arena_strdup(a, id);
    s->card_available_days = KB_SETTINGS_CARD_DAYS_DEFAULT;
    s->debit_available_days = KB_SETTINGS_DEBIT_DAYS_DEFAULT;
    s->payout_minute_of_day = KB_SETTINGS_PAYOUT_MINUTE_DEFAULT;
    s->payout_arrival_days = KB_SETTINGS_ARRIVAL_DAYS_DEFAULT;
    s->invoice_prefix = "INV";
    s->invoice_number_digits = 6;
    return s->tenant_id ? &s->base : NULL;
}

static void settings_evolve(ProtobufCMessage *state, const Event *ev, kb_arena *a) {
    (void)a;
    Settings *s = (void *)state;
    if (ev->body_case != KASBOEK__V1__EVENT__BODY_TENANT_SETTINGS_UPDATED) return;
    const Kasboek__V1__TenantSettingsUpdated *e = ev->tenant_settings_updated;
    s->card_available_days = e->card_available_days;
    s->debit_available_days = e->debit_available_days;
    s->payout_minute_of_day = e->payout_minute_of_day;
    s->payout_arrival_days = e->payout_arrival_days;
    /* events from before the invoice settings carry none: keep the defaults */
    if (e->invoice_prefix[0]) s->invoice_prefix = e->invoice_prefix;
    if (e->invoice_number_digits) s->invoice_number_digits = e->invoice_number_digits;
    s->invoice_number_without_year = e->invoice_number_without_year;
}

static bool no_index(const ProtobufCMessage *state, const char *tenant, kb_index_set *out) {
    (void)state, (void)tenant, (void)out;
    return true;
}

static kb_code check_setting(uint32_t v, uint32_t max, const char *field, kb_error *err) {
    if (v <= max) return KB_CODE_OK;
    return kb_error_set(err, KB_REASON_SETTING_OUT_OF_RANGE, field, "%s must be 0-%u", field,
                        (unsigned)max);
}

/* Letters, '_' and '-' only: a digit next to the year could make the
 * number a 13-19 digit run, which the card-number check refuses. */
static bool prefix_valid(const char *p) {
    size_t n = strlen(p);
    if (n < 1 || n > 12 || !isalpha((unsigned char)p[0])) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalpha((unsigned char)p[i]) && p[i] != '_' && p[i] != '-') return false;
    return true;
}

static kb_code decide_settings(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                               kb_decide_ctx *c) {
    const Kasboek__V1__UpdateTenantSettingsRequest *r = (const void *)msg;
    const Settings *cur = state ? (const void *)state : (const void *)c->settings;
    KB_VERIFY(cur);
    Kasboek__V1__TenantSettingsUpdated *e =
        KB_EMIT(c, Kasboek__V1__TenantSettingsUpdated, KASBOEK__V1__TENANT_SETTINGS_UPDATED__INIT,
                KASBOEK__V1__EVENT__BODY_TENANT_SETTINGS_UPDATED);
    if (!e) return c->err->code;
    e->card_available_days = r->card_case ? r->card_available_days : cur->card_available_days;
    e->debit_available_days = r->debit_case ? r->debit_available_days : cur->debit_available_days;
    e->payout_minute_of_day = r->minute_case ? r->payout_minute_of_day : cur->payout_minute_of_day;
    e->payout_arrival_days = r->arrival_case ? r->payout_arrival_days : cur->payout_arrival_days;
    kb_code code = check_setting(e->card_available_days, 30, "card_available_days", c->err);
    if (!code) code = check_setting(e->debit_available_days, 30, "debit_available_days", c->err);
    if (!code) code = check_setting(e->payout_minute_of_day, 1439, "payout_minute_of_day", c->err);
    if (!code) code = check_setting(e->payout_arrival_days, 10, "payout_arrival_days", c->err);
    /* a state from before the invoice settings has none: the defaults */
    e->invoice_prefix = r->prefix_case          ? r->invoice_prefix
                        : cur->invoice_prefix[0] ? cur->invoice_prefix
                                                 : "INV";
    e->invoice_number_digits = r->digits_case            ? r->invoice_number_digits
                               : cur->invoice_number_digits ? cur->invoice_number_digits
                                                            : 6;
    e->invoice_number_without_year =
        r->year_case ? r->invoice_number_without_year : cur->invoice_number_without_year;
    if (!code && !prefix_valid(e->invoice_prefix))
        code = kb_error_set(c->err, KB_REASON_SETTING_OUT_OF_RANGE, "invoice_prefix",
                            "invoice_prefix must be 1-12 of [A-Za-z_-], starting with a letter");
    if (!code && (e->invoice_number_digits < 1 || e->invoice_number_digits > 8))
        code = kb_error_set(c->err, KB_REASON_SETTING_OUT_OF_RANGE, "invoice_number_digits",
                            "invoice_number_digits must be 1-8");
    return code;
}

static void settings_result(ProtobufCMessage *state, Kasboek__V1__CommandResult *r) {
    r->settings = (Settings *)state;
}

const kb_aggregate kb_settings_aggregate = {
    .type = "settings",
    .state_desc = &kasboek__v1__tenant_settings__descriptor,
    .create = settings_create,
    .evolve = settings_evolve,
    .index = no_index,
    .needs_settings = true,
};

/* --------------------------------------------------------------- balance */

static ProtobufCMessage *balance_create(kb_arena *a, const char *id) {
    Balance *b = KB_NEW(a, Balance, KASBOEK__V1__BALANCE__INIT);
    if (!b) return NULL;
    b->currency = kb_arena_strdup(a, id);
    return b->currency ? &b->base : NULL;
}

/* Index of the first open day >= day. */
static size_t day_at(const Balance *b, int32_t day) {
    size_t i = 0;
    while (i < b->n_open && b->open[i]->available_on < day) i++;
    return i;
}

static void open_add(Balance *b, int32_t day, int64_t amount, kb_arena *a) {
    size_t i = day_at(b, day);
    if (i == b->n_open || b->open[i]->available_on != day) {
        BalanceDay **v = kb_arena_alloc(a, (b->n_open + 1) * sizeof *v);
        BalanceDay *d = KB_NEW(a, BalanceDay, KASBOEK__V1__BALANCE_DAY__INIT);
        KB_VERIFY(v && d); /* the arena is sized for a command */
        if (i) memcpy(v, b->open, i * sizeof *v);
        if (b->n_open > i) memcpy(v + i + 1, b->open + i, (b->n_open - i) * sizeof *v);
        d->available_on = day;
        v[i] = d;
        b->open = v;
        b->n_open++;
    }
    /* decide checked every sum against overflow */
    KB_VERIFY(kb_add_checked(b->open[i]->amount, amount, &b->open[i]->amount));
    b->open[i]->count++;
}

static void balance_book(Balance *b, const Btxn *t, kb_arena *a) {
    KB_VERIFY(kb_add_checked(b->total, t->amount, &b->total));
    b->transactions++;
    if (t->type != KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYOUT) {
        open_add(b, t->available_on, t->amount, a);
    }
}

/* The open days available on or before day are b->open[0..*n): their sum
 * and transaction count. false when the sum overflows. */
static bool open_through(const Balance *b, int32_t day, size_t *n, int64_t *sum, uint32_t *count) {
    *sum = 0;
    *count = 0;
    size_t i = 0;
    for (; i < b->n_open && b->open[i]->available_on <= day; i++) {
        if (!kb_add_checked(*sum, b->open[i]->amount, sum)) return false;
        *count += b->open[i]->count;
    }
    *n = i;
    return true;
}

static void balance_close(Balance *b, const Kasboek__V1__PayoutClosed *e) {
    size_t n;
    int64_t sum;
    uint32_t count;
    KB_VERIFY(open_through(b, e->date, &n, &sum, &count)); /* decide checked it */
    KB_VERIFY(sum == e->amount && count == e->transaction_count);
    b->open += n;
    b->n_open -= n;
    KB_VERIFY(kb_add_checked(b->total, e->transaction->amount, &b->total));
    b->transactions++;
    b->last_payout_date = e->date;
    b->last_payout_id = e->payout_id;
    b->last_payout_seq = e->closed_seq;
}

static void balance_evolve(ProtobufCMessage *state, const Event *ev, kb_arena *a) {
    Balance *b = (void *)state;
    if (ev->body_case == KASBOEK__V1__EVENT__BODY_BALANCE_BOOKED) {
        for (size_t i = 0; i < ev->balance_booked->n_transactions; i++) {
            balance_book(b, ev->balance_booked->transactions[i], a);
        }
    } else if (ev->body_case == KASBOEK__V1__EVENT__BODY_PAYOUT_CLOSED) {
        balance_close(b, ev->payout_closed);
    }
    /* Money conservation: the open days hold the whole balance. */
    size_t n;
    int64_t sum;
    uint32_t count;
    KB_VERIFY(open_through(b, INT32_MAX, &n, &sum, &count) && sum == b->total);
}

int32_t kb_payout_day_due(const Settings *s, int64_t now) {
    int32_t today = kb_day_of_instant(now);
    int64_t minute = (now - kb_instant_of_day(today)) / INT64_C(60000000);
    return minute >= (int64_t)s->payout_minute_of_day ? today : today - 1;
}

bool kb_balance_split(const Balance *b, int32_t day, int64_t *available, int64_t *pending,
                      uint32_t *open) {
    size_t n;
    uint32_t on_or_before, all;
    int64_t total;
    if (!open_through(b, day, &n, available, &on_or_before) ||
        !open_through(b, INT32_MAX, &n, &total, &all)) {
        return false;
    }
    *open = all;
    return kb_sub_checked(total, *available, pending);
}

/* A transaction's seq row; seq is its event's. */
static bool put_btxn(const char *tenant, uint64_t seq, size_t n, const Btxn *t, kb_arena *a,
                     const kb_project_sink *sink) {
    Btxn row = *t;
    row.seq = seq;
    size_t len = kasboek__v1__balance_transaction__get_packed_size(&row);
    uint8_t *buf = kb_arena_alloc(a, len ? len : 1);
    if (!buf) return false;
    kasboek__v1__balance_transaction__pack(&row, buf);
    kb_key k;
    kb_btxn_key_seq(&k, tenant, t->currency, seq, n);
    sink->put(sink->ctx, KB_CF_INDEX, k.bytes, k.len, buf, len);
    return true;
}

static bool is_payout(const Btxn *t) {
    return t->type == KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYOUT;
}

/* The day and created rows of a booking's transactions: one per day,
 * naming the transactions of that day (a booking's transactions mostly
 * share both days). */
static void put_btxn_days(const char *tenant, uint64_t seq, Btxn *const *t, size_t n,
                          const kb_project_sink *sink) {
    KB_VERIFY(n <= KB_BALANCE_ENTRIES_PER_EVENT_MAX);
    for (size_t i = 0; i < n; i++) {
        KB_VERIFY(strcmp(t[i]->currency, t[0]->currency) == 0 && strlen(t[i]->currency) == 3);
        if (is_payout(t[i])) continue;
        int32_t created = kb_day_of_instant(t[i]->created_at);
        uint8_t avail_mask = 0, created_mask = 0;
        for (size_t j = 0; j < n; j++) {
            if (is_payout(t[j])) continue;
            if (t[j]->available_on == t[i]->available_on) avail_mask |= (uint8_t)(1u << j);
            if (kb_day_of_instant(t[j]->created_at) == created) {
                created_mask |= (uint8_t)(1u << j);
            }
        }
        kb_key k;
        if ((avail_mask & ((1u << i) - 1)) == 0) { /* the first of its day */
            kb_btxn_key_day(&k, tenant, t[i]->currency, t[i]->available_on, seq);
            sink->put(sink->ctx, KB_CF_INDEX, k.bytes, k.len, &avail_mask, 1);
        }
        if ((created_mask & ((1u << i) - 1)) == 0) {
            char v[4];
            memcpy(v, t[i]->currency, 3);
            v[3] = (char)created_mask;
            kb_btxn_key_created(&k, tenant, created, seq);
            sink->put(sink->ctx, KB_CF_INDEX, k.bytes, k.len, v, sizeof v);
        }
    }
}

static bool balance_effects(const char *tenant, uint64_t seq, const Event *ev, kb_arena *a,
                            const kb_project_sink *sink) {
    bool ok = true;
    if (ev->body_case == KASBOEK__V1__EVENT__BODY_BALANCE_BOOKED) {
        const Kasboek__V1__BalanceBooked *e = ev->balance_booked;
        for (size_t i = 0; ok && i < e->n_transactions; i++) {
            ok = put_btxn(tenant, seq, i, e->transactions[i], a, sink);
        }
        if (ok) put_btxn_days(tenant, seq, e->transactions, e->n_transactions, sink);
    } else if (ev->body_case == KASBOEK__V1__EVENT__BODY_PAYOUT_CLOSED) {
        ok = put_btxn(tenant, seq, 0, ev->payout_closed->transaction, a, sink); /* no days */
    }
    return ok;
}

static void balance_result(ProtobufCMessage *state, Kasboek__V1__CommandResult *r) {
    r->balance = (Balance *)state;
}

/* ---------------------------------------------------------- ClosePayout */

static kb_code close_date(const Kasboek__V1__ClosePayoutRequest *r, const kb_decide_ctx *c,
                          int32_t *day) {
    int32_t today = kb_day_of_instant(c->now);
    if (!r->date[0]) {
        *day = today;
    } else if (kb_date_parse(r->date, day) != KB_OK || *day < 0) {
        return kb_error_set(c->err, KB_REASON_INVALID_DATE, "date", "date must be YYYY-MM-DD");
    }
    if (*day > today) {
        return kb_error_set(c->err, KB_REASON_PAYOUT_DATE_IN_FUTURE, "date",
                            "a payout day closes on or after that day");
    }
    return KB_CODE_OK;
}

static kb_code emit_close(const Balance *b, int32_t day, kb_decide_ctx *c) {
    size_t n;
    int64_t sum, total;
    uint32_t count;
    if (!open_through(b, day, &n, &sum, &count) || sum == INT64_MIN ||
        !kb_sub_checked(b->total, sum, &total)) {
        return kb_error_set(c->err, KB_REASON_AMOUNT_OVERFLOW, "date", "payout out of range");
    }
    Kasboek__V1__PayoutClosed *e =
        KB_EMIT(c, Kasboek__V1__PayoutClosed, KASBOEK__V1__PAYOUT_CLOSED__INIT,
                KASBOEK__V1__EVENT__BODY_PAYOUT_CLOSED);
    Btxn *t = KB_NEW(c->arena, Btxn, KASBOEK__V1__BALANCE_TRANSACTION__INIT);
    char *id = kb_arena_alloc(c->arena, KB_ID_LEN_MAX + 1);
    if (!e || !t || !id) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no memory");
    kb_payout_id(day, b->currency, id, KB_ID_LEN_MAX + 1);
    e->payout_id = id;
    e->currency = b->currency;
    e->date = day;
    e->amount = sum;
    e->transaction_count = count;
    e->arrival_date = kb_add_business_days(day, (int32_t)c->settings->payout_arrival_days);
    e->closed_seq = c->first_seq;
    e->previous_date = b->last_payout_date;
    e->previous_seq = b->last_payout_seq;
    t->id = (char *)btxn_id(c->arena, c->first_seq, 0);
    t->type = KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYOUT;
    t->amount = -sum;
    t->currency = b->currency;
    t->source_type = "payout";
    t->source_id = id;
    t->created_at = c->occurred_at;
    t->available_on = day;
    t->source_seq = c->first_seq;
    e->transaction = t;
    return t->id ? KB_CODE_OK : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no memory");
}

static kb_code decide_close(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                            kb_decide_ctx *c) {
    const Balance *b = (const void *)state;
    int32_t day;
    kb_code code = close_date((const void *)msg, c, &day);
    if (code) return code;
    if (b->last_payout_date && day < b->last_payout_date) {
        return kb_error_set(c->err, KB_REASON_PAYOUT_DATE_CLOSED, "date",
                            "a later payout day of this currency is closed");
    }
    /* The same day again, or nothing available by it: nothing to append. */
    if (day == b->last_payout_date || day_at(b, day + 1) == 0) return KB_CODE_OK;
    return emit_close(b, day, c);
}

/* balance -> payout: a closed day creates its payout. */
static const char *close_target(const ProtobufCMessage *src, Event *const *events, size_t n,
                                kb_arena *a) {
    (void)src;
    for (size_t i = 0; i < n; i++) {
        if (events[i]->body_case == KASBOEK__V1__EVENT__BODY_PAYOUT_CLOSED) {
            return kb_arena_strdup(a, events[i]->payout_closed->payout_id);
        }
    }
    return NULL;
}

static kb_code close_react(const ProtobufCMessage *target, const ProtobufCMessage *src,
                           Event *const *events, size_t n, uint64_t first_seq, kb_decide_ctx *c) {
    (void)src, (void)first_seq;
    KB_VERIFY(!target); /* one payout per currency and day, and days only move forward */
    for (size_t i = 0; i < n; i++) {
        if (events[i]->body_case != KASBOEK__V1__EVENT__BODY_PAYOUT_CLOSED) continue;
        const Kasboek__V1__PayoutClosed *pc = events[i]->payout_closed;
        Kasboek__V1__PayoutCreated *e =
            KB_EMIT(c, Kasboek__V1__PayoutCreated, KASBOEK__V1__PAYOUT_CREATED__INIT,
                    KASBOEK__V1__EVENT__BODY_PAYOUT_CREATED);
        Kasboek__V1__Money *m = KB_NEW(c->arena, Kasboek__V1__Money, KASBOEK__V1__MONEY__INIT);
        if (!e || !m) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no memory");
        m->amount = pc->amount;
        m->currency = pc->currency;
        e->payout_id = pc->payout_id;
        e->amount = m;
        e->date = pc->date;
        e->arrival_date = pc->arrival_date;
        e->transaction_count = pc->transaction_count;
        e->closed_seq = pc->closed_seq;
        e->previous_date = pc->previous_date;
        e->previous_seq = pc->previous_seq;
        e->balance_transaction_id = pc->transaction->id;
    }
    return KB_CODE_OK;
}

static const kb_reaction balance_to_payout = {
    .target = &kb_payout_aggregate, .target_id = close_target, .react = close_react};

void kb_balance_key_due(kb_key *k, const char *tenant, const char *currency) {
    kb_key_init(k);
    kb_key_add(k, KB_SYS_PREFIX);
    kb_key_add(k, "balances");
    kb_key_add(k, tenant);
    kb_key_add(k, currency);
}

/* Every balance is listed for Tick under the system prefix. */
static bool balance_index(const ProtobufCMessage *state, const char *tenant, kb_index_set *out) {
    const Balance *b = (const void *)state;
    kb_key k;
    kb_balance_key_due(&k, tenant, b->currency);
    return kb_index_set_add(out, &k, "");
}

const kb_aggregate kb_balance_aggregate = {
    .type = "balance",
    .state_desc = &kasboek__v1__balance__descriptor,
    .create = balance_create,
    .evolve = balance_evolve,
    .index = balance_index,
    .effects = balance_effects,
    .reactions = (const kb_reaction *const[]){&balance_to_payout, NULL},
    .needs_settings = true,
};

/* --------------------------------------------- payment -> balance booking */

typedef struct booking {
    kb_decide_ctx *c;
    Kasboek__V1__BalanceBooked *e;
    const Payment *p;
    int64_t total; /* the balance's total as entries are added */
    size_t open_days;
    const Balance *b;
} booking;

/* Whether the balance's sums stay within int64 once amount is added on
 * day after this event's entries so far: each open day's sum as evolve
 * adds to it, and the sums of the open days up to each day and from each
 * day on (what kb_balance_split and a payout's close compute, and the
 * total a close leaves). Found by a review: a payment of INT64_MAX, its
 * refund and a payment of 1 overflowed a day while the total still fit,
 * and evolve's check aborted kasboekd. */
static bool book_fits(const booking *bk, int32_t day, int64_t amount) {
    enum { N = KB_BALANCE_OPEN_DAYS_MAX + KB_BALANCE_ENTRIES_PER_EVENT_MAX + 1 };
    int32_t days[N];
    int64_t sums[N];
    size_t n = 0;
    const Balance *b = bk->b;
    for (size_t i = 0; b && i < b->n_open && n < N; i++, n++) {
        days[n] = b->open[i]->available_on;
        sums[n] = b->open[i]->amount;
    }
    const Kasboek__V1__BalanceBooked *e = bk->e;
    for (size_t j = 0; j <= e->n_transactions; j++) {
        int32_t d = j < e->n_transactions ? e->transactions[j]->available_on : day;
        int64_t a = j < e->n_transactions ? e->transactions[j]->amount : amount;
        size_t i = 0;
        while (i < n && days[i] < d) i++;
        if (i == n || days[i] != d) {
            if (n == N) return false;
            memmove(days + i + 1, days + i, (n - i) * sizeof *days);
            memmove(sums + i + 1, sums + i, (n - i) * sizeof *sums);
            days[i] = d;
            sums[i] = 0;
            n++;
        }
        if (!kb_add_checked(sums[i], a, &sums[i])) return false;
    }
    int64_t up = 0, from = 0;
    for (size_t i = 0; i < n; i++) {
        if (!kb_add_checked(up, sums[i], &up) || up == INT64_MIN) return false;
        if (!kb_add_checked(from, sums[n - 1 - i], &from)) return false;
    }
    return true;
}

static kb_code book(booking *bk, Kasboek__V1__BalanceTransactionType type, int64_t amount,
                    const char *source_type, const char *source_id, int32_t available_on,
                    uint64_t source_seq, int64_t at) {
    kb_decide_ctx *c = bk->c;
    Kasboek__V1__BalanceBooked *e = bk->e;
    KB_VERIFY(e->n_transactions < KB_BALANCE_ENTRIES_PER_EVENT_MAX);
    if (!kb_add_checked(bk->total, amount, &bk->total) || !book_fits(bk, available_on, amount)) {
        return kb_error_set(c->err, KB_REASON_AMOUNT_OVERFLOW, "amount",
                            "the %s balance would overflow", bk->b ? bk->b->currency : "");
    }
    bool new_day = !bk->b || day_at(bk->b, available_on) == bk->b->n_open ||
                   bk->b->open[day_at(bk->b, available_on)]->available_on != available_on;
    for (size_t i = 0; new_day && i < e->n_transactions; i++) {
        new_day = e->transactions[i]->available_on != available_on;
    }
    if (new_day && ++bk->open_days > KB_BALANCE_OPEN_DAYS_MAX) {
        return kb_error_set(c->err, KB_REASON_TOO_MANY_OPEN_DAYS, "",
                            "more than %d open balance days: close a payout",
                            KB_BALANCE_OPEN_DAYS_MAX);
    }
    Btxn *t = KB_NEW(c->arena, Btxn, KASBOEK__V1__BALANCE_TRANSACTION__INIT);
    if (!t) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no memory");
    t->id = (char *)btxn_id(c->arena, c->first_seq, e->n_transactions);
    t->type = type;
    t->amount = amount;
    t->currency = bk->p->amount->currency;
    t->source_type = (char *)source_type;
    t->source_id = (char *)source_id;
    t->payment_id = bk->p->payment_id;
    t->created_at = at;
    t->available_on = available_on;
    t->source_seq = source_seq;
    t->method = bk->p->method;
    e->transactions[e->n_transactions++] = t;
    return t->id ? KB_CODE_OK : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no memory");
}

/* The payment's amount and its fee, available `days` business days on. */
static kb_code book_collected(booking *bk, const Event *ev, uint64_t seq, uint32_t days) {
    int32_t on = kb_add_business_days(kb_day_of_instant(ev->occurred_at), (int32_t)days);
    const Payment *p = bk->p;
    kb_code code = book(bk, KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYMENT,
                        p->amount->amount, "payment", p->payment_id, on, seq, ev->occurred_at);
    if (!code && p->fee && p->fee->amount > 0) {
        code = book(bk, KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_FEE,
                    -p->fee->amount, "payment", p->payment_id, on, seq, ev->occurred_at);
    }
    return code;
}

static kb_code book_event(booking *bk, const Event *ev, uint64_t seq) {
    const Settings *s = bk->c->settings;
    int32_t today = kb_day_of_instant(ev->occurred_at);
    int64_t at = ev->occurred_at;
    switch (ev->body_case) {
        case KASBOEK__V1__EVENT__BODY_PAYMENT_RECORDED:
            if (ev->payment_recorded->status !=
                KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED)
                return KB_CODE_OK;
            return book_collected(bk, ev, seq, s->card_available_days);
        case KASBOEK__V1__EVENT__BODY_PAYMENT_SETTLED:
            return book_collected(bk, ev, seq, s->debit_available_days);
        case KASBOEK__V1__EVENT__BODY_REFUND_CREATED: {
            const Kasboek__V1__RefundCreated *r = ev->refund_created;
            return book(bk, KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_REFUND,
                        -r->amount->amount, "refund", r->refund_id, today, seq, at);
        }
        case KASBOEK__V1__EVENT__BODY_REFUND_FAILED: {
            const Kasboek__V1__Refund *r =
                kb_payment_find_refund(bk->p, ev->refund_failed->refund_id);
            KB_VERIFY(r);
            return book(
                bk, KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_REFUND_FAILURE,
                r->amount->amount, "refund", r->refund_id, today, seq, at);
        }
        case KASBOEK__V1__EVENT__BODY_DISPUTE_CLOSED: {
            const Kasboek__V1__DisputeClosed *dc = ev->dispute_closed;
            if (dc->outcome != KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST)
                return KB_CODE_OK;
            const Kasboek__V1__Dispute *d = kb_payment_find_dispute(bk->p, dc->dispute_id);
            KB_VERIFY(d);
            int64_t fee = d->fee ? d->fee->amount : 0, lost;
            if (!kb_add_checked(d->amount->amount, fee, &lost)) {
                return kb_error_set(bk->c->err, KB_REASON_AMOUNT_OVERFLOW, "fee",
                                    "dispute amount plus fee overflows");
            }
            kb_code code =
                book(bk, KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_DISPUTE,
                     -lost, "dispute", d->dispute_id, today, seq, at);
            if (!code) bk->e->transactions[bk->e->n_transactions - 1]->dispute_fee = fee;
            return code;
        }
        default:
            return KB_CODE_OK;
    }
}

static bool moves_money(const Event *ev) {
    switch (ev->body_case) {
        case KASBOEK__V1__EVENT__BODY_PAYMENT_RECORDED:
            return ev->payment_recorded->status ==
                   KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_SUCCEEDED;
        case KASBOEK__V1__EVENT__BODY_PAYMENT_SETTLED:
        case KASBOEK__V1__EVENT__BODY_REFUND_CREATED:
        case KASBOEK__V1__EVENT__BODY_REFUND_FAILED:
            return true;
        case KASBOEK__V1__EVENT__BODY_DISPUTE_CLOSED:
            return ev->dispute_closed->outcome ==
                   KASBOEK__V1__DISPUTE_OUTCOME__DISPUTE_OUTCOME_LOST;
        default:
            return false;
    }
}

static const char *booking_target(const ProtobufCMessage *src, Event *const *events, size_t n,
                                  kb_arena *a) {
    const Payment *p = (const void *)src;
    for (size_t i = 0; i < n; i++) {
        if (moves_money(events[i])) return kb_arena_strdup(a, p->amount->currency);
    }
    return NULL;
}

static kb_code booking_react(const ProtobufCMessage *target, const ProtobufCMessage *src,
                             Event *const *events, size_t n, uint64_t first_seq, kb_decide_ctx *c) {
    const Balance *b = (const void *)target;
    Kasboek__V1__BalanceBooked *e =
        KB_EMIT(c, Kasboek__V1__BalanceBooked, KASBOEK__V1__BALANCE_BOOKED__INIT,
                KASBOEK__V1__EVENT__BODY_BALANCE_BOOKED);
    Btxn **v = kb_arena_alloc(c->arena, KB_BALANCE_ENTRIES_PER_EVENT_MAX * sizeof *v);
    if (!e || !v) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no memory");
    e->currency = (char *)c->id;
    e->transactions = v;
    booking bk = {.c = c,
                  .e = e,
                  .p = (const void *)src,
                  .total = b ? b->total : 0,
                  .open_days = b ? b->n_open : 0,
                  .b = b};
    kb_code code = KB_CODE_OK;
    for (size_t i = 0; !code && i < n; i++) code = book_event(&bk, events[i], first_seq + i);
    return code;
}

const kb_reaction kb_payment_booking = {
    .target = &kb_balance_aggregate, .target_id = booking_target, .react = booking_react};

/* ---------------------------------------------------------------- payout */

typedef Kasboek__V1__Payout Payout;

static ProtobufCMessage *payout_create(kb_arena *a, const char *id) {
    Payout *p = KB_NEW(a, Payout, KASBOEK__V1__PAYOUT__INIT);
    if (!p) return NULL;
    p->payout_id = kb_arena_strdup(a, id);
    return p->payout_id ? &p->base : NULL;
}

static void payout_evolve(ProtobufCMessage *state, const Event *ev, kb_arena *a) {
    (void)a;
    Payout *p = (void *)state;
    switch (ev->body_case) {
        case KASBOEK__V1__EVENT__BODY_PAYOUT_CREATED: {
            const Kasboek__V1__PayoutCreated *e = ev->payout_created;
            p->status = KASBOEK__V1__PAYOUT_STATUS__PAYOUT_STATUS_PENDING;
            p->amount = e->amount;
            p->debit = e->amount->amount < 0;
            p->date = e->date;
            p->arrival_date = e->arrival_date;
            p->transaction_count = e->transaction_count;
            p->closed_seq = e->closed_seq;
            p->previous_date = e->previous_date;
            p->previous_seq = e->previous_seq;
            p->balance_transaction_id = e->balance_transaction_id;
            p->created_at = ev->occurred_at;
            break;
        }
        case KASBOEK__V1__EVENT__BODY_PAYOUT_PAID:
            p->status = KASBOEK__V1__PAYOUT_STATUS__PAYOUT_STATUS_PAID;
            p->paid_at = ev->occurred_at;
            break;
        case KASBOEK__V1__EVENT__BODY_PAYOUT_FAILED:
            p->status = KASBOEK__V1__PAYOUT_STATUS__PAYOUT_STATUS_FAILED;
            p->failed_at = ev->occurred_at;
            p->failure_reason = ev->payout_failed->reason;
            break;
        default:
            break;
    }
}

static bool payout_index(const ProtobufCMessage *state, const char *tenant, kb_index_set *out) {
    const Payout *p = (const void *)state;
    if (!p->amount) return true;
    kb_key k;
    kb_payout_key_date(&k, tenant, p->amount->currency, p->date);
    if (!kb_index_set_add(out, &k, p->payout_id)) return false;
    kb_payout_list_prefix(&k, tenant, 0); /* every currency */
    kb_key_raw_hex64(&k, (uint64_t)p->date);
    kb_key_add(&k, p->amount->currency);
    if (!kb_index_set_add(out, &k, p->payout_id)) return false;
    kb_payout_list_prefix(&k, tenant, p->status); /* moves when the status does */
    kb_key_raw_hex64(&k, (uint64_t)p->date);
    kb_key_add(&k, p->amount->currency);
    return kb_index_set_add(out, &k, p->payout_id);
}

static kb_code decide_paid(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                           kb_decide_ctx *c) {
    (void)msg;
    const Payout *p = (const void *)state;
    if (p->status != KASBOEK__V1__PAYOUT_STATUS__PAYOUT_STATUS_PENDING) {
        return kb_error_set(c->err, KB_REASON_PAYOUT_NOT_PENDING, "payout_id",
                            "only a pending payout can be marked paid");
    }
    Kasboek__V1__PayoutPaid *e = KB_EMIT(c, Kasboek__V1__PayoutPaid, KASBOEK__V1__PAYOUT_PAID__INIT,
                                         KASBOEK__V1__EVENT__BODY_PAYOUT_PAID);
    if (!e) return c->err->code;
    e->payout_id = (char *)c->id;
    return KB_CODE_OK;
}

/* A pending payout fails, or a paid one the bank returns. */
static kb_code decide_failed(const ProtobufCMessage *state, const ProtobufCMessage *msg,
                             kb_decide_ctx *c) {
    const Payout *p = (const void *)state;
    const Kasboek__V1__MarkPayoutFailedRequest *r = (const void *)msg;
    if (!r->reason[0])
        return kb_error_set(c->err, KB_REASON_FIELD_REQUIRED, "reason", "reason is required");
    if (p->status == KASBOEK__V1__PAYOUT_STATUS__PAYOUT_STATUS_FAILED) {
        return kb_error_set(c->err, KB_REASON_PAYOUT_ALREADY_FAILED, "payout_id",
                            "the payout has failed already");
    }
    Kasboek__V1__PayoutFailed *e =
        KB_EMIT(c, Kasboek__V1__PayoutFailed, KASBOEK__V1__PAYOUT_FAILED__INIT,
                KASBOEK__V1__EVENT__BODY_PAYOUT_FAILED);
    if (!e) return c->err->code;
    e->payout_id = (char *)c->id;
    e->reason = r->reason;
    e->amount = p->amount;
    return KB_CODE_OK;
}

/* payout -> balance: a failed payout books its amount back. */
static const char *failure_target(const ProtobufCMessage *src, Event *const *events, size_t n,
                                  kb_arena *a) {
    const Payout *p = (const void *)src;
    for (size_t i = 0; i < n; i++) {
        if (events[i]->body_case == KASBOEK__V1__EVENT__BODY_PAYOUT_FAILED) {
            return kb_arena_strdup(a, p->amount->currency);
        }
    }
    return NULL;
}

static kb_code failure_react(const ProtobufCMessage *target, const ProtobufCMessage *src,
                             Event *const *events, size_t n, uint64_t first_seq, kb_decide_ctx *c) {
    const Balance *b = (const void *)target;
    const Payout *p = (const void *)src;
    KB_VERIFY(b && n == 1 && events[0]->body_case == KASBOEK__V1__EVENT__BODY_PAYOUT_FAILED);
    int64_t total;
    int32_t today = kb_day_of_instant(events[0]->occurred_at);
    Kasboek__V1__BalanceBooked none = KASBOEK__V1__BALANCE_BOOKED__INIT;
    const booking bk = {.b = b, .e = &none};
    if (!kb_add_checked(b->total, p->amount->amount, &total) ||
        !book_fits(&bk, today, p->amount->amount)) {
        return kb_error_set(c->err, KB_REASON_AMOUNT_OVERFLOW, "payout_id",
                            "the balance would overflow");
    }
    Kasboek__V1__BalanceBooked *e =
        KB_EMIT(c, Kasboek__V1__BalanceBooked, KASBOEK__V1__BALANCE_BOOKED__INIT,
                KASBOEK__V1__EVENT__BODY_BALANCE_BOOKED);
    Btxn **v = kb_arena_alloc(c->arena, sizeof *v);
    Btxn *t = KB_NEW(c->arena, Btxn, KASBOEK__V1__BALANCE_TRANSACTION__INIT);
    if (!e || !v || !t) return kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no memory");
    t->id = (char *)btxn_id(c->arena, c->first_seq, 0);
    t->type = KASBOEK__V1__BALANCE_TRANSACTION_TYPE__BALANCE_TRANSACTION_TYPE_PAYOUT_FAILURE;
    t->amount = p->amount->amount;
    t->currency = p->amount->currency;
    t->source_type = "payout";
    t->source_id = p->payout_id;
    t->created_at = events[0]->occurred_at;
    t->available_on = today;
    t->source_seq = first_seq;
    v[0] = t;
    e->currency = p->amount->currency;
    e->transactions = v;
    e->n_transactions = 1;
    return t->id ? KB_CODE_OK : kb_error_set(c->err, KB_REASON_INTERNAL_ERROR, "", "no memory");
}

static const kb_reaction payout_to_balance = {
    .target = &kb_balance_aggregate, .target_id = failure_target, .react = failure_react};

static void payout_result(ProtobufCMessage *state, Kasboek__V1__CommandResult *r) {
    r->payout = (Payout *)state;
}

const kb_aggregate kb_payout_aggregate = {
    .type = "payout",
    .state_desc = &kasboek__v1__payout__descriptor,
    .create = payout_create,
    .evolve = payout_evolve,
    .index = payout_index,
    .reactions = (const kb_reaction *const[]){&payout_to_balance, NULL},
};

/* -------------------------------------------------------------- commands */

const kb_command kb_balance_commands[] = {
    {.method = "UpdateTenantSettings",
     .desc = &kasboek__v1__update_tenant_settings_request__descriptor,
     .agg = &kb_settings_aggregate,
     .fixed_id = "tenant",
     .upsert = true,
     .decide = decide_settings,
     .result = settings_result},
    {.method = "ClosePayout",
     .desc = &kasboek__v1__close_payout_request__descriptor,
     .agg = &kb_balance_aggregate,
     .id_field = "currency",
     .not_found = KB_REASON_BALANCE_NOT_FOUND,
     .decide = decide_close,
     .result = balance_result},
    {.method = "MarkPayoutPaid",
     .desc = &kasboek__v1__mark_payout_paid_request__descriptor,
     .agg = &kb_payout_aggregate,
     .id_field = "payout_id",
     .not_found = KB_REASON_PAYOUT_NOT_FOUND,
     .decide = decide_paid,
     .result = payout_result},
    {.method = "MarkPayoutFailed",
     .desc = &kasboek__v1__mark_payout_failed_request__descriptor,
     .agg = &kb_payout_aggregate,
     .id_field = "payout_id",
     .not_found = KB_REASON_PAYOUT_NOT_FOUND,
     .decide = decide_failed,
     .result = payout_result},
    {.method = NULL},
};
