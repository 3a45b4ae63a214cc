/*
 * gw_artifact.c - artifact downloads (see gw_artifact.h): the checks and
 * the Range, then the pieces, each a slice of one chunk taken from the
 * process's chunk cache (gw_chunk_cache.h) or, on a miss, read whole from
 * artifact_chunks in binary form, its length checked, and cached. The
 * chunk's bytes stay where libpq put them (the PGresult is the cached
 * buffer) and are written by the connection from there: no copy between
 * PostgreSQL's answer and SSL_write.
 */
#include "server/gateway/gw_artifact.h"

#include "protocol/errors.h"
#include "protocol/manifest.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/gateway/gw_chunk_cache.h"
#include "server/gateway/gw_http.h"
#include "server/gateway/gw_routes.h"
#include "server/registry/reg_update.h"
#include "server/registry/reg_view.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK_STMT "gw_artifact_chunk"
#define CHUNK_SQL "SELECT data FROM artifact_chunks WHERE sha256 = $1 AND idx = $2::int4"
#define OCTET_TYPE "application/octet-stream"
/* Downloads one device may have in progress (every connection, every
 * worker): each may hold two chunks beyond the cache's bound (ranges that
 * share no chunk) and its chunk reads queue on the worker's artifact
 * connection, so a device that opens many and reads none takes neither
 * the memory nor the queue from the others. */
#define DOWNLOADS_PER_DEVICE 4

typedef struct download download;

/* A chunk read in flight on a worker's artifact connection, and the
 * downloads of that worker waiting for it: concurrent misses of one chunk
 * on one worker make one read (across workers, each may read it once; the
 * cache keeps the first copy). */
typedef struct chunk_read {
    struct chunk_read *next; /* the worker's reads in flight (w->artifact_reads) */
    gw_worker *w;
    pg_async_conn *db;
    char sha256[MANIFEST_SHA256_LEN + 1];
    uint32_t chunk_size, idx;
    size_t len;        /* what the chunk must hold, from artifacts.size */
    download *waiters; /* through next_waiter */
} chunk_read;

struct download {
    gw_conn *c;   /* NULL once the connection has gone */
    gw_worker *w; /* the connection's */
    char sha256[MANIFEST_SHA256_LEN + 1];
    int64_t size;
    int64_t chunk_size;
    int64_t start, end; /* the bytes sent: start .. end - 1 */
    int64_t next;       /* the next byte to read */
    const gw_chunk *chunk[2]; /* a reference each: the pieces' chunks */
    const char *piece[2];     /* slices of them */
    size_t len[2];
    int cur;     /* the piece being written */
    int ready;   /* piece[!cur] is the next one */
    int reading; /* waiting for a chunk read (on a chunk_read's list) */
    int started; /* the head went out */
    int cut;     /* end the connection once the current piece is out */
    int status;  /* 200 or 206 */
    int counted; /* reg_view_download_begin said yes: end it when freed */
    char device_id[REG_ID_MAX + 1];
    download *next_waiter;
    char headers[320];
};

static gw_chunk_cache *cache; /* the process's, shared by the workers */

int gw_artifact_start(size_t cache_bytes)
{
    return (cache = gw_chunk_cache_new(cache_bytes, &metrics.chunk_cache)) ? 0 : -1;
}

void gw_artifact_stop(void)
{
    gw_chunk_cache_free(cache);
    cache = NULL;
}

int gw_artifact_prepare(pg_async_conn *db)
{
    return pg_async_prepare(db, CHUNK_STMT, CHUNK_SQL, 2);
}

static void download_free(download *d)
{
    if (d->counted)
        reg_view_download_end(d->device_id);
    gw_chunk_unref(d->chunk[0]);
    gw_chunk_unref(d->chunk[1]);
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

static void on_chunk(PGresult *res, void *arg);
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

/* The bytes chunk idx holds, as artifacts.size and chunk_size say. */
static size_t chunk_len(const download *d, int64_t idx)
{
    int64_t left = d->size - idx * d->chunk_size;
    return (size_t)(left < d->chunk_size ? left : d->chunk_size);
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
                               d->piece[slot], d->len[slot], on_progress);
    } else {
        gw_conn_stream_piece(c, d->piece[slot], d->len[slot]);
    }
}

/* The piece at d->next, the rest of its chunk up to d->end, from ch (a
 * reference, now d's). Sends it when the connection waits for it, which
 * may free d. */
static void got_chunk(download *d, const gw_chunk *ch)
{
    int64_t want = piece_wanted(d), offset = d->next % d->chunk_size;
    int slot = d->started ? !d->cur : 0;
    gw_chunk_unref(d->chunk[slot]); /* NULL: released when its piece went out */
    d->chunk[slot] = ch;
    d->piece[slot] = ch->data + offset;
    d->len[slot] = (size_t)want;
    d->next += want;
    if (!d->started || !d->c->piece)
        send_piece(d, slot); /* the connection waits for it */
    else
        d->ready = 1;
}

static chunk_read **find_read(gw_worker *w, const char *sha256, uint32_t chunk_size, uint32_t idx)
{
    chunk_read **p = (chunk_read **)&w->artifact_reads;
    while (*p && ((*p)->idx != idx || (*p)->chunk_size != chunk_size ||
                  strcmp((*p)->sha256, sha256) != 0))
        p = &(*p)->next;
    return p;
}

static void unlink_read(chunk_read *r)
{
    chunk_read **p = (chunk_read **)&r->w->artifact_reads;
    while (*p && *p != r)
        p = &(*p)->next;
    if (*p)
        *p = r->next;
}

/* A miss: waits for the worker's read of chunk idx, or starts it. */
static void read_chunk(download *d, uint32_t idx)
{
    chunk_read **p = find_read(d->w, d->sha256, (uint32_t)d->chunk_size, idx), *r = *p;
    d->reading = 1;
    if (r) {
        d->next_waiter = r->waiters;
        r->waiters = d;
        metrics_add(&metrics.artifact_chunk_reads_shared, 1);
        return;
    }
    if (!(r = calloc(1, sizeof(*r)))) {
        d->reading = 0;
        give_up(d, 1, "out of memory");
        return;
    }
    r->w = d->w;
    r->db = d->w->artifacts;
    memcpy(r->sha256, d->sha256, sizeof(r->sha256));
    r->chunk_size = (uint32_t)d->chunk_size;
    r->idx = idx;
    r->len = chunk_len(d, idx);
    r->waiters = d;
    *p = r; /* listed first: the answer may come before the call returns */
    metrics_add(&metrics.artifact_chunk_reads, 1);
    char idx_s[16];
    snprintf(idx_s, sizeof(idx_s), "%" PRIu32, idx);
    const char *params[] = {d->sha256, idx_s};
    if (pg_async_query_prepared_binary(r->db, CHUNK_STMT, 2, params, on_chunk, r) < 0) {
        unlink_read(r);
        free(r);
        d->reading = 0;
        give_up(d, 1, "the artifact connection is down");
    }
}

/* The piece at d->next. Called last by every caller: the piece may be
 * sent at once (a hit), and a connection that breaks then frees d. */
static void start_read(download *d)
{
    int64_t idx = d->next / d->chunk_size;
    const gw_chunk *ch =
        gw_chunk_cache_get(cache, d->sha256, (uint32_t)d->chunk_size, (uint32_t)idx);
    /* the key holds the chunk size, not the artifact's size: a last chunk
     * cached for another size (its artifacts row changed under a running
     * gateway) is not sent past its end */
    if (ch && ch->len == chunk_len(d, idx))
        got_chunk(d, ch);
    else {
        gw_chunk_unref(ch);
        read_chunk(d, (uint32_t)idx);
    }
}

static void release_result(void *res)
{
    PQclear(res);
}

/* The chunk of a read whose result res is: one row, one value exactly as
 * long as artifacts.size and chunk_size say. Cached then (the PGresult
 * is its buffer); NULL with *why otherwise. */
static const gw_chunk *take_chunk(chunk_read *r, PGresult *res, int *unavailable, const char **why)
{
    *unavailable = 1;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        *why = res ? PQresultErrorMessage(res) : "the artifact connection was lost";
        return NULL;
    }
    if (PQntuples(res) != 1 || PQnfields(res) != 1 || PQgetisnull(res, 0, 0) ||
        (size_t)PQgetlength(res, 0, 0) != r->len) {
        *unavailable = 0;
        *why = "a chunk is missing or its length disagrees with the artifact's size";
        return NULL;
    }
    PGresult *own = pg_async_take_result(r->db);
    const gw_chunk *ch =
        gw_chunk_cache_add(cache, r->sha256, r->chunk_size, r->idx, PQgetvalue(own, 0, 0), r->len,
                           PQresultMemorySize(own), release_result, own);
    *why = "out of memory";
    return ch;
}

static void on_chunk(PGresult *res, void *arg)
{
    chunk_read *r = arg;
    unlink_read(r);
    int unavailable;
    const char *why;
    const gw_chunk *ch = take_chunk(r, res, &unavailable, &why);
    for (download *d = r->waiters, *next; d; d = next) {
        next = d->next_waiter; /* d may be freed below */
        d->next_waiter = NULL;
        d->reading = 0;
        if (!d->c)
            download_free(d);
        else if (ch)
            got_chunk(d, gw_chunk_ref(ch));
        else
            give_up(d, unavailable, why);
    }
    gw_chunk_unref(ch);
    free(r);
}

/* The connection wrote some of the current piece; unsent bytes remain. */
static void on_progress(gw_conn *c, size_t unsent)
{
    download *d = c->download;
    if (!d)
        return;
    if (unsent == 0) { /* the connection is done with the piece's chunk */
        gw_chunk_unref(d->chunk[d->cur]);
        d->chunk[d->cur] = NULL;
    }
    if (unsent == 0 && d->cut) {
        gw_conn_close(c); /* frees d */
        return;
    }
    if (unsent == 0 && d->ready) {
        d->ready = 0;
        d->cur = !d->cur;
        gw_conn_stream_piece(c, d->piece[d->cur], d->len[d->cur]);
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
    if (gw_routes_refuse_over_rate(c, MP_ARTIFACTS))
        return;
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
    if (!reg_view_download_begin(c->device_id, DOWNLOADS_PER_DEVICE)) {
        download_free(d);
        gw_routes_refuse(c, MP_ARTIFACTS, 429, "too_many_downloads",
                         "this device has 4 downloads in progress; finish or close one first", 1);
        return;
    }
    d->counted = 1;
    snprintf(d->device_id, sizeof(d->device_id), "%s", c->device_id);
    d->c = c;
    d->w = c->w;
    c->download = d;
    start_read(d);
}
