/*
 * api_rollouts.c - staged rollouts on the operator API: list (live=true
 * for the running, paused and halted ones), show (counts per state, the
 * devices eligible, the health figures and why it halted), start, widen,
 * pause, resume and abort (operator). Every body is read whole and checked
 * here, member by member, before the database is asked; the change itself
 * is db_update.h's, as `vigilctl rollout` makes it, with its audit row
 * naming the token and the NOTIFY every vigild follows.
 */
#include "server/api/api_handlers.h"

#include "db/db_update.h"
#include "protocol/device_id.h"
#include "server/api/api_db.h"
#include "server/api/api_param.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const no_params[] = {NULL};
static const char *const no_members[] = {NULL};
static const char *const booleans[] = {"true", "false", NULL};

/* GET /v1/rollouts?live=true&limit=: newest first. */
void api_rollouts_list(api_req *r)
{
    static const char *const names[] = {"live", "limit", NULL};
    int live = 1, limit;
    if (api_param_only(r, names) < 0 || api_param_enum(r, "live", booleans, &live) < 0 ||
        api_param_limit(r, &limit) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err;
    PGresult *res = db_rollout_list(db, live == 0, limit + 1, &err);
    if (!res)
        api_pool_fail(r, &err);
    else
        api_db_reply_list(r, res, limit);
}

/* The rollout id of the path (api.c checked it is 1..INT64_MAX). */
static int64_t path_rollout(const api_req *r)
{
    return strtoll(r->path_args[0], NULL, 10);
}

/* GET /v1/rollouts/{rollout}. */
void api_rollouts_get(api_req *r)
{
    if (api_param_only(r, no_params) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err = {0};
    db_refusal why = {DB_ACCEPTED, ""};
    api_db_reply_row(r, db_rollout_get(db, path_rollout(r), &why, &err), &why, &err);
}

/* ---- bodies ---- */

/* "percent" of body, required: 0 with *basis_points, or -1 after
 * answering 400. */
static int body_percent(api_req *r, json_t *body, int *basis_points)
{
    json_t *v = json_object_get(body, "percent");
    if (!v) {
        api_error(r, 400, "bad_request", "percent",
                  "'percent' is required: a number from 0.01 to 100 in steps of 0.01, such as "
                  "10 or 2.5");
        return -1;
    }
    if (!json_is_number(v) || api_value_percent(json_number_value(v), basis_points) < 0)
        return api_param_refuse_json(r, "percent", v,
                                     "must be a number from 0.01 to 100 in steps of 0.01, such "
                                     "as 10 or 2.5");
    return 0;
}

/* An optional number in [min, max] (above min when open). 0 absent, 1,
 * or -1 after answering 400 with what. */
static int body_number(api_req *r, json_t *body, const char *name, double min, int open, double max,
                       const char *what, double *out)
{
    json_t *v = json_object_get(body, name);
    if (!v)
        return 0;
    double d = json_is_number(v) ? json_number_value(v) : min - 1;
    if (!(open ? d > min : d >= min) || !(d <= max))
        return api_param_refuse_json(r, name, v, "must be %s", what);
    *out = d;
    return 1;
}

/* An optional whole number in [1, DB_ROLLOUT_COUNT_MAX]. */
static int body_count(api_req *r, json_t *body, const char *name, int *out)
{
    json_t *v = json_object_get(body, name);
    if (!v)
        return 0;
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
    if (n < 1 || n > DB_ROLLOUT_COUNT_MAX)
        return api_param_refuse_json(r, name, v, "must be a whole number from 1 to %d",
                                     DB_ROLLOUT_COUNT_MAX);
    *out = (int)n;
    return 1;
}

/* "release": an id (a JSON integer, or its decimal text), "CLASS/VERSION"
 * or a version; as text into buf. */
static int body_release(api_req *r, json_t *body, char *buf, size_t len, const char **out)
{
    json_t *v = json_object_get(body, "release");
    const char *s = json_string_value(v);
    if (json_is_integer(v) && json_integer_value(v) >= 1) {
        snprintf(buf, len, "%lld", (long long)json_integer_value(v));
        *out = buf;
        return 0;
    }
    if (s && api_value_release_ref(s)) {
        *out = s;
        return 0;
    }
    static const char what[] = "the release to roll out: its id (12), \"CLASS/VERSION\" "
                               "(\"sensor/1.4.0\") or a version that only one class has (see GET "
                               "/v1/releases)";
    if (v)
        return api_param_refuse_json(r, "release", v, "does not name %s", what);
    api_error(r, 400, "bad_request", "release", "'release' is required: it names %s", what);
    return -1;
}

/* "health_window": a duration as text ("24h", "90m", "7d"; a bare number
 * is seconds), 60 s to 365 days. */
static int body_health_window(api_req *r, json_t *body, int64_t *out)
{
    json_t *v = json_object_get(body, "health_window");
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    int64_t secs;
    if (!s || strlen(s) > 32 || api_value_duration(s, DB_ROLLOUT_HEALTH_WINDOW_MAX_S, &secs) < 0 ||
        secs < DB_ROLLOUT_HEALTH_WINDOW_MIN_S)
        return api_param_refuse_json(r, "health_window", v,
                                     "must be a duration string from 60s to 365d, such as "
                                     "\"24h\", \"90m\" or \"7d\"");
    *out = secs;
    return 1;
}

/* "group": a tag (a device-id-like word). */
static int body_group(api_req *r, json_t *body, const char **out)
{
    json_t *v = json_object_get(body, "group");
    if (!v)
        return 0;
    const char *s = json_string_value(v);
    if (!s || !device_id_valid(s))
        return api_param_refuse_json(
            r, "group", v, "is not a device tag: " DEVICE_ID_RULE " (see vigilctl device tag)");
    *out = s;
    return 1;
}

/* The whole body of POST /v1/rollouts into n (0: db/'s defaults). 0 or -1
 * after answering 400 naming the member. */
static int start_body(api_req *r, json_t *body, db_rollout_new *n, char *ref, size_t ref_len)
{
    memset(n, 0, sizeof(*n));
    if (body_release(r, body, ref, ref_len, &n->release_ref) < 0 ||
        body_percent(r, body, &n->basis_points) < 0 ||
        body_number(r, body, "error_threshold", 0, 1, 1,
                    "a number above 0 and at most 1 (0.1 halts when more than a tenth of the "
                    "reported installs failed)",
                    &n->error_threshold) < 0 ||
        body_count(r, body, "min_reports", &n->min_reports) < 0 ||
        body_health_window(r, body, &n->health_window_s) < 0 ||
        body_number(r, body, "health_ratio", 1, 0, DB_ROLLOUT_HEALTH_RATIO_MAX,
                    "a number from 1 to 1000 (2 halts when updated devices crash more than twice "
                    "as often as the others)",
                    &n->health_ratio) < 0 ||
        body_count(r, body, "health_min_crashes", &n->health_min_crashes) < 0 ||
        body_group(r, body, &n->group_tag) < 0)
        return -1;
    return 0;
}

/* ---- changes ---- */

static PGresult *start_rollout(PGconn *db, const db_actor *who, void *arg, db_refusal *why,
                               db_error *err)
{
    return db_rollout_start(db, who, arg, NULL, why, err);
}

/* POST /v1/rollouts: 201 with the rollout and its Location. */
void api_rollouts_start(api_req *r)
{
    static const char *const names[] = {
        "release",      "percent", "error_threshold",    "min_reports", "health_window",
        "health_ratio", "group",   "health_min_crashes", NULL};
    json_t *body = api_param_body(r, names);
    if (!body)
        return;
    db_rollout_new n;
    char ref[32];
    /* What db/ refuses as input once start_body passed it is the release
     * (a version of more than one class). */
    if (start_body(r, body, &n, ref, sizeof(ref)) == 0)
        api_db_change(r, start_rollout, &n,
                      &(api_db_answer){"release", "release", 201, "/v1/rollouts/"});
    json_decref(body); /* n points into it */
}

typedef struct rollout_change {
    int64_t id;
    int basis_points;
    const char *to;
} rollout_change;

static PGresult *widen_rollout(PGconn *db, const db_actor *who, void *arg, db_refusal *why,
                               db_error *err)
{
    const rollout_change *c = arg;
    return db_rollout_widen(db, who, c->id, c->basis_points, why, err);
}

/* POST /v1/rollouts/{rollout}/widen {"percent": P}. */
void api_rollouts_widen(api_req *r)
{
    static const char *const names[] = {"percent", NULL};
    json_t *body = api_param_body(r, names);
    if (!body)
        return;
    rollout_change c = {path_rollout(r), 0, NULL};
    if (body_percent(r, body, &c.basis_points) == 0)
        api_db_change(r, widen_rollout, &c, &(api_db_answer){"percent", NULL, 200, NULL});
    json_decref(body);
}

static PGresult *move_rollout(PGconn *db, const db_actor *who, void *arg, db_refusal *why,
                              db_error *err)
{
    const rollout_change *c = arg;
    return db_rollout_move(db, who, c->id, c->to, why, err);
}

/* pause, resume, abort: the body, if any, is {}. */
static void rollout_move(api_req *r, const char *to)
{
    json_t *body = api_param_body(r, no_members);
    if (!body)
        return;
    rollout_change c = {path_rollout(r), 0, to};
    api_db_change(r, move_rollout, &c, &(api_db_answer){NULL, NULL, 200, NULL});
    json_decref(body);
}

void api_rollouts_pause(api_req *r)
{
    rollout_move(r, "paused");
}

void api_rollouts_resume(api_req *r)
{
    rollout_move(r, "running");
}

void api_rollouts_abort(api_req *r)
{
    rollout_move(r, "aborted");
}
