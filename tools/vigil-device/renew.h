/*
 * renew.h - `vigil-device renew`: the device renews its own certificate
 * over EST simplereenroll (a new key by default), checks the answer and
 * replaces its key pair on disk crash-safely (pair.h). `run` renews the
 * same way.
 */
#ifndef VIGIL_DEVICE_RENEW_H
#define VIGIL_DEVICE_RENEW_H

#include "cert-authority/ca.h"
#include "tools/vigil-device/est.h"

#include <time.h>

typedef struct renew_opts {
    const char *server, *cert, *key, *ca, *key_type;
    int same_key;
} renew_opts;

typedef struct renew_info {
    est_result r;                   /* outcome and, on failure, why */
    char serial[CA_SERIAL_HEX_MAX]; /* the new certificate */
    char not_before[CA_TIME_STR], not_after[CA_TIME_STR];
    time_t nb, na;
    int confirmed; /* the new pair completed a request (.prev dropped) */
} renew_info;

/* One renewal attempt; info->r.outcome is the result. */
est_outcome renew_once(const renew_opts *o, renew_info *info);
/* The process exit code of an outcome (see the usage text). */
int renew_exit_code(est_outcome o);
int renew_command(const renew_opts *o, int json);
/* The device id (CN) and validity of the certificate in path; 0 or -1. */
int renew_identity(const char *path, char *id, size_t idlen, time_t *nb, time_t *na);

#endif
