/*
 * reg_touch.c - batched last-seen and firmware writes (see reg_touch.h).
 *
 * Noted rows wait in an array, oldest first. A uv_check sends the first
 * REG_TOUCH_ROWS_PER_UPDATE of them at the end of the loop iteration that
 * noted them, as four PostgreSQL array literals; they leave the array
 * only when the statement has answered: committed, or refused by
 * PostgreSQL. A lost connection keeps them for reg_touch_db_up.
 */
#include "server/registry/reg_touch.h"

#include "protocol/device_id.h"
#include "server/core/addr.h"
#include "server/core/hash.h"
#include "server/core/log.h"
#include "server/core/strbuf.h"
#include "server/registry/reg_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* One row: an address (a connection) or a firmware and the time of the
 * report that carried it. */
typedef struct touch_row {
    char device_id[DEVICE_ID_MAX + 1];
    char addr[ADDR_TEXT_MAX];             /* "" for a firmware row */
    char firmware[INCIDENT_TEXT_MAX + 1]; /* "" for an address row */
    int64_t at_us;
} touch_row;

struct reg_touch {
    uv_check_t check; /* sends what waits, once per loop iteration */
    pg_async_conn *pg;
    touch_row *rows; /* the first n are waiting, oldest first */
    size_t n, cap;   /* cap grows to REG_TOUCH_MAX_ROWS at most */
    size_t inflight; /* rows[0..inflight) are in the statement in flight */
    int freed;       /* reg_touch_free was called: on_touched frees */
    void (*idle_cb)(void *);
    void *idle_arg;
};

static void on_check(uv_check_t *h);

static int is_idle(const reg_touch *t)
{
    return !t->inflight && (!t->n || !pg_async_is_up(t->pg));
}

static void check_idle(reg_touch *t)
{
    if (t->idle_cb && is_idle(t)) {
        void (*cb)(void *) = t->idle_cb;
        t->idle_cb = NULL;
        cb(t->idle_arg);
    }
}

/* Rows [0, k) leave the array; forgotten: the view forgets them too. */
static void drop_rows(reg_touch *t, size_t k, int forgotten)
{
    for (size_t i = 0; forgotten && i < k; i++)
        reg_view_forget_touch(t->rows[i].device_id);
    memmove(t->rows, t->rows + k, (t->n - k) * sizeof(*t->rows));
    t->n -= k;
}

static void on_touched(PGresult *res, void *arg)
{
    reg_touch *t = arg;
    size_t sent = t->inflight;
    t->inflight = 0;
    if (t->freed) {
        free(t->rows);
        free(t);
        return;
    }
    if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
        drop_rows(t, sent, 0);
    } else if (res) { /* PostgreSQL refused it: sending it again would not help */
        log_warn("cannot record devices' last address or firmware", "error",
                 PQresultErrorMessage(res), NULL);
        drop_rows(t, sent, 1);
    } /* no result: the connection went; the rows wait for it */
    if (t->n)
        uv_check_start(&t->check, on_check); /* never send from inside a send */
    check_idle(t);
}

/* The four array literals of rows [0, k). 0, or -1 when out of memory. */
static int build_params(const reg_touch *t, size_t k, strbuf cols[TOUCH_COLUMNS])
{
    int failed = 0;
    for (int c = 0; c < TOUCH_COLUMNS; c++)
        strbuf_array_open(&cols[c]);
    for (size_t i = 0; i < k; i++) {
        const touch_row *r = &t->rows[i];
        char at[24];
        snprintf(at, sizeof(at), "%lld", (long long)r->at_us);
        strbuf_array_elem(&cols[0], r->device_id);
        strbuf_array_elem(&cols[1], r->addr[0] ? r->addr : NULL);
        strbuf_array_elem(&cols[2], r->firmware[0] ? r->firmware : NULL);
        strbuf_array_elem(&cols[3], r->firmware[0] ? at : NULL);
    }
    for (int c = 0; c < TOUCH_COLUMNS; c++) {
        strbuf_array_close(&cols[c]);
        failed |= cols[c].failed;
    }
    return failed ? -1 : 0;
}

/* Sends the oldest rows, unless an UPDATE is in flight (its answer sends
 * the rest) or the database is away (reg_touch_db_up will). */
static void send_rows(reg_touch *t)
{
    if (!t->n || t->inflight || !pg_async_is_up(t->pg))
        return;
    size_t k = t->n < REG_TOUCH_ROWS_PER_UPDATE ? t->n : REG_TOUCH_ROWS_PER_UPDATE;
    strbuf cols[TOUCH_COLUMNS];
    for (int c = 0; c < TOUCH_COLUMNS; c++)
        strbuf_init(&cols[c]);
    if (build_params(t, k, cols) == 0) {
        const char *params[TOUCH_COLUMNS] = {cols[0].data, cols[1].data, cols[2].data,
                                             cols[3].data};
        /* Set first: a connection that fails inside the send answers at once. */
        t->inflight = k;
        if (pg_async_query(t->pg, touch_sql, TOUCH_COLUMNS, params, on_touched, t) < 0)
            t->inflight = 0;
    }
    for (int c = 0; c < TOUCH_COLUMNS; c++)
        strbuf_free(&cols[c]);
}

static void on_check(uv_check_t *h)
{
    reg_touch *t = h->data;
    uv_check_stop(h);
    send_rows(t);
    check_idle(t);
}

static void add_row(reg_touch *t, const char *device_id, const char *addr, const char *firmware,
                    int64_t at_us)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        touch_row *grown =
            cap <= REG_TOUCH_MAX_ROWS ? realloc(t->rows, cap * sizeof(*grown)) : NULL;
        if (!grown) { /* full: the next connection or report says it again */
            reg_view_forget_touch(device_id);
            return;
        }
        t->rows = grown;
        t->cap = cap;
    }
    touch_row *r = &t->rows[t->n++];
    snprintf(r->device_id, sizeof(r->device_id), "%s", device_id);
    snprintf(r->addr, sizeof(r->addr), "%s", addr ? addr : "");
    snprintf(r->firmware, sizeof(r->firmware), "%s", firmware ? firmware : "");
    r->at_us = at_us;
    uv_check_start(&t->check, on_check);
}

void reg_touch_connected(reg_touch *t, const char *device_id, const char *addr, int network_changed)
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

void reg_touch_db_up(reg_touch *t)
{
    if (t->n)
        uv_check_start(&t->check, on_check);
}

reg_touch *reg_touch_new(uv_loop_t *loop, pg_async_conn *pg)
{
    reg_touch *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->pg = pg;
    uv_check_init(loop, &t->check);
    t->check.data = t;
    return t;
}

static void on_check_closed(uv_handle_t *h)
{
    reg_touch *t = h->data;
    if (t->inflight) {
        t->freed = 1; /* on_touched frees it */
        return;
    }
    free(t->rows);
    free(t);
}

void reg_touch_free(reg_touch *t)
{
    if (!t)
        return;
    t->n = 0;
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
