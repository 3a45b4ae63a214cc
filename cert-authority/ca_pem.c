/*
 * ca_pem.c - files in and out of the CA: atomic file writes, certificates
 * as PEM, and certificate signing requests with their checks.
 *
 * A CSR is the device's proof that it holds the private key (its
 * self-signature) and the only thing the CA takes from it is the public key
 * and, when no id is given, the CN. Everything else in it is ignored, so a
 * device cannot ask for extensions the profile does not grant.
 */
#include "cert-authority/ca.h"
#include "cert-authority/ca_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

static int write_temp(const char *tmp, int mode, int (*emit)(BIO *, void *), void *arg,
                      ca_error *err)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return ca_fail(err, CA_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    BIO *bio = BIO_new_fd(fd, BIO_NOCLOSE);
    int ok = bio && emit(bio, arg) == 1 && BIO_flush(bio) == 1;
    BIO_free(bio);
    if (!ok) {
        close(fd);
        return ca_fail(err, CA_ERR_IO, "cannot write %s", tmp);
    }
    if (fsync(fd) != 0) {
        close(fd);
        return ca_fail(err, CA_ERR_IO, "cannot sync %s: %s", tmp, strerror(errno));
    }
    close(fd);
    return 0;
}

static int temp_name(const char *path, char *tmp, size_t size, ca_error *err)
{
    if (snprintf(tmp, size, "%s.tmp.%ld", path, (long)getpid()) >= (int)size)
        return ca_fail(err, CA_ERR_IO, "path too long: %s", path);
    return 0;
}

int ca_file_write_new(const char *path, int mode, int (*emit)(BIO *, void *), void *arg,
                      ca_error *err)
{
    char tmp[4096];
    if (temp_name(path, tmp, sizeof(tmp), err) < 0)
        return -1;
    if (access(path, F_OK) == 0)
        return ca_fail(err, CA_ERR_EXISTS, "%s already exists; refusing to replace it", path);
    unlink(tmp);                    /* leftover of a crashed run with our pid */
    int rc = write_temp(tmp, mode, emit, arg, err);
    if (rc == 0 && link(tmp, path) != 0)
        rc = ca_fail(err, errno == EEXIST ? CA_ERR_EXISTS : CA_ERR_IO, "cannot create %s: %s",
                     path, strerror(errno));
    unlink(tmp);
    return rc;
}

int ca_file_replace(const char *path, int mode, int (*emit)(BIO *, void *), void *arg,
                    ca_error *err)
{
    char tmp[4096];
    if (temp_name(path, tmp, sizeof(tmp), err) < 0)
        return -1;
    unlink(tmp);
    if (write_temp(tmp, mode, emit, arg, err) < 0) {
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return ca_fail(err, CA_ERR_IO, "cannot replace %s: %s", path, strerror(errno));
    }
    return 0;
}

struct text {
    const char *data;
    size_t len;
};

static int emit_text(BIO *bio, void *arg)
{
    const struct text *t = arg;
    return t->len == 0 || (t->len <= INT_MAX && BIO_write(bio, t->data, (int)t->len) == (int)t->len);
}

int ca_text_replace(const char *path, const char *data, size_t len, int mode, ca_error *err)
{
    struct text t = {data, len};
    return ca_file_replace(path, mode, emit_text, &t, err);
}

struct cert_list {
    X509 *const *certs;
    size_t n;
};

static int emit_certs(BIO *bio, void *arg)
{
    struct cert_list *l = arg;
    for (size_t i = 0; i < l->n; i++)
        if (!PEM_write_bio_X509(bio, l->certs[i]))
            return 0;
    return 1;
}

char *ca_cert_pem(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy = NULL;
    if (bio && PEM_write_bio_X509(bio, cert)) {
        long len = BIO_get_mem_data(bio, &data);
        if (len > 0 && (copy = malloc((size_t)len + 1))) {
            memcpy(copy, data, (size_t)len);
            copy[len] = '\0';
        }
    }
    BIO_free(bio);
    return copy;
}

int ca_certs_write(const char *path, X509 *const *certs, size_t n, ca_error *err)
{
    struct cert_list l = {certs, n};
    return ca_file_write_new(path, 0644, emit_certs, &l, err);
}

X509 *ca_cert_read(const char *path, ca_error *err)
{
    size_t len = 0;
    char *text = ca_pem_file_load(path, CA_PEM_CERTIFICATE, &len, err);
    if (!text)
        return NULL;
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    ca_pem_buffer_free(text, len);
    if (!cert)
        ca_fail(err, CA_ERR_INVALID, "%s does not hold a PEM certificate", path);
    return cert;
}

X509_REQ *ca_csr_parse(const unsigned char *data, size_t len, ca_error *err)
{
    X509_REQ *req = NULL;
    if (len > 64 * 1024) {
        ca_fail(err, CA_ERR_INVALID, "CSR too large (%zu bytes)", len);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(data, (int)len);
    if (bio)
        req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (!req) {
        const unsigned char *p = data;
        req = d2i_X509_REQ(NULL, &p, (long)len);
        if (req && p != data + len) {     /* trailing garbage after the DER */
            X509_REQ_free(req);
            req = NULL;
        }
    }
    ERR_clear_error();
    if (!req)
        ca_fail(err, CA_ERR_INVALID,
                "not a certificate signing request (expected PKCS#10 in PEM or DER)");
    return req;
}

X509_REQ *ca_csr_read(const char *path, ca_error *err)
{
    unsigned char buf[64 * 1024 + 1];
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (!f) {
        ca_fail(err, errno == ENOENT ? CA_ERR_NOT_FOUND : CA_ERR_IO, "%s: %s", path,
                strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        ca_fail(err, CA_ERR_IO, "%s is a directory, not a CSR file", path);
        return NULL;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    int bad = ferror(f), saved = errno;
    fclose(f);
    if (bad) {
        ca_fail(err, CA_ERR_IO, "%s: %s", path, strerror(saved));
        return NULL;
    }
    if (n == 0) {
        ca_fail(err, CA_ERR_INVALID, "%s is empty", path);
        return NULL;
    }
    X509_REQ *req = ca_csr_parse(buf, n, err);
    if (!req && err) {
        /* "PATH: " before ca_csr_parse's reason */
        size_t pl = strlen(path) + 2, ml = strlen(err->msg);
        if (pl + ml < sizeof(err->msg)) {
            memmove(err->msg + pl, err->msg, ml + 1);
            memcpy(err->msg, path, pl - 2);
            memcpy(err->msg + pl - 2, ": ", 2);
        }
    }
    return req;
}

int ca_csr_check(X509_REQ *req, ca_error *err)
{
    EVP_PKEY *key = X509_REQ_get0_pubkey(req);
    if (!key)
        return ca_fail(err, CA_ERR_INVALID, "CSR has no usable public key");
    if (ca_key_check_strength(key, err) < 0)
        return -1;
    int ok = X509_REQ_verify(req, key);
    ERR_clear_error();
    if (ok != 1)
        return ca_fail(err, CA_ERR_INVALID,
                       "CSR signature does not verify: the request was altered or was not "
                       "signed by the holder of its key");
    return 0;
}

int ca_csr_common_name(X509_REQ *req, char *out, size_t outlen)
{
    X509_NAME *name = X509_REQ_get_subject_name(req);
    int idx = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (idx < 0)
        return 0;
    if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0)
        return -1;                   /* two CNs: ambiguous identity */
    ASN1_STRING *value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char *utf8 = NULL;
    int len = ASN1_STRING_to_UTF8(&utf8, value);
    int rc = -1;
    if (len >= 0 && (size_t)len < outlen && memchr(utf8, '\0', (size_t)len) == NULL) {
        memcpy(out, utf8, (size_t)len);
        out[len] = '\0';
        rc = 1;
    }
    OPENSSL_free(utf8);
    return rc;
}
