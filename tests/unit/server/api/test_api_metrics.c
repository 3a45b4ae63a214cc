/*
 * test_api_metrics.c - the Prometheus exposition of the counters
 * (server/api/api_metrics.c): exact samples, cumulative histograms, and
 * promtool's own parser and linter accepting the document.
 *
 * Criterion runs each test in its own process, so setting the global
 * counters here touches no other test.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/api/api.h"
#include "server/api/api_metrics.h"
#include "server/core/metrics.h"

/* The rendered document; freed after each test even when an assertion
 * ends it early. */
static char *doc;

static void free_doc(void)
{
    free(doc);
    doc = NULL;
}

TestSuite(api_metrics, .fini = free_doc);

static void set_counters(void)
{
    metrics_init();
    metrics_add(&metrics.connections_open, 3);
    metrics_add(&metrics.connections_total, 7);
    metrics_add(&metrics.handshakes[HS_REVOKED], 2);
    metrics_request(MP_INCIDENTS, 200);
    metrics_request(MP_INCIDENTS, 200);
    metrics_request(MP_OTHER, 404);
    metrics_request(MP_OTHER, 418);
    metrics_add(&metrics.reports_ingested, 1234);
    metrics_observe_latency(&metrics.commit, 500000);     /* 0.5 ms: le 0.001 */
    metrics_observe_latency(&metrics.commit, 3000000);    /* 3 ms: le 0.005 */
    metrics_observe_latency(&metrics.commit, 30000000);   /* 30 ms: le 0.05 */
    metrics_observe_latency(&metrics.commit, 5000000000); /* 5 s: +Inf only */
    metrics_observe_latency(&metrics.queue_wait, 1500000); /* 1.5 ms: le 0.002 */
    metrics_observe_latency(&metrics.queue_wait, 7000000); /* 7 ms: le 0.01 */
    metrics_observe_batch(1);
    metrics_observe_batch(64);
    metrics_observe_batch(9000);
    metrics_api_request(0, 200);
    metrics_api_request(0, 204);
    metrics_api_request(4, 401);
    metrics_api_request(4, 503);
    metrics_api_request(-1, 302);
    metrics_add(&metrics.api_auth_failures, 1);
    metrics_add(&metrics.chunk_cache.hits, 41);
    metrics_add(&metrics.chunk_cache.bytes, 262144);
    metrics_add(&metrics.artifact_chunk_reads, 5);
}

/* The document contains `line` as a whole line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

#define assert_line(text, line) cr_assert(has_line(text, line), "missing line: %s", line)

Test(api_metrics, exact_samples)
{
    set_counters();
    size_t len = 0;
    doc = api_metrics_render(&len);
    cr_assert_not_null(doc);
    cr_assert_eq(len, strlen(doc));
    cr_assert_eq(doc[len - 1], '\n');

    assert_line(doc, "# HELP vigil_connections_total Device connections accepted.");
    assert_line(doc, "# TYPE vigil_connections_total counter");
    assert_line(doc, "vigil_connections_total 7");
    assert_line(doc, "# TYPE vigil_connections_open gauge");
    assert_line(doc, "vigil_connections_open 3");
    assert_line(doc, "vigil_handshakes_total{result=\"revoked\"} 2");
    assert_line(doc, "vigil_handshakes_total{result=\"timeout\"} 0");
    assert_line(doc, "vigil_device_requests_total{path=\"/v1/incidents\",status=\"200\"} 2");
    assert_line(doc, "vigil_device_requests_total{path=\"other\",status=\"404\"} 1");
    assert_line(doc, "vigil_device_requests_total{path=\"other\",status=\"other\"} 1");
    assert_line(doc, "vigil_reports_ingested_total 1234");
    char line[160];
    snprintf(line, sizeof(line), "vigil_api_requests_total{route=\"%s\",status=\"2xx\"} 2",
             api_route_label(0, (char[128]){0}, 128));
    assert_line(doc, line);
    snprintf(line, sizeof(line), "vigil_api_requests_total{route=\"%s\",status=\"401\"} 1",
             api_route_label(4, (char[128]){0}, 128));
    assert_line(doc, line);
    snprintf(line, sizeof(line), "vigil_api_requests_total{route=\"%s\",status=\"5xx\"} 1",
             api_route_label(4, (char[128]){0}, 128));
    assert_line(doc, line);
    assert_line(doc, "vigil_api_requests_total{route=\"unmatched\",status=\"other\"} 1");
    assert_line(doc, "vigil_api_auth_failures_total 1");
    assert_line(doc, "# TYPE vigil_artifact_cache_bytes gauge");
    assert_line(doc, "vigil_artifact_cache_hits_total 41");
    assert_line(doc, "vigil_artifact_cache_bytes 262144");
    assert_line(doc, "vigil_artifact_cache_evictions_total 0");
    assert_line(doc, "vigil_artifact_chunk_reads_total 5");
    snprintf(line, sizeof(line), "vigil_build_info{version=\"%s\"} 1", vigil_version);
    assert_line(doc, line);
    assert_line(doc, "# TYPE vigil_database_up gauge");
    assert_line(doc, "vigil_database_up 1");
    assert_line(doc, "# TYPE vigil_database_outages_total counter");
    assert_line(doc, "vigil_database_outages_total 0");
    assert_line(doc, "vigil_database_outage_seconds_total 0.000");
    assert_line(doc, "# TYPE process_start_time_seconds gauge");
    cr_assert_gt(metrics_start_time, 1.6e9);

    assert_line(doc, "# TYPE vigil_ingest_commit_seconds histogram");
    assert_line(doc, "vigil_ingest_commit_seconds_bucket{le=\"0.001\"} 1");
    assert_line(doc, "vigil_ingest_commit_seconds_bucket{le=\"0.005\"} 2");
    assert_line(doc, "vigil_ingest_commit_seconds_bucket{le=\"0.05\"} 3");
    assert_line(doc, "vigil_ingest_commit_seconds_bucket{le=\"2\"} 3");
    assert_line(doc, "vigil_ingest_commit_seconds_bucket{le=\"+Inf\"} 4");
    assert_line(doc, "vigil_ingest_commit_seconds_sum 5.033500");
    assert_line(doc, "vigil_ingest_commit_seconds_count 4");
    assert_line(doc, "# TYPE vigil_ingest_queue_wait_seconds histogram");
    assert_line(doc, "vigil_ingest_queue_wait_seconds_bucket{le=\"0.001\"} 0");
    assert_line(doc, "vigil_ingest_queue_wait_seconds_bucket{le=\"0.002\"} 1");
    assert_line(doc, "vigil_ingest_queue_wait_seconds_bucket{le=\"0.005\"} 1");
    assert_line(doc, "vigil_ingest_queue_wait_seconds_bucket{le=\"0.01\"} 2");
    assert_line(doc, "vigil_ingest_queue_wait_seconds_bucket{le=\"+Inf\"} 2");
    assert_line(doc, "vigil_ingest_queue_wait_seconds_sum 0.008500");
    assert_line(doc, "vigil_ingest_queue_wait_seconds_count 2");
    assert_line(doc, "vigil_ingest_batch_rows_bucket{le=\"1\"} 1");
    assert_line(doc, "vigil_ingest_batch_rows_bucket{le=\"100\"} 2");
    assert_line(doc, "vigil_ingest_batch_rows_bucket{le=\"5000\"} 2");
    assert_line(doc, "vigil_ingest_batch_rows_bucket{le=\"+Inf\"} 3");
    assert_line(doc, "vigil_ingest_batch_rows_sum 9065");
    assert_line(doc, "vigil_ingest_batch_rows_count 3");
}

/* Each histogram's buckets never decrease, end with +Inf, and +Inf equals
 * _count. */
static void check_cumulative(const char *text, const char *name, int n_buckets)
{
    char prefix[128], count_line[128];
    snprintf(prefix, sizeof(prefix), "%s_bucket{le=\"", name);
    int64_t last = -1, value = 0;
    int seen = 0, inf = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, prefix, strlen(prefix)) != 0)
            continue;
        const char *le = p + strlen(prefix);
        cr_assert(!inf, "%s: a bucket after +Inf", name);
        inf = strncmp(le, "+Inf\"", 5) == 0;
        const char *v = strstr(le, "} ");
        cr_assert_not_null(v);
        value = strtoll(v + 2, NULL, 10);
        cr_assert_geq(value, last, "%s: bucket le=%.8s went down", name, le);
        last = value;
        seen++;
    }
    cr_assert_eq(seen, n_buckets, "%s: %d buckets", name, seen);
    cr_assert(inf, "%s: no +Inf bucket", name);
    snprintf(count_line, sizeof(count_line), "%s_count %" PRId64, name, value);
    cr_assert(has_line(text, count_line), "%s: +Inf is not _count", name);
}

Test(api_metrics, histograms_are_cumulative)
{
    set_counters();
    for (uint64_t ns = 1; ns < 4000000000ull; ns *= 3) {
        metrics_observe_latency(&metrics.commit, ns);
        metrics_observe_latency(&metrics.queue_wait, ns / 2);
    }
    for (size_t rows = 1; rows < 20000; rows *= 2)
        metrics_observe_batch(rows);
    doc = api_metrics_render(NULL);
    cr_assert_not_null(doc);
    check_cumulative(doc, "vigil_ingest_commit_seconds", METRICS_LATENCY_BUCKETS);
    check_cumulative(doc, "vigil_ingest_queue_wait_seconds", METRICS_LATENCY_BUCKETS);
    check_cumulative(doc, "vigil_ingest_batch_rows", METRICS_BATCH_BUCKETS);
}

Test(api_metrics, every_family_has_help_and_type)
{
    doc = api_metrics_render(NULL);
    cr_assert_not_null(doc);
    int help = 0, type = 0;
    for (const char *p = doc; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        help += strncmp(p, "# HELP ", 7) == 0;
        type += strncmp(p, "# TYPE ", 7) == 0;
    }
    cr_assert_eq(help, type);
    cr_assert_eq(type, 30);
}

/* promtool (Debian's prometheus package) parses the document and lints it;
 * it prints nothing when it has nothing to say. */
Test(api_metrics, promtool_accepts)
{
    cr_assert_eq(system("command -v promtool >/dev/null 2>&1"), 0,
                 "promtool is not installed (apt-get install prometheus)");
    set_counters();
    size_t len = 0;
    doc = api_metrics_render(&len);
    cr_assert_not_null(doc);

    char path[] = "/tmp/vigil-metrics.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, doc, len), (ssize_t)len);
    close(fd);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char out[4096];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "promtool failed (%d): %s", status,
              out);
    cr_assert_eq(n, 0, "promtool said: %s", out);
}
