/*
 * rate.c - GCRA and fixed-window counters (see rate.h).
 */
#include "server/core/rate.h"

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
    w->slots = slots;
    w->n_slots = n_slots;
    w->window = window;
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
    rate_window_slot *s = slot_of(w, key);
    if (!holds(s, key, now, w->window)) {
        s->key = key;
        s->start = now;
        s->count = 0;
    }
    return ++s->count;
}

int64_t rate_window_peek(const rate_window *w, uint64_t key, int64_t now, int64_t *left)
{
    const rate_window_slot *s = slot_of(w, key);
    *left = 0;
    if (!holds(s, key, now, w->window))
        return 0;
    *left = s->start + w->window - now;
    return s->count;
}
