/*
 * gw_est.c - EST on the device port (see gw_est.h): the CA chain, the CSR
 * attributes, and renewal.
 *
 * A renewal is a job that outlives nothing it borrows: it holds its own
 * copy of the CSR, the identity and a reference to the CA snapshot, and
 * points back to its connection only while that connection is open
 * (gw_est_release clears the pointer), so a device that hangs up mid-way
 * costs at most a signature that is never recorded.
 */
#include "server/gateway/gw_est.h"

#include "cert-authority/ca.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/gateway/gw_ca.h"
#include "server/gateway/gw_http.h"
#include "server/gateway/gw_routes.h"
#include "server/gateway/gw_secevent.h"
#include "server/registry/reg_view.h"

#include <inttypes.h>
#include <llhttp.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EST_CSR_MAX 8192 /* DER bytes of a PKCS#10 request: a few hundred in practice */
#define PKCS7_TYPE "application/pkcs7-mime; smime-type=certs-only"
#define BASE64_HEADER "Content-Transfer-Encoding: base64\r\n"
#define UNAVAILABLE_COMMIT "the renewal could not be recorded; nothing was issued; retry later"
#define UNAVAILABLE_LOST                                                                           \
    "the database connection was lost while recording the renewal; it may have been recorded "     \
    "without reaching you: renew again later"

typedef struct est_job {
    gw_conn *c; /* NULL once the connection has gone */
    uv_work_t work;
    char *body; /* the request body, base64 */
    size_t body_len;
    X509 *cert; /* the certificate the connection presented (a reference) */
    X509_REQ *req;
    gw_ca *ca;
    int64_t validity;
    int same_key, expired;
    char device_id[REG_ID_MAX + 1];
    char auth_serial[CA_SERIAL_HEX_MAX];
    char key_sha256[CA_FINGERPRINT_HEX];
    /* filled on the thread pool */
    int refused_status; /* the CSR checks: 0 passed, else the answer's status */
    const char *refused_code;
    char refused_why[sizeof(((ca_error *)0)->msg)];
    ca_error err;
    ca_issued issued;
    char *pem, *p7;
    size_t p7_len;
} est_job;

static void job_free(est_job *j)
{
    free(j->body);
    X509_free(j->cert);
    X509_REQ_free(j->req);
    gw_ca_release(j->ca);
    ca_issued_clear(&j->issued);
    free(j->pem);
    free(j->p7);
    free(j);
}

/* ---- answers ---- */

static void answer_error(gw_conn *c, int status, const char *code, const char *reason,
                         int retry_after)
{
    metrics_request(MP_EST, status);
    /* a connection on a renewal grant gets one try per connection */
    gw_conn_respond_error(c, status, code, reason, retry_after, c->grant_only);
}

/* A renewal refused: the answer, and a security event (an expired or
 * stolen key trying its luck looks exactly like this). */
static void refuse(gw_conn *c, int status, const char *code, const char *reason, int retry_after)
{
    gw_secevent_record(c->w->ing, "auth_failure", "warning", c->device_id, c->addr,
                       json_pack("{s:s,s:s,s:b}", "reason", code, "request", "simplereenroll",
                                 "renewal_grant", c->grant_only));
    answer_error(c, status, code, reason, retry_after);
}

static void answer_certs(gw_conn *c, const char *b64, size_t len, int close_after)
{
    metrics_request(MP_EST, 200);
    gw_conn_respond_body(c, 200, PKCS7_TYPE, BASE64_HEADER, b64, len, 0, close_after);
}

static void unavailable(gw_conn *c, const char *reason)
{
    answer_error(c, 503, "unavailable", reason, (int)c->w->cfg->retry_after_s);
}

void gw_est_refuse_grant_only(gw_conn *c)
{
    refuse(c, 403, "grant_only",
           "this connection rests on a renewal grant for an expired certificate: it may only "
           "POST /.well-known/est/simplereenroll",
           0);
}

/* ---- cacerts, csrattrs ---- */

static void serve_cacerts(gw_conn *c)
{
    size_t len = 0;
    gw_ca *ca = gw_ca_current();
    const char *b64 = ca ? gw_ca_cacerts(ca, &len) : NULL;
    if (b64)
        answer_certs(c, b64, len, 0);
    else
        unavailable(c, "the CA chain is not loaded; retry later");
    gw_ca_release(ca);
}

static void serve_csrattrs(gw_conn *c)
{
    size_t len = 0;
    char *b64 = ca_est_csrattrs(c->device_id, &len);
    if (!b64) {
        gw_conn_close(c);
        return;
    }
    metrics_request(MP_EST, 200);
    gw_conn_respond_body(c, 200, "application/csrattrs", BASE64_HEADER, b64, len, 0, 0);
    free(b64);
}

/* ---- simplereenroll: the database's verdicts ---- */

static int refusal_status(const char *code)
{
    if (strcmp(code, "rate_limited") == 0)
        return 429;
    if (strcmp(code, "same_key") == 0)
        return 400;
    return 403;
}

/* ---- simplereenroll: how a job ends ---- */

/* 1, and the job freed, when its connection has gone or the thread pool
 * cancelled the work (a connection still there gets a 503). */
static int job_gone(est_job *j, int status)
{
    if (j->c && status == 0)
        return 0;
    if (j->c) {
        j->c->est = NULL;
        unavailable(j->c, "the renewal was cancelled; retry");
    }
    job_free(j);
    return 1;
}

/* Ends the job of a connection that is still there with a 503 saying why. */
static void job_unavailable(est_job *j, const char *reason)
{
    j->c->est = NULL;
    unavailable(j->c, reason);
    job_free(j);
}

/* Ends the job of a connection that is still there with a refusal. */
static void job_refused(est_job *j, int status, const char *code, const char *reason,
                        int retry_after)
{
    j->c->est = NULL;
    refuse(j->c, status, code, reason, retry_after);
    job_free(j);
}

/* Row 0 of vigil_renewal_precheck or vigil_renew: code, reason, retry_after. */
static void job_refused_by_db(est_job *j, PGresult *res)
{
    const char *code = PQgetvalue(res, 0, 0);
    int retry = PQgetisnull(res, 0, 2) ? 0 : atoi(PQgetvalue(res, 0, 2));
    job_refused(j, refusal_status(code), code, PQgetvalue(res, 0, 1), retry);
}

static int answered(PGresult *res)
{
    return res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
}

/* The renewal replaced earlier children of the same certificate (queued
 * for revocation): either the device lost an answer, or two holders of one
 * key are renewing. */
static void note_fork(gw_conn *c, const est_job *j, int revoked)
{
    if (revoked <= 0)
        return;
    gw_secevent_record(c->w->ing, "x-renewal-fork", "critical", c->device_id, c->addr,
                       json_pack("{s:s,s:s,s:s,s:i}", "reason", "renewed_again", "renewed_from",
                                 j->auth_serial, "serial", j->issued.serial, "revoked", revoked));
}

static void on_committed(PGresult *res, void *arg)
{
    est_job *j = arg;
    if (job_gone(j, 0))
        return;
    if (!answered(res)) {
        log_error("renewal not recorded", "device_id", j->device_id, "error",
                  res ? PQresultErrorMessage(res) : "connection lost", NULL);
        /* an error is a rollback; a lost connection may have committed */
        job_unavailable(j, res ? UNAVAILABLE_COMMIT : UNAVAILABLE_LOST);
        return;
    }
    if (!PQgetisnull(res, 0, 0)) {
        job_refused_by_db(j, res);
        return;
    }
    gw_conn *c = j->c;
    char na[CA_TIME_STR];
    c->est = NULL;
    note_fork(c, j, atoi(PQgetvalue(res, 0, 3)));
    ca_format_time(j->issued.not_after, na);
    log_info("certificate renewed", "device_id", j->device_id, "serial", j->issued.serial,
             "renewed_from", j->auth_serial, "not_after", na, NULL);
    answer_certs(c, j->p7, j->p7_len, c->grant_only);
    job_free(j);
}

static void commit(gw_conn *c, est_job *j)
{
    char nb[24], na[24];
    snprintf(nb, sizeof(nb), "%" PRId64, (int64_t)j->issued.not_before);
    snprintf(na, sizeof(na), "%" PRId64, (int64_t)j->issued.not_after);
    const char *params[] = {j->device_id,
                            j->auth_serial,
                            j->key_sha256,
                            j->same_key ? "t" : "f",
                            j->expired ? "t" : "f",
                            j->issued.serial,
                            j->issued.issuer_ski,
                            j->issued.fingerprint,
                            nb,
                            na,
                            j->pem,
                            "vigild",
                            c->addr};
    if (pg_async_query(
            c->w->registry,
            "SELECT code, reason, retry_after, forked FROM vigil_renew($1, $2, $3, $4, $5,"
            " $6, $7, $8, $9, $10, $11, $12, $13)",
            13, params, on_committed, j) < 0)
        job_unavailable(j, UNAVAILABLE_COMMIT);
}

/* ---- simplereenroll: signing, off the loop ---- */

static void sign_work(uv_work_t *w)
{
    est_job *j = w->data;
    if (gw_ca_sign(j->ca, j->device_id, X509_REQ_get0_pubkey(j->req), j->validity, &j->issued,
                   &j->err) < 0)
        return;
    if ((j->pem = ca_cert_pem(j->issued.cert)))
        j->p7 = ca_est_certs_only(&j->issued.cert, 1, &j->p7_len);
}

static void after_sign(uv_work_t *w, int status)
{
    est_job *j = w->data;
    if (job_gone(j, status))
        return;
    if (!j->p7) {
        log_error("cannot sign a renewal", "device_id", j->device_id, "error", j->err.msg, NULL);
        job_unavailable(j, "this server cannot sign renewals now; retry later");
        return;
    }
    commit(j->c, j);
}

static void on_prechecked(PGresult *res, void *arg)
{
    est_job *j = arg;
    if (job_gone(j, 0))
        return;
    if (!answered(res)) {
        job_unavailable(j, "cannot check this renewal now; nothing was issued; retry later");
    } else if (!PQgetisnull(res, 0, 0)) {
        job_refused_by_db(j, res);
    } else {
        j->validity = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
        if (uv_queue_work(&j->c->w->loop, &j->work, sign_work, after_sign) != 0)
            job_unavailable(j, "cannot sign a renewal now; retry later");
    }
}

static void precheck(gw_conn *c, est_job *j)
{
    const char *params[] = {j->device_id, j->auth_serial, j->key_sha256, j->same_key ? "t" : "f",
                            j->expired ? "t" : "f"};
    if (pg_async_query(c->w->registry,
                       "SELECT code, reason, retry_after, renewal_validity_s"
                       " FROM vigil_renewal_precheck($1, $2, $3, $4, $5)",
                       5, params, on_prechecked, j) < 0)
        job_unavailable(j, "the database is unavailable; nothing was issued; retry later");
}

/* ---- simplereenroll: the CSR, checked off the loop ---- */

static void check_refuse(est_job *j, int status, const char *code, const char *why)
{
    j->refused_status = status;
    j->refused_code = code;
    snprintf(j->refused_why, sizeof(j->refused_why), "%s", why);
}

/* The body: base64 of a DER PKCS#10 request (RFC 7030 section 4.2.1) that
 * names this device, with a key strong enough, signed by that key. Parsing
 * and encoding keys costs OpenSSL 3 hundreds of microseconds: not on the
 * loop. */
static void check_work(uv_work_t *w)
{
    est_job *j = w->data;
    size_t len = 0;
    char why[320];
    ca_error err = {0};
    unsigned char *der = ca_est_base64_decode(j->body, j->body_len, EST_CSR_MAX, &len);
    j->req = der ? ca_csr_parse(der, len, &err) : NULL;
    free(der);
    EVP_PKEY *key = j->req ? X509_REQ_get0_pubkey(j->req) : NULL;
    if (!j->req)
        check_refuse(j, 400, "invalid_csr",
                     "the body must be a base64-encoded DER PKCS#10 request (no PEM header) "
                     "of at most 8 KiB");
    else if (!key || ca_key_check_strength(key, &err) < 0)
        check_refuse(j, 400, "weak_key", key ? err.msg : "the CSR has no usable public key");
    else if (!ca_csr_names_device(j->req, j->device_id, why, sizeof(why)))
        check_refuse(j, 403, "wrong_identity", why);
    else if (X509_REQ_verify(j->req, key) != 1) /* proof of possession */
        check_refuse(j, 400, "bad_csr_signature",
                     "the CSR's signature does not verify: it was altered or not signed by the "
                     "holder of its key");
    else if (ca_serial_hex(j->cert, j->auth_serial) < 0 || ca_key_sha256(key, j->key_sha256) < 0)
        check_refuse(j, 503, "unavailable", "cannot read this CSR now; retry later");
    else
        j->same_key = EVP_PKEY_eq(key, X509_get0_pubkey(j->cert)) == 1;
    ERR_clear_error();
}

static void after_check(uv_work_t *w, int status)
{
    est_job *j = w->data;
    if (job_gone(j, status))
        return;
    if (j->refused_status == 503) {
        job_unavailable(j, j->refused_why);
    } else if (j->refused_status) {
        job_refused(j, j->refused_status, j->refused_code, j->refused_why, 0);
    } else {
        precheck(j->c, j);
    }
}

/* ---- simplereenroll: the request itself ---- */

static est_job *new_job(gw_conn *c, const gw_http_request *req)
{
    X509 *cert = SSL_get0_peer_certificate(c->ssl);
    est_job *j = calloc(1, sizeof(*j));
    if (!j || !cert || !(j->body = malloc(req->body_len + 1))) {
        free(j);
        return NULL;
    }
    if (req->body_len)
        memcpy(j->body, req->body, req->body_len);
    j->body_len = req->body_len;
    X509_up_ref(cert);
    j->cert = cert;
    j->c = c;
    j->expired = c->grant_only;
    j->work.data = j;
    memcpy(j->device_id, c->device_id, sizeof(j->device_id));
    return j;
}

static void reenroll(gw_conn *c, gw_http_request *req)
{
    if (!gw_http_media_type_is(req->content_type, "application/pkcs10")) {
        answer_error(c, 415, "unsupported_media_type",
                     "send Content-Type: application/pkcs10 with a base64 DER PKCS#10 body", 0);
        return;
    }
    if (gw_routes_over_rate(c)) {
        answer_error(c, 429, "rate_limited", "too many requests from this device; slow down", 1);
        return;
    }
    est_job *j = new_job(c, req);
    if (!j) {
        gw_conn_close(c);
        return;
    }
    j->ca = gw_ca_current();
    const char *why = j->ca ? gw_ca_sign_error(j->ca) : "the CA is not loaded";
    c->est = j;
    if (why) {
        log_warn("renewal refused: cannot sign", "device_id", c->device_id, "error", why, NULL);
        job_unavailable(j, "this server cannot sign renewals now; retry later");
    } else if (uv_queue_work(&c->w->loop, &j->work, check_work, after_check) != 0) {
        job_unavailable(j, "cannot check a renewal now; retry later");
    }
}

/* ---- dispatch ---- */

static void wrong_method(gw_conn *c, const char *allow)
{
    c->allow = allow;
    answer_error(c, 405, "method_not_allowed", strcmp(allow, "POST") == 0 ? "use POST" : "use GET",
                 0);
}

void gw_est_dispatch(gw_conn *c, gw_http_request *req)
{
    const char *op = req->path + strlen(GW_EST_PREFIX);
    int get = req->method == HTTP_GET || req->method == HTTP_HEAD;
    int post = req->method == HTTP_POST;
    if (c->grant_only && !(post && strcmp(op, "simplereenroll") == 0))
        gw_est_refuse_grant_only(c);
    else if (strcmp(op, "cacerts") == 0)
        get ? serve_cacerts(c) : wrong_method(c, "GET, HEAD");
    else if (strcmp(op, "csrattrs") == 0)
        get ? serve_csrattrs(c) : wrong_method(c, "GET, HEAD");
    else if (strcmp(op, "simplereenroll") == 0)
        post ? reenroll(c, req) : wrong_method(c, "POST");
    else if (strcmp(op, "simpleenroll") == 0)
        answer_error(c, 403, "enrollment_by_operator",
                     "initial enrollment is done by the fleet operator (vigilctl device "
                     "enroll); an enrolled device renews with POST "
                     "/.well-known/est/simplereenroll",
                     0);
    else if (strcmp(op, "serverkeygen") == 0)
        answer_error(c, 403, "serverkeygen_refused",
                     "keys are made on the device and never leave it: send a CSR to "
                     "/.well-known/est/simplereenroll",
                     0);
    else
        answer_error(c, 404, "not_found",
                     "EST paths here: cacerts, csrattrs, simplereenroll (no CA label)", 0);
}

void gw_est_release(gw_conn *c)
{
    if (c->est) {
        ((est_job *)c->est)->c = NULL;
        c->est = NULL;
    }
}
