/*
 * test_reg_grant.c - renewal grants in memory (server/registry/reg_grant.c):
 * open, spent, expired, forgotten on revocation, replaced by a full load.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "server/registry/reg_grant.h"

static void fini(void)
{
    reg_grant_shutdown();
}

TestSuite(reg_grant, .fini = fini);

static void fp_of(int n, uint8_t fp[REG_FP_LEN])
{
    memset(fp, 0, REG_FP_LEN);
    memcpy(fp, &n, sizeof(n));
}

Test(reg_grant, states)
{
    uint8_t a[REG_FP_LEN], b[REG_FP_LEN];
    char dev[REG_ID_MAX + 1] = "";
    fp_of(1, a);
    fp_of(2, b);
    cr_assert_eq(reg_grant_lookup(a, 1000, dev), REG_GRANT_NONE);
    reg_grant_note(a, "dev-a", 2000, 0);
    cr_assert_eq(reg_grant_lookup(a, 1000, dev), REG_GRANT_OPEN);
    cr_assert_str_eq(dev, "dev-a");
    cr_assert_eq(reg_grant_lookup(a, 2000, NULL), REG_GRANT_EXPIRED, "expires_at is exclusive");
    cr_assert_eq(reg_grant_lookup(b, 1000, NULL), REG_GRANT_NONE);
    reg_grant_note(a, "dev-a", 0, 1);
    cr_assert_eq(reg_grant_lookup(a, 1000, NULL), REG_GRANT_SPENT, "spent keeps its expiry");
    reg_grant_note(a, "dev-a", 3000, 0);
    cr_assert_eq(reg_grant_lookup(a, 2500, NULL), REG_GRANT_OPEN, "a new grant reopens");
    reg_grant_forget(a);
    cr_assert_eq(reg_grant_lookup(a, 1000, NULL), REG_GRANT_NONE, "revoked: forgotten");
    cr_assert_str_eq(reg_grant_state_name(REG_GRANT_SPENT), "spent");
}

Test(reg_grant, many_and_clear)
{
    uint8_t fp[REG_FP_LEN];
    for (int i = 0; i < 1000; i++) {
        fp_of(i, fp);
        reg_grant_note(fp, "d", 5000 + i, i % 2);
    }
    fp_of(998, fp);
    cr_assert_eq(reg_grant_lookup(fp, 100, NULL), REG_GRANT_OPEN);
    fp_of(999, fp);
    cr_assert_eq(reg_grant_lookup(fp, 100, NULL), REG_GRANT_SPENT);
    reg_grant_clear();
    cr_assert_eq(reg_grant_lookup(fp, 100, NULL), REG_GRANT_NONE);
}
