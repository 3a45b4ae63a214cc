/*
 * gw_routes.c - the device port's dispatch (see gw_routes.h): one path,
 * one file that serves it.
 */
#include "server/gateway/gw_routes.h"

#include "server/gateway/gw_http.h"
#include "server/gateway/gw_incidents.h"

#include <llhttp.h>
#include <string.h>

void gw_routes_refuse(gw_conn *c, metrics_path path, int status, const char *code,
                      const char *reason, int retry_after)
{
    metrics_request(path, status);
    gw_conn_respond_error(c, status, code, reason, retry_after, status == 400 || status == 413);
}

void gw_routes_dispatch(gw_conn *c, gw_http_request *req)
{
    if (strcmp(req->path, "/v1/incidents") == 0) {
        if (req->method != HTTP_POST) {
            c->allow = "POST";
            gw_routes_refuse(c, MP_INCIDENTS, 405, "method_not_allowed", "use POST", 0);
        } else {
            gw_incidents_post(c, req);
        }
        return;
    }
    gw_routes_refuse(c, MP_OTHER, 404, "not_found", "no such path on the device port", 0);
}
