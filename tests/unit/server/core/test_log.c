/*
 * test_log.c - vigild's log lines (server/core/log.c): one JSON object per
 * line whatever its fields hold, so that a log shipper never drops one.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/log.h"

/* Everything the test wrote to stderr, as one string (the caller frees). */
static char *stderr_text(void)
{
    FILE *f = cr_get_redirected_stderr();
    static char buf[65536];
    fflush(stderr);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    return strdup(buf);
}

Test(log, a_line_is_a_json_object_with_its_fields, .init = cr_redirect_stderr)
{
    log_info("registry change", "device_id", "dev-1", "quote", "a\"b\\c\nd", "none", NULL, NULL);
    char *text = stderr_text();
    cr_assert_eq(strchr(text, '\n') - text + 1, (long)strlen(text), "exactly one line");
    json_error_t err;
    json_t *line = json_loads(text, 0, &err);
    cr_assert_not_null(line, "not JSON: %s in %s", err.text, text);
    cr_assert_str_eq(json_string_value(json_object_get(line, "level")), "info");
    cr_assert_str_eq(json_string_value(json_object_get(line, "msg")), "registry change");
    cr_assert_str_eq(json_string_value(json_object_get(line, "device_id")), "dev-1");
    cr_assert_str_eq(json_string_value(json_object_get(line, "quote")), "a\"b\\c\nd");
    cr_assert(json_is_null(json_object_get(line, "none")));
    cr_assert_eq(strlen(json_string_value(json_object_get(line, "ts"))), 24,
                 "2026-12-01T09:28:56.123Z");
    json_decref(line);
    free(text);
}

Test(log, a_huge_value_is_cut_and_the_line_stays_json, .init = cr_redirect_stderr)
{
    char *huge = malloc(20000);
    memset(huge, '\x01', 19999); /* each byte escapes to six */
    huge[19999] = '\0';
    log_warn("big", "value", huge, "after", "dropped", NULL);
    char *text = stderr_text();
    cr_assert_leq(strlen(text), 4096);
    json_t *line = json_loads(text, 0, NULL);
    cr_assert_not_null(line, "a cut line must still parse: %.200s", text);
    cr_assert_str_eq(json_string_value(json_object_get(line, "msg")), "big");
    cr_assert_gt(strlen(json_string_value(json_object_get(line, "value"))), 500);
    cr_assert_null(json_object_get(line, "after"), "no room for a field: it is left out whole");
    json_decref(line);
    free(text);
    free(huge);
}

Test(log, below_the_level_nothing_is_written, .init = cr_redirect_stderr)
{
    log_set_level(LOG_WARN);
    log_info("quiet", NULL);
    log_level l;
    cr_assert_eq(log_level_parse("debug", &l), 0);
    cr_assert_eq(l, LOG_DEBUG);
    cr_assert_eq(log_level_parse("verbose", &l), -1);
    char *text = stderr_text();
    cr_assert_str_eq(text, "");
    free(text);
}

/* ---- typed fields ---- */

Test(log, typed_fields_are_json_numbers_booleans_and_strings, .init = cr_redirect_stderr)
{
    log_info_fields("vigild started", LOG_STR("device_listen", "0.0.0.0:8443"),
                    LOG_INT("workers", 2), LOG_INT("big", INT64_MIN), LOG_NUM("seconds", 4.25),
                    LOG_BOOL("tls", 1), LOG_BOOL("off", 0), LOG_STR("none", NULL),
                    LOG_NUM("nan", NAN));
    char *text = stderr_text();
    cr_assert_not_null(strstr(text, "\"workers\":2,"), "a number, not a string: %s", text);
    json_t *line = json_loads(text, 0, NULL);
    cr_assert_not_null(line, "not JSON: %s", text);
    cr_assert_str_eq(json_string_value(json_object_get(line, "msg")), "vigild started");
    cr_assert_str_eq(json_string_value(json_object_get(line, "device_listen")), "0.0.0.0:8443");
    cr_assert(json_is_integer(json_object_get(line, "workers")));
    cr_assert_eq(json_integer_value(json_object_get(line, "workers")), 2);
    cr_assert_eq(json_integer_value(json_object_get(line, "big")), INT64_MIN);
    cr_assert(json_is_real(json_object_get(line, "seconds")));
    cr_assert_float_eq(json_real_value(json_object_get(line, "seconds")), 4.25, 1e-9);
    cr_assert(json_is_true(json_object_get(line, "tls")));
    cr_assert(json_is_false(json_object_get(line, "off")));
    cr_assert(json_is_null(json_object_get(line, "none")));
    cr_assert(json_is_null(json_object_get(line, "nan")), "not finite: null, still JSON");
    json_decref(line);
    free(text);
}

Test(log, typed_and_string_fields_write_the_same_line, .init = cr_redirect_stderr)
{
    log_warn("same", "a", "x\"y", "b", "2", NULL);
    log_warn_fields("same", LOG_STR("a", "x\"y"), LOG_STR("b", "2"));
    char *text = stderr_text();
    char *second = strchr(text, '\n');
    cr_assert_not_null(second);
    *second++ = '\0';
    /* after the timestamps (which may differ by a millisecond) */
    second[strcspn(second, "\n")] = '\0';
    cr_assert_str_eq(strstr(text, "\"level\""), strstr(second, "\"level\""), "%s", text);
    free(text);
}

Test(log, typed_fields_that_do_not_fit_are_left_out_whole, .init = cr_redirect_stderr)
{
    char *huge = malloc(5000);
    memset(huge, 'a', 4999);
    huge[4999] = '\0';
    log_error_fields("big", LOG_STR("value", huge), LOG_INT("after", 7), LOG_BOOL("b", 1));
    char *text = stderr_text();
    json_t *line = json_loads(text, 0, NULL);
    cr_assert_not_null(line, "a cut line must still parse: %.200s", text);
    cr_assert_null(json_object_get(line, "after"));
    cr_assert_null(json_object_get(line, "b"));
    json_decref(line);
    free(text);
    free(huge);
}

Test(log, typed_fields_below_the_level_write_nothing, .init = cr_redirect_stderr)
{
    log_set_level(LOG_ERROR);
    log_warn_fields("quiet", LOG_INT("n", 1));
    char *text = stderr_text();
    cr_assert_str_eq(text, "");
    free(text);
}
