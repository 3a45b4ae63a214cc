/*
 * gw_chunk_cache.h - the artifact chunks that downloads share: a bounded
 * map from (artifact SHA-256, chunk size, chunk index) to an immutable,
 * reference-counted buffer, shared by every worker thread, evicted least
 * recently used first by the bytes it holds (gw_artifact.c fills and reads
 * it; one cache per process).
 *
 * Why it is safe to keep: artifacts are content-addressed, so the bytes of
 * a chunk never change while its artifact exists and a cached chunk never
 * goes stale. The key holds the chunk size too, so an artifact stored
 * again with other chunking does not meet the old chunks.
 *
 * What is checked before a chunk is added: only its length, against what
 * artifacts.size and chunk_size say chunk `idx` must hold (gw_artifact.c
 * does this before calling gw_chunk_cache_add). Its bytes cannot be checked
 * here: the database holds one digest for the whole artifact, none per
 * chunk. A chunk damaged in the database with its length kept is cached
 * and served as it was read, exactly as it would be without the cache; the
 * device's digest check refuses the artifact. A chunk damaged after a good
 * copy was cached is not seen until that copy is evicted.
 *
 * Memory: the chunks in the map hold at most `limit` bytes (each counted
 * with what its buffer costs, gw_chunk_cache_add's footprint). A chunk
 * that leaves the map (evicted, or never added: limit 0, bigger than the
 * limit, or the same key added twice) stays valid for whoever holds a
 * reference to it and is freed by the last gw_chunk_unref: eviction frees
 * only memory nobody references. Eviction takes the least recently used
 * chunks that nobody references first, and those others hold only when
 * every chunk left is held. So the process's chunk memory is at most
 * `limit` plus what holders hold outside the map: with downloads holding
 * at most two chunks each (gw_artifact.h), limit + 2 x chunk size per
 * download in the worst case, and nothing more than `limit` when the
 * downloads share chunks that are cached.
 *
 * Reads: the cache reads nothing itself. gw_artifact.c shares one read
 * among the concurrent misses of a chunk on one worker; two workers that
 * miss the same chunk at once each read it, and the second add returns
 * the first copy (its own buffer is released at once).
 *
 * Locking: one mutex guards the map and the LRU list; it is held for the
 * map operations only (a lookup, an insertion, choosing the victims),
 * never while a buffer is freed or any I/O is done. A reference count is
 * atomic, so a holder drops its reference without the lock.
 */
#ifndef VIGIL_GW_CHUNK_CACHE_H
#define VIGIL_GW_CHUNK_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "server/core/metrics.h"

typedef struct gw_chunk_cache gw_chunk_cache;

/* A chunk: len bytes at data, immutable while a reference is held. */
typedef struct gw_chunk {
    const char *data;
    size_t len;
} gw_chunk;

/* Frees what a chunk's data belongs to (owner, given to add). */
typedef void (*gw_chunk_release_fn)(void *owner);

/* A cache holding at most limit bytes (0: nothing is kept, every chunk
 * lives only while referenced). Its hits, misses, evictions, bytes and
 * chunks are counted in *counters (may be NULL), which it updates from any
 * thread. NULL when memory is short. */
gw_chunk_cache *gw_chunk_cache_new(size_t limit, metrics_chunk_cache *counters);
/* Drops the map's references; chunks still held stay valid until their
 * last gw_chunk_unref. */
void gw_chunk_cache_free(gw_chunk_cache *cc);

/* The chunk (sha256: 64 hex digits) with a reference for the caller, and
 * it becomes the most recently used; NULL when it is not cached (a miss).
 * Counts a hit or a miss. */
const gw_chunk *gw_chunk_cache_get(gw_chunk_cache *cc, const char *sha256, uint32_t chunk_size,
                                   uint32_t idx);

/* Makes a chunk of data (len bytes, owned by owner: release(owner) frees
 * it, at once when this fails) and caches it unless limit is 0 or
 * footprint (the bytes its buffer costs, >= len) exceeds the limit,
 * evicting least recently used chunks to make room. Returns it with a
 * reference for the caller; when the key is cached already (another
 * thread read the same chunk meanwhile), the new buffer is released and
 * the cached chunk returned instead. NULL when memory is short. The
 * caller checked data's length (see the top of this file). */
const gw_chunk *gw_chunk_cache_add(gw_chunk_cache *cc, const char *sha256, uint32_t chunk_size,
                                   uint32_t idx, const char *data, size_t len, size_t footprint,
                                   gw_chunk_release_fn release, void *owner);

/* Another reference to a chunk the caller holds. */
const gw_chunk *gw_chunk_ref(const gw_chunk *ch);
/* Drops one reference (NULL: nothing); the last frees the chunk. Any
 * thread. */
void gw_chunk_unref(const gw_chunk *ch);

#endif
