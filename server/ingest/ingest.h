/*
 * ingest.h - durable incident ingestion with group commit, one per worker
 * loop.
 *
 * Requests from many connections queue here; whenever no flush is in
 * flight, everything queued (up to flush-max-rows) goes to PostgreSQL as one
 * statement in one transaction: reports are deduplicated on (device,
 * report id) through incident_keys and inserted into the partitioned
 * incidents table. Each request's callback runs only when that statement has
 * returned, that is, when its reports are committed (or known not to be), so
 * a 2xx is never sent for a report that is not durable. While one flush is
 * in flight the next batch fills.
 */
#ifndef VIGIL_INGEST_H
#define VIGIL_INGEST_H

#include <stddef.h>
#include <uv.h>

#include "protocol/incident.h"
#include "server/core/config.h"
#include "server/registry/reg_touch.h"

typedef struct ingest ingest;
typedef struct ingest_req ingest_req;

/* committed = 1: stored[i] says, for each item of the batch that was ok,
 * whether it was stored now (1) or was already stored (0, a duplicate).
 * committed = 0: the database failed; nothing of this request is
 * acknowledged, the device must retry. */
typedef void (*ingest_done_cb)(void *owner, int committed, const incident_batch *batch,
                               const unsigned char *stored);

/* touch: the worker's, told the firmware of each device's committed
 * reports (registry/reg_touch.h); it must outlive the ingest. */
ingest *ingest_new(uv_loop_t *loop, const config *cfg, int worker_index, reg_touch *touch);
/* Fails queued requests, closes the connection; frees once libuv is done. */
void ingest_free(ingest *ing);

int ingest_is_up(const ingest *ing);
size_t ingest_queued(const ingest *ing);   /* reports waiting or in flight */

/* ingest_submit's flags. */
#define INGEST_FROM_SERVER 1 /* the server's own events (source "server") */
#define INGEST_QUARANTINED 2 /* a device's reports sent while it is quarantined: marked */

/* Takes ownership of *batch (its items are moved out; the caller's struct
 * is zeroed). device_id is NULL only for server events without an
 * identity. Returns NULL without calling cb when the database is down or
 * the queue is full: answer 503 with Retry-After. */
ingest_req *ingest_submit(ingest *ing, const char *device_id, const char *source_addr, int flags,
                          incident_batch *batch, ingest_done_cb cb, void *owner);
/* The owner (a connection) went away: no callback will run; the reports
 * are still committed if they were queued. */
void ingest_detach(ingest_req *req);

/* Calls cb once nothing is queued or in flight (SIGTERM drain). */
void ingest_when_idle(ingest *ing, void (*cb)(void *arg), void *arg);

#endif
