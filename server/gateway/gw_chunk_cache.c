/*
 * gw_chunk_cache.c - the shared artifact chunk cache (see
 * gw_chunk_cache.h): a chained hash table and an LRU list under one
 * mutex, and atomic reference counts. The map holds one reference to each
 * chunk in it; a chunk is freed when its count reaches zero, which can
 * only happen once it has left the map.
 */
#include "server/gateway/gw_chunk_cache.h"

#include "protocol/manifest.h"
#include "server/core/hash.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_BUCKETS 64

typedef struct entry {
    gw_chunk pub; /* first: a gw_chunk * is its entry's address */
    _Atomic long refs;
    gw_chunk_release_fn release;
    void *owner;
    size_t footprint; /* what it counts against the limit */
    uint64_t hash;
    struct entry *chain;       /* the bucket's next; a victim list's next once out */
    struct entry *prev, *next; /* LRU: prev is more recently used */
    uint32_t chunk_size, idx;
    char sha256[MANIFEST_SHA256_LEN + 1];
} entry;

struct gw_chunk_cache {
    pthread_mutex_t mu;
    size_t limit, bytes, count;
    entry **buckets;
    size_t n_buckets; /* a power of two */
    entry *mru, *lru;
    metrics_chunk_cache *m;
};

/* Adds n to one of the counters, when the cache has them. */
#define COUNT(cc, field, n)                                                                        \
    do {                                                                                           \
        if ((cc)->m)                                                                               \
            metrics_add(&(cc)->m->field, (n));                                                     \
    } while (0)

/* The gauges, set to what the map holds now (cc->mu held). */
static void set_gauges(gw_chunk_cache *cc)
{
    if (cc->m) {
        atomic_store_explicit(&cc->m->bytes, (int64_t)cc->bytes, memory_order_relaxed);
        atomic_store_explicit(&cc->m->chunks, (int64_t)cc->count, memory_order_relaxed);
    }
}

static uint64_t key_hash(const char *sha256, uint32_t chunk_size, uint32_t idx)
{
    uint64_t h = hash_fnv1a(sha256) ^ (((uint64_t)chunk_size << 32 | idx) * 0x9e3779b97f4a7c15ULL);
    return h ^ (h >> 29);
}

gw_chunk_cache *gw_chunk_cache_new(size_t limit, metrics_chunk_cache *counters)
{
    gw_chunk_cache *cc = calloc(1, sizeof(*cc));
    if (!cc || !(cc->buckets = calloc(FIRST_BUCKETS, sizeof(*cc->buckets)))) {
        free(cc);
        return NULL;
    }
    pthread_mutex_init(&cc->mu, NULL);
    cc->n_buckets = FIRST_BUCKETS;
    cc->limit = limit;
    cc->m = counters;
    return cc;
}

/* ---- the map (cc->mu held) ---- */

static entry *find(gw_chunk_cache *cc, uint64_t h, const char *sha256, uint32_t chunk_size,
                   uint32_t idx)
{
    for (entry *e = cc->buckets[h & (cc->n_buckets - 1)]; e; e = e->chain)
        if (e->hash == h && e->idx == idx && e->chunk_size == chunk_size &&
            memcmp(e->sha256, sha256, MANIFEST_SHA256_LEN) == 0)
            return e;
    return NULL;
}

static void lru_unlink(gw_chunk_cache *cc, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        cc->mru = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        cc->lru = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(gw_chunk_cache *cc, entry *e)
{
    e->prev = NULL;
    e->next = cc->mru;
    if (cc->mru)
        cc->mru->prev = e;
    cc->mru = e;
    if (!cc->lru)
        cc->lru = e;
}

/* Doubles the buckets once there are as many chunks as buckets; a table
 * that cannot grow keeps working with longer chains. */
static void maybe_grow(gw_chunk_cache *cc)
{
    if (cc->count < cc->n_buckets)
        return;
    size_t n = cc->n_buckets * 2;
    entry **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < cc->n_buckets; i++)
        for (entry *e = cc->buckets[i], *next; e; e = next) {
            next = e->chain;
            e->chain = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(cc->buckets);
    cc->buckets = b;
    cc->n_buckets = n;
}

static void map_insert(gw_chunk_cache *cc, entry *e)
{
    maybe_grow(cc);
    entry **head = &cc->buckets[e->hash & (cc->n_buckets - 1)];
    e->chain = *head;
    *head = e;
    lru_push(cc, e);
    cc->bytes += e->footprint;
    cc->count++;
}

/* Takes e out of the map and puts it on *victims (the map's reference
 * goes with it: the caller drops it once the lock is released). */
static void map_remove(gw_chunk_cache *cc, entry *e, entry **victims)
{
    entry **p = &cc->buckets[e->hash & (cc->n_buckets - 1)];
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    lru_unlink(cc, e);
    cc->bytes -= e->footprint;
    cc->count--;
    e->chain = *victims;
    *victims = e;
}

/* Back under the limit: first the least recently used chunks that only the
 * map references (refs == 1: nobody else can take a reference without the
 * lock), then, if that is not enough, held ones (they leave the map; their
 * holders free them). */
static void evict(gw_chunk_cache *cc, entry **victims)
{
    for (entry *e = cc->lru, *prev; e && cc->bytes > cc->limit; e = prev) {
        prev = e->prev;
        if (atomic_load_explicit(&e->refs, memory_order_acquire) == 1)
            map_remove(cc, e, victims);
    }
    while (cc->bytes > cc->limit && cc->lru)
        map_remove(cc, cc->lru, victims);
}

/* ---- references ---- */

static void entry_free(entry *e)
{
    if (e->release)
        e->release(e->owner);
    free(e);
}

const gw_chunk *gw_chunk_ref(const gw_chunk *ch)
{
    entry *e = (entry *)ch;
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return ch;
}

void gw_chunk_unref(const gw_chunk *ch)
{
    entry *e = (entry *)ch;
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        entry_free(e);
}

/* Drops the map's references to the chunks taken out (the lock released),
 * counted as evictions unless the cache is going away. */
static void drop_victims(gw_chunk_cache *cc, entry *victims, int evicted)
{
    int64_t n = 0;
    for (; victims; n++) {
        entry *next = victims->chain;
        gw_chunk_unref(&victims->pub);
        victims = next;
    }
    if (evicted)
        COUNT(cc, evictions, n);
}

/* ---- lookups and additions ---- */

const gw_chunk *gw_chunk_cache_get(gw_chunk_cache *cc, const char *sha256, uint32_t chunk_size,
                                   uint32_t idx)
{
    uint64_t h = key_hash(sha256, chunk_size, idx);
    pthread_mutex_lock(&cc->mu);
    entry *e = find(cc, h, sha256, chunk_size, idx);
    if (e) {
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        lru_unlink(cc, e);
        lru_push(cc, e);
    }
    pthread_mutex_unlock(&cc->mu);
    if (e)
        COUNT(cc, hits, 1);
    else
        COUNT(cc, misses, 1);
    return e ? &e->pub : NULL;
}

const gw_chunk *gw_chunk_cache_add(gw_chunk_cache *cc, const char *sha256, uint32_t chunk_size,
                                   uint32_t idx, const char *data, size_t len, size_t footprint,
                                   gw_chunk_release_fn release, void *owner)
{
    entry *e = calloc(1, sizeof(*e)), *victims = NULL, *had = NULL;
    if (!e) {
        if (release)
            release(owner);
        return NULL;
    }
    e->pub.data = data;
    e->pub.len = len;
    e->release = release;
    e->owner = owner;
    e->footprint = footprint < len ? len : footprint;
    atomic_init(&e->refs, 1);     /* the caller's */
    if (e->footprint > cc->limit) /* limit 0 included: not cached */
        return &e->pub;
    memcpy(e->sha256, sha256, MANIFEST_SHA256_LEN);
    e->chunk_size = chunk_size;
    e->idx = idx;
    e->hash = key_hash(e->sha256, chunk_size, idx);
    pthread_mutex_lock(&cc->mu);
    if ((had = find(cc, e->hash, e->sha256, chunk_size, idx))) {
        atomic_fetch_add_explicit(&had->refs, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed); /* the map's */
        map_insert(cc, e);
        evict(cc, &victims);
        set_gauges(cc);
    }
    pthread_mutex_unlock(&cc->mu);
    if (had) {
        entry_free(e);
        return &had->pub;
    }
    drop_victims(cc, victims, 1);
    return &e->pub;
}

void gw_chunk_cache_free(gw_chunk_cache *cc)
{
    if (!cc)
        return;
    entry *victims = NULL;
    pthread_mutex_lock(&cc->mu);
    while (cc->lru)
        map_remove(cc, cc->lru, &victims);
    set_gauges(cc);
    pthread_mutex_unlock(&cc->mu);
    drop_victims(cc, victims, 0);
    pthread_mutex_destroy(&cc->mu);
    free(cc->buckets);
    free(cc);
}
