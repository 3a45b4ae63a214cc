/*
 * manifest.c - update manifests and key endorsements as compact JWS (see
 * manifest.h). libjose signs, verifies, hashes thumbprints and encodes
 * base64url; here are only the compact form and the claim rules.
 *
 * Verification is strict where a lax reader would be a hole: alg must be
 * ES256 (never "none", never chosen by the key), the key is picked by kid
 * from the caller's set only (a "jwk" or "jku" in the header is never
 * followed), "crit" is refused, and JSON with a duplicate member is
 * refused so that no two readers can see different claims.
 */
#include "protocol/manifest.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <jose/openssl.h>

#define PART_MAX MANIFEST_JWS_MAX

const char *manifest_status_name(manifest_status s)
{
    switch (s) {
    case MANIFEST_OK: return "ok";
    case MANIFEST_MALFORMED: return "malformed";
    case MANIFEST_UNKNOWN_KEY: return "unknown_key";
    case MANIFEST_BAD_SIGNATURE: return "bad_signature";
    case MANIFEST_EXPIRED: return "expired";
    case MANIFEST_WRONG_CLASS: return "wrong_class";
    case MANIFEST_ROLLBACK: return "rollback";
    }
    return "malformed";
}

static manifest_status refuse(manifest_status s, char *why, size_t why_len, const char *fmt, ...)
{
    if (why && why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_len, fmt, ap);
        va_end(ap);
    }
    return s;
}

int manifest_version_valid(const char *text)
{
    if (!text || !text[0] || strlen(text) > MANIFEST_VERSION_MAX)
        return 0;
    for (const char *p = text; *p; p++) {
        int alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9');
        if (!alnum && (p == text || !strchr(".+_~-", *p)))
            return 0;
    }
    return 1;
}

int manifest_sha256_valid(const char *text)
{
    if (!text || strlen(text) != MANIFEST_SHA256_LEN)
        return 0;
    for (const char *p = text; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

/* ---- keys ---- */

int manifest_kid(const json_t *jwk, char kid[MANIFEST_KID_LEN + 1])
{
    json_t *thp = jose_jwk_thp(NULL, jwk, "S256");
    const char *s = json_string_value(thp);
    int ok = s && strlen(s) == MANIFEST_KID_LEN;
    if (ok)
        memcpy(kid, s, MANIFEST_KID_LEN + 1);
    json_decref(thp);
    return ok ? 0 : -1;
}

static int is_p256(const json_t *jwk)
{
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    return kty && crv && !strcmp(kty, "EC") && !strcmp(crv, "P-256") &&
           json_is_string(json_object_get(jwk, "x")) && json_is_string(json_object_get(jwk, "y"));
}

json_t *manifest_jwk_from_key(EVP_PKEY *key)
{
    char kid[MANIFEST_KID_LEN + 1];
    json_t *jwk = jose_openssl_jwk_from_EVP_PKEY(NULL, key);
    if (!jwk || !is_p256(jwk) || manifest_kid(jwk, kid) < 0 ||
        json_object_set_new(jwk, "kid", json_string(kid)) < 0 ||
        json_object_set_new(jwk, "alg", json_string("ES256")) < 0 ||
        json_object_set_new(jwk, "use", json_string("sig")) < 0) {
        json_decref(jwk);
        return NULL;
    }
    return jwk;
}

json_t *manifest_jwk_public(const json_t *jwk)
{
    json_t *pub = json_deep_copy(jwk);
    if (pub && !jose_jwk_pub(NULL, pub)) {
        json_decref(pub);
        return NULL;
    }
    /* jose_jwk_pub drops "d" but keeps key_ops a private key may name */
    json_object_del(pub, "key_ops");
    return pub;
}

const json_t *manifest_jwks_find(const json_t *jwks, const char *kid)
{
    const json_t *keys = json_object_get(jwks, "keys");
    size_t i;
    const json_t *k;
    char thp[MANIFEST_KID_LEN + 1];
    json_array_foreach(keys, i, k) {
        const char *name = json_string_value(json_object_get(k, "kid"));
        if (!name || strcmp(name, kid) != 0)
            continue;
        /* a set that lists a private key, or a key under another key's
         * name, is not one to verify with */
        if (!is_p256(k) || json_object_get(k, "d") || manifest_kid(k, thp) < 0 ||
            strcmp(thp, kid) != 0)
            return NULL;
        return k;
    }
    return NULL;
}

/* ---- compact JWS ---- */

/* Signs payload with key under a protected header {alg, kid, typ}. */
static char *compact_sign(json_t *payload, const char *typ, const json_t *key)
{
    char kid[MANIFEST_KID_LEN + 1];
    char *out = NULL;
    json_t *jws = NULL, *sig = NULL;
    if (!payload || !is_p256(key) || !json_object_get(key, "d") || manifest_kid(key, kid) < 0)
        goto fail;
    jws = json_pack("{s:o}", "payload", jose_b64_enc_dump(payload));
    sig = json_pack("{s:{s:s, s:s, s:s}}", "protected", "alg", "ES256", "kid", kid, "typ", typ);
    if (!jws || !sig || !jose_jws_sig(NULL, jws, sig, key))
        goto fail;
    const char *p = json_string_value(json_object_get(jws, "protected"));
    const char *b = json_string_value(json_object_get(jws, "payload"));
    const char *s = json_string_value(json_object_get(jws, "signature"));
    if (!p || !b || !s)
        goto fail;
    size_t n = strlen(p) + strlen(b) + strlen(s) + 3;
    if (n > MANIFEST_JWS_MAX || !(out = malloc(n)))
        goto fail;
    snprintf(out, n, "%s.%s.%s", p, b, s);
fail:
    json_decref(payload);
    json_decref(jws);
    json_decref(sig);
    return out;
}

static int b64url_part(const char *s, size_t n)
{
    if (n == 0 || n > PART_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* 1 when a part is the one spelling of its bytes: base64url leaves spare
 * low bits in a last character (2 or 4 of them), which libjose does not
 * look at, so "...Q" and "...R" could decode to the same signature. Only
 * the encoder's own output (spare bits zero) is taken: one manifest, one
 * string. */
static int b64url_canonical(const json_t *part)
{
    char buf[PART_MAX];
    size_t n = jose_b64_dec(part, NULL, 0);
    if (n == SIZE_MAX || n > sizeof buf || jose_b64_dec(part, buf, sizeof buf) != n)
        return 0;
    json_t *again = jose_b64_enc(buf, n);
    int same = json_equal(again, part);
    json_decref(again);
    return same;
}

/* JSON from one base64url part; duplicates refused. */
static json_t *part_json(const json_t *part)
{
    char buf[PART_MAX];
    size_t n = jose_b64_dec(part, NULL, 0);
    if (n == SIZE_MAX || n > sizeof buf || jose_b64_dec(part, buf, sizeof buf) != n)
        return NULL;
    json_t *v = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* Unverified, so not part_json: the payload as libjose reads it (any
 * JSON, duplicate members kept, no size bound), which is what a report
 * or `release show` has always shown of a manifest. */
json_t *manifest_peek_claims(const char *jws, size_t len)
{
    const char *a = jws ? memchr(jws, '.', len) : NULL,
               *b = a ? memchr(a + 1, '.', len - (size_t)(a + 1 - jws)) : NULL;
    json_t *part = b ? json_stringn(a + 1, (size_t)(b - a - 1)) : NULL;
    json_t *claims = part ? jose_b64_dec_load(part) : NULL;
    json_decref(part);
    return claims;
}

/* Splits, checks the header and the signature; *payload gets the claims. */
static manifest_status compact_verify(const char *jws, size_t len, const char *typ,
                                      const json_t *jwks, json_t **payload, char *kid_out,
                                      char *why, size_t why_len)
{
    manifest_status st = MANIFEST_MALFORMED;
    json_t *parts[3] = {NULL, NULL, NULL}, *hdr = NULL, *flat = NULL;
    const char *start = jws, *end = jws + len;
    *payload = NULL;
    if (!jws || len == 0 || len > MANIFEST_JWS_MAX) {
        st = refuse(st, why, why_len, "not a compact JWS of at most %d bytes", MANIFEST_JWS_MAX);
        goto fail;
    }
    for (int i = 0; i < 3; i++) {
        const char *dot = memchr(start, '.', (size_t)(end - start));
        const char *stop = i < 2 ? dot : end;
        if (!stop || (i == 2 && dot) || !b64url_part(start, (size_t)(stop - start)) ||
            !(parts[i] = json_stringn(start, (size_t)(stop - start))) ||
            !b64url_canonical(parts[i])) {
            st = refuse(st, why, why_len, "not three canonical base64url parts joined by dots");
            goto fail;
        }
        start = stop + 1;
    }
    hdr = part_json(parts[0]);
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *htyp = json_string_value(json_object_get(hdr, "typ"));
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    if (!hdr || !alg || strcmp(alg, "ES256") != 0) {
        st = refuse(st, why, why_len, "the protected header must say alg ES256");
        goto fail;
    }
    if (!htyp || strcmp(htyp, typ) != 0 || json_object_get(hdr, "crit")) {
        st = refuse(st, why, why_len, "the protected header must say typ %s and carry no crit", typ);
        goto fail;
    }
    if (!kid || strlen(kid) != MANIFEST_KID_LEN) {
        st = refuse(st, why, why_len, "the protected header has no kid of %d characters",
                    MANIFEST_KID_LEN);
        goto fail;
    }
    const json_t *key = manifest_jwks_find(jwks, kid);
    if (!key) {
        st = refuse(MANIFEST_UNKNOWN_KEY, why, why_len, "signed by key %s, which is not trusted here",
                    kid);
        goto fail;
    }
    flat = json_pack("{s:O, s:O, s:O}", "protected", parts[0], "payload", parts[1], "signature",
                     parts[2]);
    if (!flat || !jose_jws_ver(NULL, flat, NULL, key, false)) {
        st = refuse(MANIFEST_BAD_SIGNATURE, why, why_len, "the signature by key %s does not verify",
                    kid);
        goto fail;
    }
    if (!(*payload = part_json(parts[1]))) {
        st = refuse(st, why, why_len, "the payload is not a JSON object");
        goto fail;
    }
    memcpy(kid_out, kid, MANIFEST_KID_LEN + 1);
    st = MANIFEST_OK;
fail:
    for (int i = 0; i < 3; i++)
        json_decref(parts[i]);
    json_decref(hdr);
    json_decref(flat);
    return st;
}

/* ---- manifests ---- */

static int claims_valid(const manifest *m)
{
    char path[sizeof m->path];
    snprintf(path, sizeof path, MANIFEST_PATH_PREFIX "%s", m->sha256);
    return manifest_version_valid(m->version) && device_id_valid(m->device_class) &&
           m->security_version >= 0 && m->security_version <= MANIFEST_SIZE_MAX &&
           manifest_sha256_valid(m->sha256) && m->size > 0 && m->size <= MANIFEST_SIZE_MAX &&
           strcmp(m->path, path) == 0 && m->issued_at > 0 && m->expires_at > m->issued_at;
}

char *manifest_sign(const manifest *m, const json_t *key)
{
    char kid[MANIFEST_KID_LEN + 1];
    if (!claims_valid(m) || manifest_kid(key, kid) < 0)
        return NULL;
    json_t *claims = json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:I, s:s}, s:I, s:I, s:s}", "typ",
                               MANIFEST_TYP, "version", m->version, "security_version",
                               (json_int_t)m->security_version, "class", m->device_class,
                               "artifact", "sha256", m->sha256, "size", (json_int_t)m->size, "path",
                               m->path, "iat", (json_int_t)m->issued_at, "exp",
                               (json_int_t)m->expires_at, "kid", kid);
    return compact_sign(claims, MANIFEST_TYP, key);
}

int manifest_copy_text(char *dst, size_t cap, const char *src)
{
    if (!src || strlen(src) >= cap)
        return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

manifest_status manifest_verify(const char *jws, size_t len, const json_t *jwks, manifest *out,
                                char *why, size_t why_len)
{
    json_t *claims = NULL;
    char kid[MANIFEST_KID_LEN + 1];
    manifest_status st = compact_verify(jws, len, MANIFEST_TYP, jwks, &claims, kid, why, why_len);
    if (st != MANIFEST_OK)
        return st;
    const char *typ = NULL, *version = NULL, *cls = NULL, *sha = NULL, *path = NULL, *ckid = NULL;
    json_int_t sv = -1, size = -1, iat = -1, exp = -1;
    memset(out, 0, sizeof *out);
    if (json_unpack(claims, "{s:s, s:s, s:I, s:s, s:{s:s, s:I, s:s}, s:I, s:I, s:s}", "typ", &typ,
                    "version", &version, "security_version", &sv, "class", &cls, "artifact",
                    "sha256", &sha, "size", &size, "path", &path, "iat", &iat, "exp", &exp, "kid",
                    &ckid) < 0 ||
        strcmp(typ, MANIFEST_TYP) != 0 || strcmp(ckid, kid) != 0 ||
        manifest_copy_text(out->version, sizeof out->version, version) < 0 ||
        manifest_copy_text(out->device_class, sizeof out->device_class, cls) < 0 ||
        manifest_copy_text(out->sha256, sizeof out->sha256, sha) < 0 ||
        manifest_copy_text(out->path, sizeof out->path, path) < 0) {
        json_decref(claims);
        return refuse(MANIFEST_MALFORMED, why, why_len, "the claims are not those of a manifest");
    }
    out->security_version = sv;
    out->size = size;
    out->issued_at = iat;
    out->expires_at = exp;
    memcpy(out->kid, kid, sizeof kid);
    json_decref(claims);
    if (!claims_valid(out))
        return refuse(MANIFEST_MALFORMED, why, why_len, "a claim is out of range");
    return MANIFEST_OK;
}

manifest_status manifest_check(const manifest *m, const char *device_class, int64_t floor,
                               int64_t now, char *why, size_t why_len)
{
    if (strcmp(m->device_class, device_class) != 0)
        return refuse(MANIFEST_WRONG_CLASS, why, why_len,
                      "the manifest is for class %s; this device is %s", m->device_class,
                      device_class);
    if (now >= m->expires_at)
        return refuse(MANIFEST_EXPIRED, why, why_len, "the manifest expired at %lld; now is %lld",
                      (long long)m->expires_at, (long long)now);
    if (m->security_version < floor)
        return refuse(MANIFEST_ROLLBACK, why, why_len,
                      "security version %lld is below the %lld this device has",
                      (long long)m->security_version, (long long)floor);
    return MANIFEST_OK;
}

/* ---- key endorsements ---- */

char *manifest_endorse(const json_t *endorsed, const json_t *signer, int64_t now)
{
    json_t *keys = json_array();
    size_t i;
    const json_t *k;
    json_array_foreach(endorsed, i, k) {
        json_t *pub = manifest_jwk_public(k);
        if (!pub || !is_p256(pub) || json_array_append_new(keys, pub) < 0) {
            json_decref(keys);
            return NULL;
        }
    }
    return compact_sign(json_pack("{s:s, s:o, s:I}", "typ", ENDORSEMENT_TYP, "keys", keys, "iat",
                                  (json_int_t)now),
                        ENDORSEMENT_TYP, signer);
}

manifest_status manifest_endorsement_verify(const char *jws, size_t len, const json_t *jwks,
                                            json_t **keys, char *why, size_t why_len)
{
    json_t *claims = NULL;
    char kid[MANIFEST_KID_LEN + 1];
    *keys = NULL;
    manifest_status st = compact_verify(jws, len, ENDORSEMENT_TYP, jwks, &claims, kid, why, why_len);
    if (st != MANIFEST_OK)
        return st;
    const char *typ = json_string_value(json_object_get(claims, "typ"));
    json_t *list = json_object_get(claims, "keys");
    json_t *set = json_pack("{s:O}", "keys", list ? list : json_null());
    size_t i;
    const json_t *k;
    st = typ && !strcmp(typ, ENDORSEMENT_TYP) && json_is_array(list) && json_array_size(list) > 0
             ? MANIFEST_OK
             : MANIFEST_MALFORMED;
    json_array_foreach(list, i, k) {
        const char *name = json_string_value(json_object_get(k, "kid"));
        if (st == MANIFEST_OK && (!name || manifest_jwks_find(set, name) != k))
            st = MANIFEST_MALFORMED;
    }
    if (st == MANIFEST_OK)
        *keys = json_incref(list);
    else
        refuse(st, why, why_len, "the endorsement does not list valid public keys");
    json_decref(set);
    json_decref(claims);
    return st;
}
