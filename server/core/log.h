/*
 * log.h - vigild's logs: one JSON object per line on stderr, written with a
 * single write(2) so lines from different threads never interleave.
 *
 * Fields are given as key/value pairs after the message:
 *   log_info("listening", "addr", "0.0.0.0:8443", NULL);
 * Values given that way are strings. A number or a boolean is logged
 * typed, as a JSON number or true/false, with the _fields form:
 *   log_info_fields("vigild started", LOG_STR("device_listen", addr),
 *                   LOG_INT("workers", n), LOG_BOOL("tls", 1));
 * Keys are short constants (under 64 bytes). A line is at most 4 KiB: a
 * value too long for it is cut, and fields that no longer fit are left out
 * whole, so every line stays one JSON object. Never pass a key, a
 * passphrase or a whole certificate: a fingerprint or serial identifies one.
 */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

void log_set_level(log_level level);
int log_level_parse(const char *name, log_level *out);
int log_enabled(log_level level);

/* Pairs of (const char *key, const char *value), ended by NULL. A NULL
 * value is written as JSON null. */
void log_write(log_level level, const char *msg, ...) __attribute__((sentinel));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

/* ---- typed fields ---- */

typedef enum log_type { LOG_T_STR, LOG_T_INT, LOG_T_NUM, LOG_T_BOOL } log_type;

typedef struct log_field {
    const char *key;
    log_type type;
    union {
        const char *s; /* NULL: JSON null */
        int64_t i;
        double d;      /* not finite: JSON null */
        int b;
    } v;
} log_field;

#define LOG_STR(k, x) ((log_field){.key = (k), .type = LOG_T_STR, .v.s = (x)})
#define LOG_INT(k, x) ((log_field){.key = (k), .type = LOG_T_INT, .v.i = (int64_t)(x)})
#define LOG_NUM(k, x) ((log_field){.key = (k), .type = LOG_T_NUM, .v.d = (double)(x)})
#define LOG_BOOL(k, x) ((log_field){.key = (k), .type = LOG_T_BOOL, .v.b = !!(x)})

/* The n fields of f, in order, after the message. */
void log_fields(log_level level, const char *msg, const log_field *f, size_t n);

#define LOG_FIELDS_(level, msg, ...)                                                          \
    log_fields(level, msg, (const log_field[]){__VA_ARGS__},                                  \
               sizeof((const log_field[]){__VA_ARGS__}) / sizeof(log_field))
#define log_debug_fields(msg, ...) LOG_FIELDS_(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info_fields(msg, ...) LOG_FIELDS_(LOG_INFO, msg, __VA_ARGS__)
#define log_warn_fields(msg, ...) LOG_FIELDS_(LOG_WARN, msg, __VA_ARGS__)
#define log_error_fields(msg, ...) LOG_FIELDS_(LOG_ERROR, msg, __VA_ARGS__)

#endif
