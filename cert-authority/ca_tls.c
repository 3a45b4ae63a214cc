/*
 * ca_tls.c - PEM files checked before OpenSSL reads them, and a TLS
 * identity (certificate chain and private key) or trust file loaded into an
 * SSL_CTX with errors that name the file and say what is wrong.
 *
 * OpenSSL reports a missing, empty or unreadable file as "system lib" or
 * "PEM lib", which names neither the file nor the problem. Every program
 * that reads a certificate or key a user gave it (vigild's --tls-cert and
 * --tls-key, vigil-device's --cert, --key and --ca, vigilctl's files) goes
 * through ca_pem_file_check first, so the user reads "nope.crt: No such
 * file or directory" or "server.key is empty" instead.
 */
#include "cert-authority/ca.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

/* A PEM file worth handing to OpenSSL is far smaller than this; the check
 * reads at most this much looking for the BEGIN line. */
#define PEM_SCAN_MAX (1024 * 1024)

static const char *kind_label(ca_pem_kind kind)
{
    switch (kind) {
    case CA_PEM_CERTIFICATE:
        return "CERTIFICATE-----";
    case CA_PEM_PRIVATE_KEY:
        return "PRIVATE KEY-----";   /* PRIVATE, EC PRIVATE, ENCRYPTED PRIVATE... */
    }
    return "";
}

static const char *kind_name(ca_pem_kind kind)
{
    switch (kind) {
    case CA_PEM_CERTIFICATE:
        return "a PEM certificate";
    case CA_PEM_PRIVATE_KEY:
        return "a PEM private key";
    }
    return "";
}

/* Whether the file's text has a "-----BEGIN ...<label>" line. */
static int has_begin_line(const char *text, const char *label)
{
    size_t label_len = strlen(label);
    /* Each line is looked at once: a hostile file costs linear time. */
    for (const char *p = strstr(text, "-----BEGIN "); p; p = strstr(p + 1, "-----BEGIN ")) {
        const char *eol = strchr(p, '\n');
        size_t line = eol ? (size_t)(eol - p) : strlen(p);
        for (size_t i = 0; i + label_len <= line; i++)
            if (memcmp(p + i, label, label_len) == 0)
                return 1;
        if (!eol)
            break;
        p = eol - 1; /* the next search starts on the next line */
    }
    return 0;
}

/* Reads all of fd (at most PEM_SCAN_MAX bytes) into a new buffer, NUL
 * added; -1 with err filled (a longer file is refused). */
static int read_all(int fd, const char *path, char **out, size_t *out_len, ca_error *err)
{
    size_t len = 0;
    char *buf = malloc(PEM_SCAN_MAX + 2);
    if (!buf)
        return ca_fail(err, CA_ERR_IO, "%s: out of memory", path);
    for (ssize_t n; len <= PEM_SCAN_MAX && (n = read(fd, buf + len, PEM_SCAN_MAX + 1 - len)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            ca_pem_buffer_free(buf, len);
            return ca_fail(err, CA_ERR_IO, "%s: %s", path, strerror(saved));
        }
        len += (size_t)n;
    }
    if (len > PEM_SCAN_MAX) {
        ca_pem_buffer_free(buf, len);
        return ca_fail(err, CA_ERR_INVALID, "%s is larger than %d KiB: not a PEM file", path,
                       PEM_SCAN_MAX / 1024);
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

/* The file, or when pipes_ok a pipe (`--root-key /dev/stdin`), opened for
 * reading; a directory, a terminal or a device is refused. */
static int open_pem(const char *path, ca_pem_kind kind, int pipes_ok, ca_error *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return ca_fail(err, errno == ENOENT ? CA_ERR_NOT_FOUND : CA_ERR_IO, "%s: %s", path,
                       strerror(errno));
    if (fstat(fd, &st) < 0) {
        ca_fail(err, CA_ERR_IO, "%s: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        ca_fail(err, CA_ERR_INVALID, "%s is a directory, not %s", path, kind_name(kind));
    } else if (!S_ISREG(st.st_mode) && !(pipes_ok && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))) {
        /* Without pipes_ok OpenSSL reads the file again after the check: a
         * pipe would give it nothing. */
        ca_fail(err, CA_ERR_INVALID, "%s is not a regular file: give %s in a file", path,
                kind_name(kind));
    } else if (!S_ISREG(st.st_mode) && fcntl(fd, F_SETFL, 0) < 0) {
        /* O_NONBLOCK was for the open (a FIFO nobody writes to); a pipe is
         * read to its end. */
        ca_fail(err, CA_ERR_IO, "%s: %s", path, strerror(errno));
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

static char *load(const char *path, ca_pem_kind kind, int pipes_ok, size_t *out_len, ca_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    int fd = open_pem(path, kind, pipes_ok, err);
    if (fd < 0)
        return NULL;
    int rc = read_all(fd, path, &buf, &len, err);
    close(fd);
    if (rc < 0)
        return NULL;
    if (len == 0)
        ca_fail(err, CA_ERR_INVALID, "%s is empty: expected %s", path, kind_name(kind));
    else if (memchr(buf, '\0', len) || !has_begin_line(buf, kind_label(kind)))
        ca_fail(err, CA_ERR_INVALID, "%s is not %s (no \"-----BEGIN ...%s\" line)", path,
                kind_name(kind), kind_label(kind));
    else {
        *out_len = len;
        return buf;
    }
    ca_pem_buffer_free(buf, len);
    return NULL;
}

void ca_pem_buffer_free(char *buf, size_t len)
{
    if (buf) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
}

char *ca_pem_file_load(const char *path, ca_pem_kind kind, size_t *out_len, ca_error *err)
{
    return load(path, kind, 1, out_len, err);
}

int ca_pem_file_check(const char *path, ca_pem_kind kind, ca_error *err)
{
    size_t len = 0;
    char *buf = load(path, kind, 0, &len, err);
    ca_pem_buffer_free(buf, len);
    return buf ? 0 : -1;
}

/* OpenSSL's reason for the last error, cleared afterwards. */
static const char *ssl_reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    ERR_clear_error();
    return r ? r : "unknown error";
}

/* An encrypted key is refused, never prompted for on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* The unencrypted private key in path, or NULL with err filled. */
static EVP_PKEY *read_key(const char *path, ca_error *err)
{
    BIO *bio = BIO_new_file(path, "r");
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    if (key)
        return key;
    if (ca_key_file_is_encrypted(path)) {
        ERR_clear_error();
        ca_fail(err, CA_ERR_PASSPHRASE,
                "%s is encrypted: a TLS key must be stored unencrypted (0600, readable only by "
                "this user)",
                path);
    } else {
        ca_fail(err, CA_ERR_INVALID, "%s: not a valid PEM private key: %s", path, ssl_reason());
    }
    return NULL;
}

int ca_tls_use_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file, ca_error *err)
{
    if (ca_pem_file_check(cert_file, CA_PEM_CERTIFICATE, err) < 0 ||
        ca_pem_file_check(key_file, CA_PEM_PRIVATE_KEY, err) < 0)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        return ca_fail(err, CA_ERR_INVALID, "%s: not a valid PEM certificate chain: %s",
                       cert_file, ssl_reason());
    EVP_PKEY *key = read_key(key_file, err);
    if (!key)
        return -1;
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    int rc = 0;
    if (!leaf || X509_check_private_key(leaf, key) != 1)
        rc = ca_fail(err, CA_ERR_INVALID,
                     "%s does not match the certificate in %s: give the key that was made "
                     "with this certificate",
                     key_file, cert_file);
    else if (SSL_CTX_use_PrivateKey(ctx, key) != 1)
        rc = ca_fail(err, CA_ERR_CRYPTO, "%s: cannot use this key: %s", key_file, ssl_reason());
    ERR_clear_error();
    EVP_PKEY_free(key);
    return rc;
}

int ca_tls_use_trust(SSL_CTX *ctx, const char *ca_file, ca_error *err)
{
    if (ca_pem_file_check(ca_file, CA_PEM_CERTIFICATE, err) < 0)
        return -1;
    if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1)
        return ca_fail(err, CA_ERR_INVALID, "%s: not a valid PEM certificate: %s", ca_file,
                       ssl_reason());
    return 0;
}
