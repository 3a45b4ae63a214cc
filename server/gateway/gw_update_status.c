/*
 * gw_update_status.c - POST /v1/update/status (see gw_update.h): a
 * device's report of an update's progress. The body is checked whole
 * before anything reaches the database; then vigil_update_report records
 * it in one statement (its state in the rollout, on failed an
 * update_failure incident and the install-failure check, on installed the
 * device's firmware version) and the answer waits for the commit. The
 * report's id, made by the device, makes a retry change nothing.
 */
#include "protocol/incident.h"
#include "protocol/manifest.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/strbuf.h"
#include "server/gateway/gw_http.h"
#include "server/gateway/gw_routes.h"
#include "server/gateway/gw_update.h"
#include "server/registry/reg_view.h"

#include <jansson.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_BODY_MAX 4096
#define STATUS_REASON_MAX 512 /* characters */

typedef struct status_report {
    char id[37];
    char version[MANIFEST_VERSION_MAX + 1];
    const char *state;                      /* static: "downloading" | "installed" | "failed" */
    char reason[STATUS_REASON_MAX * 4 + 1]; /* UTF-8; "" when absent */
    int has_reason;
} status_report;

typedef struct status_job {
    gw_update_pending pending; /* first: gw_update_release clears pending.c */
    const char *state;
    char device_id[REG_ID_MAX + 1];
} status_job;

/* ---- the body ---- */

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static const char *state_named(const char *s)
{
    static const char *const states[] = {"downloading", "installed", "failed"};
    for (size_t i = 0; s && i < sizeof(states) / sizeof(states[0]); i++)
        if (strcmp(s, states[i]) == 0)
            return states[i];
    return NULL;
}

/* The members, each checked; NULL, or the member at fault (why says how). */
static const char *check_members(json_t *root, status_report *r, char *why, size_t why_len)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "id") && strcmp(key, "version") && strcmp(key, "state") &&
            strcmp(key, "reason")) {
            snprintf(why, why_len, "unknown member (allowed: id, version, state, reason)");
            return "body";
        }
    }
    const char *id = json_string_value(json_object_get(root, "id"));
    if (!id || incident_uuid_canonical(id, r->id) < 0) {
        snprintf(why, why_len, "id: required, a UUID made by the device (the same on a retry)");
        return "id";
    }
    const char *version = json_string_value(json_object_get(root, "version"));
    if (!version || !manifest_version_valid(version)) {
        snprintf(why, why_len, "version: required, the release's version (%s)",
                 MANIFEST_VERSION_RULE);
        return "version";
    }
    memcpy(r->version, version, strlen(version) + 1);
    if (!(r->state = state_named(json_string_value(json_object_get(root, "state"))))) {
        snprintf(why, why_len, "state: required, one of downloading, installed, failed");
        return "state";
    }
    json_t *reason = json_object_get(root, "reason");
    const char *text = json_string_value(reason);
    size_t chars = text ? utf8_chars(text) : 0;
    if ((reason && (!text || chars < 1 || chars > STATUS_REASON_MAX)) ||
        (!reason && strcmp(r->state, "failed") == 0)) {
        snprintf(why, why_len, "reason: a string of 1 to %d characters, required for failed",
                 STATUS_REASON_MAX);
        return "reason";
    }
    r->has_reason = text != NULL;
    if (text)
        memcpy(r->reason, text, strlen(text) + 1); /* at most 4 bytes a character */
    return NULL;
}

/* 0, or -1 with the member at fault and why. */
static int parse_body(const gw_http_request *req, status_report *r, const char **bad, char *why,
                      size_t why_len)
{
    json_error_t jerr;
    json_t *root =
        json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    memset(r, 0, sizeof(*r));
    if (!json_is_object(root)) {
        snprintf(why, why_len, "the body must be one JSON object (%.100s)",
                 root ? "not an object" : jerr.text);
        *bad = "body";
    } else {
        *bad = check_members(root, r, why, why_len);
    }
    json_decref(root);
    return *bad ? -1 : 0;
}

/* ---- answers ---- */

static void answer_error(gw_conn *c, int status, const char *code, const char *reason,
                         const char *parameter)
{
    metrics_request(MP_UPDATE_STATUS, status);
    gw_conn_respond_error_param(c, status, code, reason, parameter, 0);
}

static void unavailable(gw_conn *c, const char *reason)
{
    gw_routes_refuse(c, MP_UPDATE_STATUS, 503, "unavailable", reason,
                     (int)c->w->cfg->retry_after_s);
}

/* Row 0 of vigil_update_report: code, rollout_id, halted. */
static void answer_report(gw_conn *c, const status_job *j, PGresult *res)
{
    const char *code = PQgetvalue(res, 0, 0);
    int duplicate = strcmp(code, "duplicate") == 0;
    if (strcmp(code, "ok") == 0 || duplicate) {
        strbuf b;
        strbuf_init(&b);
        strbuf_printf(&b, "{\"state\":\"%s\",\"rollout_id\":%s,\"duplicate\":%s,\"halted\":%s}",
                      j->state, PQgetisnull(res, 0, 1) ? "null" : PQgetvalue(res, 0, 1),
                      duplicate ? "true" : "false",
                      PQgetvalue(res, 0, 2)[0] == 't' ? "true" : "false");
        char *body = strbuf_take(&b, NULL);
        if (!body) {
            gw_conn_close(c);
            return;
        }
        metrics_request(MP_UPDATE_STATUS, 200);
        gw_conn_respond(c, 200, body, 0, 0);
        free(body);
    } else if (strcmp(code, "unknown_release") == 0) {
        answer_error(c, 404, code, "no release of this version for this device's class", "version");
    } else if (strcmp(code, "not_offered") == 0) {
        answer_error(c, 409, code, "no rollout offered this release to this device", "version");
    } else if (strcmp(code, "already_installed") == 0) {
        answer_error(c, 409, code, "this device already reported this release installed", "state");
    } else {
        answer_error(c, 400, "bad_update_status", "the report was refused", "state");
    }
}

static void on_reported(PGresult *res, void *arg)
{
    status_job *j = arg;
    gw_conn *c = j->pending.c;
    int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (!ok)
        log_error("update status not recorded", "device_id", j->device_id, "error",
                  res ? PQresultErrorMessage(res) : "connection lost", NULL);
    if (c) {
        c->update = NULL;
        if (ok)
            answer_report(c, j, res);
        else /* an error is a rollback; a lost connection may have committed: the id says */
            unavailable(c, res ? "the report could not be recorded; nothing was written; retry"
                               : "the database connection was lost while recording the report; "
                                 "retry with the same id");
    }
    free(j);
}

void gw_update_status_post(gw_conn *c, gw_http_request *req)
{
    status_report r;
    const char *bad = NULL;
    char why[200];
    if (!gw_http_media_type_is(req->content_type, "application/json")) {
        answer_error(c, 415, "unsupported_media_type", "send Content-Type: application/json", NULL);
        return;
    }
    if (gw_routes_refuse_over_rate(c, MP_UPDATE_STATUS))
        return;
    if (req->body_len > STATUS_BODY_MAX) {
        gw_routes_refuse(c, MP_UPDATE_STATUS, 413, "payload_too_large",
                         "a status report is at most 4 KiB", 0);
        return;
    }
    if (parse_body(req, &r, &bad, why, sizeof(why)) < 0) {
        answer_error(c, 400, "bad_update_status", why, bad);
        return;
    }
    status_job *j = calloc(1, sizeof(*j));
    if (!j) {
        gw_conn_close(c);
        return;
    }
    j->pending.c = c;
    j->state = r.state;
    memcpy(j->device_id, c->device_id, sizeof(j->device_id));
    const char *params[] = {c->device_id, r.version, r.state,
                            r.has_reason ? r.reason : NULL, r.id, c->addr};
    c->update = j; /* before the query: its answer may come before it returns */
    if (pg_async_query(c->w->registry,
                       "SELECT code, rollout_id, halted FROM vigil_update_report($1, $2, $3, $4,"
                       " $5, $6)",
                       6, params, on_reported, j) < 0) {
        c->update = NULL;
        free(j);
        unavailable(c, "the database is unavailable; nothing was written; retry later");
    }
}
