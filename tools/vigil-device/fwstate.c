/*
 * fwstate.c - the installed release's state file (see fwstate.h).
 */
#include "tools/vigil-device/fwstate.h"

#include "tools/vigil-device/util.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAX 4096

static int state_path(char *out, const char *dir)
{
    return snprintf(out, PATH_MAX, "%s/state.json", dir) < PATH_MAX ? 0 : -1;
}

static int copy_valid(char *dst, size_t cap, const char *src, int (*valid)(const char *))
{
    if (!src)
        return 0; /* absent: stays "" */
    if (!valid(src) || strlen(src) >= cap)
        return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int fwstate_load(const char *dir, fwstate *s, char *why, size_t why_len)
{
    char path[PATH_MAX];
    size_t len = 0;
    memset(s, 0, sizeof(*s));
    if (state_path(path, dir) < 0 || (mkdir(dir, 0700) < 0 && errno != EEXIST)) {
        snprintf(why, why_len, "cannot use the state directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    char *text = devu_read_file(path, STATE_MAX, &len);
    json_t *j = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *sv = json_object_get(j, "security_version");
    free(text);
    int ok =
        json_is_object(j) &&
        copy_valid(s->device_class, sizeof(s->device_class),
                   json_string_value(json_object_get(j, "class")), device_id_valid) == 0 &&
        copy_valid(s->version, sizeof(s->version), json_string_value(json_object_get(j, "version")),
                   manifest_version_valid) == 0 &&
        json_is_integer(sv) && json_integer_value(sv) >= 0 &&
        json_integer_value(sv) <= MANIFEST_SIZE_MAX;
    if (ok)
        s->security_version = json_integer_value(sv);
    json_decref(j);
    if (!ok)
        snprintf(why, why_len,
                 "%s is unreadable or not a state this program wrote: refusing to guess the "
                 "installed security version",
                 path);
    return ok ? 0 : -1;
}

int fwstate_save(const char *dir, const fwstate *s)
{
    char path[PATH_MAX];
    json_t *j = json_pack("{s:I}", "security_version", (json_int_t)s->security_version);
    if (s->device_class[0])
        json_object_set_new(j, "class", json_string(s->device_class));
    if (s->version[0])
        json_object_set_new(j, "version", json_string(s->version));
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int rc =
        text && state_path(path, dir) == 0 ? devu_write_atomic(path, text, strlen(text), 0600) : -1;
    free(text);
    json_decref(j);
    return rc;
}
