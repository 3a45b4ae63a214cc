/*
 * strbuf.c - growable and fixed buffers, JSON strings and PostgreSQL array
 * literals (see strbuf.h).
 */
#include "server/core/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *b)
{
    memset(b, 0, sizeof(*b));
}

void strbuf_init_fixed(strbuf *b, char *buf, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->data = buf;
    b->cap = cap;
    b->fixed = 1;
    buf[0] = '\0';
}

void strbuf_free(strbuf *b)
{
    if (!b->fixed)
        free(b->data);
    strbuf_init(b);
}

size_t strbuf_room(const strbuf *b)
{
    if (!b->fixed)
        return SIZE_MAX;
    return b->failed ? 0 : b->cap - 1 - b->len;
}

void strbuf_reset(strbuf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int reserve(strbuf *b, size_t extra)
{
    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    if (b->fixed) {
        b->failed = 1;
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
        b->failed = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

void strbuf_append(strbuf *b, const char *s, size_t n)
{
    if (b->fixed && !b->failed && n > strbuf_room(b)) {
        n = strbuf_room(b); /* keep what fits, then refuse the rest */
        memcpy(b->data + b->len, s, n);
        b->len += n;
        b->data[b->len] = '\0';
        b->failed = 1;
        return;
    }
    if (reserve(b, n) < 0)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void strbuf_puts(strbuf *b, const char *s)
{
    strbuf_append(b, s, strlen(s));
}

void strbuf_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n) < 0)
        return; /* a fixed buffer without room: nothing of it, and failed */
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *strbuf_take(strbuf *b, size_t *len)
{
    if (b->fixed)
        return NULL;
    if (b->failed || reserve(b, 0) < 0) {
        strbuf_free(b);
        return NULL;
    }
    char *data = b->data;
    if (len)
        *len = b->len;
    strbuf_init(b);
    return data;
}

/* The escape for one byte of a JSON string; its length. */
static size_t json_escape(unsigned char c, char out[8])
{
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c < 0x20) {
        snprintf(out, 8, "\\u%04x", c);
        return 6;
    }
    out[0] = (char)c;
    return 1;
}

void strbuf_json_string(strbuf *b, const char *s)
{
    /* A growable buffer takes the worst case at once; a fixed one keeps
     * one byte for the closing quote at every step. */
    if (reserve(b, b->fixed ? 2 : 6 * strlen(s) + 2) < 0)
        return;
    b->data[b->len++] = '"';
    for (; *s; s++) {
        char esc[8];
        size_t n = json_escape((unsigned char)*s, esc);
        if (b->len + n + 2 > b->cap) { /* n, the closing quote, the NUL */
            b->failed = 1;
            break;
        }
        memcpy(b->data + b->len, esc, n);
        b->len += n;
    }
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
}

void strbuf_array_open(strbuf *b)
{
    strbuf_append(b, "{", 1);
}

void strbuf_array_elem(strbuf *b, const char *value)
{
    if (b->len > 0 && b->data[b->len - 1] != '{')
        strbuf_append(b, ",", 1);
    if (!value) {
        strbuf_append(b, "NULL", 4);
        return;
    }
    /* Every element quoted, so "NULL", empty strings and commas are data. */
    strbuf_append(b, "\"", 1);
    const char *run = value, *p;
    for (p = value; *p; p++)
        if (*p == '"' || *p == '\\') {
            strbuf_append(b, run, (size_t)(p - run));
            strbuf_append(b, "\\", 1);
            run = p; /* the quoted character starts the next run */
        }
    strbuf_append(b, run, (size_t)(p - run));
    strbuf_append(b, "\"", 1);
}

void strbuf_array_close(strbuf *b)
{
    strbuf_append(b, "}", 1);
}
