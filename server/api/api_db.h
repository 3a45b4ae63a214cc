/*
 * api_db.h - how the operator API runs a change that db/ checks and
 * audits itself (db_renewal.h, db_update.h: a grant, a revocation, a
 * rollout's start or move): one transaction on the request's connection,
 * the db layer's refusal answered as 400/404/409 with its message, and the
 * row it returns as the answer; and the short lists of releases and
 * rollouts.
 */
#ifndef VIGIL_API_DB_H
#define VIGIL_API_DB_H

#include "db/db_renewal.h"
#include "server/api/api.h"

/* One change of db/, as the request's token (who), inside the transaction
 * api_db_change opened; arg is the handler's. The db layer's contract: a
 * row, or NULL with why set (a refusal, nothing written) or with why->kind
 * DB_ACCEPTED (a database failure, err). */
typedef PGresult *(*api_db_change_fn)(PGconn *db, const db_actor *who, void *arg, db_refusal *why,
                                      db_error *err);

/* What the answer of a change names: the body member at fault for a 400
 * (input) and for a 404 (not_found; NULL when the path names the object),
 * and the status of a success (200, or 201 with a Location header: the
 * prefix location and the row's id column). */
typedef struct api_db_answer {
    const char *input, *not_found;
    unsigned status;
    const char *location;
} api_db_answer;

/* Begins, runs fn as the token, commits and answers the row it returned
 * (db_row_json); a refusal is rolled back and answered
 * (api_db_refused), a failure too (api_pool_fail). */
void api_db_change(api_req *r, api_db_change_fn fn, void *arg, const api_db_answer *how);

/* Answers a refusal of db/: DB_REFUSED_INPUT 400 bad_request naming param
 * input, DB_REFUSED_NOT_FOUND 404 not_found (naming not_found when not
 * NULL), DB_REFUSED_CONFLICT 409 conflict; the reason is db/'s message. */
void api_db_refused(api_req *r, const db_refusal *why, const char *input, const char *not_found);

/* Answers a read of one object by the path (db_release_get,
 * db_rollout_get): its row, or db/'s refusal (404, or 400 for an
 * ambiguous name), or a failure. Frees res. */
void api_db_reply_row(api_req *r, PGresult *res, const db_refusal *why, const db_error *err);

/* Answers {"items": [...], "truncated": bool} from res, a list newest
 * first read with limit + 1 (no cursor: releases and rollouts are few):
 * the first limit rows, truncated when there was one more. Frees res. */
void api_db_reply_list(api_req *r, PGresult *res, int limit);

#endif
