/*
 * gw_secevent.c - rate-limited security events (see gw_secevent.h).
 *
 * The process-wide limit is a GCRA on one atomic (no lock); the per-address
 * limit is a small lossy table per thread: a collision only ever lets an
 * extra event through, never blocks one forever.
 */
#include "server/gateway/gw_secevent.h"

#include "server/core/log.h"
#include "server/core/metrics.h"

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

typedef struct addr_slot {
    uint64_t hash;
    int64_t window_start;
    int count;
} addr_slot;

static _Thread_local addr_slot *addr_table;

void gw_secevent_init(const config *cfg)
{
    int64_t rate = cfg->security_events_per_second > 0 ? cfg->security_events_per_second : 1;
    interval_ns = 1000000000LL / rate;
    burst = rate * 2;
    addr_max_per_window = (int)(cfg->security_events_per_address > 0
                                    ? cfg->security_events_per_address : 1);
}

void gw_secevent_thread_exit(void)
{
    free(addr_table);
    addr_table = NULL;
}

static int global_allow(int64_t now)
{
    int64_t old = atomic_load(&global_tat), next;
    do {
        int64_t base = old > now ? old : now;
        if (base - now > burst * interval_ns)
            return 0;
        next = base + interval_ns;
    } while (!atomic_compare_exchange_weak(&global_tat, &old, next));
    return 1;
}

static int addr_allow(const char *addr, int64_t now)
{
    uint64_t h = 1469598103934665603ULL;
    if (!addr_table && !(addr_table = calloc(ADDR_SLOTS, sizeof(*addr_table))))
        return 1;
    for (const char *p = addr ? addr : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    addr_slot *s = &addr_table[h % ADDR_SLOTS];
    if (s->hash != h || now - s->window_start > ADDR_WINDOW_NS) {
        s->hash = h;
        s->window_start = now;
        s->count = 0;
    }
    return ++s->count <= addr_max_per_window;
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
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->occurred_at_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    snprintf(r->component, sizeof(r->component), "vigild");
    r->details = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
    return r->details ? 0 : -1;
}

void gw_secevent_record(ingest *ing, const char *type, const char *severity, const char *device_id,
               const char *addr, json_t *details)
{
    int64_t now = (int64_t)uv_hrtime();
    incident_batch b = {0};
    if (!addr_allow(addr, now) || !global_allow(now)) {
        metrics_add(&metrics.security_events_suppressed, 1);
        json_decref(details);
        return;
    }
    const char *reason = json_string_value(json_object_get(details, "reason"));
    log_info("security event", "type", type, "reason", reason, "device_id", device_id,
             "address", addr, NULL);
    if (build_event(&b, type, severity, details) < 0 ||
        !ingest_submit(ing, device_id, addr, 1, &b, NULL, NULL)) {
        /* The database is down or the queue full: the log line above is
         * what remains of it. */
        metrics_add(&metrics.security_events_suppressed, 1);
    } else {
        metrics_add(&metrics.security_events, 1);
    }
    incident_batch_free(&b);
    json_decref(details);
}
