/*
 * errors.c - the JSON error body (see errors.h). The reason is made
 * printable ASCII first: it may quote a fragment of a hostile request (a
 * JSON parser's message does), which must not break the answer's JSON or a
 * terminal that shows it.
 */
#include "protocol/errors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

char *proto_error_json(const char *code, const char *reason)
{
    char clean[256];
    size_t n = 0;
    for (const char *p = reason ? reason : ""; *p && n < sizeof(clean) - 1; p++)
        clean[n++] = (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?';
    clean[n] = '\0';
    json_t *obj = json_pack("{s:s,s:s}", "error", code ? code : "error", "reason", clean);
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    return text;
}
