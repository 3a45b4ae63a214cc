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
                       " fingerprint AS \"group\", quarantined"

/* $1..$9: the filter. */
#define FILTER_WHERE                                                                               \
    " ($1::text IS NULL OR device_id = $1) AND ($2::text IS NULL OR type = $2)"                    \
    " AND ($3::text IS NULL OR severity = $3) AND ($4::text IS NULL OR source = $4)"               \
    " AND ($5::text IS NULL OR firmware_version = $5)"                                             \
    " AND ($6::text IS NULL OR fingerprint = $6)"                                                  \
    " AND ($7::timestamptz IS NULL OR received_at >= $7)"                                          \
    " AND ($8::timestamptz IS NULL OR received_at < $8)"                                           \
    " AND ($9::boolean IS NULL OR quarantined = $9)"
#define FILTER_N 9

#define FILTER_PARAMS(f)                                                                           \
    (f)->device_id, (f)->type, (f)->severity, (f)->source, (f)->firmware_version, (f)->group,      \
        (f)->since, (f)->until, (f)->quarantined

/* A page: $1..$9 the filter, $10/$11 the keyset position, $12 the limit. */
#define PAGE_FROM_WHERE                                                                            \
    " FROM incidents WHERE" FILTER_WHERE " AND ($10::int8 IS NULL OR (received_at, seq) <"         \
    "  ('epoch'::timestamptz + $10::int8 * interval '1 microsecond', $11::int8))"                  \
    " ORDER BY incidents.received_at DESC, incidents.seq DESC LIMIT $12::int"

static PGresult *page_query(PGconn *conn, const char *sql, const db_incident_filter *f,
                            const db_incident_cursor *after, int limit, db_error *err)
{
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", limit > 0 ? limit : 100);
    const char *params[] = {FILTER_PARAMS(f), after ? after->received_us : NULL,
                            after ? after->seq : NULL, lim};
    return db_query(conn, sql, FILTER_N + 3, params, err);
}

PGresult *db_incidents_list(PGconn *conn, const db_incident_filter *f,
                            const db_incident_cursor *after, int limit, db_error *err)
{
    return page_query(
        conn,
        "SELECT " INCIDENT_COLUMNS ","
        " (extract(epoch FROM received_at) * 1000000)::int8 AS received_us" PAGE_FROM_WHERE,
        f, after, limit, err);
}

/* PostgreSQL writes each object: the operator API then only joins them. */
PGresult *db_incidents_list_json(PGconn *conn, const db_incident_filter *f,
                                 const db_incident_cursor *after, int limit, db_error *err)
{
    return page_query(conn,
                      "SELECT row_to_json(k)::text AS incident,"
                      " (extract(epoch FROM k.received_at::timestamptz) * 1000000)::int8"
                      " AS received_us, k.seq FROM (SELECT " INCIDENT_COLUMNS PAGE_FROM_WHERE ") k"
                      " ORDER BY k.received_at DESC, k.seq DESC",
                      f, after, limit, err);
}

PGresult *db_incident_get(PGconn *conn, const char *seq, db_error *err)
{
    const char *params[] = {seq};
    return db_query(conn, "SELECT " INCIDENT_COLUMNS " FROM incidents WHERE seq = $1::int8", 1,
                    params, err);
}

/* The bucket of a timestamp: date_bin over the bucket length in $10. */
#define BUCKET(col) "date_bin(make_interval(secs => $10::int8), " col ", 'epoch'::timestamptz)"

/* Raw counts: every incident of the range, for filters the hourly counts
 * cannot answer (a device, a group, buckets shorter than an hour). */
#define STATS_RAW_SQL(col)                                                                         \
    "SELECT " TS(BUCKET("received_at")) " AS bucket, " col " AS key, count(*) AS count"            \
                                        " FROM incidents WHERE" FILTER_WHERE                       \
                                        " GROUP BY " BUCKET("received_at") ", 2 ORDER BY 1, 2"

/* Hourly counts for the hours [$11, $12) and raw incidents for the rest
 * of the range (before $11, and from $13), summed per bucket. The counts
 * have no quarantined column: a quarantined filter reads raw rows. */
#define STATS_COUNTS_SQL(col)                                                                      \
    "SELECT " TS(                                                                                  \
        "bk") " AS bucket, key, sum(c)::int8 AS count FROM ("                                      \
              " SELECT " BUCKET(                                                                   \
                  "hour") " AS bk, " col " AS key, sum(n) AS c FROM incident_counts"               \
                          "  WHERE hour >= $11 AND hour < $12 AND ($2::text IS NULL OR type = $2)" \
                          "  AND ($3::text IS NULL OR severity = $3) AND ($4::text IS NULL OR "    \
                          "source = $4)"                                                           \
                          "  AND ($5::text IS NULL OR firmware_version = $5) GROUP BY 1, 2"        \
                          " UNION ALL SELECT " BUCKET(                                             \
                              "received_at") ", " col ", count(*) FROM incidents"                  \
                                             "  WHERE" FILTER_WHERE                                \
                                             " AND received_at < $11 GROUP BY 1, 2"                \
                                             " UNION ALL SELECT " BUCKET(                          \
                                                 "received_at") ", " col                           \
                                                                ", count(*) FROM incidents"        \
                                                                "  WHERE" FILTER_WHERE             \
                                                                " AND received_at >= $13 GROUP "   \
                                                                "BY 1, 2"                          \
                                                                ") p GROUP BY bk, key ORDER BY "   \
                                                                "1, 2"

/* Which part of [since, until) the counts answer. a: the first whole hour
 * at or after since. The counts hold every incident received before upto,
 * so when upto falls inside the range the counts answer [a, upto) (the
 * hour of upto partly) and only [upto, until) is read raw: seconds of
 * reports, not the hour. Returns a, the end of the hours to read from the
 * counts, and where the raw tail starts. */
static const char counts_span_sql[] =
    "SELECT a,"
    " CASE WHEN upto < a THEN a"
    "  WHEN upto <= $2::timestamptz THEN date_bin('1 hour', upto, 'epoch') + interval '1 hour'"
    "  ELSE greatest(a, date_bin('1 hour', $2::timestamptz, 'epoch')) END,"
    " CASE WHEN upto < a THEN a WHEN upto <= $2::timestamptz THEN upto"
    "  ELSE greatest(a, date_bin('1 hour', $2::timestamptz, 'epoch')) END"
    " FROM incident_counts_state, LATERAL (SELECT date_bin('1 hour', $1::timestamptz"
    "  - interval '1 microsecond', 'epoch'::timestamptz) + interval '1 hour' AS a) x";

/* The counts and the raw rows must be read from one snapshot: a fold
 * committing in between would count the rows after upto twice. */
static PGresult *stats_from_counts(PGconn *conn, const db_incident_filter *f, const char *secs,
                                   const char *sql, db_error *err)
{
    PGresult *res = NULL, *span = NULL;
    const char *span_params[] = {f->since, f->until};
    PGresult *begin =
        db_query(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, err);
    if (!begin)
        return NULL;
    PQclear(begin);
    if ((span = db_query(conn, counts_span_sql, 2, span_params, err)) && PQntuples(span) == 1) {
        const char *params[] = {FILTER_PARAMS(f), secs, PQgetvalue(span, 0, 0),
                                PQgetvalue(span, 0, 1), PQgetvalue(span, 0, 2)};
        res = db_query(conn, sql, FILTER_N + 4, params, err);
    } else if (span) {
        snprintf(err->msg, sizeof(err->msg), "incident_counts_state has no row");
        err->unavailable = 0;
        err->sqlstate[0] = '\0';
    }
    PQclear(span);
    if (res && db_commit(conn, err) < 0) {
        PQclear(res);
        res = NULL;
    }
    if (!res)
        db_rollback(conn);
    return res;
}

PGresult *db_incidents_stats(PGconn *conn, const db_incident_filter *f, long bucket_seconds,
                             db_stats_by by, db_error *err)
{
    /* The key column comes from these fixed tables, never from the request. */
    static const char *const raw_sql[] = {
        [DB_STATS_TYPE] = STATS_RAW_SQL("type"),
        [DB_STATS_SEVERITY] = STATS_RAW_SQL("severity"),
        [DB_STATS_FIRMWARE] = STATS_RAW_SQL("firmware_version"),
        [DB_STATS_SOURCE] = STATS_RAW_SQL("source"),
    };
    static const char *const counts_sql[] = {
        [DB_STATS_TYPE] = STATS_COUNTS_SQL("type"),
        [DB_STATS_SEVERITY] = STATS_COUNTS_SQL("severity"),
        [DB_STATS_FIRMWARE] = STATS_COUNTS_SQL("firmware_version"),
        [DB_STATS_SOURCE] = STATS_COUNTS_SQL("source"),
    };
    char secs[24];
    snprintf(secs, sizeof(secs), "%ld", bucket_seconds);
    if (!f->device_id && !f->group && !f->quarantined && f->since && f->until && bucket_seconds % 3600 == 0)
        return stats_from_counts(conn, f, secs, counts_sql[by], err);
    const char *params[] = {FILTER_PARAMS(f), secs};
    return db_query(conn, raw_sql[by], FILTER_N + 1, params, err);
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
                                                        "DESC, fingerprint LIMIT $10::int",
        FILTER_N + 1, params, err);
}
