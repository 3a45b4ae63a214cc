/*
 * gw_routes.c - what the device port answers. Today: POST /v1/incidents
 * (reports go to the worker's group commit; the answer waits for the
 * commit). Every answer is JSON; every refusal says why.
 */
#include "server/gateway/gw_auth.h"

#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/registry/reg_view.h"
#include "server/gateway/gw_secevent.h"
#include "server/core/strbuf.h"

#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *gw_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

const char *gw_error_code(int status)
{
    switch (status) {
    case 408: return "timeout";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 415: return "unsupported_media_type";
    case 431: return "headers_too_large";
    case 501: return "not_implemented";
    case 505: return "http_version_not_supported";
    default: return "bad_request";
    }
}

static void error(conn *c, metrics_path path, int status, const char *code, const char *reason,
                  int retry_after)
{
    metrics_request(path, status);
    conn_respond_error(c, status, code, reason, retry_after, status == 400 || status == 413);
}

/* ---- POST /v1/incidents ---- */

#define UNAVAILABLE_DB ",\"error\":\"unavailable\",\"reason\":\"the database is unavailable; " \
                       "nothing was stored, retry later\""
#define UNAVAILABLE_QUEUE ",\"error\":\"unavailable\",\"reason\":\"the server cannot store " \
                          "reports now; nothing was stored, retry later\""

/* A JSON string of our own ASCII (ids, reasons): quotes, backslashes and
 * control characters escaped. */
static void put_json_text(strbuf *b, const char *s)
{
    sb_append(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_append(b, "\\", 1);
        if ((unsigned char)*s < 0x20)
            sb_append(b, "?", 1);
        else
            sb_append(b, s, 1);
    }
    sb_append(b, "\"", 1);
}

/* {"results":[{"id":..,"status":..,"reason":..}],"stored":n,"duplicate":n,
 *  "rejected":n,"retry":n} written directly: this is the hot path of
 * single-report ingest, and a JSON tree per answer costs more than the
 * answer. extra, if set, is inserted before the closing brace. */
static void results_body(strbuf *b, const incident_batch *batch, const unsigned char *stored,
                         int committed, const char *extra)
{
    size_t n_stored = 0, n_dup = 0, n_rej = 0, n_retry = 0;
    sb_puts(b, "{\"results\":[");
    for (size_t i = 0; i < batch->n; i++) {
        const incident_item *it = &batch->items[i];
        const char *status = !it->ok ? "rejected" : !committed ? "retry"
                             : stored && stored[i] ? "stored" : "duplicate";
        sb_puts(b, i ? ",{\"id\":" : "{\"id\":");
        if (it->id[0])
            put_json_text(b, it->id);
        else
            sb_puts(b, "null");
        sb_printf(b, ",\"status\":\"%s\"", status);
        if (!it->ok) {
            sb_puts(b, ",\"reason\":");
            put_json_text(b, it->reason);
        }
        sb_puts(b, "}");
        n_rej += !it->ok;
        n_retry += it->ok && !committed;
        n_stored += it->ok && committed && stored && stored[i];
        n_dup += it->ok && committed && !(stored && stored[i]);
    }
    sb_printf(b, "],\"stored\":%zu,\"duplicate\":%zu,\"rejected\":%zu,\"retry\":%zu%s}",
              n_stored, n_dup, n_rej, n_retry, extra ? extra : "");
}

static void respond_results(conn *c, int status, const incident_batch *batch,
                            const unsigned char *stored, int committed, const char *extra,
                            int retry_after)
{
    strbuf b;
    sb_init(&b);
    results_body(&b, batch, stored, committed, extra);
    char *text = sb_take(&b, NULL);
    if (!text) {
        conn_close(c);
        return;
    }
    metrics_request(MP_INCIDENTS, status);
    conn_respond(c, status, text, retry_after, 0);
    free(text);
}

static void count_verdicts(const incident_batch *b, const unsigned char *stored)
{
    for (size_t i = 0; i < b->n; i++) {
        if (!b->items[i].ok)
            metrics_add(&metrics.reports_rejected, 1);
        else if (!stored[i])
            metrics_add(&metrics.reports_duplicate, 1);
    }
}

static void on_committed(void *owner, int committed, const incident_batch *b,
                         const unsigned char *stored)
{
    conn *c = owner;
    c->pending = NULL;
    if (!committed) {
        respond_results(c, 503, b, NULL, 0, UNAVAILABLE_DB, (int)c->w->cfg->retry_after_s);
        return;
    }
    count_verdicts(b, stored);
    respond_results(c, 200, b, stored, 1, NULL, 0);
}

static int is_json(const char *content_type)
{
    size_t n = strlen("application/json");
    return strncasecmp(content_type, "application/json", n) == 0 &&
           (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int over_rate(conn *c)
{
    const config *cfg = c->w->cfg;
    if (reg_allow_request(c->device_id, (int64_t)uv_hrtime(), cfg->device_rate, cfg->device_burst))
        return 0;
    sec_event(c->w->ing, "x-rate-limited", "warning", c->device_id, c->addr,
              json_pack("{s:s}", "reason", "device_requests"));
    return 1;
}

static void post_incidents(conn *c, http_request *req)
{
    char reason[200];
    incident_batch batch = {0};
    const config *cfg = c->w->cfg;
    if (!is_json(req->content_type)) {
        error(c, MP_INCIDENTS, 415, "unsupported_media_type", "send Content-Type: application/json", 0);
        return;
    }
    if (over_rate(c)) {
        error(c, MP_INCIDENTS, 429, "rate_limited", "too many requests from this device; slow down", 1);
        return;
    }
    if (incident_batch_parse(req->body ? req->body : "", req->body_len, now_us(), &batch, reason,
                             sizeof(reason)) < 0) {
        error(c, MP_INCIDENTS, 400, "bad_request", reason, 0);
        return;
    }
    if (batch.n > (size_t)cfg->max_batch) {
        snprintf(reason, sizeof(reason), "%zu reports in one request; at most %lld", batch.n,
                 (long long)cfg->max_batch);
        incident_batch_free(&batch);
        error(c, MP_INCIDENTS, 413, "payload_too_large", reason, 0);
        return;
    }
    if (!batch.was_array && !batch.items[0].ok) {
        error(c, MP_INCIDENTS, 400, "invalid_report", batch.items[0].reason, 0);
        incident_batch_free(&batch);
        return;
    }
    size_t valid = 0;
    for (size_t i = 0; i < batch.n; i++)
        valid += batch.items[i].ok ? 1 : 0;
    if (valid == 0) {
        unsigned char none[1] = {0};
        count_verdicts(&batch, none);
        respond_results(c, 200, &batch, NULL, 1, NULL, 0);
        incident_batch_free(&batch);
        return;
    }
    incident_batch kept = batch;   /* for the 503 answer if the queue refuses */
    c->pending = ingest_submit(c->w->ing, c->device_id, c->addr, 0, &batch, on_committed, c);
    if (!c->pending) {
        respond_results(c, 503, &kept, NULL, 0, UNAVAILABLE_QUEUE, (int)cfg->retry_after_s);
        incident_batch_free(&kept);
    }
}

void gw_route_request(conn *c, http_request *req)
{
    if (strcmp(req->path, "/v1/incidents") == 0) {
        if (req->method != HTTP_POST)
            error(c, MP_INCIDENTS, 405, "method_not_allowed", "use POST", 0);
        else
            post_incidents(c, req);
        return;
    }
    error(c, MP_OTHER, 404, "not_found", "no such path on the device port", 0);
}
