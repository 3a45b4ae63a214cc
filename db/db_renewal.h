/*
 * db_renewal.h - the operator's side of certificate renewal (migration
 * 0005): the CA's renewal policy, one-time renewal grants for a device's
 * newest certificate, revocation that follows a certificate's lineage for
 * keyCompromise (with the compromised-keys list), and the lineage itself.
 * vigilctl and the operator API both call these, so a grant or a
 * compromise is recorded, audited and notified the same way from either.
 *
 * Like db.h's registry writes, each runs inside a transaction the caller
 * opened with db_begin(); the audit rows (written here as `who`) and the
 * NOTIFYs to vigil_registry commit with it.
 */
#ifndef VIGIL_DB_RENEWAL_H
#define VIGIL_DB_RENEWAL_H

#include "db/db.h"

#include <openssl/types.h>

/* Why a request was refused, for the caller to word as an exit code or an
 * HTTP status; msg says what is wrong and what to do. */
typedef enum db_refusal_kind {
    DB_ACCEPTED = 0,
    DB_REFUSED_INPUT,     /* the value given is wrong (400, exit 1) */
    DB_REFUSED_NOT_FOUND, /* 404 */
    DB_REFUSED_CONFLICT,  /* the registry's state forbids it (409) */
} db_refusal_kind;

typedef struct db_refusal {
    db_refusal_kind kind;
    char msg[400];
} db_refusal;

/* ---- the renewal policy (the one ca_policy row) ---- */

/* Columns: renew_same_key (bool), renewal_validity_seconds (int8),
 * renewals_per_hour (int4), revoke_superseded_after_seconds (int8, NULL:
 * never), updated_at. lock: FOR UPDATE, for a change. */
PGresult *db_ca_policy_get(PGconn *conn, int lock, db_error *err);

/* What `vigilctl ca policy` changes; the field's "unchanged" value keeps
 * it. The values are checked by the caller (the table's CHECKs stand
 * behind it). */
typedef struct db_ca_policy_change {
    int renew_same_key;       /* -1 unchanged, 0 deny, 1 allow */
    int64_t renewal_validity; /* seconds; 0 unchanged */
    int renewals_per_hour;    /* 0 unchanged */
    int revoke_superseded;    /* 0 unchanged, 1 after revoke_superseded_after, 2 never */
    int64_t revoke_superseded_after;
} db_ca_policy_change;

/* Applies the change; returns the policy as it now is (columns above). */
PGresult *db_ca_policy_set(PGconn *conn, const db_ca_policy_change *c, db_error *err);

/* ---- renewal grants ---- */

#define DB_GRANT_MAX_SECONDS (30 * 86400)

/* Grants device_id one renewal with its newest certificate (greatest
 * not_after), expired or not, until `until`: RFC 3339, or a duration ahead
 * from now with a unit ("7d", "90m"), at most DB_GRANT_MAX_SECONDS ahead.
 * Refused (why set, NULL returned) for a bad or out-of-range until, an
 * unknown or decommissioned device, a device without a certificate, and a
 * newest certificate that is revoked. An open grant of the device is
 * replaced (updated in place). Writes the audit row device.allow_renewal
 * and notifies vigil_registry {"event":"renewal_grant","device_id":..,
 * "fingerprint":..,"state":"open","expires_at":epoch seconds}. Returns the
 * grant: device_id, serial, fingerprint_sha256, granted_at, expires_at.
 * NULL with why->kind DB_ACCEPTED: a database failure (err). */
PGresult *db_renewal_grant(PGconn *conn, const db_actor *who, const char *device_id,
                           const char *until, db_refusal *why, db_error *err);

/* ---- revocation along the lineage ---- */

/* The hash that names a key (cert-authority's ca_key_sha256: db/ does not
 * include the CA library, so its callers pass it). */
typedef int (*db_key_hash_fn)(EVP_PKEY *key, char out[65]);

/* Revokes by serial, or (serial NULL) every active certificate of
 * device_id, with reason_name, each with the NOTIFY of db_cert_revoke and
 * an audit row cert.revoke as who ({"reason":R}). For keyCompromise the
 * revocation follows the lineage: every certificate descended from one
 * selected (vigil_certificate_descendants) is revoked too (audit details
 * {"reason":"keyCompromise","via":SERIAL}; the selected one's row lists
 * "descendants"), descendants already revoked are left as they are, and
 * every key of the whole set goes on compromised_keys (for a row without
 * key_sha256 the key is read from its pem and hashed with key_hash). A
 * selected certificate already revoked still has its descendants revoked
 * and its keys listed. Returns the certificates revoked now, selected
 * first: serial, device_id, issuer, reason, via (NULL for a selected one);
 * *keys_listed (may be NULL) counts keys newly put on the list. 0 rows and
 * 0 keys: nothing changed (unknown serial, or already done). */
PGresult *db_cert_revoke_audited(PGconn *conn, const db_actor *who, const char *serial,
                                 const char *device_id, const char *reason_name,
                                 db_key_hash_fn key_hash, int *keys_listed, db_error *err);

/* A key on compromised_keys: the certificate that carried it and its
 * device ("" when not recorded), and when it was listed (RFC 3339 UTC). */
typedef struct db_compromised_key {
    char serial[64];
    char device_id[65];
    char added_at[32];
} db_compromised_key;

/* 1 when key_sha256 is on compromised_keys (*out filled when not NULL), 0
 * if not, -1 on error. */
int db_key_compromised(PGconn *conn, const char *key_sha256, db_compromised_key *out,
                       db_error *err);

#endif
