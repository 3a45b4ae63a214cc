/*
 * util.h - small helpers the commands of vigil-device share: clocks,
 * sleeping, backoff with full jitter, and crash-safe file writes (a
 * temporary file, fsync, rename, fsync of the directory).
 */
#ifndef VIGIL_DEVICE_UTIL_H
#define VIGIL_DEVICE_UTIL_H

#include <stddef.h>

long long devu_now_ms(void);  /* monotonic */
long long devu_wall_ms(void); /* realtime: certificates' clock */
void devu_sleep_ms(long long ms);
/* Full jitter: uniform in [0, min(cap, base * 2^attempt)]. */
long long devu_backoff_ms(int attempt, long long base, long long cap);
/* Uniform at random in [lo, hi] (lo when hi <= lo): RAND_bytes, modulo. */
long long devu_random_between(long long lo, long long hi);

/* Writes all n bytes of p to fd (again after EINTR); 0 or -1. */
int devu_write_all(int fd, const char *p, size_t n);
/* Replaces path with data atomically and durably; 0 or -1 (errno set). */
int devu_write_atomic(const char *path, const char *data, size_t len, int mode);
/* fsyncs the directory that holds path (path itself when is_dir). */
int devu_fsync_dir_of(const char *path, int is_dir);
/* Reads a whole small file (at most max bytes), NUL-terminated; NULL on error. */
char *devu_read_file(const char *path, size_t max, size_t *len);

/* snprintf into out that says nothing of truncation: the message a
 * function leaves for its caller (err, msg, why). */
void devu_format(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A test hook: when VIGIL_DEVICE_CRASH_AT names this point, the process
 * kills itself with SIGKILL there (no cleanup, as a power cut would). */
void devu_crash_point(const char *name);

#endif
