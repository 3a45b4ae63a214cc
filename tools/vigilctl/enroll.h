/*
 * enroll.h - issuing a device certificate and recording it, the one path
 * shared by `device enroll` (a device's own CSR), `device enroll --csr-dir`
 * (a manufacturing batch) and `device create` (a test key made here).
 */
#ifndef VIGIL_ENROLL_H
#define VIGIL_ENROLL_H

#include "tools/vigilctl/cli.h"

typedef struct enroll_request {
    const char *device_id;
    const char *device_class;   /* NULL: keep the device's class ("default" if new) */
    EVP_PKEY *public_key;
    int64_t validity;           /* 0: the CA's default */
    int64_t backdate;
    int replace;                /* supersede the device's active certificates */
    const char *how;            /* "csr", "batch", "created" for the audit row */
} enroll_request;

/* Within the caller's open transaction: locks the device row (creating it),
 * refuses a decommissioned device, a key on the compromised-keys list and,
 * unless replace is set, one that
 * already has an active certificate; revokes the superseded ones; issues;
 * records the certificate and one audit row. Prints nothing on success;
 * on failure prints and returns the exit code. ctx->ca must be unlocked. */
int enroll_device(cli_ctx *ctx, const enroll_request *r, ca_issued *out);

/* {device_id, serial, fingerprint, not_before, not_after, pem} */
json_t *enroll_result_json(const char *device_id, const ca_issued *issued);

#endif
