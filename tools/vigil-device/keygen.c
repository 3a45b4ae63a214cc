/*
 * keygen.c - `vigil-device keygen`: the device makes its own key (it never
 * leaves the device) and a CSR with its id as CN (and as the SAN URI
 * urn:vigil:device:<id>), for `vigilctl device enroll --csr`. `renew` makes
 * its CSR here too.
 */
#include "tools/vigil-device/keygen.h"

#include "cert-authority/ca.h"
#include "tools/vigil-device/util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

X509_REQ *keygen_csr(EVP_PKEY *key, const char *id)
{
    char san[300];
    X509_REQ *req = X509_REQ_new();
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    snprintf(san, sizeof(san), "URI:urn:vigil:device:%s", id);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    const EVP_MD *md = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    int ok = req && exts && ext && sk_X509_EXTENSION_push(exts, ext) &&
             X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                                        (const unsigned char *)id, -1, -1, 0) &&
             X509_REQ_add_extensions(req, exts) && X509_REQ_set_pubkey(req, key) &&
             X509_REQ_sign(req, key, md) > 0;
    if (ext && !(exts && sk_X509_EXTENSION_num(exts) == 1))
        X509_EXTENSION_free(ext);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ERR_clear_error();
    if (!ok) {
        X509_REQ_free(req);
        return NULL;
    }
    return req;
}

/* What was written to a memory BIO, as a malloc'd string (freed BIO). */
static char *bio_text(BIO *bio, int ok)
{
    char *data = NULL, *copy = NULL;
    long len = bio && ok ? BIO_get_mem_data(bio, &data) : 0;
    if (len > 0)
        copy = strndup(data, (size_t)len);
    if (data && len > 0)
        OPENSSL_cleanse(data, (size_t)len); /* it may be a private key */
    BIO_free(bio);
    return copy;
}

char *keygen_key_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    return bio_text(bio, bio && PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL));
}

/* Writes text to a new file with mode; the caller checked it is new. */
static int write_new(const char *path, const char *text, int mode)
{
    if (devu_write_atomic(path, text, strlen(text), mode) == 0)
        return 0;
    fprintf(stderr, "vigil-device keygen: cannot write %s: %s\n", path, strerror(errno));
    return -1;
}

/* 1 (said why) when a key or CSR is there already: keygen never replaces
 * a device's key. */
static int exists_already(const char *key_path, const char *csr_path)
{
    const char *there = access(key_path, F_OK) == 0 ? key_path
                        : access(csr_path, F_OK) == 0 ? csr_path : NULL;
    if (there)
        fprintf(stderr,
                "vigil-device keygen: %s exists already; keygen never replaces a device's key "
                "(enroll the CSR there, or choose another --id or --out-dir)\n",
                there);
    return there != NULL;
}

int keygen_command(const char *id, const char *out_dir, const char *key_type)
{
    char key_path[4096], csr_path[4096];
    ca_key_type type = CA_KEY_P256;
    ca_error err;
    int rc = 1;
    if (!id || !out_dir) {
        fprintf(stderr, "vigil-device keygen: --id and --out-dir are required\n");
        return 2;
    }
    if (key_type && ca_key_type_parse(key_type, &type) < 0) {
        fprintf(stderr, "vigil-device keygen: --key-type must be p256, p384 or ed25519\n");
        return 2;
    }
    EVP_PKEY *key = ca_key_generate(type, &err);
    X509_REQ *req = key ? keygen_csr(key, id) : NULL;
    char *key_pem = key ? keygen_key_pem(key) : NULL;
    BIO *bio = req ? BIO_new(BIO_s_mem()) : NULL;
    char *csr_pem = bio_text(bio, bio && PEM_write_bio_X509_REQ(bio, req));
    snprintf(key_path, sizeof(key_path), "%s/%s.key", out_dir, id);
    snprintf(csr_path, sizeof(csr_path), "%s/%s.csr", out_dir, id);
    if (!req || !key_pem || !csr_pem) {
        fprintf(stderr, "vigil-device keygen: cannot make the key and CSR: %s\n",
                key ? "OpenSSL refused" : err.msg);
        goto done;
    }
    if (exists_already(key_path, csr_path))
        goto done;
    if (mkdir(out_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "vigil-device keygen: cannot make %s: %s\n", out_dir, strerror(errno));
        goto done;
    }
    if (write_new(key_path, key_pem, 0600) < 0 || write_new(csr_path, csr_pem, 0644) < 0)
        goto done;
    printf("wrote %s (keep it on the device) and %s (enroll it with vigilctl)\n", key_path,
           csr_path);
    rc = 0;
done:
    if (key_pem)
        OPENSSL_cleanse(key_pem, strlen(key_pem));
    free(key_pem);
    free(csr_pem);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return rc;
}
