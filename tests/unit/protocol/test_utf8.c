/*
 * test_utf8.c - UTF-8 and quoting (protocol/utf8.c): what a refusal on
 * either port shows of a hostile value.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "protocol/utf8.h"

Test(utf8, well_formed_characters_only)
{
    uint32_t cp;
    cr_assert_eq(utf8_next((const unsigned char *)"a", 1, &cp), 1);
    cr_assert_eq(utf8_next((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
    cr_assert_eq(cp, 0xE9);
    cr_assert_eq(utf8_next((const unsigned char *)"\xc3", 1, &cp), 0, "cut short");
    cr_assert_eq(utf8_next((const unsigned char *)"\xc0\xaf", 2, &cp), 0, "overlong");
    cr_assert_eq(utf8_next((const unsigned char *)"\xed\xa0\x80", 3, &cp), 0, "surrogate");
    cr_assert_eq(utf8_next((const unsigned char *)"\xf4\x90\x80\x80", 4, &cp), 0, "past U+10FFFF");
}

/* A refused value as a 400 or a report's reason shows it: quoted, escaped where a log or a
 * terminal would be fooled, cut short when long. */
Test(utf8, a_refused_value_is_shown_quoted_and_escaped)
{
    char out[UTF8_QUOTE_MAX];
    utf8_quote("2026-12-01T10:00:00 01:00", 25, out);
    cr_assert_str_eq(out, "'2026-12-01T10:00:00 01:00'");
    utf8_quote("caf\xc3\xa9", 5, out);
    cr_assert_str_eq(out, "'caf\xc3\xa9'", "UTF-8 as it is");
    utf8_quote("it's a\\b", 8, out);
    cr_assert_str_eq(out, "'it\\'s a\\\\b'");
    utf8_quote("a\nb\x1b[2J\xff\xc2\x85", 10, out);
    cr_assert_str_eq(out, "'a\\x0Ab\\x1B[2J\\xFF\\xC2\\x85'", "controls, C1 and bad bytes as hex");
    utf8_quote("a\0b", 3, out);
    cr_assert_str_eq(out, "'a\\x00b'");
    utf8_quote("", 0, out);
    cr_assert_str_eq(out, "''");
    char big[600];
    memset(big, 0x01, sizeof(big));
    utf8_quote(big, sizeof(big), out);
    cr_assert(strlen(out) < UTF8_QUOTE_MAX);
    cr_assert(strcmp(out + strlen(out) - 4, "'...") == 0, "%s", out);
    memset(big, 'x', sizeof(big));
    utf8_quote(big, UTF8_QUOTE_BYTES - 2, out);
    cr_assert_eq(strlen(out), UTF8_QUOTE_BYTES, "%s", out);
}
