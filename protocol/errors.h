/*
 * errors.h - the one JSON error body of both of vigild's ports (the device
 * port and the operator API), for every status that is not 2xx:
 *
 *   {"error":"<code>","reason":"<what went wrong and what to do>","parameter":"<name>"}
 *
 * error      a stable, machine-readable code (bad_request, not_found, ...):
 *            what a program branches on.
 * reason     one sentence for a person: what went wrong and what to do
 *            about it. Its wording may change; do not parse it.
 * parameter  only when one named input is at fault (a query parameter, a
 *            body member): its name. Absent otherwise.
 *
 * No other members, except that the device port's 503 to POST /v1/incidents
 * carries error and reason next to its per-report results.
 * docs/DEVICE-PORT.md and docs/openapi.json document this shape.
 */
#ifndef VIGIL_PROTO_ERRORS_H
#define VIGIL_PROTO_ERRORS_H

#include <stddef.h>

/* The longest reason (and parameter) kept, in bytes; longer ones are cut. */
#define ERRORS_TEXT_MAX 511

/* The body as malloc'd compact JSON, or NULL when out of memory. reason and
 * parameter are made printable ASCII first (any other byte becomes '?'):
 * they may quote a hostile request. parameter NULL: none. */
char *errors_json(const char *code, const char *reason, const char *parameter);

/* The len bytes at s made printable ASCII (0x20..0x7e; any other byte,
 * NUL too, becomes replacement) into out, cut to out_size - 1 bytes and
 * NUL-terminated (out_size >= 1). The length written. */
size_t errors_printable(char *out, size_t out_size, const char *s, size_t len, char replacement);

#endif
