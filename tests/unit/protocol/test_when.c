/*
 * test_when.c - lengths and points of time as people write them
 * (protocol/when.c): the one reader behind vigilctl's --validity and
 * --since, the operator API's since= and bucket=, and vigild's timeouts.
 */
#include <criterion/criterion.h>

#include "protocol/when.h"

#define DAY_MS (86400 * 1000LL)

Test(when, every_unit)
{
    cr_assert_eq(when_duration_ms("250ms", 0), 250);
    cr_assert_eq(when_duration_ms("90s", 0), 90000);
    cr_assert_eq(when_duration_ms("15m", 0), 900000);
    cr_assert_eq(when_duration_ms("24h", 0), DAY_MS);
    cr_assert_eq(when_duration_ms("30d", 0), 30 * DAY_MS);
    cr_assert_eq(when_duration_ms("2w", 0), 14 * DAY_MS);
    cr_assert_eq(when_duration_ms("1y", 0), 365 * DAY_MS);
    cr_assert_eq(when_duration_ms("0s", 0), 0);
}

Test(when, a_bare_number_counts_in_the_callers_unit_or_is_refused)
{
    cr_assert_eq(when_duration_ms("10", 1), 10, "vigild's timeouts: milliseconds");
    cr_assert_eq(when_duration_ms("10", 1000), 10000, "the operator API: seconds");
    cr_assert_eq(when_duration_ms("10", 0), -1, "--validity 10 would be a trap");
    cr_assert_eq(when_duration("90"), 90);
}

Test(when, what_is_not_a_duration)
{
    const char *bad[] = {"",
                         "d",
                         "-1d",
                         "+1d",
                         " 1d",
                         "1x",
                         "1d2",
                         "1 d",
                         "1D",
                         "1.5h",
                         "ms",
                         "99999999999999999999y",
                         "9223372036854775807y",
                         "101y",
                         "36501d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(when_duration_ms(bad[i], 1000), -1, "'%s' accepted", bad[i]);
    cr_assert_eq(when_duration_ms(NULL, 1000), -1);
}

Test(when, the_longest_is_a_hundred_years)
{
    cr_assert_eq(when_duration_ms("100y", 0), WHEN_MAX_SECONDS * 1000);
    cr_assert_eq(when_duration("100y"), WHEN_MAX_SECONDS);
}

Test(when, seconds_are_whole)
{
    cr_assert_eq(when_duration("2000ms"), 2);
    cr_assert_eq(when_duration("1500ms"), -1);
    cr_assert_eq(when_duration("7d"), 7 * 86400);
}

Test(when, points_in_time)
{
    int64_t now = 1795600000LL * 1000000, us = 0;
    cr_assert_eq(when_parse("15m", now, &us), 0);
    cr_assert_eq(us, now - 900LL * 1000000);
    cr_assert_eq(when_parse("2026-11-25T10:00:00Z", now, &us), 0);
    cr_assert_eq(us, 1795600800LL * 1000000);
    cr_assert_eq(when_parse("2026-11-25T11:00:00+01:00", now, &us), 0);
    cr_assert_eq(us, 1795600800LL * 1000000);
    cr_assert_eq(when_parse("yesterday", now, &us), -1);
    cr_assert_eq(when_parse("2026-11-25", now, &us), -1);
}

Test(when, points_in_time_are_years_0001_to_9999)
{
    int64_t now = 1795600000LL * 1000000, us = 0;
    cr_assert_eq(when_parse("0001-01-01T00:00:00Z", now, &us), 0);
    cr_assert_eq(us, WHEN_MIN_US);
    cr_assert_eq(when_parse("9999-12-31T23:59:59.999999Z", now, &us), 0);
    cr_assert_eq(us, WHEN_MAX_US);
    cr_assert_eq(when_parse("0000-06-01T00:00:00Z", now, &us), -1, "PostgreSQL has no year 0");
    cr_assert_eq(when_parse("0001-01-01T00:30:00+01:00", now, &us), -1, "year 0 by its offset");
    cr_assert_eq(when_parse("9999-12-31T23:30:00-01:00", now, &us), -1, "year 10000 by its offset");
    cr_assert_eq(when_parse("100y", WHEN_MIN_US + 1, &us), -1, "a duration back past year 1");
}
