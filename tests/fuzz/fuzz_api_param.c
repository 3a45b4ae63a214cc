/*
 * fuzz_api_param.c - libFuzzer target for the operator API's parameter
 * parsing: a query string decoded into a route's parameters
 * (server/api/api_query.c) and read through the typed getters the way the
 * route's handler reads them, and a path segment checked as each kind of
 * path argument (api_value_path_arg). The first byte picks the route; the
 * rest is the query string, then after a newline the path segment.
 *
 * Beyond not crashing, what is accepted must be what PostgreSQL takes:
 * text is UTF-8 without NUL or control characters, times are four-digit
 * years 0001-9999, cursors and path numbers fit int8. A violation traps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/device_id.h"
#include "protocol/when.h"
#include "server/api/api_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static const int64_t now = 1795600800LL * 1000000; /* fixed: runs must repeat */

static const char *const severities[] = {"info", "warning", "error", "critical", NULL};
static const char *const sources[] = {"device", "server", NULL};
static const char *const bys[] = {"type", "severity", "firmware_version", "source", NULL};
static const char *const formats[] = {"ndjson", "csv", NULL};
static const char *const device_statuses[] = {"active", "quarantined", "decommissioned", NULL};
static const char *const cert_statuses[] = {"active", "revoked", "expired", NULL};

/* The parameters of each route, as its handler names them. */
static const char *const incidents[] = {
    "device_id", "type",  "severity", "source", "firmware_version", "since", "until",
    "group",     "limit", "cursor",   NULL};
static const char *const stats[] = {"device_id", "type",  "severity", "source", "firmware_version",
                                    "since",     "until", "bucket",   "by",     NULL};
static const char *const groups[] = {"device_id", "type",  "source", "firmware_version",
                                     "since",     "until", "limit",  NULL};
static const char *const export_[] = {"device_id",        "type",  "severity", "source",
                                      "firmware_version", "since", "until",    "group",
                                      "format",           NULL};
static const char *const devices[] = {"status",    "class",      "firmware_version",
                                      "id_prefix", "seen_since", "seen_before",
                                      "limit",     "cursor",     NULL};
static const char *const certs[] = {"device_id", "status", "limit", "cursor", NULL};
static const char *const audit[] = {"since", "until", "device_id", "action",
                                    "actor", "limit", "cursor",    NULL};
static const char *const *const routes[] = {incidents, stats, groups, export_,
                                            devices,   certs, audit};

static void text_ok(int rc, const char *v, size_t max_chars)
{
    if (rc == 1)
        EXPECT(api_value_text(v, max_chars) && api_value_utf8(v, strlen(v)));
}

static void time_ok(int rc, const api_time *t)
{
    if (rc == 1)
        EXPECT(t->us >= WHEN_MIN_US && t->us <= WHEN_MAX_US && strlen(t->text) == 27 &&
               strncmp(t->text, "0000", 4) != 0);
}

static void int_ok(const char *v, int64_t min, int64_t max)
{
    int64_t n;
    EXPECT(api_value_int(v, min, max, &n) == 0);
}

/* The parameters of api_incidents_filter, as it reads them. */
static int incident_filter(api_query *q)
{
    const char *s = NULL;
    int i;
    api_time t;
    int rc = api_query_device_id(q, "device_id", &s);
    if (rc == 1)
        EXPECT(device_id_valid(s));
    if (rc >= 0)
        text_ok(rc = api_query_text(q, "type", 63, &s), s, 63);
    if (rc >= 0)
        text_ok(rc = api_query_text(q, "firmware_version", 64, &s), s, 64);
    if (rc >= 0)
        rc = api_query_enum(q, "severity", severities, &i);
    if (rc >= 0)
        rc = api_query_enum(q, "source", sources, &i);
    if (rc >= 0)
        text_ok(rc = api_query_text(q, "group", 16, &s), s, 16);
    if (rc >= 0)
        time_ok(rc = api_query_time(q, "since", now, &t), &t);
    if (rc >= 0)
        time_ok(rc = api_query_time(q, "until", now, &t), &t);
    return rc;
}

static void route(api_query *q, int which)
{
    const char *s = NULL, *us = NULL, *key = NULL;
    char buf[64];
    int64_t n;
    int i, rc = 0;
    api_time t;
    if (which <= 3)
        rc = incident_filter(q);
    if (rc >= 0 && (which == 0 || which >= 4))
        rc = api_query_int(q, "limit", 1, 1000, &n);
    if (rc >= 0 && which == 2)
        rc = api_query_int(q, "limit", 1, 500, &n);
    if (rc >= 0 && which == 0 && (rc = api_query_cursor(q, "cursor", 0, buf, &us, &key)) == 1) {
        int_ok(us, 0, WHEN_MAX_US);
        int_ok(key, 1, INT64_MAX);
    }
    if (rc >= 0 && which == 1 && (rc = api_query_duration(q, "bucket", 366 * 86400, &n)) >= 0)
        rc = api_query_enum(q, "by", bys, &i);
    if (rc >= 0 && which == 3)
        rc = api_query_enum(q, "format", formats, &i);
    if (rc >= 0 && which == 4) {
        static const char *const text[] = {"class", "firmware_version", "id_prefix", "cursor"};
        rc = api_query_enum(q, "status", device_statuses, &i);
        for (size_t k = 0; rc >= 0 && k < 4; k++)
            text_ok(rc = api_query_text(q, text[k], 64, &s), s, 64);
        if (rc >= 0)
            time_ok(rc = api_query_time(q, "seen_since", now, &t), &t);
        if (rc >= 0)
            time_ok(rc = api_query_time(q, "seen_before", now, &t), &t);
    }
    if (rc >= 0 && which == 5 && (rc = api_query_device_id(q, "device_id", &s)) >= 0 &&
        (rc = api_query_enum(q, "status", cert_statuses, &i)) >= 0 &&
        (rc = api_query_cursor(q, "cursor", 1, buf, &us, &key)) == 1) {
        int_ok(us, 0, WHEN_MAX_US);
        EXPECT(api_value_serial(key));
    }
    if (rc >= 0 && which == 6) {
        time_ok(rc = api_query_time(q, "since", now, &t), &t);
        if (rc >= 0)
            time_ok(rc = api_query_time(q, "until", now, &t), &t);
        if (rc >= 0)
            rc = api_query_device_id(q, "device_id", &s);
        if (rc >= 0)
            text_ok(rc = api_query_text(q, "action", 64, &s), s, 64);
        if (rc >= 0)
            text_ok(rc = api_query_text(q, "actor", 128, &s), s, 128);
        if (rc >= 0)
            text_ok(rc = api_query_text(q, "cursor", 32, &s), s, 32);
    }
    if (rc < 0)
        EXPECT(q->refused && q->reason[0]);
}

/* A path segment as each kind of path argument. */
static void path(const char *seg, size_t len)
{
    static const char *const kinds[] = {"id", "serial", "seq"};
    char *out = malloc(len + 1);
    if (!out)
        return;
    for (size_t k = 0; k < 3; k++) {
        if (api_value_path_arg(kinds[k], seg, len, out))
            continue;
        EXPECT(strlen(out) <= len && api_value_utf8(out, strlen(out)));
        if (k == 0)
            EXPECT(device_id_valid(out));
        if (k == 2)
            int_ok(out, 1, INT64_MAX);
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static api_query q; /* 9 KB: not on the stack */
    if (size < 1)
        return 0;
    int which = data[0] % (int)(sizeof(routes) / sizeof(routes[0]));
    const char *in = (const char *)data + 1, *nl = memchr(in, '\n', size - 1);
    size_t qlen = nl ? (size_t)(nl - in) : size - 1;
    api_query_init(&q, routes[which]);
    if (api_query_parse(&q, in, qlen) == 0)
        route(&q, which);
    else
        EXPECT(q.refused && q.reason[0]);
    if (nl)
        path(nl + 1, size - 1 - qlen - 1);
    return 0;
}
