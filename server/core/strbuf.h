/*
 * strbuf.h - a growable byte buffer for building responses and SQL array
 * literals. The buffer owns its memory; sb_free releases it. On allocation
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

void sb_init(strbuf *b);
void sb_free(strbuf *b);
void sb_reset(strbuf *b);                      /* len = 0, keeps memory */
void sb_append(strbuf *b, const char *s, size_t n);
void sb_puts(strbuf *b, const char *s);
void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the data (NUL-terminated) out of the buffer; the buffer is reset. */
char *sb_take(strbuf *b, size_t *len);

/* PostgreSQL text-format array literals: sb_array_open, then one
 * sb_array_elem per element (NULL for SQL NULL), then sb_array_close. */
void sb_array_open(strbuf *b);
void sb_array_elem(strbuf *b, const char *value);
void sb_array_close(strbuf *b);

#endif
