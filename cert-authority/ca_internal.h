/*
 * ca_internal.h - helpers shared by the files of the CA library only.
 */
#ifndef VIGIL_CA_INTERNAL_H
#define VIGIL_CA_INTERNAL_H

#include "cert-authority/ca.h"

#include <openssl/bio.h>

/* Writes what `emit` produces to a new file `path` with `mode`, through a
 * synced temporary file linked into place: all or nothing, and an existing
 * file is never replaced. emit returns 1 on success, as OpenSSL does. */
int ca_file_write_new(const char *path, int mode, int (*emit)(BIO *, void *), void *arg,
                      ca_error *err);

/* The same, but replacing `path` atomically (rename) if it exists. */
int ca_file_replace(const char *path, int mode, int (*emit)(BIO *, void *), void *arg,
                    ca_error *err);

/* A new certificate with a random positive serial of CA_SERIAL_BYTES, the
 * given subject key, validity [not_before, not_after] and the issuer's name
 * (its own subject when issuer is NULL: self-signed). */
X509 *ca_cert_new(EVP_PKEY *subject_key, X509 *issuer, time_t not_before, time_t not_after,
                  ca_error *err);

/* The digest to sign with for a CA key: SHA-256 for P-256, SHA-384 for
 * P-384, none for Ed25519 (which hashes internally). */
const EVP_MD *ca_sign_digest(EVP_PKEY *key);

/* Adds SKI and AKI, then signs with the digest that suits the key. */
int ca_cert_sign(X509 *cert, X509 *issuer, EVP_PKEY *issuer_key, ca_error *err);

/* A CA certificate (root when issuer is NULL, else an issuing CA). */
X509 *ca_make_ca_cert(const char *org, const char *cn, EVP_PKEY *key, X509 *issuer,
                      EVP_PKEY *issuer_key, time_t not_after, ca_error *err);

/* Adds an extension given in OpenSSL's config syntax ("critical,CA:FALSE").
 * issuer NULL means self-signed. */
int ca_cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value, ca_error *err);

/* Fills the SKI-as-hex form used to name issuers in the registry. */
int ca_ski_hex(X509 *cert, char out[65]);

#endif
