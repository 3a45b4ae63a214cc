/*
 * test_gw_chunk_cache.c - the shared artifact chunk cache
 * (server/gateway/gw_chunk_cache.c): hits and misses, the key's three
 * parts, least recently used eviction by bytes, chunks held by a reader
 * outliving their eviction (and eviction preferring chunks nobody holds),
 * limit 0, a chunk added twice, the counters, and threads sharing it.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "server/gateway/gw_chunk_cache.h"
#include "tests/unit/leak_check.h"

TestSuite(gw_chunk_cache, .fini = leak_check);

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CS 4096

static _Atomic int released;

/* A buffer of n bytes of `fill`, its own owner. */
typedef struct buf {
    size_t n;
    char data[];
} buf;

static void release_buf(void *owner)
{
    atomic_fetch_add(&released, 1);
    free(owner);
}

/* Adds chunk idx of sha (n bytes of fill) and returns the caller's
 * reference. */
static const gw_chunk *add(gw_chunk_cache *cc, const char *sha, uint32_t idx, size_t n, char fill)
{
    buf *b = malloc(sizeof(*b) + n);
    cr_assert_not_null(b);
    b->n = n;
    memset(b->data, fill, n);
    return gw_chunk_cache_add(cc, sha, CS, idx, b->data, n, n, release_buf, b);
}

/* 1 when chunk idx of sha is cached (the lookup counts a hit or miss). */
static int cached(gw_chunk_cache *cc, const char *sha, uint32_t idx)
{
    const gw_chunk *ch = gw_chunk_cache_get(cc, sha, CS, idx);
    gw_chunk_unref(ch);
    return ch != NULL;
}

static void reset(metrics_chunk_cache *m)
{
    memset(m, 0, sizeof(*m));
    atomic_store(&released, 0);
}

Test(gw_chunk_cache, a_miss_then_a_hit_with_the_same_bytes)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(1 << 20, &m);
    cr_assert_null(gw_chunk_cache_get(cc, SHA_A, CS, 0));
    const gw_chunk *added = add(cc, SHA_A, 0, 1000, 'x');
    const gw_chunk *got = gw_chunk_cache_get(cc, SHA_A, CS, 0);
    cr_assert_eq(got, added, "the cached chunk itself");
    cr_assert_eq(got->len, 1000);
    cr_assert_eq(got->data[999], 'x');
    cr_assert_eq(m.misses, 1);
    cr_assert_eq(m.hits, 1);
    cr_assert_eq(m.bytes, 1000);
    cr_assert_eq(m.chunks, 1);
    gw_chunk_unref(added);
    gw_chunk_unref(got);
    cr_assert_eq(released, 0, "the map still holds it");
    gw_chunk_cache_free(cc);
    cr_assert_eq(released, 1);
    cr_assert_eq(m.bytes, 0);
    cr_assert_eq(m.chunks, 0);
    cr_assert_eq(m.evictions, 0, "freeing the cache evicts nothing");
}

Test(gw_chunk_cache, the_key_is_digest_chunk_size_and_index)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(1 << 20, &m);
    gw_chunk_unref(add(cc, SHA_A, 3, 10, 'a'));
    cr_assert(cached(cc, SHA_A, 3));
    cr_assert_not(cached(cc, SHA_A, 2), "another index");
    cr_assert_not(cached(cc, SHA_B, 3), "another artifact");
    cr_assert_null(gw_chunk_cache_get(cc, SHA_A, CS * 2, 3), "another chunking");
    gw_chunk_cache_free(cc);
}

Test(gw_chunk_cache, the_least_recently_used_goes_first)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(3000, &m);
    for (uint32_t i = 0; i < 3; i++)
        gw_chunk_unref(add(cc, SHA_A, i, 1000, 'a'));
    cr_assert(cached(cc, SHA_A, 0), "0 is now the most recently used, 1 the least");
    gw_chunk_unref(add(cc, SHA_A, 3, 1000, 'a'));
    cr_assert_eq(m.evictions, 1);
    cr_assert_eq(released, 1, "the evicted chunk is freed: nobody holds it");
    cr_assert_not(cached(cc, SHA_A, 1));
    cr_assert(cached(cc, SHA_A, 0));
    cr_assert(cached(cc, SHA_A, 2));
    cr_assert(cached(cc, SHA_A, 3));
    cr_assert_eq(m.bytes, 3000);
    /* by bytes: a 2500-byte chunk pushes out as many as it takes */
    gw_chunk_unref(add(cc, SHA_B, 0, 2500, 'b'));
    cr_assert_eq(m.evictions, 4, "0, 2 and 3: with any one left, 3500 > 3000");
    cr_assert_eq(m.bytes, 2500);
    cr_assert_eq(m.chunks, 1);
    cr_assert(cached(cc, SHA_B, 0));
    gw_chunk_cache_free(cc);
    cr_assert_eq(released, 5);
}

Test(gw_chunk_cache, a_held_chunk_outlives_its_eviction)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(2000, &m);
    const gw_chunk *held = add(cc, SHA_A, 0, 1000, 'h');
    const gw_chunk *also = add(cc, SHA_A, 1, 1000, 'i');
    gw_chunk_unref(add(cc, SHA_A, 2, 1000, 'j')); /* everything else is held: 0 goes */
    cr_assert_eq(m.evictions, 1);
    cr_assert_eq(released, 0, "held: not freed");
    cr_assert_not(cached(cc, SHA_A, 0), "but no longer in the map");
    cr_assert_eq(m.bytes, 2000, "nor counted in it");
    cr_assert_eq(held->len, 1000);
    for (size_t i = 0; i < held->len; i++)
        cr_assert_eq(held->data[i], 'h'); /* AddressSanitizer would see a freed buffer */
    gw_chunk_unref(held);
    cr_assert_eq(released, 1, "the last reference frees it");
    gw_chunk_unref(also);
    gw_chunk_cache_free(cc);
    cr_assert_eq(released, 3);
}

Test(gw_chunk_cache, eviction_takes_unheld_chunks_before_held_ones)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(3000, &m);
    const gw_chunk *oldest = add(cc, SHA_A, 0, 1000, 'a'); /* held, least recently used */
    gw_chunk_unref(add(cc, SHA_A, 1, 1000, 'a'));
    gw_chunk_unref(add(cc, SHA_A, 2, 1000, 'a'));
    gw_chunk_unref(add(cc, SHA_A, 3, 1000, 'a'));
    cr_assert_eq(released, 1, "1 went, the oldest nobody held");
    cr_assert(cached(cc, SHA_A, 0), "the held one stayed");
    cr_assert_not(cached(cc, SHA_A, 1));
    gw_chunk_unref(oldest);
    gw_chunk_cache_free(cc);
}

Test(gw_chunk_cache, limit_0_caches_nothing_and_the_chunk_still_works)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(0, &m);
    const gw_chunk *ch = add(cc, SHA_A, 0, 100, 'z');
    cr_assert_not_null(ch);
    cr_assert_eq(ch->data[99], 'z');
    cr_assert_not(cached(cc, SHA_A, 0));
    cr_assert_eq(m.bytes, 0);
    cr_assert_eq(m.chunks, 0);
    const gw_chunk *again = gw_chunk_ref(ch); /* a second reader of one read */
    gw_chunk_unref(ch);
    cr_assert_eq(released, 0);
    gw_chunk_unref(again);
    cr_assert_eq(released, 1, "freed with its last reference");
    gw_chunk_cache_free(cc);
}

Test(gw_chunk_cache, a_chunk_bigger_than_the_limit_is_not_cached)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(1000, &m);
    gw_chunk_unref(add(cc, SHA_A, 0, 600, 'a'));
    gw_chunk_unref(add(cc, SHA_A, 1, 1001, 'b'));
    cr_assert_eq(released, 1, "freed at once");
    cr_assert(cached(cc, SHA_A, 0), "and it pushed nothing out");
    cr_assert_eq(m.evictions, 0);
    gw_chunk_cache_free(cc);
}

Test(gw_chunk_cache, the_same_chunk_added_twice_keeps_the_first)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(1 << 20, &m);
    const gw_chunk *first = add(cc, SHA_A, 0, 100, '1');
    const gw_chunk *second = add(cc, SHA_A, 0, 100, '2'); /* another worker's read */
    cr_assert_eq(second, first);
    cr_assert_eq(released, 1, "the second buffer is released at once");
    cr_assert_eq(m.chunks, 1);
    cr_assert_eq(m.bytes, 100);
    gw_chunk_unref(first);
    gw_chunk_unref(second);
    gw_chunk_cache_free(cc);
    cr_assert_eq(released, 2);
}

Test(gw_chunk_cache, counters_may_be_absent)
{
    gw_chunk_cache *cc = gw_chunk_cache_new(100, NULL);
    atomic_store(&released, 0);
    gw_chunk_unref(add(cc, SHA_A, 0, 60, 'a'));
    gw_chunk_unref(add(cc, SHA_A, 1, 60, 'a'));
    cr_assert_not(cached(cc, SHA_A, 0));
    cr_assert(cached(cc, SHA_A, 1));
    gw_chunk_cache_free(cc);
    cr_assert_eq(released, 2);
}

Test(gw_chunk_cache, many_chunks_grow_the_table)
{
    metrics_chunk_cache m;
    reset(&m);
    gw_chunk_cache *cc = gw_chunk_cache_new(1 << 20, &m);
    for (uint32_t i = 0; i < 1000; i++)
        gw_chunk_unref(add(cc, i % 2 ? SHA_A : SHA_B, i, 10, 'a'));
    for (uint32_t i = 0; i < 1000; i++)
        cr_assert(cached(cc, i % 2 ? SHA_A : SHA_B, i), "chunk %u", i);
    cr_assert_eq(m.chunks, 1000);
    gw_chunk_cache_free(cc);
    cr_assert_eq(released, 1000);
}

/* ---- threads ---- */

static gw_chunk_cache *shared;

/* Readers of 16 chunks in a cache that holds 8: misses add, hits check
 * the bytes, every reference is dropped, on two threads at once. */
static void *reader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 20000; i++) {
        uint32_t idx = (uint32_t)(rand_r(&seed) % 16);
        const gw_chunk *ch = gw_chunk_cache_get(shared, SHA_A, CS, idx);
        if (!ch)
            ch = add(shared, SHA_A, idx, 64, (char)('a' + idx));
        if (ch->data[0] != 'a' + (int)idx || ch->data[63] != 'a' + (int)idx)
            return (void *)1;
        gw_chunk_unref(ch);
    }
    return NULL;
}

Test(gw_chunk_cache, threads_share_it)
{
    metrics_chunk_cache m;
    reset(&m);
    shared = gw_chunk_cache_new(8 * 64, &m);
    pthread_t t[2];
    void *rc[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], &rc[i]);
    cr_assert_null(rc[0], "every chunk read had its own bytes");
    cr_assert_null(rc[1]);
    cr_assert_eq(m.hits + m.misses, 40000);
    cr_assert_leq(m.bytes, 8 * 64);
    gw_chunk_cache_free(shared);
    cr_assert_eq(m.bytes, 0);
    cr_assert_eq(m.chunks, 0);
}
