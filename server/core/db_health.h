/*
 * db_health.h - whether vigild reaches PostgreSQL, as one process-wide
 * state that every asynchronous connection (pg_async.c) reports into, on
 * any loop's thread. An outage is logged once when it begins (a warning
 * with libpq's error) and once when it ends (how long it lasted), however
 * many connections see it, and counted in /metrics
 * (vigil_database_up, vigil_database_outages_total,
 * vigil_database_outage_seconds_total).
 *
 * The state is an epoch: even while the database is up, odd while it is
 * down, one step per change. A connection remembers the epoch in which it
 * last connected (or began trying); its failure starts an outage only if
 * the database is up in that same epoch. So the other connections' losses
 * in an outage already logged, and a connection attempt begun during an
 * outage and failing just after another connection got through, change
 * nothing.
 */
#ifndef VIGIL_DB_HEALTH_H
#define VIGIL_DB_HEALTH_H

#include <stdint.h>

unsigned db_health_epoch(void);
/* A connection is up: ends an outage if there is one (one info line).
 * Returns the epoch the connection is up in. */
unsigned db_health_connected(const char *conn);
/* A connection that was up, or was trying, since epoch failed with why:
 * starts an outage if the database was up in that epoch (one warning). */
void db_health_failed(unsigned epoch, const char *conn, const char *why);
int db_health_is_up(void);
/* Seconds of outage so far, the current one included. */
double db_health_outage_seconds(void);

#endif
