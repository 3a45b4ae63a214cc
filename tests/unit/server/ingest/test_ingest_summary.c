/*
 * test_ingest_summary.c - the p99 of commit time that the ingest summary
 * line reports, from the /metrics histogram's buckets
 * (server/ingest/ingest_summary.c).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "server/core/metrics.h"
#include "server/ingest/ingest_summary.h"

Test(ingest_summary, p99_is_the_bound_of_the_bucket_of_the_99th_commit)
{
    ingest_counts a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    cr_assert_eq(ingest_counts_p99_ms(&a, &b), -1, "no commit: none");
    b.commit[0] = 99; /* <= 1 ms */
    b.commit[3] = 1;  /* <= 10 ms */
    cr_assert_float_eq(ingest_counts_p99_ms(&a, &b), 1.0, 1e-9, "99 of 100 within 1 ms");
    b.commit[3] = 2;
    cr_assert_float_eq(ingest_counts_p99_ms(&a, &b), 10.0, 1e-9, "the 99th of 101 is slower");
    a = b; /* only what happened since the last line counts */
    b.commit[METRICS_LATENCY_BUCKETS - 1] += 1;
    cr_assert(isinf(ingest_counts_p99_ms(&a, &b)), "over the last bound");
}

Test(ingest_summary, counts_are_read_from_the_metrics)
{
    metrics_add(&metrics.reports_ingested, 5);
    metrics_add(&metrics.reports_duplicate, 2);
    metrics_add(&metrics.requests[MP_INCIDENTS][MS_503], 3);
    metrics_observe_latency(&metrics.commit, 3000000); /* 3 ms */
    ingest_counts c;
    ingest_counts_read(&c);
    cr_assert_eq(c.stored, 5);
    cr_assert_eq(c.duplicates, 2);
    cr_assert_eq(c.retries, 3);
    cr_assert_eq(c.flushes, 1);
    cr_assert_eq(c.commit[2], 1, "3 ms is in the <= 5 ms bucket");
}
