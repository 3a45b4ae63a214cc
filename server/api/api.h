/*
 * api.h - the operator port: REST + JSON under /v1 on libmicrohttpd, in
 * vigild next to the device port but on threads of its own (libmicrohttpd's
 * thread pool) with a pool of blocking libpq connections of its own, so a
 * heavy query never delays a device.
 *
 * A request goes: libmicrohttpd -> api_dispatch (api.c: route table, body
 * limit, bearer token and role) -> one handler (api_incidents.c,
 * api_registry.c, api_releases.c, api_rollouts.c, api_ops.c) that
 * validates its parameters (api_param.c), runs parameterized SQL from db/
 * on a pooled connection (a change db/ audits itself: api_db.c) and
 * answers through the helpers below. Every answer that is not 2xx is a JSON error with a
 * reason.
 */
#ifndef VIGIL_API_H
#define VIGIL_API_H

#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <stddef.h>
#include <time.h>

#include "db/db.h"
#include "server/api/api_limits.h"
#include "server/api/api_query.h"
#include "server/core/addr.h"
#include "server/core/config.h"
#include "server/core/strbuf.h"

typedef struct api api;

/* 1 when the device port can serve devices (its TLS context and trusted
 * CAs are loaded): asked by GET /readyz. The operator port knows nothing
 * else of the device port; main.c passes the gateway's answer. */
typedef int (*api_ready_fn)(void);

/* Starts the operator port (nothing when api-listen is "" or "off").
 * 0, or with a logged reason API_BAD_CONFIG (a setting is wrong) or -1
 * (it cannot run: the port is taken, out of memory). */
#define API_BAD_CONFIG (-2)
int api_start(const config *cfg, api_ready_fn device_port_ready, api **out);
/* Stops accepting, finishes the requests in flight, closes the pool. */
void api_stop(api *a);
/* `vigild --list-routes`: one "METHOD PATH" line per route, sorted. */
void api_print_routes(void);
/* The routes for the metrics: how many, and route i as "METHOD PATH". */
int api_route_count(void);
const char *api_route_label(int i, char *buf, size_t len);

typedef enum api_role { ROLE_PUBLIC = 0, ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN } api_role;

#define API_MAX_PATH_ARGS 2
#define API_BODY_MAX (64 * 1024)

typedef struct api_pool api_pool;

/* One request, from its first callback to its completion. */
typedef struct api_req {
    struct MHD_Connection *mc;
    const char *method;
    char *path_copy; /* owned; path_args point into it */
    const char *path_args[API_MAX_PATH_ARGS]; /* decoded and checked (api_value_path_arg) */
    api_query query;                          /* the query string, decoded by api_param_only */
    char address[ADDR_TEXT_MAX]; /* client address, text */
    api_role role;
    char token_name[65]; /* the audit actor */
    strbuf body;
    int body_too_large;
    api_pool *pool;
    PGconn *db; /* leased from pool while the handler runs */
    int replied;
    const config *cfg;
    api_ready_fn device_port_ready;
    int route;                              /* index in the route table, -1 when none */
    struct timespec started;                /* for the access log */
    const char *header_name, *header_value; /* one extra header for the answer */
    char header_buf[64];
    int head;                   /* a HEAD request: routed as GET, answered without a body */
    int refused;                /* its head is over a limit (api_limits.h) ... */
    api_limits_refusal refusal; /* ... answered with this before any route */
} api_req;

typedef void (*api_handler)(api_req *r);

/* ---- answers (api.c). Each queues exactly one response. ---- */

/* body is taken (freed by libmicrohttpd). */
void api_reply(api_req *r, unsigned status, const char *content_type, char *body, size_t len);
/* value is consumed. */
void api_reply_json(api_req *r, unsigned status, json_t *value);
/* The error body of protocol/errors.h, {"error":code,"reason":...,
 * "parameter":param}; param NULL leaves parameter out. */
void api_error(api_req *r, unsigned status, const char *code, const char *param, const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
/* Writes the cursor that resumes after row `row` of res. */
typedef void (*api_cursor_fn)(PGresult *res, int row, char *out, size_t len);
/* Answers one page {"items":[...],"next_cursor":...}. res holds up to
 * limit + 1 rows: the extra row only says that another page follows, so
 * next_cursor is null on the last page (never a cursor to an empty one).
 * hidden: a column that feeds the cursor and is not part of the items
 * (NULL for none). */
void api_reply_page(api_req *r, PGresult *res, int limit, const char *hidden, api_cursor_fn cursor);
/* The same for rows whose first column is the item as JSON text, written
 * by PostgreSQL: the items are joined, not parsed. */
void api_reply_page_json(api_req *r, PGresult *res, int limit, api_cursor_fn cursor);
/* The same for the result of a page query that may have failed (NULL: err
 * says why); frees res. */
void api_answer_page(api_req *r, PGresult *res, const db_error *err, int limit, const char *hidden,
                     api_cursor_fn cursor);
/* Adds a header (Allow, Retry-After, WWW-Authenticate) to the answer that
 * follows; value is copied. */
void api_set_header(api_req *r, const char *name, const char *value);
/* A response of unknown length the handler built itself (a stream); takes
 * it. Answering HEAD, the stream is not read and the connection closes
 * after the headers: libmicrohttpd 0.9.75 ends a chunked answer to HEAD
 * with a last chunk, a body a client would take for the next answer. */
void api_reply_response(api_req *r, unsigned status, struct MHD_Response *resp);
/* body is static: it is neither copied nor freed. */
void api_reply_static(api_req *r, unsigned status, const char *content_type, const char *body,
                      size_t len);

/* ---- the database (api_pool.c) ---- */

/* The request's connection, leased on first use; NULL after answering 503
 * when the database cannot be reached. */
PGconn *api_pool_conn(api_req *r);
/* Answers a failed statement: 503 + Retry-After when the database is
 * unreachable (the connection is dropped and remade later), else 500. */
void api_pool_fail(api_req *r, const db_error *err);

api_pool *api_pool_new(const char *url, int size);
void api_pool_free(api_pool *p);
/* Waits up to timeout_ms for a free connection, connecting it if needed.
 * NULL when none can be had (err says why). */
PGconn *api_pool_lease(api_pool *p, int timeout_ms, db_error *err);
/* broken: the connection failed and must be remade before reuse. */
void api_pool_return(api_pool *p, PGconn *conn, int broken);

/* ---- tokens (api_auth.c) ---- */

/* Checks the Authorization header against api_tokens. 0 with r->role
 * and r->token_name set, or -1 after answering 401 (429 once the client
 * address is past its budget of failed attempts: a valid token is served
 * whatever the budget), or 503. */
int api_authenticate(api_req *r);
void api_auth_init(void);

#endif
