/*
 * db_sql.h - SQL fragments shared by the db/ files (private to db/): how a
 * timestamp is written and which columns make a device or a certificate
 * object, so vigilctl and the operator API print them the same way.
 */
#ifndef VIGIL_DB_SQL_H
#define VIGIL_DB_SQL_H

#include "db/db.h"
#include "db/db_renewal.h"

#include <stdio.h>

/* RFC 3339 UTC text for a timestamptz column; TSUS with microseconds. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define TSUS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The device object; the column names are its JSON keys. */
#define DEVICE_COLUMNS                                                                             \
    "id, device_class AS class, status, firmware_version,"                                         \
    " " TS("last_seen_at") " AS last_seen_at, host(last_address) AS last_address,"                 \
                           " " TS("created_at") " AS created_at, " TS(                             \
                               "updated_at") " AS updated_at"

/* The certificate object: status is the effective one (an active
 * certificate past its not_after is expired). */
#define CERT_STATUS                                                                                \
    "CASE WHEN status = 'active' AND not_after <= now() THEN 'expired' ELSE status END"
#define CERT_COLUMNS                                                                               \
    "serial, device_id, " CERT_STATUS " AS status,"                                                \
    " " TS("not_before") " AS not_before, " TS(                                                    \
        "not_after") " AS not_after,"                                                              \
                     " " TS("revoked_at") " AS revoked_at, revocation_reason, issuer, "            \
                                          "fingerprint_sha256"

/* A certificate's lineage (with alias c for the certificates row): its
 * key, what it was renewed from and superseded by, its ancestors (serials
 * from the parent up to the enrolled original, nearest first) and its
 * descendants ([{serial, depth}], depth 1 renewed from it directly). */
#define CERT_LINEAGE_COLUMNS                                                                       \
    "key_sha256, renewed_from, superseded_by, " TS(                                                \
        "superseded_at") " AS superseded_at,"                                                      \
                         " (WITH RECURSIVE a(serial, parent, depth) AS ("                          \
                         "   SELECT p.serial, p.renewed_from, 1 FROM certificates p WHERE "        \
                         "p.serial = c.renewed_from"                                               \
                         "   UNION ALL SELECT p.serial, p.renewed_from, a.depth + 1 FROM "         \
                         "certificates p"                                                          \
                         "   JOIN a ON p.serial = a.parent WHERE a.depth < 100000)"                \
                         "  SELECT coalesce(json_agg(a.serial ORDER BY a.depth), '[]'::json) "     \
                         "FROM a) AS ancestors,"                                                   \
                         " (SELECT coalesce(json_agg(json_build_object('serial', x.serial, "       \
                         "'depth', x.depth)"                                                       \
                         "   ORDER BY x.depth, x.serial), '[]'::json)"                             \
                         "  FROM vigil_certificate_descendants(c.serial) x WHERE x.depth > 0) AS " \
                         "descendants"

/* Revokes (unless already revoked) by serial, by device (serial and
 * serials_json NULL), or every serial of the JSON array serials_json,
 * through the SQL function vigil_revoke (which notifies vigil_registry for
 * each): db_cert_revoke's statement, shared with db_lineage.c. Rows:
 * serial, device_id, issuer. */
PGresult *db_revoke_where(PGconn *conn, const char *serial, const char *device_id,
                          const char *serials_json, const char *reason_name, db_error *err);

/* Fills why (db_renewal.h) with kind and the message; returns 1, so a
 * check can `return db_refuse(...)` as "refused". */
int db_refuse(db_refusal *why, db_refusal_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "os:alice": how a row's created_by, revoked_by or granted_by names an
 * actor (cut to DB_ACTOR_TEXT_LEN - 1 bytes). */
#define DB_ACTOR_TEXT_LEN 200
static inline void db_actor_text(const db_actor *who, char out[DB_ACTOR_TEXT_LEN])
{
    snprintf(out, DB_ACTOR_TEXT_LEN, "%s:%s", who->kind, who->name);
}

/* ---- signed updates (db_release.c, db_rollout.c) ---- */

/* pg_advisory_xact_lock(hashtext(name)), in a statement of its own: what
 * a check reads after it, in the next statement, includes what the
 * holder it waited for committed (a statement's snapshot is taken before
 * its locks are granted). 0 or -1. */
int db_xact_lock(PGconn *conn, const char *name, db_error *err);
/* NOTIFY vigil_update {"kind": kind, "id": id} through the SQL function
 * vigil_update_notify (on commit). */
int db_update_notify(PGconn *conn, const char *kind, int64_t id, db_error *err);
/* The id of release ref (db_release_get's forms); lock: FOR UPDATE.
 * 0, 1 refused (why), -1 on failure. */
int db_release_find(PGconn *conn, const char *ref, int lock, int64_t *id, db_refusal *why,
                    db_error *err);

/* A LIMIT parameter: limit <= 0 means 100. */
static inline void db_limit_text(int limit, char out[16])
{
    snprintf(out, 16, "%d", limit > 0 ? limit : 100);
}

#endif
