/*
 * strbuf.h - a growable byte buffer for building responses and SQL array
 * literals. The buffer owns its memory; strbuf_free releases it. On allocation
 * failure the buffer is marked failed and later appends are ignored, so a
 * caller checks once, at the end.
 */
#ifndef VIGIL_STRBUF_H
#define VIGIL_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
    char *data;
    size_t len, cap;
    int failed;
} strbuf;

void strbuf_init(strbuf *b);
void strbuf_free(strbuf *b);
void strbuf_reset(strbuf *b);                      /* len = 0, keeps memory */
void strbuf_append(strbuf *b, const char *s, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the data (NUL-terminated) out of the buffer; the buffer is reset. */
char *strbuf_take(strbuf *b, size_t *len);

/* PostgreSQL text-format array literals: strbuf_array_open, then one
 * strbuf_array_elem per element (NULL for SQL NULL), then strbuf_array_close. */
void strbuf_array_open(strbuf *b);
void strbuf_array_elem(strbuf *b, const char *value);
void strbuf_array_close(strbuf *b);

#endif
