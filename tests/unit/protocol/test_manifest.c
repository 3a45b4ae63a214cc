/*
 * test_manifest.c - signed manifests and key endorsements
 * (protocol/manifest.c): what vigilctl signs verifies, and every way a
 * manifest can be wrong is refused with its own status. The end-to-end
 * tests check the same JWS with the jose command-line tool.
 */
#include <criterion/criterion.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "protocol/manifest.h"
#include "tests/unit/leak_check.h"
#include "tests/unit/release_key.h"

TestSuite(manifest, .fini = leak_check);

static json_t *set_of(const json_t *key)
{
    return json_pack("{s:[o]}", "keys", manifest_jwk_public(key));
}

static manifest sample(void)
{
    manifest m = {.security_version = 7, .size = 1234, .issued_at = 1000, .expires_at = 2000};
    strcpy(m.version, "1.4.2");
    strcpy(m.device_class, "sensor");
    memset(m.sha256, 'a', MANIFEST_SHA256_LEN);
    snprintf(m.path, sizeof m.path, MANIFEST_PATH_PREFIX "%s", m.sha256);
    return m;
}

Test(manifest, signs_and_verifies_every_claim)
{
    json_t *key = new_key(), *jwks = set_of(key);
    manifest m = sample(), got;
    char *jws = manifest_sign(&m, key);
    cr_assert_not_null(jws);
    cr_assert_eq(manifest_verify(jws, strlen(jws), jwks, &got, NULL, 0), MANIFEST_OK);
    cr_assert_str_eq(got.version, "1.4.2");
    cr_assert_str_eq(got.device_class, "sensor");
    cr_assert_eq(got.security_version, 7);
    cr_assert_eq(got.size, 1234);
    cr_assert_str_eq(got.path, m.path);
    cr_assert_eq(got.expires_at, 2000);
    cr_assert_str_eq(got.kid, json_string_value(json_object_get(key, "kid")));
    cr_assert_eq(manifest_check(&got, "sensor", 7, 1999, NULL, 0), MANIFEST_OK);
    cr_assert_eq(manifest_check(&got, "sensor", 7, 2000, NULL, 0), MANIFEST_EXPIRED);
    cr_assert_eq(manifest_check(&got, "camera", 0, 1500, NULL, 0), MANIFEST_WRONG_CLASS);
    cr_assert_eq(manifest_check(&got, "sensor", 8, 1500, NULL, 0), MANIFEST_ROLLBACK);
    free(jws);
    json_decref(jwks);
    json_decref(key);
}

Test(manifest, refuses_another_key_a_tampered_part_and_alg_none)
{
    json_t *key = new_key(), *other = new_key(), *jwks = set_of(key), *wrong = set_of(other);
    manifest m = sample(), got;
    char why[200];
    char *jws = manifest_sign(&m, key);
    cr_assert_eq(manifest_verify(jws, strlen(jws), wrong, &got, why, sizeof why),
                 MANIFEST_UNKNOWN_KEY);
    /* the same kid listed with another key's coordinates is not that key */
    json_t *liar = manifest_jwk_public(other);
    json_object_set(liar, "kid", json_object_get(key, "kid"));
    json_t *lying = json_pack("{s:[o]}", "keys", liar);
    cr_assert_eq(manifest_verify(jws, strlen(jws), lying, &got, NULL, 0), MANIFEST_UNKNOWN_KEY);
    /* one changed character of the payload breaks the signature */
    char *dot = strchr(jws, '.');
    dot[5] = dot[5] == 'A' ? 'B' : 'A';
    manifest_status st = manifest_verify(jws, strlen(jws), jwks, &got, why, sizeof why);
    cr_assert(st == MANIFEST_BAD_SIGNATURE || st == MANIFEST_MALFORMED, "%s", why);
    /* alg none with an empty signature is not a manifest */
    const char *none = "eyJhbGciOiJub25lIn0.eyJ0eXAiOiJ2aWdpbC1tYW5pZmVzdCJ9.";
    cr_assert_eq(manifest_verify(none, strlen(none), jwks, &got, NULL, 0), MANIFEST_MALFORMED);
    cr_assert_eq(manifest_verify("a.b", 3, jwks, &got, NULL, 0), MANIFEST_MALFORMED);
    cr_assert_eq(manifest_verify("a.b.c.d", 7, jwks, &got, NULL, 0), MANIFEST_MALFORMED);
    free(jws);
    json_decref(lying);
    json_decref(jwks);
    json_decref(wrong);
    json_decref(key);
    json_decref(other);
}

Test(manifest, refuses_to_sign_claims_out_of_range)
{
    json_t *key = new_key();
    manifest m = sample();
    strcpy(m.version, "-1");
    cr_assert_null(manifest_sign(&m, key));
    m = sample();
    m.path[3] = 'x';
    cr_assert_null(manifest_sign(&m, key));
    m = sample();
    m.size = 0;
    cr_assert_null(manifest_sign(&m, key));
    m = sample();
    m.expires_at = m.issued_at;
    cr_assert_null(manifest_sign(&m, key));
    /* a public key cannot sign */
    json_t *pub = manifest_jwk_public(key);
    m = sample();
    cr_assert_null(manifest_sign(&m, pub));
    json_decref(pub);
    json_decref(key);
}

Test(manifest, an_endorsement_vouches_for_a_new_key_and_is_not_a_manifest)
{
    json_t *old = new_key(), *fresh = new_key(), *pinned = set_of(old);
    json_t *list = json_pack("[O]", fresh);
    char *e = manifest_endorse(list, old, 1000);
    cr_assert_not_null(e);
    json_t *keys = NULL;
    cr_assert_eq(manifest_endorsement_verify(e, strlen(e), pinned, &keys, NULL, 0), MANIFEST_OK);
    cr_assert_eq(json_array_size(keys), 1);
    cr_assert_null(json_object_get(json_array_get(keys, 0), "d"), "a private part was endorsed");
    json_decref(keys);
    manifest got;
    cr_assert_eq(manifest_verify(e, strlen(e), pinned, &got, NULL, 0), MANIFEST_MALFORMED);
    /* an endorsement by a key not pinned teaches nothing */
    json_t *fresh_set = set_of(fresh);
    cr_assert_eq(manifest_endorsement_verify(e, strlen(e), fresh_set, &keys, NULL, 0),
                 MANIFEST_UNKNOWN_KEY);
    cr_assert_null(keys);
    free(e);
    json_decref(fresh_set);
    json_decref(list);
    json_decref(pinned);
    json_decref(old);
    json_decref(fresh);
}

Test(manifest, versions_and_digests)
{
    cr_assert(manifest_version_valid("1.4.2-rc1+build.7"));
    cr_assert(!manifest_version_valid(""));
    cr_assert(!manifest_version_valid(".1"));
    cr_assert(!manifest_version_valid("1 2"));
    cr_assert(!manifest_version_valid("1/2"));
    char sha[65];
    memset(sha, 'f', 64);
    sha[64] = 0;
    cr_assert(manifest_sha256_valid(sha));
    sha[0] = 'F';
    cr_assert(!manifest_sha256_valid(sha));
}

/* The character of the base64url alphabet whose value is v. */
static char b64url_char(int v)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    return alphabet[v];
}

static int b64url_value(char c)
{
    for (int v = 0; v < 64; v++)
        if (b64url_char(v) == c)
            return v;
    return -1;
}

Test(manifest, refuses_a_part_in_non_canonical_base64url)
{
    json_t *key = new_key(), *jwks = set_of(key);
    manifest m = sample(), got;
    char why[200];
    char *jws = manifest_sign(&m, key);
    size_t len = strlen(jws);
    /* a 64-byte ES256 signature is 86 characters: the last one carries two
     * bits, and its four low ones must be zero. Setting one decodes to the
     * same bytes, so the signature still verifies: a second spelling of
     * the same manifest, which a strict reader does not take. */
    char last = jws[len - 1];
    int v = b64url_value(last);
    cr_assert(v >= 0 && (v & 0x0f) == 0, "the signer wrote a canonical last character");
    jws[len - 1] = b64url_char(v | 0x01);
    cr_assert_eq(manifest_verify(jws, len, jwks, &got, why, sizeof why), MANIFEST_MALFORMED,
                 "a non-canonical signature part was taken");
    jws[len - 1] = last;
    cr_assert_eq(manifest_verify(jws, len, jwks, &got, NULL, 0), MANIFEST_OK);
    /* so is an endorsement's */
    json_t *fresh = new_key(), *list = json_pack("[O]", fresh), *keys = NULL;
    char *e = manifest_endorse(list, key, 1000);
    size_t elen = strlen(e);
    v = b64url_value(e[elen - 1]);
    e[elen - 1] = b64url_char(v | 0x02);
    cr_assert_eq(manifest_endorsement_verify(e, elen, jwks, &keys, NULL, 0), MANIFEST_MALFORMED);
    cr_assert_null(keys);
    free(e);
    json_decref(list);
    json_decref(fresh);
    free(jws);
    json_decref(jwks);
    json_decref(key);
}
