/*
 * test_api_value.c - what the operator API accepts in a query parameter or
 * a body (server/api/api_value.c): every value a script may send, and the
 * hostile ones that must be refused before anything reaches the database
 * (invalid UTF-8, control characters, times and numbers PostgreSQL
 * cannot hold), and path arguments decoded with their length.
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
    cr_assert_not(api_value_text("a\xc2\x85", 64), "no C1 control (NEL) either");
    cr_assert(api_value_text("\xc2\xa0", 64), "U+00A0 is past the C1 controls");
}

Test(api_value, text_is_counted_in_characters)
{
    cr_assert(api_value_text("\xc3\xa9\xc3\xa9\xc3\xa9", 3), "three characters in six bytes");
    cr_assert_not(api_value_text("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 3));
    cr_assert(api_value_text("\xf0\x9f\x98\x80", 1), "one character outside the BMP");
}

Test(api_value, text_must_be_utf8)
{
    /* what PostgreSQL refuses with sqlstate 22021 */
    const char *bad[] = {
        "\xff",         "a\xfe",        "\xc0\xae",         "\xc1\xbf",         "\xe0\x80\xaf",
        "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82",
        "\x80",         "\xc3(",        "\xf0\x80\x80\x80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_not(api_value_text(bad[i], 64), "case %zu accepted", i);
        cr_assert_not(api_value_utf8(bad[i], strlen(bad[i])), "case %zu is UTF-8", i);
    }
    const char *good[] = {"",
                          "a",
                          "\xc2\x80",
                          "\xdf\xbf",
                          "\xe0\xa0\x80",
                          "\xed\x9f\xbf",
                          "\xee\x80\x80",
                          "\xef\xbf\xbf",
                          "\xf0\x90\x80\x80",
                          "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert(api_value_utf8(good[i], strlen(good[i])), "case %zu refused", i);
    cr_assert(api_value_utf8("a\0b", 3), "a NUL is UTF-8: the query refuses it for itself");
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

Test(api_value, times_are_years_0001_to_9999)
{
    api_time t;
    int64_t now = 1795600800LL * 1000000;
    cr_assert_eq(api_value_time("0001-01-01T00:00:00Z", now, &t), 0);
    cr_assert_str_eq(t.text, "0001-01-01T00:00:00.000000Z");
    cr_assert_eq(api_value_time("9999-12-31T23:59:59.999999Z", now, &t), 0);
    cr_assert_str_eq(t.text, "9999-12-31T23:59:59.999999Z");
    /* PostgreSQL has no year 0000 (sqlstate 22008), and past 9999 is no
     * longer four-digit RFC 3339 */
    const char *bad[] = {"0000-01-01T00:00:00Z", "0000-12-31T23:59:59.999999Z",
                         "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
                         "10000-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_value_time(bad[i], now, &t), -1, "'%s' accepted", bad[i]);
}

Test(api_value, serials)
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
}

Test(api_value, a_certificate_cursor_is_a_time_dot_serial)
{
    char buf[64];
    const char *a = NULL, *b = NULL;
    cr_assert_eq(api_value_cursor_serial("1764064800000000.5F3A09", buf, &a, &b), 0);
    cr_assert_str_eq(a, "1764064800000000");
    cr_assert_str_eq(b, "5F3A09");
    cr_assert_eq(api_value_cursor_serial("253402300799999999.FF", buf, &a, &b), 0, "9999-12-31");
    cr_assert_eq(api_value_cursor_serial("007.FF", buf, &a, &b), 0);
    cr_assert_str_eq(a, "7", "PostgreSQL gets the number as printed");
    const char *bad[] = {"",
                         "123",
                         "123.",
                         ".5F",
                         "12a.5F",
                         "123.5f",
                         "1.2.3",
                         "-1.5F",
                         "123456789012345678901.5F",
                         "99999999999999999999.1",
                         "9223372036854775807.1",
                         "253402300800000000.1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_value_cursor_serial(bad[i], buf, &a, &b), -1, "'%s' accepted", bad[i]);
    char huge[100];
    memset(huge, '1', 99);
    huge[99] = '\0';
    huge[10] = '.';
    cr_assert_eq(api_value_cursor_serial(huge, buf, &a, &b), -1, "longer than the buffer");
}

Test(api_value, an_incident_cursor_is_a_time_dot_seq)
{
    char buf[64];
    const char *a = NULL, *b = NULL;
    cr_assert_eq(api_value_cursor_seq("1764064800000000.1041", buf, &a, &b), 0);
    cr_assert_str_eq(a, "1764064800000000");
    cr_assert_str_eq(b, "1041");
    cr_assert_eq(api_value_cursor_seq("253402300799999999.9223372036854775807", buf, &a, &b), 0);
    cr_assert_str_eq(b, "9223372036854775807");
    /* each passes a digits-dot check and fails in PostgreSQL */
    const char *bad[] = {"99999999999999999999.1",
                         "9223372036854775807.1",
                         "1.ABC",
                         "1.99999999999999999999",
                         "1.9223372036854775808",
                         "1.0",
                         "1.-1",
                         "1.+1",
                         "1. 1",
                         "1.1 ",
                         "1.",
                         "x.1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_value_cursor_seq(bad[i], buf, &a, &b), -1, "'%s' accepted", bad[i]);
}

Test(api_value, path_arguments_are_decoded_with_their_length)
{
    char out[128];
    cr_assert_null(api_value_path_arg("id", "plain-1", 7, out));
    cr_assert_str_eq(out, "plain-1");
    cr_assert_null(api_value_path_arg("id", "plain%2D1", 9, out));
    cr_assert_str_eq(out, "plain-1");
    const char *bad_ids[] = {"plain-1%00junk", "plain-1%00", "%00",
                             "plain-1%FF",     "plain%G1",   "a%2Fb",
                             ".plain",         "%C0%AE",     ""};
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
        cr_assert_not_null(api_value_path_arg("id", bad_ids[i], strlen(bad_ids[i]), out),
                           "'%s' accepted", bad_ids[i]);
    cr_assert_null(api_value_path_arg("serial", "5F3A09", 6, out));
    cr_assert_null(api_value_path_arg("serial", "0a%3A1b", 7, out), "colons, lowercase");
    const char *bad_serials[] = {"5F3A09%00", "5F%003A09", "XYZ", "%FF",
                                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof(bad_serials) / sizeof(bad_serials[0]); i++)
        cr_assert_not_null(
            api_value_path_arg("serial", bad_serials[i], strlen(bad_serials[i]), out),
            "'%s' accepted", bad_serials[i]);
    cr_assert_null(api_value_path_arg("seq", "9223372036854775807", 19, out));
    const char *bad_seqs[] = {
        "0", "-1", "+1", "1%00", "9223372036854775808", "99999999999999999999", "1e3", "abc", " 1"};
    for (size_t i = 0; i < sizeof(bad_seqs) / sizeof(bad_seqs[0]); i++)
        cr_assert_not_null(api_value_path_arg("seq", bad_seqs[i], strlen(bad_seqs[i]), out),
                           "'%s' accepted", bad_seqs[i]);
    cr_assert_not_null(api_value_path_arg("colour", "red", 3, out), "an unknown kind is refused");
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

Test(api_value, release_references)
{
    const char *good[] = {"12",           "9223372036854775807", "1.4.0", "1.4.0+build.7~rc1",
                          "sensor/1.4.0", "gw.v2_x-1/2026.01"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        cr_assert_eq(api_value_release_ref(good[i]), 1, "'%s' refused", good[i]);
    const char *bad[] = {"",
                         "0",
                         "/1.4.0",
                         "sensor/",
                         "sensor/1.4.0/x",
                         ".1",
                         "sensor/-1",
                         "sen sor/1.0",
                         "sensor+x/1.0",
                         "1.0 ",
                         "s/1\n",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/1.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_value_release_ref(bad[i]), 0, "'%s' accepted", bad[i]);
    char out[128];
    cr_assert_null(api_value_path_arg("release", "sensor%2F1.4.0", 14, out));
    cr_assert_str_eq(out, "sensor/1.4.0");
    cr_assert_not_null(api_value_path_arg("release", "1.4%000", 7, out));
    cr_assert_null(api_value_path_arg("rollout", "7", 1, out));
    cr_assert_not_null(api_value_path_arg("rollout", "0", 1, out));
    cr_assert_not_null(api_value_path_arg("rollout", "x", 1, out));
}

Test(api_value, percent_is_basis_points)
{
    int bp = -1;
    cr_assert_eq(api_value_percent(10, &bp), 0);
    cr_assert_eq(bp, 1000);
    cr_assert_eq(api_value_percent(0.01, &bp), 0);
    cr_assert_eq(bp, 1);
    cr_assert_eq(api_value_percent(12.34, &bp), 0, "12.34 * 100 is not exactly 1234");
    cr_assert_eq(bp, 1234);
    cr_assert_eq(api_value_percent(100, &bp), 0);
    cr_assert_eq(bp, 10000);
    const double bad[] = {0, -1, 0.001, 100.01, 12.345, 1e300, -0.0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(api_value_percent(bad[i], &bp), -1, "%g accepted", bad[i]);
}
