/*
 * bench_answer.c - what counts as a success in an answer to vigil-bench's
 * load (handshakes, ingest), so that a server cannot score with answers
 * that do not do the work: every other answer is an error of one kind,
 * counted and printed (bench_verdict). Also the one header lookup that
 * both HTTP clients of vigil-bench (bench_load.c, bench_query.c) use.
 *
 * Against vigild (the default), per docs/DEVICE-PORT.md:
 *   ingest      a 2xx whose body is {"results":[...]} with one result per
 *               report sent, in order, each carrying that report's id and
 *               status "stored" or "duplicate" (both mean: committed).
 *   handshakes  a 2xx, or the device port's 404 {"error":"not_found"} to
 *               the probe (GET /bench, a path it does not serve): an
 *               answer only an authorized device gets (a refused
 *               certificate gets 401 or 403, and the connection closes).
 * Against the reference (--reference: nginx answering `return 204`, see
 * nginx.conf.in), which stores nothing and so has no report to
 * acknowledge: a 2xx with no body, in both modes.
 */
#include "tools/vigil-bench/bench.h"

#include <jansson.h>
#include <string.h>
#include <strings.h>

const char *bench_answer_header(const char *in, const char *end, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *p = strstr(in, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (h + n < end && !strncasecmp(h, name, n) && h[n] == ':') {
            const char *v = h + n + 1, *e = strstr(v, "\r\n");
            while (*v == ' ' || *v == '\t')
                v++;
            *len = (size_t)((e ? e : end) - v);
            return v;
        }
    }
    return NULL;
}

static int acknowledges(const char *status)
{
    return status && (!strcmp(status, "stored") || !strcmp(status, "duplicate"));
}

/* Whether the results of an ingest answer acknowledge each report sent;
 * reports every acknowledged id to acked either way. */
static int all_acknowledged(json_t *answer, const char (*ids)[37], int n_ids, bench_acked_fn *acked,
                            void *arg)
{
    json_t *results = json_object_get(answer, "results"), *item;
    size_t i;
    int all = json_is_array(results) && json_array_size(results) == (size_t)n_ids;
    json_array_foreach(results, i, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        int ack = acknowledges(json_string_value(json_object_get(item, "status")));
        if (ack && id && acked)
            acked(arg, id);
        if (!ack || !id || i >= (size_t)n_ids || strcmp(id, ids[i]) != 0)
            all = 0;
    }
    return all;
}

/* The device port's answer to an authorized device asking for a path it
 * does not serve. */
static int is_not_found(json_t *answer)
{
    const char *code = json_string_value(json_object_get(answer, "error"));
    return code && !strcmp(code, "not_found");
}

/* The verdict of an answer that is not a success. */
static bench_verdict error_kind(int status)
{
    if (status >= 200 && status < 300)
        return BV_2XX;
    if (status >= 400 && status < 500)
        return BV_4XX;
    if (status >= 500 && status < 600)
        return BV_5XX;
    return BV_OTHER;
}

bench_verdict bench_answer_judge(const bench_cfg *cfg, int status, const char *body,
                                 size_t body_len, const char (*ids)[37], int n_ids,
                                 bench_acked_fn *acked, void *arg)
{
    int is_2xx = status >= 200 && status < 300, ok;
    if (cfg->reference)
        return is_2xx && body_len == 0 ? BV_OK : error_kind(status);
    if (cfg->mode == BM_HANDSHAKES && is_2xx)
        return BV_OK;
    int read_body = cfg->mode == BM_INGEST ? is_2xx : status == 404;
    json_t *answer = read_body && body_len ? json_loadb(body, body_len, 0, NULL) : NULL;
    if (cfg->mode == BM_INGEST)
        ok = json_is_object(answer) && all_acknowledged(answer, ids, n_ids, acked, arg);
    else
        ok = is_not_found(answer);
    json_decref(answer);
    return ok ? BV_OK : error_kind(status);
}
