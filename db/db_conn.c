/*
 * db_conn.c - connecting, transactions and running one parameterized
 * statement, with libpq's failures turned into a db_error that tells a
 * broken connection (retry later, check the server) from a refused
 * statement (a constraint, a missing table).
 */
#include "db/db.h"

#include "protocol/secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_error(db_error *err, int unavailable, const char *sqlstate, const char *msg)
{
    err->unavailable = unavailable;
    snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", sqlstate ? sqlstate : "");
    snprintf(err->msg, sizeof(err->msg), "%s", msg ? msg : "unknown database error");
    /* libpq messages end with a newline; ours are one line. */
    size_t n = strlen(err->msg);
    while (n > 0 && (err->msg[n - 1] == '\n' || err->msg[n - 1] == ' '))
        err->msg[--n] = '\0';
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

/* url's options in *opts (NULL for a plain database name, which libpq
 * also takes), to be freed with PQconninfoFree; -1 when it is a URI or
 * key=value pairs libpq cannot parse. libpq's reason is dropped: it quotes
 * the piece it stopped at, which may be the password. */
static int conninfo_parse(const char *url, PQconninfoOption **opts)
{
    *opts = NULL;
    if (!strchr(url, '=') && strncmp(url, "postgresql://", 13) != 0 &&
        strncmp(url, "postgres://", 11) != 0)
        return 0;
    char *parse_err = NULL;
    *opts = PQconninfoParse(url, &parse_err);
    PQfreemem(parse_err);
    return *opts ? 0 : -1;
}

PGconn *db_connect(const char *url, db_error *err)
{
    return db_connect_as(url, "vigilctl", err);
}

PGconn *db_connect_as(const char *url, const char *application, db_error *err)
{
    /* A URL libpq cannot parse is refused here, without libpq's reason,
     * which may quote the password (invalid percent-encoded token:
     * "50%off"). */
    PQconninfoOption *parsed = NULL;
    if (conninfo_parse(url, &parsed) < 0) {
        set_error(err, 1, NULL, "cannot connect to PostgreSQL: the database URL is neither a "
                  "libpq URI nor key=value pairs (check its syntax and %-encoding)");
        return NULL;
    }
    PQconninfoFree(parsed);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", "options", NULL};
    const char *vals[] = {url, "5", application, "-c TimeZone=UTC -c client_min_messages=warning -c jit=off", NULL};
    /* expand_dbname=1: the url may be a URI or key=value string; the
     * remaining keys only apply where the url does not set them. */
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        set_error(err, 1, NULL, "out of memory connecting to PostgreSQL");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof(msg), "cannot connect to PostgreSQL: %s", PQerrorMessage(conn));
        set_error(err, 1, NULL, msg);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* 1 when url (a URI or key=value) carries a password, 0 when not or when
 * it does not parse (db_connect_as says so). */
static int url_has_password(const char *url)
{
    PQconninfoOption *opts;
    conninfo_parse(url, &opts);
    int has = 0;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
            has = 1;
    PQconninfoFree(opts);
    return has;
}

int db_password_file_use(const char *path, const char *url, db_error *err)
{
    char why[300];
    if (url && url_has_password(url)) {
        set_error(err, 0, NULL, "the database URL holds a password and a password file is given "
                  "too: remove the password from the URL (it would win)");
        return -1;
    }
    char *password = secret_read_file(path, why, sizeof(why));
    if (!password) {
        set_error(err, 0, NULL, why);
        return -1;
    }
    int rc = setenv("PGPASSWORD", password, 1);
    secret_free(password);
    if (rc != 0) {
        set_error(err, 0, NULL, "out of memory setting the database password");
        return -1;
    }
    return 0;
}

void db_close(PGconn *conn)
{
    if (conn)
        PQfinish(conn);
}

static int result_ok(PGconn *conn, PGresult *res, db_error *err)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return 1;
    int broken = PQstatus(conn) != CONNECTION_OK;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg)
        msg = PQerrorMessage(conn);
    /* Class 08 is connection exception; 57P0x is the server shutting down. */
    if (state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0))
        broken = 1;
    set_error(err, broken, state, broken ? "lost the connection to PostgreSQL" : msg);
    return 0;
}

PGresult *db_query(PGconn *conn, const char *sql, int nparams, const char *const *params,
                   db_error *err)
{
    return db_query_bin(conn, sql, nparams, params, NULL, NULL, err);
}

PGresult *db_query_bin(PGconn *conn, const char *sql, int nparams, const char *const *params,
                       const int *lengths, const int *formats, db_error *err)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, lengths, formats, 0);
    if (!result_ok(conn, res, err)) {
        PQclear(res);
        return NULL;
    }
    return res;
}

static int exec_simple(PGconn *conn, const char *sql, db_error *err)
{
    PGresult *res = db_query(conn, sql, 0, NULL, err);
    PQclear(res);
    return res ? 0 : -1;
}

int db_begin(PGconn *conn, db_error *err)
{
    /* Said, not inherited from default_transaction_isolation: the checks
     * that take a lock and then read (release_order_check, the rollout
     * supersede) need each statement's own snapshot. */
    return exec_simple(conn, "BEGIN ISOLATION LEVEL READ COMMITTED", err);
}

int db_commit(PGconn *conn, db_error *err)
{
    PGresult *res = db_query(conn, "COMMIT", 0, NULL, err);
    if (!res)
        return -1;
    /* COMMIT of a failed transaction "succeeds" as a ROLLBACK. */
    int committed = strcmp(PQcmdStatus(res), "COMMIT") == 0;
    PQclear(res);
    if (!committed) {
        set_error(err, 0, NULL, "transaction was rolled back");
        return -1;
    }
    return 0;
}

void db_rollback(PGconn *conn)
{
    db_error ignored = {0};
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        exec_simple(conn, "ROLLBACK", &ignored);
}
