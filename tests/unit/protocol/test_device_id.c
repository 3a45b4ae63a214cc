/*
 * test_device_id.c - the device id rule (protocol/device_id.c) that the CA,
 * the operator API and vigilctl all apply.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "protocol/device_id.h"

Test(device_id, the_rule)
{
    char max[65], over[66];
    memset(max, 'a', 64);
    max[64] = '\0';
    memset(over, 'a', 65);
    over[65] = '\0';
    cr_assert(device_id_valid("dev-1"));
    cr_assert(device_id_valid("A.b_c-9"));
    cr_assert(device_id_valid(max));
    cr_assert_not(device_id_valid(over));
    cr_assert_not(device_id_valid(""));
    cr_assert_not(device_id_valid("-dev"));
    cr_assert_not(device_id_valid(".dev"));
    cr_assert_not(device_id_valid("a/b"));
    cr_assert_not(device_id_valid("bad id"));
    cr_assert_not(device_id_valid("caf\xc3\xa9"));
    cr_assert_not(device_id_valid(NULL));
}
