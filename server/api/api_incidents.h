/*
 * api_incidents.h - what the incident endpoints share: reading the common
 * filter parameters.
 */
#ifndef VIGIL_API_INCIDENTS_H
#define VIGIL_API_INCIDENTS_H

#include "server/api/api.h"
#include "server/api/api_param.h"

/* Storage for the since/until a filter points to. */
typedef struct api_incidents_filter_buf {
    api_time since, until;
} api_incidents_filter_buf;

/* Reads device_id, type, severity, source, firmware_version, group, since,
 * until and quarantined (each optional). 0, or -1 after answering 400. */
int api_incidents_filter(api_req *r, db_incident_filter *f, api_incidents_filter_buf *buf);

#endif
