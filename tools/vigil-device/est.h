/*
 * est.h - the device side of EST (RFC 7030) on vigild's device port:
 * GET /.well-known/est/cacerts and POST /.well-known/est/simplereenroll,
 * with the server's answer sorted into what the caller does next.
 */
#ifndef VIGIL_DEVICE_EST_H
#define VIGIL_DEVICE_EST_H

#include "tools/vigil-device/client.h"

#include <openssl/x509.h>

typedef enum est_outcome {
    EST_OK = 0,
    EST_REFUSED,    /* 4xx: refused for good (policy, quarantine, grant, bad CSR) */
    EST_RETRY,      /* 429, 503, other 5xx, network: try again (retry_after if known) */
    EST_IDENTITY,   /* our certificate is refused, or the server's is not trusted */
    EST_BAD_ANSWER, /* a 200 whose content does not check out */
} est_outcome;

typedef struct est_result {
    est_outcome outcome;
    int status;      /* HTTP status, 0 when there was no answer */
    int retry_after; /* seconds, -1 when unknown */
    char code[64];   /* the server's error code, or ours ("network", "bad_answer") */
    char reason[512];
} est_result;

/* The certificates of GET cacerts; NULL with r filled when there are none. */
STACK_OF(X509) * est_cacerts(devc *c, est_result *r);
/* POST simplereenroll of req: the one certificate of the answer, or NULL. */
X509 *est_simplereenroll(devc *c, X509_REQ *req, est_result *r);
const char *est_outcome_name(est_outcome o);
/* Sets outcome, code and reason (cut to fit). */
void est_set(est_result *r, est_outcome o, const char *code, const char *reason);

#endif
