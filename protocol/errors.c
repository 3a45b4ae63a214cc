/*
 * errors.c - the JSON error body (see errors.h). The reason and the
 * parameter are made printable ASCII first: either may quote a fragment of
 * a hostile request (a JSON parser's message does, an unknown parameter's
 * name is the client's), which must not break the answer's JSON or a
 * terminal that shows it. Printable ASCII is also always valid UTF-8, so
 * building the JSON fails only when memory runs out.
 */
#include "protocol/errors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

size_t errors_printable(char *out, size_t out_size, const char *s, size_t len, char replacement)
{
    size_t n = 0;
    for (; n < len && n < out_size - 1; n++)
        out[n] = (unsigned char)s[n] >= 0x20 && (unsigned char)s[n] < 0x7f ? s[n] : replacement;
    out[n] = '\0';
    return n;
}

static const char *printable_ascii(const char *s, char out[ERRORS_TEXT_MAX + 1])
{
    errors_printable(out, ERRORS_TEXT_MAX + 1, s, strnlen(s, ERRORS_TEXT_MAX), '?');
    return out;
}

char *errors_json(const char *code, const char *reason, const char *parameter)
{
    char clean_reason[ERRORS_TEXT_MAX + 1], clean_parameter[ERRORS_TEXT_MAX + 1];
    /* s* leaves the member out when its value is NULL */
    json_t *obj = json_pack("{s:s,s:s,s:s*}", "error", code ? code : "error", "reason",
                            printable_ascii(reason ? reason : "", clean_reason), "parameter",
                            parameter ? printable_ascii(parameter, clean_parameter) : NULL);
    char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    return text;
}
