/*
 * outbox.c - the update status reports' queue (see outbox.h). Each report
 * is stored with a member "seq" (one more than the newest queued) that
 * orders them and is taken off before it is sent: a downloading sent
 * after its failed would hide the failure.
 */
#include "tools/vigil-device/outbox.h"

#include "protocol/errors.h"
#include "protocol/incident.h"
#include "tools/vigil-device/queue.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATUS_PATH "/v1/update/status"

static json_int_t seq_of(const devq_entry *e)
{
    return json_integer_value(json_object_get(e->report, "seq"));
}

static int by_seq(const void *a, const void *b)
{
    json_int_t x = seq_of(a), y = seq_of(b);
    return x < y ? -1 : x > y;
}

/* The queued reports in their order; *n set. */
static devq_entry *load_sorted(const char *dir, size_t *n)
{
    devq_entry *e = NULL;
    *n = 0;
    if (devq_load(dir, OUTBOX_MAX_REPORTS, &e, n) < 0)
        return NULL;
    qsort(e, *n, sizeof(*e), by_seq);
    return e;
}

int outbox_put(const char *dir, const char *version, const char *state, const char *reason)
{
    char id[37], cut[OUTBOX_REASON_MAX + 1];
    size_t n = 0;
    if (devq_open(dir) < 0 || incident_uuid_v4(id) < 0)
        return -1;
    if (devq_count(dir) >= OUTBOX_MAX_REPORTS)
        return -1; /* full: the server has taken none of them for a long time */
    devq_entry *e = load_sorted(dir, &n);
    json_int_t seq = n ? seq_of(&e[n - 1]) + 1 : 1;
    devq_free(e, n);
    json_t *r =
        json_pack("{s:s,s:s,s:s,s:I}", "id", id, "version", version, "state", state, "seq", seq);
    if (reason && reason[0]) {
        /* printable ASCII only: the server counts characters, we count bytes */
        errors_printable(cut, sizeof(cut), reason, strnlen(reason, OUTBOX_REASON_MAX), '?');
        json_object_set_new(r, "reason", json_string(cut));
    }
    int rc = r ? devq_put(dir, id, r) : -1;
    json_decref(r);
    return rc;
}

/* One report: 1 settled (sent or refused), 0 try later, -1 identity. */
static int send_one(devc *c, const char *dir, devq_entry *e, outbox_totals *t)
{
    char err[512] = "";
    devc_response resp;
    json_t *body = json_copy(e->report);
    json_object_del(body, "seq");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    devc_result r = text ? devc_post(c, STATUS_PATH, text, &resp, err, sizeof(err)) : DEVC_RETRY;
    free(text);
    const char *state = json_string_value(json_object_get(e->report, "state"));
    const char *version = json_string_value(json_object_get(e->report, "version"));
    if (r != DEVC_OK) {
        fprintf(stderr, "vigil-device: status %s of %s not sent: %s\n", state, version, err);
        return r == DEVC_IDENTITY ? -1 : 0;
    }
    int settled = 1;
    if (resp.status == 200) {
        devq_remove(dir, e->id);
        t->sent++;
        fprintf(stderr, "vigil-device: status %s of %s: %s\n", state, version, resp.body);
    } else if (resp.status == 429 || resp.status >= 500) {
        settled = 0;
        fprintf(stderr, "vigil-device: status %s of %s: HTTP %d, kept for later\n", state, version,
                resp.status);
    } else {
        devq_reject(dir, e->id, resp.body ? resp.body : "");
        t->refused++;
        fprintf(stderr, "vigil-device: status %s of %s refused: HTTP %d %s\n", state, version,
                resp.status, resp.body);
    }
    devc_response_free(&resp);
    return settled;
}

void outbox_flush(devc *c, const char *dir, outbox_totals *t)
{
    size_t n = 0, i = 0;
    devq_entry *e = load_sorted(dir, &n);
    for (; i < n; i++) {
        int rc = send_one(c, dir, &e[i], t);
        if (rc <= 0) {
            t->identity = rc < 0;
            break;
        }
    }
    t->left = n - i;
    devq_free(e, n);
}
