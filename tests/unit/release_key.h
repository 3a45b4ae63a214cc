/*
 * release_key.h - a fresh release key for the unit tests that sign
 * manifests or pin keys (protocol/ and tools/vigil-device/ both do).
 */
#ifndef VIGIL_TEST_RELEASE_KEY_H
#define VIGIL_TEST_RELEASE_KEY_H

#include <criterion/criterion.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <string.h>

#include "protocol/manifest.h"

/* A new EC P-256 private JWK (manifest_jwk_from_key); json_decref it. */
static inline json_t *new_key(void)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    cr_assert_not_null(pkey);
    json_t *jwk = manifest_jwk_from_key(pkey);
    EVP_PKEY_free(pkey);
    cr_assert_not_null(jwk);
    return jwk;
}

#endif
