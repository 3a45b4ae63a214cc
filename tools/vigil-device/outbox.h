/*
 * outbox.h - the update status reports (POST /v1/update/status) not yet
 * answered: each is queued on disk (queue.h, one file per report, its id
 * made by the device) before it is sent, and leaves the queue only on the
 * server's verdict, so an "installed" or "failed" survives a dropped link
 * or a crash and a retry sends the same id (which changes nothing on the
 * server). Reports go out in the order they were made.
 */
#ifndef VIGIL_DEVICE_OUTBOX_H
#define VIGIL_DEVICE_OUTBOX_H

#include "tools/vigil-device/client.h"

#include <stddef.h>

#define OUTBOX_REASON_MAX 512

typedef struct outbox_totals {
    size_t sent, refused, left;
    int identity; /* the server refused this device's certificate */
} outbox_totals;

/* Queues a report of state ("downloading", "installed", "failed") for
 * version; reason may be NULL (required for failed; cut to 512 bytes). */
int outbox_put(const char *dir, const char *version, const char *state, const char *reason);
/* Sends what is queued, oldest first, stopping at the first that cannot
 * be sent now (429, 503, network). A 4xx verdict moves the report to
 * DIR/rejected/ with the server's answer. */
void outbox_flush(devc *c, const char *dir, outbox_totals *t);

#endif
