/*
 * gw_artifact.c - artifact downloads (see gw_artifact.h): the checks and
 * the Range, then the pieces, each one `substring(data FROM .. FOR ..)` of
 * one chunk row read asynchronously in binary form, into one of the
 * download's two buffers, written by the connection from there.
 */
#include "server/gateway/gw_artifact.h"

#include "protocol/errors.h"
#include "protocol/manifest.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/gateway/gw_http.h"
#include "server/gateway/gw_routes.h"
#include "server/registry/reg_update.h"
#include "server/registry/reg_view.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK_STMT "gw_artifact_chunk"
#define CHUNK_SQL                                                                                  \
    "SELECT substring(data FROM $3::int4 FOR $4::int4), octet_length(data) FROM artifact_chunks"   \
    " WHERE sha256 = $1 AND idx = $2::int4"
#define OCTET_TYPE "application/octet-stream"

typedef struct download {
    gw_conn *c;        /* NULL once the connection has gone */
    pg_async_conn *db; /* the worker's artifact connection */
    char sha256[MANIFEST_SHA256_LEN + 1];
    int64_t size;
    int64_t chunk_size;
    int64_t start, end; /* the bytes sent: start .. end - 1 */
    int64_t next;       /* the next byte to read */
    char *buf[2];       /* chunk_size bytes each, allocated when first used */
    size_t len[2];
    int cur;     /* the buffer being written */
    int ready;   /* buf[!cur] holds the next piece */
    int reading; /* a read into buf[!cur] is in flight */
    int started; /* the head went out */
    int cut;     /* end the connection once the current piece is out */
    int status;  /* 200 or 206 */
    char headers[320];
} download;

int gw_artifact_prepare(pg_async_conn *db)
{
    return pg_async_prepare(db, CHUNK_STMT, CHUNK_SQL, 4);
}

static void download_free(download *d)
{
    free(d->buf[0]);
    free(d->buf[1]);
    free(d);
}

void gw_artifact_release(gw_conn *c)
{
    download *d = c->download;
    if (!d)
        return;
    c->download = NULL;
    d->c = NULL;
    if (!d->reading) /* else the read's answer frees it */
        download_free(d);
}

/* ---- pieces ---- */

static void on_piece(PGresult *res, void *arg);
static void on_progress(gw_conn *c, size_t unsent);

/* Ends a download that cannot go on. Before the head: a 503 when the
 * database may answer later (unavailable = 1), else the connection ends.
 * After it, the connection ends once the good piece being written is out:
 * the peer sees a short body, never wrong bytes. */
static void give_up(download *d, int unavailable, const char *why)
{
    gw_conn *c = d->c;
    log_error("artifact download cut", "device_id", c->device_id, "sha256", d->sha256, "error", why,
              NULL);
    if (!d->started && unavailable) {
        gw_artifact_release(c);
        gw_routes_refuse(c, MP_ARTIFACTS, 503, "unavailable",
                         "the artifact cannot be read now; retry later",
                         (int)c->w->cfg->retry_after_s);
    } else if (d->started && c->piece) {
        d->cut = 1; /* on_progress ends it */
    } else {
        gw_conn_close(c); /* frees d */
    }
}

/* Reads the piece at d->next into buf[!cur]: the rest of its chunk, up to
 * d->end. Called last by every caller: the answer may run before it
 * returns (a connection that breaks at once), and may free d. */
static void start_read(download *d)
{
    int64_t idx = d->next / d->chunk_size, chunk_start = idx * d->chunk_size;
    int64_t want = d->end - d->next, room = chunk_start + d->chunk_size - d->next;
    if (want > room)
        want = room;
    char idx_s[24], from_s[24], for_s[24];
    snprintf(idx_s, sizeof(idx_s), "%" PRId64, idx);
    snprintf(from_s, sizeof(from_s), "%" PRId64, d->next - chunk_start + 1);
    snprintf(for_s, sizeof(for_s), "%" PRId64, want);
    const char *params[] = {d->sha256, idx_s, from_s, for_s};
    d->reading = 1;
    if (pg_async_query_prepared_binary(d->db, CHUNK_STMT, 4, params, on_piece, d) < 0) {
        d->reading = 0;
        give_up(d, 1, "the artifact connection is down");
    }
}

/* 0 when the row is the piece asked for: one row, the bytes wanted, and a
 * chunk exactly as long as artifacts.size and chunk_size say. */
static int check_piece(const download *d, PGresult *res, int64_t want)
{
    int64_t idx = d->next / d->chunk_size, chunk_start = idx * d->chunk_size;
    int64_t full = d->size - chunk_start < d->chunk_size ? d->size - chunk_start : d->chunk_size;
    uint32_t stored;
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 2 ||
        PQgetisnull(res, 0, 0) || PQgetlength(res, 0, 1) != 4)
        return -1;
    memcpy(&stored, PQgetvalue(res, 0, 1), 4);
    return PQgetlength(res, 0, 0) == want && (int64_t)ntohl(stored) == full ? 0 : -1;
}

static int64_t piece_wanted(const download *d)
{
    int64_t room = (d->next / d->chunk_size + 1) * d->chunk_size - d->next;
    return d->end - d->next < room ? d->end - d->next : room;
}

static void send_piece(download *d, int slot)
{
    gw_conn *c = d->c;
    d->cur = slot;
    if (!d->started) {
        d->started = 1;
        metrics_request(MP_ARTIFACTS, d->status);
        gw_conn_respond_stream(c, d->status, OCTET_TYPE, d->headers, (uint64_t)(d->end - d->start),
                               d->buf[slot], d->len[slot], on_progress);
    } else {
        gw_conn_stream_piece(c, d->buf[slot], d->len[slot]);
    }
}

static void on_piece(PGresult *res, void *arg)
{
    download *d = arg;
    d->reading = 0;
    if (!d->c) {
        download_free(d);
        return;
    }
    int64_t want = piece_wanted(d);
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        give_up(d, 1, res ? PQresultErrorMessage(res) : "the artifact connection was lost");
        return;
    }
    if (check_piece(d, res, want) < 0) {
        give_up(d, 0, "a chunk is missing or its length disagrees with the artifact's size");
        return;
    }
    int slot = d->started ? !d->cur : 0;
    if (!d->buf[slot] && !(d->buf[slot] = malloc((size_t)d->chunk_size))) {
        give_up(d, 1, "out of memory");
        return;
    }
    memcpy(d->buf[slot], PQgetvalue(res, 0, 0), (size_t)want);
    d->len[slot] = (size_t)want;
    d->next += want;
    if (!d->started || !d->c->piece)
        send_piece(d, slot); /* the connection waits for it */
    else
        d->ready = 1;
}

/* The connection wrote some of the current piece; unsent bytes remain. */
static void on_progress(gw_conn *c, size_t unsent)
{
    download *d = c->download;
    if (!d)
        return;
    if (unsent == 0 && d->cut) {
        gw_conn_close(c); /* frees d */
        return;
    }
    if (unsent == 0 && d->ready) {
        d->ready = 0;
        d->cur = !d->cur;
        gw_conn_stream_piece(c, d->buf[d->cur], d->len[d->cur]);
        unsent = d->len[d->cur];
    }
    if (unsent == 0 && !d->reading && d->next >= d->end) {
        c->download = NULL;
        download_free(d);
        gw_conn_stream_end(c);
        return;
    }
    /* the next piece is read once the socket has taken half of this one */
    if (!d->cut && !d->ready && !d->reading && d->next < d->end &&
        unsent <= (size_t)d->chunk_size / 2)
        start_read(d);
}

/* ---- the request ---- */

/* Range: bytes=A-B | A- | -N, one range. 1 and *first, *last (inclusive);
 * 0 when unsatisfiable; -1 when malformed or more than one range. */
static int parse_range(const char *v, int64_t size, int64_t *first, int64_t *last)
{
    char *end;
    if (strncasecmp(v, "bytes=", 6) != 0 || strchr(v, ','))
        return -1;
    v += 6;
    const char *dash = strchr(v, '-');
    size_t a_len = dash ? (size_t)(dash - v) : 0, b_len = dash ? strlen(dash + 1) : 0;
    if (!dash || a_len > 18 || b_len > 18 || strspn(v, "0123456789") != a_len ||
        strspn(dash + 1, "0123456789") != b_len || a_len + b_len == 0)
        return -1;
    if (a_len == 0) { /* the last N bytes */
        int64_t n = strtoll(dash + 1, &end, 10);
        if (n == 0)
            return 0;
        *first = n >= size ? 0 : size - n;
        *last = size - 1;
        return 1;
    }
    *first = strtoll(v, &end, 10);
    *last = b_len ? strtoll(dash + 1, &end, 10) : size - 1;
    if (b_len && *last < *first)
        return -1;
    if (*first >= size)
        return 0;
    if (*last >= size)
        *last = size - 1;
    return 1;
}

static void refuse(gw_conn *c, int status, const char *code, const char *reason)
{
    gw_routes_refuse(c, MP_ARTIFACTS, status, code, reason, 0);
}

static void refuse_range(gw_conn *c, int64_t size, const char *code, const char *reason)
{
    char headers[64], *body = errors_json(code, reason, "Range");
    snprintf(headers, sizeof(headers), "Content-Range: bytes */%" PRId64 "\r\n", size);
    metrics_request(MP_ARTIFACTS, 416);
    gw_conn_respond_body(c, 416, "application/json", headers, body, body ? strlen(body) : 0, 0, 0);
    free(body);
}

/* The bytes to send (d->start, d->end, status and headers), or an answer
 * already given (-1). */
static int choose_range(gw_conn *c, const gw_http_request *req, download *d)
{
    const char *range = NULL, *if_range = NULL;
    int64_t first = 0, last = d->size - 1;
    char etag[MANIFEST_SHA256_LEN + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", d->sha256);
    int has_range = gw_http_header_get(req, GW_HDR_RANGE, &range);
    int has_if = gw_http_header_get(req, GW_HDR_IF_RANGE, &if_range);
    /* If-Range naming another version (or a date: no Last-Modified here)
     * asks for the whole of this one */
    if (has_range != 0 && has_if != 0 && (has_if < 0 || strcmp(if_range, etag) != 0))
        has_range = 0;
    int got = has_range > 0 ? parse_range(range, d->size, &first, &last) : has_range < 0 ? -1 : 2;
    if (got < 0) {
        refuse_range(c, d->size, "bad_range",
                     "Range must be one range: bytes=A-B, bytes=A- or bytes=-N");
        return -1;
    }
    if (got == 0) {
        refuse_range(c, d->size, "range_not_satisfiable", "the range is outside the artifact");
        return -1;
    }
    d->status = got == 2 ? 200 : 206;
    d->start = d->next = first;
    d->end = last + 1;
    int n = snprintf(d->headers, sizeof(d->headers),
                     "ETag: %s\r\nAccept-Ranges: bytes\r\nCache-Control: no-store\r\n", etag);
    if (d->status == 206)
        snprintf(d->headers + n, sizeof(d->headers) - (size_t)n,
                 "Content-Range: bytes %" PRId64 "-%" PRId64 "/%" PRId64 "\r\n", first, last,
                 d->size);
    return 0;
}

/* The artifact this device may fetch, from memory: 0 and d's size and
 * chunking, or -1 with the answer given. */
static int find_artifact(gw_conn *c, const char *sha256, download *d)
{
    reg_device_facts f;
    if (!manifest_sha256_valid(sha256)) {
        refuse(c, 404, "not_found", "an artifact is named by its SHA-256: 64 lowercase hex digits");
        return -1;
    }
    reg_update *u = reg_update_current();
    if (!u || reg_view_device_facts(c->device_id, NULL, &f) < 0) {
        reg_update_unref(u);
        gw_routes_refuse(c, MP_ARTIFACTS, 503, "unavailable",
                         "the update view is not loaded yet; retry later",
                         (int)c->w->cfg->retry_after_s);
        return -1;
    }
    const reg_release *rel =
        f.status == REG_DEV_QUARANTINED ? NULL : reg_update_artifact(u, sha256, f.device_class);
    if (rel) {
        memcpy(d->sha256, sha256, sizeof(d->sha256));
        d->size = rel->size;
        d->chunk_size = rel->chunk_size;
    }
    reg_update_unref(u);
    if (f.status == REG_DEV_QUARANTINED)
        refuse(c, 403, "quarantined", "this device is quarantined: it is offered no update");
    else if (!rel)
        refuse(c, 404, "unknown_artifact",
               "no release of this device's class that is not revoked has this artifact");
    return rel ? 0 : -1;
}

void gw_artifact_get(gw_conn *c, gw_http_request *req)
{
    char sha256[80];
    size_t path_len = gw_http_path_len(req), prefix = strlen(GW_ARTIFACT_PREFIX);
    if (gw_routes_over_rate(c)) {
        gw_routes_refuse(c, MP_ARTIFACTS, 429, "rate_limited",
                         "too many requests from this device; slow down", 1);
        return;
    }
    snprintf(sha256, sizeof(sha256), "%.*s", (int)(path_len - prefix), req->path + prefix);
    download *d = calloc(1, sizeof(*d));
    if (!d) {
        gw_conn_close(c);
        return;
    }
    if (find_artifact(c, sha256, d) < 0 || choose_range(c, req, d) < 0) {
        download_free(d);
        return;
    }
    if (req->method == HTTP_HEAD) {
        metrics_request(MP_ARTIFACTS, d->status);
        gw_conn_respond_stream(c, d->status, OCTET_TYPE, d->headers, (uint64_t)(d->end - d->start),
                               NULL, 0, NULL);
        download_free(d);
        return;
    }
    d->c = c;
    d->db = c->w->artifacts;
    c->download = d;
    start_read(d);
}
