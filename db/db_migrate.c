/*
 * db_migrate.c - applies the numbered SQL files of db/migrations (compiled
 * into the binary) that the database has not seen yet.
 *
 * Safety comes from PostgreSQL, not from the caller: a session-level
 * advisory lock serializes concurrent runs (two hosts deploying at once),
 * each migration commits in one transaction together with its row in
 * schema_migrations, so a crash leaves either all of a migration or none.
 */
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An arbitrary constant shared by every Vigil process ("vigil" in ASCII). */
#define DB_MIGRATE_LOCK "7614683753"

static int exec_script(PGconn *conn, const char *sql, db_error *err)
{
    /* PQexec, not PQexecParams: a migration is several statements and has
     * no parameters. */
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        PQclear(res);
        return 0;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    err->unavailable = PQstatus(conn) != CONNECTION_OK;
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", state ? state : "");
    snprintf(err->msg, sizeof(err->msg), "%s", PQerrorMessage(conn));
    err->msg[strcspn(err->msg, "\n")] = '\0';
    PQclear(res);
    return -1;
}

static int migration_applied(PGconn *conn, const char *name, int *applied, db_error *err)
{
    const char *params[] = {name};
    PGresult *res = db_query(conn, "SELECT 1 FROM schema_migrations WHERE name = $1", 1,
                             params, err);
    if (!res)
        return -1;
    *applied = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

static int apply_one(PGconn *conn, const db_migration *m, db_error *err)
{
    const char *params[] = {m->name};
    if (db_begin(conn, err) < 0)
        return -1;
    if (exec_script(conn, m->sql, err) < 0)
        goto fail;
    PGresult *res = db_query(conn, "INSERT INTO schema_migrations (name) VALUES ($1)", 1,
                             params, err);
    if (!res)
        goto fail;
    PQclear(res);
    if (db_commit(conn, err) < 0)
        goto fail;
    return 0;
fail:
    {
        char msg[sizeof(err->msg)];
        snprintf(msg, sizeof(msg), "migration %.64s failed: %.400s", m->name, err->msg);
        memcpy(err->msg, msg, sizeof(msg));
    }
    db_rollback(conn);
    return -1;
}

int db_migrate(PGconn *conn, void (*on_applied)(const char *name, void *arg), void *arg,
               int *applied, db_error *err)
{
    int rc = -1;
    *applied = 0;
    if (exec_script(conn, "SELECT pg_advisory_lock(" DB_MIGRATE_LOCK ")", err) < 0)
        return -1;
    if (exec_script(conn,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " name text PRIMARY KEY,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    err) < 0)
        goto done;
    for (size_t i = 0; i < db_migrations_count; i++) {
        int done_before = 0;
        if (migration_applied(conn, db_migrations[i].name, &done_before, err) < 0)
            goto done;
        if (done_before)
            continue;
        if (apply_one(conn, &db_migrations[i], err) < 0)
            goto done;
        (*applied)++;
        if (on_applied)
            on_applied(db_migrations[i].name, arg);
    }
    rc = 0;
done:
    if (PQstatus(conn) == CONNECTION_OK) {
        db_error ignored = {0};
        exec_script(conn, "SELECT pg_advisory_unlock(" DB_MIGRATE_LOCK ")", &ignored);
    }
    return rc;
}

/* "0007_quarantine_mark" is version 7. */
static int migration_number(const char *name)
{
    return (int)strtol(name, NULL, 10);
}

int db_schema_version(PGconn *conn, int *have, int *need, int *pending, db_error *err)
{
    *have = 0;
    *need = db_migrations_count ? migration_number(db_migrations[db_migrations_count - 1].name) : 0;
    *pending = (int)db_migrations_count;
    PGresult *res = db_query(conn,
                             "SELECT coalesce(max(substring(name FROM '^[0-9]+')::int), 0)"
                             " FROM schema_migrations",
                             0, NULL, err);
    if (!res) {
        if (strcmp(err->sqlstate, "42P01") == 0) /* no schema_migrations: nothing applied */
            return 0;
        return -1;
    }
    *have = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    for (size_t i = 0; i < db_migrations_count; i++) {
        int applied = 0;
        if (migration_applied(conn, db_migrations[i].name, &applied, err) < 0)
            return -1;
        *pending -= applied;
    }
    return 0;
}
