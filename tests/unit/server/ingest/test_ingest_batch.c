/*
 * test_ingest_batch.c - building a flush of the group commit from queued
 * requests and reading its result back (server/ingest/ingest_batch.c):
 * which requests one flush takes, the rows it sends, repeats within one
 * request and across requests, the server's own events, and the answer
 * each report gets.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/ingest/ingest_batch.h"

/* A request of n reports from device (NULL: a server event); ids[i] is
 * report i's id, or NULL for an invalid report. */
static ingest_req *request(const char *device, size_t n, const char *const *ids)
{
    ingest_req *r = calloc(1, sizeof(*r));
    cr_assert(r);
    r->batch.items = calloc(n, sizeof(incident_item));
    r->batch.n = n;
    r->stored = calloc(n, 1);
    r->rows = calloc(n, sizeof(int));
    r->from_server = device == NULL;
    snprintf(r->device_id, sizeof(r->device_id), "%s", device ? device : "");
    snprintf(r->addr, sizeof(r->addr), "192.0.2.7");
    for (size_t i = 0; i < n; i++) {
        incident_item *it = &r->batch.items[i];
        if (!ids[i])
            continue;
        it->ok = 1;
        r->n_valid++;
        snprintf(it->report.id, sizeof(it->report.id), "%s", ids[i]);
        snprintf(it->report.type, sizeof(it->report.type), "crash");
        snprintf(it->report.severity, sizeof(it->report.severity), "error");
        it->report.occurred_at_us = 1795600800LL * 1000000;
        it->report.details = strdup("{\"pc\":\"0x1\"}");
    }
    return r;
}

static void free_requests(ingest_req *r)
{
    while (r) {
        ingest_req *next = r->next;
        incident_batch_free(&r->batch);
        free(r->stored);
        free(r->rows);
        free(r);
        r = next;
    }
}

#define ID(n) "00000000-0000-4000-8000-00000000000" #n

static size_t count_of(const ingest_req *r)
{
    size_t n = 0;
    for (; r; r = r->next)
        n++;
    return n;
}

Test(ingest_batch, one_report_one_row)
{
    ingest_batch_queue q = {0};
    const char *ids[] = {ID(1)};
    ingest_batch_enqueue(&q, request("dev-1", 1, ids));
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 5000), 0);
    cr_assert_null(q.head);
    cr_assert_eq(q.reports, 0);
    cr_assert_eq(b.reports, 1);
    cr_assert_eq(b.rows, 1);
    cr_assert_str_eq(b.params[0], "{\"dev-1\"}", "key: the device");
    cr_assert_str_eq(b.params[1], "{\"" ID(1) "\"}");
    cr_assert_str_eq(b.params[3], "{\"device\"}");
    cr_assert_str_eq(b.params[6], "{\"2026-11-25T10:00:00.000000Z\"}");
    cr_assert_str_eq(b.params[7], "{NULL}", "no firmware: SQL NULL, not \"\"");
    cr_assert_str_eq(b.params[9], "{\"{\\\"pc\\\":\\\"0x1\\\"}\"}",
                     "details quoted inside the array");
    cr_assert_str_eq(b.params[10], "{\"192.0.2.7\"}");
    cr_assert_eq(b.reqs->rows[0], 0);
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}

Test(ingest_batch, invalid_reports_have_no_row)
{
    ingest_batch_queue q = {0};
    const char *ids[] = {ID(1), NULL, ID(2)};
    ingest_batch_enqueue(&q, request("dev-1", 3, ids));
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 5000), 0);
    cr_assert_eq(b.rows, 2);
    cr_assert_eq(b.reqs->rows[0], 0);
    cr_assert_eq(b.reqs->rows[1], -1);
    cr_assert_eq(b.reqs->rows[2], 1);
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}

Test(ingest_batch, a_repeat_within_one_request_is_sent_once)
{
    ingest_batch_queue q = {0};
    const char *ids[] = {ID(1), ID(1), ID(2)};
    ingest_batch_enqueue(&q, request("dev-1", 3, ids));
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 5000), 0);
    cr_assert_eq(b.reports, 3, "every valid report is counted");
    cr_assert_eq(b.rows, 2, "but the repeat has no row");
    cr_assert_eq(b.reqs->rows[1], -1);
    unsigned char stored[] = {1, 1};
    ingest_batch_results(&b, stored);
    cr_assert_eq(b.reqs->stored[0], 1, "the first is stored");
    cr_assert_eq(b.reqs->stored[1], 0, "the repeat is a duplicate of it");
    cr_assert_eq(b.reqs->stored[2], 1);
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}

Test(ingest_batch, a_repeat_across_requests_is_sent_once_but_another_device_is_not_a_repeat)
{
    ingest_batch_queue q = {0};
    const char *ids[] = {ID(1)};
    ingest_batch_enqueue(&q, request("dev-1", 1, ids));
    ingest_batch_enqueue(&q, request("dev-1", 1, ids)); /* a retry racing the first */
    ingest_batch_enqueue(&q, request("dev-2", 1, ids)); /* the same id from another device */
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 5000), 0);
    cr_assert_eq(count_of(b.reqs), 3);
    cr_assert_eq(b.rows, 2);
    cr_assert_str_eq(b.params[0], "{\"dev-1\",\"dev-2\"}");
    cr_assert_eq(b.reqs->next->rows[0], -1);
    cr_assert_eq(b.reqs->next->next->rows[0], 1);
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}

Test(ingest_batch, server_events_have_their_own_key_and_no_device)
{
    ingest_batch_queue q = {0};
    const char *ids[] = {ID(1)};
    ingest_batch_enqueue(&q, request(NULL, 1, ids));
    ingest_batch_enqueue(&q, request("dev-1", 1, ids));
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 5000), 0);
    cr_assert_eq(b.rows, 2, "a server event never meets a device's report id");
    cr_assert_str_eq(b.params[0], "{\"" INGEST_SERVER_KEY "\",\"dev-1\"}");
    cr_assert_str_eq(b.params[2], "{NULL,\"dev-1\"}");
    cr_assert_str_eq(b.params[3], "{\"server\",\"device\"}");
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}

Test(ingest_batch, requests_are_taken_while_they_fit)
{
    ingest_batch_queue q = {0};
    const char *three[] = {ID(1), ID(2), ID(3)}, *two[] = {ID(4), ID(5)}, *one[] = {ID(6)};
    ingest_batch_enqueue(&q, request("dev-1", 3, three));
    ingest_batch_enqueue(&q, request("dev-2", 2, two));
    ingest_batch_enqueue(&q, request("dev-3", 1, one));
    cr_assert_eq(q.reports, 6);
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 4), 0);
    cr_assert_eq(count_of(b.reqs), 1, "3 + 2 would not fit in 4");
    cr_assert_eq(b.reports, 3);
    cr_assert_eq(q.reports, 3, "the rest stay queued, in order");
    cr_assert_str_eq(q.head->device_id, "dev-2");
    free_requests(b.reqs);
    ingest_batch_clear(&b);
    cr_assert_eq(ingest_batch_take(&b, &q, 4), 0);
    cr_assert_eq(count_of(b.reqs), 2, "2 + 1 fit");
    cr_assert_null(q.head);
    cr_assert_null(q.tail);
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}

Test(ingest_batch, a_request_larger_than_a_flush_goes_whole)
{
    ingest_batch_queue q = {0};
    const char *ids[] = {ID(1), ID(2), ID(3)};
    ingest_batch_enqueue(&q, request("dev-1", 3, ids));
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 2), 0);
    cr_assert_eq(b.rows, 3, "never split, never starved");
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}

Test(ingest_batch, results_map_rows_back_to_reports)
{
    ingest_batch_queue q = {0};
    const char *a[] = {ID(1), NULL, ID(2)}, *c[] = {ID(3)};
    ingest_batch_enqueue(&q, request("dev-1", 3, a));
    ingest_batch_enqueue(&q, request("dev-2", 1, c));
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 5000), 0);
    unsigned char stored[] = {0, 1, 1}; /* row 0 was already in incident_keys */
    ingest_batch_results(&b, stored);
    cr_assert_eq(b.reqs->stored[0], 0, "a duplicate of an earlier commit");
    cr_assert_eq(b.reqs->stored[1], 0, "invalid: never stored");
    cr_assert_eq(b.reqs->stored[2], 1);
    cr_assert_eq(b.reqs->next->stored[0], 1);
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}

Test(ingest_batch, many_reports_fill_the_repeat_table_without_losing_one)
{
    enum { N = 3000 };
    static char ids[N][37];
    const char *p[N];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "00000000-0000-4000-8000-%012d", i % 1000);
        p[i] = ids[i];
    }
    ingest_batch_queue q = {0};
    ingest_batch_enqueue(&q, request("dev-1", N, p));
    ingest_batch b;
    cr_assert_eq(ingest_batch_take(&b, &q, 5000), 0);
    cr_assert_eq(b.rows, 1000, "each id once");
    for (int i = 0; i < N; i++)
        cr_assert_eq(b.reqs->rows[i], i < 1000 ? i : -1);
    free_requests(b.reqs);
    ingest_batch_clear(&b);
}
