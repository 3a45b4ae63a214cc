/*
 * gw_tls.h - the device port's TLS configuration: an SSL_CTX that requires a
 * client certificate chaining to a trusted issuing CA of the CA directory,
 * TLS 1.3 (1.2 only with ECDHE and AEAD), session tickets for resumption,
 * and a verify callback that keeps why a certificate was refused and whose
 * it was, for the security event.
 *
 * The current context is swapped atomically on SIGHUP (gw_tls_reload); each
 * connection holds a reference to the context it started with, so a reload
 * never disturbs an established connection.
 */
#ifndef VIGIL_GW_TLS_H
#define VIGIL_GW_TLS_H

#include <openssl/ssl.h>

/* What the verify callback saw; stored per connection (SSL ex_data). */
typedef struct gw_tls_peer {
    int verify_error;          /* X509_V_OK or the first error */
    char subject_cn[65];       /* of the leaf, "" if none */
    char serial[41];           /* hex */
    char issuer[128];          /* one-line issuer name */
} gw_tls_peer;

int gw_tls_init(void);
/* Builds a new context from files and makes it current. 0 or -1 (logged). */
int gw_tls_reload(const char *cert_file, const char *key_file, const char *ca_dir);
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
