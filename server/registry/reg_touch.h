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
 * flight, goes out as one statement of at most REG_TOUCH_ROWS_PER_UPDATE
 * rows (so a miss lookup on the same connection waits for one short
 * statement at most: 17 ms for 1,000 rows among 100,000 devices, measured
 * in psql on the machine of docs/PERFORMANCE.md). Rows wait while the connection is down and go out
 * when it is back (reg_touch_db_up). Best effort past that: a row that
 * cannot be kept (REG_TOUCH_MAX_ROWS already wait, or PostgreSQL refused
 * the statement) is forgotten in the view too, so the device's next
 * connection or report says it again.
 *
 * All functions must be called on the loop's thread.
 */
#ifndef VIGIL_REG_TOUCH_H
#define VIGIL_REG_TOUCH_H

#include <uv.h>

#include "protocol/incident.h"
#include "server/core/pg_async.h"

#define REG_TOUCH_MAX_ROWS 10000
#define REG_TOUCH_ROWS_PER_UPDATE 1000

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

/* pg came up (again): sends what waited. The owner of pg calls it from
 * pg's state callback. */
void reg_touch_db_up(reg_touch *t);

/* Calls cb once nothing waits or is in flight, or only rows the database
 * cannot take now (the SIGTERM drain). */
void reg_touch_when_idle(reg_touch *t, void (*cb)(void *arg), void *arg);

#endif
