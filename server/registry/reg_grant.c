/*
 * reg_grant.c - renewal grants in memory (see reg_grant.h): a small array
 * under a mutex, searched linearly on the rare handshake that presents an
 * expired certificate.
 */
#include "server/registry/reg_grant.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* More would mean an operator granting a whole fleet at once: the oldest
 * (already expired) grants make room first. */
#define REG_GRANT_MAX 65536

typedef struct grant {
    uint8_t fp[REG_FP_LEN];
    char device_id[REG_ID_MAX + 1];
    time_t expires_at;
    int spent;
} grant;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static grant *grants;
static size_t n_grants, cap_grants;

const char *reg_grant_state_name(reg_grant_state s)
{
    static const char *const names[] = {"none", "open", "spent", "expired"};
    return s <= REG_GRANT_EXPIRED ? names[s] : "none";
}

static grant *find(const uint8_t fp[REG_FP_LEN])
{
    for (size_t i = 0; i < n_grants; i++)
        if (memcmp(grants[i].fp, fp, REG_FP_LEN) == 0)
            return &grants[i];
    return NULL;
}

static void drop(grant *g)
{
    *g = grants[--n_grants];
}

reg_grant_state reg_grant_lookup(const uint8_t fp[REG_FP_LEN], time_t now,
                                 char device_id[REG_ID_MAX + 1])
{
    reg_grant_state st = REG_GRANT_NONE;
    pthread_mutex_lock(&lock);
    grant *g = find(fp);
    if (g) {
        st = g->spent ? REG_GRANT_SPENT : g->expires_at <= now ? REG_GRANT_EXPIRED : REG_GRANT_OPEN;
        if (device_id)
            memcpy(device_id, g->device_id, REG_ID_MAX + 1);
    }
    pthread_mutex_unlock(&lock);
    return st;
}

/* Makes room by dropping the grant that expired first. */
static void evict_oldest(void)
{
    size_t oldest = 0;
    for (size_t i = 1; i < n_grants; i++)
        if (grants[i].expires_at < grants[oldest].expires_at)
            oldest = i;
    drop(&grants[oldest]);
}

void reg_grant_note(const uint8_t fp[REG_FP_LEN], const char *device_id, time_t expires_at,
                    int spent)
{
    pthread_mutex_lock(&lock);
    grant *g = find(fp);
    if (!g) {
        if (n_grants == REG_GRANT_MAX)
            evict_oldest();
        if (n_grants == cap_grants) {
            size_t cap = cap_grants ? 2 * cap_grants : 16;
            grant *more = realloc(grants, cap * sizeof(*grants));
            if (!more)
                goto out;
            grants = more;
            cap_grants = cap;
        }
        g = &grants[n_grants++];
        memcpy(g->fp, fp, REG_FP_LEN);
    }
    strncpy(g->device_id, device_id, REG_ID_MAX);
    g->device_id[REG_ID_MAX] = '\0';
    if (expires_at)
        g->expires_at = expires_at;
    g->spent = spent;
out:
    pthread_mutex_unlock(&lock);
}

void reg_grant_forget(const uint8_t fp[REG_FP_LEN])
{
    pthread_mutex_lock(&lock);
    grant *g = find(fp);
    if (g)
        drop(g);
    pthread_mutex_unlock(&lock);
}

void reg_grant_clear(void)
{
    pthread_mutex_lock(&lock);
    n_grants = 0;
    pthread_mutex_unlock(&lock);
}

void reg_grant_shutdown(void)
{
    pthread_mutex_lock(&lock);
    free(grants);
    grants = NULL;
    n_grants = cap_grants = 0;
    pthread_mutex_unlock(&lock);
}
