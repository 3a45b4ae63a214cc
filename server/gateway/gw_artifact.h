/*
 * gw_artifact.h - GET /v1/artifacts/{sha256} on the device port: an
 * artifact of a release of the device's class, streamed from its chunks in
 * PostgreSQL (artifact_chunks), whole or one byte range (RFC 9110 section
 * 14), ETag = its digest, so a dropped download resumes where it stopped.
 *
 * Memory is bounded per download: it holds references to at most two
 * chunks (the piece being written, the next one), whatever the size of
 * the artifact. Chunks come from the process's chunk cache
 * (gw_chunk_cache.h: --artifact-cache-bytes, shared by every download,
 * so downloads of one artifact share their memory); a miss reads the
 * whole chunk once on the worker's artifact connection (never the ingest
 * connections, so report commits do not wait behind artifact reads; never
 * the registry connection, so handshakes do not either), the concurrent
 * misses of the same chunk on one worker waiting for that one read. The
 * next piece is taken once the socket has taken half of the current one.
 * A chunk whose length disagrees with artifacts.size and chunk_size is
 * neither cached nor sent and ends the connection: wrong bytes are never
 * sent for that reason.
 */
#ifndef VIGIL_GW_ARTIFACT_H
#define VIGIL_GW_ARTIFACT_H

#include <stddef.h>

#include "server/core/pg_async.h"
#include "server/gateway/gw_conn.h"

#define GW_ARTIFACT_PREFIX "/v1/artifacts/"

/* The process's chunk cache, of at most cache_bytes (0: no cache), before
 * the workers start; freed once they have stopped. 0 or -1. */
int gw_artifact_start(size_t cache_bytes);
void gw_artifact_stop(void);

/* Registers the chunk read on a worker's artifact connection. 0 or -1. */
int gw_artifact_prepare(pg_async_conn *db);

/* GET (or HEAD) GW_ARTIFACT_PREFIX... */
void gw_artifact_get(gw_conn *c, gw_http_request *req);

/* The connection is closing: its download (and a read in flight) ends. */
void gw_artifact_release(gw_conn *c);

#endif
