/*
 * api_handlers.h - every operator API endpoint, one function each; the
 * route table in api.c maps method and path to them. A handler answers
 * exactly once (api.h) and may assume the caller's role was checked.
 */
#ifndef VIGIL_API_HANDLERS_H
#define VIGIL_API_HANDLERS_H

#include "server/api/api.h"

/* api_ops.c: what needs no token, and the API's own description. */
void api_healthz(api_req *r);
void api_readyz(api_req *r);
void api_metrics(api_req *r);
void api_openapi(api_req *r);

/* api_incidents.c */
void api_incidents_list(api_req *r);
void api_incident_get(api_req *r);
void api_incidents_stats(api_req *r);
void api_incidents_export(api_req *r);
void api_incident_groups(api_req *r);

/* api_registry.c: devices, certificates, the audit log. */
void api_devices_list(api_req *r);
void api_device_get(api_req *r);
void api_device_quarantine(api_req *r);
void api_device_release(api_req *r);
void api_device_decommission(api_req *r);
void api_certs_list(api_req *r);
void api_cert_get(api_req *r);
void api_cert_revoke(api_req *r);
void api_audit_list(api_req *r);

#endif
