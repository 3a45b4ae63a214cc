/*
 * rate.c - GCRA and fixed-window counters (see rate.h).
 */
#include "server/core/rate.h"

#include <string.h>

int rate_allow(_Atomic int64_t *tat, int64_t now_ns, int64_t interval_ns, int64_t burst)
{
    int64_t old = atomic_load(tat), next;
    do {
        int64_t base = old > now_ns ? old : now_ns;
        if (base - now_ns > burst * interval_ns)
            return 0;
        next = base + interval_ns;
    } while (!atomic_compare_exchange_weak(tat, &old, next));
    return 1;
}

void rate_window_init(rate_window *w, rate_window_slot *slots, size_t n_slots, int64_t window)
{
    pthread_mutex_init(&w->mu, NULL);
    w->slots = slots;
    w->n_slots = n_slots;
    w->window = window;
}

void rate_window_clear(rate_window *w)
{
    pthread_mutex_lock(&w->mu);
    memset(w->slots, 0, w->n_slots * sizeof(*w->slots));
    pthread_mutex_unlock(&w->mu);
}

static rate_window_slot *slot_of(const rate_window *w, uint64_t key)
{
    return &w->slots[key % w->n_slots];
}

/* The slot holds key's current window. */
static int holds(const rate_window_slot *s, uint64_t key, int64_t now, int64_t window)
{
    return s->count > 0 && s->key == key && now - s->start < window;
}

int64_t rate_window_hit(rate_window *w, uint64_t key, int64_t now)
{
    pthread_mutex_lock(&w->mu);
    rate_window_slot *s = slot_of(w, key);
    if (!holds(s, key, now, w->window)) {
        s->key = key;
        s->start = now;
        s->count = 0;
    }
    int64_t count = ++s->count;
    pthread_mutex_unlock(&w->mu);
    return count;
}

int64_t rate_window_peek(rate_window *w, uint64_t key, int64_t now, int64_t *left)
{
    int64_t count = 0;
    *left = 0;
    pthread_mutex_lock(&w->mu);
    const rate_window_slot *s = slot_of(w, key);
    if (holds(s, key, now, w->window)) {
        *left = s->start + w->window - now;
        count = s->count;
    }
    pthread_mutex_unlock(&w->mu);
    return count;
}
