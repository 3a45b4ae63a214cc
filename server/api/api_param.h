/*
 * api_param.h - query parameters and JSON bodies of the operator API,
 * hostile until parsed: a handler first names the parameters it takes
 * (api_param_only decodes the query string into r->query, refusing
 * anything else, a repeated one, a malformed escape, a NUL or bytes that
 * are not UTF-8), then reads each through a typed getter that checks it
 * and answers 400 naming the parameter and saying what would be accepted.
 * The decoding and the checks are pure (api_query.h, api_value.h); this
 * file reads the request and answers. Getters return 0 (absent: *out keeps
 * the default), 1 (present and valid) or -1 (already answered).
 */
#ifndef VIGIL_API_PARAM_H
#define VIGIL_API_PARAM_H

#include "server/api/api.h"
#include "server/api/api_value.h"

#include <stdint.h>

/* names: NULL-terminated, at most API_QUERY_NAMES. -1 after answering 400. */
int api_param_only(api_req *r, const char *const *names);

/* Free text of 1..max_chars characters (UTF-8, no control characters). */
int api_param_text(api_req *r, const char *name, size_t max_chars, const char **out);
/* One of values (NULL-terminated); *index is its position. */
int api_param_enum(api_req *r, const char *name, const char *const *values, int *index);
/* The same, giving the value itself (*out stays NULL when absent). */
int api_param_choice(api_req *r, const char *name, const char *const *values, const char **out);
/* A device id ([A-Za-z0-9][A-Za-z0-9._-]{0,63}). */
int api_param_device_id(api_req *r, const char *name, const char **out);
/* An integer in [min, max]. */
int api_param_int(api_req *r, const char *name, int64_t min, int64_t max, int64_t *out);
/* RFC 3339 (years 0001 to 9999), or a duration back from now ("15m",
 * "24h", "7d"), into *t; *text (when given) points to t->text when
 * present, stays NULL when not. */
int api_param_time(api_req *r, const char *name, api_time *t, const char **text);
/* "limit", the size of a page: 1..1000, 100 when absent. 0 or -1. */
int api_param_limit(api_req *r, int *limit);
/* A duration such as "5m", "1h", "1d" (or plain seconds), in seconds. */
int api_param_duration(api_req *r, const char *name, int64_t max_seconds, int64_t *out);
/* The cursor of a keyset page, "<us>.<key>", the key an incident's seq or
 * (serial_key) a certificate's serial; us and key point into buf. */
int api_param_cursor(api_req *r, const char *name, int serial_key, char buf[64], const char **us,
                     const char **key);

/* Answers 400 naming the parameter or body member name whose value was
 * refused after its getter took it (a rule of the endpoint's own): the
 * reason quotes the value (api_value_refusal), then fmt says what is
 * wrong and what would do. value: the text received; for a body member,
 * api_param_refuse_json shows a string quoted and any other JSON value as
 * its text. -1. */
int api_param_refuse(api_req *r, const char *name, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int api_param_refuse_json(api_req *r, const char *name, const json_t *value, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* now - seconds_ago. */
void api_param_time_ago(int64_t seconds_ago, api_time *t);

/* The body of a change as a JSON object ({} when empty) holding no member
 * but those in members (NULL-terminated), with no query parameter: NULL
 * after answering 400 (naming an unknown member or parameter) or 415. */
json_t *api_param_body(api_req *r, const char *const *members);
/* The optional string member name of body: 1..max_chars characters
 * (UTF-8) without control characters, as api_param_text. *out points into
 * body. 0 absent, 1 read, -1 after answering 400 naming it. */
int api_param_body_text(api_req *r, json_t *body, const char *name, size_t max_chars,
                        const char **out);

#endif
