/*
 * metrics.h - process-wide counters for the operator API's /metrics.
 * Updated from any thread with relaxed atomics; read by the exporter.
 */
#ifndef VIGIL_METRICS_H
#define VIGIL_METRICS_H

#include "protocol/version.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_LATENCY_BUCKETS 12   /* ingest latencies, seconds: 1ms .. 2s, +Inf */
#define METRICS_BATCH_BUCKETS 8      /* rows per flush: 1 .. 5000, +Inf */

typedef enum metrics_handshake {
    HS_OK = 0, HS_RESUMED, HS_NO_CERT, HS_BAD_CERT, HS_EXPIRED, HS_REVOKED, HS_UNREGISTERED,
    HS_DECOMMISSIONED, HS_PROTOCOL, HS_TIMEOUT, HS__COUNT
} metrics_handshake;

typedef enum metrics_path {
    MP_INCIDENTS = 0, MP_EST, MP_UPDATE, MP_UPDATE_KEYS, MP_UPDATE_STATUS, MP_ARTIFACTS, MP_OTHER,
    MP__COUNT
} metrics_path;
typedef enum metrics_status {
    MS_200 = 0, MS_204, MS_206, MS_400, MS_401, MS_403, MS_404, MS_405, MS_408, MS_409, MS_413,
    MS_415, MS_416, MS_429, MS_431, MS_503, MS_OTHER, MS__COUNT
} metrics_status;

/* Operator API responses by status: 2xx as one class, the API's error codes
 * one by one, 5xx as one class, anything else as other. */
typedef enum metrics_api_status {
    API_STATUS_2XX = 0, API_STATUS_400, API_STATUS_401, API_STATUS_403, API_STATUS_404,
    API_STATUS_405, API_STATUS_409, API_STATUS_429, API_STATUS_5XX, API_STATUS_OTHER,
    API_STATUS__COUNT
} metrics_api_status;

/* Operator API routes counted one by one; the last slot counts requests
 * that matched no route. */
#define METRICS_API_ROUTES 32
#define METRICS_API_UNMATCHED (METRICS_API_ROUTES - 1)

#define METRICS_VERSION vigil_version /* vigil_build_info{version} (protocol/version.h) */

/* The artifact chunk cache's (gateway/gw_chunk_cache.h): counters and, for
 * bytes and chunks, gauges of what its map holds now. */
typedef struct metrics_chunk_cache {
    _Atomic int64_t hits;
    _Atomic int64_t misses;
    _Atomic int64_t evictions;
    _Atomic int64_t bytes;
    _Atomic int64_t chunks;
} metrics_chunk_cache;

/* A latency histogram: counts per bucket of metrics_latency_bounds. */
typedef struct metrics_latency {
    _Atomic int64_t bucket[METRICS_LATENCY_BUCKETS];
    _Atomic int64_t sum_us;
    _Atomic int64_t count;
} metrics_latency;

typedef struct metrics_t {
    _Atomic int64_t connections_open;
    _Atomic int64_t connections_total;
    _Atomic int64_t connections_refused;         /* over a connection limit */
    _Atomic int64_t handshakes[HS__COUNT];
    _Atomic int64_t requests[MP__COUNT][MS__COUNT];
    _Atomic int64_t reports_ingested;
    _Atomic int64_t reports_duplicate;
    _Atomic int64_t reports_rejected;
    _Atomic int64_t security_events;
    _Atomic int64_t security_events_suppressed;
    _Atomic int64_t db_errors;
    _Atomic int64_t db_up;                        /* connections currently up */
    /* core/db_health.c: outages of the database as a whole */
    _Atomic int64_t database_outages;
    _Atomic int64_t database_outage_us;           /* of the outages that ended */
    _Atomic int64_t database_down_since_us;       /* Unix us; 0 while up */
    _Atomic int64_t queue_depth;
    metrics_latency commit;     /* an ingest flush, from its start to its commit */
    metrics_latency queue_wait; /* a request, from its submission to its flush's start */
    _Atomic int64_t batch_size[METRICS_BATCH_BUCKETS];
    _Atomic int64_t batch_rows_sum;
    _Atomic int64_t api_requests[METRICS_API_ROUTES][API_STATUS__COUNT];
    _Atomic int64_t api_auth_failures;            /* missing, unknown, expired or revoked token */
    metrics_chunk_cache chunk_cache;
    _Atomic int64_t artifact_chunk_reads;        /* chunk reads from the database */
    _Atomic int64_t artifact_chunk_reads_shared; /* misses that waited for a read in flight */
} metrics_t;

extern metrics_t metrics;
extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS - 1];
extern const int64_t metrics_batch_bounds[METRICS_BATCH_BUCKETS - 1];
extern double metrics_start_time;               /* Unix seconds, set by metrics_init */

static inline void metrics_add(_Atomic int64_t *counter, int64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

void metrics_observe_latency(metrics_latency *h, uint64_t ns);
void metrics_observe_batch(size_t rows);
void metrics_request(metrics_path path, int status);
/* Records the process start time; call once from main before any thread. */
void metrics_init(void);
/* Counts one operator API response by its HTTP status. */
/* route: the operator API route's index (api.c), or -1 when no route
 * matched. */
void metrics_api_request(int route, int status);

#endif
