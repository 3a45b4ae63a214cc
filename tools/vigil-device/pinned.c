/*
 * pinned.c - the device's pinned release keys (see pinned.h). Every
 * signature check is protocol/manifest.c's: here are only the file and
 * the rule of what may be added to it.
 */
#include "tools/vigil-device/pinned.h"

#include "protocol/manifest.h"
#include "tools/vigil-device/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEARN_MAX_ENDORSEMENTS 256

static json_t *refuse(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static json_t *refuse(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return NULL;
}

json_t *pinned_load(const char *path, char *why, size_t why_len)
{
    size_t len = 0, i;
    json_error_t e;
    char *text = devu_read_file(path, PINNED_MAX_BYTES, &len);
    if (!text)
        return refuse(why, why_len, "cannot read the pinned keys %s (at most %d bytes)", path,
                      PINNED_MAX_BYTES);
    json_t *jwks = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e), *k;
    free(text);
    json_t *keys = json_object_get(jwks, "keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0 ||
        json_array_size(keys) > PINNED_MAX_KEYS) {
        json_decref(jwks);
        return refuse(why, why_len, "%s is not a JWKS of 1..%d keys%s%s", path, PINNED_MAX_KEYS,
                      jwks ? "" : ": ", jwks ? "" : e.text);
    }
    json_array_foreach(keys, i, k)
    {
        const char *kid = json_string_value(json_object_get(k, "kid"));
        /* each a public P-256 key whose kid is its thumbprint, listed once */
        if (!kid || manifest_jwks_find(jwks, kid) != k) {
            json_decref(jwks);
            return refuse(why, why_len,
                          "%s: key %zu is not a public EC P-256 key named by its "
                          "RFC 7638 thumbprint (or is listed twice)",
                          path, i + 1);
        }
    }
    return jwks;
}

/* One pass over the endorsements; how many keys it added. */
static int learn_pass(json_t *jwks, const json_t *endorsements)
{
    json_t *keys = json_object_get(jwks, "keys"), *e, *learned, *k;
    size_t i, j;
    int added = 0;
    json_array_foreach(endorsements, i, e)
    {
        const char *jws = json_string_value(e);
        if (!jws || i >= LEARN_MAX_ENDORSEMENTS ||
            manifest_endorsement_verify(jws, strlen(jws), jwks, &learned, NULL, 0) != MANIFEST_OK)
            continue;
        json_array_foreach(learned, j, k)
        {
            const char *kid = json_string_value(json_object_get(k, "kid"));
            if (json_array_size(keys) < PINNED_MAX_KEYS && !manifest_jwks_find(jwks, kid) &&
                json_array_append(keys, k) == 0)
                added++;
        }
        json_decref(learned);
    }
    return added;
}

int pinned_learn(json_t *jwks, const json_t *endorsements)
{
    int total = 0, n;
    if (!json_is_array(endorsements))
        return 0;
    while ((n = learn_pass(jwks, endorsements)) > 0)
        total += n;
    return total;
}

int pinned_save(const char *path, const json_t *jwks)
{
    char *text = json_dumps(jwks, JSON_INDENT(2));
    size_t len = text ? strlen(text) : 0;
    int rc = -1;
    if (text) {
        char *line = realloc(text, len + 2);
        if (line) {
            text = line;
            text[len++] = '\n';
            text[len] = '\0';
            rc = devu_write_atomic(path, text, len, 0644);
        }
    }
    free(text);
    return rc;
}
