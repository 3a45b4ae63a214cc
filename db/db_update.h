/*
 * db_update.h - the operator's side of signed updates (migration 0006):
 * release keys (public halves), releases with their artifacts, staged
 * rollouts, and device tags. vigilctl and the operator API both call
 * these, so a rollout is started, widened, paused, resumed or aborted, and
 * a release revoked, with the same checks, audit rows and NOTIFYs from
 * either.
 *
 * Like db_renewal.h, each runs inside a transaction the caller opened with
 * db_begin(); audit rows (as `who`) and the NOTIFYs on channel
 * vigil_update ({"kind": "keys" | "release" | "rollout", "id": N}) commit
 * with it. A refusal sets why (db_refusal, from db_renewal.h) and returns
 * NULL / -1 with nothing written; NULL / -1 with why->kind DB_ACCEPTED is
 * a database failure (err).
 *
 * Result columns are named where each function is; db_row_json turns a row
 * into the JSON object the API answers and `--json` prints.
 */
#ifndef VIGIL_DB_UPDATE_H
#define VIGIL_DB_UPDATE_H

#include "db/db.h"
#include "db/db_renewal.h"

#include <stdint.h>

#include <jansson.h>

/* ---- release keys ---- */

/* Adds a public JWK (kid = its thumbprint) and makes it the active key;
 * the key active before it (if any) stays, verifying. endorsement: the
 * compact JWS by the previous active key listing this one, NULL for the
 * first key (and then there must be no key yet). The endorsement must
 * verify with endorsed_by, the active key, and list this key. Audited
 * release.key_init / release.key_rotate; notified {"kind":"keys","id":0}.
 * Refused (why): a kid stored already, a second first key, an endorser
 * that is not the active key (CONFLICT); a JWK that is not a P-256 public
 * key named by its thumbprint, an endorsement that does not verify
 * (INPUT). Returns 0 or -1. */
int db_release_key_add(PGconn *conn, const db_actor *who, const char *kid, const json_t *jwk,
                       const char *endorsement, const char *endorsed_by, db_refusal *why,
                       db_error *err);
/* kid of the active key (into out, 44 bytes); 0, 1 if there is none, -1. */
int db_release_key_active(PGconn *conn, char out[44], db_error *err);
/* The JWKS a device fetches: {"keys": [every public JWK, oldest first],
 * "endorsements": [every endorsement, oldest first]}; NULL on failure. */
json_t *db_release_jwks(PGconn *conn, db_error *err);

/* ---- releases ---- */

/* Artifacts are stored in chunks of DB_ARTIFACT_CHUNK bytes (vigilctl's
 * choice; the table allows DB_ARTIFACT_CHUNK_MIN..MAX). */
#define DB_ARTIFACT_CHUNK (256 * 1024)
#define DB_ARTIFACT_CHUNK_MIN 4096
#define DB_ARTIFACT_CHUNK_MAX (1024 * 1024)

#define DB_RELEASE_NOTES_MAX 4096 /* bytes; releases.notes' CHECK */

typedef struct db_release_new {
    const char *version, *device_class, *notes; /* notes may be NULL */
    int64_t security_version;
    const char *sha256;      /* of the artifact, lowercase hex */
    int64_t size;
    int64_t issued_at, expires_at; /* Unix seconds */
    const char *kid;
    const char *manifest;    /* the compact JWS of these claims */
} db_release_new;

/* Stores one chunk of an artifact (chunk_size bytes except the last). Call
 * db_artifact_begin first: 1 if the artifact is stored already (skip the
 * chunks), 0 if its chunks are to be written, -1 on failure (err; also
 * for a digest, size or chunk size out of range). A second writer of the
 * same digest waits for the first's transaction. db_artifact_chunk: 0 or
 * -1 (a chunk longer than the chunk size, or an artifact not begun). */
int db_artifact_begin(PGconn *conn, const char *sha256, int64_t size, int chunk_size,
                      db_error *err);
int db_artifact_chunk(PGconn *conn, const char *sha256, int idx, const void *data, size_t len,
                      db_error *err);
/* Inserts the release and its audit row (release.create) and notifies.
 * Refused: duplicate version for the class, a security version below the
 * class's newest (DB_REFUSED_CONFLICT); a kid that is not the active key
 * or no key at all (CONFLICT); a manifest that does not verify with the
 * key or states other claims than r, an artifact not stored whole, a
 * value out of range (INPUT). Returns the release row (columns as
 * db_release_get). */
PGresult *db_release_insert(PGconn *conn, const db_actor *who, const db_release_new *r,
                            db_refusal *why, db_error *err);
/* The newest security version of a class (-1 if it has no release, -2
 * on failure). */
int64_t db_release_newest_security_version(PGconn *conn, const char *device_class,
                                           db_error *err);

/* Releases, newest first, optionally of one class and in one state
 * ("active" | "revoked" | "expired"; NULL: all), at most limit.
 * Columns: id, version, device_class, security_version, artifact_sha256,
 * size, kid, issued_at, expires_at, created_at, created_by, notes,
 * revoked_at, revoked_by, revoked_reason, state. */
PGresult *db_release_list(PGconn *conn, const char *device_class, const char *state, int limit,
                          db_error *err);
/* One release by id ("12") or by "CLASS/VERSION" or by a version unique
 * across classes; the columns above and manifest. NULL with why
 * DB_REFUSED_NOT_FOUND (or DB_REFUSED_INPUT when a version is ambiguous
 * or ref is none of these forms). All digits is an id: a version that is
 * all digits is named CLASS/VERSION. */
PGresult *db_release_get(PGconn *conn, const char *ref, db_refusal *why, db_error *err);
/* Revokes a release: it is never offered again, and a live rollout of it
 * is aborted (both audited: release.revoke with aborted_rollouts, and
 * rollout.aborted with reason {"kind":"release_revoked"}). Refused when
 * already revoked (CONFLICT), reason over 1024 bytes (INPUT). Returns the
 * release row. */
PGresult *db_release_revoke(PGconn *conn, const db_actor *who, const char *ref,
                            const char *reason, db_refusal *why, db_error *err);

/* ---- rollouts ---- */

/* What a 0 in db_rollout_new means (the table's defaults). */
#define DB_ROLLOUT_ERROR_THRESHOLD 0.1
#define DB_ROLLOUT_MIN_REPORTS 5
#define DB_ROLLOUT_HEALTH_WINDOW_S 86400
#define DB_ROLLOUT_HEALTH_RATIO 2.0
#define DB_ROLLOUT_HEALTH_MIN_CRASHES 3
/* The values db_rollout_start takes (vigilctl and the API check the same
 * before): basis_points 1..ROLLOUT_BASIS_POINTS (protocol/rollout.h),
 * min_reports and health_min_crashes 1..DB_ROLLOUT_COUNT_MAX, health_ratio
 * 1..DB_ROLLOUT_HEALTH_RATIO_MAX, the health window as the table's CHECK. */
#define DB_ROLLOUT_COUNT_MAX 1000000
#define DB_ROLLOUT_HEALTH_WINDOW_MIN_S 60
#define DB_ROLLOUT_HEALTH_WINDOW_MAX_S (365 * 86400)
#define DB_ROLLOUT_HEALTH_RATIO_MAX 1000.0

typedef struct db_rollout_new {
    const char *release_ref;   /* as db_release_get */
    int basis_points;          /* 1..10000 (percent x 100) */
    const char *group_tag;     /* NULL: every device of the class */
    double error_threshold;    /* 0: the default (0.1) */
    int min_reports;           /* 0: the default (5) */
    int64_t health_window_s;   /* 0: the default (86400) */
    double health_ratio;       /* 0: the default (2.0) */
    int health_min_crashes;    /* 0: the default (3) */
} db_rollout_new;

/* The live rollout a start superseded (id 0: none). */
typedef struct db_rollout_superseded {
    int64_t id;     /* the newest, if there were several */
    char state[16]; /* its state before: running, paused or halted */
} db_rollout_superseded;

/* Starts a rollout (state running). A live rollout of the same class is
 * superseded (audited), and named in *old unless old is NULL. Refused: a
 * revoked or expired release, a value out of range. Returns the rollout
 * row (columns as db_rollout_get). */
PGresult *db_rollout_start(PGconn *conn, const db_actor *who, const db_rollout_new *r,
                           db_rollout_superseded *old, db_refusal *why, db_error *err);
/* Rollouts, newest first, at most limit; only live ones when live_only.
 * Columns as db_rollout_get without the counts. */
PGresult *db_rollout_list(PGconn *conn, int live_only, int limit, db_error *err);
/* One rollout by id (NULL with why DB_REFUSED_NOT_FOUND if none).
 * Columns: id, release_id, version, device_class, security_version,
 * group_tag, state, percent (double precision, basis_points / 100: 2.5,
 * a JSON number through db_row_json), basis_points, error_threshold, min_reports,
 * health_window_s, health_ratio,
 * health_min_crashes, halt_reason (json), started_at, updated_at,
 * created_by, offered, downloading, installed, failed (counts of devices
 * in each state now), eligible (active devices of the class, in the
 * group, whose bucket is in), and the
 * health figures of vigil_rollout_health: updated_devices,
 * updated_crashes, updated_device_hours, updated_rate, control_devices,
 * control_crashes, control_device_hours, control_rate. */
PGresult *db_rollout_get(PGconn *conn, int64_t id, db_refusal *why, db_error *err);
/* Widens to basis_points, which must be above the current one (widening
 * only adds devices); any live state. Audited rollout.widen. */
PGresult *db_rollout_widen(PGconn *conn, const db_actor *who, int64_t id, int basis_points,
                           db_refusal *why, db_error *err);
/* to: "paused" (from running), "running" (resume, from paused or halted),
 * "aborted" (from any live state). Refused (DB_REFUSED_CONFLICT) for
 * another move, naming the current state. Returns the rollout row. */
PGresult *db_rollout_move(PGconn *conn, const db_actor *who, int64_t id, const char *to,
                          db_refusal *why, db_error *err);

/* ---- device tags ---- */

#define DB_DEVICE_TAGS_MAX 32 /* devices.tags' CHECK */

/* Adds (add = 1) or removes tags (each a device-id-like word, 1 to
 * DB_DEVICE_TAGS_MAX of them) on a device, audited device.tag /
 * device.untag ({"added"|"removed": [..], "tags": [..]}), notified on
 * vigil_registry {"event":"device_tags","device_id":..,"tags":[..]}.
 * Added tags follow the device's own, each once; removing a tag the
 * device lacks is no error; a call that changes nothing writes nothing
 * (no audit row, no NOTIFY). Refused: an unknown device (NOT_FOUND), a bad
 * tag or more than DB_DEVICE_TAGS_MAX in all (INPUT). Returns the tags as
 * they now are: one row, columns device_id and tags (a json array, so
 * db_row_json gives ["a","b"]). */
PGresult *db_device_tags(PGconn *conn, const db_actor *who, const char *device_id,
                         const char *const *tags, int n, int add, db_refusal *why,
                         db_error *err);

#endif
