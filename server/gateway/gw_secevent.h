/*
 * gw_secevent.h - security events the server records about its peers, as
 * incidents with source "server": failed handshakes (with whatever identity
 * the presented certificate carried), a device on a new network, one
 * certificate in use from two addresses at once, rate-limit trips.
 *
 * They are rate-limited twice, so that an attacker cannot flood the
 * database with them: per source address (a few per window, across all
 * workers) and for the whole process (security-events-per-second). What is not recorded is
 * counted in the metrics and logged in aggregate.
 */
#ifndef VIGIL_GW_SECEVENT_H
#define VIGIL_GW_SECEVENT_H

#include <jansson.h>

#include "server/ingest/ingest.h"

void gw_secevent_init(const config *cfg);

/* Records one event through ing (the worker's pipeline). details is
 * consumed. device_id may be NULL. type is an incident type
 * ("auth_failure", "network_anomaly", "x-rate-limited"). */
void gw_secevent_record(ingest *ing, const char *type, const char *severity, const char *device_id,
                        const char *addr, json_t *details);

#endif
