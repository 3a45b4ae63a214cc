/*
 * reg_view.c - the in-memory registry (see reg_view.h): two open-addressing
 * hash tables, certificates by SHA-256 fingerprint and devices by id, under
 * one read-write lock. Device records are allocated one by one so that
 * certificate entries can point at them across table growth.
 */
#include "server/registry/reg_view.h"

#include "protocol/device_id.h"
#include "server/core/hash.h"
#include "server/core/rate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reg_device {
    char id[REG_ID_MAX + 1];
    reg_device_status status;
    char network[48];              /* "" until known */
    _Atomic int64_t tat_ns;        /* GCRA theoretical arrival time */
    _Atomic int64_t touched_s;     /* last time last_seen_at was written */
    _Atomic uint64_t firmware;     /* hash of the firmware version last written */
    _Atomic int64_t offered;       /* rollout whose offer is recorded (reg_view_note_offered) */
    _Atomic int downloads;         /* artifact downloads in progress (reg_view_download_begin) */
    const char *device_class;      /* interned (class_intern); NULL until known */
    char *tags;                        /* REG_TAGS form, NULL when none */
    uint8_t tags_known;                /* set by a NOTIFY: a miss-path row may be older */
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
typedef enum replay_kind { REPLAY_REVOKE, REPLAY_STATUS, REPLAY_TAGS } replay_kind;
typedef struct replay {
    struct replay *next;
    replay_kind kind;
    uint8_t fp[REG_FP_LEN];
    char device_id[REG_ID_MAX + 1];
    reg_device_status status;
    char *tags; /* REPLAY_TAGS: REG_TAGS form or NULL */
} replay;

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static tables live, loading;
static int is_loading;
static replay *replay_head;

/* ---- device classes, each kept once ---- */

/* A million devices of a few classes would each hold their class's name
 * (65 bytes with its room); they point at one copy instead. The copies
 * live until reg_view_shutdown: classes are few, and made by operators.
 * Under a mutex of its own: the loader fills rows without the view's
 * lock. */
static pthread_mutex_t classes_lock = PTHREAD_MUTEX_INITIALIZER;
static char **classes; /* open addressing; cap a power of two */
static size_t classes_cap, classes_n;

static char **class_slot(char **table, size_t cap, const char *name)
{
    size_t mask = cap - 1;
    for (size_t i = hash_fnv1a(name) & mask;; i = (i + 1) & mask)
        if (!table[i] || strcmp(table[i], name) == 0)
            return &table[i];
}

static int classes_grow(void)
{
    size_t cap = classes_cap ? classes_cap * 2 : 16;
    char **bigger = calloc(cap, sizeof(*bigger));
    if (!bigger)
        return -1;
    for (size_t i = 0; i < classes_cap; i++)
        if (classes[i])
            *class_slot(bigger, cap, classes[i]) = classes[i];
    free(classes);
    classes = bigger;
    classes_cap = cap;
    return 0;
}

/* The one copy of name; NULL when it is too long or memory is short. */
static const char *class_intern(const char *name)
{
    const char *out = NULL;
    if (strlen(name) > REG_ID_MAX)
        return NULL;
    pthread_mutex_lock(&classes_lock);
    if ((classes_n + 1) * 2 <= classes_cap || classes_grow() == 0) {
        char **slot = class_slot(classes, classes_cap, name);
        if (!*slot && (*slot = strdup(name)))
            classes_n++;
        out = *slot;
    }
    pthread_mutex_unlock(&classes_lock);
    return out;
}

static void classes_free(void)
{
    pthread_mutex_lock(&classes_lock);
    for (size_t i = 0; i < classes_cap; i++)
        free(classes[i]);
    free(classes);
    classes = NULL;
    classes_cap = classes_n = 0;
    pthread_mutex_unlock(&classes_lock);
}

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
    for (size_t i = 0; i < t->dev_cap && t->devices; i++) {
        if (t->devices[i])
            free(t->devices[i]->tags);
        free(t->devices[i]);
    }
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
        free(r->tags);
        free(r);
    }
    classes_free();
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
    if (row->device_class && row->device_class[0])
        c->device->device_class = class_intern(row->device_class);
    if (!c->device->tags_known) {
        free(c->device->tags);
        c->device->tags = row->tags && row->tags[0] ? strdup(row->tags) : NULL;
    }
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
static void apply_tags(tables *t, const char *device_id, const char *tags);

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
        if (r->kind == REPLAY_REVOKE)
            apply_revoke(&live, r->fp, r->device_id);
        else if (r->kind == REPLAY_STATUS)
            apply_status(&live, r->device_id, r->status);
        else
            apply_tags(&live, r->device_id, r->tags);
        free(r->tags);
        free(r);
    }
    pthread_rwlock_unlock(&lock);
}

static void remember(replay_kind kind, const uint8_t *fp, const char *device_id,
                     reg_device_status st, const char *tags)
{
    replay *r = calloc(1, sizeof(*r));
    if (!r)
        return;
    if (tags && !(r->tags = strdup(tags))) {
        free(r);
        return;
    }
    r->kind = kind;
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
        remember(REPLAY_REVOKE, fp, device_id, REG_DEV_ACTIVE, NULL);
    pthread_rwlock_unlock(&lock);
}

void reg_view_set_device_status(const char *device_id, reg_device_status status)
{
    pthread_rwlock_wrlock(&lock);
    apply_status(&live, device_id, status);
    if (is_loading)
        remember(REPLAY_STATUS, NULL, device_id, status, NULL);
    pthread_rwlock_unlock(&lock);
}

static void apply_tags(tables *t, const char *device_id, const char *tags)
{
    reg_device *d = device_get(t, device_id);
    if (!d)
        return;
    free(d->tags);
    d->tags = tags ? strdup(tags) : NULL;
    d->tags_known = 1;
}

/* The REG_TAGS form of tags (NULL when none is valid, or out of memory). */
static char *frame_tags(const char *const *tags, size_t n)
{
    size_t len = 1, kept = 0;
    for (size_t i = 0; i < n && kept < REG_TAGS_MAX; i++)
        if (device_id_valid(tags[i])) {
            len += strlen(tags[i]) + 1;
            kept++;
        }
    char *out = kept ? malloc(len + 1) : NULL;
    if (!out)
        return NULL;
    char *p = out;
    *p++ = '\n';
    for (size_t i = 0; i < n && kept > 0; i++)
        if (device_id_valid(tags[i])) {
            size_t k = strlen(tags[i]);
            memcpy(p, tags[i], k);
            p += k;
            *p++ = '\n';
            kept--;
        }
    *p = '\0';
    return out;
}

void reg_view_set_device_tags(const char *device_id, const char *const *tags, size_t n)
{
    char *framed = frame_tags(tags, n);
    pthread_rwlock_wrlock(&lock);
    apply_tags(&live, device_id, framed);
    if (is_loading)
        remember(REPLAY_TAGS, NULL, device_id, REG_DEV_ACTIVE, framed);
    pthread_rwlock_unlock(&lock);
    free(framed);
}

static int has_tag(const char *tags, const char *tag)
{
    char needle[REG_ID_MAX + 3];
    if (!tags || !device_id_valid(tag))
        return 0;
    snprintf(needle, sizeof(needle), "\n%s\n", tag);
    return strstr(tags, needle) != NULL;
}

int reg_view_device_facts_group(const char *device_id, reg_view_group_fn *group, const void *arg,
                                reg_device_facts *out)
{
    int rc = -1;
    pthread_rwlock_rdlock(&lock);
    reg_device **slot = device_slot(&live, device_id);
    if (*slot) {
        const reg_device *d = *slot;
        out->status = d->status;
        snprintf(out->device_class, sizeof(out->device_class), "%s",
                 d->device_class ? d->device_class : "");
        const char *tag = group(out->device_class, arg);
        out->in_group = !tag || has_tag(d->tags, tag);
        out->offered_rollout = atomic_load(&(*slot)->offered);
        rc = 0;
    }
    pthread_rwlock_unlock(&lock);
    return rc;
}

/* reg_view_device_facts's group: the one tag it was given, whatever the
 * class. */
static const char *given_tag(const char *device_class, const void *tag)
{
    (void)device_class;
    return tag;
}

int reg_view_device_facts(const char *device_id, const char *tag, reg_device_facts *out)
{
    return reg_view_device_facts_group(device_id, given_tag, tag, out);
}

void reg_view_note_offered(const char *device_id, int64_t rollout_id)
{
    pthread_rwlock_rdlock(&lock);
    reg_device **slot = device_slot(&live, device_id);
    if (*slot)
        atomic_store(&(*slot)->offered, rollout_id);
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

int reg_view_download_begin(const char *device_id, int max)
{
    int allowed = 0;
    pthread_rwlock_rdlock(&lock);
    reg_device **slot = device_slot(&live, device_id);
    if (*slot) {
        int n = atomic_load(&(*slot)->downloads);
        while (n < max && !atomic_compare_exchange_weak(&(*slot)->downloads, &n, n + 1))
            ;
        allowed = n < max;
    }
    pthread_rwlock_unlock(&lock);
    return allowed;
}

void reg_view_download_end(const char *device_id)
{
    pthread_rwlock_rdlock(&lock);
    reg_device **slot = device_slot(&live, device_id);
    if (*slot) {
        /* never below 0: a full reload starts every count again at 0 */
        int n = atomic_load(&(*slot)->downloads);
        while (n > 0 && !atomic_compare_exchange_weak(&(*slot)->downloads, &n, n - 1))
            ;
    }
    pthread_rwlock_unlock(&lock);
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
