/*
 * bench_stats.c - latency samples, the clock they are taken with, the
 * open loop's schedule, and percentiles for vigil-bench.
 */
#include "tools/vigil-bench/bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

double bench_interval_us(const bench_cfg *cfg)
{
    return cfg->rate > 0 ? 1e6 * cfg->connections / cfg->rate : 0;
}

/* The connections' first requests are spread over one interval. */
double bench_first_due_us(const bench_cfg *cfg, double begin_us, int slot)
{
    return begin_us + bench_interval_us(cfg) * slot / cfg->connections;
}

void samples_add(bench_samples *s, uint64_t us)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint32_t *grown = realloc(s->v, cap * sizeof(*grown));
        if (!grown)
            return;
        s->v = grown;
        s->cap = cap;
    }
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void samples_merge(bench_samples *into, const bench_samples *from)
{
    for (size_t i = 0; i < from->n; i++)
        samples_add(into, from->v[i]);
}

void stats_add(bench_stats *s, uint64_t us)
{
    samples_add(&s->latency, us);
}

void stats_merge(bench_stats *into, bench_stats *from)
{
    samples_merge(&into->latency, &from->latency);
    samples_merge(&into->late, &from->late);
    into->ok += from->ok;
    into->errors += from->errors;
    into->reports += from->reports;
    into->resumed += from->resumed;
    for (int i = 0; i < 6; i++)
        into->by_status[i] += from->by_status[i];
    for (int i = 0; i < BV_COUNT; i++)
        into->verdicts[i] += from->verdicts[i];
    into->acked += from->acked;
    into->status_429 += from->status_429;
    into->status_503 += from->status_503;
    into->keys_reused += from->keys_reused;
    into->downloads += from->downloads;
    into->bytes += from->bytes;
    into->bad_digest += from->bad_digest;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

double samples_pct(bench_samples *s, double p)
{
    if (!s->n)
        return 0;
    qsort(s->v, s->n, sizeof(*s->v), cmp_u32);
    size_t i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return s->v[i < s->n ? i : s->n - 1] / 1000.0;
}

double stats_pct(bench_stats *s, double p)
{
    return samples_pct(&s->latency, p);
}

void stats_free(bench_stats *s)
{
    free(s->latency.v);
    free(s->late.v);
    memset(s, 0, sizeof(*s));
}
