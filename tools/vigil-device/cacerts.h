/*
 * cacerts.h - `vigil-device cacerts`: the device refreshes its trust
 * anchors from GET /.well-known/est/cacerts, keeping its root: a set
 * without the root it already trusts, with another self-signed
 * certificate, or with a CA that does not chain to that root is refused.
 */
#ifndef VIGIL_DEVICE_CACERTS_H
#define VIGIL_DEVICE_CACERTS_H

#include "tools/vigil-device/est.h"

/* Fetches the set over c and atomically replaces out (PEM, 0644) with it;
 * *n (may be NULL) is how many certificates it holds. */
est_outcome cacerts_refresh(devc *c, const char *ca_file, const char *out, est_result *r, int *n);
int cacerts_command(const char *server, const char *cert, const char *key, const char *ca,
                    const char *out, int json);

#endif
