/*
 * when.c - points and lengths of time as people write them (see when.h).
 */
#include "protocol/when.h"

#include "protocol/incident.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* Milliseconds in a unit's name, or -1. */
static int64_t unit_ms(const char *unit)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {
        {"ms", 1},
        {"s", 1000},
        {"m", 60000},
        {"h", 3600000},
        {"d", 86400000},
        {"w", 7 * 86400000LL},
        {"y", 365 * 86400000LL},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(unit, units[i].name) == 0)
            return units[i].ms;
    return -1;
}

int64_t when_duration_ms(const char *text, int64_t bare_unit_ms)
{
    char *end;
    if (!text || !isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno || n < 0)
        return -1;
    int64_t unit = *end ? unit_ms(end) : bare_unit_ms > 0 ? bare_unit_ms : -1;
    if (unit < 0 || n > WHEN_MAX_SECONDS * 1000 / unit)
        return -1;
    return n * unit;
}

int64_t when_duration(const char *text)
{
    int64_t ms = when_duration_ms(text, 1000);
    return ms < 0 || ms % 1000 ? -1 : ms / 1000;
}

int64_t when_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int when_parse(const char *text, int64_t now_us, int64_t *us)
{
    int64_t ago = when_duration(text), t;
    if (ago >= 0)
        t = now_us - ago * 1000000;
    else if (strlen(text) > 40 || incident_parse_time(text, &t) < 0)
        return -1;
    if (t < WHEN_MIN_US || t > WHEN_MAX_US)
        return -1;
    *us = t;
    return 0;
}
