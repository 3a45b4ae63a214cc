/*
 * db_admin.c - the registry queries behind the operator API (db_admin.h):
 * keyset pages of devices, certificates and the audit log, device status
 * changes with their NOTIFY, and a device's incident counts.
 *
 * As in db_incidents.c, every filter is a parameter that may be NULL
 * ("$1::text IS NULL OR ..."), sent through PQexecParams' unnamed
 * statement so that PostgreSQL plans with the actual values. The cursors
 * are keyset positions (the sort key of the previous page's last row), so a
 * page costs the same however deep it is and rows inserted meanwhile cause
 * neither repeats nor gaps.
 */
#include "db/db_admin.h"

#include "db/db_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_COLUMNS                                                                     \
    "id, " TS("at") " AS at, actor_kind, actor, action, device_id, serial, details"

PGresult *db_devices_page(PGconn *conn, const db_device_filter *f, const char *after_id,
                          int limit, db_error *err)
{
    char lim[16];
    db_limit_text(limit, lim);
    const char *params[] = {f->status, f->device_class, f->firmware_version, f->id_prefix,
                            f->seen_since, f->seen_before, after_id, lim};
    return db_query(conn,
                    "SELECT " DEVICE_COLUMNS " FROM devices"
                    " WHERE ($1::text IS NULL OR status = $1)"
                    " AND ($2::text IS NULL OR device_class = $2)"
                    " AND ($3::text IS NULL OR firmware_version = $3)"
                    " AND ($4::text IS NULL OR starts_with(id, $4))"
                    " AND ($5::timestamptz IS NULL OR last_seen_at >= $5)"
                    " AND ($6::timestamptz IS NULL OR last_seen_at < $6)"
                    " AND ($7::text IS NULL OR id > $7)"
                    " ORDER BY id LIMIT $8::int",
                    8, params, err);
}

PGresult *db_device_row(PGconn *conn, const char *device_id, int lock, db_error *err)
{
    const char *params[] = {device_id};
    return db_query(conn,
                    lock ? "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = $1 FOR UPDATE"
                         : "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = $1",
                    1, params, err);
}

PGresult *db_device_set_status(PGconn *conn, const char *device_id, const char *status,
                               db_error *err)
{
    const char *params[] = {device_id, status};
    /* NOTIFY is transactional: vigild nodes hear of the change exactly when
     * the caller commits, and never of one that was rolled back. */
    return db_query(conn,
                    "WITH u AS (UPDATE devices SET status = $2, updated_at = now()"
                    " WHERE id = $1 RETURNING *)"
                    " SELECT " DEVICE_COLUMNS " FROM u,"
                    " LATERAL (SELECT pg_notify('vigil_registry', json_build_object("
                    "  'event', 'device_status', 'device_id', u.id, 'status', u.status)::text)) n",
                    2, params, err);
}

/* {"from":..,"to":..,"reason":..} as text for the audit row; NULL on OOM. */
static char *transition_details(const char *from, const char *to, const char *reason)
{
    json_t *d = json_pack("{s:s, s:s}", "from", from, "to", to);
    if (d && reason && json_object_set_new(d, "reason", json_string(reason)) < 0) {
        json_decref(d);
        return NULL;
    }
    char *text = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(d);
    return text;
}

PGresult *db_device_transition(PGconn *conn, const db_actor *who, const char *device_id,
                               const char *to, const char *action, const char *reason,
                               int *changed, db_refusal *why, db_error *err)
{
    char from[16];
    memset(why, 0, sizeof(*why));
    *changed = 0;
    PGresult *res = db_device_row(conn, device_id, 1, err);
    if (!res)
        return NULL;
    if (PQntuples(res) == 0) {
        PQclear(res);
        db_refuse(why, DB_REFUSED_NOT_FOUND, "no device %s", device_id);
        return NULL;
    }
    snprintf(from, sizeof(from), "%s", PQgetvalue(res, 0, PQfnumber(res, "status")));
    if (strcmp(from, "decommissioned") == 0 && strcmp(to, "decommissioned") != 0) {
        PQclear(res);
        db_refuse(why, DB_REFUSED_CONFLICT,
                  "device %s is decommissioned: decommissioning is final; enroll the "
                  "hardware under a new device id instead",
                  device_id);
        return NULL;
    }
    if (strcmp(from, to) == 0)
        return res;
    PQclear(res);
    char *details = transition_details(from, to, reason);
    if (!details) {
        snprintf(err->msg, sizeof(err->msg), "out of memory writing the audit row of %s", action);
        return NULL;
    }
    res = db_device_set_status(conn, device_id, to, err);
    if (res && (PQntuples(res) != 1 ||
                db_audit(conn, who, action, device_id, NULL, details, err) < 0)) {
        if (PQntuples(res) != 1)
            snprintf(err->msg, sizeof(err->msg), "device %s vanished during its change", device_id);
        PQclear(res);
        res = NULL;
    }
    free(details);
    *changed = res != NULL;
    return res;
}

PGresult *db_device_last_action(PGconn *conn, const char *device_id, const char *action,
                                db_error *err)
{
    const char *params[] = {device_id, action};
    return db_query(conn,
                    "SELECT " TS("at") " AS at, actor_kind || ':' || actor AS actor,"
                    " details->>'reason' AS reason FROM audit_log"
                    " WHERE device_id = $1 AND action = $2 ORDER BY id DESC LIMIT 1",
                    2, params, err);
}

int db_device_status_note(PGconn *conn, PGresult *dev, json_t *obj, db_error *err)
{
    const char *status = PQgetvalue(dev, 0, PQfnumber(dev, "status"));
    int q = strcmp(status, "quarantined") == 0;
    if (!q && strcmp(status, "decommissioned") != 0)
        return 0;
    PGresult *res = db_device_last_action(conn, PQgetvalue(dev, 0, PQfnumber(dev, "id")),
                                          q ? "device.quarantine" : "device.decommission", err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    const char *keys[3] = {q ? "quarantined_by" : "decommissioned_by",
                           q ? "quarantined_at" : "decommissioned_at",
                           q ? "quarantine_reason" : "decommission_reason"};
    const int cols[3] = {1, 0, 2}; /* actor, at, reason */
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = json_object_set_new(obj, keys[i],
                                 found && !PQgetisnull(res, 0, cols[i])
                                     ? json_string(PQgetvalue(res, 0, cols[i]))
                                     : json_null());
    PQclear(res);
    if (rc < 0)
        snprintf(err->msg, sizeof(err->msg), "out of memory describing device status");
    return rc;
}

PGresult *db_device_incident_counts(PGconn *conn, const char *device_id, db_error *err)
{
    const char *params[] = {device_id};
    /* The (device_id, received_at DESC, seq DESC) index covers the scan. */
    return db_query(conn,
                    "SELECT count(*) AS total,"
                    " count(*) FILTER (WHERE received_at >= now() - interval '24 hours')"
                    "  AS last_24h,"
                    " json_build_object("
                    "  'info', count(*) FILTER (WHERE severity = 'info'),"
                    "  'warning', count(*) FILTER (WHERE severity = 'warning'),"
                    "  'error', count(*) FILTER (WHERE severity = 'error'),"
                    "  'critical', count(*) FILTER (WHERE severity = 'critical')) AS by_severity"
                    " FROM incidents WHERE device_id = $1",
                    1, params, err);
}

PGresult *db_certs_page(PGconn *conn, const char *device_id, const char *status,
                        const char *after_us, const char *after_serial, int limit,
                        db_error *err)
{
    char lim[16];
    db_limit_text(limit, lim);
    const char *params[] = {device_id, status, after_us, after_serial, lim};
    /* created_at descending, serial ascending among equals; $3 is the
     * created_at of the last row shown, in microseconds since the epoch. */
    return db_query(conn,
                    "SELECT " CERT_COLUMNS ","
                    " (extract(epoch FROM created_at) * 1000000)::int8 AS created_us"
                    " FROM certificates"
                    " WHERE ($1::text IS NULL OR device_id = $1)"
                    " AND ($2::text IS NULL OR " CERT_STATUS " = $2)"
                    " AND ($3::int8 IS NULL"
                    "  OR created_at < 'epoch'::timestamptz + $3::int8 * interval '1 microsecond'"
                    "  OR (created_at = 'epoch'::timestamptz + $3::int8 * interval '1 microsecond'"
                    "   AND serial > $4::text))"
                    " ORDER BY created_at DESC, serial LIMIT $5::int",
                    5, params, err);
}

PGresult *db_cert_row(PGconn *conn, const char *serial, int lock, db_error *err)
{
    const char *params[] = {serial};
    return db_query(conn,
                    lock ? "SELECT " CERT_COLUMNS " FROM certificates WHERE serial = $1 FOR UPDATE"
                         : "SELECT " CERT_COLUMNS " FROM certificates WHERE serial = $1",
                    1, params, err);
}

PGresult *db_audit_page(PGconn *conn, const db_audit_filter *f, const char *before_id,
                        int limit, db_error *err)
{
    char lim[16];
    db_limit_text(limit, lim);
    const char *params[] = {f->since, f->until, f->device_id, f->action, f->actor,
                            before_id, lim};
    return db_query(conn,
                    "SELECT " AUDIT_COLUMNS " FROM audit_log"
                    " WHERE ($1::timestamptz IS NULL OR at >= $1)"
                    " AND ($2::timestamptz IS NULL OR at < $2)"
                    " AND ($3::text IS NULL OR device_id = $3)"
                    " AND ($4::text IS NULL OR action = $4)"
                    " AND ($5::text IS NULL OR actor = $5)"
                    " AND ($6::int8 IS NULL OR id < $6::int8)"
                    " ORDER BY id DESC LIMIT $7::int",
                    7, params, err);
}
