/*
 * pair.c - crash-safe replacement of the device's key pair (see pair.h).
 * Each step is a rename or an atomic write followed by a sync of the
 * directory, so after a crash the files are in one of the states
 * pair_recover knows.
 */
#include "tools/vigil-device/pair.h"

#include "cert-authority/ca.h"
#include "tools/vigil-device/keygen.h"
#include "tools/vigil-device/util.h"

#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEM_MAX (256 * 1024)

/* path + suffix into out (PATH_MAX). */
static const char *with(char *out, const char *path, const char *suffix)
{
    snprintf(out, PATH_MAX, "%s%s", path, suffix);
    return out;
}

static int exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* 1 if the certificate in cert_path and the key in key_path belong together. */
static int matches(const char *cert_path, const char *key_path)
{
    ca_error err;
    if (!exists(cert_path) || !exists(key_path))
        return 0;
    X509 *x = ca_cert_read(cert_path, &err);
    EVP_PKEY *k = x ? ca_key_read(key_path, NULL, &err) : NULL;
    int ok = x && k && X509_check_private_key(x, k) == 1;
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(k);
    return ok;
}

static int copy_file(const char *from, const char *to, int mode)
{
    size_t len = 0;
    char *data = devu_read_file(from, PEM_MAX, &len);
    int rc = data ? devu_write_atomic(to, data, len, mode) : -1;
    if (data)
        OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

static int rename_synced(const char *from, const char *to)
{
    return rename(from, to) == 0 && devu_fsync_dir_of(to, 0) == 0 ? 0 : -1;
}

static void unlink_synced(const char *a, const char *b)
{
    unlink(a);
    unlink(b);
    devu_fsync_dir_of(a, 0);
}

int pair_stage(const char *cert, const char *key, X509 *new_cert, EVP_PKEY *new_key)
{
    char kn[PATH_MAX], cn[PATH_MAX];
    char *kpem = keygen_key_pem(new_key), *cpem = ca_cert_pem(new_cert);
    int rc = kpem && cpem &&
                     devu_write_atomic(with(kn, key, ".new"), kpem, strlen(kpem), 0600) == 0 &&
                     (devu_crash_point("after-stage-key"), 1) &&
                     devu_write_atomic(with(cn, cert, ".new"), cpem, strlen(cpem), 0644) == 0
                 ? 0
                 : -1;
    if (kpem)
        OPENSSL_cleanse(kpem, strlen(kpem));
    free(kpem);
    free(cpem);
    return rc;
}

int pair_commit(const char *cert, const char *key)
{
    char kn[PATH_MAX], cn[PATH_MAX], kp[PATH_MAX], cp[PATH_MAX];
    with(kn, key, ".new");
    with(cn, cert, ".new");
    with(kp, key, ".prev");
    with(cp, cert, ".prev");
    /* The current pair is kept only if it works: after an interrupted
     * commit the .prev copies are the good ones. */
    if (matches(cert, key) && (copy_file(key, kp, 0600) < 0 || copy_file(cert, cp, 0644) < 0))
        return -1;
    devu_crash_point("after-prev");
    if (rename_synced(kn, key) < 0)
        return -1;
    devu_crash_point("between-renames");
    if (rename_synced(cn, cert) < 0)
        return -1;
    devu_crash_point("after-commit");
    return 0;
}

int pair_confirm(const char *cert, const char *key)
{
    char kp[PATH_MAX], cp[PATH_MAX];
    unlink_synced(with(cp, cert, ".prev"), with(kp, key, ".prev"));
    return 0;
}

int pair_has_prev(const char *cert, const char *key)
{
    char kp[PATH_MAX], cp[PATH_MAX];
    return exists(with(cp, cert, ".prev")) && exists(with(kp, key, ".prev"));
}

int pair_rollback(const char *cert, const char *key)
{
    char kp[PATH_MAX], cp[PATH_MAX];
    if (!matches(with(cp, cert, ".prev"), with(kp, key, ".prev")))
        return -1;
    /* Key first, then certificate: in between, pair_recover sees a
     * mismatch and finishes the rollback from .prev. */
    return rename_synced(kp, key) == 0 && rename_synced(cp, cert) == 0 ? 0 : -1;
}


/* Why CERT and KEY cannot be used as they are, when no renewal or
 * rollback left anything to recover from: what is wrong with either file
 * (its path and the reason), or that they do not match. */
static void why_unusable(const char *cert, const char *key, char *msg, size_t len)
{
    ca_error err = {0};
    X509 *x = ca_cert_read(cert, &err);
    EVP_PKEY *k = x ? ca_key_read(key, NULL, &err) : NULL;
    ERR_clear_error();
    if (!x || !k)
        devu_format(msg, len, "%s", err.msg);
    else
        devu_format(msg, len,
             "%s does not match the certificate in %s (and no %s.new or %s.prev pair is "
             "beside them to recover from): give the key that was made with this certificate",
             key, cert, cert, cert);
    X509_free(x);
    EVP_PKEY_free(k);
}

int pair_recover(const char *cert, const char *key, char *msg, size_t msglen)
{
    char kn[PATH_MAX], cn[PATH_MAX], kp[PATH_MAX], cp[PATH_MAX];
    with(kn, key, ".new");
    with(cn, cert, ".new");
    with(kp, key, ".prev");
    with(cp, cert, ".prev");
    msg[0] = '\0';
    /* A crash never leaves either file missing, empty or not PEM (every
     * step is a rename or an atomic write): that is the user's to fix, and
     * what comes out first. */
    ca_error ferr = {0};
    if (ca_pem_file_check(cert, CA_PEM_CERTIFICATE, &ferr) < 0 ||
        ca_pem_file_check(key, CA_PEM_PRIVATE_KEY, &ferr) < 0)
        return devu_format(msg, msglen, "%s", ferr.msg), -1;
    if (matches(cn, kn)) {
        /* A renewal saved its answer and was cut before or during the
         * commit: finish it (the server has already recorded it). */
        if (pair_commit(cert, key) < 0) {
            devu_format(msg, msglen, "cannot finish the interrupted renewal in %s: %s", cert,
                 strerror(errno));
            return -1;
        }
        devu_format(msg, msglen, "finished an interrupted renewal (%s.new)", cert);
    } else if (exists(cn) && matches(cn, key)) {
        if (rename_synced(cn, cert) < 0)
            return devu_format(msg, msglen, "cannot rename %s: %s", cn, strerror(errno)), -1;
        devu_format(msg, msglen, "finished an interrupted renewal (the new key was in place)");
    } else if (exists(cp) && !matches(cert, key) && matches(cp, key)) {
        if (rename_synced(cp, cert) < 0)
            return devu_format(msg, msglen, "cannot rename %s: %s", cp, strerror(errno)), -1;
        devu_format(msg, msglen, "finished an interrupted rollback to the previous pair");
    }
    if (matches(cert, key)) {
        if (exists(kn) || exists(cn))
            unlink_synced(kn, cn); /* a renewal cut before its answer was saved */
        return 0;
    }
    if (matches(cp, kp)) {
        if (rename_synced(kp, key) < 0 || rename_synced(cp, cert) < 0)
            return devu_format(msg, msglen, "cannot restore %s: %s", cp, strerror(errno)), -1;
        unlink_synced(kn, cn);
        devu_format(msg, msglen, "%s and %s did not match: restored the previous pair", cert, key);
        return 0;
    }
    why_unusable(cert, key, msg, msglen);
    return -1;
}

int pair_connect(devc *c, const char *server, const char *cert, const char *key, const char *ca,
                 const char *who)
{
    char msg[600], err[512];
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    int broken = pair_recover(cert, key, msg, sizeof(msg)) < 0;
    if (msg[0])
        fprintf(stderr, "%s: %s\n", who, msg);
    if (broken)
        return -1;
    if (devc_init(c, server, cert, key, ca, err, sizeof(err)) != DEVC_OK) {
        fprintf(stderr, "%s: %s\n", who, err);
        return -1;
    }
    return 0;
}
