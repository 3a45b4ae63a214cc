/*
 * log.c - JSON-lines logging (see log.h). Strings are escaped here rather
 * than through jansson so that logging never allocates: it must work when
 * memory is short and from any thread.
 */
#include "server/core/log.h"

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

typedef struct line {
    char buf[4096];
    size_t len;
} line;

static void put(line *l, const char *s, size_t n)
{
    if (n > sizeof(l->buf) - 2 - l->len)
        n = sizeof(l->buf) - 2 - l->len;   /* keep room for "}\n" */
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* A JSON string literal; control characters are escaped, bytes >= 0x80 are
 * passed through (callers log UTF-8 or hex). */
static void put_json_string(line *l, const char *s)
{
    put(l, "\"", 1);
    for (; *s && l->len < sizeof(l->buf) - 16; s++) {   /* truncate, keep it JSON */
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(l, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(l, esc, 6);
        } else {
            put(l, (const char *)&c, 1);
        }
    }
    put(l, "\"", 1);
}

void log_write(log_level level, const char *msg, ...)
{
    if (!log_enabled(level))
        return;
    line l = {.len = 0};
    struct timeval tv;
    struct tm tm;
    char ts[96];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(tv.tv_usec / 1000));
    put_str(&l, "{\"ts\":\"");
    put_str(&l, ts);
    put_str(&l, "\",\"level\":\"");
    put_str(&l, level_names[level]);
    put_str(&l, "\",\"msg\":");
    put_json_string(&l, msg);
    va_list ap;
    va_start(ap, msg);
    const char *key;
    while ((key = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);
        put(&l, ",", 1);
        put_json_string(&l, key);
        put(&l, ":", 1);
        if (value)
            put_json_string(&l, value);
        else
            put_str(&l, "null");
    }
    va_end(ap);
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, l.buf, l.len);
    (void)ignored;
}
