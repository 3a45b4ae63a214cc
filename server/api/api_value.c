/*
 * api_value.c - the operator API's value checks (see api_value.h).
 */
#include "server/api/api_value.h"

#include "protocol/incident.h"
#include "protocol/when.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int api_value_text(const char *v, size_t max_len)
{
    size_t n = strlen(v);
    if (n < 1 || n > max_len)
        return 0;
    for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return 0;
    return 1;
}

int api_value_enum(const char *v, const char *const *values)
{
    for (int i = 0; values[i]; i++)
        if (strcmp(values[i], v) == 0)
            return i;
    return -1;
}

int api_value_int(const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    /* strtoll takes leading spaces and a '+': a parameter may not */
    if (errno || end == v || *end || !is_digit(v[v[0] == '-']) || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

int api_value_duration(const char *v, int64_t max_seconds, int64_t *out)
{
    int64_t s = when_duration(v);
    if (s <= 0 || s > max_seconds)
        return -1;
    *out = s;
    return 0;
}

void api_value_time_at(int64_t us, api_time *t)
{
    t->us = us;
    incident_format_time(us, t->text);
}

int api_value_time(const char *v, int64_t now_us, api_time *t)
{
    int64_t us;
    if (when_parse(v, now_us, &us) < 0)
        return -1;
    api_value_time_at(us, t);
    return 0;
}

int api_value_serial(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 40)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]) && !(s[i] >= 'A' && s[i] <= 'F'))
            return 0;
    return 1;
}

int api_value_digits(const char *s, size_t max_len)
{
    size_t n = strlen(s);
    if (n < 1 || n > max_len)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

int api_value_cursor2(const char *v, char buf[64], const char **a, const char **b)
{
    const char *dot = strchr(v, '.');
    if (strlen(v) >= 64 || !dot)
        return -1;
    snprintf(buf, 64, "%s", v);
    buf[dot - v] = '\0';
    if (!api_value_digits(buf, 20) || !api_value_serial(buf + (dot - v) + 1))
        return -1;
    *a = buf;
    *b = buf + (dot - v) + 1;
    return 0;
}

int api_value_body(const char *content_type, const char *body, size_t len, json_t **out, char *why,
                   size_t why_len)
{
    *out = NULL;
    if (len == 0) {
        *out = json_object();
        return 0;
    }
    if (!content_type || strncasecmp(content_type, "application/json", 16) != 0) {
        snprintf(why, why_len, "send the body as application/json");
        return 415;
    }
    json_error_t jerr;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v || !json_is_object(v)) {
        snprintf(why, why_len, "the body must be a JSON object%s%s", v ? "" : ": ",
                 v ? "" : jerr.text);
        json_decref(v);
        return 400;
    }
    *out = v;
    return 0;
}
