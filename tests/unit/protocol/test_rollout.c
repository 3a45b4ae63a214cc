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
