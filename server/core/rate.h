/*
 * rate.h - the server's rate limiters.
 *
 * rate_allow is GCRA (the generic cell rate algorithm, as in ATM and
 * redis-cell): one 64-bit "theoretical arrival time" per limited thing,
 * updated with a compare-and-swap, so it needs no lock and can live inside
 * a record other threads read under a read lock. It allows one event per
 * `interval_ns` sustained and `burst` more above that: burst + 1 at once
 * after a quiet spell (as redis-cell's max_burst).
 *
 * rate_window counts events per key over fixed windows in a small table of
 * a fixed size: a key whose slot is taken by another replaces it, so an
 * attacker with many keys can push entries out but never grow memory, and
 * never make two keys share a count. One table is shared by every thread
 * that counts the same thing (a cap per address must hold whichever worker
 * the address lands on): it has its own lock, held for a few instructions.
 */
#ifndef VIGIL_RATE_H
#define VIGIL_RATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* 1 when one more event may pass at now_ns (it is counted in *tat), 0 when
 * it would exceed the burst (nothing is counted). interval_ns > 0. */
int rate_allow(_Atomic int64_t *tat, int64_t now_ns, int64_t interval_ns, int64_t burst);

typedef struct rate_window_slot {
    uint64_t key;  /* a hash of the key (hash.h) */
    int64_t start; /* when this key's window began */
    int64_t count; /* 0: a free slot */
} rate_window_slot;

typedef struct rate_window {
    pthread_mutex_t mu;
    rate_window_slot *slots;
    size_t n_slots;
    int64_t window; /* in the caller's unit of time */
} rate_window;

/* A static table: static rate_window w = RATE_WINDOW_INIT(slots, n, window);
 * slots: n zeroed slots, owned by the caller, as for rate_window_init. */
#define RATE_WINDOW_INIT(slots, n_slots, window) \
    {PTHREAD_MUTEX_INITIALIZER, (slots), (n_slots), (window)}

/* slots: n_slots zeroed slots, owned by the caller. */
void rate_window_init(rate_window *w, rate_window_slot *slots, size_t n_slots, int64_t window);
/* Forgets every count. */
void rate_window_clear(rate_window *w);
/* Counts one event of key at now; returns the key's count in its current
 * window, this one included. */
int64_t rate_window_hit(rate_window *w, uint64_t key, int64_t now);
/* The key's count in its current window without counting, and in *left
 * the time until that window ends (0 when it has, or the key is unknown). */
int64_t rate_window_peek(rate_window *w, uint64_t key, int64_t now, int64_t *left);

#endif
