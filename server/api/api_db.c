/*
 * api_db.c - changes that db/ checks and audits, run and answered the one
 * way (see api_db.h): the renewal grant, the release revocation, the
 * rollout's start, widening and moves.
 */
#include "server/api/api_db.h"

#include <stdio.h>
#include <stdlib.h>

void api_db_refused(api_req *r, const db_refusal *why, const char *input, const char *not_found)
{
    switch (why->kind) {
    case DB_REFUSED_INPUT:
        api_error(r, 400, "bad_request", input, "%s", why->msg);
        break;
    case DB_REFUSED_NOT_FOUND:
        api_error(r, 404, "not_found", not_found, "%s", why->msg);
        break;
    default:
        api_error(r, 409, "conflict", NULL, "%s", why->msg);
        break;
    }
}

void api_db_reply_row(api_req *r, PGresult *res, const db_refusal *why, const db_error *err)
{
    if (res && PQntuples(res) > 0)
        api_reply_json(r, 200, db_row_json(res, 0));
    else if (res) /* db/ refuses what is not there; an empty answer says the same */
        api_error(r, 404, "not_found", NULL, "no %s", r->path_args[0]);
    else if (why->kind != DB_ACCEPTED)
        api_db_refused(r, why, NULL, NULL);
    else
        api_pool_fail(r, err);
    PQclear(res);
}

static void answer_row(api_req *r, PGresult *res, const api_db_answer *how)
{
    int col = PQfnumber(res, "id");
    if (how->status == 201 && how->location && col >= 0) {
        char where[64];
        snprintf(where, sizeof(where), "%s%s", how->location, PQgetvalue(res, 0, col));
        api_set_header(r, "Location", where);
    }
    api_reply_json(r, how->status, db_row_json(res, 0));
}

void api_db_change(api_req *r, api_db_change_fn fn, void *arg, const api_db_answer *how)
{
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err = {0};
    db_refusal why = {DB_ACCEPTED, ""};
    db_actor who = {"token", r->token_name};
    PGresult *res = NULL;
    if (db_begin(db, &err) < 0 ||
        (!(res = fn(db, &who, arg, &why, &err)) && why.kind == DB_ACCEPTED)) {
        db_rollback(db);
        api_pool_fail(r, &err);
    } else if (!res) {
        db_rollback(db);
        api_db_refused(r, &why, how->input, how->not_found);
    } else if (PQntuples(res) < 1) {
        db_rollback(db);
        api_error(r, 500, "internal", NULL, "the change returned no row; this is a bug");
    } else if (db_commit(db, &err) < 0) {
        db_rollback(db);
        api_pool_fail(r, &err);
    } else {
        answer_row(r, res, how);
    }
    PQclear(res);
}

void api_db_reply_list(api_req *r, PGresult *res, int limit)
{
    json_t *items = json_array(), *page = json_object();
    int rows = PQntuples(res), ok = items && page;
    for (int i = 0; ok && i < rows && i < limit; i++)
        ok = json_array_append_new(items, db_row_json(res, i)) == 0;
    if (ok && json_object_set_new(page, "items", items) == 0) {
        items = NULL;
        ok = json_object_set_new(page, "truncated", json_boolean(rows > limit)) == 0;
    }
    json_decref(items);
    if (!ok) {
        json_decref(page);
        page = NULL; /* api_reply_json answers 500 "out of memory" */
    }
    api_reply_json(r, 200, page);
    PQclear(res);
}
