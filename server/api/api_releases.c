/*
 * api_releases.c - releases on the operator API: list (filters class and
 * state), show (with the signed manifest) and revoke (admin). A release is
 * made only by `vigilctl release create`, which signs its manifest with a
 * release key that never reaches a server; the API reads and revokes what
 * vigilctl stored. Revocation is db_release_revoke (db_update.h): the same
 * checks, audit rows and NOTIFY as `vigilctl release revoke`, and a live
 * rollout of the release is aborted with it.
 */
#include "server/api/api_handlers.h"

#include "db/db_update.h"
#include "protocol/device_id.h"
#include "server/api/api_db.h"
#include "server/api/api_param.h"

#include <stdio.h>
#include <string.h>

static const char *const no_params[] = {NULL};
static const char *const release_states[] = {"active", "revoked", "expired", NULL};

#define RELEASE_REASON_MAX 256 /* characters (at most 1024 bytes: db/ takes that) */

static int param_class(api_req *r, const char **out)
{
    const char *v = NULL;
    int rc = api_param_text(r, "class", DEVICE_ID_MAX, &v);
    if (rc == 1 && !device_id_valid(v))
        return api_param_refuse(r, "class", v, "is not a device class: " DEVICE_ID_RULE);
    *out = v;
    return rc;
}

/* GET /v1/releases?class=&state=&limit=: newest first. */
void api_releases_list(api_req *r)
{
    static const char *const names[] = {"class", "state", "limit", NULL};
    const char *cls = NULL, *state = NULL;
    int limit;
    if (api_param_only(r, names) < 0 || param_class(r, &cls) < 0 ||
        api_param_choice(r, "state", release_states, &state) < 0 || api_param_limit(r, &limit) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err;
    PGresult *res = db_release_list(db, cls, state, limit + 1, &err);
    if (!res)
        api_pool_fail(r, &err);
    else
        api_db_reply_list(r, res, limit);
}

/* GET /v1/releases/{release}: by id, CLASS/VERSION or a version. */
void api_releases_get(api_req *r)
{
    if (api_param_only(r, no_params) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err = {0};
    db_refusal why = {DB_ACCEPTED, ""};
    api_db_reply_row(r, db_release_get(db, r->path_args[0], &why, &err), &why, &err);
}

typedef struct release_revoke {
    const char *ref, *reason;
} release_revoke;

static PGresult *revoke_release(PGconn *db, const db_actor *who, void *arg, db_refusal *why,
                                db_error *err)
{
    const release_revoke *v = arg;
    return db_release_revoke(db, who, v->ref, v->reason, why, err);
}

/* POST /v1/releases/{release}/revoke {"reason": text, optional}. */
void api_releases_revoke(api_req *r)
{
    static const char *const names[] = {"reason", NULL};
    json_t *body = api_param_body(r, names);
    if (!body)
        return;
    release_revoke v = {r->path_args[0], NULL};
    if (api_param_body_text(r, body, "reason", RELEASE_REASON_MAX, &v.reason) >= 0)
        api_db_change(r, revoke_release, &v, &(api_db_answer){"reason", NULL, 200, NULL});
    json_decref(body); /* the reason points into it */
}
