/*
 * db_token.c - API token rows (see db_token.h). vigilctl makes and revokes
 * tokens; vigild's operator API looks them up by hash.
 */
#include "db/db_token.h"

#include "db/db_sql.h"
#include "protocol/hex.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int db_token_hash(const char *token, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        return -1;
    hex_encode(md, n, out);
    return 0;
}

int db_token_create(PGconn *conn, const db_token_new *t, int64_t *id, db_error *err)
{
    const char *params[] = {t->name, t->role, t->sha256_hex, t->created_by, t->expires_at};
    /* ON CONFLICT on the live-name index: a taken name is an answer, not an
     * error that would abort the caller's transaction. */
    PGresult *res = db_query(conn,
                             "INSERT INTO api_tokens (name, role, token_sha256, created_by,"
                             " expires_at) VALUES ($1, $2, $3, $4, $5::timestamptz)"
                             " ON CONFLICT (name) WHERE revoked_at IS NULL DO NOTHING"
                             " RETURNING id",
                             5, params, err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return found ? 0 : DB_TOKEN_EXISTS;
}

/* The derived status matches what vigild's lookup refuses. */
/* clang-format off */
static const char list_sql[] =
    "SELECT name, role,"
    " CASE WHEN revoked_at IS NOT NULL THEN 'revoked'"
    "  WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired'"
    "  ELSE 'active' END AS status,"
    " " TS("created_at") " AS created_at, created_by,"
    " " TS("expires_at") " AS expires_at,"
    " " TS("revoked_at") " AS revoked_at,"
    " " TS("last_used_at") " AS last_used_at"
    " FROM api_tokens"
    " ORDER BY revoked_at IS NOT NULL, name, created_at, id";
/* clang-format on */

PGresult *db_tokens_list(PGconn *conn, db_error *err)
{
    return db_query(conn, list_sql, 0, NULL, err);
}

int db_token_revoke(PGconn *conn, const char *name, db_token_revoked *out, db_error *err)
{
    const char *params[] = {name};
    PGresult *res = db_query(conn,
                             "UPDATE api_tokens SET revoked_at = now()"
                             " WHERE name = $1 AND revoked_at IS NULL"
                             " RETURNING role, " TS("revoked_at") " AS revoked_at",
                             1, params, err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        snprintf(out->role, sizeof(out->role), "%s", PQgetvalue(res, 0, 0));
        snprintf(out->revoked_at, sizeof(out->revoked_at), "%s", PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return found ? 0 : DB_TOKEN_NOT_FOUND;
}

/* Looks the hash up; last_used_at is written at most once a minute so a
 * busy script does not turn every read into a write. */
static const char lookup_sql[] =
    "WITH t AS (SELECT id, name, role, revoked_at IS NOT NULL AS revoked,"
    "  expires_at IS NOT NULL AND expires_at <= now() AS expired"
    "  FROM api_tokens WHERE token_sha256 = $1),"
    " u AS (UPDATE api_tokens SET last_used_at = now() WHERE id = (SELECT id FROM t)"
    "  AND NOT (SELECT revoked OR expired FROM t)"
    "  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))"
    " SELECT name, role, revoked, expired FROM t";

int db_token_lookup(PGconn *conn, const char *sha256_hex, db_token_found *out, db_error *err)
{
    const char *params[] = {sha256_hex};
    PGresult *res = db_query(conn, lookup_sql, 1, params, err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        snprintf(out->name, sizeof(out->name), "%s", PQgetvalue(res, 0, 0));
        snprintf(out->role, sizeof(out->role), "%s", PQgetvalue(res, 0, 1));
        out->revoked = PQgetvalue(res, 0, 2)[0] == 't';
        out->expired = PQgetvalue(res, 0, 3)[0] == 't';
    }
    PQclear(res);
    return found ? 0 : DB_TOKEN_NOT_FOUND;
}
