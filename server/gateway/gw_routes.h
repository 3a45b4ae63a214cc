/*
 * gw_routes.h - what the device port answers: gw_routes.c reads a request's
 * method and path and hands it to the one file that serves that path
 * (gw_incidents.c: POST /v1/incidents; gw_est.c: /.well-known/est/), as mosquitto's read_handle.c
 * hands each packet to its handle_*.c. Every answer is JSON; every refusal says why, in the error
 * shape of protocol/errors.h.
 */
#ifndef VIGIL_GW_ROUTES_H
#define VIGIL_GW_ROUTES_H

#include "server/core/metrics.h"
#include "server/gateway/gw_conn.h"

/* A whole request has arrived on c (state PROCESSING): answer it, now or
 * when its work is done. req belongs to the connection's parser. */
void gw_routes_dispatch(gw_conn *c, gw_http_request *req);

/* Answers an error with the device port's one error body and counts it
 * under path. Closes the connection after a 400 or 413, as the request
 * stream can no longer be trusted to be in step. */
void gw_routes_refuse(gw_conn *c, metrics_path path, int status, const char *code,
                      const char *reason, int retry_after);

/* 1 (and a security event) when the device has used its request budget
 * (--device-rate, --device-burst): answer 429. */
int gw_routes_over_rate(gw_conn *c);

/* 1 when the device has used its request budget (gw_routes_over_rate) and
 * the request was answered 429 rate_limited, counted under path; 0 when it
 * may go on. */
int gw_routes_refuse_over_rate(gw_conn *c, metrics_path path);

#endif
