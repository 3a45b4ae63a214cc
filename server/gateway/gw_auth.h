/*
 * gw.h - the device gateway's pieces as seen by each other: authorization
 * of a connection after its handshake (gw_auth.c) and the request routes
 * (gw_routes.c). conn.h has the connection itself.
 */
#ifndef VIGIL_GW_H
#define VIGIL_GW_H

#include "protocol/errors.h"
#include "server/gateway/gw_conn.h"

/* ---- gw_auth.c ---- */

/* After the handshake: registry check (maybe a database lookup), security
 * checks, then conn_authorized() or a refusal and close. */
void auth_start(conn *c);
/* Records a failed handshake as a security event when it is one. */
void auth_handshake_failed(conn *c, const tls_peer_info *peer, unsigned long ssl_err);
/* Re-reads the registry for an authenticated connection. */
int auth_still_valid(conn *c);
/* Connection closing: forget its lookup and its live-certificate entry. */
void auth_release(conn *c);

/* ---- gw_routes.c ---- */

void gw_route_request(conn *c, http_request *req);
const char *gw_status_text(int status);
const char *gw_error_code(int status);

#endif
