/*
 * pg_async.c - a non-blocking libpq connection on a libuv loop (see
 * pg_async.h).
 *
 * States: DOWN (waiting on the reconnect timer) -> CONNECTING (driving
 * PQconnectPoll) -> UP (sending the queue head, reading its result). The
 * socket can change while connecting, so the uv_poll_t is recreated each
 * time the descriptor differs; a poll handle is freed in its close callback.
 */
#include "server/core/pg_async.h"

#include "server/core/db_health.h"
#include "server/core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PG_ASYNC_DOWN, PG_ASYNC_CONNECTING, PG_ASYNC_UP, PG_ASYNC_CLOSING };
enum { JOB_QUERY, JOB_PREPARE, JOB_PREPARED };
#define PG_ASYNC_MAX_PREPARED 8

typedef struct pg_async_stmt {
    char *name, *sql;
    int nparams;
} pg_async_stmt;

typedef struct pg_async_job {
    struct pg_async_job *next;
    int kind;            /* JOB_QUERY, JOB_PREPARE, JOB_PREPARED */
    const char *name;    /* statement name (static, from pg_async_prepare) */
    char *sql;
    int nparams;
    int binary;          /* results in binary format */
    char **params;       /* point into the same allocation as the job */
    pg_async_result_cb cb;
    void *arg;
} pg_async_job;

struct pg_async_conn {
    uv_loop_t *loop;
    char *url;
    char *name;
    PGconn *pg;
    int state;
    int sent;            /* queue head has been sent */
    uv_poll_t *poll;
    int poll_fd;
    uv_timer_t timer;    /* reconnect backoff */
    uint64_t backoff_ms;
    pg_async_job *head, *tail;
    size_t depth;
    PGresult *last;      /* the last result of the statement in flight */
    PGresult *delivering; /* the result a callback is given, until it returns */
    pg_async_stmt stmts[PG_ASYNC_MAX_PREPARED];
    int n_stmts;
    unsigned health_epoch; /* db_health's, when last connected or trying */
    pg_async_state_cb on_state;
    pg_async_notify_cb on_notify;
    void *arg;
};

static void start_connect(pg_async_conn *c);
static void on_poll(uv_poll_t *h, int status, int events);

/* ---- queue ---- */

static void job_free(pg_async_job *j)
{
    free(j);
}

static pg_async_job *pop_job(pg_async_conn *c)
{
    pg_async_job *j = c->head;
    if (j) {
        c->head = j->next;
        if (!c->head)
            c->tail = NULL;
        c->depth--;
    }
    return j;
}

static void fail_all(pg_async_conn *c)
{
    pg_async_job *j;
    while ((j = pop_job(c))) {
        j->cb(NULL, j->arg);
        job_free(j);
    }
    c->sent = 0;
}

/* One allocation: the job, the params pointer array, then the strings. */
static pg_async_job *job_new(const char *sql, int nparams, const char *const *params)
{
    size_t size = sizeof(pg_async_job) + (size_t)nparams * sizeof(char *) + strlen(sql) + 1;
    for (int i = 0; i < nparams; i++)
        size += params[i] ? strlen(params[i]) + 1 : 0;
    pg_async_job *j = malloc(size);
    if (!j)
        return NULL;
    memset(j, 0, sizeof(*j));
    j->params = (char **)(j + 1);
    char *p = (char *)(j->params + nparams);
    for (int i = 0; i < nparams; i++) {
        if (!params[i]) {
            j->params[i] = NULL;
            continue;
        }
        size_t n = strlen(params[i]) + 1;
        memcpy(p, params[i], n);
        j->params[i] = p;
        p += n;
    }
    j->sql = p;
    memcpy(p, sql, strlen(sql) + 1);
    j->nparams = nparams;
    return j;
}

/* ---- the poll handle ---- */

static void poll_closed(uv_handle_t *h)
{
    free(h);
}

static void stop_poll(pg_async_conn *c)
{
    if (c->poll) {
        uv_close((uv_handle_t *)c->poll, poll_closed);
        c->poll = NULL;
        c->poll_fd = -1;
    }
}

static int watch(pg_async_conn *c, int events)
{
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return -1;
    if (c->poll && c->poll_fd != fd)
        stop_poll(c);
    if (!c->poll) {
        if (!(c->poll = malloc(sizeof(*c->poll))))
            return -1;
        if (uv_poll_init(c->loop, c->poll, fd) != 0) {
            free(c->poll);
            c->poll = NULL;
            return -1;
        }
        c->poll->data = c;
        c->poll_fd = fd;
    }
    return uv_poll_start(c->poll, events, on_poll) == 0 ? 0 : -1;
}

/* ---- connection lifecycle ---- */

static void on_timer(uv_timer_t *t)
{
    start_connect(t->data);
}

static void go_down(pg_async_conn *c, const char *why)
{
    int was_up = c->state == PG_ASYNC_UP;
    stop_poll(c);
    /* One warning for the whole outage (db_health.c); this connection's
     * loss is a debug line. */
    db_health_failed(c->health_epoch, c->name, why);
    if (c->pg) {
        log_debug("database connection lost", "conn", c->name, "error", why, NULL);
        PQfinish(c->pg);
        c->pg = NULL;
    }
    PQclear(c->last);
    c->last = NULL;
    c->state = PG_ASYNC_DOWN;
    fail_all(c);
    if (was_up && c->on_state)
        c->on_state(c, 0, c->arg);
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : 100;
    if (c->backoff_ms > 2000)
        c->backoff_ms = 2000;
    uv_timer_start(&c->timer, on_timer, c->backoff_ms, 0);
}

/* libpq would print the server's notices on stderr, in the middle of the
 * JSON lines: "FATAL: terminating connection due to administrator
 * command" from every connection at a shutdown, which the outage's one
 * warning already says. */
static void on_notice(void *arg, const char *message)
{
    pg_async_conn *c = arg;
    char text[512];
    snprintf(text, sizeof(text), "%s", message);
    text[strcspn(text, "\n")] = '\0';
    log_debug("database notice", "conn", c->name, "notice", text, NULL);
}

static void start_connect(pg_async_conn *c)
{
    const char *keys[] = {"dbname", "application_name", "options", NULL};
    const char *vals[] = {c->url, c->name, "-c TimeZone=UTC -c client_min_messages=warning", NULL};
    c->health_epoch = db_health_epoch();
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        go_down(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    PQsetnonblocking(c->pg, 1);
    PQsetNoticeProcessor(c->pg, on_notice, c);
    c->state = PG_ASYNC_CONNECTING;
    if (watch(c, UV_WRITABLE) < 0)
        go_down(c, "cannot watch the database socket");
}

static int enqueue(pg_async_conn *c, pg_async_job *j);
static void on_prepared(PGresult *res, void *arg)
{
    if (res && PQresultStatus(res) != PGRES_COMMAND_OK)
        log_error("cannot prepare a statement", "error", PQresultErrorMessage(res), NULL);
    (void)arg;
}

static void on_plan_mode(PGresult *res, void *arg)
{
    (void)arg;
    if (res && PQresultStatus(res) != PGRES_COMMAND_OK)
        log_error("cannot set plan_cache_mode; prepared statements are planned on every call",
                  "error", PQresultErrorMessage(res), NULL);
}

/* Before a connection's first prepared statement (see pg_async_prepare). */
static void use_generic_plans(pg_async_conn *c)
{
    pg_async_job *j = job_new("SET plan_cache_mode = force_generic_plan", 0, NULL);
    if (!j)
        return; /* the statements are planned on every call: slower, still right */
    j->cb = on_plan_mode;
    enqueue(c, j);
}

/* Queues the PREPARE of registered statement i on a connection that is up;
 * the first one is preceded by the switch to generic plans. */
static int queue_prepare(pg_async_conn *c, int i)
{
    if (i == 0)
        use_generic_plans(c);
    pg_async_job *j = job_new(c->stmts[i].sql, 0, NULL);
    if (!j)
        return -1;
    j->kind = JOB_PREPARE;
    j->name = c->stmts[i].name;
    j->nparams = c->stmts[i].nparams;
    j->cb = on_prepared;
    return enqueue(c, j);
}

static void connected(pg_async_conn *c)
{
    c->state = PG_ASYNC_UP;
    c->backoff_ms = 0;
    for (int i = 0; i < c->n_stmts; i++)
        queue_prepare(c, i); /* on failure the queries using it fail and are retried */
    c->health_epoch = db_health_connected(c->name);
    log_debug("database connected", "conn", c->name, NULL);
    if (c->on_state)
        c->on_state(c, 1, c->arg);
}

static void drive_connect(pg_async_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        if (watch(c, UV_READABLE) < 0)
            go_down(c, "cannot watch the database socket");
        return;
    case PGRES_POLLING_WRITING:
        if (watch(c, UV_WRITABLE) < 0)
            go_down(c, "cannot watch the database socket");
        return;
    case PGRES_POLLING_OK:
        connected(c);
        if (c->state == PG_ASYNC_UP && watch(c, UV_READABLE) < 0)
            go_down(c, "cannot watch the database socket");
        return;
    default:
        go_down(c, PQerrorMessage(c->pg));
    }
}

/* ---- queries ---- */

static void send_head(pg_async_conn *c)
{
    pg_async_job *j = c->head;
    if (!j || c->sent || c->state != PG_ASYNC_UP)
        return;
    const char *const *params = (const char *const *)j->params;
    int sent = j->kind == JOB_PREPARE ? PQsendPrepare(c->pg, j->name, j->sql, j->nparams, NULL)
               : j->kind == JOB_PREPARED
                   ? PQsendQueryPrepared(c->pg, j->name, j->nparams, params, NULL, NULL, j->binary)
                   : PQsendQueryParams(c->pg, j->sql, j->nparams, NULL, params, NULL, NULL, 0);
    if (!sent) {
        go_down(c, PQerrorMessage(c->pg));
        return;
    }
    c->sent = 1;
    int flushed = PQflush(c->pg);
    if (flushed < 0)
        go_down(c, PQerrorMessage(c->pg));
    else if (watch(c, UV_READABLE | (flushed ? UV_WRITABLE : 0)) < 0)
        go_down(c, "cannot watch the database socket");
}

static void deliver_notifies(pg_async_conn *c)
{
    PGnotify *n;
    while (c->pg && (n = PQnotifies(c->pg))) {
        if (c->on_notify)
            c->on_notify(n->relname, n->extra, c->arg);
        PQfreemem(n);
    }
}

static void finish_head(pg_async_conn *c)
{
    pg_async_job *j = pop_job(c);
    PGresult *res = c->last;
    c->last = NULL;
    c->sent = 0;
    if (j) {
        c->delivering = res;
        j->cb(res, j->arg);
        res = c->delivering; /* NULL when the callback took it */
        c->delivering = NULL;
        job_free(j);
    }
    PQclear(res);
}

PGresult *pg_async_take_result(pg_async_conn *c)
{
    PGresult *res = c->delivering;
    c->delivering = NULL;
    return res;
}

/* Reads what arrived; completes the query in flight when its results end. */
static void read_results(pg_async_conn *c)
{
    if (!PQconsumeInput(c->pg)) {
        go_down(c, PQerrorMessage(c->pg));
        return;
    }
    deliver_notifies(c);
    while (c->state == PG_ASYNC_UP && c->sent && !PQisBusy(c->pg)) {
        PGresult *r = PQgetResult(c->pg);
        if (r) {
            PQclear(c->last);
            c->last = r;
            continue;
        }
        finish_head(c);
        if (c->state != PG_ASYNC_UP)
            return;
        if (PQstatus(c->pg) != CONNECTION_OK) {
            go_down(c, PQerrorMessage(c->pg));
            return;
        }
        send_head(c);
    }
    /* A NOTIFY that came in the same read as a result is parsed only by
     * PQisBusy or PQgetResult: deliver it now, not on the next read (which
     * may never come on an idle connection). */
    if (c->state == PG_ASYNC_UP)
        deliver_notifies(c);
    if (c->state == PG_ASYNC_UP && PQstatus(c->pg) != CONNECTION_OK)
        go_down(c, PQerrorMessage(c->pg));
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    pg_async_conn *c = h->data;
    if (c->state == PG_ASYNC_CONNECTING) {
        drive_connect(c);
        return;
    }
    if (c->state != PG_ASYNC_UP)
        return;
    if (status < 0) {
        go_down(c, uv_strerror(status));
        return;
    }
    if (events & UV_WRITABLE) {
        int flushed = PQflush(c->pg);
        if (flushed < 0) {
            go_down(c, PQerrorMessage(c->pg));
            return;
        }
        if (watch(c, UV_READABLE | (flushed ? UV_WRITABLE : 0)) < 0) {
            go_down(c, "cannot watch the database socket");
            return;
        }
    }
    if (events & UV_READABLE)
        read_results(c);
}

/* ---- public ---- */

pg_async_conn *pg_async_new(uv_loop_t *loop, const char *url, const char *name,
                            pg_async_state_cb on_state, pg_async_notify_cb on_notify, void *arg)
{
    pg_async_conn *c = calloc(1, sizeof(*c));
    if (!c || !(c->url = strdup(url)) || !(c->name = strdup(name))) {
        if (c)
            free(c->url);
        free(c);
        return NULL;
    }
    c->loop = loop;
    c->poll_fd = -1;
    c->on_state = on_state;
    c->on_notify = on_notify;
    c->arg = arg;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    start_connect(c);
    return c;
}

static void timer_closed(uv_handle_t *h)
{
    pg_async_conn *c = h->data;
    for (int i = 0; i < c->n_stmts; i++) {
        free(c->stmts[i].name);
        free(c->stmts[i].sql);
    }
    free(c->url);
    free(c->name);
    free(c);
}

void pg_async_close(pg_async_conn *c)
{
    if (!c)
        return;
    c->on_state = NULL;
    c->on_notify = NULL;
    stop_poll(c);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    PQclear(c->last);
    c->last = NULL;
    c->state = PG_ASYNC_CLOSING;
    fail_all(c);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, timer_closed);
}

int pg_async_is_up(const pg_async_conn *c)
{
    return c->state == PG_ASYNC_UP;
}

size_t pg_async_queue_depth(const pg_async_conn *c)
{
    return c->depth;
}

static int enqueue(pg_async_conn *c, pg_async_job *j)
{
    if (c->tail)
        c->tail->next = j;
    else
        c->head = j;
    c->tail = j;
    c->depth++;
    send_head(c);
    return 0;
}

int pg_async_query(pg_async_conn *c, const char *sql, int nparams, const char *const *params,
                   pg_async_result_cb cb, void *arg)
{
    if (c->state != PG_ASYNC_UP)
        return -1;
    pg_async_job *j = job_new(sql, nparams, params);
    if (!j)
        return -1;
    j->cb = cb;
    j->arg = arg;
    return enqueue(c, j);
}

int pg_async_prepare(pg_async_conn *c, const char *name, const char *sql, int nparams)
{
    if (c->n_stmts == PG_ASYNC_MAX_PREPARED)
        return -1;
    pg_async_stmt *st = &c->stmts[c->n_stmts];
    if (!(st->name = strdup(name)) || !(st->sql = strdup(sql))) {
        free(st->name);
        return -1;
    }
    st->nparams = nparams;
    c->n_stmts++;
    if (c->state == PG_ASYNC_UP)
        return queue_prepare(c, c->n_stmts - 1);
    return 0;
}

static int query_prepared(pg_async_conn *c, const char *name, int nparams,
                          const char *const *params, int binary, pg_async_result_cb cb, void *arg)
{
    if (c->state != PG_ASYNC_UP)
        return -1;
    pg_async_job *j = job_new("", nparams, params);
    if (!j)
        return -1;
    j->kind = JOB_PREPARED;
    j->binary = binary;
    j->name = name;
    j->cb = cb;
    j->arg = arg;
    return enqueue(c, j);
}

int pg_async_query_prepared(pg_async_conn *c, const char *name, int nparams,
                            const char *const *params, pg_async_result_cb cb, void *arg)
{
    return query_prepared(c, name, nparams, params, 0, cb, arg);
}

int pg_async_query_prepared_binary(pg_async_conn *c, const char *name, int nparams,
                                   const char *const *params, pg_async_result_cb cb, void *arg)
{
    return query_prepared(c, name, nparams, params, 1, cb, arg);
}
