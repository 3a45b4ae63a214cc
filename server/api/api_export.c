/*
 * api_export.c - GET /v1/incidents/export: every incident of a filter as
 * NDJSON or CSV, streamed. The filter is checked and the first page
 * fetched before the status line goes out, so a bad filter is a 400 and a
 * failing first query a 5xx, never a 200 and then a cut. The server holds
 * one page (EXPORT_PAGE rows) at a time: libmicrohttpd asks for more
 * bytes, the next keyset page is fetched on a pooled connection that is
 * returned at once, and the stream ends when a page comes back short. A
 * database failure mid-stream cuts the chunked response, so a client can
 * tell a truncated export from a complete one.
 */
#include "server/api/api_handlers.h"

#include "server/api/api_incidents.h"
#include "server/api/api_param.h"
#include "server/core/log.h"
#include "server/core/metrics.h"

#include <stdlib.h>
#include <string.h>

#define EXPORT_PAGE 1000

typedef struct export_state {
    api_pool *pool;
    int csv;
    int done;
    char *filter_text[9]; /* owned copies: the request's strings go away */
    db_incident_filter f;
    char cursor_us[24], cursor_seq[24];
    int have_cursor;
    strbuf out;
    size_t sent; /* bytes of out already handed over */
} export_state;

static const char csv_header[] =
    "seq,id,device_id,source,type,severity,occurred_at,received_at,firmware_version,"
    "component,source_address,group,details,quarantined\r\n";

/* One CSV field (RFC 4180 quoting). Text a device chose that a spreadsheet
 * would run as a formula gets a leading quote. */
static void csv_field(strbuf *b, const char *v, int last)
{
    int formula = v[0] && strchr("=+-@\t\r", v[0]);
    if (formula || strpbrk(v, ",\"\r\n")) {
        strbuf_puts(b, formula ? "\"'" : "\"");
        for (const char *c = v; *c; c++) {
            strbuf_append(b, c, 1);
            if (*c == '"')
                strbuf_append(b, c, 1); /* a quote is doubled */
        }
        strbuf_puts(b, "\"");
    } else {
        strbuf_puts(b, v);
    }
    strbuf_puts(b, last ? "\r\n" : ",");
}

static void render_csv(strbuf *b, PGresult *res, int row)
{
    /* the columns of db_incidents_list, details moved after group (as
     * before the quarantined mark came, which is added last) */
    static const int order[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 10};
    for (int k = 0; k < 13; k++) {
        int c = order[k];
        csv_field(b, PQgetisnull(res, row, c) ? "" : PQgetvalue(res, row, c), 0);
    }
    csv_field(b, strcmp(PQgetvalue(res, row, 13), "t") == 0 ? "true" : "false", 1);
}

/* NDJSON pages come from db_incidents_list_json (incident, received_us,
 * seq): each line is PostgreSQL's JSON. CSV pages from db_incidents_list
 * (the columns, then received_us). */
static void render_page(export_state *s, PGresult *res)
{
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        if (s->csv) {
            render_csv(&s->out, res, i);
        } else {
            strbuf_append(&s->out, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0));
            strbuf_puts(&s->out, "\n");
        }
    }
    if (n > 0) {
        int us_col = s->csv ? DB_INCIDENT_FIELDS : 1, seq_col = s->csv ? 0 : 2;
        snprintf(s->cursor_us, sizeof(s->cursor_us), "%s", PQgetvalue(res, n - 1, us_col));
        snprintf(s->cursor_seq, sizeof(s->cursor_seq), "%s", PQgetvalue(res, n - 1, seq_col));
        s->have_cursor = 1;
    }
    if (n < EXPORT_PAGE)
        s->done = 1;
}

/* The next page into s->out (after the CSV header on the first). 0, or -1
 * with err when the query failed. */
static int fetch_page(export_state *s, PGconn *db, db_error *err)
{
    db_incident_cursor after = {s->cursor_us, s->cursor_seq};
    const db_incident_cursor *pafter = s->have_cursor ? &after : NULL;
    PGresult *res = s->csv ? db_incidents_list(db, &s->f, pafter, EXPORT_PAGE, err)
                           : db_incidents_list_json(db, &s->f, pafter, EXPORT_PAGE, err);
    if (!res)
        return -1;
    strbuf_reset(&s->out);
    s->sent = 0;
    if (s->csv && !s->have_cursor)
        strbuf_puts(&s->out, csv_header);
    render_page(s, res);
    PQclear(res);
    return 0;
}

/* A page after the first, on a connection of its own. -1 when it could
 * not be had. */
static int fetch_next_page(export_state *s)
{
    db_error err;
    PGconn *db = api_pool_lease(s->pool, 5000, &err);
    if (!db) {
        log_warn("export: no database connection", "error", err.msg, NULL);
        return -1;
    }
    int rc = fetch_page(s, db, &err);
    api_pool_return(s->pool, db, rc < 0);
    if (rc < 0) {
        metrics_add(&metrics.db_errors, 1);
        log_warn("export: query failed; the stream is cut", "error", err.msg, NULL);
        return -1;
    }
    return s->out.failed ? -1 : 0;
}

static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    export_state *s = cls;
    (void)pos;
    while (s->sent == s->out.len) {
        if (s->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (fetch_next_page(s) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->out.len - s->sent;
    if (n > max)
        n = max;
    memcpy(buf, s->out.data + s->sent, n);
    s->sent += n;
    return (ssize_t)n;
}

static void export_free(void *cls)
{
    export_state *s = cls;
    for (int i = 0; i < 9; i++)
        free(s->filter_text[i]);
    strbuf_free(&s->out);
    free(s);
}

/* Copies the filter's strings into s so the stream outlives the request. */
static int keep_filter(export_state *s, const db_incident_filter *f)
{
    const char *src[9] = {f->device_id, f->type,  f->severity, f->source,     f->firmware_version,
                          f->group,     f->since, f->until,    f->quarantined};
    const char **dst[9] = {&s->f.device_id,        &s->f.type,  &s->f.severity, &s->f.source,
                           &s->f.firmware_version, &s->f.group, &s->f.since,    &s->f.until,
                           &s->f.quarantined};
    for (int i = 0; i < 9; i++) {
        if (!src[i])
            continue;
        if (!(s->filter_text[i] = strdup(src[i])))
            return -1;
        *dst[i] = s->filter_text[i];
    }
    return 0;
}

void api_export_incidents(api_req *r)
{
    static const char *const names[] = {"device_id",        "type",        "severity", "source",
                                        "firmware_version", "since",       "until",    "group",
                                        "format",           "quarantined", NULL};
    static const char *const formats[] = {"ndjson", "csv", NULL};
    db_incident_filter f;
    api_incidents_filter_buf buf;
    int format = 0;
    if (api_param_only(r, names) < 0 || api_incidents_filter(r, &f, &buf) < 0 ||
        api_param_enum(r, "format", formats, &format) < 0)
        return;
    export_state *s = calloc(1, sizeof(*s));
    if (!s || keep_filter(s, &f) < 0) {
        if (s)
            export_free(s);
        api_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    s->pool = r->pool;
    s->csv = format == 1;
    strbuf_init(&s->out);
    /* The first page on the request's connection, before any status. */
    db_error err;
    PGconn *db = api_pool_conn(r); /* NULL: answered 503 */
    int rc = db ? fetch_page(s, db, &err) : -1;
    if (db && rc < 0)
        api_pool_fail(r, &err);
    else if (db && s->out.failed)
        api_error(r, 500, "internal", NULL, "out of memory");
    if (rc < 0 || s->out.failed) {
        export_free(s);
        return;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, export_read, s, export_free);
    if (!resp) {
        export_free(s);
        api_error(r, 500, "internal", NULL, "out of memory");
        return;
    }
    MHD_add_response_header(resp, "Content-Type",
                            s->csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
    MHD_add_response_header(resp, "Content-Disposition",
                            s->csv ? "attachment; filename=\"incidents.csv\""
                                   : "attachment; filename=\"incidents.ndjson\"");
    api_reply_response(r, 200, resp);
}
