/*
 * api_ops.c - the endpoints a load balancer, Prometheus or a client
 * generator calls: liveness, readiness, metrics (no token needed) and the
 * OpenAPI description of the whole API (docs/openapi.json, compiled in).
 */
#include "server/api/api_handlers.h"

#include "server/api/api_metrics.h"
#include "server/api/api_param.h"

#include <stdlib.h>
#include <string.h>

extern const char api_openapi_json[];
extern const size_t api_openapi_json_len;

static const char *const no_params[] = {NULL};

void api_ops_healthz(api_req *r)
{
    if (api_param_only(r, no_params) < 0)
        return;
    api_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready: the database answers and a CA is loaded for the device port. */
void api_ops_readyz(api_req *r)
{
    if (api_param_only(r, no_params) < 0)
        return;
    db_error err;
    int db_ok = 0;
    PGconn *db = api_pool_lease(r->pool, 1000, &err);
    if (db) {
        PGresult *res = db_query(db, "SELECT 1", 0, NULL, &err);
        db_ok = res != NULL;
        PQclear(res);
        api_pool_return(r->pool, db, !db_ok);
    }
    int ca_ok = r->device_port_ready && r->device_port_ready();
    int ready = db_ok && ca_ok;
    api_reply_json(r, ready ? 200 : 503,
                   json_pack("{s:s, s:s, s:s}", "status", ready ? "ready" : "not_ready", "database",
                             db_ok ? "ok" : "down", "ca", ca_ok ? "ok" : "missing"));
}

void api_ops_metrics(api_req *r)
{
    if (api_param_only(r, no_params) < 0)
        return;
    size_t len = 0;
    char *text = api_metrics_render(&len);
    if (!text) {
        api_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    api_reply(r, 200, API_METRICS_CONTENT_TYPE, text, len);
}

void api_ops_openapi(api_req *r)
{
    if (api_param_only(r, no_params) < 0)
        return;
    api_reply_static(r, 200, "application/json; charset=utf-8", api_openapi_json,
                     api_openapi_json_len);
}
