/*
 * reg_update.c - the update view and its loader (see reg_update.h). The
 * current view is a core/snapshot.h snapshot, as gateway/gw_ca.c's CA set
 * is; releases are kept sorted by id and rollouts by class, for binary
 * search.
 */
#include "server/registry/reg_update.h"

#include "protocol/device_id.h"
#include "protocol/rollout.h"
#include "server/core/log.h"
#include "server/core/pg_async.h"
#include "server/core/snapshot.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reg_update {
    snapshot base; /* first: the reference count */
    char *jwks;
    size_t jwks_len;
    reg_release *releases; /* by id */
    size_t n_releases;
    reg_rollout *rollouts; /* by class (strcmp) */
    size_t n_rollouts;
};

static snapshot_slot current = SNAPSHOT_SLOT_INIT;

/* ---- the snapshot ---- */

static void view_free(reg_update *u)
{
    for (size_t i = 0; i < u->n_releases; i++)
        free(u->releases[i].manifest);
    free(u->releases);
    free(u->rollouts);
    free(u->jwks);
    free(u);
}

static void view_destroy(snapshot *s)
{
    view_free((reg_update *)s);
}

static void install(reg_update *u)
{
    snapshot_install(&current, u ? &u->base : NULL);
}

reg_update *reg_update_current(void)
{
    return (reg_update *)snapshot_current(&current);
}

void reg_update_unref(reg_update *u)
{
    snapshot_release(u ? &u->base : NULL);
}

void reg_update_shutdown(void)
{
    install(NULL);
}

const char *reg_update_jwks(const reg_update *u, size_t *len)
{
    *len = u->jwks_len;
    return u->jwks;
}

static int rollout_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const reg_rollout *)elem)->device_class);
}

const reg_rollout *reg_update_rollout(const reg_update *u, const char *device_class)
{
    return bsearch(device_class, u->rollouts, u->n_rollouts, sizeof(*u->rollouts), rollout_cmp);
}

static int release_cmp(const void *key, const void *elem)
{
    int64_t id = *(const int64_t *)key, other = ((const reg_release *)elem)->id;
    return id < other ? -1 : id > other;
}

const reg_release *reg_update_release(const reg_update *u, int64_t id)
{
    return bsearch(&id, u->releases, u->n_releases, sizeof(*u->releases), release_cmp);
}

const reg_release *reg_update_artifact(const reg_update *u, const char *sha256,
                                       const char *device_class)
{
    /* one scan per download (not per chunk): releases are few */
    for (size_t i = 0; i < u->n_releases; i++)
        if (strcmp(u->releases[i].sha256, sha256) == 0 &&
            strcmp(u->releases[i].device_class, device_class) == 0)
            return &u->releases[i];
    return NULL;
}

/* ---- building one from the database's answer ---- */

static int parse_release(const json_t *o, reg_release *r)
{
    const char *version, *cls, *sha, *jws;
    json_int_t id, sv, size, chunk, exp;
    if (json_unpack((json_t *)o, "{s:I, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:s}", "id", &id,
                    "version", &version, "class", &cls, "security_version", &sv, "sha256", &sha,
                    "size", &size, "chunk_size", &chunk, "expires_at", &exp, "manifest",
                    &jws) < 0 ||
        !manifest_version_valid(version) || !device_id_valid(cls) || !manifest_sha256_valid(sha) ||
        size <= 0 || chunk < 4096 || chunk > 1048576 || strlen(jws) > MANIFEST_JWS_MAX)
        return -1;
    r->id = id;
    r->security_version = sv;
    r->size = size;
    r->chunk_size = (int)chunk;
    r->expires_at = exp;
    if (manifest_copy_text(r->version, sizeof(r->version), version) < 0 ||
        manifest_copy_text(r->device_class, sizeof(r->device_class), cls) < 0 ||
        manifest_copy_text(r->sha256, sizeof(r->sha256), sha) < 0 || !(r->manifest = strdup(jws)))
        return -1;
    r->manifest_len = strlen(jws);
    return 0;
}

static int parse_rollout(const json_t *o, reg_rollout *r)
{
    const char *cls, *state, *group = json_string_value(json_object_get(o, "group_tag"));
    json_int_t id, release, bp;
    if (json_unpack((json_t *)o, "{s:I, s:I, s:s, s:s, s:I}", "id", &id, "release_id", &release,
                    "class", &cls, "state", &state, "basis_points", &bp) < 0 ||
        bp < 1 || bp > ROLLOUT_BASIS_POINTS ||
        manifest_copy_text(r->device_class, sizeof(r->device_class), cls) < 0 ||
        manifest_copy_text(r->group_tag, sizeof(r->group_tag), group ? group : "") < 0)
        return -1;
    if (strcmp(state, "running") == 0)
        r->state = REG_ROLLOUT_RUNNING;
    else if (strcmp(state, "paused") == 0)
        r->state = REG_ROLLOUT_PAUSED;
    else if (strcmp(state, "halted") == 0)
        r->state = REG_ROLLOUT_HALTED;
    else
        return -1;
    r->id = id;
    r->release_id = release;
    r->basis_points = (int)bp;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    return release_cmp(&((const reg_release *)a)->id, b);
}

static int by_class(const void *a, const void *b)
{
    return rollout_cmp(((const reg_rollout *)a)->device_class, b);
}

/* A row it cannot read is left out (and logged): a release it cannot
 * describe is not served, a rollout it cannot read offers nothing. */
static int fill_lists(reg_update *u, const json_t *releases, const json_t *rollouts)
{
    size_t i;
    const json_t *o;
    u->releases = calloc(json_array_size(releases) + 1, sizeof(*u->releases));
    u->rollouts = calloc(json_array_size(rollouts) + 1, sizeof(*u->rollouts));
    if (!u->releases || !u->rollouts)
        return -1;
    json_array_foreach(releases, i, o) {
        if (parse_release(o, &u->releases[u->n_releases]) == 0)
            u->n_releases++;
        else
            log_warn("update view: a release row cannot be read; it is not served", NULL);
    }
    json_array_foreach(rollouts, i, o) {
        if (parse_rollout(o, &u->rollouts[u->n_rollouts]) == 0)
            u->n_rollouts++;
        else
            log_warn("update view: a rollout row cannot be read; it offers nothing", NULL);
    }
    qsort(u->releases, u->n_releases, sizeof(*u->releases), by_id);
    qsort(u->rollouts, u->n_rollouts, sizeof(*u->rollouts), by_class);
    return 0;
}

static reg_update *view_build(const char *jwks_text, const char *releases_text,
                              const char *rollouts_text)
{
    json_error_t jerr;
    json_t *jwks = json_loads(jwks_text, JSON_REJECT_DUPLICATES, &jerr);
    json_t *releases = json_loads(releases_text, 0, &jerr);
    json_t *rollouts = json_loads(rollouts_text, 0, &jerr);
    reg_update *u = calloc(1, sizeof(*u));
    if (!u || !json_is_object(jwks) || !json_is_array(json_object_get(jwks, "keys")) ||
        !json_is_array(releases) || !json_is_array(rollouts) ||
        !(u->jwks = json_dumps(jwks, JSON_COMPACT)) || fill_lists(u, releases, rollouts) < 0) {
        if (u)
            view_free(u);
        u = NULL;
    } else {
        snapshot_init(&u->base, view_destroy);
        u->jwks_len = strlen(u->jwks);
    }
    json_decref(jwks);
    json_decref(releases);
    json_decref(rollouts);
    return u;
}

/* ---- the loader ---- */

/* One statement, so keys, releases and rollouts come from one snapshot.
 * A JWK is served with its kid, alg and use, never a private member. */
static const char load_sql[] =
    "SELECT"
    " (SELECT json_build_object("
    "   'keys', coalesce(json_agg(jsonb_build_object('alg', 'ES256', 'use', 'sig')"
    "             || (k.jwk - 'd' - 'key_ops') || jsonb_build_object('kid', k.kid)"
    "             ORDER BY k.created_at, k.kid), '[]'),"
    "   'endorsements', coalesce(json_agg(k.endorsement ORDER BY k.created_at, k.kid)"
    "             FILTER (WHERE k.endorsement IS NOT NULL), '[]'))"
    "  FROM release_keys k)::text,"
    " (SELECT coalesce(json_agg(json_build_object('id', r.id, 'version', r.version,"
    "   'class', r.device_class, 'security_version', r.security_version,"
    "   'sha256', r.artifact_sha256, 'size', a.size, 'chunk_size', a.chunk_size,"
    "   'expires_at', extract(epoch FROM r.expires_at)::int8, 'manifest', r.manifest)"
    "   ORDER BY r.id), '[]')"
    "  FROM releases r JOIN artifacts a ON a.sha256 = r.artifact_sha256"
    "  WHERE r.revoked_at IS NULL AND r.size = a.size)::text,"
    " (SELECT coalesce(json_agg(json_build_object('id', o.id, 'release_id', o.release_id,"
    "   'class', o.device_class, 'group_tag', o.group_tag, 'state', o.state,"
    "   'basis_points', o.basis_points) ORDER BY o.id), '[]')"
    "  FROM rollouts o WHERE o.state IN ('running', 'paused', 'halted'))::text";

struct reg_update_sync {
    pg_async_conn *pg;
    int loading, load_again;
    int stopped;
};

static void start_load(reg_update_sync *s);

static void on_loaded(PGresult *res, void *arg)
{
    reg_update_sync *s = arg;
    s->loading = 0;
    if (s->stopped) {
        free(s);
        return;
    }
    if (!res) /* connection lost: the next connection loads again */
        return;
    reg_update *u =
        PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
            ? view_build(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2))
            : NULL;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("update view load failed", "error", PQresultErrorMessage(res), NULL);
    } else if (!u) {
        log_error("update view load failed", "error", "cannot read the answer", NULL);
    } else {
        size_t nr = u->n_releases, no = u->n_rollouts;
        install(u);
        log_info_fields("update view loaded", LOG_INT("releases", nr), LOG_INT("live_rollouts", no));
    }
    if (s->load_again)
        start_load(s);
}

static void start_load(reg_update_sync *s)
{
    if (s->loading) {
        s->load_again = 1;
        return;
    }
    s->load_again = 0;
    if (pg_async_query(s->pg, load_sql, 0, NULL, on_loaded, s) == 0)
        s->loading = 1;
}

static void on_listening(PGresult *res, void *arg)
{
    (void)arg;
    if (res && PQresultStatus(res) != PGRES_COMMAND_OK)
        log_error("LISTEN vigil_update failed", "error", PQresultErrorMessage(res), NULL);
}

/* LISTEN first, then load: a change committed between the two is both in
 * the load and in a NOTIFY, which is harmless. */
static void on_state(pg_async_conn *c, int up, void *arg)
{
    reg_update_sync *s = arg;
    if (!up)
        return;
    if (pg_async_query(c, "LISTEN vigil_update", 0, NULL, on_listening, s) < 0)
        log_error("cannot LISTEN on vigil_update", NULL);
    start_load(s);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)channel;
    log_debug("update change", "payload", payload, NULL);
    start_load(arg);
}

reg_update_sync *reg_update_sync_start(uv_loop_t *loop, const char *database_url)
{
    reg_update_sync *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (!(s->pg = pg_async_new(loop, database_url, "vigild-update", on_state, on_notify, s))) {
        free(s);
        return NULL;
    }
    return s;
}

void reg_update_sync_stop(reg_update_sync *s)
{
    if (!s)
        return;
    s->stopped = 1;
    int loading = s->loading;
    pg_async_close(s->pg); /* a load in flight is answered NULL now: on_loaded frees s */
    if (!loading)
        free(s);
}
