/*
 * gw_routes.c - the device port's dispatch (see gw_routes.h): one path,
 * one file that serves it (gw_incidents.c, gw_est.c, gw_update.c,
 * gw_update_keys.c, gw_update_status.c, gw_artifact.c).
 */
#include "server/gateway/gw_routes.h"

#include "server/gateway/gw_artifact.h"
#include "server/gateway/gw_est.h"
#include "server/gateway/gw_http.h"
#include "server/gateway/gw_incidents.h"
#include "server/gateway/gw_secevent.h"
#include "server/gateway/gw_update.h"
#include "server/registry/reg_view.h"

#include <llhttp.h>
#include <string.h>
#include <time.h>

void gw_routes_refuse(gw_conn *c, metrics_path path, int status, const char *code,
                      const char *reason, int retry_after)
{
    metrics_request(path, status);
    gw_conn_respond_error(c, status, code, reason, retry_after, status == 400 || status == 413);
}

int gw_routes_over_rate(gw_conn *c)
{
    const config *cfg = c->w->cfg;
    if (reg_view_allow_request(c->device_id, (int64_t)uv_hrtime(), cfg->device_rate,
                               cfg->device_burst))
        return 0;
    gw_secevent_record(c->w->ing, "x-rate-limited", "warning", c->device_id, c->addr,
                       json_pack("{s:s}", "reason", "device_requests"));
    return 1;
}

int gw_routes_refuse_over_rate(gw_conn *c, metrics_path path)
{
    if (!gw_routes_over_rate(c))
        return 0;
    gw_routes_refuse(c, path, 429, "rate_limited", "too many requests from this device; slow down",
                     1);
    return 1;
}

/* The certificate expired while its keep-alive connection stayed open: no
 * request, renewal least of all (an expired certificate renews only on a
 * renewal grant, which a new handshake checks). */
static int cert_expired(gw_conn *c)
{
    if (c->grant_only || time(NULL) < c->cert_not_after)
        return 0;
    gw_secevent_record(c->w->ing, "auth_failure", "warning", c->device_id, c->addr,
                       json_pack("{s:s,s:s}", "reason", "expired", "when", "mid_connection"));
    metrics_request(MP_OTHER, 403);
    gw_conn_respond_error(c, 403, "forbidden", "this certificate has expired", 0, 1);
    return 1;
}

static void wrong_method(gw_conn *c, metrics_path path, const char *allow)
{
    c->allow = allow;
    gw_routes_refuse(c, path, 405, "method_not_allowed",
                     strcmp(allow, "POST") == 0 ? "use POST" : "use GET", 0);
}

/* 1 when the request's path (without its query) is path. */
static int path_is(const gw_http_request *req, const char *path)
{
    size_t n = gw_http_path_len(req);
    return n == strlen(path) && strncmp(req->path, path, n) == 0;
}

/* The update paths; 0 when the request is for none of them. */
static int dispatch_update(gw_conn *c, gw_http_request *req)
{
    int get = req->method == HTTP_GET || req->method == HTTP_HEAD;
    if (path_is(req, GW_UPDATE_PATH))
        get ? gw_update_get(c, req) : wrong_method(c, MP_UPDATE, "GET, HEAD");
    else if (path_is(req, GW_UPDATE_KEYS_PATH))
        get ? gw_update_keys_get(c, req) : wrong_method(c, MP_UPDATE_KEYS, "GET, HEAD");
    else if (path_is(req, GW_UPDATE_STATUS_PATH))
        req->method == HTTP_POST ? gw_update_status_post(c, req)
                                 : wrong_method(c, MP_UPDATE_STATUS, "POST");
    else if (strncmp(req->path, GW_ARTIFACT_PREFIX, strlen(GW_ARTIFACT_PREFIX)) == 0)
        get ? gw_artifact_get(c, req) : wrong_method(c, MP_ARTIFACTS, "GET, HEAD");
    else
        return 0;
    return 1;
}

void gw_routes_dispatch(gw_conn *c, gw_http_request *req)
{
    if (cert_expired(c))
        return;
    if (strncmp(req->path, GW_EST_PREFIX, strlen(GW_EST_PREFIX)) == 0) {
        gw_est_dispatch(c, req);
        return;
    }
    if (c->grant_only) {
        gw_est_refuse_grant_only(c);
        return;
    }
    if (strcmp(req->path, "/v1/incidents") == 0) {
        if (req->method != HTTP_POST) {
            c->allow = "POST";
            gw_routes_refuse(c, MP_INCIDENTS, 405, "method_not_allowed", "use POST", 0);
        } else {
            gw_incidents_post(c, req);
        }
        return;
    }
    if (dispatch_update(c, req))
        return;
    gw_routes_refuse(c, MP_OTHER, 404, "not_found", "no such path on the device port", 0);
}
