/*
 * api_pool.c - the operator API's database connections: a fixed number of
 * blocking libpq connections shared by libmicrohttpd's threads. Blocking is
 * right here: these threads serve operators only, and the device port's
 * loops have connections of their own. A connection that broke is closed
 * and made again on its next lease, so the API heals when PostgreSQL
 * returns; while it cannot connect, requests get 503 + Retry-After.
 */
#include "server/api/api.h"

#include "server/core/db_health.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct api_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    char *url;
    int size;
    PGconn **conns; /* NULL slot: not connected yet, or dropped */
    char *in_use;
};

api_pool *api_pool_new(const char *url, int size)
{
    api_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->size = size;
    p->url = strdup(url ? url : "");
    p->conns = calloc((size_t)size, sizeof(*p->conns));
    p->in_use = calloc((size_t)size, 1);
    if (!p->url || !p->conns || !p->in_use) {
        api_pool_free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->freed, NULL);
    return p;
}

void api_pool_free(api_pool *p)
{
    if (!p)
        return;
    for (int i = 0; p->conns && i < p->size; i++)
        db_close(p->conns[i]);
    if (p->conns) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->freed);
    }
    free(p->conns);
    free(p->in_use);
    free(p->url);
    free(p);
}

static int take_free_slot(api_pool *p, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&p->mu);
    for (;;) {
        for (int i = 0; i < p->size; i++)
            if (!p->in_use[i]) {
                p->in_use[i] = 1;
                pthread_mutex_unlock(&p->mu);
                return i;
            }
        if (pthread_cond_timedwait(&p->freed, &p->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&p->mu);
            return -1;
        }
    }
}

PGconn *api_pool_lease(api_pool *p, int timeout_ms, db_error *err)
{
    int i = take_free_slot(p, timeout_ms);
    if (i < 0) {
        memset(err, 0, sizeof(*err));
        err->unavailable = 1;
        snprintf(err->msg, sizeof(err->msg), "every operator-API database connection is busy");
        return NULL;
    }
    /* Only the thread holding slot i touches conns[i]. */
    if (p->conns[i] && PQstatus(p->conns[i]) != CONNECTION_OK) {
        db_close(p->conns[i]);
        p->conns[i] = NULL;
    }
    unsigned epoch = db_health_epoch();
    int fresh = !p->conns[i];
    if (!p->conns[i] && !(p->conns[i] = db_connect_as(p->url, "vigild-api", err))) {
        /* One outage, one warning: the state the device port shares. */
        db_health_failed(epoch, "api", err->msg);
        metrics_add(&metrics.db_errors, 1);
        pthread_mutex_lock(&p->mu);
        p->in_use[i] = 0;
        pthread_cond_signal(&p->freed);
        pthread_mutex_unlock(&p->mu);
        return NULL;
    }
    /* Only a connection made now says the database is back: a pooled one
     * that the outage killed still looks OK to libpq until it is used. */
    if (fresh && !db_health_is_up())
        db_health_connected("api");
    return p->conns[i];
}

void api_pool_return(api_pool *p, PGconn *conn, int broken)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->size; i++)
        if (p->conns[i] == conn && p->in_use[i]) {
            if (broken || PQtransactionStatus(conn) != PQTRANS_IDLE) {
                /* never hand out a connection in an unknown transaction state */
                db_close(conn);
                p->conns[i] = NULL;
            }
            p->in_use[i] = 0;
            break;
        }
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}

/* 503 + Retry-After when the database is unreachable, else 500. */
static void answer_db_failure(api_req *r, const db_error *err)
{
    if (err->unavailable) {
        /* An outage is logged once, by db_health; a request refused in it
         * is not. Every connection busy while the database is up is news. */
        if (db_health_is_up())
            log_warn("operator API: database unavailable", "error", err->msg, NULL);
        else
            log_debug("operator API: database unavailable", "error", err->msg, NULL);
        char secs[24];
        snprintf(secs, sizeof(secs), "%lld",
                 (long long)(r->cfg->retry_after_s > 0 ? r->cfg->retry_after_s : 2));
        api_set_header(r, "Retry-After", secs);
        api_error(r, 503, "unavailable", NULL, "the database cannot be reached; retry later");
        return;
    }
    log_error("operator API: query failed", "sqlstate", err->sqlstate, "error", err->msg, NULL);
    api_error(r, 500, "internal", NULL, "the query failed; the server log has the details");
}

PGconn *api_pool_conn(api_req *r)
{
    if (r->db)
        return r->db;
    db_error err;
    r->db = api_pool_lease(r->pool, 2000, &err);
    if (!r->db)
        answer_db_failure(r, &err);   /* a failed connect is counted by the lease */
    return r->db;
}

void api_pool_fail(api_req *r, const db_error *err)
{
    metrics_add(&metrics.db_errors, 1);
    answer_db_failure(r, err);
}
