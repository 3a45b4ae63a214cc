/*
 * ingest_summary.h - the periodic info line of what ingest did: reports
 * stored, duplicates, rejected, requests told to retry (503), flushes and
 * failed flushes, and the 99th percentile of commit time, since the line
 * before. Read from the process-wide counters (core/metrics.h), so it
 * covers every worker. A period in which nothing happened logs nothing:
 * an idle server stays quiet, and /metrics is there for a continuous view.
 */
#ifndef VIGIL_INGEST_SUMMARY_H
#define VIGIL_INGEST_SUMMARY_H

#include <stdint.h>
#include <uv.h>

typedef struct ingest_summary ingest_summary;

/* Every interval_ms on loop; NULL (and nothing to stop) when interval_ms
 * is 0 or memory is short. */
ingest_summary *ingest_summary_start(uv_loop_t *loop, int64_t interval_ms);
/* Logs what happened since the last line, then stops. NULL is fine. */
void ingest_summary_stop(ingest_summary *s);

/* The counters a line is the difference of (exposed for the tests). */
typedef struct ingest_counts {
    int64_t stored, duplicates, rejected, retries, flushes, failed_flushes;
    int64_t commit[12]; /* per latency bucket (METRICS_LATENCY_BUCKETS) */
} ingest_counts;

void ingest_counts_read(ingest_counts *out);
/* The upper bound, in milliseconds, of the latency bucket holding the
 * 99th percentile of the commits between before and after (the histogram
 * of /metrics: 1, 2, 5, 10, ... 2000 ms); -1 when there were none,
 * INFINITY when it is the bucket above every bound. The line gives
 * commit_p99_ms null for none, and 2000 with commit_p99_over true above. */
double ingest_counts_p99_ms(const ingest_counts *before, const ingest_counts *after);

#endif
