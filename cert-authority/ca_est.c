/*
 * ca_est.c - the encodings of EST (RFC 7030) that the CA library owns:
 * certificates as a base64 PKCS#7 certs-only "Simple PKI Response"
 * (cacerts, simplereenroll), the CSR attributes a device must follow
 * (csrattrs, §4.5), a base64 PKCS#10 body decoded, and the rule that a
 * renewal's CSR names the device that asks for it.
 *
 * Everything is built with OpenSSL (PKCS7_*, ASN1_generate_nconf, EVP
 * base64): nothing here writes DER by hand.
 */
#include "cert-authority/ca.h"

#include "protocol/device_id.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

/* ---- base64 ---- */

char *ca_est_base64(const unsigned char *der, size_t len, size_t *out_len)
{
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    /* 4 output bytes per 3 input bytes, a newline per 64, the tail, a NUL. */
    size_t cap = (len + 2) / 3 * 4 + len / 48 + 66;
    char *out = ctx ? malloc(cap) : NULL;
    int n = 0, tail = 0;
    if (!out)
        goto fail;
    EVP_EncodeInit(ctx);
    if (len > 0 && EVP_EncodeUpdate(ctx, (unsigned char *)out, &n, der, (int)len) != 1)
        goto fail;
    EVP_EncodeFinal(ctx, (unsigned char *)out + n, &tail);
    out[n + tail] = '\0';
    if (out_len)
        *out_len = (size_t)(n + tail);
    EVP_ENCODE_CTX_free(ctx);
    return out;
fail:
    free(out);
    EVP_ENCODE_CTX_free(ctx);
    return NULL;
}

unsigned char *ca_est_base64_decode(const char *text, size_t len, size_t max, size_t *out_len)
{
    EVP_ENCODE_CTX *ctx = NULL;
    unsigned char *out = NULL;
    int n = 0, tail = 0;
    if (len == 0 || len > max / 3 * 4 + max / 32 + 256)
        return NULL;
    if (!(ctx = EVP_ENCODE_CTX_new()) || !(out = malloc(len / 4 * 3 + 3)))
        goto fail;
    EVP_DecodeInit(ctx);
    /* EVP_DecodeUpdate skips the whitespace and line breaks of RFC 2045
     * base64 and fails on any other character that is not base64. */
    if (EVP_DecodeUpdate(ctx, out, &n, (const unsigned char *)text, (int)len) < 0 ||
        EVP_DecodeFinal(ctx, out + n, &tail) != 1 || n + tail == 0 || (size_t)(n + tail) > max)
        goto fail;
    *out_len = (size_t)(n + tail);
    EVP_ENCODE_CTX_free(ctx);
    return out;
fail:
    ERR_clear_error();
    free(out);
    EVP_ENCODE_CTX_free(ctx);
    return NULL;
}

/* ---- PKCS#7 certs-only ---- */

char *ca_est_certs_only(X509 *const *certs, size_t n, size_t *out_len)
{
    PKCS7 *p7 = PKCS7_new();
    unsigned char *der = NULL;
    char *b64 = NULL;
    int len;
    /* A degenerate SignedData: no signers, no content, the certificates. */
    if (!p7 || !PKCS7_set_type(p7, NID_pkcs7_signed) || !PKCS7_content_new(p7, NID_pkcs7_data))
        goto done;
    for (size_t i = 0; i < n; i++)
        if (!PKCS7_add_certificate(p7, certs[i]))
            goto done;
    if ((len = i2d_PKCS7(p7, &der)) <= 0)
        goto done;
    b64 = ca_est_base64(der, (size_t)len, out_len);
done:
    ERR_clear_error();
    OPENSSL_free(der);
    PKCS7_free(p7);
    return b64;
}

STACK_OF(X509) * ca_est_certs_parse(const char *b64, size_t len, size_t max)
{
    size_t der_len = 0;
    STACK_OF(X509) *out = NULL;
    unsigned char *der = len ? ca_est_base64_decode(b64, len, max, &der_len) : NULL;
    const unsigned char *p = der;
    PKCS7 *p7 = der ? d2i_PKCS7(NULL, &p, (long)der_len) : NULL;
    STACK_OF(X509) *certs = p7 && PKCS7_type_is_signed(p7) && p7->d.sign ? p7->d.sign->cert : NULL;
    /* nothing after the DER: a body is one PKCS#7 or it is not one */
    if (certs && p == der + der_len && (out = sk_X509_new_null())) {
        for (int i = 0; i < sk_X509_num(certs); i++) {
            X509 *x = sk_X509_value(certs, i);
            if (!X509_up_ref(x))
                goto fail;
            if (!sk_X509_push(out, x)) {
                X509_free(x);
                goto fail;
            }
        }
    }
    goto done;
fail:
    sk_X509_pop_free(out, X509_free);
    out = NULL;
done:
    ERR_clear_error();
    PKCS7_free(p7);
    free(der);
    return out;
}

/* ---- CSR attributes ---- */

/* RFC 7030 §4.5.2: CsrAttrs ::= SEQUENCE OF AttrOrOID. The key types this CA
 * certifies (ecPublicKey on P-256 or P-384, Ed25519, rsaEncryption), the
 * signature algorithm it prefers, and the subject: CN = the device's id,
 * as an Attribute of type commonName. */
static const char csrattrs_conf[] = "[csrattrs]\n"
                                    "ec = SEQUENCE:ec_key\n"
                                    "ed25519 = OID:ED25519\n"
                                    "rsa = OID:rsaEncryption\n"
                                    "sig = OID:ecdsa-with-SHA256\n"
                                    "cn = SEQUENCE:subject_cn\n"
                                    "[ec_key]\n"
                                    "type = OID:id-ecPublicKey\n"
                                    "values = SET:curves\n"
                                    "[curves]\n"
                                    "p256 = OID:prime256v1\n"
                                    "p384 = OID:secp384r1\n"
                                    "[subject_cn]\n"
                                    "type = OID:commonName\n"
                                    "values = SET:cn_value\n"
                                    "[cn_value]\n"
                                    "cn = UTF8:%s\n";

char *ca_est_csrattrs(const char *device_id, size_t *out_len)
{
    char text[sizeof(csrattrs_conf) + DEVICE_ID_MAX];
    CONF *conf = NULL;
    BIO *bio = NULL;
    ASN1_TYPE *seq = NULL;
    unsigned char *der = NULL;
    char *b64 = NULL;
    long line = 0;
    int len;
    if (!device_id_valid(device_id) ||
        snprintf(text, sizeof(text), csrattrs_conf, device_id) >= (int)sizeof(text))
        return NULL;
    if (!(conf = NCONF_new(NULL)) || !(bio = BIO_new_mem_buf(text, -1)) ||
        NCONF_load_bio(conf, bio, &line) <= 0 ||
        !(seq = ASN1_generate_nconf("SEQUENCE:csrattrs", conf)) ||
        (len = i2d_ASN1_TYPE(seq, &der)) <= 0)
        goto done;
    b64 = ca_est_base64(der, (size_t)len, out_len);
done:
    ERR_clear_error();
    OPENSSL_free(der);
    ASN1_TYPE_free(seq);
    BIO_free(bio);
    NCONF_free(conf);
    return b64;
}

/* ---- the renewal's subject rule ---- */

/* 1 if every subjectAltName of the request is the device's URI. */
static int san_names_device(X509_REQ *req, const char *device_id, char *why, size_t whylen)
{
    char want[DEVICE_ID_MAX + 32];
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    GENERAL_NAMES *names = NULL;
    int crit = -1, ok = 1;
    snprintf(want, sizeof(want), "urn:vigil:device:%s", device_id);
    if (exts)
        names = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
    if (!names && crit == -2) { /* two subjectAltName extensions */
        snprintf(why, whylen, "the CSR has more than one subjectAltName extension");
        ok = 0;
    }
    for (int i = 0; ok && names && i < sk_GENERAL_NAME_num(names); i++) {
        GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const ASN1_IA5STRING *uri = gn->type == GEN_URI ? gn->d.uniformResourceIdentifier : NULL;
        if (!uri || (size_t)ASN1_STRING_length(uri) != strlen(want) ||
            memcmp(ASN1_STRING_get0_data(uri), want, strlen(want)) != 0) {
            snprintf(why, whylen,
                     "the CSR's subjectAltName names something other than %s; "
                     "leave it out or give exactly that URI",
                     want);
            ok = 0;
        }
    }
    GENERAL_NAMES_free(names);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    return ok;
}

int ca_csr_names_device(X509_REQ *req, const char *device_id, char *why, size_t whylen)
{
    char cn[DEVICE_ID_MAX + 2];
    int has_cn = ca_csr_common_name(req, cn, sizeof(cn));
    if (has_cn <= 0) {
        snprintf(why, whylen, "the CSR's subject must be CN=%s (%s)", device_id,
                 has_cn == 0 ? "it has no CN" : "its CN is unusable");
        return 0;
    }
    if (strcmp(cn, device_id) != 0) {
        snprintf(why, whylen,
                 "the CSR names device '%.64s' but this connection is device %s: "
                 "a device renews only its own identity",
                 cn, device_id);
        return 0;
    }
    return san_names_device(req, device_id, why, whylen);
}
