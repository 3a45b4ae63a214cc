/*
 * db_token.c - API token rows (see db_token.h). vigilctl makes and revokes
 * tokens; vigild looks them up by hash.
 */
#include "db/db_token.h"

#include "db/db_sql.h"

#include <stdio.h>
#include <stdlib.h>

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
