/*
 * db_admin.h - the registry queries behind the operator API that vigilctl's
 * db_registry.c does not have: keyset pages of devices, certificates and
 * the audit log with the API's filters, a device row locked for a status
 * change, the change itself (with its NOTIFY), and a device's incident
 * counts.
 *
 * Column names are the JSON keys of the API's objects (db_row_json), so the
 * SQL fixes the shape of a device, certificate and audit entry. Filters are
 * validated text or NULL for "any"; timestamps in and out are RFC 3339 UTC.
 */
#ifndef VIGIL_DB_ADMIN_H
#define VIGIL_DB_ADMIN_H

#include "db/db.h"
#include "db/db_renewal.h"

/* ---- devices ---- */

typedef struct db_device_filter {
    const char *status, *device_class, *firmware_version, *id_prefix;
    const char *seen_since, *seen_before;   /* last_seen_at in [since, before) */
} db_device_filter;

/* Devices ordered by id, after after_id (NULL for the first page). Columns:
 * id, class, status, firmware_version, last_seen_at, last_address,
 * created_at, updated_at. */
PGresult *db_devices_page(PGconn *conn, const db_device_filter *f, const char *after_id,
                          int limit, db_error *err);

/* One device with the columns above, 0 or 1 rows. lock: SELECT ... FOR
 * UPDATE, for a status change in the caller's transaction. */
PGresult *db_device_row(PGconn *conn, const char *device_id, int lock, db_error *err);

/* Sets status and updated_at and notifies vigil_registry
 * ({"event":"device_status","device_id":D,"status":S}, delivered when the
 * caller's transaction commits). Returns the changed row (columns above);
 * 0 rows when the device does not exist. */
PGresult *db_device_set_status(PGconn *conn, const char *device_id, const char *status,
                               db_error *err);

/* A status change as an operator makes it (the API's POST
 * /v1/devices/{id}/quarantine|release|decommission and vigilctl's device
 * quarantine|release|decommission), in the caller's transaction: locks the
 * row, refuses an unknown device (DB_REFUSED_NOT_FOUND) and leaving
 * decommissioned (DB_REFUSED_CONFLICT: it is final); a device already in
 * status `to` is left as it is (*changed 0: no NOTIFY, no audit row, so a
 * retry succeeds). Otherwise db_device_set_status (its NOTIFY: vigild
 * closes a decommissioned device's connections when it commits) and the
 * audit row `action` as who, details {"from","to","reason"?} (reason may
 * be NULL). Returns the device row (db_device_row's columns); NULL with
 * why->kind DB_ACCEPTED is a database failure (err). */
PGresult *db_device_transition(PGconn *conn, const db_actor *who, const char *device_id,
                               const char *to, const char *action, const char *reason,
                               int *changed, db_refusal *why, db_error *err);

/* The newest audit row of `action` for device_id (0 or 1 rows): at,
 * actor (kind:name), reason (details->>'reason'). `device show` says who
 * quarantined a device, when and why. */
PGresult *db_device_last_action(PGconn *conn, const char *device_id, const char *action,
                                db_error *err);

/* Who put the device (dev: a db_device_row result) in its status, when
 * and why, from the newest audit row of that change, added to obj:
 * quarantined_by ("token:ops", "os:alice"), quarantined_at,
 * quarantine_reason, or the decommission ones (null where the audit row
 * says nothing); nothing for an active device. `vigilctl device show` and
 * GET /v1/devices/{id}. 0, or -1 (err). */
int db_device_status_note(PGconn *conn, PGresult *dev, json_t *obj, db_error *err);

/* One row: total (int8), last_24h (int8), by_severity (json object with a
 * count for each of info, warning, error, critical). */
PGresult *db_device_incident_counts(PGconn *conn, const char *device_id, db_error *err);

/* ---- certificates ---- */

/* Newest first (created_at desc, serial). status is the effective one:
 * active, revoked or expired (active but past not_after). after_us and
 * after_serial: the created_us and serial of the previous page's last row,
 * or NULLs. Columns: the certificate object (serial, device_id, status,
 * not_before, not_after, revoked_at, revocation_reason, issuer,
 * fingerprint_sha256) then created_us (int8, for the cursor). */
PGresult *db_certs_page(PGconn *conn, const char *device_id, const char *status,
                        const char *after_us, const char *after_serial, int limit,
                        db_error *err);

/* One certificate with the columns of the object, 0 or 1 rows. lock: FOR
 * UPDATE (a revocation checks its status first). */
PGresult *db_cert_row(PGconn *conn, const char *serial, int lock, db_error *err);

/* ---- the audit log ---- */

typedef struct db_audit_filter {
    const char *since, *until;   /* at in [since, until) */
    const char *device_id, *action, *actor;
} db_audit_filter;

/* Newest first (id desc), ids below before_id (NULL for the first page).
 * Columns: id, at, actor_kind, actor, action, device_id, serial, details. */
PGresult *db_audit_page(PGconn *conn, const db_audit_filter *f, const char *before_id,
                        int limit, db_error *err);

#endif
