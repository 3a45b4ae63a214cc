/*
 * utf8.h - UTF-8 one character at a time, and values quoted for error
 * messages: the operator API's 400s and the device port's report reasons
 * quote what they refuse, and both come here, so a value is shown the
 * same way on either port.
 */
#ifndef VIGIL_UTF8_H
#define VIGIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length of the well-formed UTF-8 character at s (n > 0 bytes left),
 * its code point in *cp; 0 when there is none (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF). */
size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* How a refused value is shown: its first UTF8_QUOTE_BYTES bytes (about)
 * between single quotes, "..." after the closing quote when it was
 * longer; a quote or a backslash is escaped with a backslash, a control
 * character or a byte that is not UTF-8 is \xHH. out: at least
 * UTF8_QUOTE_MAX bytes. */
#define UTF8_QUOTE_BYTES 120
#define UTF8_QUOTE_MAX (UTF8_QUOTE_BYTES + 16) /* a character is at most 8 */
void utf8_quote(const char *v, size_t len, char *out);
/* The same with max_bytes for UTF8_QUOTE_BYTES (out: max_bytes + 16), for
 * a reason with little room (a report's, in a batch's answer). */
void utf8_quote_n(const char *v, size_t len, size_t max_bytes, char *out);

#endif
