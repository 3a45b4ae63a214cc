/*
 * gw_ca.c - snapshots of the CA directory for the device port (see
 * gw_ca.h), held as core/snapshot.h snapshots (gw_tls.c does the same with
 * OpenSSL's own count on its SSL_CTX).
 */
#include "server/gateway/gw_ca.h"

#include "server/core/log.h"
#include "server/core/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gw_ca {
    snapshot base; /* first: the reference count */
    ca_store *store;
    X509 **trusted; /* root first, then the trusted issuing CAs (borrowed) */
    size_t n_trusted;
    char *cacerts; /* base64 PKCS#7 of trusted */
    size_t cacerts_len;
    char sign_error[sizeof(((ca_error *)0)->msg)]; /* "" when the issuing key is unlocked */
};

static snapshot_slot current = SNAPSHOT_SLOT_INIT;

static void ca_free(gw_ca *ca)
{
    free(ca->cacerts);
    free(ca->trusted);
    ca_store_close(ca->store);
    free(ca);
}

static void ca_destroy(snapshot *s)
{
    ca_free((gw_ca *)s);
}

/* Root plus every issuing CA still trusted at `now`. */
static int collect_trusted(gw_ca *ca)
{
    ca_store *s = ca->store;
    time_t now = time(NULL);
    if (!(ca->trusted = calloc(s->n_issuers + 1, sizeof(*ca->trusted))))
        return -1;
    ca->trusted[ca->n_trusted++] = s->root;
    for (size_t i = 0; i < s->n_issuers; i++)
        if (ca_issuer_trusted(s, &s->issuers[i], now))
            ca->trusted[ca->n_trusted++] = s->issuers[i].cert;
    return ca->n_trusted > 1 ? 0 : -1;
}

gw_ca *gw_ca_load(const char *dir, const char *passphrase)
{
    ca_error err = {0};
    gw_ca *ca = calloc(1, sizeof(*ca));
    if (!ca)
        return NULL;
    snapshot_init(&ca->base, ca_destroy);
    if (!(ca->store = ca_store_open(dir, &err))) {
        log_error("cannot open the CA directory", "dir", dir, "error", err.msg, NULL);
        goto fail;
    }
    if (collect_trusted(ca) < 0) {
        log_error("the CA directory has no trusted issuing CA", "dir", dir, NULL);
        goto fail;
    }
    if (!(ca->cacerts = ca_est_certs_only(ca->trusted, ca->n_trusted, &ca->cacerts_len))) {
        log_error("cannot encode the CA chain", "dir", dir, NULL);
        goto fail;
    }
    if (ca_store_unlock(ca->store, passphrase, &err) < 0) {
        snprintf(ca->sign_error, sizeof(ca->sign_error), "%s", err.msg);
        log_warn("renewals are disabled: the issuing CA key cannot be used", "dir", dir, "error",
                 err.msg, NULL);
    }
    return ca;
fail:
    ca_free(ca);
    return NULL;
}

void gw_ca_install(gw_ca *ca)
{
    snapshot_install(&current, ca ? &ca->base : NULL);
}

gw_ca *gw_ca_current(void)
{
    return (gw_ca *)snapshot_current(&current);
}

void gw_ca_release(gw_ca *ca)
{
    snapshot_release(ca ? &ca->base : NULL);
}

void gw_ca_shutdown(void)
{
    gw_ca_install(NULL);
}

size_t gw_ca_trusted(const gw_ca *ca, X509 *const **certs)
{
    *certs = ca->trusted;
    return ca->n_trusted;
}

const char *gw_ca_cacerts(const gw_ca *ca, size_t *len)
{
    *len = ca->cacerts_len;
    return ca->cacerts;
}

const char *gw_ca_sign_error(const gw_ca *ca)
{
    return ca->sign_error[0] ? ca->sign_error : NULL;
}

int gw_ca_sign(gw_ca *ca, const char *device_id, EVP_PKEY *key, int64_t validity, ca_issued *out,
               ca_error *err)
{
    if (ca->sign_error[0])
        return ca_fail(err, CA_ERR_PASSPHRASE, "%s", ca->sign_error);
    ca_device_request r = {.device_id = device_id, .public_key = key, .validity = validity};
    return ca_issue_device(ca->store, &r, out, err);
}
