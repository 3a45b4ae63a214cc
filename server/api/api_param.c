/*
 * api_param.c - typed, bounded reading of the operator API's query
 * parameters and bodies (see api_param.h). Each refusal names the
 * parameter and says what would have been accepted, so an operator fixing
 * a script knows what to change.
 */
#include "server/api/api_param.h"

#include "protocol/device_id.h"
#include "protocol/when.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

typedef struct seen_params {
    const char *const *names;
    const char *bad; /* first unknown, repeated or NUL-carrying name */
    int repeated, nul;
    unsigned counts[32];
} seen_params;

static enum MHD_Result count_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                   size_t key_size, const char *value, size_t value_size)
{
    seen_params *s = cls;
    (void)kind;
    for (int i = 0; s->names[i] && i < 32; i++)
        if (strcmp(s->names[i], key) == 0) {
            /* %00 decodes to a NUL that would cut the value short unseen */
            if (!s->bad && (strlen(key) != key_size || (value && strlen(value) != value_size))) {
                s->bad = s->names[i];
                s->nul = 1;
            }
            if (++s->counts[i] > 1 && !s->bad) {
                s->bad = s->names[i];
                s->repeated = 1;
            }
            return MHD_YES;
        }
    if (!s->bad)
        s->bad = key;
    return MHD_YES;
}

int api_param_only(api_req *r, const char *const *names)
{
    seen_params s = {.names = names};
    MHD_get_connection_values_n(r->mc, MHD_GET_ARGUMENT_KIND, count_param, &s);
    if (!s.bad)
        return 0;
    if (s.nul) {
        api_error(r, 400, "bad_request", s.bad, "'%s' contains a NUL character", s.bad);
        return -1;
    }
    if (s.repeated) {
        api_error(r, 400, "bad_request", s.bad, "'%s' is given more than once; give it once",
                  s.bad);
        return -1;
    }
    char list[512] = "";
    for (int i = 0; names[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", names[i]);
    }
    /* the unknown name is echoed only if it is short printable text */
    int printable = strlen(s.bad) <= 64;
    for (const char *c = s.bad; printable && *c; c++)
        printable = isprint((unsigned char)*c);
    api_error(r, 400, "bad_request", printable ? s.bad : NULL,
              "unknown query parameter '%s'; this endpoint takes: %s",
              printable ? s.bad : "(unprintable)", list[0] ? list : "none");
    return -1;
}

static const char *raw_param(api_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->mc, MHD_GET_ARGUMENT_KIND, name);
}

int api_param_text(api_req *r, const char *name, size_t max_len, const char **out)
{
    const char *v = raw_param(r, name);
    if (!v)
        return 0;
    if (!api_value_text(v, max_len)) {
        api_error(r, 400, "bad_request", name,
                  "'%s' must be 1 to %zu characters without control characters", name, max_len);
        return -1;
    }
    *out = v;
    return 1;
}

int api_param_enum(api_req *r, const char *name, const char *const *values, int *index)
{
    const char *v = raw_param(r, name);
    if (!v)
        return 0;
    if ((*index = api_value_enum(v, values)) >= 0)
        return 1;
    char list[256] = "";
    for (int i = 0; values[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", values[i]);
    }
    api_error(r, 400, "bad_request", name, "'%s' must be one of: %s", name, list);
    return -1;
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
    const char *v = raw_param(r, name);
    if (!v)
        return 0;
    if (!device_id_valid(v)) {
        api_error(r, 400, "bad_request", name, "'%s' must be a device id: " DEVICE_ID_RULE, name);
        return -1;
    }
    *out = v;
    return 1;
}

int api_param_int(api_req *r, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const char *v = raw_param(r, name);
    if (!v)
        return 0;
    if (api_value_int(v, min, max, out) < 0) {
        api_error(r, 400, "bad_request", name, "'%s' must be a whole number from %lld to %lld",
                  name, (long long)min, (long long)max);
        return -1;
    }
    return 1;
}

int api_param_duration(api_req *r, const char *name, int64_t max_seconds, int64_t *out)
{
    const char *v = raw_param(r, name);
    if (!v)
        return 0;
    if (api_value_duration(v, max_seconds, out) < 0) {
        api_error(r, 400, "bad_request", name,
                  "'%s' must be a duration such as 5m, 1h or 1d (at least 1s, at most %llds)", name,
                  (long long)max_seconds);
        return -1;
    }
    return 1;
}

void api_param_time_ago(int64_t seconds_ago, api_time *t)
{
    api_value_time_at(when_now_us() - seconds_ago * 1000000, t);
}

int api_param_time(api_req *r, const char *name, api_time *t, const char **text)
{
    const char *v = raw_param(r, name);
    if (!v)
        return 0;
    if (api_value_time(v, when_now_us(), t) == 0) {
        if (text)
            *text = t->text;
        return 1;
    }
    api_error(r, 400, "bad_request", name,
              "'%s' must be RFC 3339 (2026-11-25T10:00:00Z) or a duration back from now "
              "(15m, 24h, 7d)",
              name);
    return -1;
}

int api_param_cursor2(api_req *r, const char *name, char buf[64], const char **a, const char **b)
{
    const char *v = raw_param(r, name);
    if (!v)
        return 0;
    if (api_value_cursor2(v, buf, a, b) == 0)
        return 1;
    api_error(r, 400, "bad_request", name,
              "'%s' is not a cursor this server made; pass next_cursor from the previous page "
              "unchanged",
              name);
    return -1;
}

json_t *api_param_body(api_req *r)
{
    const char *ct = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, "Content-Type");
    char why[256];
    json_t *v = NULL;
    int status = api_value_body(ct, r->body.data, r->body.len, &v, why, sizeof(why));
    if (status == 415)
        api_error(r, 415, "unsupported_media_type", NULL, "%s", why);
    else if (status)
        api_error(r, 400, "bad_request", NULL, "%s", why);
    return v;
}
