/*
 * db_audit.c - one row of the append-only audit log per CA or registry
 * action. It is written inside the caller's transaction, so the action and
 * its record commit together: there is no issued certificate without a row
 * saying who issued it.
 */
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>

int db_audit(PGconn *conn, const db_actor *who, const char *action, const char *device_id,
             const char *serial, const char *details_json, db_error *err)
{
    const char *params[] = {who->kind, who->name, action, device_id, serial, details_json};
    PGresult *res = db_query(conn,
                             "INSERT INTO audit_log (actor_kind, actor, action, device_id,"
                             " serial, details) VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                             6, params, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

int db_audit_json(PGconn *conn, const db_actor *who, const char *action, const char *device_id,
                  const char *serial, json_t *details, db_error *err)
{
    char *text =
        details ? json_dumps(details, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))
                : NULL;
    json_decref(details);
    if (!text) {
        snprintf(err->msg, sizeof(err->msg), "out of memory writing the audit row of %s", action);
        return -1;
    }
    int rc = db_audit(conn, who, action, device_id, serial, text, err);
    free(text);
    return rc;
}
