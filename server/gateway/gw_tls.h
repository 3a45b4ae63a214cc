/*
 * gw_tls.h - the device port's TLS configuration: an SSL_CTX that requires a
 * client certificate chaining to a trusted issuing CA of the CA directory,
 * TLS 1.3 (1.2 only with ECDHE and AEAD), session tickets for resumption,
 * and a verify callback that keeps why a certificate was refused and whose
 * it was, for the security event.
 *
 * An expired leaf passes only when an operator's renewal grant names it
 * (the connection may then only renew: gw_est.c).
 *
 * The current context is swapped atomically on SIGHUP and when the CA set
 * changes (gw_tls_install); each
 * connection holds a reference to the context it started with, so a reload
 * never disturbs an established connection.
 */
#ifndef VIGIL_GW_TLS_H
#define VIGIL_GW_TLS_H

#include <openssl/ssl.h>
#include <stdint.h>

#include "server/gateway/gw_ca.h"

/* What the verify callback saw; stored per connection (SSL ex_data). */
typedef struct gw_tls_peer {
    int verify_error;          /* X509_V_OK or the first error */
    char subject_cn[65];       /* of the leaf, "" if none */
    char serial[41];           /* hex */
    char issuer[128];          /* one-line issuer name */
    uint8_t fp[32];            /* SHA-256 of the leaf, when one was seen */
    int has_fp;
    int renewal_grant;         /* an expired leaf let through on an open
                                  renewal grant (reg_grant.h) */
} gw_tls_peer;

int gw_tls_init(void);
/* A new context from the port's certificate files, trusting what ca
 * trusts; NULL (logged) on failure. Reads files: not on an event loop. */
SSL_CTX *gw_tls_build(const char *cert_file, const char *key_file, const gw_ca *ca);
/* Makes ctx current (takes over the caller's reference). */
void gw_tls_install(SSL_CTX *ctx);
/* A new reference to the current context (SSL_CTX_free when done). */
SSL_CTX *gw_tls_current(void);
/* 1 when a context is loaded: the device port can take handshakes. */
int gw_tls_ready(void);
void gw_tls_shutdown(void);

/* Attaches info to ssl so the verify callback can fill it. */
void gw_tls_set_peer(SSL *ssl, gw_tls_peer *info);
/* A short reason for a failed handshake: "no_certificate", "expired",
 * "not_yet_valid", "unknown_issuer", "bad_signature", "not_client_cert",
 * "protocol". */
const char *gw_tls_failure_reason(const gw_tls_peer *info, unsigned long ssl_err);

#endif
