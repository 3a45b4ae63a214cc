/*
 * strbuf.c - growable buffer and PostgreSQL array literal encoding (see
 * strbuf.h).
 */
#include "server/core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *b)
{
    memset(b, 0, sizeof(*b));
}

void strbuf_free(strbuf *b)
{
    free(b->data);
    strbuf_init(b);
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
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *strbuf_take(strbuf *b, size_t *len)
{
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
            run = p;                 /* the quoted character starts the next run */
        }
    strbuf_append(b, run, (size_t)(p - run));
    strbuf_append(b, "\"", 1);
}

void strbuf_array_close(strbuf *b)
{
    strbuf_append(b, "}", 1);
}
