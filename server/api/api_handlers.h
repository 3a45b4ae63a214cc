/*
 * api_handlers.h - every operator API endpoint, one function each, named
 * after the file that serves it; the route table in api.c maps method and
 * path to them. A handler answers exactly once (api.h) and may assume the
 * caller's role was checked.
 */
#ifndef VIGIL_API_HANDLERS_H
#define VIGIL_API_HANDLERS_H

#include "server/api/api.h"

/* api_ops.c: what needs no token, and the API's own description. */
void api_ops_healthz(api_req *r);
void api_ops_readyz(api_req *r);
void api_ops_metrics(api_req *r);
void api_ops_openapi(api_req *r);

/* api_incidents.c */
void api_incidents_list(api_req *r);
void api_incidents_get(api_req *r);
void api_incidents_stats(api_req *r);
void api_incidents_groups(api_req *r);

/* api_export.c: CSV and NDJSON, streamed. */
void api_export_incidents(api_req *r);

/* api_registry.c: devices, certificates, the audit log. */
void api_registry_devices(api_req *r);
void api_registry_device(api_req *r);
void api_registry_quarantine(api_req *r);
void api_registry_release(api_req *r);
void api_registry_decommission(api_req *r);
void api_registry_allow_renewal(api_req *r);
void api_registry_certs(api_req *r);
void api_registry_cert(api_req *r);
void api_registry_revoke(api_req *r);
void api_registry_audit(api_req *r);

/* api_releases.c: list, show, revoke (creation is vigilctl's alone). */
void api_releases_list(api_req *r);
void api_releases_get(api_req *r);
void api_releases_revoke(api_req *r);

/* api_rollouts.c: list, show, start, widen, pause, resume, abort. */
void api_rollouts_list(api_req *r);
void api_rollouts_get(api_req *r);
void api_rollouts_start(api_req *r);
void api_rollouts_widen(api_req *r);
void api_rollouts_pause(api_req *r);
void api_rollouts_resume(api_req *r);
void api_rollouts_abort(api_req *r);

#endif
