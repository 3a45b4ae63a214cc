/*
 * gw_artifact.h - GET /v1/artifacts/{sha256} on the device port: an
 * artifact of a release of the device's class, streamed from its chunks in
 * PostgreSQL (artifact_chunks), whole or one byte range (RFC 9110 section
 * 14), ETag = its digest, so a dropped download resumes where it stopped.
 *
 * Memory is bounded per download: at most two pieces of at most one chunk
 * each (the one being written, the next one read), whatever the size of
 * the artifact. The next piece is read only once the socket has taken half
 * of the current one, on the worker's artifact connection (never the
 * ingest connections, so report commits do not wait behind artifact
 * reads; never the registry connection, so handshakes do not either).
 * A piece whose length disagrees with artifacts.size and chunk_size ends
 * the connection: wrong bytes are never sent.
 */
#ifndef VIGIL_GW_ARTIFACT_H
#define VIGIL_GW_ARTIFACT_H

#include "server/core/pg_async.h"
#include "server/gateway/gw_conn.h"

#define GW_ARTIFACT_PREFIX "/v1/artifacts/"

/* Registers the chunk read on a worker's artifact connection. 0 or -1. */
int gw_artifact_prepare(pg_async_conn *db);

/* GET (or HEAD) GW_ARTIFACT_PREFIX... */
void gw_artifact_get(gw_conn *c, gw_http_request *req);

/* The connection is closing: its download (and a read in flight) ends. */
void gw_artifact_release(gw_conn *c);

#endif
