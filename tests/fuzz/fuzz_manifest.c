/*
 * fuzz_manifest.c - libFuzzer target for what vigil-device accepts from
 * the server before it installs anything: a manifest or a key endorsement
 * as compact JWS (protocol/manifest.c), checked against pinned keys.
 *
 * The first byte picks the layer: even, the rest is the JWS as received;
 * odd, the rest is a payload that this target signs with the pinned key
 * under a valid header (typ manifest, or endorsement when bit 1 is set),
 * so that mutations reach the claim checks behind the signature rather
 * than dying at it. Beyond not crashing: a manifest
 * that verifies has claims that manifest_sign accepts again and that
 * verify again to the same values. A violation traps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/jws.h>

#include "protocol/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *key, *jwks;

/* A fixed test key (made for this target with `jose jwk gen`, never used
 * elsewhere), so that seeds can carry its kid. */
#define FUZZ_KEY                                                                                   \
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"d\":\"tQR2XcZjD2GIlKGNOYND8HsabKF6C_1dd8inGaDO01E\","     \
    "\"x\":\"B_QA0-rDkNelSHOtogwYS4vooPfjHpE8-MGWjAHJ3vw\","                                       \
    "\"y\":\"vQS60pk1nUqsboRvwT0n1M6lJVEsQA5fhBp8MY3dXvo\"}"

static void setup(void)
{
    char kid[MANIFEST_KID_LEN + 1];
    key = json_loads(FUZZ_KEY, 0, NULL);
    if (!key || manifest_kid(key, kid) < 0)
        __builtin_trap();
    json_object_set_new(key, "kid", json_string(kid));
    json_object_set_new(key, "alg", json_string("ES256"));
    jwks = json_pack("{s:[o]}", "keys", manifest_jwk_public(key));
    if (!jwks)
        __builtin_trap();
}

/* A compact JWS of payload under the pinned key, with typ typ. */
static char *sign_raw(const uint8_t *payload, size_t n, const char *typ)
{
    json_t *jws = json_pack("{s:o}", "payload", jose_b64_enc(payload, n));
    json_t *sig = json_pack("{s:{s:s, s:s, s:s}}", "protected", "alg", "ES256", "kid",
                            json_string_value(json_object_get(key, "kid")), "typ", typ);
    char *out = NULL;
    if (jws && sig && jose_jws_sig(NULL, jws, sig, key)) {
        const char *p = json_string_value(json_object_get(jws, "protected"));
        const char *b = json_string_value(json_object_get(jws, "payload"));
        const char *s = json_string_value(json_object_get(jws, "signature"));
        size_t len = strlen(p) + strlen(b) + strlen(s) + 3;
        if ((out = malloc(len)))
            snprintf(out, len, "%s.%s.%s", p, b, s);
    }
    json_decref(jws);
    json_decref(sig);
    return out;
}

static void check_round_trip(const manifest *m)
{
    manifest again;
    char *jws = manifest_sign(m, key);
    if (!jws || manifest_verify(jws, strlen(jws), jwks, &again, NULL, 0) != MANIFEST_OK ||
        strcmp(again.version, m->version) || strcmp(again.sha256, m->sha256) ||
        again.security_version != m->security_version || again.size != m->size)
        __builtin_trap();
    free(jws);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!key)
        setup();
    if (size < 1 || size > MANIFEST_JWS_MAX)
        return 0;
    char *jws = NULL;
    if (data[0] & 1) {
        jws = sign_raw(data + 1, size - 1, data[0] & 2 ? ENDORSEMENT_TYP : MANIFEST_TYP);
    } else if ((jws = malloc(size))) {
        memcpy(jws, data + 1, size - 1);
        jws[size - 1] = '\0';
    }
    if (!jws)
        return 0;
    manifest m;
    char why[200];
    size_t len = data[0] & 1 ? strlen(jws) : size - 1;
    if (manifest_verify(jws, len, jwks, &m, why, sizeof why) == MANIFEST_OK) {
        check_round_trip(&m);
        (void)manifest_check(&m, "sensor", 3, 1700000000, why, sizeof why);
    }
    json_t *keys = NULL;
    if (manifest_endorsement_verify(jws, len, jwks, &keys, why, sizeof why) == MANIFEST_OK &&
        json_array_size(keys) == 0)
        __builtin_trap();
    json_decref(keys);
    free(jws);
    return 0;
}
