/*
 * percent.h - percent-decoding (RFC 3986) of a query string's or a path's
 * text with its length: a "%00" is decoded as a NUL byte and counted, not
 * taken for the end of the text, so that a caller sees it and refuses it
 * ("plain-1%00junk" is not "plain-1"). One decoder for the operator API's
 * paths and query parameters and the device port's query parameters.
 */
#ifndef VIGIL_PERCENT_H
#define VIGIL_PERCENT_H

#include <stddef.h>

/* Percent-decoding (RFC 3986) of len bytes at in into out (max + 1
 * bytes; out may be in itself: decoding never grows), '+' as a space when
 * plus (a query string as a form sends it). The result may hold NUL bytes:
 * its length is *out_len, and out[*out_len] is a NUL. 0, -1 for a '%' not
 * followed by two hex digits, -2 when it would be longer than max. */
int percent_decode(const char *in, size_t len, int plus, char *out, size_t max, size_t *out_len);

#endif
