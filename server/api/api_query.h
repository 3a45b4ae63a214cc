/*
 * api_query.h - the query string of one operator API request, decoded and
 * read as typed values: pure, with no request and no answer, so that unit
 * tests and the libFuzzer target (tests/fuzz/fuzz_api_param.c) drive it
 * alone. api_param.c fills it from libmicrohttpd and turns a refusal into
 * the 400 naming the parameter.
 *
 * Every parameter an endpoint takes is decoded here, once: percent-escapes
 * (a malformed one is refused), with its length, so a %00 is seen and
 * refused, never a silent end of the text; the result must be UTF-8.
 * Unknown, repeated and valueless parameters are refused too. The typed
 * getters then check each value's kind (api_value.h). The first refusal
 * is kept: q->param names the parameter ("" when it cannot be named, as an
 * unprintable unknown name) and q->reason says what would be accepted.
 */
#ifndef VIGIL_API_QUERY_H
#define VIGIL_API_QUERY_H

#include "protocol/errors.h"
#include "server/api/api_value.h"

#include <stddef.h>
#include <stdint.h>

#define API_QUERY_NAMES 16      /* parameters one endpoint takes, at most */
#define API_QUERY_VALUE_MAX 512 /* bytes of one decoded value */
#define API_QUERY_NAME_MAX 64   /* bytes of a name that is echoed */

typedef struct api_query {
    const char *const *names; /* what the endpoint takes; NULL before api_query_init */
    struct {
        int given;
        char text[API_QUERY_VALUE_MAX + 1];
    } values[API_QUERY_NAMES];
    int refused;
    char param[API_QUERY_NAME_MAX + 1];
    char reason[ERRORS_TEXT_MAX + 1];
} api_query;

/* An empty query for an endpoint taking names (NULL-terminated, at most
 * API_QUERY_NAMES). */
void api_query_init(api_query *q, const char *const *names);
/* One parameter as sent, still percent-encoded (libmicrohttpd has made '+'
 * a space already); value NULL when there was no '='. 0, or -1 once
 * refused (later ones are then ignored). */
int api_query_add(api_query *q, const char *key, size_t key_len, const char *value,
                  size_t value_len);
/* A whole query string as a client sends it ("a=1&b=x+y"), split and added
 * as libmicrohttpd would; for the tests and the fuzz target. 0 or -1. */
int api_query_parse(api_query *q, const char *text, size_t len);

/* The getters: 0 (absent: *out keeps the default), 1 (present and valid)
 * or -1 (refused; also when q was never filled). Values stay in q. */

/* Free text of 1..max_chars characters (api_value_text). */
int api_query_text(api_query *q, const char *name, size_t max_chars, const char **out);
/* One of values (NULL-terminated); *index is its position. */
int api_query_enum(api_query *q, const char *name, const char *const *values, int *index);
/* A device id (protocol/device_id.h). */
int api_query_device_id(api_query *q, const char *name, const char **out);
/* An integer in [min, max]. */
int api_query_int(api_query *q, const char *name, int64_t min, int64_t max, int64_t *out);
/* A duration of 1 s to max_seconds, in seconds. */
int api_query_duration(api_query *q, const char *name, int64_t max_seconds, int64_t *out);
/* RFC 3339 or a duration back from now_us, years 0001 to 9999. */
int api_query_time(api_query *q, const char *name, int64_t now_us, api_time *t);
/* A keyset cursor (api_value_cursor_seq or _serial, as serial_key says);
 * us and key point into buf. */
int api_query_cursor(api_query *q, const char *name, int serial_key, char buf[64], const char **us,
                     const char **key);

#endif
