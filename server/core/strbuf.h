/*
 * strbuf.h - a byte buffer for building responses, log lines, JSON strings
 * and SQL array literals.
 *
 * A growable buffer (strbuf_init) owns its memory; strbuf_free releases
 * it. A fixed buffer (strbuf_init_fixed) writes into the caller's array
 * and never allocates: what does not fit is cut off. Either way a failed
 * allocation or a cut marks the buffer failed and later appends are
 * ignored, so a caller checks once, at the end. data is always
 * NUL-terminated once something was appended.
 */
#ifndef VIGIL_STRBUF_H
#define VIGIL_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
    char *data;
    size_t len, cap;
    int failed;
    int fixed; /* data is the caller's; never grown or freed */
} strbuf;

void strbuf_init(strbuf *b);
/* Over buf (cap bytes, cap >= 1, owned by the caller): appends keep within
 * cap - 1 bytes and the NUL. strbuf_take must not be used on it;
 * strbuf_free only forgets it. */
void strbuf_init_fixed(strbuf *b, char *buf, size_t cap);
/* Bytes that can still be appended. SIZE_MAX for a growable buffer. */
size_t strbuf_room(const strbuf *b);
void strbuf_free(strbuf *b);
void strbuf_reset(strbuf *b); /* len = 0, keeps memory */
void strbuf_append(strbuf *b, const char *s, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the data (NUL-terminated) out of the buffer; the buffer is reset. */
char *strbuf_take(strbuf *b, size_t *len);

/* s as a JSON string literal: quotes, backslashes and control characters
 * escaped (\u00XX), every other byte as it is (callers give UTF-8 or
 * ASCII). In a fixed buffer too small for all of it, the literal is cut
 * before a character that does not fit and still closed, so the result
 * stays JSON. The one JSON string writer of the server outside jansson. */
void strbuf_json_string(strbuf *b, const char *s);

/* PostgreSQL text-format array literals: strbuf_array_open, then one
 * strbuf_array_elem per element (NULL for SQL NULL), then strbuf_array_close. */
void strbuf_array_open(strbuf *b);
void strbuf_array_elem(strbuf *b, const char *value);
void strbuf_array_close(strbuf *b);

#endif
