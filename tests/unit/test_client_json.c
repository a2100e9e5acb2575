/* The JSON printer behind the CLI's -o json: money as integer minor units,
 * lower-case enum names, escaping, oneofs, decoded event payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kasboek.pb-c.h"
#include "kasboek_json.h"

static char *to_json(const ProtobufCMessage *m, const kb_json_opts *o) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(kb_json_write(f, m, o), 0);
    fclose(f);
    return buf;
}

static void test_money_and_enums(void **st) {
    (void)st;
    Kasboek__V1__Money amount = KASBOEK__V1__MONEY__INIT;
    amount.amount = 1250;
    amount.currency = "EUR";
    Kasboek__V1__Payment p = KASBOEK__V1__PAYMENT__INIT;
    p.payment_id = "p1";
    p.status = KASBOEK__V1__PAYMENT_STATUS__PAYMENT_STATUS_PARTIALLY_REFUNDED;
    p.method = KASBOEK__V1__PAYMENT_METHOD__PAYMENT_METHOD_SEPA_DEBIT;
    p.amount = &amount;
    char *j = to_json(&p.base, NULL);
    assert_non_null(strstr(j, "\"payment_id\":\"p1\""));
    assert_non_null(strstr(j, "\"status\":\"partially_refunded\""));
    assert_non_null(strstr(j, "\"method\":\"sepa_debit\""));
    assert_non_null(strstr(j, "\"amount\":{\"amount\":1250,\"currency\":\"EUR\"}"));
    assert_non_null(strstr(j, "\"fee\":null"));
    assert_non_null(strstr(j, "\"refunds\":[]"));
    assert_null(strchr(j, '\n')); /* one line without indent */
    free(j);
}

static void test_escaping(void **st) {
    (void)st;
    Kasboek__V1__Payment p = KASBOEK__V1__PAYMENT__INIT;
    p.payment_id = "p1";
    p.description = "quote \" backslash \\ tab \t nl \n ctl \x01 bad \xff end";
    char *j = to_json(&p.base, NULL);
    assert_non_null(
        strstr(j, "quote \\\" backslash \\\\ tab \\t nl \\n ctl \\u0001 bad \\ufffd end"));
    free(j);
}

static void test_event_record_payload_decoded(void **st) {
    (void)st;
    Kasboek__V1__PaymentSettled body = KASBOEK__V1__PAYMENT_SETTLED__INIT;
    body.payment_id = "p9";
    Kasboek__V1__Event ev = KASBOEK__V1__EVENT__INIT;
    ev.occurred_at = 42;
    ev.body_case = KASBOEK__V1__EVENT__BODY_PAYMENT_SETTLED;
    ev.payment_settled = &body;
    uint8_t buf[256];
    size_t n = kasboek__v1__event__pack(&ev, buf);
    Kasboek__V1__EventRecord rec = KASBOEK__V1__EVENT_RECORD__INIT;
    rec.seq = 7;
    rec.type = "PaymentSettled";
    rec.payload.data = buf;
    rec.payload.len = n;
    uint8_t h[2] = {0xab, 0x01};
    rec.hash.data = h;
    rec.hash.len = 2;
    kb_json_opts o = {.decode_event_payload = true};
    char *j = to_json(&rec.base, &o);
    assert_non_null(strstr(j, "\"seq\":7"));
    assert_non_null(strstr(j, "\"event\":{\"occurred_at\":42"));
    assert_non_null(strstr(j, "\"payment_settled\":{\"payment_id\":\"p9\"}"));
    assert_null(strstr(j, "\"refund_created\"")); /* only the oneof member set */
    assert_non_null(strstr(j, "\"hash\":\"ab01\""));
    free(j);
}

static void test_enum_parse_round_trip(void **st) {
    (void)st;
    const ProtobufCEnumDescriptor *d = &kasboek__v1__payment_status__descriptor;
    for (unsigned i = 0; i < d->n_values; i++) {
        char name[64];
        int v = -1;
        assert_true(kb_json_enum_name(d, d->values[i].value, name, sizeof name) > 0);
        assert_true(kb_json_enum_parse(d, name, &v));
        assert_int_equal(v, d->values[i].value);
    }
    int v = -1;
    assert_false(kb_json_enum_parse(d, "no_such_status", &v));
    assert_int_equal(v, -1);
    char name[8];
    assert_int_equal(kb_json_enum_name(d, 999, name, sizeof name), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money_and_enums),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_event_record_payload_decoded),
        cmocka_unit_test(test_enum_parse_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
