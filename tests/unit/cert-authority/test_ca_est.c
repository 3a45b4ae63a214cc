/*
 * test_ca_est.c - EST encodings (cert-authority/ca_est.c): base64 as RFC
 * 7030 bodies carry it, PKCS#7 certs-only that OpenSSL reads back, the CSR
 * attributes, and the rule that a renewal's CSR names its own device.
 */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "cert-authority/ca.h"

TestSuite(ca_est);

Test(ca_est, base64_round_trip_with_line_breaks)
{
    unsigned char data[200];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7);
    size_t len = 0, back_len = 0;
    char *b64 = ca_est_base64(data, sizeof(data), &len);
    cr_assert_not_null(b64);
    cr_assert_eq(strlen(b64), len);
    cr_assert_not_null(strchr(b64, '\n'), "lines of 64 characters");
    unsigned char *back = ca_est_base64_decode(b64, len, sizeof(data), &back_len);
    cr_assert_not_null(back);
    cr_assert_eq(back_len, sizeof(data));
    cr_assert_eq(memcmp(back, data, sizeof(data)), 0);
    free(back);
    free(b64);
}

Test(ca_est, base64_decode_refuses_what_is_not_base64)
{
    size_t n = 0;
    const char *bad[] = {"-----BEGIN CERTIFICATE REQUEST-----", "abc!", "", "===="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_null(ca_est_base64_decode(bad[i], strlen(bad[i]), 100, &n), "%s", bad[i]);
    unsigned char *ok = ca_est_base64_decode("aGVs\r\n bG8=\n", 12, 100, &n);
    cr_assert_not_null(ok, "whitespace and CRLF are skipped");
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(ok, "hello", 5), 0);
    free(ok);
    cr_expect_null(ca_est_base64_decode("aGVsbG8=", 8, 4, &n), "over max");
}

static EVP_PKEY *p256(void)
{
    ca_error err = {0};
    EVP_PKEY *k = ca_key_generate(CA_KEY_P256, &err);
    cr_assert_not_null(k);
    return k;
}

static X509_REQ *csr(EVP_PKEY *key, const char *cn, const char *san)
{
    X509_REQ *r = X509_REQ_new();
    X509_NAME *name = X509_REQ_get_subject_name(r);
    if (cn)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    if (san) {
        STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        cr_assert_not_null(ext);
        sk_X509_EXTENSION_push(exts, ext);
        X509_REQ_add_extensions(r, exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    X509_REQ_set_pubkey(r, key);
    cr_assert(X509_REQ_sign(r, key, EVP_sha256()) > 0);
    return r;
}

Test(ca_est, csr_must_name_its_own_device)
{
    EVP_PKEY *k = p256();
    char why[256];
    struct {
        const char *cn, *san;
        int ok;
    } cases[] = {
        {"dev-1", NULL, 1},
        {"dev-1", "URI:urn:vigil:device:dev-1", 1},
        {"dev-2", NULL, 0},
        {NULL, NULL, 0},
        {"dev-1", "URI:urn:vigil:device:dev-2", 0},
        {"dev-1", "DNS:dev-1", 0},
        {"dev-1", "URI:urn:vigil:device:dev-1,URI:urn:vigil:device:dev-2", 0},
        {"dev-1", "URI:urn:vigil:device:dev-10", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509_REQ *r = csr(k, cases[i].cn, cases[i].san);
        why[0] = '\0';
        cr_expect_eq(ca_csr_names_device(r, "dev-1", why, sizeof(why)), cases[i].ok,
                     "case %zu (%s, %s): %s", i, cases[i].cn, cases[i].san, why);
        if (!cases[i].ok)
            cr_expect_neq(why[0], '\0', "case %zu says why", i);
        X509_REQ_free(r);
    }
    EVP_PKEY_free(k);
}

Test(ca_est, certs_only_reads_back)
{
    EVP_PKEY *k = p256();
    X509 *certs[2];
    for (int i = 0; i < 2; i++) {
        certs[i] = X509_new();
        X509_set_version(certs[i], X509_VERSION_3);
        ASN1_INTEGER_set(X509_get_serialNumber(certs[i]), i + 1);
        X509_gmtime_adj(X509_getm_notBefore(certs[i]), 0);
        X509_gmtime_adj(X509_getm_notAfter(certs[i]), 60);
        X509_set_pubkey(certs[i], k);
        X509_sign(certs[i], k, EVP_sha256());
    }
    size_t len = 0, der_len = 0;
    char *b64 = ca_est_certs_only(certs, 2, &len);
    cr_assert_not_null(b64);
    unsigned char *der = ca_est_base64_decode(b64, len, 1 << 16, &der_len);
    cr_assert_not_null(der);
    const unsigned char *p = der;
    PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)der_len);
    cr_assert_not_null(p7);
    cr_assert(PKCS7_type_is_signed(p7));
    cr_assert_eq(sk_X509_num(p7->d.sign->cert), 2);
    cr_assert_eq(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info), 0, "no signers");
    cr_assert_eq(X509_cmp(sk_X509_value(p7->d.sign->cert, 0), certs[0]), 0);
    PKCS7_free(p7);
    free(der);
    STACK_OF(X509) *back = ca_est_certs_parse(b64, len, 1 << 16);
    cr_assert_not_null(back, "ca_est_certs_parse reads what ca_est_certs_only wrote");
    cr_assert_eq(sk_X509_num(back), 2);
    cr_assert_eq(X509_cmp(sk_X509_value(back, 1), certs[1]), 0);
    sk_X509_pop_free(back, X509_free);
    cr_expect_null(ca_est_certs_parse(b64, len, 64), "over max");
    cr_expect_null(ca_est_certs_parse("aGVsbG8=", 8, 1 << 16), "not PKCS#7");
    free(b64);
    X509_free(certs[0]);
    X509_free(certs[1]);
    EVP_PKEY_free(k);
}

Test(ca_est, csrattrs_is_a_sequence_naming_the_device)
{
    size_t len = 0, der_len = 0;
    char *b64 = ca_est_csrattrs("dev-9", &len);
    cr_assert_not_null(b64);
    unsigned char *der = ca_est_base64_decode(b64, len, 4096, &der_len);
    cr_assert_not_null(der);
    cr_assert_eq(der[0], 0x30, "a SEQUENCE");
    const unsigned char *p = der;
    ASN1_TYPE *t = d2i_ASN1_TYPE(NULL, &p, (long)der_len);
    cr_assert_not_null(t);
    cr_assert_eq(p, der + der_len, "nothing after it");
    ASN1_TYPE_free(t);
    cr_assert_not_null(memmem(der, der_len, "dev-9", 5), "the CN is the device id");
    free(der);
    free(b64);
    cr_expect_null(ca_est_csrattrs("bad id with spaces", &len), "only valid ids");
}

Test(ca_est, key_sha256_names_the_public_key)
{
    EVP_PKEY *a = p256(), *b = p256();
    char ha[CA_FINGERPRINT_HEX], ha2[CA_FINGERPRINT_HEX], hb[CA_FINGERPRINT_HEX];
    cr_assert_eq(ca_key_sha256(a, ha), 0);
    cr_assert_eq(ca_key_sha256(a, ha2), 0);
    cr_assert_eq(ca_key_sha256(b, hb), 0);
    cr_assert_str_eq(ha, ha2);
    cr_assert_str_neq(ha, hb);
    cr_assert_eq(strlen(ha), 64);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}
