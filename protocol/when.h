/*
 * when.h - how the operator API and vigilctl read a point in time or a
 * length of time from a person: RFC 3339 ("2026-11-25T10:00:00Z") or a
 * duration back from now ("15m", "24h", "7d"), and durations in s, m, h, d.
 * One reader for both, so `vigilctl incidents --since` and
 * `GET /v1/incidents?since=` accept exactly the same text.
 */
#ifndef VIGIL_WHEN_H
#define VIGIL_WHEN_H

#include <stdint.h>

#define WHEN_MAX_SECONDS (100LL * 365 * 86400)

/* "90" (seconds), "15s", "5m", "24h", "7d" -> seconds; -1 if it is not one
 * or is longer than WHEN_MAX_SECONDS. */
int64_t when_duration(const char *text);
/* RFC 3339 or a duration back from now_us -> microseconds since the epoch.
 * 0, or -1 if it is neither. */
int when_parse(const char *text, int64_t now_us, int64_t *us);
/* The current time in microseconds since the epoch. */
int64_t when_now_us(void);

#endif
