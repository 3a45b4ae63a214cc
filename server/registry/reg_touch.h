/*
 * reg_touch.h - what the registry learns about a device from its traffic:
 * when and from where it last connected (devices.last_seen_at,
 * last_address) and which firmware it runs (firmware_version), written in
 * batches on the worker's registry connection, one per worker loop.
 *
 * A fleet reconnecting in a storm must not become a storm of UPDATEs: a
 * device's last-seen is written at most once a minute per process (unless
 * its network changed), its firmware only when it differs from the one last
 * noted, and what is noted in one loop iteration, or while an UPDATE is in
 * flight, goes out as one statement. Best effort by design: what cannot be
 * written (the database is down, 10,000 rows already wait) is said again
 * by the device's next connection or report.
 *
 * All functions must be called on the loop's thread.
 */
#ifndef VIGIL_REG_TOUCH_H
#define VIGIL_REG_TOUCH_H

#include <uv.h>

#include "protocol/incident.h"
#include "server/core/pg_async.h"

typedef struct reg_touch reg_touch;

/* Writes through pg, which the caller owns and closes after reg_touch_free. */
reg_touch *reg_touch_new(uv_loop_t *loop, pg_async_conn *pg);
/* Forgets what is not written yet; frees once libuv has released its
 * handle (an UPDATE in flight finishes without it). */
void reg_touch_free(reg_touch *t);

/* The device authenticated a connection from addr; network_changed: from a
 * network it was not seen on before, written even within the minute. */
void reg_touch_connected(reg_touch *t, const char *device_id, const char *addr,
                         int network_changed);
/* Reports of the device were committed: notes the firmware of the newest
 * one (a late report from before an update never winds it back). */
void reg_touch_reports(reg_touch *t, const char *device_id, const incident_batch *batch);

/* Calls cb once nothing waits or is in flight (the SIGTERM drain). */
void reg_touch_when_idle(reg_touch *t, void (*cb)(void *arg), void *arg);

#endif
