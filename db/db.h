/*
 * db.h - Vigil's synchronous PostgreSQL layer, used by vigilctl.
 *
 * vigilctl is a one-shot command, so it talks to PostgreSQL with plain
 * blocking libpq calls; vigild has its own asynchronous layer on its event
 * loops. Every statement here is parameterized. Registry writes are meant to
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

#include <libpq-fe.h>

typedef struct db_error {
    int unavailable;   /* the server could not be reached or the connection broke */
    char sqlstate[6];  /* "" when none */
    char msg[512];
} db_error;

/* Connects with a 5 s timeout, session time zone UTC, application_name
 * "vigilctl". url is a libpq URI or key=value string. */
PGconn *db_connect(const char *url, db_error *err);
void db_close(PGconn *conn);

int db_begin(PGconn *conn, db_error *err);
int db_commit(PGconn *conn, db_error *err);
void db_rollback(PGconn *conn);

/* Runs one parameterized statement; NULL on failure (err filled). */
PGresult *db_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   db_error *err);

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

/* ---- audit log (db_audit.c) ---- */

typedef struct db_actor {
    const char *kind;  /* "os" (vigilctl user), "token" (API token), "server" */
    const char *name;
} db_actor;

int db_audit(PGconn *conn, const db_actor *who, const char *action, const char *device_id,
             const char *serial, const char *details_json, db_error *err);

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
} db_cert;

int db_cert_insert(PGconn *conn, const db_cert *cert, db_error *err);

/* Marks certificates revoked (unless already revoked) and notifies channel
 * vigil_registry. Selects by serial, or by device (all its active ones) when
 * serial is NULL. Returns the rows changed: serial, device_id, issuer. */
PGresult *db_cert_revoke(PGconn *conn, const char *serial, const char *device_id,
                         const char *reason_name, db_error *err);

/* Revoked certificates of one issuer for a CRL: serial, revoked_at (epoch
 * seconds, int8), reason (RFC 5280 name). Expired ones are left out. */
PGresult *db_revoked_by_issuer(PGconn *conn, const char *issuer_ski, db_error *err);

/* Listings for the CLI; NULL filters match everything, limit <= 0 means 100. */
PGresult *db_devices_list(PGconn *conn, const char *status, const char *device_class,
                          const char *id_prefix, int limit, db_error *err);
PGresult *db_device_get(PGconn *conn, const char *device_id, db_error *err);
PGresult *db_certs_list(PGconn *conn, const char *device_id, const char *status, int limit,
                        db_error *err);
PGresult *db_cert_get(PGconn *conn, const char *serial, db_error *err);

#endif
