/*
 * queue.c - the on-disk report queue (see queue.h).
 */
#include "tools/vigil-device/queue.h"

#include "tools/vigil-device/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* dir/name+ext into out (PATH_MAX); -1 if it does not fit. */
static int qpath(char *out, const char *dir, const char *name, const char *ext)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, ext);
    return n > 0 && n < PATH_MAX ? 0 : -1;
}

int devq_open(const char *dir)
{
    char sub[PATH_MAX];
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    if (qpath(sub, dir, "rejected", "") < 0 || (mkdir(sub, 0700) < 0 && errno != EEXIST))
        return -1;
    return 0;
}

static int write_atomic(const char *dir, const char *name, const char *data)
{
    char path[PATH_MAX];
    if (qpath(path, dir, name, "") < 0)
        return -1;
    return devu_write_atomic(path, data, strlen(data), 0600);
}

static int valid_id(const char *id)
{
    if (strlen(id) != 36)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-'))
            return 0;
    return 1;
}

int devq_put(const char *dir, const char *id, json_t *report)
{
    char name[64];
    if (!valid_id(id))
        return -1;
    char *text = json_dumps(report, JSON_COMPACT);
    if (!text)
        return -1;
    snprintf(name, sizeof(name), "%s.json", id);
    int rc = write_atomic(dir, name, text);
    free(text);
    return rc;
}

typedef struct found {
    char id[37];
    time_t mtime;
    long nsec;
} found;

static int by_age(const void *a, const void *b)
{
    const found *x = a, *y = b;
    if (x->mtime != y->mtime)
        return x->mtime < y->mtime ? -1 : 1;
    return x->nsec < y->nsec ? -1 : x->nsec > y->nsec;
}

/* Every queued id with its age; *n set. */
static found *scan(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    found *list = NULL;
    size_t cap = 0;
    *n = 0;
    if (!d)
        return NULL;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char path[PATH_MAX];
        struct stat st;
        if (len != 41 || strcmp(e->d_name + 36, ".json") != 0)
            continue;
        if (qpath(path, dir, e->d_name, "") < 0 || stat(path, &st) < 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            found *grown = realloc(list, cap * sizeof(*list));
            if (!grown)
                break;
            list = grown;
        }
        memcpy(list[*n].id, e->d_name, 36);
        list[*n].id[36] = '\0';
        list[*n].mtime = st.st_mtim.tv_sec;
        list[*n].nsec = st.st_mtim.tv_nsec;
        (*n)++;
    }
    closedir(d);
    if (list)
        qsort(list, *n, sizeof(*list), by_age);
    return list;
}

size_t devq_count(const char *dir)
{
    size_t n = 0;
    free(scan(dir, &n));
    return n;
}

int devq_load(const char *dir, size_t max, devq_entry **out, size_t *n_out)
{
    size_t n = 0, k = 0;
    found *list = scan(dir, &n);
    devq_entry *entries = calloc(n ? (n < max ? n : max) : 1, sizeof(*entries));
    if (!entries) {
        free(list);
        return -1;
    }
    for (size_t i = 0; i < n && k < max; i++) {
        char path[PATH_MAX];
        json_t *r = qpath(path, dir, list[i].id, ".json") == 0 ? json_load_file(path, 0, NULL)
                                                                : NULL;
        if (!r)
            continue;          /* unreadable: leave it for a human */
        memcpy(entries[k].id, list[i].id, sizeof(entries[k].id));
        entries[k++].report = r;
    }
    free(list);
    *out = entries;
    *n_out = k;
    return 0;
}

void devq_free(devq_entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(entries[i].report);
    free(entries);
}

int devq_remove(const char *dir, const char *id)
{
    char path[PATH_MAX];
    if (!valid_id(id) || qpath(path, dir, id, ".json") < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return -1;
    return devu_fsync_dir_of(dir, 1);
}

int devq_reject(const char *dir, const char *id, const char *reason)
{
    char from[PATH_MAX], to[PATH_MAX], rdir[PATH_MAX], name[64], cut[DEVQ_REASON_MAX + 1];
    if (!valid_id(id) || qpath(rdir, dir, "rejected", "") < 0 ||
        qpath(from, dir, id, ".json") < 0 || qpath(to, rdir, id, ".json") < 0)
        return -1;
    if (devq_count(rdir) >= DEVQ_REJECTED_MAX) {
        /* enough kept for a person to read: this one only leaves the queue */
        fprintf(stderr, "vigil-device: %s/rejected holds %d reports: report %s is dropped\n", dir,
                DEVQ_REJECTED_MAX, id);
        return devq_remove(dir, id);
    }
    snprintf(cut, sizeof(cut), "%s", reason); /* the server's answer, of any size */
    snprintf(name, sizeof(name), "%s.reason", id);
    if (write_atomic(rdir, name, cut) < 0 || rename(from, to) < 0)
        return -1;
    return devu_fsync_dir_of(dir, 1);
}
