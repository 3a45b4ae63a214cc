/*
 * gw_tls.c - building and swapping the device port's SSL_CTX (see gw_tls.h).
 *
 * The trust store holds the root and every issuing CA the CA directory still
 * trusts (ca_issuer_trusted), so certificates from an issuer retired by a
 * rotation keep working until they expire. Chain, dates and the clientAuth
 * purpose are checked by OpenSSL, and an extendedKeyUsage that names
 * clientAuth here (OpenSSL lets a leaf without one through); whether the certificate is registered
 * and not revoked is the registry's job after the handshake.
 */
#include "server/gateway/gw_tls.h"

#include "cert-authority/ca.h"
#include "server/core/log.h"
#include "server/registry/reg_grant.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <string.h>

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *current;
static int peer_info_idx = -1;

static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

int gw_tls_init(void)
{
    peer_info_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    return peer_info_idx < 0 ? -1 : 0;
}

void gw_tls_set_peer(SSL *ssl, gw_tls_peer *info)
{
    SSL_set_ex_data(ssl, peer_info_idx, info);
}

static void note_identity(gw_tls_peer *info, X509 *cert)
{
    X509_NAME *subject = X509_get_subject_name(cert);
    if (X509_NAME_get_text_by_NID(subject, NID_commonName, info->subject_cn,
                                  sizeof(info->subject_cn)) < 0)
        info->subject_cn[0] = '\0';
    for (char *p = info->subject_cn; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';    /* it goes into logs and JSON: keep it printable */
    if (ca_serial_hex(cert, info->serial) < 0)
        info->serial[0] = '\0';
    X509_NAME_oneline(X509_get_issuer_name(cert), info->issuer, sizeof(info->issuer));
    unsigned int len = 0;
    info->has_fp = X509_digest(cert, EVP_sha256(), info->fp, &len) && len == sizeof(info->fp);
}

/* An expired leaf that an open renewal grant names may pass (the only
 * time-check failure forgiven, and only at depth 0). */
static int forgiven_by_grant(gw_tls_peer *info, X509_STORE_CTX *store)
{
    if (!info || !info->has_fp || X509_STORE_CTX_get_error_depth(store) != 0 ||
        X509_STORE_CTX_get_error(store) != X509_V_ERR_CERT_HAS_EXPIRED ||
        reg_grant_lookup(info->fp, time(NULL), NULL) != REG_GRANT_OPEN)
        return 0;
    info->renewal_grant = 1;
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
}

/* The leaf names clientAuth in an extendedKeyUsage extension. OpenSSL's
 * X509_PURPOSE_SSL_CLIENT takes a certificate with no extendedKeyUsage at
 * all as good for any purpose; docs/DEVICE-PORT.md requires clientAuth. */
static int has_client_auth(X509 *leaf)
{
    return (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) &&
           (X509_get_extended_key_usage(leaf) & XKU_SSL_CLIENT);
}

static int verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    gw_tls_peer *info = ssl ? SSL_get_ex_data(ssl, peer_info_idx) : NULL;
    if (ok && X509_STORE_CTX_get_error_depth(store) == 0) {
        X509 *leaf = X509_STORE_CTX_get_current_cert(store);
        if (!leaf || !has_client_auth(leaf)) {
            X509_STORE_CTX_set_error(store, X509_V_ERR_INVALID_PURPOSE);
            ok = 0;
        }
    }
    if (!info)
        return ok;
    if (X509_STORE_CTX_get_error_depth(store) == 0 && !info->serial[0]) {
        X509 *leaf = X509_STORE_CTX_get_current_cert(store);
        if (leaf)
            note_identity(info, leaf);
    }
    if (!ok && forgiven_by_grant(info, store))
        return 1;
    if (!ok && info->verify_error == X509_V_OK)
        info->verify_error = X509_STORE_CTX_get_error(store);
    return ok;
}

const char *gw_tls_failure_reason(const gw_tls_peer *info, unsigned long ssl_err)
{
    switch (info->verify_error) {
    case X509_V_OK:
        break;
    case X509_V_ERR_CERT_HAS_EXPIRED: return "expired";
    case X509_V_ERR_CERT_NOT_YET_VALID: return "not_yet_valid";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "self_signed";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: return "unknown_issuer";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE: return "bad_signature";
    case X509_V_ERR_INVALID_PURPOSE: return "not_client_cert";
    default: return "invalid_certificate";
    }
    if (ERR_GET_REASON(ssl_err) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
        return "no_certificate";
    return "protocol";
}

/* Root plus every still-trusted issuing CA (gw_ca.h). */
static int load_trust(SSL_CTX *ctx, const gw_ca *ca)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    X509 *const *certs;
    size_t n = gw_ca_trusted(ca, &certs);
    for (size_t i = 0; i < n; i++)
        if (!X509_STORE_add_cert(store, certs[i])) {
            log_error("cannot build the trust store", NULL);
            return -1;
        }
    return 0;
}

SSL_CTX *gw_tls_build(const char *cert_file, const char *key_file, const gw_ca *ca)
{
    static const unsigned char sid_ctx[] = "vigil-device-port";
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return NULL;
    ca_error err = {0};
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(ctx, tls12_ciphers)) {
        log_error("cannot configure TLS", "error", ERR_reason_error_string(ERR_peek_last_error()),
                  NULL);
        goto fail;
    }
    if (ca_tls_use_identity(ctx, cert_file, key_file, &err) < 0) {
        log_error("cannot load the device port certificate or key (--tls-cert, --tls-key)",
                  "error", err.msg, NULL);
        goto fail;
    }
    if (load_trust(ctx, ca) < 0)
        goto fail;
    /* A missing client certificate is refused after the handshake, with a
     * 401 the device can read, rather than with a bare TLS alert. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    SSL_CTX_set_verify_depth(ctx, 3);
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_num_tickets(ctx, 1);
    /* Idle connections give their read/write buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);   /* stateless tickets only */
    /* One read(2) per burst of records, not two per record (header, body);
     * what is read ahead is drained by SSL_read after each response. */
    SSL_CTX_set_read_ahead(ctx, 1);
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

void gw_tls_install(SSL_CTX *fresh)
{
    pthread_mutex_lock(&current_lock);
    SSL_CTX *old = current;
    current = fresh;
    pthread_mutex_unlock(&current_lock);
    SSL_CTX_free(old);
}

SSL_CTX *gw_tls_current(void)
{
    pthread_mutex_lock(&current_lock);
    SSL_CTX *ctx = current;
    if (ctx)
        SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&current_lock);
    return ctx;
}

int gw_tls_ready(void)
{
    SSL_CTX *ctx = gw_tls_current();
    int ready = ctx != NULL;
    SSL_CTX_free(ctx);
    return ready;
}

void gw_tls_shutdown(void)
{
    gw_tls_install(NULL);
}
