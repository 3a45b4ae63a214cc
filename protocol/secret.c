/*
 * secret.c - a secret from the first line of a file (see secret.h).
 */
#include "protocol/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Not memset: a compiler may drop a store to memory about to be freed. */
static void wipe(char *p, size_t n)
{
    volatile char *v = p;
    while (n--)
        *v++ = 0;
}

char *secret_read_file(const char *path, char *err, size_t errlen)
{
    char buf[SECRET_MAX + 2];
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *line = fgets(buf, sizeof(buf), f);
    int bad = ferror(f), saved = errno;
    fclose(f);
    char *copy = NULL;
    if (bad) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(saved));
        goto done;
    }
    size_t n = line ? strcspn(buf, "\r\n") : 0;
    if (line && buf[n] == '\0' && n > SECRET_MAX) {
        snprintf(err, errlen, "%s: the first line is longer than %d bytes", path, SECRET_MAX);
        goto done;
    }
    if (n == 0) {
        snprintf(err, errlen, "%s is empty: its first line must hold the secret", path);
        goto done;
    }
    buf[n] = '\0';
    if (!(copy = strdup(buf)))
        snprintf(err, errlen, "out of memory reading %s", path);
done:
    wipe(buf, sizeof(buf));
    return copy;
}

void secret_free(char *secret)
{
    if (secret) {
        wipe(secret, strlen(secret));
        free(secret);
    }
}
