/*
 * send.c - delivering the on-disk queue (see send.h). The queue is the
 * truth: a report is removed only after its own verdict came back, so a
 * crash at any point repeats at most a request, which the server dedupes.
 */
#include "tools/vigil-device/send.h"

#include "tools/vigil-device/queue.h"
#include "tools/vigil-device/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 100
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 30000

/* Applies the per-report verdicts of a 200; returns how many were settled. */
static size_t apply_results(const char *dir, json_t *answer, dev_totals *t)
{
    size_t i, settled = 0;
    json_t *item;
    json_array_foreach(json_object_get(answer, "results"), i, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        const char *status = json_string_value(json_object_get(item, "status"));
        if (!id || !status)
            continue;
        if (strcmp(status, "stored") == 0 || strcmp(status, "duplicate") == 0) {
            if (devq_remove(dir, id) == 0) {
                settled++;
                *(strcmp(status, "stored") == 0 ? &t->stored : &t->duplicate) += 1;
            }
        } else if (strcmp(status, "rejected") == 0) {
            const char *why = json_string_value(json_object_get(item, "reason"));
            if (devq_reject(dir, id, why ? why : "rejected") == 0) {
                settled++;
                t->rejected++;
                fprintf(stderr, "vigil-device: report %s rejected: %s\n", id, why ? why : "");
            }
        }
    }
    return settled;
}

/* One batch: 1 settled something, 0 retry later (delay set), -1 give up. */
static int send_batch(devc *c, const char *dir, devq_entry *e, size_t n, dev_totals *t,
                      long long *delay)
{
    char err[512] = "";
    devc_response resp;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(arr, e[i].report);
    char *body = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    devc_result r = body ? devc_post(c, "/v1/incidents", body, &resp, err, sizeof(err))
                         : DEVC_RETRY;
    free(body);
    *delay = -1;
    if (r != DEVC_OK) {
        fprintf(stderr, "vigil-device: %s\n", err[0] ? err : "the connection failed");
        t->identity_error = r == DEVC_IDENTITY;
        return r == DEVC_IDENTITY ? -1 : 0;
    }
    fprintf(stderr, "vigil-device: sent %zu report(s): HTTP %d\n", n, resp.status);
    int rc = 0;
    json_t *answer = json_loads(resp.body ? resp.body : "", 0, NULL);
    if (resp.status == 200 && answer) {
        rc = apply_results(dir, answer, t) > 0 ? 1 : 0;
    } else if (resp.status == 401 || resp.status == 403) {
        char code[64], why[256];
        devc_error_of(&resp, code, sizeof(code), why, sizeof(why));
        fprintf(stderr, "vigil-device: the server refused this certificate (HTTP %d %s): %s\n",
                resp.status, code, why);
        t->identity_error = 1;
        rc = -1;
    } else if (resp.status == 429 || resp.status >= 500) {
        if (resp.retry_after >= 0)
            *delay = (long long)resp.retry_after * 1000;
    } else {
        fprintf(stderr, "vigil-device: unexpected answer %d: %s\n", resp.status, resp.body);
    }
    json_decref(answer);
    devc_response_free(&resp);
    return rc;
}

void dev_send_queue(devc *c, const char *dir, long long max_ms, dev_totals *t)
{
    long long deadline = devu_now_ms() + max_ms;
    int attempt = 0;
    for (;;) {
        devq_entry *e = NULL;
        size_t n = 0;
        long long delay;
        if (devq_load(dir, BATCH, &e, &n) < 0 || n == 0) {
            devq_free(e, n);
            break;
        }
        int rc = send_batch(c, dir, e, n, t, &delay);
        devq_free(e, n);
        if (rc < 0)
            break;
        if (rc > 0) {
            attempt = 0;
            continue;
        }
        long long wait =
            delay >= 0 ? delay : devu_backoff_ms(attempt++, BACKOFF_BASE_MS, BACKOFF_CAP_MS);
        if (devu_now_ms() + wait >= deadline)
            break;
        fprintf(stderr, "vigil-device: retrying in %lld ms\n", wait);
        devu_sleep_ms(wait);
    }
    t->queued = devq_count(dir);
}
