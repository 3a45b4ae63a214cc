/*
 * db_token.h - API tokens for the operator port (db_token.c).
 *
 * A token is shown once when it is made; the table keeps only the SHA-256
 * of the whole token string, as lowercase hex. A name means one live token
 * (revoked_at IS NULL, expired or not); a revoked token keeps its row and
 * its name for the audit trail, and the name may be given to a new token.
 */
#ifndef VIGIL_DB_TOKEN_H
#define VIGIL_DB_TOKEN_H

#include <stdint.h>

#include "db/db.h"

/* Results besides 0 (done) and -1 (database error, err filled). */
enum {
    DB_TOKEN_EXISTS = 1,    /* create: a live token already has this name */
    DB_TOKEN_NOT_FOUND = 2, /* revoke: no live token has this name */
};

typedef struct db_token_new {
    const char *name;       /* ^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$ */
    const char *role;       /* viewer | operator | admin */
    const char *sha256_hex; /* 64 lowercase hex digits */
    const char *created_by;
    const char *expires_at; /* RFC 3339, or NULL for a token that never expires */
} db_token_new;

/* The hash the table keeps of token (the whole string, as shown once):
 * SHA-256 as 64 lowercase hex digits. One function for vigilctl, which
 * makes tokens, and vigild, which checks them. 0, or -1 if OpenSSL fails. */
int db_token_hash(const char *token, char out[65]);

/* Inserts a token. 0 with *id set, DB_TOKEN_EXISTS (nothing written, the
 * transaction still usable), or -1. */
int db_token_create(PGconn *conn, const db_token_new *token, int64_t *id, db_error *err);

/* Every token, live ones first, then by name and age: name, role, status
 * (active | expired | revoked), created_at, created_by, expires_at,
 * revoked_at, last_used_at. Never the hash. */
PGresult *db_tokens_list(PGconn *conn, db_error *err);

typedef struct db_token_revoked {
    char role[16];
    char revoked_at[32]; /* RFC 3339 */
} db_token_revoked;

/* Sets revoked_at on the live token of that name. 0 with out filled,
 * DB_TOKEN_NOT_FOUND, or -1. */
int db_token_revoke(PGconn *conn, const char *name, db_token_revoked *out, db_error *err);

typedef struct db_token_found {
    char name[65];
    char role[16]; /* viewer | operator | admin */
    int revoked, expired;
} db_token_found;

/* The token whose hash is sha256_hex, for a request to the operator API.
 * Marks it used (last_used_at, at most once a minute, and never for a
 * revoked or expired token). 0 with out filled, DB_TOKEN_NOT_FOUND, or -1. */
int db_token_lookup(PGconn *conn, const char *sha256_hex, db_token_found *out, db_error *err);

#endif
