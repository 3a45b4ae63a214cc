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
#include <openssl/ssl.h>
#include <openssl/x509.h>

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
    for (const char *p = strstr(text, "-----BEGIN "); p; p = strstr(p + 1, "-----BEGIN ")) {
        const char *eol = strchr(p, '\n');
        const char *hit = strstr(p, label);
        if (hit && (!eol || hit < eol))
            return 1;
    }
    return 0;
}

int ca_pem_file_check(const char *path, ca_pem_kind kind, ca_error *err)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc = -1, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ca_fail(err, errno == ENOENT ? CA_ERR_NOT_FOUND : CA_ERR_IO, "%s: %s", path,
                       strerror(errno));
    if (fstat(fd, &st) < 0) {
        ca_fail(err, CA_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        ca_fail(err, CA_ERR_INVALID, "%s is a directory, not %s", path, kind_name(kind));
        goto fail;
    }
    if (!(buf = malloc(PEM_SCAN_MAX + 1))) {
        ca_fail(err, CA_ERR_IO, "%s: out of memory", path);
        goto fail;
    }
    for (ssize_t n; len < PEM_SCAN_MAX && (n = read(fd, buf + len, PEM_SCAN_MAX - len)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ca_fail(err, CA_ERR_IO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (len == 0)
        ca_fail(err, CA_ERR_INVALID, "%s is empty: expected %s", path, kind_name(kind));
    else if (memchr(buf, '\0', len) || !has_begin_line(buf, kind_label(kind)))
        ca_fail(err, CA_ERR_INVALID, "%s is not %s (no \"-----BEGIN ...%s\" line)", path,
                kind_name(kind), kind_label(kind));
    else
        rc = 0;
fail:
    free(buf);
    close(fd);
    return rc;
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

int ca_tls_use_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file, ca_error *err)
{
    if (ca_pem_file_check(cert_file, CA_PEM_CERTIFICATE, err) < 0 ||
        ca_pem_file_check(key_file, CA_PEM_PRIVATE_KEY, err) < 0)
        return -1;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        return ca_fail(err, CA_ERR_INVALID, "%s: not a valid PEM certificate chain: %s",
                       cert_file, ssl_reason());
    pem_password_cb *cb = SSL_CTX_get_default_passwd_cb(ctx);
    void *cb_arg = SSL_CTX_get_default_passwd_cb_userdata(ctx);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    int ok = SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM);
    SSL_CTX_set_default_passwd_cb(ctx, cb);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, cb_arg);
    /* OpenSSL checks the key against the certificate as it loads it. */
    unsigned long e = ok == 1 ? 0 : ERR_peek_last_error();
    int mismatch = e && ERR_GET_LIB(e) == ERR_LIB_X509 &&
                   ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
    if (ok != 1 && !mismatch) {
        int encrypted = ca_key_file_is_encrypted(key_file);
        return ca_fail(err, encrypted ? CA_ERR_PASSPHRASE : CA_ERR_INVALID,
                       encrypted ? "%s is encrypted: a TLS key must be stored unencrypted "
                                   "(0600, readable only by this user)%s"
                                 : "%s: not a valid PEM private key: %s",
                       key_file, encrypted ? "" : ssl_reason());
    }
    if (mismatch || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        return ca_fail(err, CA_ERR_INVALID,
                       "%s does not match the certificate in %s: give the key that was made "
                       "with this certificate",
                       key_file, cert_file);
    }
    return 0;
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
