/*
 * gw_incidents.h - POST /v1/incidents: one report or a batch, validated
 * (protocol/incident.h), queued to the worker's group commit, answered
 * with a result per report once the commit returns.
 */
#ifndef VIGIL_GW_INCIDENTS_H
#define VIGIL_GW_INCIDENTS_H

#include "server/gateway/gw_conn.h"

void gw_incidents_post(gw_conn *c, gw_http_request *req);

#endif
