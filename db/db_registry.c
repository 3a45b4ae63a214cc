/*
 * db_registry.c - the device registry as vigilctl sees it: devices and the
 * certificates the CA issued to them.
 *
 * Writers lock the device row first (db_device_lock) so that two enrollments
 * of one id cannot both see "no active certificate". Revocations notify the
 * channel vigil_registry; NOTIFY is transactional, so vigild nodes hear of a
 * revocation exactly when it commits.
 */
#include "db/db.h"

#include "db/db_sql.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int exec_command(PGconn *conn, const char *sql, int n, const char *const *params,
                        db_error *err)
{
    PGresult *res = db_query(conn, sql, n, params, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int db_device_lock(PGconn *conn, const char *device_id, const char *device_class,
                   db_device_state *out, db_error *err)
{
    const char *params[] = {device_id, device_class};
    PGresult *res = NULL;
    memset(out, 0, sizeof(*out));

    res = db_query(conn,
                   "INSERT INTO devices (id, device_class) VALUES ($1, coalesce($2, 'default'))"
                   " ON CONFLICT (id) DO NOTHING RETURNING 1",
                   2, params, err);
    if (!res)
        return -1;
    out->created = PQntuples(res) == 1;
    PQclear(res);

    res = db_query(conn,
                   "SELECT status, device_class,"
                   " (SELECT count(*) FROM certificates c WHERE c.device_id = d.id"
                   "   AND c.status = 'active' AND c.not_after > now())"
                   " FROM devices d WHERE id = $1 FOR UPDATE",
                   1, params, err);
    if (!res)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        snprintf(err->msg, sizeof(err->msg), "device %s vanished while being locked", device_id);
        return -1;
    }
    snprintf(out->status, sizeof(out->status), "%s", PQgetvalue(res, 0, 0));
    snprintf(out->device_class, sizeof(out->device_class), "%s", PQgetvalue(res, 0, 1));
    out->active_certs = atoi(PQgetvalue(res, 0, 2));
    PQclear(res);

    if (device_class && !out->created && strcmp(device_class, out->device_class) != 0) {
        if (exec_command(conn,
                         "UPDATE devices SET device_class = $2, updated_at = now() WHERE id = $1",
                         2, params, err) < 0)
            return -1;
        snprintf(out->device_class, sizeof(out->device_class), "%s", device_class);
    }
    return 0;
}

int db_cert_insert(PGconn *conn, const db_cert *c, db_error *err)
{
    char nb[24], na[24];
    snprintf(nb, sizeof(nb), "%" PRId64, (int64_t)c->not_before);
    snprintf(na, sizeof(na), "%" PRId64, (int64_t)c->not_after);
    const char *params[] = {c->serial, c->device_id, c->issuer_ski, c->fingerprint,
                            nb,        na,           c->pem,        c->key_sha256};
    return exec_command(conn,
                        "INSERT INTO certificates (serial, device_id, issuer, fingerprint_sha256,"
                        " not_before, not_after, pem, key_sha256) VALUES ($1, $2, $3, $4,"
                        " to_timestamp($5::int8), to_timestamp($6::int8), $7, $8)",
                        8, params, err);
}

PGresult *db_revoke_where(PGconn *conn, const char *serial, const char *device_id,
                          const char *serials_json, const char *reason_name, db_error *err)
{
    const char *params[] = {serial, device_id, reason_name, serials_json};
    return db_query(conn,
                    "SELECT serial, device_id, issuer FROM vigil_revoke(ARRAY("
                    " SELECT serial FROM certificates WHERE status = 'active' AND ("
                    "  serial = $1::text"
                    "  OR ($1::text IS NULL AND $4::json IS NULL AND device_id = $2::text)"
                    "  OR serial IN (SELECT json_array_elements_text($4::json)))), $3)"
                    " ORDER BY serial",
                    4, params, err);
}

PGresult *db_cert_revoke(PGconn *conn, const char *serial, const char *device_id,
                         const char *reason_name, db_error *err)
{
    return db_revoke_where(conn, serial, device_id, NULL, reason_name, err);
}

int db_notify_ca_changed(PGconn *conn, const char *issuer_ski, db_error *err)
{
    const char *params[] = {issuer_ski};
    return exec_command(conn,
                        "SELECT pg_notify('vigil_registry', json_build_object("
                        "'event', 'ca_changed', 'issuer', $1::text)::text)",
                        1, params, err);
}

PGresult *db_revoked_by_issuer(PGconn *conn, const char *issuer_ski, db_error *err)
{
    const char *params[] = {issuer_ski};
    return db_query(conn,
                    "SELECT serial, extract(epoch FROM revoked_at)::int8, revocation_reason"
                    " FROM certificates WHERE issuer = $1 AND status = 'revoked'"
                    " AND not_after > now() ORDER BY serial",
                    1, params, err);
}

PGresult *db_certs_list(PGconn *conn, const char *device_id, const char *status, int limit,
                        db_error *err)
{
    char lim[16];
    db_limit_text(limit, lim);
    const char *params[] = {device_id, status, lim};
    return db_query(conn,
                    "SELECT " CERT_COLUMNS " FROM certificates"
                    " WHERE ($1::text IS NULL OR device_id = $1)"
                    " AND ($2::text IS NULL OR " CERT_STATUS " = $2)"
                    " ORDER BY created_at DESC, serial LIMIT $3::int",
                    3, params, err);
}

PGresult *db_cert_get(PGconn *conn, const char *serial, db_error *err)
{
    const char *params[] = {serial};
    return db_query(conn,
                    "SELECT " CERT_COLUMNS ", " CERT_LINEAGE_COLUMNS ", pem FROM certificates c"
                    " WHERE serial = $1",
                    1, params, err);
}
