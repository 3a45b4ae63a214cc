/*
 * test_db_health.c - one warning when PostgreSQL becomes unavailable and
 * one info line when it is back, however many connections report it
 * (server/core/db_health.c), and the counters /metrics shows.
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/when.h"
#include "server/core/db_health.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static char *stderr_text(void)
{
    static char buf[65536];
    fflush(stderr);
    size_t n = fread(buf, 1, sizeof(buf) - 1, cr_get_redirected_stderr());
    buf[n] = '\0';
    return buf;
}

Test(db_health, many_connections_one_outage_two_lines, .init = cr_redirect_stderr)
{
    cr_assert(db_health_is_up());
    unsigned up = db_health_epoch();
    /* ten connections up in the same epoch all lose the database */
    for (int i = 0; i < 10; i++)
        db_health_failed(up, "vigild-ingest-0.0", "server closed the connection\nunexpectedly\n");
    cr_assert_not(db_health_is_up());
    unsigned down = db_health_epoch();
    /* their reconnection attempts fail too */
    for (int i = 0; i < 10; i++)
        db_health_failed(down, "vigild-registry-1", "Connection refused");
    unsigned back = db_health_connected("vigild-ingest-1.1");
    cr_assert(db_health_is_up());
    cr_assert_eq(db_health_connected("vigild-ingest-0.0"), back, "the others join the epoch");
    /* an attempt begun during the outage that fails after it ended */
    db_health_failed(down, "vigild-ingest-0.1", "Connection refused");
    cr_assert(db_health_is_up(), "a failure older than the recovery starts no outage");
    char *text = stderr_text();
    cr_assert_eq(count(text, "\"database unavailable\""), 1, "%s", text);
    cr_assert_eq(count(text, "\"database back\""), 1, "%s", text);
    cr_assert_not_null(strstr(text, "\"error\":\"server closed the connection unexpectedly\""),
                       "libpq's lines joined: %s", text);
    cr_assert_not_null(strstr(text, "\"down_seconds\":"), "%s", text);
    cr_assert_eq(metrics.database_outages, 1);
    cr_assert_eq(metrics.database_down_since_us, 0);
}

Test(db_health, a_later_outage_is_a_new_one, .init = cr_redirect_stderr)
{
    db_health_failed(db_health_epoch(), "a", "first");
    unsigned back = db_health_connected("a");
    db_health_failed(back, "a", "second");
    cr_assert_not(db_health_is_up());
    cr_assert_eq(metrics.database_outages, 2);
    cr_assert_gt(metrics.database_down_since_us, 0);
    cr_assert_geq(db_health_outage_seconds(), 0.0, "the current outage counts");
    char *text = stderr_text();
    cr_assert_eq(count(text, "\"database unavailable\""), 2, "%s", text);
    cr_assert_eq(count(text, "\"database back\""), 1, "%s", text);
}

/* A connection on another thread ending an outage while the failure that
 * began it is still being recorded: the outage's start time must not
 * outlive it (vigil_database_outage_seconds_total would grow while the
 * database is up). Thread "ender" ends every outage as soon as it sees
 * one; the main thread begins one, waits for its end, then looks. */
static atomic_int race_stop;

static void *ender(void *arg)
{
    (void)arg;
    while (!atomic_load(&race_stop))
        if (!db_health_is_up())
            db_health_connected("ender");
    return NULL;
}

Test(db_health, an_outage_ended_on_another_thread_leaves_no_start_time)
{
    log_set_level(LOG_ERROR); /* millions of transitions, no lines */
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, ender, NULL), 0);
    int stale = 0, rounds = 0;
    int64_t until = when_now_us() + 2000000;
    for (; rounds < 200000 && when_now_us() < until; rounds++) {
        unsigned up = db_health_epoch();
        db_health_failed(up, "main", "Connection refused");
        while (db_health_epoch() == up + 1)
            ;
        stale += atomic_load(&metrics.database_down_since_us) != 0;
    }
    atomic_store(&race_stop, 1);
    pthread_join(t, NULL);
    cr_assert(db_health_is_up());
    cr_assert_eq(stale, 0, "%d of %d outages left their start time behind", stale, rounds);
    cr_assert_eq(metrics.database_outages, rounds);
}

/* The wall clock stepped back during an outage (NTP): the outage's seconds
 * are a Prometheus counter and a log value, never negative. */
Test(db_health, a_clock_stepped_back_counts_no_negative_seconds)
{
    log_set_level(LOG_ERROR);
    db_health_failed(db_health_epoch(), "a", "down");
    atomic_store(&metrics.database_down_since_us, when_now_us() + 3600 * 1000000LL);
    cr_assert_geq(db_health_outage_seconds(), 0.0, "the current outage");
    db_health_connected("a");
    cr_assert_geq(metrics.database_outage_us, 0, "the outage that ended");
    cr_assert_geq(db_health_outage_seconds(), 0.0);
}
