/*
 * log.c - JSON-lines logging (see log.h). Lines are built in a fixed
 * strbuf on the stack rather than through jansson, so that logging never
 * allocates: it must work when memory is short and from any thread.
 */
#include "server/core/log.h"

#include "server/core/strbuf.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level level)
{
    atomic_store(&min_level, (int)level);
}

int log_level_parse(const char *name, log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    return -1;
}

int log_enabled(log_level level)
{
    return (int)level >= atomic_load(&min_level);
}

/* A field is added only while this much room is left, so that a cut
 * (strbuf_json_string closes its string) never splits a key from its
 * value: the line stays one JSON object however long its values. */
#define FIELD_ROOM 80

void log_write(log_level level, const char *msg, ...)
{
    if (!log_enabled(level))
        return;
    char buf[4096];
    strbuf l;
    strbuf_init_fixed(&l, buf, sizeof(buf) - 2); /* "}\n" always fits */
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strbuf_printf(&l, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"msg\":",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  (int)(tv.tv_usec / 1000), level_names[level]);
    strbuf_json_string(&l, msg);
    va_list ap;
    va_start(ap, msg);
    const char *key;
    while ((key = va_arg(ap, const char *)) && strbuf_room(&l) > FIELD_ROOM) {
        const char *value = va_arg(ap, const char *);
        strbuf_puts(&l, ",");
        strbuf_json_string(&l, key);
        strbuf_puts(&l, ":");
        if (value)
            strbuf_json_string(&l, value);
        else
            strbuf_puts(&l, "null");
    }
    va_end(ap);
    buf[l.len++] = '}';
    buf[l.len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, buf, l.len);
    (void)ignored;
}
