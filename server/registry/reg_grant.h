/*
 * reg_grant.h - the renewal grants vigild knows of: an operator's one-time,
 * time-limited permission (`vigilctl device allow-renewal`) for a device to
 * renew with its newest certificate although that certificate has expired.
 *
 * The TLS handshake asks here whether an expired leaf may pass, so this is
 * in memory, loaded with the registry and kept current by the NOTIFYs
 * {"event":"renewal_grant","state":"open"|"spent",...} (reg_sync.c). The
 * database decides again when the renewal commits (vigil_renew), so a
 * grant spent a moment ago on another node is never spent twice. Shared by
 * all threads under a mutex; grants are few.
 */
#ifndef VIGIL_REG_GRANT_H
#define VIGIL_REG_GRANT_H

#include <stdint.h>
#include <time.h>

#include "server/registry/reg_view.h"

typedef enum reg_grant_state {
    REG_GRANT_NONE = 0,   /* no grant names this certificate */
    REG_GRANT_OPEN,       /* may renew once, before it expires */
    REG_GRANT_SPENT,
    REG_GRANT_EXPIRED,
} reg_grant_state;

const char *reg_grant_state_name(reg_grant_state s); /* "none", "open", ... */

/* The state of the grant for certificate fp at `now`; device_id (may be
 * NULL) receives the device it was granted to when there is one. */
reg_grant_state reg_grant_lookup(const uint8_t fp[REG_FP_LEN], time_t now,
                                 char device_id[REG_ID_MAX + 1]);

/* A grant opened or spent (NOTIFY), or loaded. */
void reg_grant_note(const uint8_t fp[REG_FP_LEN], const char *device_id, time_t expires_at,
                    int spent);
/* The certificate was revoked: no grant of it may be used. */
void reg_grant_forget(const uint8_t fp[REG_FP_LEN]);
/* Replaces every grant with what a full load finds (then reg_grant_note). */
void reg_grant_clear(void);
void reg_grant_shutdown(void);

#endif
