/*
 * fuzz_est_csr.c - libFuzzer target for what a device sends to
 * POST /.well-known/est/simplereenroll before anything reaches the
 * database: the base64 body decoded (cert-authority/ca_est.c), parsed as
 * PKCS#10, its key checked for strength, its subject and subjectAltName
 * checked against the device id, and its proof of possession verified.
 *
 * The first byte picks the layer: even, the rest is the body as sent
 * (base64); odd, the rest is the DER itself, so that mutations reach the
 * PKCS#10 and name checks rather than dying in base64. Beyond not
 * crashing: a CSR accepted for device "dev-1" has exactly that CN. A
 * violation traps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "cert-authority/ca.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = 0;
    char why[320], cn[80];
    ca_error err = {0};
    if (size < 1)
        return 0;
    unsigned char *der = NULL;
    if (data[0] & 1) {
        if (size - 1 > 8192 || !(der = malloc(size)))
            return 0;
        memcpy(der, data + 1, size - 1);
        len = size - 1;
    } else {
        der = ca_est_base64_decode((const char *)data + 1, size - 1, 8192, &len);
    }
    X509_REQ *req = der ? ca_csr_parse(der, len, &err) : NULL;
    if (req) {
        EVP_PKEY *key = X509_REQ_get0_pubkey(req);
        if (key && ca_key_check_strength(key, &err) == 0) {
            char hex[CA_FINGERPRINT_HEX];
            (void)ca_key_sha256(key, hex);
            (void)X509_REQ_verify(req, key);
        }
        if (ca_csr_names_device(req, "dev-1", why, sizeof(why))) {
            if (ca_csr_common_name(req, cn, sizeof(cn)) != 1 || strcmp(cn, "dev-1") != 0)
                __builtin_trap();
        }
        X509_REQ_free(req);
    }
    free(der);
    ERR_clear_error();
    return 0;
}
