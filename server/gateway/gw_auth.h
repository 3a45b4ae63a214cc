/*
 * gw_auth.h - who is on the other end of a device connection, once its TLS
 * handshake is done: the registry's verdict on the certificate (maybe after
 * a database lookup), the network checks, and the security event for every
 * refusal. gw_conn.h has the connection itself.
 */
#ifndef VIGIL_GW_AUTH_H
#define VIGIL_GW_AUTH_H

#include "server/gateway/gw_conn.h"

/* After the handshake: registry check (maybe a database lookup), security
 * checks, then gw_conn_authorized() or a refusal and close. */
void gw_auth_start(gw_conn *c);
/* Records a failed handshake as a security event when it is one. */
void gw_auth_handshake_failed(gw_conn *c, const gw_tls_peer *peer, unsigned long ssl_err);
/* Re-reads the registry for an authenticated connection. */
int gw_auth_still_valid(gw_conn *c);
/* Connection closing: forget its lookup and its live-certificate entry. */
void gw_auth_release(gw_conn *c);

#endif
