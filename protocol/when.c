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

int64_t when_duration(const char *text)
{
    char *end;
    if (!isdigit((unsigned char)text[0]))
        return -1;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (errno || n < 0 || n > WHEN_MAX_SECONDS)
        return -1;
    int64_t unit = !*end                   ? 1
                   : strcmp(end, "s") == 0 ? 1
                   : strcmp(end, "m") == 0 ? 60
                   : strcmp(end, "h") == 0 ? 3600
                   : strcmp(end, "d") == 0 ? 86400
                                           : -1;
    if (unit < 0 || n > WHEN_MAX_SECONDS / unit)
        return -1;
    return n * unit;
}

int64_t when_now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int when_parse(const char *text, int64_t now_us, int64_t *us)
{
    int64_t ago = when_duration(text);
    if (ago >= 0) {
        *us = now_us - ago * 1000000;
        return 0;
    }
    return strlen(text) <= 40 && incident_parse_time(text, us) == 0 ? 0 : -1;
}
