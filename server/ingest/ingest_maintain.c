/*
 * ingest_maintain.c - the periodic database chores (see ingest_maintain.h).
 */
#include "server/ingest/ingest_maintain.h"

#include "server/core/log.h"
#include "server/core/pg_async.h"

#include <stdlib.h>

#define COUNT_INTERVAL_MS 2000
#define PARTITION_EVERY 1800 /* count ticks: one hour */
#define HEALTH_INTERVAL_MS 5000

/* Cluster-once: the node that takes this transaction-scoped advisory lock
 * runs the chore; the others skip that turn instead of waiting (the lock
 * is released with the statement's transaction). */
#define ONCE_LOCK_ROLLOUT_HEALTH "7614683760"
static const char health_sql[] =
    "SELECT CASE WHEN pg_try_advisory_xact_lock(" ONCE_LOCK_ROLLOUT_HEALTH
    ") THEN vigil_rollouts_check_health() END";

struct ingest_maintain {
    pg_async_conn *pg;
    uv_timer_t timer, health_timer;
    int open_timers;
    unsigned ticks;
    int counting, partitioning, revoking, checking; /* a query of that kind is in flight */
};

static void on_counted(PGresult *res, void *arg)
{
    ingest_maintain *m = arg;
    m->counting = 0;
    if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
        log_warn("cannot fold new incidents into the hourly counts", "error",
                 PQresultErrorMessage(res), NULL);
}

static void on_partitioned(PGresult *res, void *arg)
{
    ingest_maintain *m = arg;
    m->partitioning = 0;
    if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
        log_warn("cannot create the coming incident partitions", "error", PQresultErrorMessage(res),
                 NULL);
}

static void on_revoked(PGresult *res, void *arg)
{
    ingest_maintain *m = arg;
    m->revoking = 0;
    if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
        log_warn("cannot revoke superseded certificates", "error", PQresultErrorMessage(res), NULL);
    else if (res && PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) > 0)
        log_info_fields("revoked superseded certificates",
                        LOG_INT("count", atoll(PQgetvalue(res, 0, 0))));
}

static void on_health_checked(PGresult *res, void *arg)
{
    ingest_maintain *m = arg;
    m->checking = 0;
    if (res && PQresultStatus(res) != PGRES_TUPLES_OK)
        log_warn("cannot check the health of the running rollouts", "error",
                 PQresultErrorMessage(res), NULL);
    else if (res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
             atoi(PQgetvalue(res, 0, 0)) > 0)
        log_warn_fields("rollouts halted on post-install health",
                        LOG_INT("count", atoll(PQgetvalue(res, 0, 0))));
}

static void on_health_tick(uv_timer_t *t)
{
    ingest_maintain *m = t->data;
    if (pg_async_is_up(m->pg) && !m->checking &&
        pg_async_query(m->pg, health_sql, 0, NULL, on_health_checked, m) == 0)
        m->checking = 1;
}

static void on_tick(uv_timer_t *t)
{
    ingest_maintain *m = t->data;
    if (!pg_async_is_up(m->pg))
        return;
    if (m->ticks++ % PARTITION_EVERY == 0 && !m->partitioning &&
        pg_async_query(m->pg, "SELECT vigil_ensure_incident_partitions(2)", 0, NULL, on_partitioned,
                       m) == 0)
        m->partitioning = 1;
    if (!m->revoking && pg_async_query(m->pg, "SELECT vigil_revoke_superseded('vigild')", 0, NULL,
                                       on_revoked, m) == 0)
        m->revoking = 1;
    if (!m->counting &&
        pg_async_query(m->pg, "SELECT vigil_count_incidents()", 0, NULL, on_counted, m) == 0)
        m->counting = 1;
}

ingest_maintain *ingest_maintain_start(uv_loop_t *loop, const char *database_url)
{
    ingest_maintain *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (!(m->pg = pg_async_new(loop, database_url, "vigild-maintain", NULL, NULL, m))) {
        free(m);
        return NULL;
    }
    uv_timer_init(loop, &m->timer);
    uv_timer_init(loop, &m->health_timer);
    m->timer.data = m->health_timer.data = m;
    m->open_timers = 2;
    uv_timer_start(&m->timer, on_tick, 200, COUNT_INTERVAL_MS);
    uv_timer_start(&m->health_timer, on_health_tick, HEALTH_INTERVAL_MS, HEALTH_INTERVAL_MS);
    return m;
}

static void on_timer_closed(uv_handle_t *h)
{
    ingest_maintain *m = h->data;
    if (--m->open_timers == 0)
        free(m);
}

void ingest_maintain_stop(ingest_maintain *m)
{
    if (!m)
        return;
    uv_timer_stop(&m->timer);
    uv_timer_stop(&m->health_timer);
    pg_async_close(m->pg); /* queued queries get NULL results: m is still alive */
    uv_close((uv_handle_t *)&m->timer, on_timer_closed);
    uv_close((uv_handle_t *)&m->health_timer, on_timer_closed);
}
