/*
 * api_value.h - what one query parameter's or body's text may be, for the
 * operator API: pure checks, no request and no answer, so that the unit
 * tests drive them alone (tests/unit/server/api/test_api_value.c).
 * api_param.c looks a value up in the request, checks it here and, when
 * it is refused, answers the 400 that names it and says what would do.
 */
#ifndef VIGIL_API_VALUE_H
#define VIGIL_API_VALUE_H

#include "protocol/utf8.h"
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* A point in time: the RFC 3339 UTC text PostgreSQL gets, and the same in
 * microseconds for comparing. */
typedef struct api_time {
    char text[40];
    int64_t us;
} api_time;

/* A refused value is shown as utf8_quote (protocol/utf8.h) shows it:
 * as received ('+' in a query already a space). */
/* The reason of every 400 about one parameter or body member, the one
 * place it is made: "NAME SHOWN " and then fmt (ap) saying what is wrong
 * and what would do, as "since '2026-12-01T10:00:00 01:00' is not an RFC
 * 3339 time ...". shown is the value as utf8_quote shows it (or a
 * JSON value that is not a string, as its text). */
void api_value_refusal(char *out, size_t size, const char *name, const char *shown, const char *fmt,
                       va_list ap) __attribute__((format(printf, 5, 0)));

/* 1 when the len bytes at v are well-formed UTF-8 (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF), 0 if not. */
int api_value_utf8(const char *v, size_t len);
/* 1 when v is 1..max_chars characters of UTF-8 without control characters
 * (C0, DEL, C1): free text PostgreSQL takes and a log or terminal shows. */
int api_value_text(const char *v, size_t max_chars);
/* v's position in values (NULL-terminated), or -1. */
int api_value_enum(const char *v, const char *const *values);
/* A whole decimal number in [min, max], nothing around it. 0 or -1. */
int api_value_int(const char *v, int64_t min, int64_t max, int64_t *out);
/* A duration (protocol/when.h: "5m", "1h", "1d", or seconds) of 1 s to
 * max_seconds, in seconds. 0 or -1. */
int api_value_duration(const char *v, int64_t max_seconds, int64_t *out);
/* RFC 3339, or a duration back from now_us ("15m", "24h", "7d"), within
 * WHEN_MIN_US..WHEN_MAX_US (years 0001 to 9999, which PostgreSQL holds).
 * 0 or -1. */
int api_value_time(const char *v, int64_t now_us, api_time *t);
/* t at us microseconds since the epoch. */
void api_value_time_at(int64_t us, api_time *t);
/* 1 for uppercase hex of 1..40 digits (a canonical serial). */
int api_value_serial(const char *s);

/* Keyset cursors "<us>.<key>": us is a position in time (microseconds
 * since the epoch, 0..WHEN_MAX_US, so that PostgreSQL can make a timestamp
 * of it); the key is an incident's seq (1..INT64_MAX) or a canonical
 * serial. The two parts are written to buf (as PostgreSQL gets them) with
 * *us and *key pointing into it. 0 or -1. */
int api_value_cursor_seq(const char *v, char buf[64], const char **us, const char **key);
int api_value_cursor_serial(const char *v, char buf[64], const char **us, const char **key);

/* A path argument of a route, "{name}" (id, serial or seq), as sent
 * (raw_len bytes, percent-encoded), decoded into out (raw_len + 1 bytes;
 * out may be raw). NULL when it can name something of its kind (a device
 * id, a serial ca_serial_normalize takes, a seq or a rollout id of
 * 1..INT64_MAX, a release reference api_value_release_ref takes) and holds
 * no NUL; else why not, as a 404's reason. */
const char *api_value_path_arg(const char *name, const char *raw, size_t raw_len, char *out);

/* 1 when s can name a release: an id (1..INT64_MAX, decimal), a version
 * (MANIFEST_VERSION_RULE) or CLASS/VERSION (the class a device id). All
 * digits is an id, as db_release_get reads it (a version that is all
 * digits is named CLASS/VERSION). */
int api_value_release_ref(const char *s);
/* A rollout's share in percent, 0.01 to 100 in steps of 0.01, as basis
 * points (1..10000). 0 or -1. */
int api_value_percent(double percent, int *basis_points);

/* A request body of content_type as a JSON object: {} when len is 0. 0
 * with *out (the caller's reference), 415 when it is not
 * application/json, 400 when it is not one JSON object (duplicate members
 * refused), with why (a phrase, why_len bytes) saying what is wrong. */
int api_value_body(const char *content_type, const char *body, size_t len, json_t **out, char *why,
                   size_t why_len);

#endif
