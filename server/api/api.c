/*
 * api.c - the operator port's daemon and front door: libmicrohttpd with a
 * thread pool, the route table, request bodies with a size limit, the token
 * and role check, and the one place answers are queued (so every answer
 * carries the same headers and is counted in the metrics). Connections
 * are admitted and requests timed by the guard (api_guard.c); a request
 * whose head is over the limits (api_limits.c) is answered before routing.
 */
#include "server/api/api.h"

#include "protocol/errors.h"
#include "protocol/percent.h"
#include "server/api/api_guard.h"
#include "server/api/api_handlers.h"
#include "server/core/addr.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct api {
    struct MHD_Daemon *daemon;
    api_guard *guard; /* connection budget and request deadline */
    api_pool *pool;
    const config *cfg;
    api_ready_fn device_port_ready;
    char *tls_cert, *tls_key; /* PEM text for libmicrohttpd; key wiped on stop */
};

typedef struct api_route {
    const char *method;
    const char *pattern; /* segments; "{name}" matches one segment */
    api_role role;
    api_handler handler;
} api_route;

/* Literal paths come before parameterised ones that would also match them
 * ("/v1/incidents/stats" before "/v1/incidents/{seq}"): the first match wins. */
static const api_route routes[] = {
    {"GET", "/healthz", ROLE_PUBLIC, api_ops_healthz},
    {"GET", "/readyz", ROLE_PUBLIC, api_ops_readyz},
    {"GET", "/metrics", ROLE_PUBLIC, api_ops_metrics},
    {"GET", "/v1/openapi.json", ROLE_VIEWER, api_ops_openapi},
    {"GET", "/v1/incidents", ROLE_VIEWER, api_incidents_list},
    {"GET", "/v1/incidents/stats", ROLE_VIEWER, api_incidents_stats},
    {"GET", "/v1/incidents/export", ROLE_VIEWER, api_export_incidents},
    {"GET", "/v1/incidents/{seq}", ROLE_VIEWER, api_incidents_get},
    {"GET", "/v1/incident-groups", ROLE_VIEWER, api_incidents_groups},
    {"GET", "/v1/devices", ROLE_VIEWER, api_registry_devices},
    {"GET", "/v1/devices/{id}", ROLE_VIEWER, api_registry_device},
    {"POST", "/v1/devices/{id}/quarantine", ROLE_OPERATOR, api_registry_quarantine},
    {"POST", "/v1/devices/{id}/release", ROLE_OPERATOR, api_registry_release},
    {"POST", "/v1/devices/{id}/decommission", ROLE_ADMIN, api_registry_decommission},
    {"POST", "/v1/devices/{id}/allow-renewal", ROLE_OPERATOR, api_registry_allow_renewal},
    {"GET", "/v1/certificates", ROLE_VIEWER, api_registry_certs},
    {"GET", "/v1/certificates/{serial}", ROLE_VIEWER, api_registry_cert},
    {"POST", "/v1/certificates/{serial}/revoke", ROLE_OPERATOR, api_registry_revoke},
    {"GET", "/v1/audit", ROLE_ADMIN, api_registry_audit},
    {"GET", "/v1/releases", ROLE_VIEWER, api_releases_list},
    {"GET", "/v1/releases/{release}", ROLE_VIEWER, api_releases_get},
    {"POST", "/v1/releases/{release}/revoke", ROLE_ADMIN, api_releases_revoke},
    {"GET", "/v1/rollouts", ROLE_VIEWER, api_rollouts_list},
    {"POST", "/v1/rollouts", ROLE_OPERATOR, api_rollouts_start},
    {"GET", "/v1/rollouts/{rollout}", ROLE_VIEWER, api_rollouts_get},
    {"POST", "/v1/rollouts/{rollout}/widen", ROLE_OPERATOR, api_rollouts_widen},
    {"POST", "/v1/rollouts/{rollout}/pause", ROLE_OPERATOR, api_rollouts_pause},
    {"POST", "/v1/rollouts/{rollout}/resume", ROLE_OPERATOR, api_rollouts_resume},
    {"POST", "/v1/rollouts/{rollout}/abort", ROLE_OPERATOR, api_rollouts_abort},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))
_Static_assert(N_ROUTES < METRICS_API_UNMATCHED, "every route has its own metrics slot");

static const char *const role_names[] = {"public", "viewer", "operator", "admin"};

int api_route_count(void)
{
    return (int)N_ROUTES;
}

const char *api_route_label(int i, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s", routes[i].method, routes[i].pattern);
    return buf;
}

void api_print_routes(void)
{
    const char *lines[N_ROUTES];
    char buf[N_ROUTES][128];
    for (size_t i = 0; i < N_ROUTES; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%s %s", routes[i].method, routes[i].pattern);
        lines[i] = buf[i];
    }
    for (size_t i = 1; i < N_ROUTES; i++) /* insertion sort: a handful of lines */
        for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
            const char *t = lines[j];
            lines[j] = lines[j - 1];
            lines[j - 1] = t;
        }
    for (size_t i = 0; i < N_ROUTES; i++)
        puts(lines[i]);
}

/* ---- answers ---- */

/* One line per answer: who asked what and how it went. The route, not
 * the raw path, so a log line never carries text an attacker chose. A
 * probe that passes (a load balancer's or Docker's HEALTHCHECK on /readyz,
 * every few seconds) is logged at debug only: thousands of lines a day
 * that say nothing. */
static void log_access(const api_req *r, unsigned status)
{
    if (!log_enabled(LOG_INFO))
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char route[128];
    double ms = (double)(now.tv_sec - r->started.tv_sec) * 1e3 +
                (double)(now.tv_nsec - r->started.tv_nsec) / 1e6;
    if (r->route >= 0)
        api_route_label(r->route, route, sizeof(route));
    else
        snprintf(route, sizeof(route), "unmatched");
    int probe = status < 300 && (strcmp(route, "GET /readyz") == 0 || strcmp(route, "GET /healthz") == 0);
    LOG_FIELDS_(probe ? LOG_DEBUG : LOG_INFO, "api request", LOG_STR("route", route),
                  LOG_INT("status", status), LOG_NUM("ms", (double)(int64_t)(ms * 1000 + 0.5) / 1000),
                  LOG_STR("token", r->token_name[0] ? r->token_name : NULL),
                  LOG_STR("address", r->address));
}

/* Every answer is queued here. sized: the body's length is known (a
 * buffer), and libmicrohttpd answers HEAD with the headers alone, the
 * Content-Length a GET would get included. A stream's length is not known:
 * libmicrohttpd 0.9.75 would answer HEAD chunked and still send the last
 * chunk, "0\r\n\r\n", which a client keeping the connection alive would
 * read as the start of the next answer. HTTP/1.0 framing (no chunks, close
 * after) sends the headers alone and never reads the stream. */
static void queue_answer(api_req *r, unsigned status, struct MHD_Response *resp, int sized)
{
    if (r->replied) { /* a handler bug; the first answer stands */
        MHD_destroy_response(resp);
        return;
    }
    r->replied = 1;
    if (r->head && !sized)
        MHD_set_response_options(resp, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    if (r->header_name)
        MHD_add_response_header(resp, r->header_name, r->header_value);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_queue_response(r->mc, status, resp);
    MHD_destroy_response(resp);
    metrics_api_request(r->route, (int)status);
    log_access(r, status);
}

void api_reply_response(api_req *r, unsigned status, struct MHD_Response *resp)
{
    queue_answer(r, status, resp, 0);
}

void api_set_header(api_req *r, const char *name, const char *value)
{
    snprintf(r->header_buf, sizeof(r->header_buf), "%s", value);
    r->header_name = name;
    r->header_value = r->header_buf;
}

static void reply_buffer(api_req *r, unsigned status, const char *content_type, void *body,
                         size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        r->replied = 1; /* nothing can be sent; libmicrohttpd closes the connection */
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    queue_answer(r, status, resp, 1);
}

void api_reply(api_req *r, unsigned status, const char *content_type, char *body, size_t len)
{
    reply_buffer(r, status, content_type, body, len, MHD_RESPMEM_MUST_FREE);
}

void api_reply_static(api_req *r, unsigned status, const char *content_type, const char *body,
                      size_t len)
{
    reply_buffer(r, status, content_type, (void *)body, len, MHD_RESPMEM_PERSISTENT);
}

/* Queues JSON text (taken; NULL: out of memory, answered 500) with one
 * newline so curl output ends cleanly in a terminal. */
static void reply_json_text(api_req *r, unsigned status, char *text)
{
    if (!text) {
        status = 500;
        if (!(text = errors_json("internal", "out of memory", NULL)))
            return;
    }
    size_t len = strlen(text);
    char *body = realloc(text, len + 2);
    if (body) {
        body[len++] = '\n';
        body[len] = '\0';
        text = body;
    }
    api_reply(r, status, "application/json; charset=utf-8", text, len);
}

void api_reply_json(api_req *r, unsigned status, json_t *value)
{
    char *text =
        value ? json_dumps(value, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
              : NULL;
    json_decref(value);
    reply_json_text(r, status, text);
}

void api_error(api_req *r, unsigned status, const char *code, const char *param, const char *fmt,
               ...)
{
    char reason[ERRORS_TEXT_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    reply_json_text(r, status, errors_json(code, reason, param));
}

void api_reply_page(api_req *r, PGresult *res, int limit, const char *hidden, api_cursor_fn cursor)
{
    int n = PQntuples(res), shown = n > limit ? limit : n;
    json_t *items = db_rows_json(res, shown, hidden), *page = json_object(), *next = json_null();
    int ok = items && page;
    if (ok && n > limit) {
        char buf[128];
        cursor(res, shown - 1, buf, sizeof(buf));
        ok = (next = json_string(buf)) != NULL;
    }
    if (ok && json_object_set_new(page, "items", items) == 0) {
        items = NULL;
        ok = json_object_set_new(page, "next_cursor", next) == 0;
        next = NULL;
    }
    json_decref(items);
    json_decref(next);
    if (!ok) {
        json_decref(page);
        page = NULL; /* api_reply_json answers 500 "out of memory" */
    }
    api_reply_json(r, 200, page);
}

void api_answer_page(api_req *r, PGresult *res, const db_error *err, int limit, const char *hidden,
                     api_cursor_fn cursor)
{
    if (!res) {
        api_pool_fail(r, err);
        return;
    }
    api_reply_page(r, res, limit, hidden, cursor);
    PQclear(res);
}

void api_reply_page_json(api_req *r, PGresult *res, int limit, api_cursor_fn cursor)
{
    int n = PQntuples(res), shown = n > limit ? limit : n;
    strbuf b;
    strbuf_init(&b);
    strbuf_puts(&b, "{\"items\":[");
    for (int i = 0; i < shown; i++) {
        if (i)
            strbuf_puts(&b, ",");
        strbuf_append(&b, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
    }
    strbuf_puts(&b, "],\"next_cursor\":");
    if (n > limit) {
        char c[128]; /* a cursor is digits and dots: nothing to escape */
        cursor(res, shown - 1, c, sizeof(c));
        strbuf_printf(&b, "\"%s\"}\n", c);
    } else {
        strbuf_puts(&b, "null}\n");
    }
    size_t len = 0;
    char *body = b.failed ? NULL : strbuf_take(&b, &len);
    strbuf_free(&b);
    if (!body) {
        api_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    api_reply(r, 200, "application/json; charset=utf-8", body, len);
}

/* ---- routing ---- */

/* libmicrohttpd's unescape callback: none. The path and the query reach
 * Vigil as sent, so that each is percent-decoded with its length
 * (protocol/percent.h): libmicrohttpd's own decoding writes %00 as a NUL
 * that ends the text unseen, and "/v1/devices/plain-1%00junk" would be
 * device plain-1. Path segments are decoded below, once a route matched;
 * query parameters by api_query.c. ('+' in a query is still a space.) */
static size_t keep_escapes(void *cls, struct MHD_Connection *mc, char *s)
{
    (void)cls, (void)mc;
    return strlen(s);
}

#define PATH_SEGMENTS 8 /* more than any route has */

/* A path as sent, cut at its slashes: segment i is len[i] bytes at seg[i]. */
typedef struct path_split {
    int n;
    const char *seg[PATH_SEGMENTS];
    size_t len[PATH_SEGMENTS];
} path_split;

/* The segment at s, of a path or a pattern: its length; *next is the
 * segment after it, NULL after the last. */
static size_t segment(const char *s, const char **next)
{
    const char *slash = strchr(s, '/');
    *next = slash ? slash + 1 : NULL;
    return slash ? (size_t)(slash - s) : strlen(s);
}

/* -1 when path is not "/..." or has more segments than any route. */
static int split_path(const char *path, path_split *p)
{
    p->n = 0;
    if (path[0] != '/')
        return -1;
    for (const char *s = path + 1; s; p->n++) {
        if (p->n == PATH_SEGMENTS)
            return -1;
        p->seg[p->n] = s;
        p->len[p->n] = segment(s, &s);
    }
    return 0;
}

/* Whether the segment as sent decodes to the literal lit. */
static int segment_is(const char *raw, size_t len, const char *lit, size_t lit_len)
{
    char buf[32];
    size_t n;
    return percent_decode(raw, len, 0, buf, sizeof(buf) - 1, &n) == 0 && n == lit_len &&
           memcmp(buf, lit, n) == 0;
}

/* Whether p has the shape of pattern: each literal segment (decoded) the
 * same, a non-empty segment for each "{name}". */
static int route_matches(const char *pattern, const path_split *p)
{
    const char *s = pattern + 1;
    for (int i = 0; s; i++) {
        const char *lit = s;
        size_t len = segment(s, &s);
        if (i == p->n ||
            (lit[0] == '{' ? p->len[i] == 0 : !segment_is(p->seg[i], p->len[i], lit, len)))
            return 0;
        if (!s)
            return i + 1 == p->n;
    }
    return 0;
}

static const api_route *find_route(api_req *r, const path_split *p, char *allow, size_t allow_len)
{
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!route_matches(routes[i].pattern, p))
            continue;
        if (strcmp(routes[i].method, r->method) == 0)
            return &routes[i];
        size_t n = strlen(allow);
        snprintf(allow + n, allow_len - n, "%s%s", n ? ", " : "", routes[i].method);
    }
    return NULL;
}

/* Decodes the route's path arguments into r->path_copy (at the offsets
 * they have in path) and checks each for its kind (api_value_path_arg):
 * r->path_args, or a 404 naming the first that cannot name anything (the
 * URL names no resource, as an unknown id does). -1 once answered. */
static int path_args(api_req *r, const api_route *route, const path_split *p, const char *path)
{
    free(r->path_copy);
    if (!(r->path_copy = strdup(path))) {
        api_error(r, 500, "internal", NULL, "out of memory");
        return -1;
    }
    int nargs = 0;
    const char *s = route->pattern + 1;
    for (int i = 0; s; i++) {
        const char *pat = s;
        size_t len = segment(s, &s);
        if (pat[0] != '{')
            continue;
        char name[32], *out = r->path_copy + (p->seg[i] - path);
        snprintf(name, sizeof(name), "%.*s", (int)len - 2, pat + 1);
        const char *why = nargs < API_MAX_PATH_ARGS
                              ? api_value_path_arg(name, p->seg[i], p->len[i], out)
                              : "too many path arguments; this is a bug";
        if (why) {
            api_error(r, 404, "not_found", name, "%s", why);
            return -1;
        }
        r->path_args[nargs++] = out;
    }
    return 0;
}

static void dispatch(api_req *r, const char *path)
{
    char allow[64] = "";
    path_split p;
    const api_route *route =
        split_path(path, &p) == 0 ? find_route(r, &p, allow, sizeof(allow)) : NULL;
    if (!route) {
        if (allow[0]) {
            if (strstr(allow, "GET")) /* HEAD is answered wherever GET is */
                snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), ", HEAD");
            api_set_header(r, "Allow", allow);
            api_error(r, 405, "method_not_allowed", NULL, "%s is not allowed here; use %s",
                      r->method, allow);
        } else {
            api_error(r, 404, "not_found", NULL, "no such endpoint: %s %s (see /v1/openapi.json)",
                      r->method, path);
        }
        return;
    }
    r->route = (int)(route - routes);
    if (r->body_too_large) {
        api_error(r, 413, "payload_too_large", NULL, "request bodies are limited to %d bytes",
                  API_BODY_MAX);
        return;
    }
    if (route->role != ROLE_PUBLIC) {
        if (api_authenticate(r) < 0)
            return;
        if (r->role < route->role) {
            api_error(r, 403, "forbidden", NULL,
                      "this needs the %s role; token '%s' has the %s role", role_names[route->role],
                      r->token_name, role_names[r->role]);
            return;
        }
    }
    if (path_args(r, route, &p, path) < 0)
        return;
    route->handler(r);
    if (!r->replied)
        api_error(r, 500, "internal", NULL, "the server did not answer; this is a bug");
}

/* ---- libmicrohttpd callbacks ---- */

static void client_address(struct MHD_Connection *mc, char out[ADDR_TEXT_MAX])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr)
        addr_text(ci->client_addr, out);
    if (!out[0])
        snprintf(out, ADDR_TEXT_MAX, "unknown");
}

/* With libmicrohttpd 0.9.75, the target runs to the NUL it wrote over the
 * space before the version ("HTTP/x.y", checked before this callback, and
 * ended by the NUL over the line's CR): a NUL before that one came in the
 * target itself. Such a target is refused, and each piece of it is cut at
 * its '?', since libmicrohttpd looks for the query past the NUL that
 * hides it from us. (A target that holds "\0HTTP/1.1\0" itself ends
 * there for us and for libmicrohttpd alike.) */
static int has_raw_nul(char *uri)
{
    char *end = uri + strlen(uri);
    int found = 0;
    while (!(strncmp(end + 1, "HTTP/", 5) == 0 && strlen(end + 1) == 8)) {
        found = 1;
        end += 1 + strlen(end + 1);
    }
    for (char *piece = uri; found && piece <= end; piece += strlen(piece) + 1) {
        char *query = strchr(piece, '?');
        if (query)
            query[1] = '\0';
    }
    return found;
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request line has arrived, and its query
 * is not parsed yet (uri points into libmicrohttpd's read buffer). A
 * target over the limits has its query cut off where libmicrohttpd is
 * about to parse it (see api_limits.h for why) and is answered once the
 * headers are in; the refusal waits in the guard's slot for the
 * connection. Nothing is allocated here: on the paths where
 * libmicrohttpd gives up on a request before its handler, it never calls
 * the completion that would free it. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
    api *a = cls;
    api_limits_refusal why = {400, "bad_request",
                              "the request target holds a NUL byte; percent-encode it as %00"};
    int refused = 0;
    if (uri && has_raw_nul((char *)uri)) {
        refused = 1;
    } else if (uri && api_limits_target(uri, &why) < 0) {
        char *query = strchr(uri, '?');
        if (query)
            query[1] = '\0';
        refused = 1;
    }
    api_guard_request_line(a->guard, mc, refused ? &why : NULL);
    return NULL;
}

static api_req *new_request(void)
{
    api_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->route = -1;
    clock_gettime(CLOCK_MONOTONIC, &r->started);
    strbuf_init(&r->body);
    return r;
}

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind, (void)value;
    *(int *)cls += strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0;
    return MHD_YES;
}

/* RFC 9112 section 3.2, as on the device port: an HTTP/1.1 request has
 * exactly one Host. 1 and *why when it has not. */
static int host_refusal(struct MHD_Connection *mc, const char *version, api_limits_refusal *why)
{
    int hosts = 0;
    MHD_get_connection_values(mc, MHD_HEADER_KIND, count_host, &hosts);
    if (hosts == 1 || (hosts == 0 && strcmp(version, MHD_HTTP_VERSION_1_0) == 0))
        return 0;
    *why = (api_limits_refusal){400, "bad_request", ""};
    snprintf(why->reason, sizeof(why->reason), "%s",
             hosts ? "more than one Host header" : "an HTTP/1.1 request needs a Host header");
    return 1;
}

/* The first call of a request: its headers are in. HEAD is routed as GET
 * and answered without the body (RFC 9110 9.3.2). */
static void begin_request(api *a, api_req *r, struct MHD_Connection *mc, const char *method,
                          const char *version)
{
    r->mc = mc;
    r->head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    r->method = r->head ? MHD_HTTP_METHOD_GET : method;
    r->pool = a->pool;
    r->cfg = a->cfg;
    r->device_port_ready = a->device_port_ready;
    client_address(mc, r->address);
    const union MHD_ConnectionInfo *hi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (api_guard_refusal(a->guard, mc, &r->refusal) ||
        (hi && api_limits_head(hi->header_size, &r->refusal) < 0) ||
        host_refusal(mc, version, &r->refusal))
        r->refused = 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    api *a = cls;
    api_req *r = *con_cls;
    if (!r) {
        if (!(r = *con_cls = new_request()))
            return MHD_NO; /* out of memory: close */
    }
    if (!r->mc) {
        begin_request(a, r, mc, method, version);
        if (!r->refused)
            return MHD_YES;
        /* Answered now, a body unread: libmicrohttpd closes after it. */
        if (api_guard_dispatch(a->guard, mc) < 0)
            return MHD_NO;
        api_error(r, r->refusal.status, r->refusal.code, NULL, "%s", r->refusal.reason);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (r->body.len + *upload_data_size > API_BODY_MAX)
            r->body_too_large = 1;
        else
            strbuf_append(&r->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (api_guard_dispatch(a->guard, mc) < 0)
        return MHD_NO; /* past the deadline: the guard has closed the connection */
    if (!r->replied)
        dispatch(r, url);
    if (r->db) {
        api_pool_return(r->pool, r->db, PQstatus(r->db) != CONNECTION_OK);
        r->db = NULL;
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    api *a = cls;
    api_req *r = *con_cls;
    (void)code;
    api_guard_request_done(a->guard, mc);
    if (!r)
        return;
    if (r->db)
        api_pool_return(r->pool, r->db, 1);
    strbuf_free(&r->body);
    free(r->path_copy);
    free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    log_warn("operator port", "detail", msg, NULL);
}

/* ---- start and stop ---- */

static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    fclose(f);
    if (buf && n == 0) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

static void free_api(api *a)
{
    if (!a)
        return;
    api_guard_free(a->guard); /* after MHD_stop_daemon: it reports every close */
    api_pool_free(a->pool);
    free(a->tls_cert);
    if (a->tls_key) {
        memset(a->tls_key, 0, strlen(a->tls_key));
        free(a->tls_key);
    }
    free(a);
}

static int load_tls(api *a, const config *cfg)
{
    if (!cfg->api_tls_cert && !cfg->api_tls_key)
        return 0;
    if (!cfg->api_tls_cert || !cfg->api_tls_key) {
        log_error("operator port: give both --api-tls-cert and --api-tls-key, or neither", NULL);
        return -1;
    }
    a->tls_cert = read_pem(cfg->api_tls_cert);
    a->tls_key = read_pem(cfg->api_tls_key);
    if (!a->tls_cert || !a->tls_key) {
        log_error("operator port: cannot read the TLS certificate or key", "cert",
                  cfg->api_tls_cert, "key", cfg->api_tls_key, NULL);
        return -1;
    }
    return 1;
}

/* libmicrohttpd's own per-address limit is not used: the guard counts
 * addresses itself, since it must choose whom to evict by them. Its idle
 * timeout stays, for a client that stops reading an answer. */
static struct MHD_Daemon *start_daemon(api *a, const config *cfg, int tls, int threads,
                                       const api_guard_conf *gc)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     (cfg->api_addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
                     (tls ? MHD_USE_TLS : 0);
    /* The TLS options only when TLS is on: libmicrohttpd warns about them
     * otherwise. MHD_OPTION_END in the first TLS slot cuts the list. */
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, a->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, a->tls_key},
        {MHD_OPTION_END, 0, NULL}};
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, a,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&cfg->api_addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT, api_guard_mhd_limit(gc),
        MHD_OPTION_NOTIFY_CONNECTION, api_guard_notify, a->guard, MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, a, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)API_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_ARRAY,
        tls_opts, MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL, /* routing: see keep_escapes */
        MHD_OPTION_END);
}

int api_start(const config *cfg, api_ready_fn device_port_ready, api **out)
{
    *out = NULL;
    if (!config_api_enabled(cfg))
        return 0;
    api *a = calloc(1, sizeof(*a));
    if (!a)
        return -1;
    a->cfg = cfg;
    a->device_port_ready = device_port_ready;
    int threads = cfg->api_threads > 0 && cfg->api_threads <= 64 ? (int)cfg->api_threads : 4;
    int tls = load_tls(a, cfg);
    if (tls < 0 || !(a->pool = api_pool_new(cfg->database_url, threads))) {
        free_api(a);
        return tls < 0 ? API_BAD_CONFIG : -1;
    }
    api_guard_conf gc = {(int)cfg->api_max_connections, (int)cfg->api_max_connections_per_address,
                         cfg->api_header_timeout_ms, tls};
    if (!(a->guard = api_guard_new(&gc))) {
        free_api(a);
        return -1;
    }
    api_auth_init();
    if (!(a->daemon = start_daemon(a, cfg, tls, threads, &gc))) {
        log_error("operator port: cannot listen: the address is in use by another process "
                  "(another vigild?) or is not one of this machine's; stop it, or give "
                  "--api-listen another address (the warning above has libmicrohttpd's reason)",
                  "api_listen", cfg->api_listen, NULL);
        free_api(a);
        return -1;
    }
    log_info("operator port listening", "api_listen", cfg->api_listen, "tls", tls ? "on" : "off",
             NULL);
    *out = a;
    return 0;
}

void api_stop(api *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->daemon);
    free_api(a);
}
