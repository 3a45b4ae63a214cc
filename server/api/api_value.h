/*
 * api_value.h - what one query parameter's or body's text may be, for the
 * operator API: pure checks, no request and no answer, so that the unit
 * tests drive them alone (tests/unit/server/api/test_api_value.c).
 * api_param.c looks a value up in the request, checks it here and, when
 * it is refused, answers the 400 that names it and says what would do.
 */
#ifndef VIGIL_API_VALUE_H
#define VIGIL_API_VALUE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* A point in time: the RFC 3339 UTC text PostgreSQL gets, and the same in
 * microseconds for comparing. */
typedef struct api_time {
    char text[40];
    int64_t us;
} api_time;

/* 1 when v is 1..max_len bytes without control characters (UTF-8 passes). */
int api_value_text(const char *v, size_t max_len);
/* v's position in values (NULL-terminated), or -1. */
int api_value_enum(const char *v, const char *const *values);
/* A whole decimal number in [min, max], nothing around it. 0 or -1. */
int api_value_int(const char *v, int64_t min, int64_t max, int64_t *out);
/* A duration (protocol/when.h: "5m", "1h", "1d", or seconds) of 1 s to
 * max_seconds, in seconds. 0 or -1. */
int api_value_duration(const char *v, int64_t max_seconds, int64_t *out);
/* RFC 3339, or a duration back from now_us ("15m", "24h", "7d"). 0 or -1. */
int api_value_time(const char *v, int64_t now_us, api_time *t);
/* t at us microseconds since the epoch. */
void api_value_time_at(int64_t us, api_time *t);
/* 1 for uppercase hex of 1..40 digits (a canonical serial). */
int api_value_serial(const char *s);
/* 1 for 1..max_len decimal digits. */
int api_value_digits(const char *s, size_t max_len);
/* A keyset cursor "<digits>.<serial>": copied to buf, cut at the dot, *a
 * and *b pointing into it. 0 or -1. */
int api_value_cursor2(const char *v, char buf[64], const char **a, const char **b);

/* A request body of content_type as a JSON object: {} when len is 0. 0
 * with *out (the caller's reference), 415 when it is not
 * application/json, 400 when it is not one JSON object (duplicate members
 * refused), with why (a phrase, why_len bytes) saying what is wrong. */
int api_value_body(const char *content_type, const char *body, size_t len, json_t **out, char *why,
                   size_t why_len);

#endif
