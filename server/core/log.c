/*
 * log.c - JSON-lines logging (see log.h). Lines are built in a fixed
 * strbuf on the stack rather than through jansson, so that logging never
 * allocates: it must work when memory is short and from any thread.
 */
#include "server/core/log.h"

#include "server/core/strbuf.h"

#include <inttypes.h>
#include <math.h>
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

typedef struct line {
    char buf[4096];
    strbuf b;
} line;

static void line_begin(line *l, log_level level, const char *msg)
{
    strbuf_init_fixed(&l->b, l->buf, sizeof(l->buf) - 2); /* "}\n" always fits */
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strbuf_printf(&l->b, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"msg\":",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  (int)(tv.tv_usec / 1000), level_names[level]);
    strbuf_json_string(&l->b, msg);
}

/* 0 once the line has no room left for a field: the rest are left out. */
static int line_field(line *l, const log_field *f)
{
    if (strbuf_room(&l->b) <= FIELD_ROOM)
        return 0;
    strbuf_puts(&l->b, ",");
    strbuf_json_string(&l->b, f->key);
    strbuf_puts(&l->b, ":");
    switch (f->type) {
    case LOG_T_STR:
        if (f->v.s)
            strbuf_json_string(&l->b, f->v.s);
        else
            strbuf_puts(&l->b, "null");
        break;
    case LOG_T_INT: strbuf_printf(&l->b, "%" PRId64, f->v.i); break;
    case LOG_T_NUM:
        if (isfinite(f->v.d))
            strbuf_printf(&l->b, "%.15g", f->v.d);
        else
            strbuf_puts(&l->b, "null");
        break;
    case LOG_T_BOOL: strbuf_puts(&l->b, f->v.b ? "true" : "false"); break;
    }
    return 1;
}

static void line_end(line *l)
{
    l->buf[l->b.len++] = '}';
    l->buf[l->b.len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, l->buf, l->b.len);
    (void)ignored;
}

void log_write(log_level level, const char *msg, ...)
{
    if (!log_enabled(level))
        return;
    line l;
    line_begin(&l, level, msg);
    va_list ap;
    va_start(ap, msg);
    const char *key;
    while ((key = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        if (!line_field(&l, &LOG_STR(key, value)))
            break;
    }
    va_end(ap);
    line_end(&l);
}

void log_fields(log_level level, const char *msg, const log_field *f, size_t n)
{
    if (!log_enabled(level))
        return;
    line l;
    line_begin(&l, level, msg);
    for (size_t i = 0; i < n && line_field(&l, &f[i]); i++)
        ;
    line_end(&l);
}
