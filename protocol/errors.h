/*
 * errors.h - the JSON error body every Vigil endpoint answers with:
 * {"error":"<code>","reason":"<what went wrong and what to do>"}.
 */
#ifndef VIGIL_PROTO_ERRORS_H
#define VIGIL_PROTO_ERRORS_H

/* malloc'd compact JSON, or NULL when out of memory. */
char *proto_error_json(const char *code, const char *reason);

#endif
