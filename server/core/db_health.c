/*
 * db_health.c - one state for PostgreSQL's availability across every
 * connection of vigild (see db_health.h).
 */
#include "server/core/db_health.h"

#include "protocol/when.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* The epoch is read without a lock; a change of it, with the outage's
 * start time and seconds, is made under mu, so that an outage ended on
 * one thread while another is still recording its start cannot leave a
 * start time behind (nor lose an outage's seconds). mu is held for a few
 * instructions, never while logging. */
static atomic_uint epoch; /* even: up */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Microseconds from since (Unix us, 0: none) to now; never negative, for
 * a wall clock stepped back during the outage. */
static int64_t down_for(int64_t since)
{
    int64_t now = when_now_us();
    return since > 0 && now > since ? now - since : 0;
}

unsigned db_health_epoch(void)
{
    return atomic_load(&epoch);
}

int db_health_is_up(void)
{
    return (db_health_epoch() & 1) == 0;
}

unsigned db_health_connected(const char *conn)
{
    unsigned e = atomic_load(&epoch);
    if (!(e & 1))
        return e;
    pthread_mutex_lock(&mu);
    int ended = (e = atomic_load(&epoch)) & 1;
    int64_t us = 0;
    if (ended) {
        us = down_for(atomic_exchange(&metrics.database_down_since_us, 0));
        metrics_add(&metrics.database_outage_us, us);
        atomic_store(&epoch, ++e);
    }
    pthread_mutex_unlock(&mu);
    if (ended)
        log_info_fields("database back", LOG_NUM("down_seconds", (double)us / 1e6),
                        LOG_STR("conn", conn));
    return e;
}

/* libpq's messages can be several lines, indented, ending with a newline:
 * one line, one space between words, in msg (size bytes). */
static void one_line(const char *why, char *msg, size_t size)
{
    size_t n = 0;
    for (const char *p = why ? why : ""; *p && n < size - 1; p++) {
        int space = *p == '\n' || *p == '\t' || *p == ' ';
        if (!space)
            msg[n++] = *p;
        else if (n > 0 && msg[n - 1] != ' ')
            msg[n++] = ' ';
    }
    while (n > 0 && msg[n - 1] == ' ')
        n--;
    msg[n] = '\0';
}

void db_health_failed(unsigned since, const char *conn, const char *why)
{
    if ((since & 1) || atomic_load(&epoch) != since)
        return; /* already down, or this connection's news is older than the state */
    pthread_mutex_lock(&mu);
    int began = atomic_load(&epoch) == since;
    if (began) {
        atomic_store(&epoch, since + 1);
        atomic_store(&metrics.database_down_since_us, when_now_us());
        metrics_add(&metrics.database_outages, 1);
    }
    pthread_mutex_unlock(&mu);
    if (!began)
        return;
    char msg[512];
    one_line(why, msg, sizeof(msg));
    log_warn_fields("database unavailable", LOG_STR("error", msg), LOG_STR("conn", conn));
}

double db_health_outage_seconds(void)
{
    pthread_mutex_lock(&mu); /* the two counters of one moment */
    int64_t us = atomic_load(&metrics.database_outage_us);
    int64_t since = atomic_load(&metrics.database_down_since_us);
    pthread_mutex_unlock(&mu);
    us += down_for(since);
    return (double)us / 1e6;
}
