/*
 * api_param.c - typed, bounded reading of the operator API's query
 * parameters and bodies (see api_param.h): r->query filled from
 * libmicrohttpd, and a refusal of api_query.c answered as the 400 that
 * names the parameter and says what would have been accepted, so an
 * operator fixing a script knows what to change.
 */
#include "server/api/api_param.h"

#include "protocol/when.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result add_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    api_query_add(cls, key, key_size, value, value_size);
    return MHD_YES;
}

/* rc of a getter; a refusal is answered here. */
static int answered(api_req *r, int rc)
{
    if (rc < 0)
        api_error(r, 400, "bad_request", r->query.param[0] ? r->query.param : NULL, "%s",
                  r->query.reason);
    return rc;
}

static int refuse_shown(api_req *r, const char *name, const char *shown, const char *fmt,
                        va_list ap) __attribute__((format(printf, 4, 0)));
static int refuse_shown(api_req *r, const char *name, const char *shown, const char *fmt,
                        va_list ap)
{
    char reason[ERRORS_TEXT_MAX + 1];
    api_value_refusal(reason, sizeof(reason), name, shown, fmt, ap);
    api_error(r, 400, "bad_request", name, "%s", reason);
    return -1;
}

int api_param_refuse(api_req *r, const char *name, const char *value, const char *fmt, ...)
{
    char shown[UTF8_QUOTE_MAX];
    utf8_quote(value, strlen(value), shown);
    va_list ap;
    va_start(ap, fmt);
    refuse_shown(r, name, shown, fmt, ap);
    va_end(ap);
    return -1;
}

int api_param_refuse_json(api_req *r, const char *name, const json_t *value, const char *fmt, ...)
{
    char shown[UTF8_QUOTE_MAX] = "(absent)";
    if (json_is_string(value)) {
        utf8_quote(json_string_value(value), json_string_length(value), shown);
    } else if (value) {
        char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t n = text ? strlen(text) : 0;
        snprintf(shown, sizeof(shown), "%.*s%s", UTF8_QUOTE_BYTES, text ? text : "(?)",
                 n > UTF8_QUOTE_BYTES ? "..." : "");
        free(text);
    }
    va_list ap;
    va_start(ap, fmt);
    refuse_shown(r, name, shown, fmt, ap);
    va_end(ap);
    return -1;
}

int api_param_only(api_req *r, const char *const *names)
{
    /* The values come as sent: api.c's unescape callback leaves the
     * percent-escapes to api_query_add, which decodes them with their
     * length. */
    api_query_init(&r->query, names);
    MHD_get_connection_values_n(r->mc, MHD_GET_ARGUMENT_KIND, add_param, &r->query);
    return answered(r, r->query.refused ? -1 : 0);
}

int api_param_text(api_req *r, const char *name, size_t max_chars, const char **out)
{
    return answered(r, api_query_text(&r->query, name, max_chars, out));
}

int api_param_enum(api_req *r, const char *name, const char *const *values, int *index)
{
    return answered(r, api_query_enum(&r->query, name, values, index));
}

int api_param_choice(api_req *r, const char *name, const char *const *values, const char **out)
{
    int i, rc = api_param_enum(r, name, values, &i);
    if (rc == 1)
        *out = values[i];
    return rc;
}

int api_param_device_id(api_req *r, const char *name, const char **out)
{
    return answered(r, api_query_device_id(&r->query, name, out));
}

int api_param_int(api_req *r, const char *name, int64_t min, int64_t max, int64_t *out)
{
    return answered(r, api_query_int(&r->query, name, min, max, out));
}

int api_param_limit(api_req *r, int *limit)
{
    int64_t v = 100;
    if (api_param_int(r, "limit", 1, 1000, &v) < 0)
        return -1;
    *limit = (int)v;
    return 0;
}

int api_param_duration(api_req *r, const char *name, int64_t max_seconds, int64_t *out)
{
    return answered(r, api_query_duration(&r->query, name, max_seconds, out));
}

void api_param_time_ago(int64_t seconds_ago, api_time *t)
{
    api_value_time_at(when_now_us() - seconds_ago * 1000000, t);
}

int api_param_time(api_req *r, const char *name, api_time *t, const char **text)
{
    int rc = answered(r, api_query_time(&r->query, name, when_now_us(), t));
    if (rc == 1 && text)
        *text = t->text;
    return rc;
}

int api_param_cursor(api_req *r, const char *name, int serial_key, char buf[64], const char **us,
                     const char **key)
{
    return answered(r, api_query_cursor(&r->query, name, serial_key, buf, us, key));
}

/* Refuses a member other than names, naming it (when it is short
 * printable text) and listing what the endpoint takes. 0 or -1. */
static int body_only(api_req *r, json_t *body, const char *const *names)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        int known = 0;
        for (int i = 0; names[i] && !known; i++)
            known = strcmp(names[i], key) == 0;
        if (known)
            continue;
        int printable = strlen(key) <= 64;
        for (const char *c = key; printable && *c; c++)
            printable = isprint((unsigned char)*c);
        char list[256] = "";
        for (int i = 0; names[i]; i++) {
            size_t n = strlen(list);
            snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);
        }
        api_error(r, 400, "bad_request", printable ? key : NULL,
                  "unknown body field '%s'; this endpoint takes: %s",
                  printable ? key : "(unprintable)", names[0] ? list : "none");
        return -1;
    }
    return 0;
}

json_t *api_param_body(api_req *r, const char *const *members)
{
    static const char *const no_params[] = {NULL};
    if (api_param_only(r, no_params) < 0)
        return NULL;
    const char *ct = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, "Content-Type");
    char why[256];
    json_t *v = NULL;
    int status = api_value_body(ct, r->body.data, r->body.len, &v, why, sizeof(why));
    if (status == 415)
        api_error(r, 415, "unsupported_media_type", NULL, "%s", why);
    else if (status)
        api_error(r, 400, "bad_request", NULL, "%s", why);
    if (v && body_only(r, v, members) < 0) {
        json_decref(v);
        v = NULL;
    }
    return v;
}

int api_param_body_text(api_req *r, json_t *body, const char *name, size_t max_chars,
                        const char **out)
{
    json_t *v = json_object_get(body, name);
    if (!v)
        return 0;
    const char *s = json_string_value(v); /* jansson took only UTF-8 without NUL */
    if (!s || !api_value_text(s, max_chars))
        return api_param_refuse_json(
            r, name, v, "must be a string of 1 to %zu characters without control characters",
            max_chars);
    *out = s;
    return 1;
}
