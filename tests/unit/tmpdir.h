/*
 * tmpdir.h - the fixture of vigil-device's unit suites: a fresh temporary
 * directory (dir) for each test, removed after it, with the leak check.
 */
#ifndef VIGIL_TEST_DEVICE_TMPDIR_H
#define VIGIL_TEST_DEVICE_TMPDIR_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/leak_check.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/vigil-unit-device.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    leak_check();
}

#endif
