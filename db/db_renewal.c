/*
 * db_renewal.c - the CA's renewal policy and one-time renewal grants (see
 * db_renewal.h). A grant locks the device row first, so two operators
 * granting at once serialize and the second replaces the first's grant
 * instead of tripping the one-open-grant index.
 */
#include "db/db_renewal.h"

#include "db/db_sql.h"
#include "protocol/when.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_COLUMNS                                                                             \
    "renew_same_key, renewal_validity_s AS renewal_validity_seconds, renewals_per_hour,"           \
    " revoke_superseded_after_s AS revoke_superseded_after_seconds, " TS(                          \
        "updated_at") " AS updated_at"

PGresult *db_ca_policy_get(PGconn *conn, int lock, db_error *err)
{
    return db_query(conn,
                    lock ? "SELECT " POLICY_COLUMNS " FROM ca_policy FOR UPDATE"
                         : "SELECT " POLICY_COLUMNS " FROM ca_policy",
                    0, NULL, err);
}

PGresult *db_ca_policy_set(PGconn *conn, const db_ca_policy_change *c, db_error *err)
{
    char validity[24], per_hour[16], mode[4], grace[24];
    snprintf(validity, sizeof(validity), "%" PRId64, c->renewal_validity);
    snprintf(per_hour, sizeof(per_hour), "%d", c->renewals_per_hour);
    snprintf(mode, sizeof(mode), "%d", c->revoke_superseded);
    snprintf(grace, sizeof(grace), "%" PRId64, c->revoke_superseded_after);
    const char *params[] = {c->renew_same_key < 0 ? NULL
                            : c->renew_same_key   ? "t"
                                                  : "f",
                            c->renewal_validity > 0 ? validity : NULL,
                            c->renewals_per_hour > 0 ? per_hour : NULL, mode, grace};
    return db_query(conn,
                    "UPDATE ca_policy SET renew_same_key = coalesce($1::boolean, renew_same_key),"
                    " renewal_validity_s = coalesce($2::int8, renewal_validity_s),"
                    " renewals_per_hour = coalesce($3::int, renewals_per_hour),"
                    " revoke_superseded_after_s = CASE $4::int WHEN 1 THEN $5::int8"
                    "  WHEN 2 THEN NULL ELSE revoke_superseded_after_s END,"
                    " updated_at = now() RETURNING " POLICY_COLUMNS,
                    5, params, err);
}

/* ---- grants ---- */

int db_refuse(db_refusal *why, db_refusal_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    why->kind = kind;
    vsnprintf(why->msg, sizeof(why->msg), fmt, ap);
    va_end(ap);
    return 1;
}

/* until as epoch seconds: a duration ahead of now, or RFC 3339. */
static int parse_until(const char *text, int64_t *until_s, db_refusal *why)
{
    int64_t now_us = when_now_us(), ms = when_duration_ms(text, 0), us;
    if (ms >= 0) {
        us = now_us + ms * 1000;
    } else if (when_duration(text) >= 0) {
        db_refuse(why, DB_REFUSED_INPUT,
                  "until '%.40s' has no unit: use a duration such as "
                  "7d or 90m, or an RFC 3339 time",
                  text);
        return -1;
    } else if (when_parse(text, now_us, &us) < 0) {
        db_refuse(why, DB_REFUSED_INPUT,
                  "until '%.40s' is neither an RFC 3339 time "
                  "(2026-12-08T00:00:00Z) nor a duration from now (7d, 90m)",
                  text);
        return -1;
    }
    if (us <= now_us) {
        db_refuse(why, DB_REFUSED_INPUT,
                  "until '%.40s' is not in the future: give a later time "
                  "or a duration such as 7d",
                  text);
        return -1;
    }
    if (us - now_us > (int64_t)DB_GRANT_MAX_SECONDS * 1000000) {
        db_refuse(why, DB_REFUSED_INPUT,
                  "until '%.40s' is more than 30 days ahead: a renewal "
                  "grant lasts at most 30d; grant again later if needed",
                  text);
        return -1;
    }
    *until_s = us / 1000000;
    return 0;
}

/* Locks the device and finds its newest certificate (serial, fingerprint
 * into the buffers). 0, 1 refused, -1 error. */
static int grant_target(PGconn *conn, const char *device_id, char serial[64], char fp[65],
                        db_refusal *why, db_error *err)
{
    const char *params[] = {device_id};
    PGresult *res =
        db_query(conn, "SELECT status FROM devices WHERE id = $1 FOR UPDATE", 1, params, err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    int gone = found && strcmp(PQgetvalue(res, 0, 0), "decommissioned") == 0;
    PQclear(res);
    if (!found)
        return db_refuse(why, DB_REFUSED_NOT_FOUND, "no device %s", device_id);
    if (gone)
        return db_refuse(why, DB_REFUSED_CONFLICT,
                         "device %s is decommissioned: it cannot renew; "
                         "enroll the hardware under a new device id",
                         device_id);
    res = db_query(conn,
                   "SELECT serial, fingerprint_sha256, status FROM certificates"
                   " WHERE device_id = $1 ORDER BY not_after DESC, created_at DESC, serial LIMIT 1",
                   1, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 0)
        rc = db_refuse(why, DB_REFUSED_CONFLICT,
                       "device %s has no certificate to renew: "
                       "enroll it",
                       device_id);
    else if (strcmp(PQgetvalue(res, 0, 2), "revoked") == 0)
        rc = db_refuse(why, DB_REFUSED_CONFLICT,
                       "the newest certificate of device %s (%s) is "
                       "revoked: a revoked certificate never renews; re-enroll the device "
                       "(vigilctl device enroll)",
                       device_id, PQgetvalue(res, 0, 0));
    snprintf(serial, 64, "%s", rc ? "" : PQgetvalue(res, 0, 0));
    snprintf(fp, 65, "%s", rc ? "" : PQgetvalue(res, 0, 1));
    PQclear(res);
    return rc;
}

/* The audit row of a grant (res: the row db_renewal_grant returns). */
static int grant_audit(PGconn *conn, const db_actor *who, PGresult *res, db_error *err)
{
    json_t *row = db_row_json(res, 0);
    json_t *details = row ? json_pack("{s:O,s:O,s:O,s:O}", "serial", json_object_get(row, "serial"),
                                      "fingerprint", json_object_get(row, "fingerprint_sha256"),
                                      "expires_at", json_object_get(row, "expires_at"), "replaced",
                                      json_object_get(row, "replaced"))
                          : NULL;
    char *text = details ? json_dumps(details, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    int rc = -1;
    if (!text)
        snprintf(err->msg, sizeof(err->msg), "out of memory");
    else
        rc = db_audit(conn, who, "device.allow_renewal", PQgetvalue(res, 0, 0),
                      PQgetvalue(res, 0, 1), text, err);
    free(text);
    json_decref(details);
    json_decref(row);
    return rc;
}

PGresult *db_renewal_grant(PGconn *conn, const db_actor *who, const char *device_id,
                           const char *until, db_refusal *why, db_error *err)
{
    char serial[64], fp[65], until_text[24], by[DB_ACTOR_TEXT_LEN];
    int64_t until_s;
    memset(why, 0, sizeof(*why));
    if (parse_until(until, &until_s, why) < 0)
        return NULL;
    int rc = grant_target(conn, device_id, serial, fp, why, err);
    if (rc != 0)
        return NULL;
    snprintf(until_text, sizeof(until_text), "%" PRId64, until_s);
    db_actor_text(who, by);
    const char *params[] = {device_id, serial, fp, by, until_text};
    PGresult *res = db_query(
        conn,
        "WITH old AS (SELECT id, serial, fingerprint_sha256, " TS(
            "expires_at") " AS expires_at"
                          "  FROM renewal_grants WHERE device_id = $1 AND used_at IS NULL FOR "
                          "UPDATE),"
                          " upd AS (UPDATE renewal_grants g SET serial = $2, fingerprint_sha256 = "
                          "$3,"
                          "  granted_at = now(), granted_by = $4, expires_at = "
                          "to_timestamp($5::int8)"
                          "  FROM old WHERE g.id = old.id RETURNING g.*),"
                          " ins AS (INSERT INTO renewal_grants (device_id, serial, "
                          "fingerprint_sha256, granted_by,"
                          "  expires_at) SELECT $1, $2, $3, $4, to_timestamp($5::int8)"
                          "  WHERE NOT EXISTS (SELECT 1 FROM old) RETURNING *),"
                          " g AS (SELECT * FROM upd UNION ALL SELECT * FROM ins)"
                          " SELECT g.device_id, g.serial, g.fingerprint_sha256, " TS(
                              "g.granted_at") " AS granted_at,"
                                              " " TS(
                                                  "g.expires_at") " AS expires_at, (SELECT "
                                                                  "row_to_json(old) FROM old) AS "
                                                                  "replaced"
                                                                  " FROM g, LATERAL (SELECT "
                                                                  "pg_notify('vigil_registry', "
                                                                  "json_build_object("
                                                                  "  'event', 'renewal_grant', "
                                                                  "'device_id', g.device_id, "
                                                                  "'fingerprint',"
                                                                  "  g.fingerprint_sha256, "
                                                                  "'state', 'open', 'expires_at',"
                                                                  "  extract(epoch FROM "
                                                                  "g.expires_at)::int8)::text)) n",
        5, params, err);
    if (res && (PQntuples(res) != 1 || grant_audit(conn, who, res, err) < 0)) {
        if (PQntuples(res) != 1)
            snprintf(err->msg, sizeof(err->msg), "the grant for %s was not recorded", device_id);
        PQclear(res);
        return NULL;
    }
    return res;
}
