/*
 * test_api_value.c - what the operator API accepts in a query parameter or
 * a body (server/api/api_value.c): every value a script may send, and the
 * hostile ones that must be refused before anything reaches the database.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "server/api/api_value.h"

Test(api_value, text_is_bounded_and_has_no_control_characters)
{
    cr_assert(api_value_text("crash loop", 64));
    cr_assert(api_value_text("caf\xc3\xa9", 64), "UTF-8 passes");
    cr_assert(api_value_text("abcd", 4));
    cr_assert_not(api_value_text("abcde", 4));
    cr_assert_not(api_value_text("", 4));
    cr_assert_not(api_value_text("a\nb", 64));
    cr_assert_not(api_value_text("a\x7f", 64));
    cr_assert_not(api_value_text("\x1b[2J", 64), "no terminal escapes into logs");
}

Test(api_value, enums_are_exact)
{
    static const char *const statuses[] = {"active", "revoked", "expired", NULL};
    cr_assert_eq(api_value_enum("revoked", statuses), 1);
    cr_assert_eq(api_value_enum("Revoked", statuses), -1);
    cr_assert_eq(api_value_enum("revoked ", statuses), -1);
    cr_assert_eq(api_value_enum("", statuses), -1);
}

Test(api_value, integers_are_plain_decimal_within_bounds)
{
    int64_t v = 0;
    cr_assert_eq(api_value_int("50", 1, 1000, &v), 0);
    cr_assert_eq(v, 50);
    cr_assert_eq(api_value_int("1000", 1, 1000, &v), 0);
    cr_assert_eq(api_value_int("-5", -10, 10, &v), 0);
    cr_assert_eq(v, -5);
    const char *bad[] = {
        "", "0", "1001", " 5", "+5", "5 ", "5x", "0x10", "1e3", "-", "99999999999999999999", "--5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_value_int(bad[i], 1, 1000, &v), -1, "'%s' accepted", bad[i]);
}

Test(api_value, durations_are_at_least_a_second_and_bounded)
{
    int64_t s = 0;
    cr_assert_eq(api_value_duration("1h", 86400, &s), 0);
    cr_assert_eq(s, 3600);
    cr_assert_eq(api_value_duration("90", 86400, &s), 0, "bare seconds");
    cr_assert_eq(s, 90);
    cr_assert_eq(api_value_duration("1d", 86400, &s), 0);
    cr_assert_eq(api_value_duration("2d", 86400, &s), -1, "over the maximum");
    cr_assert_eq(api_value_duration("0s", 86400, &s), -1);
    cr_assert_eq(api_value_duration("500ms", 86400, &s), -1, "not whole seconds");
    cr_assert_eq(api_value_duration("1 h", 86400, &s), -1);
}

Test(api_value, times_are_rfc3339_or_back_from_now)
{
    api_time t;
    int64_t now = 1795600800LL * 1000000; /* 2026-11-25T10:00:00Z */
    cr_assert_eq(api_value_time("2026-11-25T09:00:00Z", now, &t), 0);
    cr_assert_eq(t.us, now - 3600LL * 1000000);
    cr_assert_str_eq(t.text, "2026-11-25T09:00:00.000000Z", "what PostgreSQL gets");
    cr_assert_eq(api_value_time("15m", now, &t), 0);
    cr_assert_eq(t.us, now - 900LL * 1000000);
    cr_assert_eq(api_value_time("2026-11-25T11:00:00+02:00", now, &t), 0);
    cr_assert_eq(t.us, now - 3600LL * 1000000);
    const char *bad[] = {"",
                         "yesterday",
                         "2026-11-25",
                         "2026-11-25 09:00:00",
                         "2026-13-01T00:00:00Z",
                         "'; DROP TABLE incidents; --"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_value_time(bad[i], now, &t), -1, "'%s' accepted", bad[i]);
}

Test(api_value, serials_and_digits)
{
    cr_assert(api_value_serial("5F3A09"));
    cr_assert_not(api_value_serial("5f3a09"), "canonical serials are uppercase");
    cr_assert_not(api_value_serial(""));
    cr_assert_not(api_value_serial("0A:1B"));
    char longest[42];
    memset(longest, 'A', 40);
    longest[40] = '\0';
    cr_assert(api_value_serial(longest));
    longest[40] = 'A';
    longest[41] = '\0';
    cr_assert_not(api_value_serial(longest));
    cr_assert(api_value_digits("123", 3));
    cr_assert_not(api_value_digits("1234", 3));
    cr_assert_not(api_value_digits("-12", 3));
    cr_assert_not(api_value_digits("", 3));
}

Test(api_value, a_cursor_is_digits_dot_serial)
{
    char buf[64];
    const char *a = NULL, *b = NULL;
    cr_assert_eq(api_value_cursor2("1764064800000000.5F3A09", buf, &a, &b), 0);
    cr_assert_str_eq(a, "1764064800000000");
    cr_assert_str_eq(b, "5F3A09");
    const char *bad[] = {"",       "123",    "123.",  ".5F",
                         "12a.5F", "123.5f", "1.2.3", "123456789012345678901.5F"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_value_cursor2(bad[i], buf, &a, &b), -1, "'%s' accepted", bad[i]);
    char huge[100];
    memset(huge, '1', 99);
    huge[99] = '\0';
    huge[10] = '.';
    cr_assert_eq(api_value_cursor2(huge, buf, &a, &b), -1, "longer than the buffer");
}

Test(api_value, bodies_are_one_json_object)
{
    json_t *v = NULL;
    char why[160];
    cr_assert_eq(api_value_body(NULL, "", 0, &v, why, sizeof(why)), 0, "no body: {}");
    cr_assert(json_is_object(v) && json_object_size(v) == 0);
    json_decref(v);
    const char *ok = "{\"reason\":\"odd traffic\"}";
    cr_assert_eq(
        api_value_body("application/json; charset=utf-8", ok, strlen(ok), &v, why, sizeof(why)), 0);
    cr_assert_str_eq(json_string_value(json_object_get(v, "reason")), "odd traffic");
    json_decref(v);
    cr_assert_eq(api_value_body("text/plain", ok, strlen(ok), &v, why, sizeof(why)), 415);
    cr_assert_null(v);
    cr_assert_eq(api_value_body(NULL, ok, strlen(ok), &v, why, sizeof(why)), 415);
    const char *bad[] = {"[\"reason\"]", "{\"reason\":", "{\"a\":1,\"a\":2}", "\"text\"", "{} {}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        cr_assert_eq(
            api_value_body("application/json", bad[i], strlen(bad[i]), &v, why, sizeof(why)), 400,
            "'%s' accepted", bad[i]);
        cr_assert_null(v);
        cr_assert(strstr(why, "JSON object"), "the reason says what is wanted: %s", why);
    }
}
