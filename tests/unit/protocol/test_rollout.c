/*
 * test_rollout.c - a device's bucket in a rollout (protocol/rollout.c):
 * the value sha256sum gives for "<rollout>:<device>", so a test or an
 * operator can predict the set, and widening keeps every device in.
 */
#include <criterion/criterion.h>
#include <stdio.h>

#include "protocol/rollout.h"

Test(rollout, bucket_is_the_first_four_digest_bytes_modulo_10000)
{
    /* printf '12:dev-0001' | sha256sum gives b78a6684...: 0xb78a6684 % 10000 */
    cr_assert_eq(rollout_bucket(12, "dev-0001"), (int)(0xb78a6684u % 10000));
}

Test(rollout, widening_only_adds_devices)
{
    char id[32];
    int in10 = 0, in50 = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "dev-%04d", i);
        int a = rollout_includes(3, id, 1000), b = rollout_includes(3, id, 5000);
        cr_assert(!a || b, "%s left the rollout when it widened", id);
        in10 += a;
        in50 += b;
    }
    cr_assert(in10 > 60 && in10 < 140, "%d of 1000 at 10 %%", in10);
    cr_assert(in50 > 430 && in50 < 570, "%d of 1000 at 50 %%", in50);
    cr_assert(!rollout_includes(3, "dev-0001", 0));
    cr_assert(rollout_includes(3, "dev-0001", ROLLOUT_BASIS_POINTS));
}

Test(rollout, percent_parses_up_to_two_decimals)
{
    struct {
        const char *text;
        int bp;
    } ok[] = {{"10", 1000},     {"2.5", 250},  {"2.50", 250}, {"0.01", 1},    {"100", 10000},
              {"100.0", 10000}, {"50%", 5000}, {"007", 700},  {"33.33", 3333}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int bp = -1;
        cr_assert_eq(rollout_percent_parse(ok[i].text, &bp), 0, "%s refused", ok[i].text);
        cr_assert_eq(bp, ok[i].bp, "%s gave %d", ok[i].text, bp);
    }
    const char *bad[] = {"",   "0",  "0.00", "100.01", "101",  "1.234", "-1",    "1e2",
                         " 1", "1 ", "1.",   ".5",     "10%%", "abc",   "10000", "2,5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int bp = 42;
        cr_assert_eq(rollout_percent_parse(bad[i], &bp), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(bp, 42);
    }
    cr_assert_eq(rollout_percent_parse(NULL, NULL), -1);
}

Test(rollout, percent_formats_what_parses_back)
{
    char out[ROLLOUT_PERCENT_LEN];
    cr_assert_eq(rollout_percent_format(1000, out), 0);
    cr_assert_str_eq(out, "10");
    rollout_percent_format(250, out);
    cr_assert_str_eq(out, "2.5");
    rollout_percent_format(1, out);
    cr_assert_str_eq(out, "0.01");
    rollout_percent_format(10000, out);
    cr_assert_str_eq(out, "100");
    cr_assert_eq(rollout_percent_format(10001, out), -1);
    cr_assert_str_eq(out, "");
    for (int bp = 1; bp <= ROLLOUT_BASIS_POINTS; bp++) {
        int back = 0;
        rollout_percent_format(bp, out);
        cr_assert_eq(rollout_percent_parse(out, &back), 0, "%s", out);
        cr_assert_eq(back, bp, "%d -> %s -> %d", bp, out, back);
    }
}
