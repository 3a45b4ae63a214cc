/*
 * api_metrics.h - the operator API's GET /metrics: the process-wide counters
 * of metrics.h in the Prometheus text exposition format, version 0.0.4.
 */
#ifndef VIGIL_API_METRICS_H
#define VIGIL_API_METRICS_H

#include <stddef.h>

/* The Content-Type of the document api_metrics_render returns. */
#define API_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders every metric from atomic loads of `metrics`. Returns a malloc'd,
 * NUL-terminated document that the caller frees, its length (without the
 * NUL) in *len_out when len_out is not NULL; NULL when out of memory. Safe to
 * call from any thread while the counters change. */
char *api_metrics_render(size_t *len_out);

#endif
