/*
 * db_lineage.c - revocation with its audit rows, following a certificate's
 * lineage for keyCompromise, and the compromised-keys list (see
 * db_renewal.h).
 *
 * The set is chosen and locked first (the selected certificates and, for
 * keyCompromise, everything renewed from them), so what is revoked, what is
 * listed and what the audit rows say are one consistent picture: a row that
 * was active when locked is exactly a row this call revokes.
 */
#include "db/db_renewal.h"

#include "db/db_sql.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { COL_SERIAL, COL_DEVICE, COL_STATUS, COL_KEY, COL_PEM, COL_VIA };

/* Locks the device rows first, in a statement of its own: vigil_renew holds
 * the device row while it records a renewal, so waiting here lets a renewal
 * in flight commit, and lock_set's next snapshot then sees its certificate
 * among the descendants. */
static int lock_devices(PGconn *conn, const char *serial, const char *device_id, db_error *err)
{
    const char *params[] = {serial, device_id};
    PGresult *res = db_query(conn,
                             "SELECT 1 FROM devices WHERE id = $2::text OR id IN"
                             " (SELECT device_id FROM certificates WHERE serial = $1::text)"
                             " ORDER BY id FOR UPDATE",
                             2, params, err);
    PQclear(res);
    return res ? 0 : -1;
}

/* The selected certificates (by serial, or the device's active ones) and,
 * when lineage is "t", their descendants, each once with the selected one
 * it descends from (via; NULL for a selected one), locked. */
static PGresult *lock_set(PGconn *conn, const char *serial, const char *device_id, int lineage,
                          db_error *err)
{
    const char *params[] = {serial, device_id, lineage ? "t" : "f"};
    return db_query(conn,
                    "WITH roots AS (SELECT serial FROM certificates WHERE CASE"
                    "  WHEN $1::text IS NOT NULL THEN serial = $1"
                    "  ELSE device_id = $2::text AND status = 'active' END),"
                    " d AS (SELECT DISTINCT ON (x.serial) x.serial, r.serial AS root, x.depth"
                    "  FROM roots r, LATERAL vigil_certificate_descendants(r.serial) x"
                    "  WHERE $3::boolean OR x.depth = 0 ORDER BY x.serial, x.depth)"
                    " SELECT c.serial, c.device_id, c.status, c.key_sha256,"
                    " CASE WHEN c.key_sha256 IS NULL THEN c.pem END AS pem,"
                    " CASE WHEN d.depth > 0 THEN d.root END AS via"
                    " FROM d JOIN certificates c ON c.serial = d.serial"
                    " ORDER BY d.depth, c.serial FOR UPDATE OF c",
                    3, params, err);
}

/* Runs sql with one parameter: arr (consumed) as JSON text. */
static PGresult *query_json(PGconn *conn, const char *sql, json_t *arr, db_error *err)
{
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    const char *params[] = {text};
    PGresult *res = text ? db_query(conn, sql, 1, params, err) : NULL;
    if (!text)
        snprintf(err->msg, sizeof(err->msg), "out of memory");
    free(text);
    return res;
}

/* The key hash of a row: its key_sha256, or its pem's key hashed. */
static int row_key(PGresult *set, int i, db_key_hash_fn key_hash, char out[65], db_error *err)
{
    if (!PQgetisnull(set, i, COL_KEY)) {
        snprintf(out, 65, "%s", PQgetvalue(set, i, COL_KEY));
        return 0;
    }
    BIO *bio = BIO_new_mem_buf(PQgetvalue(set, i, COL_PEM), -1);
    X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int rc = cert && key_hash && key_hash(X509_get0_pubkey(cert), out) == 0 ? 0 : -1;
    X509_free(cert);
    BIO_free(bio);
    if (rc < 0)
        snprintf(err->msg, sizeof(err->msg), "cannot read the public key of certificate %s",
                 PQgetvalue(set, i, COL_SERIAL));
    return rc;
}

/* Puts every key of the set on compromised_keys; *added counts new ones. */
static int list_keys(PGconn *conn, PGresult *set, db_key_hash_fn key_hash, int *added,
                     db_error *err)
{
    json_t *keys = json_array();
    char key[65];
    for (int i = 0; keys && i < PQntuples(set); i++) {
        if (row_key(set, i, key_hash, key, err) < 0) {
            json_decref(keys);
            return -1;
        }
        json_array_append_new(keys, json_pack("{s:s,s:s,s:s}", "k", key, "s",
                                              PQgetvalue(set, i, COL_SERIAL), "d",
                                              PQgetvalue(set, i, COL_DEVICE)));
    }
    PGresult *res =
        query_json(conn,
                   "INSERT INTO compromised_keys (key_sha256, serial, device_id)"
                   " SELECT e->>'k', e->>'s', e->>'d' FROM json_array_elements($1::json) e"
                   " ON CONFLICT (key_sha256) DO NOTHING RETURNING 1",
                   keys, err);
    if (!res)
        return -1;
    *added = PQntuples(res);
    PQclear(res);
    return 0;
}

static int was_active(PGresult *set, int i)
{
    return strcmp(PQgetvalue(set, i, COL_STATUS), "active") == 0;
}

/* The serials of the set's active rows as a JSON array (text). */
static char *active_serials(PGresult *set)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < PQntuples(set); i++)
        if (was_active(set, i))
            json_array_append_new(arr, json_string(PQgetvalue(set, i, COL_SERIAL)));
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return text;
}

/* One audit row per certificate revoked now and per selected one already
 * revoked when its lineage changed (changed). */
static int audit_set(PGconn *conn, const db_actor *who, PGresult *set, const char *reason,
                     int lineage, int changed, db_error *err)
{
    for (int i = 0; i < PQntuples(set); i++) {
        const char *serial = PQgetvalue(set, i, COL_SERIAL);
        int via = !PQgetisnull(set, i, COL_VIA), active = was_active(set, i);
        if (!active && (via || !changed))
            continue;
        json_t *d = json_pack("{s:s}", "reason", reason);
        if (via) {
            json_object_set_new(d, "via", json_string(PQgetvalue(set, i, COL_VIA)));
        } else if (lineage) {
            json_t *desc = json_array();
            for (int j = 0; j < PQntuples(set); j++)
                if (!PQgetisnull(set, j, COL_VIA) && strcmp(PQgetvalue(set, j, COL_VIA), serial) == 0)
                    json_array_append_new(desc, json_string(PQgetvalue(set, j, COL_SERIAL)));
            json_object_set_new(d, "descendants", desc);
            if (!active)
                json_object_set_new(d, "already_revoked", json_true());
        }
        char *text = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(d);
        int rc = text ? db_audit(conn, who, "cert.revoke", PQgetvalue(set, i, COL_DEVICE), serial,
                                 text, err)
                      : -1;
        free(text);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* The rows revoked now, in the set's order: serial, device_id, issuer,
 * reason, via. */
static PGresult *revoked_rows(PGconn *conn, PGresult *set, db_error *err)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < PQntuples(set); i++)
        if (was_active(set, i))
            json_array_append_new(arr, json_pack("{s:s,s:s?}", "serial",
                                                 PQgetvalue(set, i, COL_SERIAL), "via",
                                                 PQgetisnull(set, i, COL_VIA)
                                                     ? NULL : PQgetvalue(set, i, COL_VIA)));
    return query_json(conn,
                      "SELECT c.serial, c.device_id, c.issuer, c.revocation_reason AS reason,"
                      " e.v->>'via' AS via"
                      " FROM json_array_elements($1::json) WITH ORDINALITY e(v, ord)"
                      " JOIN certificates c ON c.serial = e.v->>'serial' ORDER BY e.ord",
                      arr, err);
}

PGresult *db_cert_revoke_audited(PGconn *conn, const db_actor *who, const char *serial,
                                 const char *device_id, const char *reason_name,
                                 db_key_hash_fn key_hash, int *keys_listed, db_error *err)
{
    int lineage = strcmp(reason_name, "keyCompromise") == 0, added = 0, revoking = 0;
    if (lock_devices(conn, serial, device_id, err) < 0)
        return NULL;
    PGresult *set = lock_set(conn, serial, device_id, lineage, err), *res = NULL;
    char *serials = NULL;
    if (!set)
        return NULL;
    for (int i = 0; i < PQntuples(set); i++)
        revoking += was_active(set, i);
    if (lineage && list_keys(conn, set, key_hash, &added, err) < 0)
        goto done;
    if (revoking) {
        if (!(serials = active_serials(set)) ||
            !(res = db_revoke_where(conn, NULL, NULL, serials, reason_name, err)))
            goto done;
        PQclear(res);
        res = NULL;
    }
    if (audit_set(conn, who, set, reason_name, lineage, revoking || added, err) == 0)
        res = revoked_rows(conn, set, err);
    if (keys_listed)
        *keys_listed = added;
done:
    free(serials);
    PQclear(set);
    return res;
}

int db_key_compromised(PGconn *conn, const char *key_sha256, db_compromised_key *out,
                       db_error *err)
{
    const char *params[] = {key_sha256};
    PGresult *res = db_query(conn,
                             "SELECT coalesce(serial, ''), coalesce(device_id, ''), " TS(
                                 "added_at") " FROM compromised_keys WHERE key_sha256 = $1",
                             1, params, err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (out) {
        memset(out, 0, sizeof(*out));
        if (found) {
            snprintf(out->serial, sizeof(out->serial), "%s", PQgetvalue(res, 0, 0));
            snprintf(out->device_id, sizeof(out->device_id), "%s", PQgetvalue(res, 0, 1));
            snprintf(out->added_at, sizeof(out->added_at), "%s", PQgetvalue(res, 0, 2));
        }
    }
    PQclear(res);
    return found;
}
