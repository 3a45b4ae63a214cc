/*
 * secret.c - a secret from the first line of a file (see secret.h).
 */
#include "protocol/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

char *secret_read_file(const char *path, char *err, size_t errlen)
{
    /* The longest secret, its line ending and one byte more. read(2), not
     * stdio: a FILE's buffer would keep a copy of the file that is freed
     * unwiped. */
    char buf[SECRET_MAX + 2];
    size_t got = 0;
    char *copy = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    while (got < sizeof(buf)) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(saved));
            goto done;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (memchr(buf + got - (size_t)n, '\n', (size_t)n))
            break;
    }
    close(fd);
    size_t len = 0;
    while (len < got && buf[len] != '\n' && buf[len] != '\r' && buf[len] != '\0')
        len++;
    if (len < got && buf[len] == '\0') {
        /* fgets and strcspn would stop here without a word: a binary
         * secret (head -c 32 /dev/urandom) would become its first bytes. */
        snprintf(err, errlen, "%s: the first line holds a NUL byte: a secret is one line of text",
                 path);
        goto done;
    }
    if (len > SECRET_MAX) {
        snprintf(err, errlen, "%s: the first line is longer than %d bytes", path, SECRET_MAX);
        goto done;
    }
    if (len == 0) {
        snprintf(err, errlen, "%s is empty: its first line must hold the secret", path);
        goto done;
    }
    if (!(copy = malloc(len + 1))) {
        snprintf(err, errlen, "out of memory reading %s", path);
        goto done;
    }
    memcpy(copy, buf, len);
    copy[len] = '\0';
done:
    OPENSSL_cleanse(buf, sizeof(buf));
    return copy;
}

void secret_free(char *secret)
{
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}
