/*
 * snapshot.c - reference-counted snapshots and their slot (see
 * snapshot.h): a pointer under a mutex, an atomic count.
 */
#include "server/core/snapshot.h"

#include <stddef.h>

void snapshot_init(snapshot *s, void (*destroy)(snapshot *s))
{
    atomic_init(&s->refs, 1);
    s->destroy = destroy;
}

void snapshot_install(snapshot_slot *slot, snapshot *s)
{
    pthread_mutex_lock(&slot->lock);
    snapshot *old = slot->current;
    slot->current = s;
    pthread_mutex_unlock(&slot->lock);
    snapshot_release(old);
}

snapshot *snapshot_current(snapshot_slot *slot)
{
    pthread_mutex_lock(&slot->lock);
    snapshot *s = slot->current;
    if (s)
        atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&slot->lock);
    return s;
}

void snapshot_release(snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        s->destroy(s);
}
