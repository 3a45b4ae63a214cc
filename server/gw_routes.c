/*
 * gw_routes.c - what the device port answers. Today: POST /v1/incidents
 * (reports go to the worker's group commit; the answer waits for the
 * commit). Every answer is JSON; every refusal says why.
 */
#include "server/gw.h"

#include "server/log.h"
#include "server/metrics.h"
#include "server/registry.h"
#include "server/secevent.h"

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

static void respond_json(conn *c, int status, json_t *body, int retry_after, int close_after)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) {
        conn_close(c);
        return;
    }
    metrics_request(MP_INCIDENTS, status);
    conn_respond(c, status, text, retry_after, close_after);
    free(text);
}

static void error(conn *c, metrics_path path, int status, const char *code, const char *reason,
                  int retry_after)
{
    metrics_request(path, status);
    conn_respond_error(c, status, code, reason, retry_after, status == 400 || status == 413);
}

/* ---- POST /v1/incidents ---- */

/* {"results":[{"id":..,"status":..,"reason":..}],"stored":n,"duplicate":n,"rejected":n} */
static json_t *results_json(const incident_batch *b, const unsigned char *stored, int committed)
{
    json_t *results = json_array();
    json_int_t n_stored = 0, n_dup = 0, n_rej = 0, n_retry = 0;
    for (size_t i = 0; i < b->n; i++) {
        const incident_item *it = &b->items[i];
        json_t *r = json_object();
        json_object_set_new(r, "id", it->id[0] ? json_string(it->id) : json_null());
        const char *status = !it->ok ? "rejected" : !committed ? "retry"
                             : stored && stored[i] ? "stored" : "duplicate";
        json_object_set_new(r, "status", json_string(status));
        if (!it->ok)
            json_object_set_new(r, "reason", json_string(it->reason));
        json_array_append_new(results, r);
        n_rej += !it->ok;
        n_retry += it->ok && !committed;
        n_stored += it->ok && committed && stored && stored[i];
        n_dup += it->ok && committed && !(stored && stored[i]);
    }
    return json_pack("{s:o,s:I,s:I,s:I,s:I}", "results", results, "stored", n_stored,
                     "duplicate", n_dup, "rejected", n_rej, "retry", n_retry);
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
        json_t *body = results_json(b, NULL, 0);
        json_object_set_new(body, "error", json_string("unavailable"));
        json_object_set_new(body, "reason", json_string("the database is unavailable; nothing "
                                                        "was stored, retry later"));
        respond_json(c, 503, body, (int)c->w->cfg->retry_after_s, 0);
        return;
    }
    count_verdicts(b, stored);
    respond_json(c, 200, results_json(b, stored, 1), 0, 0);
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
        respond_json(c, 200, results_json(&batch, NULL, 1), 0, 0);
        incident_batch_free(&batch);
        return;
    }
    incident_batch kept = batch;   /* for the 503 answer if the queue refuses */
    c->pending = ingest_submit(c->w->ing, c->device_id, c->addr, 0, &batch, on_committed, c);
    if (!c->pending) {
        json_t *body = results_json(&kept, NULL, 0);
        json_object_set_new(body, "error", json_string("unavailable"));
        json_object_set_new(body, "reason", json_string("the server cannot store reports now; "
                                                        "nothing was stored, retry later"));
        respond_json(c, 503, body, (int)cfg->retry_after_s, 0);
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
