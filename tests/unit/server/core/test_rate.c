/*
 * test_rate.c - the server's rate limiters (server/core/rate.c). GCRA
 * (rate_allow) is what holds a device to --device-rate/--device-burst and
 * is updated from several event loops at once without a lock, so it is
 * also tested under two threads; the fixed windows (rate_window) bound
 * failed token attempts and security events per address, and must neither
 * lose a count (under four threads too) nor let two keys share one.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>

#include "server/core/rate.h"

#define MS 1000000LL           /* a millisecond in ns */
#define NOW (1000 * 1000 * MS) /* an arbitrary point on the monotonic clock */

/* How many events rate_allow lets through at now, trying up to `tries`. */
static int64_t allowed_at(_Atomic int64_t *tat, int64_t now, int64_t interval, int64_t burst,
                          int64_t tries)
{
    int64_t n = 0;
    for (int64_t i = 0; i < tries; i++)
        n += rate_allow(tat, now, interval, burst);
    return n;
}

/* ---- GCRA ---- */

Test(rate_allow, a_burst_passes_at_once_then_the_next_is_refused)
{
    /* The first event is the sustained rate's; `burst` more may come on
     * top of it, as in redis-cell's max_burst. */
    _Atomic int64_t tat = 0;
    for (int i = 0; i < 6; i++)
        cr_assert_eq(rate_allow(&tat, NOW, 10 * MS, 5), 1, "event %d of 1 + a burst of 5", i + 1);
    cr_assert_eq(rate_allow(&tat, NOW, 10 * MS, 5), 0, "the 7th at the same instant");
    cr_assert_eq(rate_allow(&tat, NOW + 10 * MS - 1, 10 * MS, 5), 0, "1 ns before the interval");
}

Test(rate_allow, one_more_passes_after_each_interval)
{
    _Atomic int64_t tat = 0;
    cr_assert_eq(allowed_at(&tat, NOW, 10 * MS, 5, 100), 6);
    for (int k = 1; k <= 20; k++) {
        cr_assert_eq(allowed_at(&tat, NOW + k * 10 * MS, 10 * MS, 5, 100), 1,
                     "interval %d: exactly one", k);
    }
}

Test(rate_allow, a_burst_of_zero_allows_one_per_interval)
{
    _Atomic int64_t tat = 0;
    cr_assert_eq(allowed_at(&tat, NOW, MS, 0, 10), 1);
    cr_assert_eq(allowed_at(&tat, NOW + MS / 2, MS, 0, 10), 0);
    cr_assert_eq(allowed_at(&tat, NOW + MS, MS, 0, 10), 1);
}

Test(rate_allow, a_long_pause_refills_only_up_to_the_burst)
{
    _Atomic int64_t tat = 0;
    cr_assert_eq(allowed_at(&tat, NOW, 10 * MS, 5, 100), 6);
    cr_assert_eq(allowed_at(&tat, NOW + 3600 * 1000 * MS, 10 * MS, 5, 100), 6,
                 "an hour of silence earns no more than a full burst");
}

Test(rate_allow, a_partial_pause_refills_in_proportion)
{
    _Atomic int64_t tat = 0;
    cr_assert_eq(allowed_at(&tat, NOW, 10 * MS, 5, 100), 6);
    cr_assert_eq(allowed_at(&tat, NOW + 30 * MS, 10 * MS, 5, 100), 3);
}

Test(rate_allow, a_refused_event_is_not_counted)
{
    _Atomic int64_t tat = 0;
    cr_assert_eq(allowed_at(&tat, NOW, 10 * MS, 5, 6), 6);
    int64_t full = atomic_load(&tat);
    cr_assert_eq(allowed_at(&tat, NOW, 10 * MS, 5, 1000), 0);
    cr_assert_eq(atomic_load(&tat), full, "a refusal must not push the next slot back");
    cr_assert_eq(rate_allow(&tat, NOW + 10 * MS, 10 * MS, 5), 1,
                 "a thousand refusals do not delay the next event");
}

Test(rate_allow, the_sustained_rate_always_passes)
{
    _Atomic int64_t tat = 0;
    for (int k = 0; k < 10000; k++)
        cr_assert_eq(rate_allow(&tat, NOW + k * MS, MS, 0), 1, "event %d at the rate", k);
}

#define ROUNDS 100
#define TRIES 25000
#define BURST 20000

typedef struct hammer {
    _Atomic int64_t *tats; /* one counter per round, shared by both threads */
    atomic_int *arrived;   /* per round: threads at the start line */
    int64_t allowed[ROUNDS];
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    for (int r = 0; r < ROUNDS; r++) {
        /* A spinning start rather than a sleeping barrier, so that both
         * threads are on a CPU when the round begins. */
        atomic_fetch_add(&h->arrived[r], 1);
        while (atomic_load(&h->arrived[r]) < 2)
            ;
        h->allowed[r] = allowed_at(&h->tats[r], NOW, MS, BURST, TRIES);
    }
    return NULL;
}

Test(rate_allow, two_threads_on_one_counter_get_exactly_what_one_would)
{
    /* In each round two threads, released together, try 25000 events each
     * at one instant on a fresh counter: exactly 1 + BURST may pass
     * whatever the interleaving, or an update was lost or doubled. */
    static _Atomic int64_t tats[ROUNDS];
    static atomic_int arrived[ROUNDS];
    static hammer h[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        h[i].tats = tats;
        h[i].arrived = arrived;
        cr_assert_eq(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int r = 0; r < ROUNDS; r++) {
        cr_assert_eq(h[0].allowed[r] + h[1].allowed[r], BURST + 1, "round %d: %lld + %lld", r,
                     (long long)h[0].allowed[r], (long long)h[1].allowed[r]);
        cr_assert_eq(atomic_load(&tats[r]), NOW + (BURST + 1) * MS,
                     "round %d: one interval per allowed event", r);
    }
}

/* ---- fixed windows ---- */

#define N_SLOTS 8

/* Each test's table: N_SLOTS slots with windows of 10 time units. */
static rate_window_slot slots[N_SLOTS];
static rate_window w;

static void windows_setup(void)
{
    rate_window_init(&w, slots, N_SLOTS, 10);
}

TestSuite(rate_window, .init = windows_setup);

Test(rate_window, hits_count_up_within_a_window)
{
    cr_assert_eq(rate_window_hit(&w, 42, 100), 1);
    cr_assert_eq(rate_window_hit(&w, 42, 101), 2);
    cr_assert_eq(rate_window_hit(&w, 42, 109), 3, "the window's last instant");
}

Test(rate_window, a_new_window_starts_from_one)
{
    rate_window_hit(&w, 42, 100);
    rate_window_hit(&w, 42, 105);
    cr_assert_eq(rate_window_hit(&w, 42, 110), 1, "the window began at 100 and is 10 long");
    cr_assert_eq(rate_window_hit(&w, 42, 119), 2, "the new window began at 110");
    cr_assert_eq(rate_window_hit(&w, 42, 500), 1);
}

Test(rate_window, keys_in_other_slots_count_apart)
{
    rate_window_hit(&w, 42, 100);
    rate_window_hit(&w, 42, 100);
    cr_assert_eq(rate_window_hit(&w, 43, 100), 1);
    cr_assert_eq(rate_window_hit(&w, 42, 100), 3);
}

Test(rate_window, another_key_taking_the_slot_resets_the_count)
{
    uint64_t a = 42, b = 42 + N_SLOTS; /* the same slot */
    rate_window_hit(&w, a, 100);
    rate_window_hit(&w, a, 101);
    cr_assert_eq(rate_window_hit(&w, b, 102), 1, "b must not inherit a's count");
    cr_assert_eq(rate_window_hit(&w, a, 103), 1, "a was pushed out: it starts over");
    int64_t left;
    cr_assert_eq(rate_window_peek(&w, b, 103, &left), 0, "and b in turn was pushed out");
}

Test(rate_window, peek_does_not_count_and_reports_the_time_left)
{
    rate_window_hit(&w, 42, 100);
    rate_window_hit(&w, 42, 102);
    int64_t left = -1;
    cr_assert_eq(rate_window_peek(&w, 42, 103, &left), 2);
    cr_assert_eq(left, 7, "the window runs from 100 to 110");
    cr_assert_eq(rate_window_peek(&w, 42, 109, &left), 2, "peeking twice counts nothing");
    cr_assert_eq(left, 1);
    cr_assert_eq(rate_window_hit(&w, 42, 109), 3);
}

Test(rate_window, peek_at_an_unknown_or_ended_window_is_zero)
{
    int64_t left = -1;
    cr_assert_eq(rate_window_peek(&w, 42, 100, &left), 0);
    cr_assert_eq(left, 0);
    rate_window_hit(&w, 42, 100);
    left = -1;
    cr_assert_eq(rate_window_peek(&w, 42, 110, &left), 0, "the window has ended");
    cr_assert_eq(left, 0);
    left = -1;
    cr_assert_eq(rate_window_peek(&w, 42 + N_SLOTS, 105, &left), 0, "the slot is another's");
    cr_assert_eq(left, 0);
}

Test(rate_window, key_zero_is_counted_like_any_other)
{
    /* 0 marks a free slot, so the table must still count a key that
     * hashes to 0 rather than see it as free every time. */
    cr_assert_eq(rate_window_hit(&w, 0, 100), 1);
    cr_assert_eq(rate_window_hit(&w, 0, 101), 2);
    int64_t left;
    cr_assert_eq(rate_window_peek(&w, 0, 102, &left), 2);
    cr_assert_eq(left, 8);
    cr_assert_eq(rate_window_hit(&w, 0, 110), 1, "and its windows end like any other's");
}

Test(rate_window, key_zero_and_its_slot_mate_count_apart)
{
    cr_assert_eq(rate_window_hit(&w, 0, 100), 1);
    cr_assert_eq(rate_window_hit(&w, N_SLOTS, 101), 1, "same slot, another key: not 0's count");
    cr_assert_eq(rate_window_hit(&w, 0, 102), 1, "and 0 was pushed out");
    cr_assert_eq(rate_window_hit(&w, 1, 102), 1, "1 is not 0 either");
}

Test(rate_window, keys_differing_only_in_high_bits_are_not_one_key)
{
    uint64_t key = 0xcbf29ce484222325ULL; /* a real hash: over INT64_MAX */
    uint64_t other = key ^ (1ULL << 63);  /* the same slot, the same low 32 bits */
    cr_assert_eq(rate_window_hit(&w, key, 100), 1);
    cr_assert_eq(rate_window_hit(&w, key, 100), 2);
    cr_assert_eq(rate_window_hit(&w, other, 100), 1);
}

/* One table counted in by several workers at once (a cap per address must
 * hold whichever worker the address lands on): no hit is lost. */
#define SHARED_HITS 20000

static void *window_hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < SHARED_HITS; i++)
        rate_window_hit(&w, 7, 100);
    return NULL;
}

Test(rate_window, threads_sharing_a_table_lose_no_count)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, window_hammer, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int64_t left;
    cr_assert_eq(rate_window_peek(&w, 7, 100, &left), 4 * SHARED_HITS);
}

Test(rate_window, clear_forgets_every_count)
{
    rate_window_hit(&w, 42, 100);
    rate_window_clear(&w);
    int64_t left;
    cr_assert_eq(rate_window_peek(&w, 42, 100, &left), 0);
}
