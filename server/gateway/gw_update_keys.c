/*
 * gw_update_keys.c - GET /v1/update/keys (see gw_update.h): the JWKS of
 * the release keys, {"keys":[...],"endorsements":[...]}, from the update
 * view in memory. A device trusts none of it by itself: it verifies
 * manifests with keys it pinned, and learns a new key only from an
 * endorsement that a pinned key signed (docs/DEVICE-PORT.md).
 */
#include "server/core/metrics.h"
#include "server/gateway/gw_routes.h"
#include "server/gateway/gw_update.h"
#include "server/registry/reg_update.h"

#define JWKS_TYPE "application/jwk-set+json"

void gw_update_keys_get(gw_conn *c, gw_http_request *req)
{
    size_t len = 0;
    (void)req;
    if (gw_routes_refuse_over_rate(c, MP_UPDATE_KEYS))
        return;
    reg_update *u = reg_update_current();
    const char *body = u ? reg_update_jwks(u, &len) : NULL;
    if (body) {
        metrics_request(MP_UPDATE_KEYS, 200);
        gw_conn_respond_body(c, 200, JWKS_TYPE, "Cache-Control: no-store\r\n", body, len, 0, 0);
    } else {
        gw_routes_refuse(c, MP_UPDATE_KEYS, 503, "unavailable",
                         "the release keys are not loaded yet; retry later",
                         (int)c->w->cfg->retry_after_s);
    }
    reg_update_unref(u);
}
