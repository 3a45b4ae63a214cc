/*
 * tmpdir.h - the fixture of the unit suites that write files (vigil-device's,
 * cert-authority's): a fresh temporary directory (dir) for each test,
 * removed after it, with the leak check. Use as
 * TestSuite(name, .init = setup, .fini = teardown).
 */
#ifndef VIGIL_TEST_TMPDIR_H
#define VIGIL_TEST_TMPDIR_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/leak_check.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/vigil-unit.XXXXXX");
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
