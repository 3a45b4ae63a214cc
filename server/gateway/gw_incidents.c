/*
 * gw_incidents.c - POST /v1/incidents (see gw_incidents.h): reports go to
 * the worker's group commit and the answer waits for the commit, so a 200
 * means every stored report is durable.
 */
#include "server/gateway/gw_incidents.h"

#include "protocol/errors.h"
#include "protocol/when.h"
#include "server/core/metrics.h"
#include "server/core/strbuf.h"
#include "server/gateway/gw_http.h"
#include "server/gateway/gw_routes.h"
#include "server/registry/reg_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNAVAILABLE_DB "the database is unavailable; nothing was stored, retry later"
#define UNAVAILABLE_QUEUE "the server cannot store reports now; nothing was stored, retry later"

/* {"results":[{"id":..,"status":..,"reason":..}],"stored":n,"duplicate":n,
 *  "rejected":n,"retry":n} written directly: this is the hot path of
 * single-report ingest, and a JSON tree per answer costs more than the
 * answer. error_json, if set, is an object (protocol/errors.h) whose
 * members follow these. */
static void results_body(strbuf *b, const incident_batch *batch, const unsigned char *stored,
                         int committed, const char *error_json)
{
    size_t n_stored = 0, n_dup = 0, n_rej = 0, n_retry = 0;
    strbuf_puts(b, "{\"results\":[");
    for (size_t i = 0; i < batch->n; i++) {
        const incident_item *it = &batch->items[i];
        const char *status = !it->ok               ? "rejected"
                             : !committed          ? "retry"
                             : stored && stored[i] ? "stored"
                                                   : "duplicate";
        strbuf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        if (it->id[0])
            strbuf_json_string(b, it->id);
        else
            strbuf_puts(b, "null");
        strbuf_printf(b, ",\"status\":\"%s\"", status);
        if (!it->ok) {
            strbuf_puts(b, ",\"reason\":");
            strbuf_json_string(b, it->reason);
        }
        strbuf_puts(b, "}");
        n_rej += !it->ok;
        n_retry += it->ok && !committed;
        n_stored += it->ok && committed && stored && stored[i];
        n_dup += it->ok && committed && !(stored && stored[i]);
    }
    strbuf_printf(b, "],\"stored\":%zu,\"duplicate\":%zu,\"rejected\":%zu,\"retry\":%zu", n_stored,
                  n_dup, n_rej, n_retry);
    if (error_json) { /* "{...}" less its braces */
        strbuf_puts(b, ",");
        strbuf_append(b, error_json + 1, strlen(error_json) - 2);
    }
    strbuf_puts(b, "}");
}

/* unavailable: the reason of a 503 (error "unavailable"), NULL for a 200. */
static void respond_results(gw_conn *c, int status, const incident_batch *batch,
                            const unsigned char *stored, int committed, const char *unavailable,
                            int retry_after)
{
    char *error = unavailable ? errors_json("unavailable", unavailable, NULL) : NULL;
    strbuf b;
    strbuf_init(&b);
    results_body(&b, batch, stored, committed, error);
    char *text = unavailable && !error ? NULL : strbuf_take(&b, NULL);
    strbuf_free(&b);
    free(error);
    if (!text) {
        gw_conn_close(c);
        return;
    }
    metrics_request(MP_INCIDENTS, status);
    gw_conn_respond(c, status, text, retry_after, 0);
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
    gw_conn *c = owner;
    c->pending = NULL;
    if (!committed) {
        respond_results(c, 503, b, NULL, 0, UNAVAILABLE_DB, (int)c->w->cfg->retry_after_s);
        return;
    }
    count_verdicts(b, stored);
    respond_results(c, 200, b, stored, 1, NULL, 0);
}

/* A quarantined device's reports are marked (incidents.quarantined), as
 * the registry view has its status when they arrive: a quarantine
 * reaches the view by its NOTIFY, so the reports a connected device sends
 * after it are marked, and those after a release are not. */
static int report_flags(const gw_conn *c)
{
    reg_device_facts f;
    return reg_view_device_facts(c->device_id, NULL, &f) == 0 && f.status == REG_DEV_QUARANTINED
               ? INGEST_QUARANTINED
               : 0;
}

void gw_incidents_post(gw_conn *c, gw_http_request *req)
{
    char reason[200];
    incident_batch batch = {0};
    const config *cfg = c->w->cfg;
    if (!gw_http_media_type_is(req->content_type, "application/json")) {
        gw_routes_refuse(c, MP_INCIDENTS, 415, "unsupported_media_type",
                         "send Content-Type: application/json", 0);
        return;
    }
    if (gw_routes_refuse_over_rate(c, MP_INCIDENTS))
        return;
    int parsed =
        incident_batch_parse(req->body ? req->body : "", req->body_len, (size_t)cfg->max_batch,
                             when_now_us(), &batch, reason, sizeof(reason));
    if (parsed == INCIDENT_TOO_MANY) {
        gw_routes_refuse(c, MP_INCIDENTS, 413, "payload_too_large", reason, 0);
        return;
    }
    if (parsed < 0) {
        gw_routes_refuse(c, MP_INCIDENTS, 400, "bad_request", reason, 0);
        return;
    }
    if (!batch.was_array && !batch.items[0].ok) {
        gw_routes_refuse(c, MP_INCIDENTS, 400, "invalid_report", batch.items[0].reason, 0);
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
    incident_batch kept = batch; /* for the 503 answer if the queue refuses */
    c->pending =
        ingest_submit(c->w->ing, c->device_id, c->addr, report_flags(c), &batch, on_committed, c);
    if (!c->pending) {
        respond_results(c, 503, &kept, NULL, 0, UNAVAILABLE_QUEUE, (int)cfg->retry_after_s);
        incident_batch_free(&kept);
    }
}
