/*
 * update.h - `vigil-device update`: ask for the manifest this device
 * should install next (GET /v1/update, saying what it runs), verify it
 * against the pinned release keys (learning a rotated key only from an
 * endorsement by a pinned one), check its class, expiry and security
 * version, download the artifact with resume, check its size and
 * SHA-256, install it, store the new version and security version
 * atomically, and report each step (POST /v1/update/status). Every
 * refusal has its own exit code and is reported as failed.
 *
 * Test hooks (never set on a device): VIGIL_DEVICE_TEST_CLAIM_SECURITY_VERSION=N
 * sends N instead of the stored security version (so the server offers an
 * older release and the device's own refusal is seen);
 * VIGIL_DEVICE_TEST_CLOCK_SKEW=S adds S seconds to the clock the expiry is
 * checked against; VIGIL_DEVICE_CRASH_AT=after-download|after-install
 * (util.h), VIGIL_DEVICE_CUT_AFTER (download.h) and
 * VIGIL_DEVICE_INSTALL_FAIL (install.h).
 */
#ifndef VIGIL_DEVICE_UPDATE_H
#define VIGIL_DEVICE_UPDATE_H

#include "protocol/manifest.h"
#include "tools/vigil-device/client.h"

/* Exit codes of update (the usage text and docs/DEVICE-PORT.md list them). */
enum {
    UPDATE_EXIT_OK = 0,      /* installed, or nothing to install */
    UPDATE_EXIT_REFUSED = 1, /* the server refused a request for good (4xx) */
    UPDATE_EXIT_USAGE = 2,
    UPDATE_EXIT_IDENTITY = 3,   /* our certificate refused, or the server's untrusted */
    UPDATE_EXIT_BAD_ANSWER = 4, /* an answer that breaks the protocol */
    UPDATE_EXIT_LOCAL = 6,      /* the keys file, state or part cannot be used */
    UPDATE_EXIT_BAD_SIGNATURE = 10,
    UPDATE_EXIT_UNKNOWN_KEY = 11,
    UPDATE_EXIT_EXPIRED = 12,
    UPDATE_EXIT_WRONG_CLASS = 13,
    UPDATE_EXIT_ROLLBACK = 14, /* security version below the stored one */
    UPDATE_EXIT_DIGEST = 15,
    UPDATE_EXIT_SIZE = 16,
    UPDATE_EXIT_INSTALL = 17,
    UPDATE_EXIT_MALFORMED = 18, /* not a manifest (form or claims) */
    UPDATE_EXIT_RETRY = 75,     /* network, 429, 503, a download cut: try again later */
};

typedef struct update_opts {
    const char *server, *cert, *key, *ca;
    const char *keys;         /* the pinned JWKS */
    const char *state_dir;    /* state.json, the partial download, the status outbox */
    const char *install_dir;  /* NULL: STATE_DIR/install */
    const char *device_class; /* NULL: the stored one */
} update_opts;

typedef struct update_result {
    int code;           /* the exit code */
    const char *result; /* "none", "installed", "refused", "retry", "error" */
    char reason[64];    /* a code: up_to_date, bad_signature, network, ... */
    char detail[600];
    char version[MANIFEST_VERSION_MAX + 1];
    long long security_version, rollout, resumed_from, fetched;
    int retry_after, learned_keys, restarted, reported;
} update_result;

/* One check (and install) on connection c; r->code is the exit code. */
int update_once(devc *c, const update_opts *o, update_result *r);
/* The whole command: its own connection, a summary line (--json: an object). */
int update_command(const update_opts *o, int json);

#endif
