/*
 * install.c - the stub's install step (see install.h).
 */
#include "tools/vigil-device/install.h"

#include "tools/vigil-device/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (64 * 1024)

/* Copies from to a new file to, synced; 0 or -1. */
static int copy_synced(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char *buf = malloc(COPY_BUF);
    ssize_t n = -1;
    while (in >= 0 && out >= 0 && buf && (n = read(in, buf, COPY_BUF)) > 0)
        if (devu_write_all(out, buf, (size_t)n) < 0) {
            n = -1;
            break;
        }
    int rc = n == 0 && fsync(out) == 0 ? 0 : -1;
    free(buf);
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) < 0)
        rc = -1;
    if (rc < 0)
        unlink(to);
    return rc;
}

int install_artifact(const char *part, const char *dir, char *why, size_t why_len)
{
    char dest[PATH_MAX], tmp[PATH_MAX];
    const char *fail = getenv("VIGIL_DEVICE_INSTALL_FAIL");
    if (fail && fail[0]) {
        snprintf(why, why_len, "%s", fail);
        return -1;
    }
    if (snprintf(dest, sizeof(dest), "%s/" INSTALL_FILE, dir) >= (int)sizeof(dest) ||
        snprintf(tmp, sizeof(tmp), "%s/." INSTALL_FILE ".tmp", dir) >= (int)sizeof(tmp)) {
        snprintf(why, why_len, "the install directory's name is too long");
        return -1;
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        snprintf(why, why_len, "cannot make %s: %s", dir, strerror(errno));
        return -1;
    }
    if (chmod(part, 0644) == 0 && rename(part, dest) == 0) {
        if (devu_fsync_dir_of(dest, 0) < 0 || devu_fsync_dir_of(part, 0) < 0) {
            snprintf(why, why_len, "cannot sync %s: %s", dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != EXDEV || copy_synced(part, tmp) < 0 || rename(tmp, dest) < 0 ||
        devu_fsync_dir_of(dest, 0) < 0) {
        snprintf(why, why_len, "cannot write %s: %s", dest, strerror(errno));
        unlink(tmp);
        return -1;
    }
    unlink(part);
    return 0;
}
