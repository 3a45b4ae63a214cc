/*
 * api_query.c - a request's query string, decoded and read as typed values
 * (see api_query.h).
 */
#include "server/api/api_query.h"

#include "protocol/device_id.h"
#include "protocol/percent.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Keeps the first refusal; -1. param NULL: none can be named. */
static int refuse(api_query *q, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(api_query *q, const char *param, const char *fmt, ...)
{
    if (q->refused)
        return -1;
    q->refused = 1;
    snprintf(q->param, sizeof(q->param), "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->reason, sizeof(q->reason), fmt, ap);
    va_end(ap);
    return -1;
}

/* The same for the value v (len bytes, as received) of name: the reason
 * quotes it (api_value_refusal). */
static int refuse_value(api_query *q, const char *name, const char *v, size_t len, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));
static int refuse_value(api_query *q, const char *name, const char *v, size_t len, const char *fmt,
                        ...)
{
    if (q->refused)
        return -1;
    q->refused = 1;
    snprintf(q->param, sizeof(q->param), "%s", name);
    char shown[UTF8_QUOTE_MAX];
    utf8_quote(v, len, shown);
    va_list ap;
    va_start(ap, fmt);
    api_value_refusal(q->reason, sizeof(q->reason), name, shown, fmt, ap);
    va_end(ap);
    return -1;
}

void api_query_init(api_query *q, const char *const *names)
{
    memset(q, 0, sizeof(*q));
    q->names = names;
    int n = 0;
    while (names[n])
        n++;
    if (n > API_QUERY_NAMES)
        refuse(q, NULL, "this endpoint takes more parameters than a query holds; this is a bug");
}

static int name_index(const api_query *q, const char *name, size_t len)
{
    for (int i = 0; i < API_QUERY_NAMES && q->names[i]; i++)
        if (strlen(q->names[i]) == len && memcmp(q->names[i], name, len) == 0)
            return i;
    return -1;
}

/* An unknown name is echoed only if it is short printable ASCII. */
static int refuse_unknown(api_query *q, const char *name, size_t len, int decoded)
{
    char list[512] = "";
    for (int i = 0; q->names[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", q->names[i]);
    }
    int shown = decoded && len <= API_QUERY_NAME_MAX;
    for (size_t i = 0; shown && i < len; i++)
        shown = name[i] >= 0x20 && name[i] < 0x7f;
    return refuse(q, shown ? name : NULL, "unknown query parameter '%s'; this endpoint takes: %s",
                  shown ? name : "(unprintable)", list[0] ? list : "none");
}

static int add(api_query *q, const char *key, size_t key_len, const char *value, size_t value_len,
               int plus)
{
    char name[API_QUERY_NAME_MAX + 1];
    size_t name_len, len;
    if (q->refused || !q->names)
        return -1;
    int decoded = percent_decode(key, key_len, plus, name, API_QUERY_NAME_MAX, &name_len) == 0;
    int i = decoded ? name_index(q, name, name_len) : -1;
    if (i < 0)
        return refuse_unknown(q, name, name_len, decoded);
    const char *n = q->names[i];
    char *text = q->values[i].text;
    if (q->values[i].given)
        return refuse_value(q, n, value ? value : "", value ? value_len : 0,
                            "is a second %s: give it once", n);
    if (!value)
        return refuse(q, n, "%s is given without a value; send %s=<value> or leave it out", n, n);
    int rc = percent_decode(value, value_len, plus, text, API_QUERY_VALUE_MAX, &len);
    if (rc == -1)
        return refuse_value(q, n, value, value_len,
                            "has a malformed percent-escape: a byte is %%HH with two hex digits, "
                            "a %% itself %%25");
    if (rc < 0)
        return refuse_value(q, n, value, value_len, "is longer than %d bytes", API_QUERY_VALUE_MAX);
    if (strlen(text) != len)
        return refuse_value(q, n, value, value_len, "contains a NUL character (%%00)");
    if (!api_value_utf8(text, len))
        return refuse_value(q, n, value, value_len,
                            "is not UTF-8 text: percent-encode the bytes of UTF-8 characters");
    q->values[i].given = 1;
    return 0;
}

int api_query_add(api_query *q, const char *key, size_t key_len, const char *value,
                  size_t value_len)
{
    return add(q, key, key_len, value, value_len, 0);
}

int api_query_parse(api_query *q, const char *text, size_t len)
{
    for (size_t i = 0; i < len;) {
        const char *piece = text + i, *amp = memchr(piece, '&', len - i);
        size_t plen = amp ? (size_t)(amp - piece) : len - i;
        const char *eq = memchr(piece, '=', plen);
        if (eq)
            add(q, piece, (size_t)(eq - piece), eq + 1, plen - (size_t)(eq - piece) - 1, 1);
        else if (plen)
            add(q, piece, plen, NULL, 0, 1);
        i += plen + 1;
    }
    return q->refused ? -1 : 0;
}

/* 1 with *v (the decoded value), 0 when absent, -1 when refused. */
static int lookup(api_query *q, const char *name, const char **v)
{
    if (q->refused)
        return -1;
    if (!q->names)
        return refuse(q, NULL, "a parameter was read before the query was parsed; this is a bug");
    int i = name_index(q, name, strlen(name));
    if (i < 0 || !q->values[i].given) /* one the endpoint does not take is never given */
        return 0;
    *v = q->values[i].text;
    return 1;
}

int api_query_text(api_query *q, const char *name, size_t max_chars, const char **out)
{
    const char *v;
    int rc = lookup(q, name, &v);
    if (rc <= 0)
        return rc;
    if (!api_value_text(v, max_chars))
        return refuse_value(q, name, v, strlen(v),
                            "must be 1 to %zu characters of text without control characters",
                            max_chars);
    *out = v;
    return 1;
}

int api_query_enum(api_query *q, const char *name, const char *const *values, int *index)
{
    const char *v;
    int rc = lookup(q, name, &v);
    if (rc <= 0)
        return rc;
    if ((*index = api_value_enum(v, values)) >= 0)
        return 1;
    char list[256] = "";
    for (int i = 0; values[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", values[i]);
    }
    return refuse_value(q, name, v, strlen(v), "must be one of: %s", list);
}

int api_query_device_id(api_query *q, const char *name, const char **out)
{
    const char *v;
    int rc = lookup(q, name, &v);
    if (rc <= 0)
        return rc;
    if (!device_id_valid(v))
        return refuse_value(q, name, v, strlen(v), "is not a device id: " DEVICE_ID_RULE);
    *out = v;
    return 1;
}

int api_query_int(api_query *q, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const char *v;
    int rc = lookup(q, name, &v);
    if (rc <= 0)
        return rc;
    if (api_value_int(v, min, max, out) < 0)
        return refuse_value(q, name, v, strlen(v), "must be a whole number from %lld to %lld",
                            (long long)min, (long long)max);
    return 1;
}

int api_query_duration(api_query *q, const char *name, int64_t max_seconds, int64_t *out)
{
    const char *v;
    int rc = lookup(q, name, &v);
    if (rc <= 0)
        return rc;
    if (api_value_duration(v, max_seconds, out) < 0)
        return refuse_value(q, name, v, strlen(v),
                            "must be a duration such as 5m, 1h or 1d (at least 1s, at most %llds)",
                            (long long)max_seconds);
    return 1;
}

int api_query_time(api_query *q, const char *name, int64_t now_us, api_time *t)
{
    const char *v;
    int rc = lookup(q, name, &v);
    if (rc <= 0)
        return rc;
    if (api_value_time(v, now_us, t) < 0)
        return refuse_value(q, name, v, strlen(v),
                            "is not an RFC 3339 time (2026-11-25T10:00:00Z) in the years 0001 to "
                            "9999, nor a duration back from now (15m, 24h, 7d)%s",
                            strchr(v, ' ') ? "; a '+' in a URL arrives as a space: write Z or "
                                             "%2B for +"
                                           : "");
    return 1;
}

int api_query_cursor(api_query *q, const char *name, int serial_key, char buf[64], const char **us,
                     const char **key)
{
    const char *v;
    int rc = lookup(q, name, &v);
    if (rc <= 0)
        return rc;
    if ((serial_key ? api_value_cursor_serial : api_value_cursor_seq)(v, buf, us, key) < 0)
        return refuse_value(q, name, v, strlen(v),
                            "is not a cursor this server made; pass next_cursor from the previous "
                            "page unchanged");
    return 1;
}
