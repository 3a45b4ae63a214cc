/*
 * metrics.c - the counters (see metrics.h) and their histogram buckets.
 */
#include "server/core/metrics.h"

#include "protocol/when.h"

#include <time.h>

metrics_t metrics;
double metrics_start_time;

const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS - 1] = {
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2};
const int64_t metrics_batch_bounds[METRICS_BATCH_BUCKETS - 1] = {1, 10, 50, 100, 500, 1000, 5000};

void metrics_observe_latency(metrics_latency *h, uint64_t ns)
{
    double s = (double)ns / 1e9;
    int b = 0;
    while (b < METRICS_LATENCY_BUCKETS - 1 && s > metrics_latency_bounds[b])
        b++;
    metrics_add(&h->bucket[b], 1);
    metrics_add(&h->sum_us, (int64_t)(ns / 1000));
    metrics_add(&h->count, 1);
}

void metrics_observe_batch(size_t rows)
{
    int b = 0;
    while (b < METRICS_BATCH_BUCKETS - 1 && (int64_t)rows > metrics_batch_bounds[b])
        b++;
    metrics_add(&metrics.batch_size[b], 1);
    metrics_add(&metrics.batch_rows_sum, (int64_t)rows);
}

void metrics_request(metrics_path path, int status)
{
    static const int codes[MS__COUNT - 1] = {200, 204, 206, 400, 401, 403, 404, 405,
                                             408, 409, 413, 415, 416, 429, 431, 503};
    int s = MS_OTHER;
    for (int i = 0; i < MS__COUNT - 1; i++)
        if (codes[i] == status)
            s = i;
    metrics_add(&metrics.requests[path][s], 1);
}

void metrics_init(void)
{
    metrics_start_time = (double)when_now_us() / 1e6;
}

void metrics_api_request(int route, int status)
{
    static const int codes[] = {400, 401, 403, 404, 405, 409, 429};
    static const metrics_api_status classes[] = {API_STATUS_400, API_STATUS_401, API_STATUS_403,
                                                 API_STATUS_404, API_STATUS_405, API_STATUS_409,
                                                 API_STATUS_429};
    metrics_api_status s = API_STATUS_OTHER;
    if (status >= 200 && status < 300)
        s = API_STATUS_2XX;
    else if (status >= 500 && status < 600)
        s = API_STATUS_5XX;
    else
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
            if (codes[i] == status)
                s = classes[i];
    if (route < 0 || route >= METRICS_API_UNMATCHED)
        route = METRICS_API_UNMATCHED;
    metrics_add(&metrics.api_requests[route][s], 1);
}
