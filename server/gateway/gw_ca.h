/*
 * gw_ca.h - the certificate authority as the device port sees it: which
 * CAs a device certificate may chain to, the chain a device should trust
 * (EST cacerts), and the issuing CA key that signs renewals.
 *
 * A gw_ca is an immutable snapshot of the CA directory, loaded off the
 * event loops (file reads and key decryption block) and swapped in whole:
 * at start, on SIGHUP, and when the database says the CA set changed
 * (`vigilctl ca rotate` notifies {"event":"ca_changed"}). Whoever holds a
 * reference (gw_ca_current) may use it from any thread until it releases
 * it, so a renewal in flight finishes with the key it started with.
 *
 * Only the issuing CAs' keys are loaded, never the root's.
 */
#ifndef VIGIL_GW_CA_H
#define VIGIL_GW_CA_H

#include <stddef.h>
#include <stdint.h>

#include "cert-authority/ca.h"

typedef struct gw_ca gw_ca;

/* Loads the CA directory. passphrase may be NULL (unencrypted keys). A
 * directory whose keys cannot be unlocked still loads: it verifies devices
 * but cannot sign (gw_ca_sign_error says why). NULL when the directory
 * itself cannot be read (logged). Blocking: never on an event loop. */
gw_ca *gw_ca_load(const char *dir, const char *passphrase);

/* Makes ca current (takes over the caller's reference). */
void gw_ca_install(gw_ca *ca);
/* A new reference to the current snapshot, NULL before the first install. */
gw_ca *gw_ca_current(void);
void gw_ca_release(gw_ca *ca);
/* Drops the current snapshot (at exit). */
void gw_ca_shutdown(void);

/* The root and every still-trusted issuing CA, for the TLS trust store. */
size_t gw_ca_trusted(const gw_ca *ca, X509 *const **certs);
/* GET /.well-known/est/cacerts: base64 PKCS#7 of the same certificates. */
const char *gw_ca_cacerts(const gw_ca *ca, size_t *len);
/* NULL when renewals can be signed; otherwise why not (for the log and a
 * 503). */
const char *gw_ca_sign_error(const gw_ca *ca);

/* Signs a renewal for device_id's key with the current issuing CA;
 * validity in seconds. Thread-safe; CPU-bound: call it off the loop. */
int gw_ca_sign(gw_ca *ca, const char *device_id, EVP_PKEY *key, int64_t validity,
               ca_issued *out, ca_error *err);

#endif
