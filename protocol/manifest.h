/*
 * manifest.h - signed update manifests and release keys, the one place
 * that knows their wire form (docs/DEVICE-PORT.md, "Manifests").
 *
 * A manifest is a compact JWS (RFC 7515), ES256, whose protected header
 * carries the signing key's id: its RFC 7638 thumbprint (SHA-256,
 * base64url). The payload states what to install: version, security
 * version, device class, artifact digest, size and path, issue time and
 * expiry. A key endorsement is the same kind of JWS, typ "vigil-keys",
 * whose payload lists release keys a key already trusted vouches for:
 * that is how a device learns a rotated key without trusting the server.
 *
 * Signing, verification, thumbprints and base64url are libjose's; this
 * file only assembles the compact form (three base64url parts joined by
 * dots) and checks the claims. vigilctl signs (it holds the private
 * keys); vigild serves what vigilctl stored and never signs; vigil-device
 * verifies against the keys it pinned.
 *
 * JSON values returned are owned by the caller (json_decref); strings
 * returned are malloc'd (free).
 */
#ifndef VIGIL_MANIFEST_H
#define VIGIL_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "protocol/device_id.h"

#define MANIFEST_KID_LEN 43          /* base64url of a SHA-256 */
#define MANIFEST_VERSION_MAX 64
#define MANIFEST_SHA256_LEN 64       /* lowercase hex */
#define MANIFEST_PATH_PREFIX "/v1/artifacts/"
#define MANIFEST_JWS_MAX 8192        /* a manifest or an endorsement, compact */
#define MANIFEST_SIZE_MAX ((int64_t)1 << 53) /* exact in every JSON reader */
#define MANIFEST_TYP "vigil-manifest"
#define ENDORSEMENT_TYP "vigil-keys"
/* The rule in words, for messages that refuse a version. */
#define MANIFEST_VERSION_RULE "1-64 characters A-Z a-z 0-9 . + _ ~ - starting with a letter or digit"

typedef struct manifest {
    char version[MANIFEST_VERSION_MAX + 1];
    char device_class[DEVICE_ID_MAX + 1];
    int64_t security_version;        /* 0 .. MANIFEST_SIZE_MAX */
    char sha256[MANIFEST_SHA256_LEN + 1];
    int64_t size;                    /* bytes, 1 .. MANIFEST_SIZE_MAX */
    char path[sizeof MANIFEST_PATH_PREFIX + MANIFEST_SHA256_LEN];
    int64_t issued_at, expires_at;   /* Unix seconds */
    char kid[MANIFEST_KID_LEN + 1];  /* also in the protected header */
} manifest;

typedef enum manifest_status {
    MANIFEST_OK = 0,
    MANIFEST_MALFORMED,      /* not a compact JWS of this kind, or a claim is wrong */
    MANIFEST_UNKNOWN_KEY,    /* kid names no key in the set given */
    MANIFEST_BAD_SIGNATURE,  /* the key is known; the signature does not verify */
    MANIFEST_EXPIRED,        /* manifest_check: now >= exp */
    MANIFEST_WRONG_CLASS,    /* manifest_check: for another device class */
    MANIFEST_ROLLBACK,       /* manifest_check: security version below the floor */
} manifest_status;

/* "malformed", "unknown_key", ... (the reason codes both ports use). */
const char *manifest_status_name(manifest_status s);

/* 1 if text is a valid release version (MANIFEST_VERSION_RULE). */
int manifest_version_valid(const char *text);
/* 1 if text is 64 lowercase hex digits. */
int manifest_sha256_valid(const char *text);

/* Copies the string src into dst of cap bytes: 0, or -1 (dst untouched)
 * if src is NULL or does not fit with its NUL. */
int manifest_copy_text(char *dst, size_t cap, const char *src);

/* ---- keys ---- */

/* The RFC 7638 SHA-256 thumbprint of jwk (public or private). 0 or -1. */
int manifest_kid(const json_t *jwk, char kid[MANIFEST_KID_LEN + 1]);
/* The private JWK of an EC P-256 key, with kid, alg ES256 and use sig;
 * NULL if key is not P-256 or on failure. */
json_t *manifest_jwk_from_key(EVP_PKEY *key);
/* The public half of a JWK (a new object without "d"); NULL on failure. */
json_t *manifest_jwk_public(const json_t *jwk);
/* The key in a JWKS ({"keys": [...]}) whose kid is kid, verified to be an
 * EC P-256 public key whose thumbprint is kid; borrowed, or NULL. */
const json_t *manifest_jwks_find(const json_t *jwks, const char *kid);

/* ---- manifests ---- */

/* Signs m with the private JWK key; m->kid is ignored and taken from the
 * key. The compact JWS, or NULL if a claim is invalid or signing fails. */
char *manifest_sign(const manifest *m, const json_t *key);
/* Verifies jws (len bytes, not NUL-terminated necessarily) against the
 * keys in jwks and fills *out from its claims. Checks the form, alg
 * ES256, typ, kid and every claim; not expiry, class or rollback (see
 * manifest_check). why (may be NULL) gets a sentence for a refusal. */
manifest_status manifest_verify(const char *jws, size_t len, const json_t *jwks, manifest *out,
                                char *why, size_t why_len);
/* The payload of jws (len bytes) as JSON, NOT verified: the part between
 * the first two dots, decoded. Only for display or for naming a release
 * in a report (a refusal's version, `release show`), never to act on.
 * NULL if there is no such part or it is not base64url JSON. */
json_t *manifest_peek_claims(const char *jws, size_t len);
/* What a device checks after the signature: its class, the clock, and
 * its stored security version (never below floor). */
manifest_status manifest_check(const manifest *m, const char *device_class, int64_t floor,
                               int64_t now, char *why, size_t why_len);

/* ---- key endorsements ---- */

/* A JWS by signer (a private JWK) vouching for the public keys in
 * endorsed (a JSON array of JWKs), issued at now. NULL on failure. */
char *manifest_endorse(const json_t *endorsed, const json_t *signer, int64_t now);
/* Verifies an endorsement against the keys in jwks; on success *keys gets
 * the endorsed public keys (an array, each checked like
 * manifest_jwks_find), which the caller may now trust. */
manifest_status manifest_endorsement_verify(const char *jws, size_t len, const json_t *jwks,
                                            json_t **keys, char *why, size_t why_len);

#endif
