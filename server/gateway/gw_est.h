/*
 * gw_est.h - EST (RFC 7030) on the device port, over the same mutual-TLS
 * connection that reports incidents:
 *
 *   GET  /.well-known/est/cacerts         the chain to trust now (PKCS#7)
 *   GET  /.well-known/est/csrattrs        what a CSR must contain
 *   POST /.well-known/est/simplereenroll  renewal: PKCS#10 in, PKCS#7 out
 *   POST /.well-known/est/simpleenroll    refused: the operator enrolls
 *   POST /.well-known/est/serverkeygen    refused: keys never leave a device
 *
 * A renewal's CSR is checked on libuv's thread pool (it names this
 * device, its key is strong enough, it is signed by that key), then by the
 * database (vigil_renewal_precheck: policy, quarantine, compromised keys,
 * grants, rate), signed on the thread pool by the issuing CA and recorded
 * in one statement (vigil_renew) before the answer goes out. The loop only
 * moves bytes. Every refusal is a security event.
 */
#ifndef VIGIL_GW_EST_H
#define VIGIL_GW_EST_H

#include "server/gateway/gw_conn.h"

#define GW_EST_PREFIX "/.well-known/est/"

/* Answers a request whose path starts with GW_EST_PREFIX. */
void gw_est_dispatch(gw_conn *c, gw_http_request *req);
/* A connection on a renewal grant asked for anything but simplereenroll. */
void gw_est_refuse_grant_only(gw_conn *c);
/* The connection is closing: a renewal in flight finishes without it. */
void gw_est_release(gw_conn *c);

#endif
