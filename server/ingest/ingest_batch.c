/*
 * ingest_batch.c - one flush's parameters from the queue, and the
 * per-report answers from its result (see ingest_batch.h).
 *
 * Repeats are found with a table of the (key, report id) pairs already in
 * the flush: open addressing over FNV-1a hashes, sized to the flush (a
 * fixed table for 5,000 rows was 256 KiB to clear for every flush of a
 * dozen single reports), a full-hash match taken as equal only if the
 * strings match too. Cheaper in C than DISTINCT ON in the statement.
 */
#include "server/ingest/ingest_batch.h"

#include "server/core/hash.h"
#include "server/core/strbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct seen_slot {
    const char *key, *id;
} seen_slot;

typedef struct columns {
    strbuf col[INGEST_BATCH_COLUMNS];
    seen_slot *seen;
    size_t seen_cap; /* a power of two, at least twice the rows */
    size_t rows;
} columns;

void ingest_batch_enqueue(ingest_batch_queue *q, ingest_req *r)
{
    r->next = NULL;
    if (q->tail)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    q->reports += r->n_valid;
}

ingest_req *ingest_batch_dequeue(ingest_batch_queue *q)
{
    ingest_req *r = q->head;
    if (!r)
        return NULL;
    q->head = r->next;
    if (!q->head)
        q->tail = NULL;
    r->next = NULL;
    q->reports -= r->n_valid;
    return r;
}

static int seen_before(columns *c, const char *key, const char *id)
{
    uint64_t h = hash_fnv1a_more(hash_fnv1a(key), id);
    for (size_t i = h & (c->seen_cap - 1);; i = (i + 1) & (c->seen_cap - 1)) {
        if (!c->seen[i].key) {
            c->seen[i].key = key;
            c->seen[i].id = id;
            return 0;
        }
        if (strcmp(c->seen[i].id, id) == 0 && strcmp(c->seen[i].key, key) == 0)
            return 1;
    }
}

/* Appends the report as a row unless the flush already has it; returns
 * its row number or -1. */
static int add_row(columns *c, const ingest_req *r, const incident *rep)
{
    const char *key = r->from_server ? INGEST_SERVER_KEY : r->device_id;
    if (seen_before(c, key, rep->id))
        return -1;
    char occurred[32];
    incident_format_time(rep->occurred_at_us, occurred);
    const char *values[INGEST_BATCH_COLUMNS] = {
        key,
        rep->id,
        r->device_id[0] ? r->device_id : NULL,
        r->from_server ? "server" : "device",
        rep->type,
        rep->severity,
        occurred,
        rep->firmware_version[0] ? rep->firmware_version : NULL,
        rep->component[0] ? rep->component : NULL,
        rep->details ? rep->details : "{}",
        r->addr[0] ? r->addr : NULL,
        r->quarantined ? "t" : "f",
    };
    for (int i = 0; i < INGEST_BATCH_COLUMNS; i++)
        strbuf_array_elem(&c->col[i], values[i]);
    return (int)c->rows++;
}

/* Slots for at least twice the rows this flush can take: the first
 * request whole, then others up to max_rows, never more than are queued. */
static size_t seen_slots(const ingest_batch_queue *q, size_t max_rows)
{
    size_t rows = q->head->n_valid > max_rows ? q->head->n_valid : max_rows;
    if (q->reports < rows)
        rows = q->reports;
    size_t slots = 16;
    while (slots < 2 * rows)
        slots *= 2;
    return slots;
}

/* Moves requests into the batch while they fit, their reports into c. */
static void take_requests(ingest_batch *b, columns *c, ingest_batch_queue *q, size_t max_rows)
{
    ingest_req **tail = &b->reqs;
    while (q->head && (b->reports == 0 || b->reports + q->head->n_valid <= max_rows)) {
        ingest_req *r = ingest_batch_dequeue(q);
        *tail = r;
        tail = &r->next;
        for (size_t i = 0; i < r->batch.n; i++)
            r->rows[i] = r->batch.items[i].ok ? add_row(c, r, &r->batch.items[i].report) : -1;
        b->reports += r->n_valid;
    }
}

int ingest_batch_take(ingest_batch *b, ingest_batch_queue *q, size_t max_rows)
{
    columns c = {.seen_cap = q->head ? seen_slots(q, max_rows) : 16};
    int rc = 0;
    memset(b, 0, sizeof(*b));
    for (int i = 0; i < INGEST_BATCH_COLUMNS; i++) {
        strbuf_init(&c.col[i]);
        strbuf_array_open(&c.col[i]);
    }
    if (!(c.seen = calloc(c.seen_cap, sizeof(*c.seen)))) {
        b->reqs = ingest_batch_dequeue(q); /* for the caller to fail: the queue still moves */
        b->reports = b->reqs ? b->reqs->n_valid : 0;
        rc = -1;
        goto done;
    }
    take_requests(b, &c, q, max_rows);
    b->rows = c.rows;
    for (int i = 0; i < INGEST_BATCH_COLUMNS; i++) {
        strbuf_array_close(&c.col[i]);
        if (!(b->params[i] = strbuf_take(&c.col[i], NULL)))
            rc = -1;
    }
done:
    for (int i = 0; i < INGEST_BATCH_COLUMNS; i++)
        strbuf_free(&c.col[i]);
    free(c.seen);
    return rc;
}

void ingest_batch_results(const ingest_batch *b, const unsigned char *row_stored)
{
    for (ingest_req *r = b->reqs; r; r = r->next)
        for (size_t i = 0; i < r->batch.n; i++)
            r->stored[i] = r->rows[i] >= 0 ? row_stored[r->rows[i]] : 0;
}

void ingest_batch_clear(ingest_batch *b)
{
    for (int i = 0; i < INGEST_BATCH_COLUMNS; i++) {
        free(b->params[i]);
        b->params[i] = NULL;
    }
}
