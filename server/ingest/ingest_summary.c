/*
 * ingest_summary.c - the periodic ingest summary line (see
 * ingest_summary.h).
 */
#include "server/ingest/ingest_summary.h"

#include "server/core/log.h"
#include "server/core/metrics.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

_Static_assert(sizeof(((ingest_counts *)0)->commit) / sizeof(int64_t) == METRICS_LATENCY_BUCKETS,
               "one count per commit latency bucket");

struct ingest_summary {
    uv_timer_t timer;
    ingest_counts last;
    uint64_t last_ms; /* uv_now of the last line */
};

static int64_t load(_Atomic int64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

void ingest_counts_read(ingest_counts *out)
{
    out->stored = load(&metrics.reports_ingested);
    out->duplicates = load(&metrics.reports_duplicate);
    out->rejected = load(&metrics.reports_rejected);
    out->retries = load(&metrics.requests[MP_INCIDENTS][MS_503]);
    out->flushes = load(&metrics.commit.count);
    out->failed_flushes = load(&metrics.db_errors);
    for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++)
        out->commit[i] = load(&metrics.commit.bucket[i]);
}

double ingest_counts_p99_ms(const ingest_counts *before, const ingest_counts *after)
{
    int64_t n = 0, seen = 0;
    for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++)
        n += after->commit[i] - before->commit[i];
    if (n <= 0)
        return -1;
    int64_t rank = (n * 99 + 99) / 100; /* the ceiling of 0.99 n */
    for (int i = 0; i < METRICS_LATENCY_BUCKETS - 1; i++) {
        seen += after->commit[i] - before->commit[i];
        if (seen >= rank)
            return metrics_latency_bounds[i] * 1000;
    }
    return INFINITY;
}

static void summarize(ingest_summary *s, uint64_t now_ms)
{
    ingest_counts now;
    ingest_counts_read(&now);
    const ingest_counts *b = &s->last;
    int64_t stored = now.stored - b->stored, dup = now.duplicates - b->duplicates,
            rejected = now.rejected - b->rejected, retries = now.retries - b->retries,
            flushes = now.flushes - b->flushes, failed = now.failed_flushes - b->failed_flushes;
    if (stored || dup || rejected || retries || flushes || failed) {
        double p99 = ingest_counts_p99_ms(b, &now);
        int over = isinf(p99); /* the last bound, and "over" says more than it */
        if (over)
            p99 = metrics_latency_bounds[METRICS_LATENCY_BUCKETS - 2] * 1000;
        log_info_fields("ingest summary", LOG_NUM("seconds", (double)(now_ms - s->last_ms) / 1e3),
                        LOG_INT("stored", stored), LOG_INT("duplicates", dup),
                        LOG_INT("rejected", rejected), LOG_INT("retries", retries),
                        LOG_INT("flushes", flushes), LOG_INT("failed_flushes", failed),
                        LOG_NUM("commit_p99_ms", p99 < 0 ? NAN : p99),
                        LOG_BOOL("commit_p99_over", over));
    }
    s->last = now;
    s->last_ms = now_ms;
}

static void on_timer(uv_timer_t *t)
{
    summarize(t->data, uv_now(t->loop));
}

ingest_summary *ingest_summary_start(uv_loop_t *loop, int64_t interval_ms)
{
    if (interval_ms <= 0)
        return NULL;
    ingest_summary *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    ingest_counts_read(&s->last);
    s->last_ms = uv_now(loop);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_timer, (uint64_t)interval_ms, (uint64_t)interval_ms);
    return s;
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void ingest_summary_stop(ingest_summary *s)
{
    if (!s)
        return;
    uv_update_time(s->timer.loop);
    summarize(s, uv_now(s->timer.loop));
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, timer_closed);
}
