/*
 * db.h - Vigil's synchronous PostgreSQL layer: the schema's migrations and
 * the statements of the operator's side, used by vigilctl (a one-shot
 * command), by vigild's operator API (libmicrohttpd's threads, each with a
 * pooled connection of its own: server/api/api_pool.c) and by
 * vigil-bench's set-up. All of them may block; none runs on an event loop.
 * vigild's device port never calls this layer: its loops have their own
 * asynchronous connections (server/core/pg_async.h) and their statements
 * sit next to the code that sends them (ingest, registry). Every statement
 * here is parameterized. Registry writes are meant to
 * run inside a transaction the caller opens with db_begin() so that a CA
 * action and its audit row commit together or not at all.
 *
 * Timestamps come back as RFC 3339 UTC text ("2026-11-25T10:00:00Z").
 * Functions that return PGresult* hand ownership to the caller (PQclear).
 */
#ifndef VIGIL_DB_H
#define VIGIL_DB_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <libpq-fe.h>

typedef struct db_error {
    int unavailable;   /* the server could not be reached or the connection broke */
    char sqlstate[6];  /* "" when none */
    char msg[512];
} db_error;

/* Connects with a 5 s timeout, session time zone UTC, application_name
 * "vigilctl". url is a libpq URI or key=value string. */
PGconn *db_connect(const char *url, db_error *err);
/* The same with another application_name (vigild's operator API). */
PGconn *db_connect_as(const char *url, const char *application, db_error *err);
void db_close(PGconn *conn);
/* The database password from the first line of path (a Docker secret),
 * for every connection this process makes afterwards: it becomes libpq's
 * PGPASSWORD. Refused when url (may be NULL) holds a password itself,
 * which would win. Call before any thread starts. 0, or -1 with the
 * reason (naming the file) in err. */
int db_password_file_use(const char *path, const char *url, db_error *err);

/* BEGIN ISOLATION LEVEL READ COMMITTED, whatever the database default. */
int db_begin(PGconn *conn, db_error *err);
int db_commit(PGconn *conn, db_error *err);
void db_rollback(PGconn *conn);

/* Runs one parameterized statement; NULL on failure (err filled). */
PGresult *db_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   db_error *err);
/* The same where some parameters are binary (formats[i] 1, lengths[i]
 * its size: a bytea); lengths and formats may be NULL (all text). */
PGresult *db_query_bin(PGconn *conn, const char *sql, int nparams, const char *const *params,
                       const int *lengths, const int *formats, db_error *err);

/* ---- migrations (db_migrate.c; the SQL is compiled in from db/migrations) ---- */

typedef struct db_migration {
    const char *name;  /* "0001_init" */
    const char *sql;
} db_migration;

extern const db_migration db_migrations[];
extern const size_t db_migrations_count;

/* Applies the pending migrations in order, each in its own transaction and
 * recorded in schema_migrations; concurrent callers serialize on an advisory
 * lock, so running it twice or from two processes at once is safe. on_applied
 * (may be NULL) is called after each migration commits. */
int db_migrate(PGconn *conn, void (*on_applied)(const char *name, void *arg), void *arg,
               int *applied, db_error *err);
/* Where the schema stands: *have is the number of the newest migration
 * recorded (0 when none, or no schema_migrations table), *need the number
 * of this binary's newest, *pending how many of this binary's are not
 * recorded (0: the schema is what this binary expects). 0, or -1 with err
 * filled. */
int db_schema_version(PGconn *conn, int *have, int *need, int *pending, db_error *err);

/* ---- audit log (db_audit.c) ---- */

typedef struct db_actor {
    const char *kind;  /* "os" (vigilctl user), "token" (API token), "server" */
    const char *name;
} db_actor;

int db_audit(PGconn *conn, const db_actor *who, const char *action, const char *device_id,
             const char *serial, const char *details_json, db_error *err);
/* The same with details as JSON, consumed; NULL details (a json_pack
 * that failed) is reported as out of memory. */
int db_audit_json(PGconn *conn, const db_actor *who, const char *action, const char *device_id,
                  const char *serial, json_t *details, db_error *err);

/* ---- devices and certificates (db_registry.c) ---- */

typedef struct db_device_state {
    int created;            /* the row was inserted by this call */
    char status[16];        /* active | quarantined | decommissioned */
    char device_class[65];
    int active_certs;       /* status 'active' and not yet expired */
} db_device_state;

/* Inserts the device if missing and locks its row (SELECT ... FOR UPDATE) for
 * the rest of the transaction. device_class NULL keeps the existing class
 * ("default" for a new device). */
int db_device_lock(PGconn *conn, const char *device_id, const char *device_class,
                   db_device_state *out, db_error *err);

typedef struct db_cert {
    const char *serial;       /* canonical hex */
    const char *device_id;
    const char *issuer_ski;
    const char *fingerprint;  /* sha256 hex */
    time_t not_before;
    time_t not_after;
    const char *pem;
    const char *key_sha256; /* ca_key_sha256 of its public key */
} db_cert;

int db_cert_insert(PGconn *conn, const db_cert *cert, db_error *err);

/* Marks certificates revoked (unless already revoked) and notifies channel
 * vigil_registry. Selects by serial, or by device (all its active ones) when
 * serial is NULL. Returns the rows changed: serial, device_id, issuer. */
PGresult *db_cert_revoke(PGconn *conn, const char *serial, const char *device_id,
                         const char *reason_name, db_error *err);

/* Notifies vigil_registry {"event":"ca_changed","issuer":SKI} (on commit):
 * every vigild reloads its trusted issuing CAs. */
int db_notify_ca_changed(PGconn *conn, const char *issuer_ski, db_error *err);

/* Revoked certificates of one issuer for a CRL: serial, revoked_at (epoch
 * seconds, int8), reason (RFC 5280 name). Expired ones are left out. */
PGresult *db_revoked_by_issuer(PGconn *conn, const char *issuer_ski, db_error *err);

/* Certificates newest first; NULL filters match everything, status is the
 * effective one (active, revoked, expired), limit <= 0 means 100. More
 * registry reads, with keyset pages, are in db_admin.h. */
PGresult *db_certs_list(PGconn *conn, const char *device_id, const char *status, int limit,
                        db_error *err);
/* One certificate: the columns of the list, then key_sha256, renewed_from,
 * superseded_by, superseded_at, ancestors (json: serials, nearest first),
 * descendants (json: [{serial, depth}]) and pem. */
PGresult *db_cert_get(PGconn *conn, const char *serial, db_error *err);

/* ---- results as JSON (db_json.c) ---- */

/* One row as a JSON object keyed by column name: integers, booleans and
 * json/jsonb columns keep their JSON type, NULL is null, the rest strings.
 * NULL on allocation failure. */
json_t *db_row_json(PGresult *res, int row);
/* The first n rows as a JSON array of such objects, without the column
 * named drop (when not NULL: one that only feeds a cursor, say). NULL on
 * allocation failure. */
json_t *db_rows_json(PGresult *res, int n, const char *drop);

/* ---- incident queries (db_incidents.c), shared by the operator API and
 * vigilctl. Filters are validated text or NULL for "any". ---- */

typedef struct db_incident_filter {
    const char *device_id, *type, *severity, *source, *firmware_version, *group;
    const char *since, *until;     /* RFC 3339; since inclusive, until exclusive */
    const char *quarantined;       /* "true" or "false": the report's mark (migration 0007) */
} db_incident_filter;

/* Keyset position: the received_at (microseconds since the epoch) and seq
 * of the last row of the previous page, as decimal text; NULLs for the
 * first page. */
typedef struct db_incident_cursor {
    const char *received_us, *seq;
} db_incident_cursor;

/* Newest first. Columns: the incident object's fields (seq, id, device_id,
 * source, type, severity, occurred_at, received_at, firmware_version,
 * component, details, source_address, group, quarantined) then received_us. */
PGresult *db_incidents_list(PGconn *conn, const db_incident_filter *f,
                            const db_incident_cursor *after, int limit, db_error *err);
#define DB_INCIDENT_FIELDS 14   /* the columns before received_us */
/* The same page as one column of JSON text per incident object (incident),
 * then received_us and seq. */
PGresult *db_incidents_list_json(PGconn *conn, const db_incident_filter *f,
                                 const db_incident_cursor *after, int limit, db_error *err);
PGresult *db_incident_get(PGconn *conn, const char *seq, db_error *err);

typedef enum db_stats_by { DB_STATS_TYPE, DB_STATS_SEVERITY, DB_STATS_FIRMWARE, DB_STATS_SOURCE }
    db_stats_by;
/* Counts per time bucket and key over [since, until): bucket, key, count. */
PGresult *db_incidents_stats(PGconn *conn, const db_incident_filter *f, long bucket_seconds,
                             db_stats_by by, db_error *err);
/* Groups by fingerprint over the filter, most frequent first: group, type,
 * component, signature, count, devices, first_seen, last_seen,
 * firmware_versions (json array). */
PGresult *db_incident_groups(PGconn *conn, const db_incident_filter *f, int limit,
                             db_error *err);

#endif
