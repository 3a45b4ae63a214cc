/*
 * keygen.h - `vigil-device keygen`: the device's own key and its CSR; the
 * CSR builder is shared with `renew`.
 */
#ifndef VIGIL_DEVICE_KEYGEN_H
#define VIGIL_DEVICE_KEYGEN_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Writes OUT_DIR/ID.key (0600) and OUT_DIR/ID.csr; returns an exit code. */
int keygen_command(const char *id, const char *out_dir, const char *key_type);
/* A CSR signed by key: subject CN=id, SAN URI urn:vigil:device:<id>. NULL on failure. */
X509_REQ *keygen_csr(EVP_PKEY *key, const char *id);
/* The private key as PEM (PKCS#8), malloc'd and NUL-terminated; NULL on failure. */
char *keygen_key_pem(EVP_PKEY *key);

#endif
