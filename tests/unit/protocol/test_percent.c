/*
 * test_percent.c - percent-decoding (protocol/percent.c): the operator
 * API's paths and query parameters and the device port's query parameters
 * are decoded with their length, so that a "%00" is seen and refused, and
 * a malformed escape or a value longer than allowed is told apart.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "protocol/percent.h"

Test(percent, decoding_keeps_the_length)
{
    char out[64];
    size_t n = 99;
    cr_assert_eq(percent_decode("plain-1%00junk", 14, 0, out, 63, &n), 0);
    cr_assert_eq(n, 12, "the NUL is kept and counted");
    cr_assert_eq(memcmp(out, "plain-1\0junk", 13), 0);
    cr_assert_eq(percent_decode("a%2Fb%2fc+d", 11, 0, out, 63, &n), 0);
    cr_assert_str_eq(out, "a/b/c+d");
    cr_assert_eq(percent_decode("a+b%2B", 6, 1, out, 63, &n), 0);
    cr_assert_str_eq(out, "a b+", "'+' is a space in a form's query");
    const char *bad[] = {"%", "a%", "%2", "%G1", "%1G", "%%41", "% 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(percent_decode(bad[i], strlen(bad[i]), 0, out, 63, &n), -1, "'%s' accepted",
                     bad[i]);
    cr_assert_eq(percent_decode("abcd", 4, 0, out, 3, &n), -2, "longer than max");
    cr_assert_eq(percent_decode("%41%42%43", 9, 0, out, 3, &n), 0, "max counts decoded bytes");
    cr_assert_str_eq(out, "ABC");
    char in_place[] = "x%41%42y";
    cr_assert_eq(percent_decode(in_place, strlen(in_place), 0, in_place, 8, &n), 0);
    cr_assert_str_eq(in_place, "xABy", "decoding in place");
}
