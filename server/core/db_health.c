/*
 * db_health.c - one state for PostgreSQL's availability across every
 * connection of vigild (see db_health.h).
 */
#include "server/core/db_health.h"

#include "protocol/when.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#include <stdatomic.h>
#include <string.h>

static atomic_uint epoch; /* even: up */

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
    while (e & 1) {
        if (atomic_compare_exchange_weak(&epoch, &e, e + 1)) {
            int64_t since = atomic_exchange(&metrics.database_down_since_us, 0);
            int64_t us = since > 0 ? when_now_us() - since : 0;
            metrics_add(&metrics.database_outage_us, us);
            log_info_fields("database back", LOG_NUM("down_seconds", (double)us / 1e6),
                            LOG_STR("conn", conn));
            return e + 1;
        }
    }
    return e;
}

void db_health_failed(unsigned since, const char *conn, const char *why)
{
    unsigned e = since;
    if ((since & 1) || !atomic_compare_exchange_strong(&epoch, &e, since + 1))
        return; /* already down, or this connection's news is older than the state */
    atomic_store(&metrics.database_down_since_us, when_now_us());
    metrics_add(&metrics.database_outages, 1);
    /* libpq's messages can be several lines, indented, ending with a
     * newline: one line, one space between words. */
    char msg[512];
    size_t n = 0;
    for (const char *p = why ? why : ""; *p && n < sizeof(msg) - 1; p++) {
        int space = *p == '\n' || *p == '\t' || *p == ' ';
        if (!space)
            msg[n++] = *p;
        else if (n > 0 && msg[n - 1] != ' ')
            msg[n++] = ' ';
    }
    while (n > 0 && msg[n - 1] == ' ')
        n--;
    msg[n] = '\0';
    log_warn_fields("database unavailable", LOG_STR("error", msg), LOG_STR("conn", conn));
}

double db_health_outage_seconds(void)
{
    int64_t us = atomic_load(&metrics.database_outage_us);
    int64_t since = atomic_load(&metrics.database_down_since_us);
    if (since > 0)
        us += when_now_us() - since;
    return (double)us / 1e6;
}
