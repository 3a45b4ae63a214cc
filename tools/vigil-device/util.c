/*
 * util.c - vigil-device's shared helpers (see util.h).
 */
#include "tools/vigil-device/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long devu_now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}
long long devu_wall_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

void devu_sleep_ms(long long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

long long devu_backoff_ms(int attempt, long long base, long long cap)
{
    long long ceiling = base;
    for (int i = 0; i < attempt && ceiling < cap; i++)
        ceiling *= 2;
    if (ceiling > cap)
        ceiling = cap;
    return devu_random_between(0, ceiling);
}

long long devu_random_between(long long lo, long long hi)
{
    unsigned long long r = 0;
    RAND_bytes((unsigned char *)&r, sizeof(r));
    return hi > lo ? lo + (long long)(r % (unsigned long long)(hi - lo + 1)) : lo;
}

int devu_fsync_dir_of(const char *path, int is_dir)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    if (!is_dir) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            snprintf(dir, sizeof(dir), ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int devu_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int devu_write_atomic(const char *path, const char *data, size_t len, int mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    fchmod(fd, (mode_t)mode); /* a leftover .tmp keeps its old mode otherwise */
    if (devu_write_all(fd, data, len) < 0) {
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return devu_fsync_dir_of(path, 0);
}

char *devu_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = f ? malloc(max + 1) : NULL;
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    if (f)
        fclose(f);
    if (!buf || n > max) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void devu_crash_point(const char *name)
{
    const char *at = getenv("VIGIL_DEVICE_CRASH_AT");
    if (at && strcmp(at, name) == 0) {
        fprintf(stderr, "vigil-device: VIGIL_DEVICE_CRASH_AT=%s: killing myself\n", name);
        raise(SIGKILL);
    }
}

void devu_format(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, len, fmt, ap);
    va_end(ap);
}
