/*
 * ingest_batch.h - the part of the group commit that needs no database:
 * the queue of requests, building one flush's statement parameters from
 * it, and reading the statement's result back into each request's
 * per-report answers. ingest.c does the I/O around it, as nginx's
 * ngx_http_parse.c beside ngx_http_request.c; tests drive it alone.
 *
 * A flush is the flush statement's INGEST_BATCH_COLUMNS parameters, one
 * PostgreSQL array literal per column and one element per row. A report
 * repeated within one flush (the same device and report id, in one request
 * or in two) is sent once: its first occurrence has the row, the others
 * have none and are answered as duplicates of it.
 *
 * Internal to server/ingest/: other subsystems see ingest.h only.
 */
#ifndef VIGIL_INGEST_BATCH_H
#define VIGIL_INGEST_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/device_id.h"
#include "server/ingest/ingest.h"

#define INGEST_BATCH_COLUMNS 12
/* The key of the server's own events in incident_keys: not a device id,
 * so it never meets a device's report ids. */
#define INGEST_SERVER_KEY "~server"

/* One request's reports, from ingest_submit to its answer. */
struct ingest_req {
    ingest_req *next;
    ingest *ing;
    incident_batch batch;
    char device_id[DEVICE_ID_MAX + 1]; /* "" for an anonymous server event */
    char addr[48];
    int from_server;
    int quarantined;       /* the device was quarantined when it sent them (the mark) */
    size_t n_valid;        /* the batch's valid reports */
    unsigned char *stored; /* per item: stored by its flush (1), or not (0: a duplicate) */
    int *rows;             /* per item: its row in the flush, -1 if invalid or a repeat */
    ingest_done_cb cb;
    void *owner;
    uint64_t submitted_ns; /* uv_hrtime at ingest_submit: its queue wait ends at its flush */
};

/* Requests waiting for a flush, oldest first. */
typedef struct ingest_batch_queue {
    ingest_req *head, *tail;
    size_t reports; /* their valid reports */
} ingest_batch_queue;

void ingest_batch_enqueue(ingest_batch_queue *q, ingest_req *r);
/* The oldest request, taken out; NULL when empty. */
ingest_req *ingest_batch_dequeue(ingest_batch_queue *q);

typedef struct ingest_batch {
    ingest_req *reqs;                   /* the requests taken, oldest first, linked by next */
    size_t reports;                     /* their valid reports */
    size_t rows;                        /* rows in the parameters: reports less repeats */
    char *params[INGEST_BATCH_COLUMNS]; /* owned; NUL-terminated array literals */
} ingest_batch;

/* Takes requests from the front of q while their reports fit in max_rows
 * (the first is taken whole however many it has, so no request waits for
 * ever) and builds the parameters. 0, or -1 when memory ran out: what was
 * taken (at least one request when q had one) is for the caller to fail,
 * so the queue moves on even then. */
int ingest_batch_take(ingest_batch *b, ingest_batch_queue *q, size_t max_rows);
/* The statement committed; row_stored[i] (one flag per row) says whether
 * row i was stored now. Fills each request's stored[]. */
void ingest_batch_results(const ingest_batch *b, const unsigned char *row_stored);
/* Frees the parameters (not the requests, which the caller answers). */
void ingest_batch_clear(ingest_batch *b);

#endif
