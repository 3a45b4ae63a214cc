/*
 * gw_update.h - the device port's update paths (docs/DEVICE-PORT.md,
 * "Updates"), one file each:
 *
 *   GET  /v1/update         the manifest this device should install next,
 *                           or 204 and why not (gw_update.c)
 *   GET  /v1/update/keys    the JWKS of the release keys (gw_update_keys.c)
 *   POST /v1/update/status  the device's progress (gw_update_status.c)
 *   GET  /v1/artifacts/...  the artifact bytes (gw_artifact.c)
 *
 * Decisions come from memory: the device's class, tags and status
 * (registry/reg_view.h) and the update view of keys, releases and live
 * rollouts (registry/reg_update.h). The database is asked only to record
 * a device's first offer of a rollout and its status reports, and to read
 * artifact chunks; those answers wait for the commit.
 *
 * A job in flight for a connection (c->update) starts with a
 * gw_update_pending, whose c is cleared when the connection goes, so the
 * job finishes alone and frees itself.
 */
#ifndef VIGIL_GW_UPDATE_H
#define VIGIL_GW_UPDATE_H

#include "server/gateway/gw_conn.h"

#define GW_UPDATE_PATH "/v1/update"
#define GW_UPDATE_KEYS_PATH "/v1/update/keys"
#define GW_UPDATE_STATUS_PATH "/v1/update/status"

typedef struct gw_update_pending {
    gw_conn *c; /* NULL once the connection has gone */
} gw_update_pending;

/* GET (or HEAD) /v1/update. */
void gw_update_get(gw_conn *c, gw_http_request *req);
/* GET (or HEAD) /v1/update/keys. */
void gw_update_keys_get(gw_conn *c, gw_http_request *req);
/* POST /v1/update/status. */
void gw_update_status_post(gw_conn *c, gw_http_request *req);

/* The connection is closing: a job in flight finishes without it. */
void gw_update_release(gw_conn *c);

#endif
