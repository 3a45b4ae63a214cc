/*
 * api_limits.c - the operator port's limits on a request's head (see
 * api_limits.h): pure checks, no I/O, so they are unit tested.
 */
#include "server/api/api_limits.h"

#include <stdio.h>
#include <string.h>

/* libmicrohttpd makes one parameter of every '&'-separated piece of the
 * query, empty ones included, so that is what is counted. */
static size_t query_params(const char *target)
{
    const char *q = strchr(target, '?');
    if (!q || !q[1])
        return 0;
    size_t n = 1;
    for (const char *c = q + 1; *c; c++)
        n += *c == '&';
    return n;
}

int api_limits_target(const char *target, api_limits_refusal *why)
{
    size_t len = strlen(target), params = query_params(target);
    why->status = 414;
    why->code = "uri_too_long";
    if (len > API_TARGET_MAX) {
        snprintf(why->reason, sizeof(why->reason),
                 "the request target is %zu bytes; the limit is %d", len, API_TARGET_MAX);
        return -1;
    }
    if (params > API_QUERY_PARAMS_MAX) {
        snprintf(why->reason, sizeof(why->reason), "the query has %zu parameters; the limit is %d",
                 params, API_QUERY_PARAMS_MAX);
        return -1;
    }
    return 0;
}

int api_limits_head(size_t head_bytes, api_limits_refusal *why)
{
    if (head_bytes <= API_HEAD_MAX)
        return 0;
    why->status = 431;
    why->code = "headers_too_large";
    snprintf(why->reason, sizeof(why->reason),
             "the request line and headers are %zu bytes; the limit is %d", head_bytes,
             API_HEAD_MAX);
    return -1;
}
