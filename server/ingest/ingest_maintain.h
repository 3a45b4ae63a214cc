/*
 * ingest_maintain.h - vigild's periodic database chores, on the main loop with a
 * connection of their own: fold new incidents into the hourly counts that
 * fleet-wide statistics read (every few seconds), and create the coming
 * months' incident partitions (at start and every hour), so that reports
 * never pile up in the default partition; and revoke the certificates that
 * renewals replaced (at once) or superseded (once the CA policy's grace
 * period is over), every 2 s; vigil_revoke_superseded notifies every node;
 * and halt the running rollouts whose updated devices crash more than
 * their control devices (vigil_rollouts_check_health, every 5 s).
 *
 * With several vigild on one database each runs the first chores; the SQL
 * functions serialize themselves, so doing them twice is harmless. The
 * health check runs once per cluster a turn: under a transaction-scoped
 * advisory lock that the other nodes try and skip.
 */
#ifndef VIGIL_INGEST_MAINTAIN_H
#define VIGIL_INGEST_MAINTAIN_H

#include <uv.h>

typedef struct ingest_maintain ingest_maintain;

ingest_maintain *ingest_maintain_start(uv_loop_t *loop, const char *database_url);
/* Stops the timer and closes the connection; frees once libuv is done. */
void ingest_maintain_stop(ingest_maintain *m);

#endif
