/*
 * gw_track.c - live connection bookkeeping (see gw_track.h): two chained hash
 * tables under one mutex. Entries disappear when their count drops to zero,
 * so memory follows the live connections, not the history.
 */
#include "server/gateway/gw_track.h"

#include "server/core/hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 65536
#define CERT_ADDRS 4

typedef struct addr_entry {
    struct addr_entry *next;
    char addr[GW_TRACK_ADDR_MAX];
    int64_t count;
} addr_entry;

typedef struct cert_entry {
    struct cert_entry *next;
    uint8_t fp[32];
    char addrs[CERT_ADDRS][GW_TRACK_ADDR_MAX];
    int counts[CERT_ADDRS];
} cert_entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static addr_entry *addr_buckets[BUCKETS];
static cert_entry *cert_buckets[BUCKETS];

static size_t hash_addr(const char *s)
{
    return (size_t)(hash_fnv1a(s) % BUCKETS);
}

static size_t hash_fp(const uint8_t *fp)
{
    return ((size_t)fp[0] << 8 | fp[1]) % BUCKETS;
}

int gw_track_addr_acquire(const char *addr, int64_t limit)
{
    size_t b = hash_addr(addr);
    int ok = 0;
    pthread_mutex_lock(&mu);
    addr_entry *e = addr_buckets[b];
    while (e && strcmp(e->addr, addr) != 0)
        e = e->next;
    if (!e && (e = calloc(1, sizeof(*e)))) {
        strncpy(e->addr, addr, GW_TRACK_ADDR_MAX - 1);
        e->next = addr_buckets[b];
        addr_buckets[b] = e;
    }
    if (e && e->count < limit) {
        e->count++;
        ok = 1;
    }
    pthread_mutex_unlock(&mu);
    return ok;
}

void gw_track_addr_release(const char *addr)
{
    size_t b = hash_addr(addr);
    pthread_mutex_lock(&mu);
    for (addr_entry **p = &addr_buckets[b]; *p; p = &(*p)->next)
        if (strcmp((*p)->addr, addr) == 0) {
            addr_entry *e = *p;
            if (--e->count <= 0) {
                *p = e->next;
                free(e);
            }
            break;
        }
    pthread_mutex_unlock(&mu);
}

static cert_entry **find_cert(const uint8_t *fp)
{
    cert_entry **p = &cert_buckets[hash_fp(fp)];
    while (*p && memcmp((*p)->fp, fp, 32) != 0)
        p = &(*p)->next;
    return p;
}

int gw_track_cert_acquire(const uint8_t fp[32], const char *addr, char other[GW_TRACK_ADDR_MAX])
{
    int elsewhere = 0, slot = -1;
    pthread_mutex_lock(&mu);
    cert_entry **p = find_cert(fp);
    if (!*p && (*p = calloc(1, sizeof(**p))))
        memcpy((*p)->fp, fp, 32);
    cert_entry *e = *p;
    for (int i = 0; e && i < CERT_ADDRS; i++) {
        if (e->counts[i] > 0 && strcmp(e->addrs[i], addr) == 0)
            slot = i;
        else if (e->counts[i] > 0 && !elsewhere) {
            elsewhere = 1;
            memcpy(other, e->addrs[i], GW_TRACK_ADDR_MAX);
        }
    }
    for (int i = 0; e && slot < 0 && i < CERT_ADDRS; i++)
        if (e->counts[i] == 0) {
            slot = i;
            strncpy(e->addrs[i], addr, GW_TRACK_ADDR_MAX - 1);
            e->addrs[i][GW_TRACK_ADDR_MAX - 1] = '\0';
        }
    if (e && slot >= 0)
        e->counts[slot]++;
    pthread_mutex_unlock(&mu);
    return elsewhere;
}

void gw_track_cert_release(const uint8_t fp[32], const char *addr)
{
    pthread_mutex_lock(&mu);
    cert_entry **p = find_cert(fp), *e = *p;
    if (e) {
        int live = 0;
        for (int i = 0; i < CERT_ADDRS; i++) {
            if (e->counts[i] > 0 && strcmp(e->addrs[i], addr) == 0) {
                e->counts[i]--;
                addr = "";   /* release one slot only */
            }
            live += e->counts[i];
        }
        if (!live) {
            *p = e->next;
            free(e);
        }
    }
    pthread_mutex_unlock(&mu);
}

void gw_track_shutdown(void)
{
    pthread_mutex_lock(&mu);
    for (size_t b = 0; b < BUCKETS; b++) {
        while (addr_buckets[b]) {
            addr_entry *e = addr_buckets[b];
            addr_buckets[b] = e->next;
            free(e);
        }
        while (cert_buckets[b]) {
            cert_entry *e = cert_buckets[b];
            cert_buckets[b] = e->next;
            free(e);
        }
    }
    pthread_mutex_unlock(&mu);
}
