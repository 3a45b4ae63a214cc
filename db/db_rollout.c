/*
 * db_rollout.c - staged rollouts and device tags (see db_update.h). A
 * rollout changes state only through the SQL function vigil_rollout_move
 * (migration 0006), which writes the audit row and the NOTIFY; starting
 * and widening are audited here. Starting one supersedes the class's live
 * rollout under a per-class lock, so two operators starting at once end
 * with one live rollout, the second.
 */
#include "db/db_update.h"

#include "db/db_sql.h"
#include "protocol/device_id.h"
#include "protocol/rollout.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIVE_STATES "('running', 'paused', 'halted')"

/* The rollout object without its counts. */
#define ROLLOUT_COLUMNS                                                                            \
    "o.id, o.release_id, r.version, o.device_class, r.security_version, o.group_tag, o.state,"     \
    " o.basis_points / 100.0::float8 AS percent, o.basis_points, o.error_threshold,"               \
    " o.min_reports, o.health_window_s, o.health_ratio, o.health_min_crashes, o.halt_reason,"      \
    " " TS("o.started_at") " AS started_at, " TS("o.updated_at") " AS updated_at, o.created_by"
#define ROLLOUT_FROM " FROM rollouts o JOIN releases r ON r.id = o.release_id"

PGresult *db_rollout_get(PGconn *conn, int64_t id, db_refusal *why, db_error *err)
{
    char id_text[24];
    memset(why, 0, sizeof(*why));
    snprintf(id_text, sizeof(id_text), "%" PRId64, id);
    const char *params[] = {id_text};
    PGresult *res = db_query(
        conn,
        "SELECT " ROLLOUT_COLUMNS ", c.offered, c.downloading, c.installed, c.failed,"
        " e.eligible, h.updated_devices, h.updated_crashes, h.updated_device_hours,"
        " h.updated_rate, h.control_devices, h.control_crashes, h.control_device_hours,"
        " h.control_rate" ROLLOUT_FROM
        " CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE d.state = 'offered') AS offered,"
        "  count(*) FILTER (WHERE d.state = 'downloading') AS downloading,"
        "  count(*) FILTER (WHERE d.state = 'installed') AS installed,"
        "  count(*) FILTER (WHERE d.state = 'failed') AS failed"
        "  FROM rollout_devices d WHERE d.rollout_id = o.id) c"
        " CROSS JOIN LATERAL (SELECT count(*) AS eligible FROM devices dv"
        "  WHERE dv.device_class = o.device_class AND dv.status = 'active'"
        "   AND (o.group_tag IS NULL OR o.group_tag = ANY (dv.tags))"
        "   AND vigil_rollout_bucket(o.id, dv.id) < o.basis_points) e"
        " CROSS JOIN LATERAL vigil_rollout_health(o.id) h WHERE o.id = $1::int8",
        1, params, err);
    if (res && PQntuples(res) == 0) {
        PQclear(res);
        db_refuse(why, DB_REFUSED_NOT_FOUND, "no rollout %" PRId64, id);
        return NULL;
    }
    return res;
}

PGresult *db_rollout_list(PGconn *conn, int live_only, int limit, db_error *err)
{
    char lim[16];
    db_limit_text(limit, lim);
    const char *params[] = {live_only ? "t" : "f", lim};
    return db_query(conn,
                    "SELECT " ROLLOUT_COLUMNS ROLLOUT_FROM
                    " WHERE NOT $1::boolean OR o.state IN " LIVE_STATES
                    " ORDER BY o.id DESC LIMIT $2::int",
                    2, params, err);
}

/* The values of a new rollout, defaults filled in, before the database. */
static int rollout_new_check(const db_rollout_new *in, db_rollout_new *r, db_refusal *why)
{
    *r = *in;
    r->error_threshold = in->error_threshold ? in->error_threshold : DB_ROLLOUT_ERROR_THRESHOLD;
    r->min_reports = in->min_reports ? in->min_reports : DB_ROLLOUT_MIN_REPORTS;
    r->health_window_s = in->health_window_s ? in->health_window_s : DB_ROLLOUT_HEALTH_WINDOW_S;
    r->health_ratio = in->health_ratio ? in->health_ratio : DB_ROLLOUT_HEALTH_RATIO;
    r->health_min_crashes =
        in->health_min_crashes ? in->health_min_crashes : DB_ROLLOUT_HEALTH_MIN_CRASHES;
    if (r->basis_points < 1 || r->basis_points > ROLLOUT_BASIS_POINTS)
        return db_refuse(why, DB_REFUSED_INPUT, "a rollout reaches 0.01 to 100 percent");
    if (r->group_tag && !device_id_valid(r->group_tag))
        return db_refuse(why, DB_REFUSED_INPUT, "group tag '%.80s' is not valid: use %s",
                         r->group_tag, DEVICE_ID_RULE);
    if (!(r->error_threshold > 0 && r->error_threshold <= 1))
        return db_refuse(why, DB_REFUSED_INPUT,
                         "the error threshold is a share of failed installs above 0, at most 1");
    if (r->min_reports < 1 || r->min_reports > DB_ROLLOUT_COUNT_MAX || r->health_min_crashes < 1 ||
        r->health_min_crashes > DB_ROLLOUT_COUNT_MAX)
        return db_refuse(why, DB_REFUSED_INPUT, "the minimum reports and crashes are 1 to %d",
                         DB_ROLLOUT_COUNT_MAX);
    if (r->health_window_s < DB_ROLLOUT_HEALTH_WINDOW_MIN_S ||
        r->health_window_s > DB_ROLLOUT_HEALTH_WINDOW_MAX_S)
        return db_refuse(why, DB_REFUSED_INPUT, "the health window is 60s to 365d");
    if (!(r->health_ratio >= 1 && r->health_ratio <= DB_ROLLOUT_HEALTH_RATIO_MAX))
        return db_refuse(why, DB_REFUSED_INPUT, "the health ratio is 1 to %g",
                         DB_ROLLOUT_HEALTH_RATIO_MAX);
    return 0;
}

/* The release may be rolled out: not revoked, not expired. Its class into
 * cls. */
static int release_usable(PGconn *conn, int64_t release_id, char cls[DEVICE_ID_MAX + 1],
                          db_refusal *why, db_error *err)
{
    char id_text[24];
    snprintf(id_text, sizeof(id_text), "%" PRId64, release_id);
    const char *params[] = {id_text};
    PGresult *res =
        db_query(conn,
                 "SELECT device_class, version, revoked_at IS NOT NULL,"
                 " expires_at <= now(), " TS("expires_at") " FROM releases WHERE id = $1::int8",
                 1, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQgetvalue(res, 0, 2)[0] == 't')
        rc = db_refuse(why, DB_REFUSED_CONFLICT,
                       "release %s (%s/%s) is revoked: it is never offered again; roll out "
                       "another release",
                       id_text, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    else if (PQgetvalue(res, 0, 3)[0] == 't')
        rc =
            db_refuse(why, DB_REFUSED_CONFLICT,
                      "release %s (%s/%s) expired at %s: devices refuse its manifest; create "
                      "a new release",
                      id_text, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 4));
    snprintf(cls, DEVICE_ID_MAX + 1, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* Locks the class (until commit) and picks the new rollout's id; then
 * supersedes the class's live rollout, seen after the lock. The ids
 * superseded into *superseded (a JSON array), the newest of them and its
 * state before into *old. The new id, or -1. */
static int64_t rollout_supersede(PGconn *conn, const db_actor *who, const char *cls,
                                 json_t **superseded, db_rollout_superseded *old, db_error *err)
{
    char lock[DEVICE_ID_MAX + 16], id_text[24];
    snprintf(lock, sizeof(lock), "vigil_rollout:%s", cls);
    if (db_xact_lock(conn, lock, err) < 0)
        return -1;
    PGresult *res =
        db_query(conn, "SELECT nextval(pg_get_serial_sequence('rollouts', 'id'))", 0, NULL, err);
    if (!res)
        return -1;
    snprintf(id_text, sizeof(id_text), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    const char *params[] = {cls, who->kind, who->name, id_text};
    res = db_query(conn,
                   "SELECT coalesce(json_agg(m.id ORDER BY m.id) FILTER (WHERE m.moved),"
                   " '[]'::json)::text, max(m.id) FILTER (WHERE m.moved),"
                   " (array_agg(m.state ORDER BY m.id DESC) FILTER (WHERE m.moved))[1]"
                   " FROM (SELECT o.id, o.state, vigil_rollout_move(o.id, 'superseded',"
                   "  $2, $3, jsonb_build_object('kind', 'superseded', 'by', $4::int8)) AS moved"
                   "  FROM rollouts o WHERE o.device_class = $1 AND o.state IN " LIVE_STATES
                   "  ORDER BY o.id) m",
                   4, params, err);
    if (!res)
        return -1;
    *superseded = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (!PQgetisnull(res, 0, 1)) {
        old->id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        snprintf(old->state, sizeof(old->state), "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return strtoll(id_text, NULL, 10);
}

/* Inserts the rollout under id; 0 or -1. */
static int rollout_insert(PGconn *conn, const db_actor *who, int64_t id, int64_t release_id,
                          const char *cls, const db_rollout_new *r, db_error *err)
{
    char rid[24], rel[24], bp[16], thr[32], minr[16], win[24], ratio[32], minc[16],
        by[DB_ACTOR_TEXT_LEN];
    snprintf(rid, sizeof(rid), "%" PRId64, id);
    snprintf(rel, sizeof(rel), "%" PRId64, release_id);
    snprintf(bp, sizeof(bp), "%d", r->basis_points);
    snprintf(thr, sizeof(thr), "%.17g", r->error_threshold);
    snprintf(minr, sizeof(minr), "%d", r->min_reports);
    snprintf(win, sizeof(win), "%" PRId64, r->health_window_s);
    snprintf(ratio, sizeof(ratio), "%.17g", r->health_ratio);
    snprintf(minc, sizeof(minc), "%d", r->health_min_crashes);
    db_actor_text(who, by);
    const char *params[] = {rid, rel, cls, r->group_tag, bp, thr, minr, win, ratio, minc, by};
    PGresult *res =
        db_query(conn,
                 "INSERT INTO rollouts (id, release_id, device_class, group_tag, basis_points,"
                 " error_threshold, min_reports, health_window_s, health_ratio,"
                 " health_min_crashes, created_by) VALUES ($1::int8, $2::int8, $3, $4, $5::int,"
                 " $6::float8, $7::int, $8::int8, $9::float8, $10::int, $11)",
                 11, params, err);
    PQclear(res);
    return res ? 0 : -1;
}

PGresult *db_rollout_start(PGconn *conn, const db_actor *who, const db_rollout_new *in,
                           db_rollout_superseded *old, db_refusal *why, db_error *err)
{
    db_rollout_new r;
    db_rollout_superseded none;
    int64_t release_id;
    char cls[DEVICE_ID_MAX + 1];
    json_t *superseded = NULL;
    memset(why, 0, sizeof(*why));
    old = old ? old : &none;
    memset(old, 0, sizeof(*old));
    if (rollout_new_check(in, &r, why) ||
        db_release_find(conn, in->release_ref, 1, &release_id, why, err) ||
        release_usable(conn, release_id, cls, why, err))
        return NULL;
    int64_t id = rollout_supersede(conn, who, cls, &superseded, old, err);
    if (id < 0 || rollout_insert(conn, who, id, release_id, cls, &r, err) < 0) {
        json_decref(superseded);
        return NULL;
    }
    json_t *details = json_pack(
        "{s:I, s:I, s:s, s:i, s:s?, s:f, s:i, s:I, s:f, s:i, s:o}", "rollout_id", (json_int_t)id,
        "release_id", (json_int_t)release_id, "class", cls, "basis_points", r.basis_points,
        "group_tag", r.group_tag, "error_threshold", r.error_threshold, "min_reports",
        r.min_reports, "health_window_s", (json_int_t)r.health_window_s, "health_ratio",
        r.health_ratio, "health_min_crashes", r.health_min_crashes, "superseded",
        superseded ? superseded : json_array());
    if (db_audit_json(conn, who, "rollout.start", NULL, NULL, details, err) < 0 ||
        db_update_notify(conn, "rollout", id, err) < 0)
        return NULL;
    return db_rollout_get(conn, id, why, err);
}

/* Locks the rollout; its state (into state) and basis points. 0, 1
 * refused (not found), -1. */
static int rollout_lock(PGconn *conn, int64_t id, char state[16], int *bp, db_refusal *why,
                        db_error *err)
{
    char id_text[24];
    snprintf(id_text, sizeof(id_text), "%" PRId64, id);
    const char *params[] = {id_text};
    PGresult *res = db_query(conn,
                             "SELECT state, basis_points FROM rollouts WHERE id = $1::int8"
                             " FOR UPDATE",
                             1, params, err);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        snprintf(state, 16, "%s", PQgetvalue(res, 0, 0));
        *bp = atoi(PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return found ? 0 : db_refuse(why, DB_REFUSED_NOT_FOUND, "no rollout %" PRId64, id);
}

static int is_live(const char *state)
{
    return !strcmp(state, "running") || !strcmp(state, "paused") || !strcmp(state, "halted");
}

PGresult *db_rollout_widen(PGconn *conn, const db_actor *who, int64_t id, int basis_points,
                           db_refusal *why, db_error *err)
{
    char state[16], id_text[24], bp_text[16], from[ROLLOUT_PERCENT_LEN], to[ROLLOUT_PERCENT_LEN];
    int bp;
    memset(why, 0, sizeof(*why));
    if (basis_points < 1 || basis_points > ROLLOUT_BASIS_POINTS) {
        db_refuse(why, DB_REFUSED_INPUT, "a rollout reaches 0.01 to 100 percent");
        return NULL;
    }
    if (rollout_lock(conn, id, state, &bp, why, err))
        return NULL;
    rollout_percent_format(bp, from);
    rollout_percent_format(basis_points, to);
    if (!is_live(state)) {
        db_refuse(why, DB_REFUSED_CONFLICT,
                  "rollout %" PRId64 " is %s: only a live rollout widens; start a new one", id,
                  state);
        return NULL;
    }
    if (basis_points <= bp) {
        db_refuse(why, DB_REFUSED_CONFLICT,
                  "rollout %" PRId64 " reaches %s%% already: widening only adds devices, so give "
                  "more than %s%% (not %s%%)",
                  id, from, from, to);
        return NULL;
    }
    snprintf(id_text, sizeof(id_text), "%" PRId64, id);
    snprintf(bp_text, sizeof(bp_text), "%d", basis_points);
    const char *params[] = {id_text, bp_text};
    PGresult *res = db_query(conn,
                             "UPDATE rollouts SET basis_points = $2::int, updated_at = now()"
                             " WHERE id = $1::int8",
                             2, params, err);
    PQclear(res);
    if (!res)
        return NULL;
    json_t *details =
        json_pack("{s:I, s:i, s:i, s:s}", "rollout_id", (json_int_t)id, "from_basis_points", bp,
                  "to_basis_points", basis_points, "state", state);
    if (db_audit_json(conn, who, "rollout.widen", NULL, NULL, details, err) < 0 ||
        db_update_notify(conn, "rollout", id, err) < 0)
        return NULL;
    return db_rollout_get(conn, id, why, err);
}

/* Why vigil_rollout_move refused to move a rollout in state to `to`. */
static void move_refusal(int64_t id, const char *state, const char *to, db_refusal *why)
{
    if (!is_live(state))
        db_refuse(why, DB_REFUSED_CONFLICT,
                  "rollout %" PRId64 " is %s: it is over; start a new rollout", id, state);
    else if (!strcmp(to, "paused"))
        db_refuse(why, DB_REFUSED_CONFLICT,
                  "rollout %" PRId64 " is %s: only a running rollout pauses%s", id, state,
                  !strcmp(state, "halted") ? " (resume or abort a halted one)" : "");
    else if (!strcmp(to, "running"))
        db_refuse(why, DB_REFUSED_CONFLICT,
                  "rollout %" PRId64 " is running: only a paused or halted rollout resumes", id);
    else
        db_refuse(why, DB_REFUSED_CONFLICT, "rollout %" PRId64 " is %s: it cannot move to %s", id,
                  state, to);
}

PGresult *db_rollout_move(PGconn *conn, const db_actor *who, int64_t id, const char *to,
                          db_refusal *why, db_error *err)
{
    char state[16], id_text[24];
    int bp;
    memset(why, 0, sizeof(*why));
    if (!to || (strcmp(to, "paused") && strcmp(to, "running") && strcmp(to, "aborted"))) {
        db_refuse(why, DB_REFUSED_INPUT, "a rollout is moved to paused, running or aborted");
        return NULL;
    }
    if (rollout_lock(conn, id, state, &bp, why, err))
        return NULL;
    snprintf(id_text, sizeof(id_text), "%" PRId64, id);
    const char *params[] = {id_text, to, who->kind, who->name};
    PGresult *res =
        db_query(conn, "SELECT vigil_rollout_move($1::int8, $2, $3, $4)", 4, params, err);
    if (!res)
        return NULL;
    int moved = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!moved) {
        move_refusal(id, state, to, why);
        return NULL;
    }
    return db_rollout_get(conn, id, why, err);
}

/* ---- device tags ---- */

/* The tags as a JSON array (text, malloc'd), each checked; NULL refused. */
static char *tags_json(const char *const *tags, int n, db_refusal *why)
{
    if (n < 1 || n > DB_DEVICE_TAGS_MAX) {
        db_refuse(why, DB_REFUSED_INPUT, "give 1 to %d tags", DB_DEVICE_TAGS_MAX);
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        if (!device_id_valid(tags[i])) {
            db_refuse(why, DB_REFUSED_INPUT, "tag '%.80s' is not valid: use %s",
                      tags[i] ? tags[i] : "", DEVICE_ID_RULE);
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, json_string(tags[i]));
    }
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (!text)
        db_refuse(why, DB_REFUSED_INPUT, "out of memory");
    return text;
}

/* The first two columns of res (device_id and tags, one row) alone: the
 * device's tags when nothing changes. NULL (err) when out of memory. */
static PGresult *tags_result(const PGresult *res, db_error *err)
{
    PGresAttDesc cols[2];
    for (int c = 0; c < 2; c++)
        cols[c] = (PGresAttDesc){PQfname(res, c),   PQftable(res, c), PQftablecol(res, c),
                                 PQfformat(res, c), PQftype(res, c),  PQfsize(res, c),
                                 PQfmod(res, c)};
    PGresult *out = PQcopyResult(res, 0);
    if (out && PQsetResultAttrs(out, 2, cols) &&
        PQsetvalue(out, 0, 0, PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0)) &&
        PQsetvalue(out, 0, 1, PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1)))
        return out;
    PQclear(out);
    snprintf(err->msg, sizeof(err->msg), "out of memory");
    return NULL;
}

PGresult *db_device_tags(PGconn *conn, const db_actor *who, const char *device_id,
                         const char *const *tags, int n, int add, db_refusal *why, db_error *err)
{
    memset(why, 0, sizeof(*why));
    if (!device_id_valid(device_id)) {
        db_refuse(why, DB_REFUSED_INPUT, "device id '%.80s' is not valid: use %s",
                  device_id ? device_id : "", DEVICE_ID_RULE);
        return NULL;
    }
    char *list = tags_json(tags, n, why);
    if (!list)
        return NULL;
    const char *params[] = {device_id, list, add ? "t" : "f"};
    /* Added tags go after the ones the device has, each once. */
    PGresult *res = db_query(
        conn,
        "WITH d AS (SELECT id, tags FROM devices WHERE id = $1 FOR UPDATE),"
        " want AS (SELECT t, min(i) AS i FROM jsonb_array_elements_text($2::jsonb)"
        "  WITH ORDINALITY AS x(t, i) GROUP BY t),"
        " now AS (SELECT d.id, CASE WHEN $3::boolean THEN d.tags || ARRAY(SELECT t FROM want"
        "   WHERE t <> ALL (d.tags) ORDER BY i)"
        "  ELSE ARRAY(SELECT t FROM unnest(d.tags) WITH ORDINALITY AS y(t, i)"
        "   WHERE t NOT IN (SELECT t FROM want) ORDER BY i) END AS tags FROM d)"
        " SELECT now.id AS device_id, to_json(now.tags) AS tags, cardinality(now.tags),"
        " now.tags <> d.tags FROM now JOIN d ON d.id = now.id",
        3, params, err);
    if (!res)
        goto fail;
    if (PQntuples(res) == 0) {
        db_refuse(why, DB_REFUSED_NOT_FOUND, "no device %s", device_id);
        goto fail;
    }
    if (atoi(PQgetvalue(res, 0, 2)) > DB_DEVICE_TAGS_MAX) {
        db_refuse(why, DB_REFUSED_INPUT, "device %s would have %s tags: at most %d", device_id,
                  PQgetvalue(res, 0, 2), DB_DEVICE_TAGS_MAX);
        goto fail;
    }
    const char *set[] = {device_id, PQgetvalue(res, 0, 1)};
    if (PQgetvalue(res, 0, 3)[0] != 't') { /* nothing to change, audit or notify */
        PGresult *same = tags_result(res, err);
        PQclear(res);
        free(list);
        return same;
    }
    PGresult *upd = db_query(
        conn,
        "WITH u AS (UPDATE devices SET tags = ARRAY(SELECT jsonb_array_elements_text($2::jsonb)),"
        "  updated_at = now() WHERE id = $1 RETURNING id, tags)"
        " SELECT u.id AS device_id, to_json(u.tags) AS tags FROM u,"
        " LATERAL (SELECT pg_notify('vigil_registry', json_build_object('event', 'device_tags',"
        "  'device_id', u.id, 'tags', u.tags)::text)) n",
        2, set, err);
    json_t *details =
        upd ? json_pack("{s:o, s:o}", add ? "added" : "removed", json_loads(list, 0, NULL), "tags",
                        json_loads(PQgetvalue(upd, 0, 1), 0, NULL))
            : NULL;
    PQclear(res);
    res = upd;
    if (!upd || db_audit_json(conn, who, add ? "device.tag" : "device.untag", device_id, NULL,
                              details, err) < 0)
        goto fail;
    free(list);
    return res;
fail:
    PQclear(res);
    free(list);
    return NULL;
}
