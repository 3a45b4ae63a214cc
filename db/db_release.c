/*
 * db_release.c - release keys (public halves), content-addressed
 * artifacts in chunks, and signed releases (see db_update.h). Every write
 * is checked here before it reaches a table: a key must be a P-256 public
 * JWK named by its thumbprint and a rotation's endorsement must verify
 * with the active key; a release's manifest must verify with its key and
 * state exactly the row's claims, and its artifact must be complete. The
 * tables' CHECKs and the anti-rollback trigger stand behind these checks.
 */
#include "db/db_update.h"

#include "db/db_sql.h"
#include "protocol/device_id.h"
#include "protocol/manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The release object; the column names are its JSON keys. */
/* clang-format off */
#define RELEASE_STATE                                                                              \
    "CASE WHEN r.revoked_at IS NOT NULL THEN 'revoked' WHEN r.expires_at <= now() THEN 'expired'"  \
    " ELSE 'active' END"
#define RELEASE_COLUMNS                                                                            \
    "r.id, r.version, r.device_class, r.security_version, r.artifact_sha256, r.size, r.kid,"       \
    " " TS("r.issued_at") " AS issued_at, " TS("r.expires_at") " AS expires_at,"                   \
    " " TS("r.created_at") " AS created_at, r.created_by, r.notes,"                                \
    " " TS("r.revoked_at") " AS revoked_at, r.revoked_by, r.revoked_reason,"                       \
    " " RELEASE_STATE " AS state"
/* clang-format on */

#define REASON_MAX 1024

static void oom(db_error *err)
{
    snprintf(err->msg, sizeof(err->msg), "out of memory");
}

int db_xact_lock(PGconn *conn, const char *name, db_error *err)
{
    const char *params[] = {name};
    PGresult *res = db_query(conn, "SELECT pg_advisory_xact_lock(hashtext($1))", 1, params, err);
    PQclear(res);
    return res ? 0 : -1;
}

int db_update_notify(PGconn *conn, const char *kind, int64_t id, db_error *err)
{
    char id_text[24];
    snprintf(id_text, sizeof(id_text), "%" PRId64, id);
    const char *params[] = {kind, id_text};
    PGresult *res = db_query(conn, "SELECT vigil_update_notify($1, $2::int8)", 2, params, err);
    PQclear(res);
    return res ? 0 : -1;
}

/* ---- release keys ---- */

/* {"keys": [the stored JWK of kid]}, or NULL (none, or a failure: err). */
static json_t *stored_key_set(PGconn *conn, const char *kid, db_error *err)
{
    const char *params[] = {kid};
    PGresult *res =
        db_query(conn, "SELECT jwk::text FROM release_keys WHERE kid = $1", 1, params, err);
    json_t *jwk = res && PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    PQclear(res);
    return jwk ? json_pack("{s:[o]}", "keys", jwk) : NULL;
}

/* 0 when the JWK is a P-256 public key whose kid member and thumbprint
 * are kid; 1 refused. */
static int key_check(const char *kid, const json_t *jwk, db_refusal *why)
{
    json_t *set = json_pack("{s:[O]}", "keys", jwk);
    int ok = set && strlen(kid) == MANIFEST_KID_LEN && !json_object_get(jwk, "d") &&
             manifest_jwks_find(set, kid) != NULL;
    json_decref(set);
    if (!ok)
        return db_refuse(why, DB_REFUSED_INPUT,
                         "release key %.60s is not an EC P-256 public JWK whose kid is its "
                         "RFC 7638 thumbprint (a private key is never stored)",
                         kid);
    return 0;
}

/* The endorsement verifies with the stored key endorsed_by and lists kid. */
static int endorsement_check(PGconn *conn, const char *kid, const char *endorsement,
                             const char *endorsed_by, db_refusal *why, db_error *err)
{
    char msg[200] = "";
    json_t *set = stored_key_set(conn, endorsed_by, err), *keys = NULL;
    if (!set)
        return err->msg[0] ? -1
                           : db_refuse(why, DB_REFUSED_CONFLICT, "no release key %s", endorsed_by);
    manifest_status st =
        manifest_endorsement_verify(endorsement, strlen(endorsement), set, &keys, msg, sizeof(msg));
    int listed = 0;
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        const char *name = json_string_value(json_object_get(k, "kid"));
        listed |= name && strcmp(name, kid) == 0;
    }
    json_decref(keys);
    json_decref(set);
    if (st != MANIFEST_OK)
        return db_refuse(why, DB_REFUSED_INPUT,
                         "the endorsement of key %s does not verify with the active key %s: %s",
                         kid, endorsed_by, msg);
    if (!listed)
        return db_refuse(why, DB_REFUSED_INPUT,
                         "the endorsement signed by %s does not list the new key %s", endorsed_by,
                         kid);
    return 0;
}

/* Serializes key changes and checks this one against the stored keys. */
static int key_add_allowed(PGconn *conn, const char *kid, const char *endorsement,
                           const char *endorsed_by, db_refusal *why, db_error *err)
{
    const char *params[] = {kid};
    if (db_xact_lock(conn, "vigil_release_keys", err) < 0)
        return -1;
    /* a statement of its own, after the lock: its snapshot sees a key
     * that a writer this one waited for committed */
    PGresult *res = db_query(conn,
                             "SELECT (SELECT kid FROM release_keys WHERE active),"
                             " EXISTS (SELECT 1 FROM release_keys WHERE kid = $1)",
                             1, params, err);
    if (!res)
        return -1;
    char active[MANIFEST_KID_LEN + 1];
    int has_active = !PQgetisnull(res, 0, 0), exists = PQgetvalue(res, 0, 1)[0] == 't';
    snprintf(active, sizeof(active), "%s", has_active ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    if (exists)
        return db_refuse(why, DB_REFUSED_CONFLICT, "release key %s is stored already", kid);
    if (!endorsement && has_active)
        return db_refuse(why, DB_REFUSED_CONFLICT,
                         "a release key exists already (active: %s): a new key is added by a "
                         "rotation, endorsed by the active key",
                         active);
    if (endorsement && !has_active)
        return db_refuse(why, DB_REFUSED_CONFLICT,
                         "there is no active release key to endorse key %s: make the first key "
                         "without an endorsement",
                         kid);
    if (endorsement && strcmp(active, endorsed_by) != 0)
        return db_refuse(why, DB_REFUSED_CONFLICT,
                         "key %s is endorsed by %s, but the active release key is %s", kid,
                         endorsed_by, active);
    return endorsement ? endorsement_check(conn, kid, endorsement, endorsed_by, why, err) : 0;
}

int db_release_key_add(PGconn *conn, const db_actor *who, const char *kid, const json_t *jwk,
                       const char *endorsement, const char *endorsed_by, db_refusal *why,
                       db_error *err)
{
    char by[DB_ACTOR_TEXT_LEN];
    memset(why, 0, sizeof(*why));
    if (key_check(kid, jwk, why))
        return -1;
    if (!endorsement != !endorsed_by || (endorsement && strlen(endorsement) > MANIFEST_JWS_MAX)) {
        db_refuse(why, DB_REFUSED_INPUT,
                  "an endorsement and the key that signed it go together (at most %d bytes)",
                  MANIFEST_JWS_MAX);
        return -1;
    }
    int rc = key_add_allowed(conn, kid, endorsement, endorsed_by, why, err);
    if (rc != 0)
        return -1;
    char *jwk_text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    if (!jwk_text) {
        oom(err);
        return -1;
    }
    db_actor_text(who, by);
    const char *params[] = {kid, jwk_text, endorsement, endorsed_by, by};
    PGresult *res =
        db_query(conn,
                 "WITH off AS (UPDATE release_keys SET active = false WHERE active"
                 "  RETURNING kid)"
                 " INSERT INTO release_keys (kid, jwk, active, endorsement, endorsed_by,"
                 "  created_by) SELECT $1, $2::jsonb, true, $3, $4, $5"
                 "  FROM (SELECT count(*) FROM off) o",
                 5, params, err);
    free(jwk_text);
    PQclear(res);
    if (!res)
        return -1;
    json_t *details = json_pack("{s:s, s:s?}", "kid", kid, "endorsed_by", endorsed_by);
    if (db_audit_json(conn, who, endorsement ? "release.key_rotate" : "release.key_init", NULL,
                      NULL, details, err) < 0 ||
        db_update_notify(conn, "keys", 0, err) < 0)
        return -1;
    return 0;
}

int db_release_key_active(PGconn *conn, char out[44], db_error *err)
{
    PGresult *res = db_query(conn, "SELECT kid FROM release_keys WHERE active", 0, NULL, err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    snprintf(out, 44, "%s", found ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return found ? 0 : 1;
}

json_t *db_release_jwks(PGconn *conn, db_error *err)
{
    PGresult *res =
        db_query(conn,
                 "SELECT json_build_object("
                 " 'keys', coalesce(json_agg(jwk ORDER BY created_at, kid), '[]'::json),"
                 " 'endorsements', coalesce(json_agg(endorsement ORDER BY created_at, kid)"
                 "  FILTER (WHERE endorsement IS NOT NULL), '[]'::json))::text FROM release_keys",
                 0, NULL, err);
    if (!res)
        return NULL;
    json_t *jwks = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    PQclear(res);
    if (!jwks)
        oom(err);
    return jwks;
}

/* ---- artifacts ---- */

int db_artifact_begin(PGconn *conn, const char *sha256, int64_t size, int chunk_size, db_error *err)
{
    char size_text[24], chunk_text[16];
    if (!manifest_sha256_valid(sha256) || size <= 0 || size > MANIFEST_SIZE_MAX ||
        chunk_size < DB_ARTIFACT_CHUNK_MIN || chunk_size > DB_ARTIFACT_CHUNK_MAX) {
        snprintf(err->msg, sizeof(err->msg),
                 "artifact %.64s: a digest of 64 lowercase hex digits, a size of 1 to 2^53 bytes "
                 "and chunks of 4 KiB to 1 MiB are needed",
                 sha256 ? sha256 : "(none)");
        return -1;
    }
    snprintf(size_text, sizeof(size_text), "%" PRId64, size);
    snprintf(chunk_text, sizeof(chunk_text), "%d", chunk_size);
    const char *params[] = {sha256, size_text, chunk_text};
    /* A concurrent writer of the same artifact waits here for the first to
     * commit (then reuses it) or roll back (then writes it). */
    PGresult *res = db_query(conn,
                             "WITH ins AS (INSERT INTO artifacts (sha256, size, chunk_size)"
                             "  VALUES ($1, $2::int8, $3::int) ON CONFLICT (sha256) DO NOTHING"
                             "  RETURNING size)"
                             " SELECT (SELECT count(*) FROM ins),"
                             "  (SELECT size FROM artifacts WHERE sha256 = $1)",
                             3, params, err);
    if (!res)
        return -1;
    int written = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
    int64_t stored = PQgetisnull(res, 0, 1) ? size : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    PQclear(res);
    if (!written && stored != size) {
        snprintf(err->msg, sizeof(err->msg),
                 "artifact %s is stored with %" PRId64 " bytes, not %" PRId64
                 ": two files cannot have one SHA-256; the stored one is damaged",
                 sha256, stored, size);
        return -1;
    }
    return written ? 0 : 1;
}

int db_artifact_chunk(PGconn *conn, const char *sha256, int idx, const void *data, size_t len,
                      db_error *err)
{
    char idx_text[16];
    if (idx < 0 || len == 0 || len > DB_ARTIFACT_CHUNK_MAX) {
        snprintf(err->msg, sizeof(err->msg), "artifact chunk %d of %zu bytes is out of range", idx,
                 len);
        return -1;
    }
    snprintf(idx_text, sizeof(idx_text), "%d", idx);
    const char *params[] = {sha256, idx_text, data};
    int lengths[] = {0, 0, (int)len}, formats[] = {0, 0, 1};
    PGresult *res = db_query_bin(conn,
                                 "INSERT INTO artifact_chunks (sha256, idx, data)"
                                 " SELECT $1, $2::int, $3::bytea FROM artifacts"
                                 " WHERE sha256 = $1 AND length($3::bytea) <= chunk_size",
                                 3, params, lengths, formats, err);
    if (!res)
        return -1;
    int inserted = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!inserted) {
        snprintf(err->msg, sizeof(err->msg),
                 "chunk %d of artifact %.64s was not stored: begin the artifact first, and "
                 "keep chunks to its chunk size",
                 idx, sha256);
        return -1;
    }
    return 0;
}

/* 0 when every chunk of the artifact is there (each full but the last,
 * their lengths adding up to size); 1 refused. */
static int artifact_complete(PGconn *conn, const char *sha256, int64_t size, db_refusal *why,
                             db_error *err)
{
    char size_text[24];
    snprintf(size_text, sizeof(size_text), "%" PRId64, size);
    const char *params[] = {sha256, size_text};
    PGresult *res = db_query(
        conn,
        "SELECT a.size = $2::int8 AND count(c.idx) = n.chunks AND coalesce(max(c.idx), -1) ="
        "  count(c.idx) - 1 AND coalesce(sum(length(c.data)), 0) = a.size"
        "  AND count(*) FILTER (WHERE c.idx < n.chunks - 1 AND length(c.data) <> a.chunk_size) = 0"
        " FROM artifacts a CROSS JOIN LATERAL (SELECT (a.size + a.chunk_size - 1) / a.chunk_size"
        "  AS chunks) n LEFT JOIN artifact_chunks c ON c.sha256 = a.sha256"
        " WHERE a.sha256 = $1 GROUP BY a.size, a.chunk_size, n.chunks",
        2, params, err);
    if (!res)
        return -1;
    int ok = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!ok)
        return db_refuse(why, DB_REFUSED_INPUT,
                         "artifact %s is not stored whole (%" PRId64
                         " bytes): store every chunk before the release",
                         sha256, size);
    return 0;
}

/* ---- releases ---- */

/* db_release_find's releases: id $1, else version $3 of class $2 (or of any
 * class when $2 is NULL), in class order. */
#define RELEASE_FIND                                                                               \
    "SELECT id, device_class FROM releases WHERE CASE"                                             \
    " WHEN $1::text IS NOT NULL THEN id = $1::int8"                                                \
    " ELSE version = $3 AND ($2::text IS NULL OR device_class = $2)"                               \
    " END ORDER BY device_class"

int db_release_find(PGconn *conn, const char *ref, int lock, int64_t *id, db_refusal *why,
                    db_error *err)
{
    char cls[DEVICE_ID_MAX + 1] = "", ver[MANIFEST_VERSION_MAX + 1] = "";
    const char *slash = ref ? strchr(ref, '/') : NULL;
    size_t n = ref ? strspn(ref, "0123456789") : 0;
    int by_id = ref && ref[0] && !ref[n] && n <= 18;
    if (slash && (size_t)(slash - ref) <= DEVICE_ID_MAX &&
        strlen(slash + 1) <= MANIFEST_VERSION_MAX) {
        snprintf(cls, sizeof(cls), "%.*s", (int)(slash - ref), ref);
        snprintf(ver, sizeof(ver), "%s", slash + 1);
    } else if (!slash && !by_id && ref && strlen(ref) <= MANIFEST_VERSION_MAX) {
        snprintf(ver, sizeof(ver), "%s", ref);
    }
    if (!by_id && (!manifest_version_valid(ver) || (slash && !device_id_valid(cls))))
        return db_refuse(why, DB_REFUSED_INPUT,
                         "release '%.80s' is neither an id, CLASS/VERSION nor a version (%s)",
                         ref ? ref : "", MANIFEST_VERSION_RULE);
    const char *params[] = {by_id ? ref : NULL, cls[0] ? cls : NULL, ver};
    PGresult *res =
        db_query(conn, lock ? RELEASE_FIND " FOR UPDATE" : RELEASE_FIND, 3, params, err);
    if (!res)
        return -1;
    int rows = PQntuples(res), rc = 0;
    if (rows == 0)
        rc = db_refuse(why, DB_REFUSED_NOT_FOUND, "no release %s", ref);
    else if (rows > 1)
        rc = db_refuse(why, DB_REFUSED_INPUT,
                       "version %s is a release of %d classes (%s, %s%s): name one as "
                       "CLASS/%s",
                       ver, rows, PQgetvalue(res, 0, 1), PQgetvalue(res, 1, 1),
                       rows > 2 ? ", ..." : "", ver);
    else
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return rc;
}

/* The release row by id (the columns of db_release_get). */
static PGresult *release_row(PGconn *conn, int64_t id, db_error *err)
{
    char id_text[24];
    snprintf(id_text, sizeof(id_text), "%" PRId64, id);
    const char *params[] = {id_text};
    return db_query(conn,
                    "SELECT " RELEASE_COLUMNS ", r.manifest FROM releases r WHERE r.id = $1::int8",
                    1, params, err);
}

PGresult *db_release_get(PGconn *conn, const char *ref, db_refusal *why, db_error *err)
{
    int64_t id;
    memset(why, 0, sizeof(*why));
    return db_release_find(conn, ref, 0, &id, why, err) == 0 ? release_row(conn, id, err) : NULL;
}

PGresult *db_release_list(PGconn *conn, const char *device_class, const char *state, int limit,
                          db_error *err)
{
    char lim[16];
    db_limit_text(limit, lim);
    const char *params[] = {device_class, lim, state};
    return db_query(conn,
                    "SELECT " RELEASE_COLUMNS " FROM releases r"
                    " WHERE ($1::text IS NULL OR r.device_class = $1)"
                    " AND ($3::text IS NULL OR " RELEASE_STATE " = $3)"
                    " ORDER BY r.id DESC LIMIT $2::int",
                    3, params, err);
}

int64_t db_release_newest_security_version(PGconn *conn, const char *device_class, db_error *err)
{
    const char *params[] = {device_class};
    PGresult *res = db_query(conn,
                             "SELECT coalesce(max(security_version), -1) FROM releases"
                             " WHERE device_class = $1",
                             1, params, err);
    if (!res)
        return -2;
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* The values of a new release, before the database. */
static int release_new_check(const db_release_new *r, db_refusal *why)
{
    if (!manifest_version_valid(r->version))
        return db_refuse(why, DB_REFUSED_INPUT, "version '%.80s' is not valid: use %s",
                         r->version ? r->version : "", MANIFEST_VERSION_RULE);
    if (!device_id_valid(r->device_class))
        return db_refuse(why, DB_REFUSED_INPUT, "class '%.80s' is not valid: use %s",
                         r->device_class ? r->device_class : "", DEVICE_ID_RULE);
    if (r->security_version < 0 || r->security_version > MANIFEST_SIZE_MAX)
        return db_refuse(why, DB_REFUSED_INPUT, "security version %" PRId64 " is not in 0..2^53",
                         r->security_version);
    if (!manifest_sha256_valid(r->sha256) || r->size <= 0 || r->size > MANIFEST_SIZE_MAX)
        return db_refuse(why, DB_REFUSED_INPUT,
                         "the artifact needs a SHA-256 of 64 lowercase hex digits and 1 to 2^53 "
                         "bytes");
    if (r->issued_at <= 0 || r->expires_at <= r->issued_at)
        return db_refuse(why, DB_REFUSED_INPUT, "a release expires after it is issued");
    if (r->notes && strlen(r->notes) > DB_RELEASE_NOTES_MAX)
        return db_refuse(why, DB_REFUSED_INPUT, "notes are at most %d bytes", DB_RELEASE_NOTES_MAX);
    if (!r->kid || !r->manifest || strlen(r->manifest) > MANIFEST_JWS_MAX)
        return db_refuse(why, DB_REFUSED_INPUT, "a release needs its key id and its manifest");
    return 0;
}

/* The manifest verifies with the active key kid and states the row. */
static int release_manifest_check(PGconn *conn, const db_release_new *r, db_refusal *why,
                                  db_error *err)
{
    char active[44], msg[200] = "";
    manifest m;
    int rc = db_release_key_active(conn, active, err);
    if (rc < 0)
        return -1;
    if (rc == 1)
        return db_refuse(why, DB_REFUSED_CONFLICT,
                         "there is no release key: make one first (vigilctl release key init)");
    if (strcmp(active, r->kid) != 0)
        return db_refuse(why, DB_REFUSED_CONFLICT,
                         "key %s is not the active release key (%s): sign with the active key",
                         r->kid, active);
    json_t *set = stored_key_set(conn, r->kid, err);
    if (!set)
        return -1;
    manifest_status st =
        manifest_verify(r->manifest, strlen(r->manifest), set, &m, msg, sizeof(msg));
    json_decref(set);
    if (st != MANIFEST_OK)
        return db_refuse(why, DB_REFUSED_INPUT, "the manifest does not verify with key %s: %s",
                         r->kid, msg);
    if (strcmp(m.version, r->version) || strcmp(m.device_class, r->device_class) ||
        m.security_version != r->security_version || strcmp(m.sha256, r->sha256) ||
        m.size != r->size || m.issued_at != r->issued_at || m.expires_at != r->expires_at)
        return db_refuse(why, DB_REFUSED_INPUT,
                         "the manifest's claims differ from the release's values");
    return 0;
}

/* No release of this version in the class, none with a higher security
 * version (under the trigger's lock, so a concurrent create waits). */
static int release_order_check(PGconn *conn, const db_release_new *r, db_refusal *why,
                               db_error *err)
{
    char lock[DEVICE_ID_MAX + 16];
    snprintf(lock, sizeof(lock), "vigil_release:%s", r->device_class);
    if (db_xact_lock(conn, lock, err) < 0)
        return -1;
    /* after the lock, in a statement of its own (see key_add_allowed) */
    const char *params[] = {r->device_class, r->version};
    PGresult *res =
        db_query(conn,
                 "SELECT (SELECT id FROM releases WHERE device_class = $1 AND version = $2),"
                 " (SELECT security_version || ' (release ' || version || ')' FROM releases"
                 "   WHERE device_class = $1 ORDER BY security_version DESC, id DESC LIMIT 1),"
                 " (SELECT max(security_version) FROM releases WHERE device_class = $1)",
                 2, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (!PQgetisnull(res, 0, 0))
        rc = db_refuse(why, DB_REFUSED_CONFLICT,
                       "class %s has a release %s already (id %s): a version is never reused; "
                       "give a new version",
                       r->device_class, r->version, PQgetvalue(res, 0, 0));
    else if (!PQgetisnull(res, 0, 2) &&
             r->security_version < strtoll(PQgetvalue(res, 0, 2), NULL, 10))
        rc = db_refuse(why, DB_REFUSED_CONFLICT,
                       "security version %" PRId64 " is below %s, the newest of class %s: "
                       "anti-rollback forbids it; give %s or more",
                       r->security_version, PQgetvalue(res, 0, 1), r->device_class,
                       PQgetvalue(res, 0, 2));
    PQclear(res);
    return rc;
}

/* Inserts the row; the new id, 0 refused, -1 on failure. */
static int64_t release_row_insert(PGconn *conn, const db_actor *who, const db_release_new *r,
                                  db_refusal *why, db_error *err)
{
    char sv[24], size[24], iat[24], exp[24], by[DB_ACTOR_TEXT_LEN];
    snprintf(sv, sizeof(sv), "%" PRId64, r->security_version);
    snprintf(size, sizeof(size), "%" PRId64, r->size);
    snprintf(iat, sizeof(iat), "%" PRId64, r->issued_at);
    snprintf(exp, sizeof(exp), "%" PRId64, r->expires_at);
    db_actor_text(who, by);
    const char *params[] = {r->version,  r->device_class, sv,  r->sha256, size, r->kid,
                            r->manifest, r->notes,        iat, exp,       by};
    PGresult *res = db_query(conn,
                             "INSERT INTO releases (version, device_class, security_version,"
                             " artifact_sha256, size, kid, manifest, notes, issued_at, expires_at,"
                             " created_by) VALUES ($1, $2, $3::int8, $4, $5::int8, $6, $7, $8,"
                             " to_timestamp($9::int8), to_timestamp($10::int8), $11) RETURNING id",
                             11, params, err);
    if (!res && (!strcmp(err->sqlstate, "23505") || !strcmp(err->sqlstate, "23514"))) {
        db_refuse(why, DB_REFUSED_CONFLICT, "release %s of class %s refused: %s", r->version,
                  r->device_class, err->msg);
        return 0;
    }
    int64_t id = res ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : -1;
    PQclear(res);
    return id;
}

PGresult *db_release_insert(PGconn *conn, const db_actor *who, const db_release_new *r,
                            db_refusal *why, db_error *err)
{
    memset(why, 0, sizeof(*why));
    if (release_new_check(r, why) || release_manifest_check(conn, r, why, err) ||
        release_order_check(conn, r, why, err) ||
        artifact_complete(conn, r->sha256, r->size, why, err))
        return NULL;
    int64_t id = release_row_insert(conn, who, r, why, err);
    if (id <= 0)
        return NULL;
    char ref[24];
    snprintf(ref, sizeof(ref), "%" PRId64, id);
    json_t *details = json_pack("{s:I, s:s, s:s, s:I, s:s, s:I, s:s}", "release_id", (json_int_t)id,
                                "version", r->version, "class", r->device_class, "security_version",
                                (json_int_t)r->security_version, "sha256", r->sha256, "size",
                                (json_int_t)r->size, "kid", r->kid);
    if (db_audit_json(conn, who, "release.create", NULL, NULL, details, err) < 0 ||
        db_update_notify(conn, "release", id, err) < 0)
        return NULL;
    return release_row(conn, id, err);
}

/* Marks it revoked and aborts its live rollouts; the aborted ids as a
 * JSON array (malloc'd text), NULL on failure. */
static char *revoke_row(PGconn *conn, const db_actor *who, int64_t id, const char *reason,
                        db_error *err)
{
    char id_text[24], by[DB_ACTOR_TEXT_LEN];
    snprintf(id_text, sizeof(id_text), "%" PRId64, id);
    db_actor_text(who, by);
    const char *params[] = {id_text, by, reason, who->kind, who->name};
    PGresult *res = db_query(
        conn,
        "WITH rev AS (UPDATE releases SET revoked_at = now(), revoked_by = $2, revoked_reason = $3"
        "  WHERE id = $1::int8 RETURNING id)"
        " SELECT coalesce(json_agg(m.id ORDER BY m.id) FILTER (WHERE m.moved), '[]'::json)::text"
        " FROM rev LEFT JOIN LATERAL (SELECT o.id, vigil_rollout_move(o.id, 'aborted', $4, $5,"
        "   jsonb_build_object('kind', 'release_revoked', 'release_id', rev.id)) AS moved"
        "   FROM rollouts o WHERE o.release_id = rev.id"
        "    AND o.state IN ('running', 'paused', 'halted')) m ON true",
        5, params, err);
    char *out = res && PQntuples(res) == 1 ? strdup(PQgetvalue(res, 0, 0)) : NULL;
    if (res && !out)
        oom(err);
    PQclear(res);
    return out;
}

PGresult *db_release_revoke(PGconn *conn, const db_actor *who, const char *ref, const char *reason,
                            db_refusal *why, db_error *err)
{
    int64_t id;
    memset(why, 0, sizeof(*why));
    if (reason && strlen(reason) > REASON_MAX) {
        db_refuse(why, DB_REFUSED_INPUT, "a revocation reason is at most %d bytes", REASON_MAX);
        return NULL;
    }
    if (db_release_find(conn, ref, 1, &id, why, err) != 0)
        return NULL;
    PGresult *res = release_row(conn, id, err);
    if (!res)
        return NULL;
    json_t *rel = db_row_json(res, 0);
    PQclear(res);
    if (!rel) {
        oom(err);
        return NULL;
    }
    if (!json_is_null(json_object_get(rel, "revoked_at"))) {
        db_refuse(why, DB_REFUSED_CONFLICT, "release %s was revoked already, at %s by %s", ref,
                  json_string_value(json_object_get(rel, "revoked_at")),
                  json_string_value(json_object_get(rel, "revoked_by")));
        json_decref(rel);
        return NULL;
    }
    char *aborted = revoke_row(conn, who, id, reason, err);
    if (!aborted) {
        json_decref(rel);
        return NULL;
    }
    json_t *details =
        json_pack("{s:I, s:O, s:O, s:s?, s:o}", "release_id", (json_int_t)id, "version",
                  json_object_get(rel, "version"), "class", json_object_get(rel, "device_class"),
                  "reason", reason, "aborted_rollouts", json_loads(aborted, 0, NULL));
    free(aborted);
    json_decref(rel);
    if (db_audit_json(conn, who, "release.revoke", NULL, NULL, details, err) < 0 ||
        db_update_notify(conn, "release", id, err) < 0)
        return NULL;
    return release_row(conn, id, err);
}
