/*
 * test_ca_key.c - keys and CSRs (cert-authority/ca_key.c, ca_pem.c):
 * strength rules, encrypted key files, proof of possession.
 */
#include <criterion/criterion.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cert-authority/ca.h"
#include "tests/unit/tmpdir.h"

TestSuite(ca_key, .init = setup, .fini = teardown);

static EVP_PKEY *keygen(const char *alg, const char *param, int bits)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    EVP_PKEY *key = NULL;
    cr_assert_not_null(ctx);
    cr_assert_eq(EVP_PKEY_keygen_init(ctx), 1);
    if (param)
        cr_assert_eq(EVP_PKEY_CTX_set_group_name(ctx, param), 1);
    if (bits)
        cr_assert_eq(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits), 1);
    cr_assert_eq(EVP_PKEY_keygen(ctx, &key), 1);
    EVP_PKEY_CTX_free(ctx);
    return key;
}

Test(ca_key, strength)
{
    ca_error err = {0};
    EVP_PKEY *k;
    for (int t = CA_KEY_P256; t <= CA_KEY_ED25519; t++) {
        k = ca_key_generate((ca_key_type)t, &err);
        cr_assert_not_null(k);
        cr_assert_eq(ca_key_check_strength(k, &err), 0, "%s", err.msg);
        EVP_PKEY_free(k);
    }
    k = keygen("RSA", NULL, 1024);
    cr_assert_eq(ca_key_check_strength(k, &err), -1);
    cr_assert_eq(err.status, CA_ERR_INVALID);
    EVP_PKEY_free(k);
    k = keygen("RSA", NULL, 2048);
    cr_assert_eq(ca_key_check_strength(k, &err), 0);
    EVP_PKEY_free(k);
    k = keygen("EC", "secp256k1", 0);
    cr_assert_eq(ca_key_check_strength(k, &err), -1);
    EVP_PKEY_free(k);
    k = keygen("EC", "P-521", 0);
    cr_assert_eq(ca_key_check_strength(k, &err), -1);
    EVP_PKEY_free(k);
}

Test(ca_key, encrypted_key_file)
{
    ca_error err = {0};
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/k.pem", dir);
    EVP_PKEY *k = ca_key_generate(CA_KEY_P256, &err);
    cr_assert_eq(ca_key_write(path, k, "correct horse", &err), 0, "%s", err.msg);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(ca_key_write(path, k, NULL, &err), -1, "must not overwrite");
    EVP_PKEY *back = ca_key_read(path, "correct horse", &err);
    cr_assert_not_null(back, "%s", err.msg);
    cr_assert_eq(EVP_PKEY_eq(k, back), 1);
    EVP_PKEY_free(back);
    cr_assert_null(ca_key_read(path, "wrong", &err));
    cr_assert_eq(err.status, CA_ERR_PASSPHRASE);
    cr_assert_null(ca_key_read(path, NULL, &err));
    cr_assert_eq(err.status, CA_ERR_PASSPHRASE);
    EVP_PKEY_free(k);
}

static X509_REQ *make_csr(EVP_PKEY *key, const char *cn)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_REQ_get_subject_name(req);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_REQ_set_pubkey(req, key);
    cr_assert(X509_REQ_sign(req, key, EVP_sha256()) > 0);
    return req;
}

Test(ca_key, csr_pem_der_and_proof_of_possession)
{
    ca_error err = {0};
    char cn[80];
    EVP_PKEY *k = ca_key_generate(CA_KEY_P256, &err);
    X509_REQ *req = make_csr(k, "dev-9");
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(req, &der);
    cr_assert_gt(len, 0);

    X509_REQ *parsed = ca_csr_parse(der, (size_t)len, &err);
    cr_assert_not_null(parsed, "%s", err.msg);
    cr_assert_eq(ca_csr_check(parsed, &err), 0, "%s", err.msg);
    cr_assert_eq(ca_csr_common_name(parsed, cn, sizeof(cn)), 1);
    cr_assert_str_eq(cn, "dev-9");
    X509_REQ_free(parsed);

    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(bio, req);
    char *pem;
    long pem_len = BIO_get_mem_data(bio, &pem);
    parsed = ca_csr_parse((unsigned char *)pem, (size_t)pem_len, &err);
    cr_assert_not_null(parsed);
    X509_REQ_free(parsed);
    BIO_free(bio);

    der[len - 5] ^= 0x01;   /* inside the signature */
    parsed = ca_csr_parse(der, (size_t)len, &err);
    if (parsed) {
        cr_assert_eq(ca_csr_check(parsed, &err), -1, "a broken signature must be refused");
        X509_REQ_free(parsed);
    }
    cr_assert_null(ca_csr_parse((const unsigned char *)"hello", 5, &err));
    cr_assert_eq(err.status, CA_ERR_INVALID);
    OPENSSL_free(der);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
}

Test(ca_key, weak_csr_refused)
{
    ca_error err = {0};
    EVP_PKEY *k = keygen("RSA", NULL, 1024);
    X509_REQ *req = make_csr(k, "weak");
    cr_assert_eq(ca_csr_check(req, &err), -1);
    cr_assert(strstr(err.msg, "2048") != NULL, "message says what is needed: %s", err.msg);
    X509_REQ_free(req);
    EVP_PKEY_free(k);
}
