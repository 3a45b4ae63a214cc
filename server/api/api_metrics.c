/*
 * api_metrics.c - the Prometheus text exposition (format 0.0.4) of the
 * process-wide counters (see api_metrics.h, metrics.h).
 *
 * Every series is written even while zero, so that a rate over a series
 * that appears later is not lost. The counters are read one by one with
 * relaxed loads, so a document is not a snapshot: a histogram's _count is
 * the sum of the bucket counts it was rendered from, which keeps the +Inf
 * bucket equal to _count whatever happens meanwhile.
 */
#include "server/api/api_metrics.h"

#include "server/api/api.h"

#include "server/core/db_health.h"
#include "server/core/metrics.h"
#include "server/core/strbuf.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *const handshake_results[] = {
    "ok",      "resumed",      "no_cert",        "bad_cert", "expired",
    "revoked", "unregistered", "decommissioned", "protocol", "timeout"};
_Static_assert(COUNT_OF(handshake_results) == HS__COUNT, "one label value per handshake result");

static const char *const request_paths[] = {
    "/v1/incidents",     "/.well-known/est", "/v1/update", "/v1/update/keys",
    "/v1/update/status", "/v1/artifacts",    "other"};
_Static_assert(COUNT_OF(request_paths) == MP__COUNT, "one label value per device-port path");

static const char *const request_statuses[] = {"200", "204", "206", "400", "401",  "403",
                                               "404", "405", "408", "409", "413",  "415",
                                               "416", "429", "431", "503", "other"};
_Static_assert(COUNT_OF(request_statuses) == MS__COUNT, "one label value per device-port status");

static const char *const api_statuses[] = {"2xx", "400", "401", "403", "404",
                                           "405", "409", "429", "5xx", "other"};
_Static_assert(COUNT_OF(api_statuses) == API_STATUS__COUNT, "one label value per API status");

static int64_t load(_Atomic int64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

/* HELP text escapes backslash and line feed; a label value also the
 * double quote. */
static void put_escaped(strbuf *b, const char *s, int quotes)
{
    for (; *s; s++) {
        if (*s == '\\')
            strbuf_puts(b, "\\\\");
        else if (*s == '\n')
            strbuf_puts(b, "\\n");
        else if (quotes && *s == '"')
            strbuf_puts(b, "\\\"");
        else
            strbuf_append(b, s, 1);
    }
}

static void family(strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_printf(b, "# HELP %s ", name);
    put_escaped(b, help, 0);
    strbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

/* One sample: name (and suffix) with up to two labels (a NULL key ends
 * them); the value is written by the caller and ends the line. */
static void sample_name(strbuf *b, const char *name, const char *suffix, const char *k1,
                        const char *v1, const char *k2, const char *v2)
{
    strbuf_puts(b, name);
    strbuf_puts(b, suffix);
    if (k1) {
        strbuf_printf(b, "{%s=\"", k1);
        put_escaped(b, v1, 1);
        if (k2) {
            strbuf_printf(b, "\",%s=\"", k2);
            put_escaped(b, v2, 1);
        }
        strbuf_puts(b, "\"}");
    }
    strbuf_puts(b, " ");
}

static void sample_int(strbuf *b, const char *name, const char *k1, const char *v1, const char *k2,
                       const char *v2, int64_t value)
{
    sample_name(b, name, "", k1, v1, k2, v2);
    strbuf_printf(b, "%" PRId64 "\n", value);
}

static void scalar(strbuf *b, const char *name, const char *type, const char *help,
                   _Atomic int64_t *counter)
{
    family(b, name, type, help);
    sample_int(b, name, NULL, NULL, NULL, NULL, load(counter));
}

static void labelled(strbuf *b, const char *name, const char *help, const char *key,
                     const char *const *values, _Atomic int64_t *counters, size_t n)
{
    family(b, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        sample_int(b, name, key, values[i], NULL, NULL, load(&counters[i]));
}

/* A histogram from per-bucket (not cumulative) counts; the last bucket is
 * +Inf. `bounds` are the n-1 finite upper bounds already formatted. */
static void histogram(strbuf *b, const char *name, const char *help, const char *const *bounds,
                      _Atomic int64_t *buckets, size_t n, const char *sum)
{
    family(b, name, "histogram", help);
    int64_t cumulative = 0;
    for (size_t i = 0; i < n; i++) {
        cumulative += load(&buckets[i]);
        sample_name(b, name, "_bucket", "le", i + 1 < n ? bounds[i] : "+Inf", NULL, NULL);
        strbuf_printf(b, "%" PRId64 "\n", cumulative);
    }
    strbuf_printf(b, "%s_sum %s\n%s_count %" PRId64 "\n", name, sum, name, cumulative);
}

static void latency(strbuf *b, const char *name, const char *help, metrics_latency *h)
{
    char text[METRICS_LATENCY_BUCKETS - 1][32];
    const char *bounds[METRICS_LATENCY_BUCKETS - 1];
    for (int i = 0; i < METRICS_LATENCY_BUCKETS - 1; i++) {
        snprintf(text[i], sizeof(text[i]), "%g", metrics_latency_bounds[i]);
        bounds[i] = text[i];
    }
    int64_t us = load(&h->sum_us);
    char sum[48];
    snprintf(sum, sizeof(sum), "%" PRId64 ".%06" PRId64, us / 1000000, us % 1000000);
    histogram(b, name, help, bounds, h->bucket, METRICS_LATENCY_BUCKETS, sum);
}

static void batch_rows(strbuf *b)
{
    char text[METRICS_BATCH_BUCKETS - 1][32];
    const char *bounds[METRICS_BATCH_BUCKETS - 1];
    for (int i = 0; i < METRICS_BATCH_BUCKETS - 1; i++) {
        snprintf(text[i], sizeof(text[i]), "%" PRId64, metrics_batch_bounds[i]);
        bounds[i] = text[i];
    }
    char sum[32];
    snprintf(sum, sizeof(sum), "%" PRId64, load(&metrics.batch_rows_sum));
    histogram(b, "vigil_ingest_batch_rows", "Reports written per ingest flush.", bounds,
              metrics.batch_size, METRICS_BATCH_BUCKETS, sum);
}

/* The device port's artifact chunk cache (gateway/gw_chunk_cache.h) and
 * the chunk reads from PostgreSQL behind its misses. */
static void artifact_cache(strbuf *b)
{
    metrics_chunk_cache *m = &metrics.chunk_cache;
    scalar(b, "vigil_artifact_cache_hits_total", "counter",
           "Artifact chunks found in the chunk cache.", &m->hits);
    scalar(b, "vigil_artifact_cache_misses_total", "counter",
           "Artifact chunks looked for in the chunk cache and not found.", &m->misses);
    scalar(b, "vigil_artifact_cache_evictions_total", "counter",
           "Artifact chunks evicted from the chunk cache to stay within its limit.", &m->evictions);
    scalar(b, "vigil_artifact_cache_bytes", "gauge",
           "Memory held by the artifact chunks in the cache, in bytes.", &m->bytes);
    scalar(b, "vigil_artifact_cache_chunks", "gauge", "Artifact chunks in the cache.", &m->chunks);
    scalar(b, "vigil_artifact_chunk_reads_total", "counter",
           "Artifact chunks read from the database.", &metrics.artifact_chunk_reads);
    scalar(b, "vigil_artifact_chunk_reads_shared_total", "counter",
           "Chunk cache misses that waited for a read of the same chunk already in flight.",
           &metrics.artifact_chunk_reads_shared);
}

/* PostgreSQL as a whole (core/db_health.h): up or not, and its outages. */
static void database(strbuf *b)
{
    family(b, "vigil_database_up", "gauge",
           "1 while vigild reaches PostgreSQL, 0 during an outage.");
    sample_int(b, "vigil_database_up", NULL, NULL, NULL, NULL, db_health_is_up());
    scalar(b, "vigil_database_outages_total", "counter",
           "Times PostgreSQL became unavailable to vigild.", &metrics.database_outages);
    family(b, "vigil_database_outage_seconds_total", "counter",
           "Time PostgreSQL was unavailable to vigild, the current outage included, in seconds.");
    strbuf_printf(b, "vigil_database_outage_seconds_total %.3f\n", db_health_outage_seconds());
}

/* Operator API responses by route ("GET /v1/incidents/{seq}", or
 * "unmatched") and status class. */
static void api_requests(strbuf *b)
{
    family(b, "vigil_api_requests_total", "counter",
           "Operator API responses by route and status class.");
    for (int i = 0; i <= api_route_count(); i++) {
        char label[128];
        int slot = i < api_route_count() ? i : METRICS_API_UNMATCHED;
        const char *route =
            i < api_route_count() ? api_route_label(i, label, sizeof(label)) : "unmatched";
        for (int s = 0; s < API_STATUS__COUNT; s++)
            sample_int(b, "vigil_api_requests_total", "route", route, "status", api_statuses[s],
                       load(&metrics.api_requests[slot][s]));
    }
}

char *api_metrics_render(size_t *len_out)
{
    strbuf b;
    strbuf_init(&b);

    family(&b, "vigil_build_info", "gauge", "Always 1; the version of vigild as a label.");
    sample_int(&b, "vigil_build_info", "version", METRICS_VERSION, NULL, NULL, 1);
    family(&b, "process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch, in seconds.");
    strbuf_printf(&b, "process_start_time_seconds %.3f\n", metrics_start_time);

    scalar(&b, "vigil_connections_open", "gauge", "Device connections currently open.",
           &metrics.connections_open);
    scalar(&b, "vigil_connections_total", "counter", "Device connections accepted.",
           &metrics.connections_total);
    scalar(&b, "vigil_connections_refused_total", "counter",
           "Device connections refused over a connection limit.", &metrics.connections_refused);
    labelled(&b, "vigil_handshakes_total", "Device TLS handshakes by result.", "result",
             handshake_results, metrics.handshakes, HS__COUNT);

    family(&b, "vigil_device_requests_total", "counter",
           "Device-port HTTP responses by path and status.");
    for (int p = 0; p < MP__COUNT; p++)
        for (int s = 0; s < MS__COUNT; s++)
            sample_int(&b, "vigil_device_requests_total", "path", request_paths[p], "status",
                       request_statuses[s], load(&metrics.requests[p][s]));

    scalar(&b, "vigil_reports_ingested_total", "counter", "Incident reports committed.",
           &metrics.reports_ingested);
    scalar(&b, "vigil_reports_duplicate_total", "counter",
           "Incident reports already stored (same device and report id).",
           &metrics.reports_duplicate);
    scalar(&b, "vigil_reports_rejected_total", "counter", "Incident reports rejected as invalid.",
           &metrics.reports_rejected);
    scalar(&b, "vigil_security_events_total", "counter", "Security events recorded by the server.",
           &metrics.security_events);
    scalar(&b, "vigil_security_events_suppressed_total", "counter",
           "Security events not recorded because of rate limiting.",
           &metrics.security_events_suppressed);
    scalar(&b, "vigil_db_errors_total", "counter", "Failed database operations.",
           &metrics.db_errors);
    scalar(&b, "vigil_db_connections_up", "gauge", "Ingest database connections currently up.",
           &metrics.db_up);
    database(&b);
    scalar(&b, "vigil_ingest_queue_depth", "gauge", "Reports waiting to be written.",
           &metrics.queue_depth);
    latency(&b, "vigil_ingest_commit_seconds",
            "Time from the start of an ingest flush to its commit, in seconds.", &metrics.commit);
    latency(&b, "vigil_ingest_queue_wait_seconds",
            "Time a device's request waited in the ingest queue for its flush to start, in seconds.",
            &metrics.queue_wait);
    batch_rows(&b);
    artifact_cache(&b);

    api_requests(&b);
    scalar(&b, "vigil_api_auth_failures_total", "counter",
           "Operator API requests refused for a missing, unknown, expired or revoked token.",
           &metrics.api_auth_failures);

    size_t len = 0;
    char *text = strbuf_take(&b, &len);
    strbuf_free(&b);
    if (len_out)
        *len_out = text ? len : 0;
    return text;
}
