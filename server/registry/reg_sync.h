/*
 * reg_sync.h - keeps the in-memory registry (reg_view.h) current: one
 * database connection on the main loop that LISTENs on vigil_registry,
 * loads the whole registry whenever it (re)connects (NOTIFYs sent while it
 * was away are lost), and applies each NOTIFY as it arrives, then asks the
 * workers to re-check the live connections of the devices concerned.
 *
 * NOTIFY payloads on vigil_registry (JSON):
 *   {"event":"certificate_revoked","serial":S,"device_id":D,"fingerprint":F}
 *   {"event":"device_status","device_id":D,"status":"active|quarantined|decommissioned"}
 *   {"event":"renewal_grant","device_id":D,"fingerprint":F,"state":"open|spent",
 *    "expires_at":EPOCH}       (reg_grant.h; expires_at with "open")
 *   {"event":"ca_changed","issuer":SKI}   (`vigilctl ca init|rotate`)
 *   {"event":"device_tags","device_id":D,"tags":[T,...]}   (`vigilctl device tag|untag`)
 * A revocation also forgets any renewal grant of that certificate.
 */
#ifndef VIGIL_REG_SYNC_H
#define VIGIL_REG_SYNC_H

#include <stdint.h>
#include <uv.h>

#include "server/core/pg_async.h"
#include "server/registry/reg_view.h"

typedef struct reg_sync reg_sync;

/* on_change(device_id or NULL for "everything") runs on the main loop. */
typedef void (*reg_sync_change_cb)(const char *device_id, void *arg);

reg_sync *reg_sync_start(uv_loop_t *loop, const char *database_url, reg_sync_change_cb on_change,
                         void *arg);
void reg_sync_stop(reg_sync *r);
/* on_ca_change runs on the main loop after a ca_changed NOTIFY and after
 * every full load but the first (a rotation may have been missed while
 * disconnected). */
void reg_sync_on_ca_change(reg_sync *r, void (*on_ca_change)(void *arg), void *arg);
/* 1 once a full load has completed since the last (re)connection. */
int reg_sync_loaded(const reg_sync *r);

/* The database's word on one certificate the view has never seen (issued a
 * moment ago, maybe by another node), asked on pg (a worker's own
 * connection, on its own loop) and taught to the view, absent rows
 * included, before done runs with answered = 1; answered = 0 when the
 * database could not say. -1, and done never runs, when pg is down or
 * memory is short. */
typedef void (*reg_sync_fetch_cb)(int answered, void *arg);
int reg_sync_fetch(pg_async_conn *pg, const uint8_t fp[REG_FP_LEN], reg_sync_fetch_cb done,
                   void *arg);

#endif
