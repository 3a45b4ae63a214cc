/*
 * api_limits.h - the operator port's limits on a request's head: the
 * request target's length and its number of query parameters (checked on
 * the raw request line, before libmicrohttpd stores the parameters), and
 * the size of the request line and headers together.
 *
 * Why before: libmicrohttpd 0.9.75 keeps each query parameter in the
 * connection's memory pool, and when the pool runs out while it stores
 * them it queues its 431 and then overwrites the state that would send it:
 * the client hears nothing until the idle timeout, or a bare close. A
 * target refused here has its query cut off before libmicrohttpd parses
 * it, and is answered in the error shape (api.c); within the limits the
 * parameters always fit (API_CONN_MEMORY below).
 */
#ifndef VIGIL_API_LIMITS_H
#define VIGIL_API_LIMITS_H

#include <stddef.h>

#define API_TARGET_MAX 8192      /* bytes of path and query, as sent */
#define API_QUERY_PARAMS_MAX 64  /* no endpoint takes more than a dozen */
#define API_HEAD_MAX (32 * 1024) /* request line and headers */
/* libmicrohttpd's memory per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT).
 * It reads the head into the first half (growing it when needed) and keeps
 * one record of about 56 bytes per parameter or header in the rest. A head
 * that does not fit at all (past about 120 KiB, or thousands of tiny
 * headers) is refused by libmicrohttpd itself, on a path that works: 414
 * or 431 with its own HTML body, then the close. */
#define API_CONN_MEMORY (128 * 1024)
_Static_assert(API_TARGET_MAX <= API_CONN_MEMORY / 2 && API_HEAD_MAX <= API_CONN_MEMORY / 2 &&
                   API_QUERY_PARAMS_MAX * 64 <= API_CONN_MEMORY / 4,
               "a head within the limits and its parameters fit in a connection's memory");

typedef struct api_limits_refusal {
    unsigned status;  /* 414 or 431 */
    const char *code; /* uri_too_long, headers_too_large */
    char reason[160];
} api_limits_refusal;

/* target: the request target as on the request line (path and query,
 * undecoded). 0 when it is within the limits, else -1 with *why filled. */
int api_limits_target(const char *target, api_limits_refusal *why);
/* head_bytes: the request line and headers. 0, or -1 with *why filled. */
int api_limits_head(size_t head_bytes, api_limits_refusal *why);

#endif
