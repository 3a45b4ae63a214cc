/*
 * hex.h - bytes as lowercase hexadecimal text, the form the registry keeps
 * fingerprints, key identifiers and token hashes in (and the one openssl
 * prints for a digest with -hex). One encoder for the server, the CA
 * library and the database layer.
 */
#ifndef VIGIL_HEX_H
#define VIGIL_HEX_H

#include <stddef.h>

/* Writes the n bytes of in as 2n lowercase hex digits and a NUL into out
 * (2n + 1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* The value of one hex digit (either case), or -1 if c is not one. */
int hex_digit(char c);
/* Reads exactly 2n hex digits (either case) of text into out. 0, or -1 if
 * text is not that (and out is left in an unspecified state). */
int hex_decode(const char *text, unsigned char *out, size_t n);

#endif
