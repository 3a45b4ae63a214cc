/*
 * db_incidents.c - the incident queries behind the operator API and
 * vigilctl: filtered keyset pages, one incident, time-bucketed counts and
 * groups by fingerprint.
 *
 * Every filter is a parameter that may be NULL ("$1::text IS NULL OR ...").
 * Statements go through PQexecParams' unnamed statement, so PostgreSQL plans
 * each one with the actual values: the NULL branches fold away, partitions
 * outside [since, until) are pruned and the device index is used when a
 * device is named.
 */
#include "db/db.h"

#include "db/db_sql.h"

#include <stdio.h>

/* The incident object; the column names are its JSON keys. */
#define INCIDENT_COLUMNS                                                                           \
    "seq, id::text AS id, device_id, source, type, severity,"                                      \
    " " TSUS("occurred_at") " AS occurred_at, " TSUS(                                              \
        "received_at") " AS received_at,"                                                          \
                       " firmware_version, component, details, host(source_address) AS "           \
                       "source_address,"                                                           \
                       " fingerprint AS \"group\""

/* $1..$8: the filter. */
#define FILTER_WHERE                                                                               \
    " ($1::text IS NULL OR device_id = $1) AND ($2::text IS NULL OR type = $2)"                    \
    " AND ($3::text IS NULL OR severity = $3) AND ($4::text IS NULL OR source = $4)"               \
    " AND ($5::text IS NULL OR firmware_version = $5)"                                             \
    " AND ($6::text IS NULL OR fingerprint = $6)"                                                  \
    " AND ($7::timestamptz IS NULL OR received_at >= $7)"                                          \
    " AND ($8::timestamptz IS NULL OR received_at < $8)"

#define FILTER_PARAMS(f)                                                                           \
    (f)->device_id, (f)->type, (f)->severity, (f)->source, (f)->firmware_version, (f)->group,      \
        (f)->since, (f)->until

PGresult *db_incidents_list(PGconn *conn, const db_incident_filter *f,
                            const db_incident_cursor *after, int limit, db_error *err)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    const char *params[] = {FILTER_PARAMS(f), after ? after->received_us : NULL,
                            after ? after->seq : NULL, lim};
    return db_query(conn,
                    "SELECT " INCIDENT_COLUMNS ","
                    " (extract(epoch FROM received_at) * 1000000)::int8 AS received_us"
                    " FROM incidents WHERE" FILTER_WHERE
                    " AND ($9::int8 IS NULL OR (received_at, seq) <"
                    "  ('epoch'::timestamptz + $9::int8 * interval '1 microsecond', $10::int8))"
                    " ORDER BY received_at DESC, seq DESC LIMIT $11::int",
                    11, params, err);
}

PGresult *db_incident_get(PGconn *conn, const char *seq, db_error *err)
{
    const char *params[] = {seq};
    return db_query(conn, "SELECT " INCIDENT_COLUMNS " FROM incidents WHERE seq = $1::int8", 1,
                    params, err);
}

PGresult *db_incidents_stats(PGconn *conn, const db_incident_filter *f, long bucket_seconds,
                             db_stats_by by, db_error *err)
{
    /* The key column comes from this fixed table, never from the request. */
    static const char *const sql[] = {
#define STATS_SQL(col)                                                                             \
    "SELECT to_char(date_bin(make_interval(secs => $9::int8), received_at,"                        \
    "  'epoch'::timestamptz) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS bucket,"     \
    " " col " AS key, count(*) AS count FROM incidents WHERE" FILTER_WHERE                         \
    " GROUP BY 1, 2 ORDER BY 1, 2"
        [DB_STATS_TYPE] = STATS_SQL("type"),
        [DB_STATS_SEVERITY] = STATS_SQL("severity"),
        [DB_STATS_FIRMWARE] = STATS_SQL("firmware_version"),
        [DB_STATS_SOURCE] = STATS_SQL("source"),
#undef STATS_SQL
    };
    char secs[24];
    snprintf(secs, sizeof(secs), "%ld", bucket_seconds);
    const char *params[] = {FILTER_PARAMS(f), secs};
    return db_query(conn, sql[by], 9, params, err);
}

PGresult *db_incident_groups(PGconn *conn, const db_incident_filter *f, int limit, db_error *err)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 50);
    const char *params[] = {FILTER_PARAMS(f), lim};
    return db_query(
        conn,
        "SELECT fingerprint AS \"group\", min(type) AS type,"
        " min(component) AS component,"
        " min(vigil_incident_signature(details)) AS signature,"
        " count(*) AS count, count(DISTINCT device_id) AS devices,"
        " " TSUS(
            "min(received_at)") " AS first_seen,"
                                " " TSUS(
                                    "max(received_at)") " AS last_seen,"
                                                        " coalesce(array_to_json(array_agg("
                                                        "DISTINCT firmware_version)"
                                                        "  FILTER (WHERE firmware_version IS NOT "
                                                        "NULL)), '[]'::json)"
                                                        "  AS firmware_versions"
                                                        " FROM incidents WHERE" FILTER_WHERE
                                                        " GROUP BY fingerprint ORDER BY count(*) "
                                                        "DESC, fingerprint LIMIT $9::int",
        9, params, err);
}
