/*
 * gw_secevent.c - rate-limited security events (see gw_secevent.h).
 *
 * The process-wide limit is a GCRA on one atomic (no lock); the per-address
 * limit is one small lossy window table that every worker counts in
 * (core/rate.h), so an address gets its cap whichever worker its
 * connections land on. A collision only ever lets an extra event through,
 * never blocks one forever. Each vigild counts alone: behind a load
 * balancer, an address may get the cap once per node.
 */
#include "server/gateway/gw_secevent.h"

#include "protocol/when.h"
#include "server/core/hash.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/rate.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#define ADDR_SLOTS 4096
#define ADDR_WINDOW_NS 10000000000LL   /* 10 s */

static _Atomic int64_t global_tat;
static int64_t interval_ns = 20000000;   /* 50 per second */
static int64_t burst = 100;
static int addr_max_per_window = 10;

static rate_window_slot addr_slots[ADDR_SLOTS];
static rate_window addr_window = RATE_WINDOW_INIT(addr_slots, ADDR_SLOTS, ADDR_WINDOW_NS);

void gw_secevent_init(const config *cfg)
{
    int64_t rate = cfg->security_events_per_second > 0 ? cfg->security_events_per_second : 1;
    interval_ns = 1000000000LL / rate;
    burst = rate * 2;
    addr_max_per_window = (int)(cfg->security_events_per_address > 0
                                    ? cfg->security_events_per_address : 1);
    rate_window_clear(&addr_window);
}

static int addr_allow(const char *addr, int64_t now)
{
    return rate_window_hit(&addr_window, hash_fnv1a(addr ? addr : ""), now) <= addr_max_per_window;
}

static int build_event(incident_batch *b, const char *type, const char *severity,
                       json_t *details)
{
    b->items = calloc(1, sizeof(*b->items));
    if (!b->items)
        return -1;
    b->n = 1;
    incident_item *it = &b->items[0];
    incident *r = &it->report;
    it->ok = 1;
    if (incident_uuid_v4(r->id) < 0)
        return -1;
    memcpy(it->id, r->id, sizeof(it->id));
    snprintf(r->type, sizeof(r->type), "%s", type);
    snprintf(r->severity, sizeof(r->severity), "%s", severity);
    r->occurred_at_us = when_now_us();
    snprintf(r->component, sizeof(r->component), "vigild");
    r->details = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
    return r->details ? 0 : -1;
}

void gw_secevent_record(ingest *ing, const char *type, const char *severity, const char *device_id,
                        const char *addr, json_t *details)
{
    int64_t now = (int64_t)uv_hrtime();
    incident_batch b = {0};
    if (!addr_allow(addr, now) || !rate_allow(&global_tat, now, interval_ns, burst)) {
        metrics_add(&metrics.security_events_suppressed, 1);
        json_decref(details);
        return;
    }
    const char *reason = json_string_value(json_object_get(details, "reason"));
    log_info("security event", "type", type, "reason", reason, "device_id", device_id,
             "address", addr, NULL);
    if (build_event(&b, type, severity, details) < 0 ||
        !ingest_submit(ing, device_id, addr, INGEST_FROM_SERVER, &b, NULL, NULL)) {
        /* The database is down or the queue full: the log line above is
         * what remains of it. */
        metrics_add(&metrics.security_events_suppressed, 1);
    } else {
        metrics_add(&metrics.security_events, 1);
    }
    incident_batch_free(&b);
    json_decref(details);
}
