/*
 * utf8.c - UTF-8 read one character at a time (RFC 3629), and a hostile
 * value shown in an error message without fooling a log or a terminal
 * (see utf8.h).
 */
#include "protocol/utf8.h"

#include <stdio.h>
#include <string.h>

size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t len;
    uint32_t min;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, min = 0x80, *cp = s[0] & 0x1Fu;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, min = 0x800, *cp = s[0] & 0x0Fu;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, min = 0x10000, *cp = s[0] & 0x07u;
    else
        return 0; /* a continuation byte, C0/C1 (always overlong), F5..FF */
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3Fu);
    }
    if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
        return 0; /* overlong, past Unicode, or a UTF-16 surrogate */
    return len;
}

void utf8_quote(const char *v, size_t len, char *out)
{
    utf8_quote_n(v, len, UTF8_QUOTE_BYTES, out);
}

void utf8_quote_n(const char *v, size_t len, size_t max_bytes, char *out)
{
    size_t o = 0, i = 0;
    uint32_t cp;
    out[o++] = '\'';
    while (i < len && o < max_bytes) {
        size_t k = utf8_next((const unsigned char *)v + i, len - i, &cp);
        if (k && (cp == '\'' || cp == '\\')) {
            out[o++] = '\\';
            out[o++] = (char)cp;
        } else if (k && cp >= 0x20 && !(cp >= 0x7F && cp <= 0x9F)) {
            memcpy(out + o, v + i, k);
            o += k;
        } else { /* a control character (its bytes) or a byte that is not UTF-8 */
            k = k ? k : 1;
            for (size_t j = 0; j < k; j++)
                o += (size_t)snprintf(out + o, 5, "\\x%02X", (unsigned char)v[i + j]);
        }
        i += k;
    }
    out[o++] = '\'';
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

