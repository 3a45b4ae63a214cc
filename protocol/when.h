/*
 * when.h - how the operator API and vigilctl read a point in time or a
 * length of time from a person: RFC 3339 ("2026-11-25T10:00:00Z") or a
 * duration back from now ("15m", "24h", "7d"), and lengths of time in ms,
 * s, m, h, d, w and y. One reader for all of them, so `vigilctl incidents
 * --since`, `GET /v1/incidents?since=`, `vigilctl device enroll --validity`
 * and `vigild --idle-timeout` accept the same text.
 */
#ifndef VIGIL_WHEN_H
#define VIGIL_WHEN_H

#include <stdint.h>

#define WHEN_MAX_SECONDS (100LL * 365 * 86400)
/* The points in time when_parse gives: 0001-01-01T00:00:00Z to
 * 9999-12-31T23:59:59.999999Z, in microseconds since the epoch. Every one
 * is four-digit-year RFC 3339 in UTC, and PostgreSQL's timestamptz holds
 * them all (it has no year 0000, and a time outside its range is an error
 * there, not an empty answer). */
#define WHEN_MIN_US (-62135596800LL * 1000000)
#define WHEN_MAX_US (253402300800LL * 1000000 - 1)

/* A whole number and a unit: ms, s, m, h, d, w (7 days) or y (365 days),
 * such as "250ms", "15m", "30d"; a bare number counts in bare_unit_ms
 * milliseconds ("90" is 90 s with 1000), or is refused when bare_unit_ms
 * is 0 (where a bare number would be a trap: --validity 30). The length in
 * milliseconds, or -1 if text is not one or is longer than
 * WHEN_MAX_SECONDS. */
int64_t when_duration_ms(const char *text, int64_t bare_unit_ms);
/* The same in whole seconds, a bare number being seconds ("90", "15s",
 * "5m", "24h", "7d"); -1 also for a part of a second ("1500ms"). */
int64_t when_duration(const char *text);
/* RFC 3339 or a duration back from now_us -> microseconds since the epoch.
 * 0, or -1 if it is neither or falls outside WHEN_MIN_US..WHEN_MAX_US
 * (an offset can carry 0001-01-01T00:00:00+01:00 into year 0000). */
int when_parse(const char *text, int64_t now_us, int64_t *us);
/* The current time in microseconds since the epoch. */
int64_t when_now_us(void);

#endif
