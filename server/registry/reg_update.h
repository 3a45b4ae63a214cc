/*
 * reg_update.h - vigild's in-memory view of signed updates (migration
 * 0006): the JWKS a device fetches, the releases that are not revoked and
 * the live rollouts (running, paused, halted). The device port's update
 * paths decide from it, never from a query per request.
 *
 * A reg_update is an immutable snapshot with a reference count, like
 * gateway/gw_ca.c's CA snapshots: whoever holds one (reg_update_current)
 * may read it from any thread until it lets it go, so a download started
 * before a reload finishes on the view it began with.
 *
 * reg_update_sync keeps it current: one database connection on the main
 * loop that LISTENs on channel vigil_update and loads the whole view in
 * one statement (one snapshot of the database) when it connects, after
 * every reconnection (NOTIFYs sent while it was away are lost) and after
 * every NOTIFY on vigil_update ({"kind":"keys"|"release"|"rollout",
 * "id":N}, whatever the kind: the view is small). Loads are asynchronous
 * (pg_async) and at most one is in flight; a NOTIFY during one asks for
 * another after it.
 */
#ifndef VIGIL_REG_UPDATE_H
#define VIGIL_REG_UPDATE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "protocol/manifest.h"
#include "server/registry/reg_view.h"

typedef struct reg_release {
    int64_t id;
    char version[MANIFEST_VERSION_MAX + 1];
    char device_class[REG_ID_MAX + 1];
    int64_t security_version;
    char sha256[MANIFEST_SHA256_LEN + 1];
    int64_t size;       /* artifacts.size: the bytes GET /v1/artifacts serves */
    int chunk_size;     /* artifacts.chunk_size */
    int64_t expires_at; /* Unix seconds */
    char *manifest;     /* the compact JWS as stored */
    size_t manifest_len;
} reg_release;

typedef enum reg_rollout_state {
    REG_ROLLOUT_RUNNING = 0,
    REG_ROLLOUT_PAUSED,
    REG_ROLLOUT_HALTED
} reg_rollout_state;

typedef struct reg_rollout {
    int64_t id;
    int64_t release_id;
    char device_class[REG_ID_MAX + 1];
    char group_tag[REG_ID_MAX + 1]; /* "" when the rollout has no group */
    reg_rollout_state state;
    int basis_points;
} reg_rollout;

typedef struct reg_update reg_update;

/* A new reference to the current snapshot; NULL before the first load. */
reg_update *reg_update_current(void);
void reg_update_unref(reg_update *u);
/* Drops the current snapshot (at exit). */
void reg_update_shutdown(void);

/* The body of GET /v1/update/keys:
 * {"keys":[public JWKs, oldest first],"endorsements":[compact JWS, oldest first]}. */
const char *reg_update_jwks(const reg_update *u, size_t *len);
/* The live rollout of a device class, or NULL. */
const reg_rollout *reg_update_rollout(const reg_update *u, const char *device_class);
/* A release that is not revoked, by id, or NULL (unknown or revoked). */
const reg_release *reg_update_release(const reg_update *u, int64_t id);
/* A release, not revoked, of device_class whose artifact is sha256; NULL
 * if none. */
const reg_release *reg_update_artifact(const reg_update *u, const char *sha256,
                                       const char *device_class);

/* ---- keeping it current (main loop) ---- */

typedef struct reg_update_sync reg_update_sync;

reg_update_sync *reg_update_sync_start(uv_loop_t *loop, const char *database_url);
/* Closes the connection; frees once libuv is done with it. */
void reg_update_sync_stop(reg_update_sync *s);

#endif
