/*
 * pg_async.h - one PostgreSQL connection driven by a libuv loop without
 * ever blocking it: libpq's non-blocking API (PQconnectStart,
 * PQsendQueryParams, PQflush, PQconsumeInput) with the socket watched by a
 * uv_poll_t.
 *
 * Queries are queued and sent one at a time. When the connection breaks,
 * every queued query is answered with a NULL result (so its caller can tell
 * the device to retry) and the connection is re-established in the
 * background with backoff. Nothing here retries a query: only the caller
 * knows whether that is safe.
 *
 * All functions must be called on the loop's thread.
 */
#ifndef VIGIL_PG_ASYNC_H
#define VIGIL_PG_ASYNC_H

#include <libpq-fe.h>
#include <uv.h>

typedef struct pg_async_conn pg_async_conn;

/* res is NULL when the connection failed before a result arrived; the
 * callee must not PQclear it (pg_async does after the callback). */
typedef void (*pg_async_result_cb)(PGresult *res, void *arg);
/* The connection came up (up = 1) or went down (up = 0). */
typedef void (*pg_async_state_cb)(pg_async_conn *c, int up, void *arg);
/* A NOTIFY arrived on a channel this connection LISTENs on. */
typedef void (*pg_async_notify_cb)(const char *channel, const char *payload, void *arg);

pg_async_conn *pg_async_new(uv_loop_t *loop, const char *url, const char *name,
                            pg_async_state_cb on_state, pg_async_notify_cb on_notify, void *arg);
/* Closes the connection; queued queries get NULL results. Frees c once
 * libuv has released its handles. */
void pg_async_close(pg_async_conn *c);

int pg_async_is_up(const pg_async_conn *c);
size_t pg_async_queue_depth(const pg_async_conn *c);

/* Registers a statement prepared on this connection now and after every
 * reconnection, so a hot statement is parsed and planned once, not per
 * call. Call before the first pg_async_query_prepared. A connection with
 * registered statements runs everything with generic plans
 * (plan_cache_mode = force_generic_plan): by default PostgreSQL plans a
 * prepared statement again on every call for as long as its generic plan
 * looks dearer than a custom one, and with array parameters of unknown
 * length the ingest flush's always did. So keep catch-all queries, whose
 * good plan depends on the values, off such a connection. */
int pg_async_prepare(pg_async_conn *c, const char *name, const char *sql, int nparams);
/* Like pg_async_query for a statement registered with pg_async_prepare. */
int pg_async_query_prepared(pg_async_conn *c, const char *name, int nparams,
                            const char *const *params, pg_async_result_cb cb, void *arg);

/* The same with every result column in binary format (bytea as its raw
 * bytes, int4 as four bytes in network order): no hex to decode. */
int pg_async_query_prepared_binary(pg_async_conn *c, const char *name, int nparams,
                                   const char *const *params, pg_async_result_cb cb, void *arg);

/* Called by a result callback of c: the result it was given becomes the
 * caller's, to PQclear when done with it (from any thread), and is
 * returned; NULL outside a callback or when it had no result. Saves a
 * copy of a large value the caller keeps (an artifact chunk). */
PGresult *pg_async_take_result(pg_async_conn *c);

/* Queues a text-format query. Params are copied, so the caller's buffers
 * may go away at once. Returns -1 (and never calls cb) if the connection is
 * down or memory is short. */
int pg_async_query(pg_async_conn *c, const char *sql, int nparams, const char *const *params,
                   pg_async_result_cb cb, void *arg);

#endif
