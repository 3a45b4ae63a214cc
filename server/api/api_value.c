/*
 * api_value.c - the operator API's value checks (see api_value.h).
 */
#include "server/api/api_value.h"

#include "cert-authority/ca.h"
#include "protocol/device_id.h"
#include "protocol/incident.h"
#include "protocol/manifest.h"
#include "protocol/percent.h"
#include "protocol/rollout.h"
#include "protocol/utf8.h"
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

int api_value_utf8(const char *v, size_t len)
{
    uint32_t cp;
    for (size_t i = 0, k; i < len; i += k)
        if (!(k = utf8_next((const unsigned char *)v + i, len - i, &cp)))
            return 0;
    return 1;
}

void api_value_refusal(char *out, size_t size, const char *name, const char *shown, const char *fmt,
                       va_list ap)
{
    int n = snprintf(out, size, "%s %s ", name, shown);
    if (n >= 0 && (size_t)n < size)
        vsnprintf(out + n, size - (size_t)n, fmt, ap);
}

int api_value_text(const char *v, size_t max_chars)
{
    size_t n = strlen(v), chars = 0;
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k) {
        if (++chars > max_chars || !(k = utf8_next((const unsigned char *)v + i, n - i, &cp)) ||
            cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return 0;
    }
    return chars >= 1;
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
    if (when_parse(v, now_us, &us) < 0) /* which keeps to WHEN_MIN_US..WHEN_MAX_US */
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

/* "<us>.<key>": us checked and printed into buf, *key at what follows the
 * first dot in v. */
static int cursor_split(const char *v, char buf[64], int64_t *us, const char **key)
{
    const char *dot = strchr(v, '.');
    if (!dot || strlen(v) >= 64)
        return -1;
    memcpy(buf, v, (size_t)(dot - v));
    buf[dot - v] = '\0';
    if (api_value_int(buf, 0, WHEN_MAX_US, us) < 0)
        return -1;
    *key = dot + 1;
    return 0;
}

/* buf = "<us>\0<key>". */
static void cursor_write(int64_t us, const char *key, char buf[64], const char **a, const char **b)
{
    int n = snprintf(buf, 64, "%lld", (long long)us);
    snprintf(buf + n + 1, (size_t)(64 - n - 1), "%s", key);
    *a = buf;
    *b = buf + n + 1;
}

int api_value_cursor_seq(const char *v, char buf[64], const char **us, const char **key)
{
    int64_t t, seq;
    const char *k;
    char digits[24];
    if (cursor_split(v, buf, &t, &k) < 0 || api_value_int(k, 1, INT64_MAX, &seq) < 0)
        return -1;
    snprintf(digits, sizeof(digits), "%lld", (long long)seq);
    cursor_write(t, digits, buf, us, key);
    return 0;
}

int api_value_cursor_serial(const char *v, char buf[64], const char **us, const char **key)
{
    int64_t t;
    const char *k;
    char serial[41];
    if (cursor_split(v, buf, &t, &k) < 0 || !api_value_serial(k))
        return -1;
    snprintf(serial, sizeof(serial), "%s", k);
    cursor_write(t, serial, buf, us, key);
    return 0;
}

const char *api_value_path_arg(const char *name, const char *raw, size_t raw_len, char *out)
{
    size_t len;
    int64_t seq;
    char serial[CA_SERIAL_HEX_MAX];
    /* decoded, with no NUL that would cut it short unseen, and UTF-8 */
    int text = percent_decode(raw, raw_len, 0, out, raw_len, &len) == 0 && strlen(out) == len &&
               api_value_utf8(out, len);
    if (strcmp(name, "id") == 0)
        return text && device_id_valid(out) ? NULL
                                            : "no such device: a device id is " DEVICE_ID_RULE
                                              " (see GET /v1/devices)";
    if (strcmp(name, "serial") == 0)
        return text && ca_serial_normalize(out, serial, NULL) == 0
                   ? NULL
                   : "no such certificate: a serial is up to 20 bytes of hex, such as 5F3A09 "
                     "(see GET /v1/certificates)";
    if (strcmp(name, "seq") == 0)
        return text && api_value_int(out, 1, INT64_MAX, &seq) == 0
                   ? NULL
                   : "no such incident: an incident is named by its seq, a whole number from 1 "
                     "to 9223372036854775807";
    if (strcmp(name, "release") == 0)
        return text && api_value_release_ref(out)
                   ? NULL
                   : "no such release: a release is named by its id, CLASS/VERSION (the slash as "
                     "%2F in a path) or a version (see GET /v1/releases)";
    if (strcmp(name, "rollout") == 0)
        return text && api_value_int(out, 1, INT64_MAX, &seq) == 0
                   ? NULL
                   : "no such rollout: a rollout is named by its id, a whole number from 1 to "
                     "9223372036854775807 (see GET /v1/rollouts)";
    return "this path argument is not checked; this is a bug";
}

int api_value_release_ref(const char *s)
{
    int64_t id;
    const char *slash = strchr(s, '/');
    if (s[0] && strspn(s, "0123456789") == strlen(s)) /* all digits: an id */
        return api_value_int(s, 1, INT64_MAX, &id) == 0;
    if (!slash)
        return manifest_version_valid(s);
    char cls[DEVICE_ID_MAX + 2];
    size_t n = (size_t)(slash - s);
    if (n > DEVICE_ID_MAX)
        return 0;
    memcpy(cls, s, n);
    cls[n] = '\0';
    return device_id_valid(cls) && manifest_version_valid(slash + 1);
}

int api_value_percent(double percent, int *basis_points)
{
    double bp = percent * 100; /* 12.34 is 1233.9999999999998 */
    if (!(bp >= 1 - 1e-6 && bp <= ROLLOUT_BASIS_POINTS + 1e-6))
        return -1;
    int whole = (int)(bp + 0.5);
    double off = bp - whole;
    if (off > 1e-6 || off < -1e-6)
        return -1;
    *basis_points = whole;
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
