/*
 * api_incidents.c - what operators ask of the incident store: filtered
 * pages (keyset pagination: a page boundary is a (received_at, seq)
 * position, so pages stay stable while reports keep arriving), one
 * incident, counts per time bucket, and groups by fingerprint. The SQL is
 * in db/db_incidents.c, shared with vigilctl; the export stream is in
 * api_export.c.
 */
#include "server/api/api_handlers.h"

#include "server/api/api_incidents.h"
#include "server/api/api_param.h"

#include "protocol/incident.h"

#include <stdio.h>
#include <string.h>

static const char *const severities[] = {"info", "warning", "error", "critical", NULL};
static const char *const sources[] = {"device", "server", NULL};
static const char *const booleans[] = {"true", "false", NULL};

static int valid_group(const char *s)
{
    if (strlen(s) != 16)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

int api_incidents_filter(api_req *r, db_incident_filter *f, api_incidents_filter_buf *buf)
{
    memset(f, 0, sizeof(*f));
    if (api_param_device_id(r, "device_id", &f->device_id) < 0 ||
        api_param_text(r, "type", 63, &f->type) < 0 ||
        api_param_text(r, "firmware_version", INCIDENT_TEXT_MAX, &f->firmware_version) < 0 ||
        api_param_choice(r, "severity", severities, &f->severity) < 0 ||
        api_param_choice(r, "source", sources, &f->source) < 0 ||
        api_param_choice(r, "quarantined", booleans, &f->quarantined) < 0)
        return -1;
    int rc = api_param_text(r, "group", 16, &f->group);
    if (rc < 0)
        return -1;
    if (rc && !valid_group(f->group))
        return api_param_refuse(r, "group", f->group,
                                "is not 16 lowercase hex digits, as in an incident's \"group\" "
                                "field");
    if (api_param_time(r, "since", &buf->since, &f->since) < 0 ||
        api_param_time(r, "until", &buf->until, &f->until) < 0)
        return -1;
    return 0;
}

/* Rows of db_incidents_list_json: incident, received_us, seq. */
static void incident_cursor(PGresult *res, int row, char *out, size_t len)
{
    snprintf(out, len, "%s.%s", PQgetvalue(res, row, 1), PQgetvalue(res, row, 2));
}

void api_incidents_list(api_req *r)
{
    static const char *const names[] = {
        "device_id", "type",  "severity", "source", "firmware_version", "since",
        "until",     "group", "limit",    "cursor", "quarantined",      NULL};
    db_incident_filter f;
    api_incidents_filter_buf buf;
    db_incident_cursor after = {0}, *pafter = NULL;
    char cbuf[64];
    int64_t limit = 100;
    if (api_param_only(r, names) < 0 || api_incidents_filter(r, &f, &buf) < 0 ||
        api_param_int(r, "limit", 1, 1000, &limit) < 0)
        return;
    int rc = api_param_cursor(r, "cursor", 0, cbuf, &after.received_us, &after.seq);
    if (rc < 0)
        return;
    if (rc)
        pafter = &after;
    PGconn *db = api_pool_conn(r);
    db_error err;
    if (!db)
        return;
    PGresult *res = db_incidents_list_json(db, &f, pafter, (int)limit + 1, &err);
    if (!res) {
        api_pool_fail(r, &err);
        return;
    }
    api_reply_page_json(r, res, (int)limit, incident_cursor);
    PQclear(res);
}

void api_incidents_get(api_req *r)
{
    static const char *const names[] = {NULL};
    if (api_param_only(r, names) < 0)
        return;
    const char *seq = r->path_args[0]; /* 1..INT64_MAX (api.c checked it) */
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err;
    PGresult *res = db_incident_get(db, seq, &err);
    if (!res) {
        api_pool_fail(r, &err);
        return;
    }
    if (PQntuples(res) == 0)
        api_error(r, 404, "not_found", NULL, "no incident with seq %s", seq);
    else
        api_reply_json(r, 200, db_row_json(res, 0));
    PQclear(res);
}

/* since..until, both given or defaulted, as microseconds; -1 if answered. */
static int time_range(api_req *r, db_incident_filter *f, api_incidents_filter_buf *buf,
                      int64_t default_seconds, int64_t *span_s)
{
    if (!f->since) {
        api_param_time_ago(default_seconds, &buf->since);
        f->since = buf->since.text;
    }
    if (!f->until) {
        api_param_time_ago(0, &buf->until);
        f->until = buf->until.text;
    }
    if (buf->until.us <= buf->since.us)
        return api_param_refuse(r, "since", f->since, "is not before until '%s'", f->until);
    *span_s = (buf->until.us - buf->since.us) / 1000000 + 1;
    return 0;
}

void api_incidents_stats(api_req *r)
{
    static const char *const names[] = {
        "device_id", "type", "severity",    "source", "firmware_version", "since", "until",
        "bucket",    "by",   "quarantined", NULL};
    static const char *const bys[] = {"type", "severity", "firmware_version", "source", NULL};
    static const db_stats_by by_values[] = {DB_STATS_TYPE, DB_STATS_SEVERITY, DB_STATS_FIRMWARE,
                                            DB_STATS_SOURCE};
    db_incident_filter f;
    api_incidents_filter_buf buf;
    int64_t bucket = 3600, span;
    int by = 0;
    if (api_param_only(r, names) < 0 || api_incidents_filter(r, &f, &buf) < 0 ||
        api_param_duration(r, "bucket", 366 * 86400, &bucket) < 0 ||
        api_param_enum(r, "by", bys, &by) < 0 || time_range(r, &f, &buf, 86400, &span) < 0)
        return;
    if (span / bucket > 10000) {
        api_error(r, 400, "bad_request", "bucket",
                  "%lld buckets of %llds in this range; at most "
                  "10000: use a larger bucket or a shorter range",
                  (long long)(span / bucket), (long long)bucket);
        return;
    }
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err;
    PGresult *res = db_incidents_stats(db, &f, (long)bucket, by_values[by], &err);
    if (!res) {
        api_pool_fail(r, &err);
        return;
    }
    json_t *series = db_rows_json(res, PQntuples(res), NULL);
    PQclear(res);
    api_reply_json(r, 200,
                   json_pack("{s:s, s:s, s:I, s:s, s:o}", "since", f.since, "until", f.until,
                             "bucket_seconds", (json_int_t)bucket, "by", bys[by], "series",
                             series));
}

void api_incidents_groups(api_req *r)
{
    static const char *const names[] = {"device_id", "type",  "source", "firmware_version",
                                        "since",     "until", "limit",  "quarantined",
                                        NULL};
    db_incident_filter f;
    api_incidents_filter_buf buf;
    int64_t limit = 50, span;
    if (api_param_only(r, names) < 0 || api_incidents_filter(r, &f, &buf) < 0 ||
        api_param_int(r, "limit", 1, 500, &limit) < 0 ||
        time_range(r, &f, &buf, 7 * 86400, &span) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err;
    PGresult *res = db_incident_groups(db, &f, (int)limit, &err);
    if (!res) {
        api_pool_fail(r, &err);
        return;
    }
    json_t *items = db_rows_json(res, PQntuples(res), NULL);
    PQclear(res);
    api_reply_json(
        r, 200, json_pack("{s:s, s:s, s:o}", "since", f.since, "until", f.until, "items", items));
}
