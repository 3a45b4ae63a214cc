/*
 * api_guard.c - the operator port's connection guard (see api_guard.h):
 * one table of the open connections under one mutex, the decisions
 * (api_guard_decide, api_guard_expired) and the watchdog thread that
 * enforces the request deadline.
 *
 * Why shutdown(2) and not close(2): the socket is libmicrohttpd's.
 * Shutting it down makes libmicrohttpd's next read see the end, and it
 * closes the connection the usual way (its CLOSED notification, its
 * counts, the request's completion callback). The guard touches an fd
 * only under the mutex, and the CLOSED notification takes the same mutex
 * before libmicrohttpd closes the fd, so the guard never shuts down an fd
 * that was already reused for another connection.
 *
 * Why the watchdog writes the 408 itself: libmicrohttpd 0.9.75 sends
 * nothing when it times a connection out, and a response can be queued
 * only from its own callbacks, which a silent client never triggers. The
 * guard writes only while the request is not with a handler (phase, under
 * the mutex, which api_guard_dispatch also takes), so the 408 never
 * interleaves with an answer of ours. (libmicrohttpd's own refusal of a
 * malformed head, sent in the same instant, could; the connection closes
 * either way.)
 *
 * Nothing under the mutex blocks: a scan of the table, shutdown(2), one
 * non-blocking send(2). Log lines are written with the mutex released, as
 * one summary a second at most.
 */
#include "server/api/api_guard.h"

#include "protocol/errors.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct api_guard {
    api_guard_conf conf;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t watchdog;
    int started, stop;
    api_guard_conn *conns;    /* one slot per connection libmicrohttpd may hold */
    api_guard_conn **scratch; /* the live ones, for api_guard_decide */
    int *free_slots, n_free, n_slots;
    char *body_408;
    int64_t timed_out, evicted, refused_address, refused_full; /* since the last summary */
    int64_t last_log_ms;
};

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the decisions ---- */

static int by_addr_then_age(const void *a, const void *b)
{
    const api_guard_conn *x = *(api_guard_conn *const *)a, *y = *(api_guard_conn *const *)b;
    int c = memcmp(x->addr, y->addr, sizeof(x->addr));
    if (c)
        return c;
    return (x->since_ms > y->since_ms) - (x->since_ms < y->since_ms);
}

/* Sorting by address puts each address's connections in a run, oldest
 * first: one pass then finds the address with the most connections and
 * its oldest that is not busy, in O(n log n) however many there are. */
api_guard_verdict api_guard_decide(api_guard_conn **live, int n, const unsigned char addr[16],
                                   int budget, int per_address, api_guard_conn **victim)
{
    int same = 0;
    for (int i = 0; i < n; i++)
        same += memcmp(live[i]->addr, addr, 16) == 0;
    if (same >= per_address)
        return GUARD_REFUSE_ADDRESS;
    if (n < budget)
        return GUARD_ADMIT;
    qsort(live, (size_t)n, sizeof(*live), by_addr_then_age);
    api_guard_conn *best = NULL;
    int best_count = 0;
    for (int i = 0, j; i < n; i = j) {
        api_guard_conn *oldest = NULL;
        for (j = i; j < n && memcmp(live[j]->addr, live[i]->addr, 16) == 0; j++)
            if (!oldest && live[j]->phase != GUARD_BUSY)
                oldest = live[j];
        int count = j - i;
        if (oldest && (!best || count > best_count ||
                       (count == best_count && oldest->since_ms < best->since_ms))) {
            best = oldest;
            best_count = count;
        }
    }
    if (!best)
        return GUARD_REFUSE_FULL;
    *victim = best;
    return GUARD_EVICT;
}

api_guard_cut api_guard_expired(const api_guard_conn *c, int64_t now, int64_t deadline_ms)
{
    if (!c->in_use || c->cut || c->phase == GUARD_BUSY || now - c->since_ms < deadline_ms)
        return GUARD_KEEP;
    return c->phase == GUARD_RECEIVING || c->served == 0 ? GUARD_CUT_408 : GUARD_CUT_SILENT;
}

unsigned api_guard_mhd_limit(const api_guard_conf *conf)
{
    return (unsigned)(conf->budget + conf->budget / 4 + 8);
}

/* ---- closing (under the mutex) ---- */

static void send_408(const api_guard *g, int fd)
{
    char date[64], buf[1024];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 408 Request Timeout\r\nDate: %s\r\nConnection: close\r\n"
                     "Content-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n"
                     "X-Content-Type-Options: nosniff\r\nContent-Length: %zu\r\n\r\n%s\n",
                     date, strlen(g->body_408) + 1, g->body_408);
    if (n > 0 && (size_t)n < sizeof(buf))
        (void)send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void cut(const api_guard *g, api_guard_conn *c, int with_408)
{
    c->cut = 1;
    if (with_408 && !g->conf.tls) {
        send_408(g, c->fd);
        metrics_api_request(-1, 408);
    }
    shutdown(c->fd, SHUT_RDWR);
}

/* ---- libmicrohttpd's notifications ---- */

static void addr_key(const struct sockaddr *sa, unsigned char out[16])
{
    memset(out, 0, 16);
    if (sa && sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof(in));
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &in.sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof(in6));
        memcpy(out, &in6.sin6_addr, 16);
    }
}

static void on_started(api_guard *g, struct MHD_Connection *mc, void **socket_context)
{
    const union MHD_ConnectionInfo *fdi =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!fdi)
        return;
    unsigned char addr[16];
    addr_key(ai ? ai->client_addr : NULL, addr);
    pthread_mutex_lock(&g->mu);
    if (g->n_free == 0) { /* cannot be: libmicrohttpd holds at most n_slots */
        pthread_mutex_unlock(&g->mu);
        shutdown(fdi->connect_fd, SHUT_RDWR);
        return;
    }
    api_guard_conn *c = &g->conns[g->free_slots[--g->n_free]];
    int n = 0;
    for (int i = 0; i < g->n_slots; i++)
        if (g->conns[i].in_use && !g->conns[i].cut)
            g->scratch[n++] = &g->conns[i];
    *c = (api_guard_conn){.since_ms = now_ms(), .fd = fdi->connect_fd, .in_use = 1};
    memcpy(c->addr, addr, sizeof(addr));
    api_guard_conn *victim = NULL;
    api_guard_verdict verdict =
        api_guard_decide(g->scratch, n, addr, g->conf.budget, g->conf.per_address, &victim);
    switch (verdict) {
    case GUARD_EVICT:
        cut(g, victim, 0);
        g->evicted++;
        break;
    case GUARD_REFUSE_ADDRESS:
    case GUARD_REFUSE_FULL:
        c->cut = 1;
        shutdown(c->fd, SHUT_RDWR);
        ++*(verdict == GUARD_REFUSE_FULL ? &g->refused_full : &g->refused_address);
        break;
    case GUARD_ADMIT:
        break;
    }
    *socket_context = c;
    pthread_mutex_unlock(&g->mu);
}

void api_guard_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                      enum MHD_ConnectionNotificationCode code)
{
    api_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        on_started(g, mc, socket_context);
        return;
    }
    pthread_mutex_lock(&g->mu);
    api_guard_conn *c = *socket_context;
    if (c) {
        c->in_use = 0;
        g->free_slots[g->n_free++] = (int)(c - g->conns);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&g->mu);
}

/* The connection's slot (its socket context); read under the mutex, which
 * CLOSED also takes to clear it. */
static api_guard_conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void api_guard_request_line(api_guard *g, struct MHD_Connection *mc,
                            const api_limits_refusal *refused)
{
    pthread_mutex_lock(&g->mu);
    api_guard_conn *c = conn_of(mc);
    if (c && c->phase == GUARD_WAITING)
        c->phase = GUARD_RECEIVING;
    if (c) {
        c->refused = refused != NULL;
        if (refused)
            c->refusal = *refused;
    }
    pthread_mutex_unlock(&g->mu);
}

int api_guard_refusal(api_guard *g, struct MHD_Connection *mc, api_limits_refusal *why)
{
    pthread_mutex_lock(&g->mu);
    api_guard_conn *c = conn_of(mc);
    int refused = c && c->refused;
    if (refused) {
        *why = c->refusal;
        c->refused = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return refused;
}

int api_guard_dispatch(api_guard *g, struct MHD_Connection *mc)
{
    pthread_mutex_lock(&g->mu);
    api_guard_conn *c = conn_of(mc);
    int rc = c && !c->cut ? 0 : -1;
    if (rc == 0)
        c->phase = GUARD_BUSY;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

void api_guard_request_done(api_guard *g, struct MHD_Connection *mc)
{
    pthread_mutex_lock(&g->mu);
    api_guard_conn *c = conn_of(mc);
    if (c) {
        c->phase = GUARD_WAITING;
        c->since_ms = now_ms();
        c->served++;
    }
    pthread_mutex_unlock(&g->mu);
}

/* ---- the watchdog ---- */

/* Cuts what is past the deadline; returns when the next deadline falls. */
static int64_t sweep(api_guard *g, int64_t now)
{
    int64_t d = g->conf.deadline_ms, next = now + (d < 1000 ? d : 1000);
    for (int i = 0; i < g->n_slots; i++) {
        api_guard_conn *c = &g->conns[i];
        api_guard_cut verdict = api_guard_expired(c, now, d);
        if (verdict != GUARD_KEEP) {
            cut(g, c, verdict == GUARD_CUT_408);
            g->timed_out++;
        } else if (c->in_use && !c->cut && c->phase != GUARD_BUSY && c->since_ms + d < next) {
            next = c->since_ms + d;
        }
    }
    return next;
}

/* One line a second at most, written with the mutex released. */
static void log_summary(api_guard *g, int64_t now)
{
    int64_t *counts[] = {&g->timed_out, &g->evicted, &g->refused_address, &g->refused_full};
    int64_t text[4];
    int64_t any = 0;
    for (int i = 0; i < 4; i++)
        any += *counts[i];
    if (!any || now - g->last_log_ms < 1000)
        return;
    for (int i = 0; i < 4; i++) {
        text[i] = *counts[i];
        *counts[i] = 0;
    }
    g->last_log_ms = now;
    pthread_mutex_unlock(&g->mu);
    log_warn_fields("operator port: connections closed", LOG_INT("past_deadline", text[0]),
                    LOG_INT("to_make_room", text[1]), LOG_INT("over_address_limit", text[2]),
                    LOG_INT("all_busy", text[3]));
    pthread_mutex_lock(&g->mu);
}

static void *watchdog(void *arg)
{
    api_guard *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        int64_t now = now_ms(), next = sweep(g, now);
        log_summary(g, now);
        if (g->stop)
            break;
        next += 5; /* a little late rather than a spin just before the deadline */
        struct timespec until = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
        pthread_cond_timedwait(&g->wake, &g->mu, &until);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---- start and stop ---- */

static int init_sync(api_guard *g)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                     pthread_cond_init(&g->wake, &attr) == 0
                 ? 0
                 : -1;
    pthread_condattr_destroy(&attr);
    if (rc == 0 && pthread_mutex_init(&g->mu, NULL) != 0) {
        pthread_cond_destroy(&g->wake);
        rc = -1;
    }
    return rc;
}

api_guard *api_guard_new(const api_guard_conf *conf)
{
    api_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->conf = *conf;
    g->n_slots = (int)api_guard_mhd_limit(conf);
    g->conns = calloc((size_t)g->n_slots, sizeof(*g->conns));
    g->scratch = calloc((size_t)g->n_slots, sizeof(*g->scratch));
    g->free_slots = calloc((size_t)g->n_slots, sizeof(*g->free_slots));
    g->body_408 = errors_json("timeout",
                              "the request took too long to arrive; it must arrive "
                              "whole within --api-header-timeout",
                              NULL);
    if (!g->conns || !g->scratch || !g->free_slots || !g->body_408 || init_sync(g) < 0) {
        free(g->conns);
        free(g->scratch);
        free(g->free_slots);
        free(g->body_408);
        free(g);
        return NULL;
    }
    for (int i = g->n_slots - 1; i >= 0; i--)
        g->free_slots[g->n_free++] = i;
    if (pthread_create(&g->watchdog, NULL, watchdog, g) != 0) {
        api_guard_free(g);
        return NULL;
    }
    g->started = 1;
    return g;
}

void api_guard_free(api_guard *g)
{
    if (!g)
        return;
    if (g->started) {
        pthread_mutex_lock(&g->mu);
        g->stop = 1;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->mu);
        pthread_join(g->watchdog, NULL);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->mu);
    free(g->conns);
    free(g->scratch);
    free(g->free_slots);
    free(g->body_408);
    free(g);
}
