/*
 * gw_worker.c - the device port's event-loop threads (see gw_worker.h): listening
 * sockets, accepting, the connection list, wake-ups from the main thread
 * and the graceful drain.
 */
#define _GNU_SOURCE 1   /* accept4 */
#include "server/gateway/gw_worker.h"

#include "server/core/addr.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/gateway/gw_artifact.h"
#include "server/gateway/gw_conn.h"
#include "server/gateway/gw_secevent.h"
#include "server/gateway/gw_track.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKE 64

/* ---- listening ---- */

/* On the address config_load resolved: every worker binds the same one. */
static int open_listener(const config *cfg)
{
    int one = 1,
        fd = socket(cfg->device_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (const struct sockaddr *)&cfg->device_addr, cfg->device_addr_len) < 0 ||
        listen(fd, 4096) < 0) {
        log_error("cannot listen", "address", cfg->device_listen, "error", strerror(errno), NULL);
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    return fd;
}

int gw_workers_port_free(const config *cfg)
{
    /* Without SO_REUSEPORT, a bind fails while any process listens on the
     * address (SO_REUSEADDR still passes connections in TIME_WAIT). The
     * workers bind with SO_REUSEPORT, which a second vigild of the same
     * user would also get: the kernel would then split the devices between
     * the two processes without a word. */
    int one = 1, fd = socket(cfg->device_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;   /* open_listener says why */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int taken = bind(fd, (const struct sockaddr *)&cfg->device_addr, cfg->device_addr_len) < 0 &&
                errno == EADDRINUSE;
    close(fd);
    if (taken)
        log_error("the device port is in use by another process (another vigild?): stop it, or "
                  "give --device-listen another port",
                  "device_listen", cfg->device_listen, NULL);
    return !taken;
}

static void refuse_connection(gw_worker *w, int fd, const char *addr, const char *limit)
{
    metrics_add(&metrics.connections_refused, 1);
    close(fd);
    gw_secevent_record(w->ing, "x-rate-limited", "warning", NULL, addr,
                       json_pack("{s:s,s:s}", "reason", "connection_limit", "limit", limit));
}

static void on_listen(uv_poll_t *h, int status, int events)
{
    gw_worker *w = h->data;
    (void)events;
    for (int i = 0; status == 0 && i < ACCEPTS_PER_WAKE && !w->draining; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char addr[GW_TRACK_ADDR_MAX];
        int one = 1;
        int fd = accept4(w->listen_fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                log_error("out of file descriptors: raise `ulimit -n`", NULL);
            return;    /* EAGAIN: nothing more; others: try on the next wake */
        }
        addr_text((struct sockaddr *)&ss, addr);
        if (atomic_load(&metrics.connections_open) >= w->cfg->max_connections) {
            refuse_connection(w, fd, addr, "max_connections");
            continue;
        }
        if (!gw_track_addr_acquire(addr, w->cfg->max_connections_per_address)) {
            refuse_connection(w, fd, addr, "max_connections_per_address");
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        gw_conn_accept(w, fd, addr);
    }
}

/* ---- connection list ---- */

void gw_worker_conn_added(gw_worker *w, gw_conn *c)
{
    c->prev = NULL;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
}

static void maybe_finish(gw_worker *w);

void gw_worker_conn_removed(gw_worker *w, gw_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    w->n_conns--;
    if (w->draining)
        maybe_finish(w);
}

/* ---- wake-ups: re-checks and the drain ---- */

static void recheck(gw_worker *w, char **ids, size_t n, int all)
{
    gw_conn *c = w->conns;
    while (c) {
        gw_conn *next = c->next; /* c may close (it stays allocated until its handles close) */
        int match = all;
        for (size_t i = 0; !match && i < n; i++)
            match = strcmp(ids[i], c->device_id) == 0;
        if (match)
            gw_conn_recheck(c);
        c = next;
    }
}

static void on_ingest_idle(void *arg)
{
    gw_worker *w = arg;
    w->ingest_idle = 1;
    maybe_finish(w);
}

static void on_touch_idle(void *arg)
{
    gw_worker *w = arg;
    w->touch_idle = 1;
    maybe_finish(w);
}

static void handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Everything finished: close the worker's own handles so uv_run returns. */
static void maybe_finish(gw_worker *w)
{
    if (!w->draining || w->n_conns > 0)
        return;
    if (!w->ingest_idle) {
        ingest_when_idle(w->ing, on_ingest_idle, w);
        return;
    }
    if (!w->touch_idle) { /* committed reports may have noted a firmware */
        reg_touch_when_idle(w->touch, on_touch_idle, w);
        return;
    }
    if (uv_is_closing((uv_handle_t *)&w->wake))
        return;
    uv_close((uv_handle_t *)&w->wake, handle_closed);
    uv_close((uv_handle_t *)&w->drain_timer, handle_closed);
    ingest_free(w->ing);
    w->ing = NULL;
    reg_touch_free(w->touch);
    w->touch = NULL;
    pg_async_close(w->registry);
    w->registry = NULL;
    pg_async_close(w->artifacts);
    w->artifacts = NULL;
}

static void on_drain_timeout(uv_timer_t *t)
{
    gw_worker *w = t->data;
    log_warn("drain timeout: closing the remaining connections", NULL);
    while (w->conns)
        gw_conn_close(w->conns);
}

static void start_drain(gw_worker *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    if (w->listening) {
        uv_close((uv_handle_t *)&w->listen_poll, handle_closed);
        close(w->listen_fd);
        w->listening = 0;
    }
    gw_conn *c = w->conns;
    while (c) {
        gw_conn *next = c->next;
        gw_conn_drain(c);
        c = next;
    }
    uv_timer_start(&w->drain_timer, on_drain_timeout, (uint64_t)w->cfg->drain_timeout_ms, 0);
    maybe_finish(w);
}

static void on_wake(uv_async_t *h)
{
    gw_worker *w = h->data;
    pthread_mutex_lock(&w->mu);
    char **ids = w->recheck;
    size_t n = w->n_recheck;
    int all = w->recheck_all, drain = w->drain_requested;
    w->recheck = NULL;
    w->n_recheck = w->cap_recheck = 0;
    w->recheck_all = 0;
    pthread_mutex_unlock(&w->mu);
    if (all || n)
        recheck(w, ids, n, all);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    if (drain)
        start_drain(w);
}

/* ---- threads ---- */

static void worker_main(void *arg)
{
    gw_worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* The registry connection is back: the touches that waited for it go. */
static void on_registry_state(pg_async_conn *c, int up, void *arg)
{
    gw_worker *w = arg;
    (void)c;
    if (up && w->touch)
        reg_touch_db_up(w->touch);
}

static int worker_init(gw_worker *w, const config *cfg, int index)
{
    char name[32], artifact_name[32];
    memset(w, 0, sizeof(*w));
    w->index = index;
    w->cfg = cfg;
    pthread_mutex_init(&w->mu, NULL);
    if (uv_loop_init(&w->loop) != 0)
        return -1;
    uv_async_init(&w->loop, &w->wake, on_wake);
    w->wake.data = w;
    uv_timer_init(&w->loop, &w->drain_timer);
    w->drain_timer.data = w;
    uv_unref((uv_handle_t *)&w->drain_timer);
    snprintf(name, sizeof(name), "vigild-registry-%d", index);
    snprintf(artifact_name, sizeof(artifact_name), "vigild-artifact-%d", index);
    if ((w->listen_fd = open_listener(cfg)) < 0 ||
        !(w->registry =
              pg_async_new(&w->loop, cfg->database_url, name, on_registry_state, NULL, w)) ||
        !(w->touch = reg_touch_new(&w->loop, w->registry)) ||
        !(w->artifacts = pg_async_new(&w->loop, cfg->database_url, artifact_name, NULL, NULL, w)) ||
        gw_artifact_prepare(w->artifacts) < 0 ||
        !(w->ing = ingest_new(&w->loop, cfg, index, w->touch)))
        return -1;
    uv_poll_init(&w->loop, &w->listen_poll, w->listen_fd);
    w->listen_poll.data = w;
    uv_poll_start(&w->listen_poll, UV_READABLE, on_listen);
    w->listening = 1;
    return 0;
}

int gw_workers_start(const config *cfg, int n, gw_worker **out)
{
    gw_worker *ws = calloc((size_t)n, sizeof(*ws));
    if (!ws || gw_artifact_start((size_t)cfg->artifact_cache_bytes) < 0) {
        free(ws);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (worker_init(&ws[i], cfg, i) < 0) {
            log_error("cannot start the device port workers", NULL);
            /* the process exits; the OS reclaims sockets and memory */
            return -1;
        }
    for (int i = 0; i < n; i++)
        if (uv_thread_create(&ws[i].thread, worker_main, &ws[i]) != 0)
            return -1;
    *out = ws;
    return 0;
}

void gw_workers_recheck(gw_worker *ws, int n, const char *device_id)
{
    for (int i = 0; i < n; i++) {
        gw_worker *w = &ws[i];
        pthread_mutex_lock(&w->mu);
        if (!device_id) {
            w->recheck_all = 1;
        } else if (w->n_recheck < 100000) {
            if (w->n_recheck == w->cap_recheck) {
                size_t cap = w->cap_recheck ? w->cap_recheck * 2 : 16;
                char **grown = realloc(w->recheck, cap * sizeof(*grown));
                if (grown) {
                    w->recheck = grown;
                    w->cap_recheck = cap;
                }
            }
            char *copy = w->n_recheck < w->cap_recheck ? strdup(device_id) : NULL;
            if (copy)
                w->recheck[w->n_recheck++] = copy;
            else
                w->recheck_all = 1;
        } else {
            w->recheck_all = 1;
        }
        pthread_mutex_unlock(&w->mu);
        uv_async_send(&w->wake);
    }
}

void gw_workers_drain(gw_worker *ws, int n)
{
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&ws[i].mu);
        ws[i].drain_requested = 1;
        pthread_mutex_unlock(&ws[i].mu);
        uv_async_send(&ws[i].wake);
    }
}

void gw_workers_join(gw_worker *ws, int n)
{
    for (int i = 0; i < n; i++) {
        uv_thread_join(&ws[i].thread);
        uv_loop_close(&ws[i].loop);
        pthread_mutex_destroy(&ws[i].mu);
    }
    free(ws);
    gw_artifact_stop();
}
