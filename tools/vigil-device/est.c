/*
 * est.c - EST requests of the device stub (see est.h). Bodies are base64
 * of DER (RFC 7030 §4.1.3, Content-Transfer-Encoding: base64); the PKCS#7
 * is parsed by OpenSSL (d2i_PKCS7, in the CA library's ca_est_certs_parse),
 * never by hand.
 */
#include "tools/vigil-device/est.h"

#include "cert-authority/ca.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CACERTS_PATH "/.well-known/est/cacerts"
#define REENROLL_PATH "/.well-known/est/simplereenroll"

const char *est_outcome_name(est_outcome o)
{
    static const char *const names[] = {"ok", "refused", "retry", "identity", "bad_answer"};
    return o <= EST_BAD_ANSWER ? names[o] : "unknown";
}

/* Copies text into a buffer of cap bytes, cut to fit. */
static void copy_cut(char *dst, size_t cap, const char *text)
{
    size_t n = strnlen(text, cap - 1);
    memcpy(dst, text, n);
    dst[n] = '\0';
}

void est_set(est_result *r, est_outcome o, const char *code, const char *reason)
{
    r->outcome = o;
    copy_cut(r->code, sizeof(r->code), code);
    copy_cut(r->reason, sizeof(r->reason), reason);
}

/* The server's codes that say this certificate itself is not accepted. */
static int identity_code(const char *code)
{
    static const char *const codes[] = {"revoked",     "unregistered",   "decommissioned",
                                        "expired",     "unknown_issuer", "no_certificate",
                                        "unauthorized"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(code, codes[i]) == 0)
            return 1;
    return 0;
}

/* Sorts a non-200 answer; reads the JSON error body when there is one. */
static void classify_error(const devc_response *resp, est_result *r)
{
    char code[64], reason[512];
    devc_error_of(resp, code, sizeof(code), reason, sizeof(reason));
    r->status = resp->status;
    r->retry_after = resp->retry_after;
    est_outcome o = resp->status == 429 || resp->status >= 500 ? EST_RETRY
                    : resp->status == 401                      ? EST_IDENTITY
                    : identity_code(code)                      ? EST_IDENTITY
                                                               : EST_REFUSED;
    est_set(r, o, code, reason);
}

static int sends(devc *c, const char *method, const char *path, const char *ctype, const char *body,
                 devc_response *resp, est_result *r)
{
    char err[512] = "";
    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
    devc_result d =
        devc_request(c, method, path, ctype, body, body ? strlen(body) : 0, resp, err, sizeof(err));
    if (d != DEVC_OK) {
        est_set(r, d == DEVC_IDENTITY ? EST_IDENTITY : EST_RETRY,
                d == DEVC_IDENTITY ? "tls" : "network", err);
        return -1;
    }
    if (resp->status != 200) {
        classify_error(resp, r);
        devc_response_free(resp);
        return -1;
    }
    return 0;
}

/* The certificates of a base64 PKCS#7 certs-only body: at least one. */
static STACK_OF(X509) * parse_certs(const devc_response *resp, est_result *r)
{
    if (strncasecmp(resp->content_type, "application/pkcs7-mime", 22) != 0) {
        est_set(r, EST_BAD_ANSWER, "bad_answer", "the answer is not application/pkcs7-mime");
        return NULL;
    }
    STACK_OF(X509) *out = ca_est_certs_parse(resp->body, resp->body_len, DEVC_MAX_BODY);
    if (out && sk_X509_num(out) == 0) {
        sk_X509_free(out);
        out = NULL;
    }
    if (!out)
        est_set(r, EST_BAD_ANSWER, "bad_answer",
                "the answer is not a base64 PKCS#7 certs-only with at least one certificate");
    return out;
}

STACK_OF(X509) * est_cacerts(devc *c, est_result *r)
{
    devc_response resp;
    if (sends(c, "GET", CACERTS_PATH, NULL, NULL, &resp, r) < 0)
        return NULL;
    STACK_OF(X509) *certs = parse_certs(&resp, r);
    devc_response_free(&resp);
    return certs;
}

X509 *est_simplereenroll(devc *c, X509_REQ *req, est_result *r)
{
    devc_response resp;
    unsigned char *der = NULL;
    int len = i2d_X509_REQ(req, &der);
    char *b64 = len > 0 ? ca_est_base64(der, (size_t)len, NULL) : NULL;
    OPENSSL_free(der);
    if (!b64) {
        memset(r, 0, sizeof(*r));
        est_set(r, EST_RETRY, "local", "cannot encode the CSR");
        return NULL;
    }
    int rc = sends(c, "POST", REENROLL_PATH, "application/pkcs10", b64, &resp, r);
    free(b64);
    if (rc < 0)
        return NULL;
    STACK_OF(X509) *certs = parse_certs(&resp, r);
    devc_response_free(&resp);
    X509 *leaf = NULL;
    if (certs && sk_X509_num(certs) == 1)
        leaf = sk_X509_shift(certs);
    else if (certs)
        est_set(r, EST_BAD_ANSWER, "bad_answer", "the answer holds more than one certificate");
    sk_X509_pop_free(certs, X509_free);
    return leaf;
}
