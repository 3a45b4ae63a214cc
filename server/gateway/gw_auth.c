/*
 * gw_auth.c - who is on the other end of a device connection.
 *
 * OpenSSL has already checked the chain, the dates and the clientAuth
 * purpose. Here the certificate's SHA-256 fingerprint is looked up in the
 * in-memory registry: it must be recorded, active, in date, and its device
 * not decommissioned. A fingerprint the registry has never seen (issued a
 * moment ago, maybe on another node) is looked up in PostgreSQL on the
 * worker's own connection, asynchronously; the connection waits, the loop
 * does not. Every refusal is a security event.
 */
#include "server/gateway/gw_auth.h"

#include "cert-authority/ca.h"
#include "protocol/hex.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/gateway/gw_secevent.h"
#include "server/registry/reg_grant.h"
#include "server/registry/reg_sync.h"
#include "server/registry/reg_touch.h"
#include "server/registry/reg_view.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

typedef struct lookup {
    gw_conn *c; /* NULL once the connection has gone */
} lookup;

/* ---- failed handshakes ---- */

static metrics_handshake handshake_metric(const char *reason)
{
    if (strcmp(reason, "no_certificate") == 0)
        return HS_NO_CERT;
    if (strcmp(reason, "expired") == 0 || strcmp(reason, "not_yet_valid") == 0)
        return HS_EXPIRED;
    if (strcmp(reason, "protocol") == 0)
        return HS_PROTOCOL;
    return HS_BAD_CERT;
}

void gw_auth_handshake_failed(gw_conn *c, const gw_tls_peer *peer, unsigned long ssl_err)
{
    const char *reason = gw_tls_failure_reason(peer, ssl_err);
    metrics_add(&metrics.handshakes[handshake_metric(reason)], 1);
    /* A peer that connects and leaves without a TLS error (a port check, a
     * load balancer probe) is not an event. */
    if (strcmp(reason, "protocol") == 0 &&
        (ssl_err == 0 || ERR_GET_REASON(ssl_err) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
        return;
    json_t *details = json_pack("{s:s}", "reason", reason);
    if (strcmp(reason, "protocol") == 0)
        json_object_set_new(details, "tls_error",
                            json_string(ERR_reason_error_string(ssl_err) ? ERR_reason_error_string(ssl_err) : "unknown"));
    if (peer->subject_cn[0])
        json_object_set_new(details, "claimed_device_id", json_string(peer->subject_cn));
    if (peer->serial[0])
        json_object_set_new(details, "serial", json_string(peer->serial));
    if (peer->issuer[0])
        json_object_set_new(details, "issuer", json_string(peer->issuer));
    /* An expired certificate knocking is what a stolen old key looks like;
     * say whether a renewal grant was ever in play. */
    if (strcmp(reason, "expired") == 0 && peer->has_fp)
        json_object_set_new(
            details, "renewal_grant",
            json_string(reg_grant_state_name(reg_grant_lookup(peer->fp, time(NULL), NULL))));
    gw_secevent_record(c->w->ing, "auth_failure", "warning", NULL, c->addr, details);
}

/* ---- network checks ---- */

/* The /24 (IPv4) or /48 (IPv6) around addr, as PostgreSQL prints it. */
static void network_of(const char *addr, char out[48])
{
    unsigned char bytes[16];
    char text[INET6_ADDRSTRLEN];
    out[0] = '\0';
    if (inet_pton(AF_INET, addr, bytes) == 1) {
        bytes[3] = 0;
        if (inet_ntop(AF_INET, bytes, text, sizeof(text)))
            snprintf(out, 48, "%.40s/24", text);
    } else if (inet_pton(AF_INET6, addr, bytes) == 1) {
        memset(bytes + 6, 0, 10);
        if (inet_ntop(AF_INET6, bytes, text, sizeof(text)))
            snprintf(out, 48, "%.40s/48", text);
    }
}

static void check_network(gw_conn *c)
{
    char other[GW_TRACK_ADDR_MAX];
    network_of(c->addr, c->network);
    c->network_changed = c->network[0] && reg_view_note_network(c->device_id, c->network);
    if (c->network_changed)
        gw_secevent_record(c->w->ing, "network_anomaly", "warning", c->device_id, c->addr,
                           json_pack("{s:s,s:s}", "reason", "new_network", "network", c->network));
    if (gw_track_cert_acquire(c->fp, c->addr, other))
        gw_secevent_record(
            c->w->ing, "network_anomaly", "error", c->device_id, c->addr,
            json_pack("{s:s,s:s}", "reason", "concurrent_use", "other_address", other));
    c->cert_tracked = 1;
    reg_touch_connected(c->w->touch, c->device_id, c->addr, c->network_changed);
}

/* ---- decisions ---- */

static const char *refusal_text(reg_verdict v)
{
    switch (v) {
    case REG_REVOKED: return "this certificate is revoked";
    case REG_EXPIRED: return "this certificate has expired";
    case REG_DECOMMISSIONED: return "this device is decommissioned";
    default: return "this certificate is not registered";
    }
}

static void refuse(gw_conn *c, const reg_answer *a)
{
    metrics_handshake m = a->verdict == REG_REVOKED ? HS_REVOKED
                          : a->verdict == REG_DECOMMISSIONED ? HS_DECOMMISSIONED
                          : a->verdict == REG_EXPIRED ? HS_EXPIRED : HS_UNREGISTERED;
    char fp_hex[2 * REG_FP_LEN + 1];
    metrics_add(&metrics.handshakes[m], 1);
    hex_encode(c->fp, REG_FP_LEN, fp_hex);
    json_t *details =
        json_pack("{s:s,s:s}", "reason", reg_view_verdict_name(a->verdict), "fingerprint", fp_hex);
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    char serial[CA_SERIAL_HEX_MAX];
    if (cert && ca_serial_hex(cert, serial) == 0)
        json_object_set_new(details, "serial", json_string(serial));
    /* Only a registered certificate names its device with authority. */
    const char *device = a->device_id[0] ? a->device_id : NULL;
    gw_secevent_record(c->w->ing, "auth_failure", "warning", device, c->addr, details);
    gw_conn_respond_error(c, 403, "forbidden", refusal_text(a->verdict), 0, 1);
}

static void decide(gw_conn *c, const reg_answer *a)
{
    if (a->verdict != REG_OK) {
        refuse(c, a);
        return;
    }
    /* A keep-alive connection may outlive its certificate: requests stop
     * at its notAfter (the registry said it is in date now). */
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (!cert || ca_asn1_time_to_unix(X509_get0_notAfter(cert), &c->cert_not_after) < 0) {
        gw_conn_close(c);
        return;
    }
    metrics_add(&metrics.handshakes[c->resumed ? HS_RESUMED : HS_OK], 1);
    memcpy(c->device_id, a->device_id, sizeof(c->device_id));
    check_network(c);
    gw_conn_authorized(c);
}

static void on_lookup(int answered, void *arg)
{
    lookup *l = arg;
    gw_conn *c = l->c;
    free(l);
    if (!c)
        return;
    c->lookup = NULL;
    if (!answered) {
        gw_conn_respond_error(c, 503, "unavailable", "cannot check the certificate now; retry",
                              (int)c->w->cfg->retry_after_s, 1);
        return;
    }
    reg_answer a = reg_view_lookup(c->fp, time(NULL));
    if (a.verdict == REG_MISS)
        a.verdict = REG_UNREGISTERED;
    decide(c, &a);
}

static void look_up(gw_conn *c)
{
    lookup *l = calloc(1, sizeof(*l));
    if (l)
        l->c = c;
    if (!l || reg_sync_fetch(c->w->registry, c->fp, on_lookup, l) < 0) {
        free(l);
        gw_conn_respond_error(c, 503, "unavailable", "cannot check the certificate now; retry",
                              (int)c->w->cfg->retry_after_s, 1);
        return;
    }
    c->lookup = l;
}

/* An expired certificate that the handshake let through on an open
 * renewal grant: the grant names the device; the connection may only
 * renew, and the database checks everything again when it commits. */
static void start_on_grant(gw_conn *c)
{
    char device[REG_ID_MAX + 1];
    if (reg_grant_lookup(c->fp, time(NULL), device) != REG_GRANT_OPEN) {
        reg_answer a = {.verdict = REG_EXPIRED};
        refuse(c, &a);
        return;
    }
    metrics_add(&metrics.handshakes[HS_OK], 1);
    memcpy(c->device_id, device, sizeof(c->device_id));
    log_info("expired certificate admitted on a renewal grant", "device_id", c->device_id,
             "address", c->addr, NULL);
    gw_conn_authorized(c);
}

void gw_auth_start(gw_conn *c)
{
    unsigned int len = 0;
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    if (!cert) {
        metrics_add(&metrics.handshakes[HS_NO_CERT], 1);
        gw_secevent_record(c->w->ing, "auth_failure", "warning", NULL, c->addr,
                           json_pack("{s:s}", "reason", "no_certificate"));
        gw_conn_respond_error(c, 401, "unauthorized",
                              "a client certificate issued by this fleet's "
                              "CA is required",
                              0, 1);
        return;
    }
    if (!X509_digest(cert, EVP_sha256(), c->fp, &len) || len != REG_FP_LEN) {
        ERR_clear_error();
        gw_conn_close(c);
        return;
    }
    if (c->grant_only) {
        start_on_grant(c);
        return;
    }
    reg_answer a = reg_view_lookup(c->fp, time(NULL));
    if (a.verdict == REG_MISS)
        look_up(c);
    else
        decide(c, &a);
}

int gw_auth_still_valid(gw_conn *c)
{
    if (c->grant_only) {
        /* spent by this connection's own renewal: its answer is on the way
         * (c->est) or being written, and the connection closes after it */
        reg_grant_state g = reg_grant_lookup(c->fp, time(NULL), NULL);
        if (g == REG_GRANT_OPEN || (g == REG_GRANT_SPENT && (c->est || c->close_after)))
            return 1;
        log_info("closing a renewal-grant connection", "device_id", c->device_id, "grant",
                 reg_grant_state_name(g), NULL);
        return 0;
    }
    reg_answer a = reg_view_lookup(c->fp, time(NULL));
    if (a.verdict == REG_OK)
        return 1;
    log_info("closing connection after a registry change", "device_id", c->device_id, "reason",
             reg_view_verdict_name(a.verdict), NULL);
    return 0;
}

void gw_auth_release(gw_conn *c)
{
    if (c->lookup) {
        ((lookup *)c->lookup)->c = NULL;
        c->lookup = NULL;
    }
    if (c->cert_tracked) {
        gw_track_cert_release(c->fp, c->addr);
        c->cert_tracked = 0;
    }
}
