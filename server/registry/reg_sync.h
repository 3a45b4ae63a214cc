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
 */
#ifndef VIGIL_REG_SYNC_H
#define VIGIL_REG_SYNC_H

#include <uv.h>

typedef struct reg_sync reg_sync;

/* on_change(device_id or NULL for "everything") runs on the main loop. */
typedef void (*reg_sync_change_cb)(const char *device_id, void *arg);

reg_sync *reg_sync_start(uv_loop_t *loop, const char *database_url, reg_sync_change_cb on_change,
                       void *arg);
void reg_sync_stop(reg_sync *r);
/* 1 once a full load has completed since the last (re)connection. */
int reg_sync_loaded(const reg_sync *r);

/* The SQL selecting registry rows: fingerprint, device_id, active (bool),
 * not_after (epoch int8), device status, last network; $1 filters one
 * fingerprint when not NULL. Shared with the workers' miss lookups. */
extern const char reg_sync_select_sql[];

/* Fills a reg_cert_row from row i of res (columns as above). */
struct reg_cert_row;
#include <libpq-fe.h>
void reg_sync_row(PGresult *res, int i, struct reg_cert_row *row);

#endif
