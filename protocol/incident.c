/*
 * incident.c - incident report parsing and validation (see incident.h).
 *
 * jansson does the JSON (and refuses invalid UTF-8 and \u0000 in strings);
 * this file checks every field against the contract and produces the
 * canonical form the server stores.
 */
#include "protocol/incident.h"

#include "protocol/hex.h"
#include "protocol/utf8.h"

#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const builtin_types[] = {
    "crash", "watchdog_reset", "auth_failure", "update_failure", "tamper", "network_anomaly",
    "resource_exhaustion"};
static const char *const severities[] = {"info", "warning", "error", "critical"};

#define YEAR_2000_US 946684800000000LL
#define DAY_US 86400000000LL

static int fail(char *reason, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *reason, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- ids ---- */

int incident_uuid_canonical(const char *text, char out[37])
{
    if (strlen(text) != 36)
        return -1;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? text[i] != '-' : hex_digit(text[i]) < 0)
            return -1;
        out[i] = dash ? '-' : "0123456789abcdef"[hex_digit(text[i])];
    }
    out[36] = '\0';
    return 0;
}

int incident_uuid_v4(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

/* ---- times ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* The fraction and the zone after "YYYY-MM-DDTHH:MM:SS". */
static int parse_zone(const char *p, int64_t *frac_us, int64_t *offset_s)
{
    *frac_us = 0;
    *offset_s = 0;
    if (*p == '.') {
        int n = 0;
        int64_t scale = 100000;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n < 6)
                *frac_us += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0 || n > 9)
            return -1;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
        return 0;
    int hh, mm;
    if ((*p != '+' && *p != '-') || strlen(p) != 6 || p[3] != ':' || digits(p + 1, 2, &hh) < 0 ||
        digits(p + 4, 2, &mm) < 0 || hh > 23 || mm > 59)
        return -1;
    *offset_s = (*p == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
    return 0;
}

int incident_parse_time(const char *s, int64_t *us)
{
    int y, mo, d, h, mi, se;
    int64_t frac, offset;
    if (strlen(s) < 20 || digits(s, 4, &y) < 0 || s[4] != '-' || digits(s + 5, 2, &mo) < 0 ||
        s[7] != '-' || digits(s + 8, 2, &d) < 0 || (s[10] != 'T' && s[10] != 't') ||
        digits(s + 11, 2, &h) < 0 || s[13] != ':' || digits(s + 14, 2, &mi) < 0 ||
        s[16] != ':' || digits(s + 17, 2, &se) < 0 || parse_zone(s + 19, &frac, &offset) < 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || se > 60)
        return -1;
    if (se == 60)
        se = 59;   /* a leap second: keep it in its minute */
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
    *us = secs * 1000000 + frac;
    return 0;
}

int incident_format_time(int64_t us, char out[32])
{
    int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
    int64_t rem = us - secs * 1000000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t sod = secs - days * 86400;
    /* civil_from_days (Howard Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    int n = snprintf(out, 32, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ", (long long)y,
                     (long long)m, (long long)d, (long long)(sod / 3600),
                     (long long)(sod / 60 % 60), (long long)(sod % 60), (long long)rem);
    return n > 0 && n < 32 ? 0 : -1;
}

/* ---- fields ---- */

static int is_builtin_type(const char *t)
{
    for (size_t i = 0; i < sizeof(builtin_types) / sizeof(builtin_types[0]); i++)
        if (strcmp(t, builtin_types[i]) == 0)
            return 1;
    return 0;
}

static int valid_type(const char *t)
{
    size_t n = strlen(t);
    if (is_builtin_type(t))
        return 1;
    if (n < 3 || n > 62 || strncmp(t, "x-", 2) != 0)
        return 0;
    for (const char *p = t + 2; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
              *p == '-'))
            return 0;
    return 1;
}

static int valid_severity(const char *s)
{
    for (size_t i = 0; i < 4; i++)
        if (strcmp(s, severities[i]) == 0)
            return 1;
    return 0;
}

static int printable_ascii(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > INCIDENT_TEXT_MAX)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

static int depth_of(json_t *v, int limit)
{
    int deepest = 0;
    size_t i;
    const char *key;
    json_t *child;
    if (limit < 0)
        return 1;   /* deeper than anyone may go: stop looking */
    if (json_is_object(v)) {
        json_object_foreach(v, key, child) {
            int d = depth_of(child, limit - 1);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            int d = depth_of(child, limit - 1);
            deepest = d > deepest ? d : deepest;
        }
        return deepest + 1;
    }
    return 0;
}

/* Looks up an optional string member: 1 present, 0 absent, -1 not a string. */
static int get_string(json_t *obj, const char *name, const char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 1;
}

/* Enough of a refused value for the device to see which it was, and
 * room in incident_item's reason for what it should be. */
#define INCIDENT_QUOTE_BYTES 32

/* The reason for member `name`, found (get_string's found) but refused,
 * or absent: "severity: required, one of ...", "severity: must be a
 * string, one of ...", or "severity 'hgih' is not one of ..." (the value
 * quoted as the operator API quotes it). Returns -1. */
static int refuse_member(char *reason, size_t len, const char *name, int found, const char *value,
                         const char *what)
{
    char shown[INCIDENT_QUOTE_BYTES + 16];
    if (found == 0)
        return fail(reason, len, "%s: required, %s", name, what);
    if (found < 0)
        return fail(reason, len, "%s: must be a string, %s", name, what);
    utf8_quote_n(value, strlen(value), INCIDENT_QUOTE_BYTES, shown);
    return fail(reason, len, "%s %s is not %s", name, shown, what);
}

static int check_required(json_t *obj, incident *out, int64_t now_us, char *reason, size_t len)
{
    const char *id, *type, *sev, *at;
    int64_t when;
    int found;
    if ((found = get_string(obj, "id", &id)) != 1 || incident_uuid_canonical(id, out->id) < 0)
        return refuse_member(reason, len, "id", found, id,
                             "a UUID such as 7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a");
    if ((found = get_string(obj, "type", &type)) != 1 || !valid_type(type))
        return refuse_member(reason, len, "type", found, type,
                             "one of crash, watchdog_reset, auth_failure, update_failure, tamper, "
                             "network_anomaly, resource_exhaustion or x-<name>");
    snprintf(out->type, sizeof(out->type), "%s", type);
    if ((found = get_string(obj, "severity", &sev)) != 1 || !valid_severity(sev))
        return refuse_member(reason, len, "severity", found, sev,
                             "one of info, warning, error, critical");
    snprintf(out->severity, sizeof(out->severity), "%s", sev);
    if ((found = get_string(obj, "occurred_at", &at)) != 1 || incident_parse_time(at, &when) < 0)
        return refuse_member(reason, len, "occurred_at", found, at,
                             "RFC 3339 such as 2026-11-25T10:00:00Z");
    if (when < YEAR_2000_US || when > now_us + DAY_US)
        return fail(reason, len, "occurred_at: before 2000 or more than a day in the future");
    out->occurred_at_us = when;
    return 0;
}

static int check_optional(json_t *obj, incident *out, char *reason, size_t len)
{
    const char *fw, *comp;
    int has;
    if ((has = get_string(obj, "firmware_version", &fw)) < 0 || (has && !printable_ascii(fw)))
        return fail(reason, len, "firmware_version: 1-64 printable ASCII characters, no spaces");
    snprintf(out->firmware_version, sizeof(out->firmware_version), "%s", has ? fw : "");
    if ((has = get_string(obj, "component", &comp)) < 0 || (has && !printable_ascii(comp)))
        return fail(reason, len, "component: 1-64 printable ASCII characters, no spaces");
    snprintf(out->component, sizeof(out->component), "%s", has ? comp : "");
    json_t *details = json_object_get(obj, "details");
    if (!details || json_is_null(details)) {
        out->details = strdup("{}");
        return out->details ? 0 : fail(reason, len, "out of memory");
    }
    if (!json_is_object(details))
        return fail(reason, len, "details: must be a JSON object");
    if (depth_of(details, INCIDENT_DETAILS_DEPTH) > INCIDENT_DETAILS_DEPTH)
        return fail(reason, len, "details: nested deeper than %d levels", INCIDENT_DETAILS_DEPTH);
    out->details = json_dumps(details, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!out->details)
        return fail(reason, len, "details: cannot be serialized");
    if (strlen(out->details) > INCIDENT_DETAILS_MAX)
        return fail(reason, len, "details: more than %d bytes", INCIDENT_DETAILS_MAX);
    return 0;
}

int incident_validate(json_t *obj, int64_t now_us, incident *out, char *reason, size_t len)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(obj))
        return fail(reason, len, "a report must be a JSON object");
    if (check_required(obj, out, now_us, reason, len) < 0 ||
        check_optional(obj, out, reason, len) < 0) {
        incident_clear(out);
        return -1;
    }
    return 0;
}

void incident_clear(incident *r)
{
    free(r->details);
    r->details = NULL;
}

/* ---- batches ---- */

static void parse_item(json_t *obj, int64_t now_us, incident_item *it)
{
    const char *id;
    it->ok = incident_validate(obj, now_us, &it->report, it->reason, sizeof(it->reason)) == 0;
    if (it->ok)
        memcpy(it->id, it->report.id, sizeof(it->id));
    else if (json_is_object(obj) && get_string(obj, "id", &id) == 1 &&
             incident_uuid_canonical(id, it->id) < 0)
        it->id[0] = '\0';
}

int incident_batch_parse(const char *body, size_t len, size_t max_items, int64_t now_us,
                         incident_batch *out, char *reason, size_t reason_len)
{
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fail(reason, reason_len, "invalid JSON at line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    size_t n = json_is_array(root) ? json_array_size(root) : 1;
    int rc = INCIDENT_REFUSED;
    if (!json_is_array(root) && !json_is_object(root))
        fail(reason, reason_len, "the body must be a report object or an array of them");
    else if (n == 0)
        fail(reason, reason_len, "empty array: send at least one report");
    else if (n > max_items) {
        fail(reason, reason_len, "%zu reports in one request; at most %zu", n, max_items);
        rc = INCIDENT_TOO_MANY;
    } else if (!(out->items = calloc(n, sizeof(*out->items))))
        fail(reason, reason_len, "out of memory");
    else
        rc = 0;
    if (rc == 0) {
        out->n = n;
        out->was_array = json_is_array(root);
        for (size_t i = 0; i < n; i++)
            parse_item(out->was_array ? json_array_get(root, i) : root, now_us, &out->items[i]);
    }
    json_decref(root);
    return rc;
}

void incident_batch_free(incident_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        incident_clear(&b->items[i].report);
    free(b->items);
    memset(b, 0, sizeof(*b));
}
