/*
 * ingest.c - group commit of incident reports (see ingest.h).
 *
 * One flush is one statement, so it is one transaction and PostgreSQL's
 * commit is what the result means. The statement:
 *   1. unnests the column arrays into rows, numbered (a report repeated
 *      within one flush is sent once: ingest_batch.c drops repeats);
 *   2. keeps the rows whose key is not in incident_keys yet: one index
 *      probe per row (OFFSET 0 keeps the planner from turning it into a
 *      hash anti-join over the whole table, which a generic plan for a
 *      prepared statement did, at 3k requests/s); measured 30% cheaper than
 *      ON CONFLICT DO NOTHING's speculative insertion, and no join back
 *      from RETURNING;
 *   3. inserts those keys into incident_keys and those rows into incidents,
 *      with their group (vigil_incident_group, planned once here; see
 *      migration 0004 for why it is not a generated column);
 *   4. returns their numbers: they are "stored", every other valid report
 *      is a "duplicate" of one already committed.
 * Two flushes racing to insert the same new key: the second waits on the
 * unique index, then fails with unique_violation once the first commits;
 * nothing of it was committed, so it is run once more, when the anti-join
 * sees the key (on_flushed).
 * Server events use the key INGEST_SERVER_KEY (not a valid device id)
 * since their ids are generated here and cannot repeat.
 */
#include "server/ingest/ingest.h"

#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/pg_async.h"
#include "server/ingest/ingest_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char flush_sql[] =
    "WITH input AS ("
    " SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],"
    "  $6::text[], $7::timestamptz[], $8::text[], $9::text[], $10::jsonb[], $11::inet[],"
    "  $12::boolean[])"
    "  WITH ORDINALITY AS t(k, id, device_id, source, type, severity, occurred_at,"
    "  firmware_version, component, details, source_address, quarantined, n)),"
    " fresh AS (SELECT * FROM input i WHERE NOT EXISTS (SELECT 1 FROM incident_keys x"
    "  WHERE x.device_id = i.k AND x.report_id = i.id OFFSET 0)),"
    " keys AS (INSERT INTO incident_keys (device_id, report_id) SELECT k, id FROM fresh),"
    " ins AS (INSERT INTO incidents (id, device_id, source, type, severity, occurred_at,"
    "  firmware_version, component, details, source_address, quarantined, fingerprint)"
    "  SELECT id, device_id, source, type, severity, occurred_at, firmware_version,"
    "  component, details, source_address, quarantined,"
    "  vigil_incident_group(type, component, details)"
    "  FROM fresh)"
    " SELECT n FROM fresh";

typedef struct lane lane;

typedef struct flush {
    ingest *ing;
    lane *lane;
    ingest_batch batch; /* its requests and parameters, kept for the one retry */
    uint64_t started_ns;
    int retried;
} flush;

static void flush_free(flush *f)
{
    ingest_batch_clear(&f->batch);
    free(f);
}

static int send_flush(flush *f);

/* A lane is one database connection with at most one flush in flight.
 * With two, one flush fills and runs while the other commits: measured
 * with `vigil-bench ingest --batch 100`, 41k rows/s with one lane and 51k
 * with two. The second lane is only taken for at least
 * INGEST_SECOND_LANE_ROWS queued reports: single reports wait for the
 * flush in flight instead and go in one bigger flush, since a flush costs
 * PostgreSQL about as much as a dozen of its rows (0.25 ms fixed, 16-20 us
 * a row, measured with libpq alone; single-report ingest, 100 connections:
 * 2 lanes always 19-21k req/s, the second one from 64 queued 22-26k). */
#define INGEST_LANES 2
#define INGEST_SECOND_LANE_ROWS 64

struct lane {
    pg_async_conn *pg;
    flush *inflight;
    size_t inflight_rows;
};

struct ingest {
    uv_loop_t *loop;
    uv_check_t check; /* flushes once per loop iteration */
    uv_idle_t wake;   /* makes the next poll not wait, so that check runs soon */
    int open_handles; /* check and wake: ing is freed when both are closed */
    const config *cfg;
    lane lanes[INGEST_LANES];
    ingest_batch_queue queue;
    reg_touch *touch; /* told the firmware of committed reports */
    void (*idle_cb)(void *);
    void *idle_arg;
};

static void maybe_flush(ingest *ing);

static int any_inflight(const ingest *ing)
{
    for (int i = 0; i < INGEST_LANES; i++)
        if (ing->lanes[i].inflight)
            return 1;
    return 0;
}

static pg_async_conn *up_conn(const ingest *ing)
{
    for (int i = 0; i < INGEST_LANES; i++)
        if (pg_async_is_up(ing->lanes[i].pg))
            return ing->lanes[i].pg;
    return NULL;
}

static void req_free(ingest_req *r)
{
    incident_batch_free(&r->batch);
    free(r->rows);
    free(r->stored);
    free(r);
}

static void finish_req(ingest_req *r, int committed)
{
    /* Only a committed report may tell the registry which firmware runs. */
    if (committed && !r->from_server && r->device_id[0])
        reg_touch_reports(r->ing->touch, r->device_id, &r->batch);
    if (r->cb)
        r->cb(r->owner, committed, &r->batch, r->stored);
    req_free(r);
}

static void check_idle(ingest *ing)
{
    if (ing->idle_cb && !ing->queue.head && !any_inflight(ing)) {
        void (*cb)(void *) = ing->idle_cb;
        ing->idle_cb = NULL;
        cb(ing->idle_arg);
    }
}

/* ---- results ---- */

/* The statement returns the numbers (1-based) of the rows it stored. */
static void mark_stored(flush *f, PGresult *res)
{
    size_t nrows = f->batch.rows;
    unsigned char *flags = calloc(nrows ? nrows : 1, 1);
    if (!flags)
        return; /* each report is answered "duplicate": nothing is lost */
    for (int i = 0; i < PQntuples(res); i++) {
        long long n = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (n >= 1 && (size_t)n <= nrows)
            flags[n - 1] = 1;
    }
    ingest_batch_results(&f->batch, flags);
    free(flags);
}

static int is_key_race(PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state && strcmp(state, "23505") == 0;
}

static void on_flushed(PGresult *res, void *arg)
{
    flush *f = arg;
    ingest *ing = f->ing;
    int committed = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!committed && !f->retried && is_key_race(res)) {
        log_info("flush raced another on a report key; running it again", NULL);
        f->retried = 1;
        if (send_flush(f) == 0)
            return;
    }
    if (committed) {
        mark_stored(f, res);
        metrics_add(&metrics.reports_ingested, (int64_t)f->batch.reports);
        metrics_observe_latency(&metrics.commit, uv_hrtime() - f->started_ns);
    } else {
        metrics_add(&metrics.db_errors, 1);
        /* A lost connection is the outage's one warning (core/db_health.h). */
        if (res)
            log_error("incident flush failed", "error", PQresultErrorMessage(res), NULL);
        else
            log_debug("incident flush failed", "error", "connection lost", NULL);
    }
    f->lane->inflight = NULL;
    f->lane->inflight_rows = 0;
    /* The next flush goes out before these answers are written, so
     * PostgreSQL works on it while this loop writes them. */
    ingest_req *done = f->batch.reqs;
    f->batch.reqs = NULL;
    flush_free(f);
    maybe_flush(ing);
    while (done) {
        ingest_req *r = done;
        done = r->next;
        finish_req(r, committed);
    }
    check_idle(ing);
}

/* ---- flushing ---- */

static void fail_flush(flush *f)
{
    f->lane->inflight = NULL;
    f->lane->inflight_rows = 0;
    while (f->batch.reqs) {
        ingest_req *r = f->batch.reqs;
        f->batch.reqs = r->next;
        finish_req(r, 0);
    }
    flush_free(f);
}

static int send_flush(flush *f)
{
    return pg_async_query_prepared(f->lane->pg, "ingest_flush", INGEST_BATCH_COLUMNS,
                                   (const char *const *)f->batch.params, on_flushed, f);
}

static lane *free_lane(ingest *ing)
{
    for (int i = 0; i < INGEST_LANES; i++)
        if (!ing->lanes[i].inflight && pg_async_is_up(ing->lanes[i].pg))
            return &ing->lanes[i];
    return NULL;
}

/* -1 when no flush could start (out of memory): the requests wait for the
 * next loop iteration. */
static int start_flush(ingest *ing, lane *ln)
{
    flush *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->ing = ing;
    f->lane = ln;
    f->started_ns = uv_hrtime();
    ln->inflight = f;
    int built = ingest_batch_take(&f->batch, &ing->queue, (size_t)ing->cfg->flush_max_rows);
    ln->inflight_rows = f->batch.reports;
    for (ingest_req *r = f->batch.reqs; r; r = r->next)
        metrics_observe_latency(&metrics.queue_wait, f->started_ns - r->submitted_ns);
    metrics_add(&metrics.queue_depth, -(int64_t)f->batch.reports);
    metrics_observe_batch(f->batch.reports);
    if (built < 0 || send_flush(f) < 0)
        fail_flush(f);
    return 0;
}

static void maybe_flush(ingest *ing)
{
    lane *ln;
    while (ing->queue.head && (ln = free_lane(ing)) &&
           (!any_inflight(ing) || ing->queue.reports >= INGEST_SECOND_LANE_ROWS))
        if (start_flush(ing, ln) < 0)
            break;
}

/* ---- public ---- */

/* libuv runs check handles after the poll, and the poll waits for I/O or
 * the next timer unless an idle handle is active: without it, a report
 * submitted from a timer callback (a connection's next turn) would wait
 * for unrelated I/O before its flush starts. It is stopped at the first
 * check, so a flush in flight never makes the loop spin. */
static void on_wake(uv_idle_t *h)
{
    (void)h;
}

static void on_check(uv_check_t *h)
{
    ingest *ing = h->data;
    uv_idle_stop(&ing->wake);
    maybe_flush(ing);
    if (!ing->queue.head)
        uv_check_stop(h);
}

static void on_db_state(pg_async_conn *c, int up, void *arg)
{
    (void)c;
    ingest *ing = arg;
    metrics_add(&metrics.db_up, up ? 1 : -1);
    if (up)
        maybe_flush(ing);
}

ingest *ingest_new(uv_loop_t *loop, const config *cfg, int worker_index, reg_touch *touch)
{
    char name[32];
    ingest *ing = calloc(1, sizeof(*ing));
    if (!ing)
        return NULL;
    ing->loop = loop;
    ing->cfg = cfg;
    ing->touch = touch;
    uv_check_init(loop, &ing->check);
    uv_idle_init(loop, &ing->wake);
    ing->check.data = ing->wake.data = ing;
    ing->open_handles = 2;
    for (int i = 0; i < INGEST_LANES; i++) {
        lane *ln = &ing->lanes[i];
        snprintf(name, sizeof(name), "vigild-ingest-%d.%d", worker_index, i);
        if (!(ln->pg = pg_async_new(loop, cfg->database_url, name, on_db_state, NULL, ing)) ||
            pg_async_prepare(ln->pg, "ingest_flush", flush_sql, INGEST_BATCH_COLUMNS) < 0)
            return NULL; /* vigild exits at startup; the OS reclaims the rest */
    }
    return ing;
}

static void handle_closed(uv_handle_t *h)
{
    ingest *ing = h->data;
    if (--ing->open_handles == 0)
        free(ing);
}

void ingest_free(ingest *ing)
{
    if (!ing)
        return;
    ingest_req *r;
    while ((r = ingest_batch_dequeue(&ing->queue)))
        finish_req(r, 0);
    for (int i = 0; i < INGEST_LANES; i++) {
        if (pg_async_is_up(ing->lanes[i].pg))
            metrics_add(&metrics.db_up, -1);
        pg_async_close(ing->lanes[i].pg); /* fails the flush in flight, if any */
    }
    uv_close((uv_handle_t *)&ing->wake, handle_closed);
    uv_close((uv_handle_t *)&ing->check, handle_closed);
}

int ingest_is_up(const ingest *ing)
{
    return up_conn(ing) != NULL;
}

size_t ingest_queued(const ingest *ing)
{
    size_t n = ing->queue.reports;
    for (int i = 0; i < INGEST_LANES; i++)
        n += ing->lanes[i].inflight_rows;
    return n;
}

ingest_req *ingest_submit(ingest *ing, const char *device_id, const char *source_addr, int flags,
                          incident_batch *batch, ingest_done_cb cb, void *owner)
{
    size_t n_valid = 0;
    for (size_t i = 0; i < batch->n; i++)
        n_valid += batch->items[i].ok ? 1 : 0;
    size_t limit = (size_t)ing->cfg->flush_max_rows * 4;
    if (!up_conn(ing) || n_valid == 0 || ing->queue.reports + n_valid > limit)
        return NULL;
    ingest_req *r = calloc(1, sizeof(*r));
    if (!r || !(r->stored = calloc(batch->n, 1)) || !(r->rows = calloc(batch->n, sizeof(int)))) {
        if (r)
            free(r->stored);
        free(r);
        return NULL;
    }
    r->ing = ing;
    r->batch = *batch;
    memset(batch, 0, sizeof(*batch));
    snprintf(r->device_id, sizeof(r->device_id), "%s", device_id ? device_id : "");
    snprintf(r->addr, sizeof(r->addr), "%s", source_addr ? source_addr : "");
    r->from_server = (flags & INGEST_FROM_SERVER) != 0;
    r->quarantined = (flags & INGEST_QUARANTINED) != 0;
    r->n_valid = n_valid;
    r->cb = cb;
    r->owner = owner;
    r->submitted_ns = uv_hrtime();
    ingest_batch_enqueue(&ing->queue, r);
    metrics_add(&metrics.queue_depth, (int64_t)n_valid);
    /* Not now: after this loop iteration's other requests have queued
     * too, and never inside the caller's own call. */
    uv_check_start(&ing->check, on_check);
    uv_idle_start(&ing->wake, on_wake);
    return r;
}

void ingest_detach(ingest_req *req)
{
    if (req) {
        req->cb = NULL;
        req->owner = NULL;
    }
}

void ingest_when_idle(ingest *ing, void (*cb)(void *arg), void *arg)
{
    ing->idle_cb = cb;
    ing->idle_arg = arg;
    check_idle(ing);
}
