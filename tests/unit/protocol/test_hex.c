/*
 * test_hex.c - hexadecimal text (protocol/hex.c): fingerprints, key ids and
 * token hashes are compared as this text in the registry, so it must be
 * the text openssl prints, and a hostile one must be refused.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "protocol/hex.h"

Test(hex, encodes_lowercase_as_openssl_prints_a_digest)
{
    const unsigned char bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof(bytes) + 1];
    memset(out, 'x', sizeof(out));
    hex_encode(bytes, sizeof(bytes), out);
    cr_assert_str_eq(out, "00017f80abff");
    hex_encode(bytes, 0, out);
    cr_assert_str_eq(out, "");
}

Test(hex, decodes_either_case_and_round_trips)
{
    unsigned char back[6], bytes[32];
    cr_assert_eq(hex_decode("00017F80abFF", back, 6), 0);
    const unsigned char want[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    cr_assert_arr_eq(back, want, 6);
    char text[65];
    for (int i = 0; i < 32; i++)
        bytes[i] = (unsigned char)(i * 37 + 11);
    hex_encode(bytes, 32, text);
    unsigned char again[32];
    cr_assert_eq(hex_decode(text, again, 32), 0);
    cr_assert_arr_eq(again, bytes, 32);
}

Test(hex, refuses_what_is_not_exactly_that_many_digits)
{
    unsigned char out[4];
    const char *bad[] = {"",         "abc",      "abcdef",   "abcdef0", "abcdef012",
                         "abcdefg0", "abcd ef0", "+bcdef01", "0xabcdef"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(hex_decode(bad[i], out, 4), -1, "'%s' accepted", bad[i]);
    cr_assert_eq(hex_decode(NULL, out, 4), -1);
}

Test(hex, digit_values_either_case)
{
    cr_assert_eq(hex_digit('0'), 0);
    cr_assert_eq(hex_digit('9'), 9);
    cr_assert_eq(hex_digit('a'), 10);
    cr_assert_eq(hex_digit('F'), 15);
    cr_assert_eq(hex_digit('g'), -1);
    cr_assert_eq(hex_digit('/'), -1);
    cr_assert_eq(hex_digit('\0'), -1);
}
