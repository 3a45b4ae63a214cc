/*
 * reg_view.c - the in-memory registry (see reg_view.h): two open-addressing
 * hash tables, certificates by SHA-256 fingerprint and devices by id, under
 * one read-write lock. Device records are allocated one by one so that
 * certificate entries can point at them across table growth.
 */
#include "server/registry/reg_view.h"

#include "server/core/hash.h"
#include "server/core/rate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct reg_device {
    char id[REG_ID_MAX + 1];
    reg_device_status status;
    char network[48];              /* "" until known */
    _Atomic int64_t tat_ns;        /* GCRA theoretical arrival time */
    _Atomic int64_t touched_s;     /* last time last_seen_at was written */
    _Atomic uint64_t firmware;     /* hash of the firmware version last written */
} reg_device;

typedef struct reg_cert {
    uint8_t fp[REG_FP_LEN];
    uint8_t used;
    uint8_t active;                /* certificate row status is 'active' */
    uint8_t registered;            /* 0: known to be absent from the database */
    time_t not_after;
    reg_device *device;            /* NULL when unregistered */
} reg_cert;

typedef struct tables {
    reg_cert *certs;
    size_t cert_cap, cert_n;       /* cap is a power of two */
    reg_device **devices;
    size_t dev_cap, dev_n;
} tables;

/* A change made while a full reload is being built, replayed after it. */
typedef struct replay {
    struct replay *next;
    int is_revoke;
    uint8_t fp[REG_FP_LEN];
    char device_id[REG_ID_MAX + 1];
    reg_device_status status;
} replay;

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static tables live, loading;
static int is_loading;
static replay *replay_head;

/* ---- hashing and tables ---- */

static uint64_t hash_fp(const uint8_t *fp)
{
    uint64_t h;
    memcpy(&h, fp, sizeof(h));     /* SHA-256 output is already uniform */
    return h;
}

static int tables_init(tables *t)
{
    memset(t, 0, sizeof(*t));
    t->cert_cap = 1024;
    t->dev_cap = 1024;
    t->certs = calloc(t->cert_cap, sizeof(*t->certs));
    t->devices = calloc(t->dev_cap, sizeof(*t->devices));
    return t->certs && t->devices ? 0 : -1;
}

static void tables_free(tables *t)
{
    for (size_t i = 0; i < t->dev_cap && t->devices; i++)
        free(t->devices[i]);
    free(t->devices);
    free(t->certs);
    memset(t, 0, sizeof(*t));
}

static reg_cert *cert_slot(const tables *t, const uint8_t *fp)
{
    size_t mask = t->cert_cap - 1;
    for (size_t i = hash_fp(fp) & mask;; i = (i + 1) & mask)
        if (!t->certs[i].used || memcmp(t->certs[i].fp, fp, REG_FP_LEN) == 0)
            return &t->certs[i];
}

static reg_device **device_slot(const tables *t, const char *id)
{
    size_t mask = t->dev_cap - 1;
    for (size_t i = hash_fnv1a(id) & mask;; i = (i + 1) & mask)
        if (!t->devices[i] || strcmp(t->devices[i]->id, id) == 0)
            return &t->devices[i];
}

static int grow_certs(tables *t)
{
    tables bigger = *t;
    bigger.cert_cap = t->cert_cap * 2;
    if (!(bigger.certs = calloc(bigger.cert_cap, sizeof(*bigger.certs))))
        return -1;
    for (size_t i = 0; i < t->cert_cap; i++)
        if (t->certs[i].used)
            *cert_slot(&bigger, t->certs[i].fp) = t->certs[i];
    free(t->certs);
    t->certs = bigger.certs;
    t->cert_cap = bigger.cert_cap;
    return 0;
}

static int grow_devices(tables *t)
{
    tables bigger = *t;
    bigger.dev_cap = t->dev_cap * 2;
    if (!(bigger.devices = calloc(bigger.dev_cap, sizeof(*bigger.devices))))
        return -1;
    for (size_t i = 0; i < t->dev_cap; i++)
        if (t->devices[i])
            *device_slot(&bigger, t->devices[i]->id) = t->devices[i];
    free(t->devices);
    t->devices = bigger.devices;
    t->dev_cap = bigger.dev_cap;
    return 0;
}

/* Finds or creates a device record; NULL when out of memory. */
static reg_device *device_get(tables *t, const char *id)
{
    reg_device **slot = device_slot(t, id);
    if (*slot)
        return *slot;
    if ((t->dev_n + 1) * 4 > t->dev_cap * 3) {
        if (grow_devices(t) < 0)
            return NULL;
        slot = device_slot(t, id);
    }
    reg_device *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    strncpy(d->id, id, REG_ID_MAX);
    *slot = d;
    t->dev_n++;
    return d;
}

/* Finds or creates a certificate entry; NULL when out of memory. */
static reg_cert *cert_get(tables *t, const uint8_t *fp, int *created)
{
    reg_cert *c = cert_slot(t, fp);
    *created = !c->used;
    if (c->used)
        return c;
    if ((t->cert_n + 1) * 4 > t->cert_cap * 3) {
        if (grow_certs(t) < 0)
            return NULL;
        c = cert_slot(t, fp);
    }
    memset(c, 0, sizeof(*c));
    memcpy(c->fp, fp, REG_FP_LEN);
    c->used = 1;
    t->cert_n++;
    return c;
}

/* ---- public ---- */

int reg_view_init(void)
{
    return tables_init(&live);
}

void reg_view_shutdown(void)
{
    pthread_rwlock_wrlock(&lock);
    tables_free(&live);
    tables_free(&loading);
    while (replay_head) {
        replay *r = replay_head;
        replay_head = r->next;
        free(r);
    }
    pthread_rwlock_unlock(&lock);
}

const char *reg_view_verdict_name(reg_verdict v)
{
    static const char *const names[] = {"ok", "unknown", "revoked", "unregistered", "expired",
                                        "decommissioned"};
    return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] : "unknown";
}

int reg_view_device_status_parse(const char *s, reg_device_status *out)
{
    if (strcmp(s, "active") == 0)
        *out = REG_DEV_ACTIVE;
    else if (strcmp(s, "quarantined") == 0)
        *out = REG_DEV_QUARANTINED;
    else if (strcmp(s, "decommissioned") == 0)
        *out = REG_DEV_DECOMMISSIONED;
    else
        return -1;
    return 0;
}

reg_answer reg_view_lookup(const uint8_t fp[REG_FP_LEN], time_t now)
{
    reg_answer a = {REG_MISS, "", REG_DEV_ACTIVE};
    pthread_rwlock_rdlock(&lock);
    reg_cert *c = cert_slot(&live, fp);
    if (c->used) {
        if (c->device) {
            memcpy(a.device_id, c->device->id, sizeof(a.device_id));
            a.device_status = c->device->status;
        }
        a.verdict = !c->registered ? REG_UNREGISTERED
                    : !c->active ? REG_REVOKED
                    : c->not_after <= now ? REG_EXPIRED
                    : a.device_status == REG_DEV_DECOMMISSIONED ? REG_DECOMMISSIONED : REG_OK;
    }
    pthread_rwlock_unlock(&lock);
    return a;
}

static void fill_entry(tables *t, reg_cert *c, const reg_cert_row *row)
{
    c->registered = (uint8_t)row->found;
    if (!row->found)
        return;
    c->active = (uint8_t)row->cert_active;
    c->not_after = row->not_after;
    c->device = device_get(t, row->device_id);
    if (!c->device)
        return;
    reg_device_status st = REG_DEV_ACTIVE;
    if (row->device_status && reg_view_device_status_parse(row->device_status, &st) == 0)
        c->device->status = st;
    if (row->last_address && !c->device->network[0])
        strncpy(c->device->network, row->last_address, sizeof(c->device->network) - 1);
}

void reg_view_learn(const uint8_t fp[REG_FP_LEN], const reg_cert_row *row)
{
    int created = 0;
    pthread_rwlock_wrlock(&lock);
    reg_cert *c = cert_get(&live, fp, &created);
    if (c && created)
        fill_entry(&live, c, row);
    pthread_rwlock_unlock(&lock);
}

void reg_view_load_begin(void)
{
    pthread_rwlock_wrlock(&lock);
    tables_free(&loading);
    is_loading = tables_init(&loading) == 0;
    pthread_rwlock_unlock(&lock);
}

void reg_view_load_row(const uint8_t fp[REG_FP_LEN], const reg_cert_row *row)
{
    int created = 0;
    /* loading is only touched by the loader thread until commit */
    reg_cert *c = is_loading ? cert_get(&loading, fp, &created) : NULL;
    if (c)
        fill_entry(&loading, c, row);
}

static void apply_revoke(tables *t, const uint8_t *fp, const char *device_id);
static void apply_status(tables *t, const char *device_id, reg_device_status st);

void reg_view_load_commit(void)
{
    pthread_rwlock_wrlock(&lock);
    if (is_loading) {
        tables old = live;
        live = loading;
        memset(&loading, 0, sizeof(loading));
        tables_free(&old);
        is_loading = 0;
    }
    while (replay_head) {
        replay *r = replay_head;
        replay_head = r->next;
        if (r->is_revoke)
            apply_revoke(&live, r->fp, r->device_id);
        else
            apply_status(&live, r->device_id, r->status);
        free(r);
    }
    pthread_rwlock_unlock(&lock);
}

static void remember(int is_revoke, const uint8_t *fp, const char *device_id,
                     reg_device_status st)
{
    replay *r = calloc(1, sizeof(*r));
    if (!r)
        return;
    r->is_revoke = is_revoke;
    if (fp)
        memcpy(r->fp, fp, REG_FP_LEN);
    strncpy(r->device_id, device_id, REG_ID_MAX);
    r->status = st;
    r->next = replay_head;
    replay_head = r;
}

static void apply_revoke(tables *t, const uint8_t *fp, const char *device_id)
{
    int created = 0;
    reg_cert *c = cert_get(t, fp, &created);
    if (!c)
        return;
    if (created) {
        c->registered = 1;
        c->device = device_get(t, device_id);
    }
    c->active = 0;
}

static void apply_status(tables *t, const char *device_id, reg_device_status st)
{
    reg_device *d = device_get(t, device_id);
    if (d)
        d->status = st;
}

void reg_view_revoke(const uint8_t fp[REG_FP_LEN], const char *device_id)
{
    pthread_rwlock_wrlock(&lock);
    apply_revoke(&live, fp, device_id);
    if (is_loading)
        remember(1, fp, device_id, REG_DEV_ACTIVE);
    pthread_rwlock_unlock(&lock);
}

void reg_view_set_device_status(const char *device_id, reg_device_status status)
{
    pthread_rwlock_wrlock(&lock);
    apply_status(&live, device_id, status);
    if (is_loading)
        remember(0, NULL, device_id, status);
    pthread_rwlock_unlock(&lock);
}

int reg_view_allow_request(const char *device_id, int64_t now_ns, int64_t rate_per_s, int64_t burst)
{
    int64_t interval = 1000000000LL / (rate_per_s > 0 ? rate_per_s : 1);
    int allowed = 1;
    pthread_rwlock_rdlock(&lock);
    reg_device **slot = device_slot(&live, device_id);
    if (*slot)
        allowed = rate_allow(&(*slot)->tat_ns, now_ns, interval, burst);
    pthread_rwlock_unlock(&lock);
    return allowed;
}

int reg_view_note_network(const char *device_id, const char *network)
{
    int changed = 0;
    pthread_rwlock_wrlock(&lock);
    reg_device *d = device_get(&live, device_id);
    if (d && strcmp(d->network, network) != 0) {
        changed = d->network[0] != '\0';
        strncpy(d->network, network, sizeof(d->network) - 1);
    }
    pthread_rwlock_unlock(&lock);
    return changed;
}

#define TOUCH_INTERVAL_S 60

int reg_view_firmware_changed(const char *device_id, uint64_t firmware_hash)
{
    int changed = 0;
    pthread_rwlock_rdlock(&lock);
    reg_device **slot = device_slot(&live, device_id);
    if (*slot)
        changed = atomic_exchange(&(*slot)->firmware, firmware_hash) != firmware_hash;
    pthread_rwlock_unlock(&lock);
    return changed;
}

int reg_view_touch_due(const char *device_id, int64_t now_s)
{
    int due = 1;
    pthread_rwlock_rdlock(&lock);
    reg_device **slot = device_slot(&live, device_id);
    if (*slot) {
        int64_t last = atomic_load(&(*slot)->touched_s);
        due = now_s - last >= TOUCH_INTERVAL_S &&
              atomic_compare_exchange_strong(&(*slot)->touched_s, &last, now_s);
    }
    pthread_rwlock_unlock(&lock);
    return due;
}

void reg_view_forget_touch(const char *device_id)
{
    pthread_rwlock_rdlock(&lock);
    reg_device **slot = device_slot(&live, device_id);
    if (*slot) {
        atomic_store(&(*slot)->touched_s, 0);
        atomic_store(&(*slot)->firmware, 0);
    }
    pthread_rwlock_unlock(&lock);
}

size_t reg_view_count(void)
{
    pthread_rwlock_rdlock(&lock);
    size_t n = live.cert_n;
    pthread_rwlock_unlock(&lock);
    return n;
}
