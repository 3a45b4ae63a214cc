/*
 * log.h - vigild's logs: one JSON object per line on stderr, written with a
 * single write(2) so lines from different threads never interleave.
 *
 * Fields are given as key/value pairs after the message:
 *   log_info("listening", "addr", "0.0.0.0:8443", NULL);
 * Values are strings; the caller formats numbers. Keys are short constants
 * (under 64 bytes). A line is at most 4 KiB: a value too long for it is
 * cut, and fields that no longer fit are left out whole, so every line
 * stays one JSON object. Never pass a key, a passphrase or a whole
 * certificate: a fingerprint or serial identifies one.
 */
#ifndef VIGIL_LOG_H
#define VIGIL_LOG_H

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

#endif
