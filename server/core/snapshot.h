/*
 * snapshot.h - an immutable object that threads share by reference count
 * (the CA set, the update view), and the slot that holds the current one:
 * a reader takes a reference to whatever is current and may use it from
 * any thread until it lets it go, while a reload installs a new one whole.
 * The last reference destroys it.
 *
 * The object embeds a snapshot as its first member:
 *   struct thing { snapshot base; ... };
 */
#ifndef VIGIL_SNAPSHOT_H
#define VIGIL_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>

typedef struct snapshot {
    atomic_int refs;
    void (*destroy)(struct snapshot *s);
} snapshot;

typedef struct snapshot_slot {
    pthread_mutex_t lock;
    snapshot *current;
} snapshot_slot;

#define SNAPSHOT_SLOT_INIT {PTHREAD_MUTEX_INITIALIZER, NULL}

/* One reference, the caller's; destroy runs when the last one goes. */
void snapshot_init(snapshot *s, void (*destroy)(snapshot *s));
/* Makes s current (takes over the caller's reference; s may be NULL) and
 * lets the one before it go. */
void snapshot_install(snapshot_slot *slot, snapshot *s);
/* A new reference to the current one, NULL when there is none. */
snapshot *snapshot_current(snapshot_slot *slot);
/* Lets a reference go (s may be NULL). */
void snapshot_release(snapshot *s);

#endif
