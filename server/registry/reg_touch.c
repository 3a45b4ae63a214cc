/*
 * reg_touch.c - batched last-seen and firmware writes (see reg_touch.h).
 *
 * Rows gather in four PostgreSQL array literals (device, address,
 * firmware, the firmware's report time); a uv_check sends them at the end
 * of the loop iteration that noted them, or when the UPDATE in flight
 * returns.
 */
#include "server/registry/reg_touch.h"

#include "server/core/hash.h"
#include "server/core/log.h"
#include "server/core/strbuf.h"
#include "server/registry/reg_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TOUCH_MAX_ROWS 10000
#define TOUCH_COLUMNS 4

/* Last seen (rows with an address, from handshakes) and firmware version
 * (rows with a firmware, from reports whose version differs from the last
 * one noted) in one statement. A firmware from an older report (a device
 * emptying its queue after an update) never replaces a newer one. */
static const char touch_sql[] =
    "UPDATE devices d SET"
    " last_seen_at = CASE WHEN u.a IS NULL THEN d.last_seen_at ELSE now() END,"
    " last_address = coalesce(u.a, d.last_address),"
    " firmware_version = CASE WHEN u.fw IS NOT NULL AND (d.firmware_reported_at IS NULL"
    "  OR u.at >= d.firmware_reported_at) THEN u.fw ELSE d.firmware_version END,"
    " firmware_reported_at = CASE WHEN u.fw IS NOT NULL AND (d.firmware_reported_at IS NULL"
    "  OR u.at >= d.firmware_reported_at) THEN u.at ELSE d.firmware_reported_at END"
    " FROM (SELECT id, (array_agg(a ORDER BY n DESC) FILTER (WHERE a IS NOT NULL))[1] AS a,"
    "  (array_agg(fw ORDER BY at_us DESC) FILTER (WHERE fw IS NOT NULL))[1] AS fw,"
    "  'epoch'::timestamptz + max(at_us) FILTER (WHERE fw IS NOT NULL)"
    "   * interval '1 microsecond' AS at"
    "  FROM unnest($1::text[], $2::inet[], $3::text[], $4::int8[])"
    "  WITH ORDINALITY AS t(id, a, fw, at_us, n) GROUP BY id) u"
    " WHERE d.id = u.id";

struct reg_touch {
    uv_check_t check;          /* sends what the iteration noted */
    pg_async_conn *pg;
    strbuf cols[TOUCH_COLUMNS];   /* touch_sql's arrays: id, address, firmware, at */
    size_t rows;
    int inflight;              /* an UPDATE is in flight */
    int freed;                 /* reg_touch_free was called: on_touched frees */
    void (*idle_cb)(void *);
    void *idle_arg;
};

static void check_idle(reg_touch *t)
{
    if (t->idle_cb && !t->inflight && !t->rows) {
        void (*cb)(void *) = t->idle_cb;
        t->idle_cb = NULL;
        cb(t->idle_arg);
    }
}

static void forget_rows(reg_touch *t)
{
    for (int i = 0; i < TOUCH_COLUMNS; i++)
        strbuf_reset(&t->cols[i]);
    t->rows = 0;
}

static void send_rows(reg_touch *t);

static void on_touched(PGresult *res, void *arg)
{
    reg_touch *t = arg;
    t->inflight = 0;
    if (t->freed) {
        free(t);
        return;
    }
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        log_warn("cannot record devices' last address or firmware", "error",
                 res ? PQresultErrorMessage(res) : "connection lost", NULL);
    send_rows(t);
    check_idle(t);
}

/* Sends what waits, unless an UPDATE is in flight (its answer sends it)
 * or the database is away (the rows are dropped: see reg_touch.h). */
static void send_rows(reg_touch *t)
{
    if (!t->rows || t->inflight)
        return;
    int failed = 0;
    const char *params[TOUCH_COLUMNS];
    for (int i = 0; i < TOUCH_COLUMNS; i++) {
        strbuf_array_close(&t->cols[i]);
        failed |= t->cols[i].failed;
        params[i] = t->cols[i].data;
    }
    if (!failed && pg_async_is_up(t->pg) &&
        pg_async_query(t->pg, touch_sql, TOUCH_COLUMNS, params, on_touched, t) == 0)
        t->inflight = 1;
    forget_rows(t);
}

static void on_check(uv_check_t *h)
{
    reg_touch *t = h->data;
    uv_check_stop(h);
    send_rows(t);
    check_idle(t);
}

/* One row: addr for a connection, or firmware and the time of the report
 * that carried it. */
static void add_row(reg_touch *t, const char *device_id, const char *addr, const char *firmware,
                    int64_t at_us)
{
    if (t->rows >= TOUCH_MAX_ROWS)
        return;
    if (t->rows == 0)
        for (int i = 0; i < TOUCH_COLUMNS; i++)
            strbuf_array_open(&t->cols[i]);
    char at[24];
    snprintf(at, sizeof(at), "%lld", (long long)at_us);
    strbuf_array_elem(&t->cols[0], device_id);
    strbuf_array_elem(&t->cols[1], addr);
    strbuf_array_elem(&t->cols[2], firmware);
    strbuf_array_elem(&t->cols[3], firmware ? at : NULL);
    t->rows++;
    uv_check_start(&t->check, on_check);
}

void reg_touch_connected(reg_touch *t, const char *device_id, const char *addr,
                         int network_changed)
{
    if (reg_view_touch_due(device_id, (int64_t)time(NULL)) || network_changed)
        add_row(t, device_id, addr, NULL, 0);
}

void reg_touch_reports(reg_touch *t, const char *device_id, const incident_batch *batch)
{
    const incident *newest = NULL;
    for (size_t i = 0; i < batch->n; i++) {
        const incident *rep = &batch->items[i].report;
        if (batch->items[i].ok && rep->firmware_version[0] &&
            (!newest || rep->occurred_at_us > newest->occurred_at_us))
            newest = rep;
    }
    if (newest && reg_view_firmware_changed(device_id, hash_fnv1a(newest->firmware_version)))
        add_row(t, device_id, NULL, newest->firmware_version, newest->occurred_at_us);
}

reg_touch *reg_touch_new(uv_loop_t *loop, pg_async_conn *pg)
{
    reg_touch *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->pg = pg;
    for (int i = 0; i < TOUCH_COLUMNS; i++)
        strbuf_init(&t->cols[i]);
    uv_check_init(loop, &t->check);
    t->check.data = t;
    return t;
}

static void on_check_closed(uv_handle_t *h)
{
    reg_touch *t = h->data;
    if (!t->inflight)
        free(t);
    else
        t->freed = 1;   /* on_touched frees it */
}

void reg_touch_free(reg_touch *t)
{
    if (!t)
        return;
    for (int i = 0; i < TOUCH_COLUMNS; i++)
        strbuf_free(&t->cols[i]);
    t->rows = 0;
    t->idle_cb = NULL;
    uv_close((uv_handle_t *)&t->check, on_check_closed);
}

void reg_touch_when_idle(reg_touch *t, void (*cb)(void *arg), void *arg)
{
    t->idle_cb = cb;
    t->idle_arg = arg;
    send_rows(t);
    check_idle(t);
}
