/*
 * ca_issue.c - building and signing certificates with Vigil's profiles.
 *
 * Device certificates (RFC 5280): random 159-bit serial, CN = device id,
 * SAN URI urn:vigil:device:<id>, basicConstraints CA:FALSE, keyUsage
 * digitalSignature, extendedKeyUsage clientAuth, SKI and AKI. Validity comes
 * from the CA's policy and never outlives the issuing CA. Server
 * certificates differ in SAN (DNS/IP) and extendedKeyUsage serverAuth. The
 * CA certificates themselves are built here too.
 */
#include "cert-authority/ca.h"
#include "cert-authority/ca_internal.h"
#include "protocol/device_id.h"
#include "protocol/hex.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

/* Clock skew allowance: a device whose clock is a little behind must still
 * accept a certificate issued a moment ago. */
#define CA_BACKDATE_SKEW 60

X509 *ca_cert_new(EVP_PKEY *subject_key, X509 *issuer, time_t not_before, time_t not_after,
                  ca_error *err)
{
    unsigned char raw[CA_SERIAL_BYTES];
    BIGNUM *bn = NULL;
    X509 *cert = X509_new();
    if (!cert || RAND_bytes(raw, sizeof(raw)) != 1)
        goto fail;
    raw[0] &= 0x7f;                 /* positive */
    raw[0] |= 0x40;                 /* and always CA_SERIAL_BYTES long */
    bn = BN_bin2bn(raw, sizeof(raw), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
        goto fail;
    if (!X509_set_version(cert, X509_VERSION_3) || !X509_set_pubkey(cert, subject_key) ||
        !ASN1_TIME_set(X509_getm_notBefore(cert), not_before) ||
        !ASN1_TIME_set(X509_getm_notAfter(cert), not_after))
        goto fail;
    if (issuer && !X509_set_issuer_name(cert, X509_get_subject_name(issuer)))
        goto fail;
    BN_free(bn);
    return cert;
fail:
    BN_free(bn);
    X509_free(cert);
    ca_fail(err, CA_ERR_CRYPTO, "cannot build certificate");
    return NULL;
}

int ca_cert_add_ext(X509 *cert, X509 *issuer, int nid, const char *value, ca_error *err)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ERR_clear_error();
    if (!ok)
        return ca_fail(err, CA_ERR_CRYPTO, "cannot add extension %s=%s", OBJ_nid2sn(nid), value);
    return 0;
}

const EVP_MD *ca_sign_digest(EVP_PKEY *key)
{
    if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
        return NULL;                 /* pure EdDSA signs the message itself */
    return EVP_PKEY_get_bits(key) > 256 ? EVP_sha384() : EVP_sha256();
}

int ca_cert_sign(X509 *cert, X509 *issuer, EVP_PKEY *issuer_key, ca_error *err)
{
    if (!issuer && !X509_set_issuer_name(cert, X509_get_subject_name(cert)))
        return ca_fail(err, CA_ERR_CRYPTO, "cannot set issuer");
    if (ca_cert_add_ext(cert, issuer, NID_subject_key_identifier, "hash", err) < 0 ||
        ca_cert_add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always", err) < 0)
        return -1;
    if (X509_sign(cert, issuer_key, ca_sign_digest(issuer_key)) <= 0) {
        ERR_clear_error();
        return ca_fail(err, CA_ERR_CRYPTO, "signing failed");
    }
    return 0;
}

int ca_ski_hex(X509 *cert, char out[65])
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
    int len = ski ? ASN1_STRING_length(ski) : 0;
    if (len <= 0 || len > 32)
        return -1;
    hex_encode(ASN1_STRING_get0_data(ski), (size_t)len, out);
    return 0;
}

static int set_subject(X509 *cert, const char *org, const char *cn)
{
    X509_NAME *name = X509_get_subject_name(cert);
    if (org && !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                           (const unsigned char *)org, -1, -1, 0))
        return -1;
    return X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
                                      -1, 0) ? 0 : -1;
}

X509 *ca_make_ca_cert(const char *org, const char *cn, EVP_PKEY *key, X509 *issuer,
                      EVP_PKEY *issuer_key, time_t not_after, ca_error *err)
{
    time_t now = time(NULL);
    X509 *cert = ca_cert_new(key, issuer, now - CA_BACKDATE_SKEW, not_after, err);
    if (!cert)
        return NULL;
    if (set_subject(cert, org, cn) < 0) {
        ca_fail(err, CA_ERR_INVALID, "invalid CA subject");
        goto fail;
    }
    /* The root may sign issuing CAs; an issuing CA may sign only end entities. */
    if (ca_cert_add_ext(cert, issuer, NID_basic_constraints,
                        issuer ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE,pathlen:1",
                        err) < 0 ||
        ca_cert_add_ext(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign", err) < 0 ||
        ca_cert_sign(cert, issuer, issuer ? issuer_key : key, err) < 0)
        goto fail;
    return cert;
fail:
    X509_free(cert);
    return NULL;
}

/* Validity [not_before, not_after] for a leaf, checked against the policy
 * and the issuing CA's own expiry. */
static int leaf_validity(const ca_store *s, const ca_issuer *iss, int64_t validity,
                         int64_t backdate, time_t *not_before, time_t *not_after, ca_error *err)
{
    time_t ca_end = 0;
    if (validity == 0)
        validity = s->default_validity;
    if (validity > s->max_validity)
        return ca_fail(err, CA_ERR_INVALID,
                       "validity of %lld s exceeds this CA's maximum of %lld s (max_validity)",
                       (long long)validity, (long long)s->max_validity);
    time_t now = time(NULL);
    /* The skew allowance widens the window backwards only: a certificate
     * asked for a minute is good for a minute from now. A backdated one
     * (tests of expiry) keeps its length from its backdated start. */
    *not_before = now - (backdate > 0 ? backdate : CA_BACKDATE_SKEW);
    *not_after = (backdate > 0 ? *not_before : now) + validity;
    if (ca_asn1_time_to_unix(X509_get0_notAfter(iss->cert), &ca_end) < 0 || *not_after > ca_end)
        return ca_fail(err, CA_ERR_INVALID,
                       "the issuing CA %s expires before this certificate would; run "
                       "`vigilctl ca rotate` first", iss->id);
    return 0;
}

static int finish_issued(X509 *cert, const ca_issuer *iss, time_t nb, time_t na,
                         ca_issued *out, ca_error *err)
{
    memset(out, 0, sizeof(*out));
    if (ca_serial_hex(cert, out->serial) < 0 || ca_fingerprint_sha256(cert, out->fingerprint) < 0 ||
        ca_key_sha256(X509_get0_pubkey(cert), out->key_sha256) < 0)
        return ca_fail(err, CA_ERR_CRYPTO, "cannot read back the issued certificate");
    memcpy(out->issuer_ski, iss->ski, sizeof(out->issuer_ski));
    out->not_before = nb;
    out->not_after = na;
    out->cert = cert;
    return 0;
}

/* The extensions every leaf carries, then the issuer's signature. */
static int sign_leaf(X509 *cert, const ca_issuer *iss, const char *eku, const char *san,
                     ca_error *err)
{
    if (ca_cert_add_ext(cert, iss->cert, NID_basic_constraints, "critical,CA:FALSE", err) < 0 ||
        ca_cert_add_ext(cert, iss->cert, NID_key_usage, "critical,digitalSignature", err) < 0 ||
        ca_cert_add_ext(cert, iss->cert, NID_ext_key_usage, eku, err) < 0 ||
        ca_cert_add_ext(cert, iss->cert, NID_subject_alt_name, san, err) < 0)
        return -1;
    return ca_cert_sign(cert, iss->cert, iss->key, err);
}

int ca_issue_device(ca_store *s, const ca_device_request *r, ca_issued *out, ca_error *err)
{
    char san[96];
    time_t nb, na;
    X509 *cert = NULL;
    ca_issuer *iss = ca_store_current(s);
    if (!iss || !iss->key)
        return ca_fail(err, CA_ERR_PASSPHRASE, "the issuing CA key is not loaded");
    if (!device_id_valid(r->device_id))
        return ca_fail(err, CA_ERR_INVALID, "invalid device id '%s': use " DEVICE_ID_RULE,
                       r->device_id ? r->device_id : "");
    if (ca_key_check_strength(r->public_key, err) < 0 ||
        leaf_validity(s, iss, r->validity, r->backdate, &nb, &na, err) < 0)
        return -1;
    cert = ca_cert_new(r->public_key, iss->cert, nb, na, err);
    if (!cert)
        return -1;
    snprintf(san, sizeof(san), "URI:urn:vigil:device:%s", r->device_id);
    if (set_subject(cert, NULL, r->device_id) < 0) {
        ca_fail(err, CA_ERR_CRYPTO, "cannot set the certificate subject");
        goto fail;
    }
    if (sign_leaf(cert, iss, "clientAuth", san, err) < 0 ||
        finish_issued(cert, iss, nb, na, out, err) < 0)
        goto fail;
    return 0;
fail:
    X509_free(cert);
    return -1;
}

/* "DNS:a,DNS:b,IP:1.2.3.4" from the request; names are checked by OpenSSL
 * when the extension is built (an invalid IP is refused there). */
static int server_san(const ca_server_request *r, char *out, size_t size, ca_error *err)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->n_dns + r->n_ips; i++) {
        int dns = i < r->n_dns;
        const char *v = dns ? r->dns[i] : r->ips[i - r->n_dns];
        /* a comma would smuggle in another SAN entry */
        if (!v[0] || strpbrk(v, ", \t\r\n") || (dns && strpbrk(v, ":=")))
            return ca_fail(err, CA_ERR_INVALID, "invalid %s '%s'", dns ? "DNS name" : "IP", v);
        int n = snprintf(out + used, size - used, "%s%s:%s", used ? "," : "", dns ? "DNS" : "IP",
                         v);
        if (n < 0 || (size_t)n >= size - used)
            return ca_fail(err, CA_ERR_INVALID, "too many names for one certificate");
        used += (size_t)n;
    }
    if (!used)
        return ca_fail(err, CA_ERR_INVALID, "a server certificate needs at least one --dns or --ip");
    return 0;
}

int ca_issue_server(ca_store *s, const ca_server_request *r, ca_issued *out, ca_error *err)
{
    char san[2048];
    time_t nb, na;
    ca_issuer *iss = ca_store_current(s);
    if (!iss || !iss->key)
        return ca_fail(err, CA_ERR_PASSPHRASE, "the issuing CA key is not loaded");
    if (server_san(r, san, sizeof(san), err) < 0 ||
        leaf_validity(s, iss, r->validity, 0, &nb, &na, err) < 0)
        return -1;
    X509 *cert = ca_cert_new(r->public_key, iss->cert, nb, na, err);
    if (!cert)
        return -1;
    if (set_subject(cert, NULL, r->n_dns ? r->dns[0] : r->ips[0]) < 0) {
        ca_fail(err, CA_ERR_INVALID, "name too long for a certificate subject");
        goto fail;
    }
    if (sign_leaf(cert, iss, "serverAuth", san, err) < 0 ||
        finish_issued(cert, iss, nb, na, out, err) < 0)
        goto fail;
    return 0;
fail:
    X509_free(cert);
    return -1;
}

void ca_issued_clear(ca_issued *out)
{
    X509_free(out->cert);
    memset(out, 0, sizeof(*out));
}
