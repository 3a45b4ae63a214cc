/*
 * secret.h - reading a secret (a passphrase, a database password) from the
 * first line of a file: the convention of Docker secrets and of the
 * official images' *_FILE variables, and of --passphrase-file. One reader
 * for vigild and vigilctl, so every secret file behaves the same: the first
 * line without its line ending, an empty one refused, the copy wiped when
 * freed.
 */
#ifndef VIGIL_SECRET_H
#define VIGIL_SECRET_H

#include <stddef.h>

/* Longest first line read; a longer one is refused, not cut. */
#define SECRET_MAX 1023

/* The first line of path, malloc'd, to be freed with secret_free. NULL
 * with a one-line reason naming the file in err (errlen bytes) when it
 * cannot be read, is empty or its first line is too long. */
char *secret_read_file(const char *path, char *err, size_t errlen);

/* Wipes and frees a secret from secret_read_file (NULL is fine). */
void secret_free(char *secret);

#endif
