/*
 * test_errors.c - the one error body of both ports (protocol/errors.c):
 * its members, parameter only when given, and reasons and parameters made
 * printable ASCII and bounded whatever a hostile request put in them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/errors.h"

static void expect_body(const char *code, const char *reason, const char *parameter,
                        const char *want)
{
    char *got = errors_json(code, reason, parameter);
    char shown[2048]; /* freed before asserting: a failed assert leaves the test */
    snprintf(shown, sizeof(shown), "%s", got ? got : "NULL");
    int same = got && strcmp(got, want) == 0;
    free(got);
    cr_assert(same, "got %s, expected %s", shown, want);
}

Test(errors, the_members_in_order_parameter_only_when_given)
{
    expect_body("not_found", "no such path on the device port", NULL,
                "{\"error\":\"not_found\",\"reason\":\"no such path on the device port\"}");
    expect_body("bad_request", "'limit' must be a whole number", "limit",
                "{\"error\":\"bad_request\",\"reason\":\"'limit' must be a whole number\","
                "\"parameter\":\"limit\"}");
}

Test(errors, hostile_text_becomes_printable_ascii)
{
    expect_body("bad_request", "bad \"x\\\"\n\x01\xff\xc3\xa9", "p\xfe\"q",
                "{\"error\":\"bad_request\",\"reason\":\"bad \\\"x\\\\\\\"?????\","
                "\"parameter\":\"p?\\\"q\"}");
    expect_body(NULL, NULL, NULL, "{\"error\":\"error\",\"reason\":\"\"}");
}

Test(errors, reasons_and_parameters_are_bounded)
{
    char long_text[2000];
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    char want[2 * ERRORS_TEXT_MAX + 100], kept[ERRORS_TEXT_MAX + 1];
    memset(kept, 'x', ERRORS_TEXT_MAX);
    kept[ERRORS_TEXT_MAX] = '\0';
    snprintf(want, sizeof(want),
             "{\"error\":\"bad_request\",\"reason\":\"%s\",\"parameter\":\"%s\"}", kept, kept);
    expect_body("bad_request", long_text, long_text, want);
}
