/*
 * bench_load.c - vigil-bench's load engine: T threads, each an epoll loop
 * driving non-blocking sockets with OpenSSL (SSL_set_fd, WANT_READ and
 * WANT_WRITE), so thousands of connections cost no threads. Each
 * connection presents its own device certificate.
 *
 * Handshake mode: connect, handshake (resumed with the device's previous
 * session when asked), one small request, close, again. Ingest mode: one
 * keep-alive connection each, POSTing reports and waiting for each answer.
 * Renew mode: POST /.well-known/est/simplereenroll with the CSRs that
 * bench_renew.c made before the run, one per connection (the default:
 * each new connection takes the next device of its slot's share, so the
 * renewals spread over every device) or many per connection
 * (--keepalive: one device per connection). Update mode: keep-alive GET
 * /v1/update, one answer at a time. Download mode: keep-alive GET
 * /v1/artifacts/{sha256}, each body streamed through SHA-256 as it
 * arrives (never held whole: a buffer of IN_CAP per connection), its
 * bytes received in the measured window counted once the digest is right.
 * At the end a renewal or download run stops sending and waits for the
 * answers in flight (--drain, by default DRAIN_US and DRAIN_DOWNLOAD_US),
 * so that every renewal the server records has been answered and judged,
 * and every download begun is judged whole.
 *
 * Open loop (--rate R, ingest and update): each connection's requests are
 * due on a fixed schedule (R in all, connection i's k-th due at start +
 * (i + k x connections) / R), sent when due or at once when late, and a
 * latency runs from when its request was due, not from when it was sent:
 * a server that falls behind shows in the latencies of every request that
 * waited, as a fleet's devices would see it (no coordinated omission). A
 * connection waits in C_WAIT until its next request is due.
 *
 * Each answer is judged by bench_answer.c: only a success counts toward
 * the rate; every error is counted by its kind. With --acked-log, each
 * worker gathers the report ids the server acknowledged and appends them
 * to the file in blocks, under one lock, so the hot path does no I/O.
 */
#define _GNU_SOURCE 1
#include "tools/vigil-bench/bench.h"

#include "protocol/errors.h"
#include "protocol/hex.h"
#include "protocol/incident.h"
#include "protocol/when.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP (512 * 1024)
#define BODY_PER_EVENT (256 * 1024)
#define ACKED_BUF (64 * 1024)   /* a worker's acknowledged ids, before they are written */
#define DRAIN_US 10000000       /* renew: how long the answers in flight are waited for */
#define DRAIN_DOWNLOAD_US 120000000 /* download: the same */
#define NOTE_MAX 200

enum { C_DEAD, C_CONNECTING, C_HANDSHAKE, C_SEND, C_RECV, C_BODY, C_WAIT };

typedef struct device {
    X509 *cert;
    EVP_PKEY *key;
    SSL_SESSION *session;
} device;

typedef struct bconn {
    int fd, state, dev, reused;
    int waited;           /* open loop: the request waited for its due time */
    int slot, round;      /* renew: the connection's index in the run, its connections so far */
    bench_renewal expect; /* renew: what the answer in flight must certify */
    SSL *ssl;
    char *out;
    size_t out_len, out_off;
    char *in;
    size_t in_len;
    char (*ids)[37];   /* ingest: the report ids of the request in flight */
    uint64_t started_us, retry_at_us;
    uint64_t due_us; /* open loop: when the next request is due (0: not scheduled yet) */
    EVP_MD_CTX *md; /* download: the digest of the body arriving (C_BODY) */
    uint64_t body_left, body_len, window_bytes;
    int status, close_after; /* download: of the answer whose body arrives */
} bconn;

typedef struct worker {
    const bench_cfg *cfg;
    int index, epfd, n;
    bconn *conns;
    bench_stats stats;
    double measure_from_us, stop_at_us;
    double begin_us, interval_us; /* open loop: the schedule's start, one connection's interval */
    int stopping;            /* renew: draining, no new request */
    char acked[ACKED_BUF];   /* "id\n" lines not yet in the acked log */
    size_t acked_len;
    char note[NOTE_MAX]; /* the first answer not counted, in words */
} worker;

static SSL_CTX *ctx;
static device *devices;
static struct addrinfo *server_addr;
static pthread_mutex_t acked_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *acked_log;
static renew_pool *pool;

/* ---- setup ---- */

static int load_devices(const bench_cfg *cfg)
{
    devices = calloc((size_t)cfg->devices, sizeof(*devices));
    for (int i = 0; devices && i < cfg->devices; i++) {
        char path[4096];
        FILE *f;
        snprintf(path, sizeof(path), "%s/%s%06d.crt", cfg->devices_dir, cfg->prefix, i);
        if (!(f = fopen(path, "r")) || !(devices[i].cert = PEM_read_X509(f, NULL, NULL, NULL))) {
            fprintf(stderr, "vigil-bench: cannot read %s (run `vigil-bench enroll` first)\n", path);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
        snprintf(path, sizeof(path), "%s/%s%06d.key", cfg->devices_dir, cfg->prefix, i);
        if (!(f = fopen(path, "r")) ||
            !(devices[i].key = PEM_read_PrivateKey(f, NULL, NULL, NULL))) {
            fprintf(stderr, "vigil-bench: cannot read %s\n", path);
            if (f)
                fclose(f);
            return -1;
        }
        fclose(f);
    }
    return devices ? 0 : -1;
}

/* The renewal CSRs of the devices in use: all of them over fresh
 * connections, one per connection with --keepalive. */
static int make_pool(const bench_cfg *cfg)
{
    int n = cfg->keepalive ? cfg->connections : cfg->devices;
    X509 **certs = calloc((size_t)n, sizeof(*certs));
    EVP_PKEY **keys = calloc((size_t)n, sizeof(*keys));
    for (int i = 0; certs && keys && i < n; i++) {
        certs[i] = devices[i].cert;
        keys[i] = devices[i].key;
    }
    pool = certs && keys ? renew_pool_make(cfg, certs, keys, n) : NULL;
    free(certs);
    free(keys);
    return pool ? 0 : -1;
}

/* TLS 1.3 tickets arrive after the handshake: keep the newest per device. */
static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    bconn *c = SSL_get_app_data(ssl);
    if (!c)
        return 0;
    SSL_SESSION_free(devices[c->dev].session);
    devices[c->dev].session = sess;
    return 1;   /* we keep the reference */
}

static int setup(const bench_cfg *cfg)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    if (getaddrinfo(cfg->host, cfg->port, &hints, &server_addr) != 0) {
        fprintf(stderr, "vigil-bench: cannot resolve %s\n", cfg->host);
        return -1;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1) {
        fprintf(stderr, "vigil-bench: cannot load the CA chain %s\n", cfg->ca);
        return -1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    if (cfg->resume)
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    if (cfg->acked_log && !(acked_log = fopen(cfg->acked_log, "w"))) {
        fprintf(stderr, "vigil-bench: cannot write %s\n", cfg->acked_log);
        return -1;
    }
    return load_devices(cfg) < 0 || (cfg->mode == BM_RENEW && make_pool(cfg) < 0) ? -1 : 0;
}

/* Returns -1 if the acked log could not be written whole. */
static int teardown(const bench_cfg *cfg)
{
    int rc = 0;
    for (int i = 0; devices && i < cfg->devices; i++) {
        X509_free(devices[i].cert);
        EVP_PKEY_free(devices[i].key);
        SSL_SESSION_free(devices[i].session);
    }
    free(devices);
    devices = NULL;
    renew_pool_free(pool);
    pool = NULL;
    SSL_CTX_free(ctx);
    ctx = NULL;
    if (server_addr)
        freeaddrinfo(server_addr);
    server_addr = NULL;
    int unwritten = acked_log && ferror(acked_log);
    if (acked_log && (fclose(acked_log) != 0 || unwritten)) {
        fprintf(stderr, "vigil-bench: cannot write %s\n", cfg->acked_log);
        rc = -1;
    }
    acked_log = NULL;
    return rc;
}

/* ---- requests ---- */

/* The next request; ingest's report ids go to ids[0..batch). */
static char *make_request(const bench_cfg *cfg, char (*ids)[37], size_t *len)
{
    if (cfg->mode == BM_UPDATE || cfg->mode == BM_DOWNLOAD)
        return bench_update_request(cfg, len);
    if (cfg->mode == BM_HANDSHAKES) {
        char *r = NULL;
        int n = asprintf(&r, "GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n",
                         cfg->path ? cfg->path : "/bench");
        *len = n > 0 ? (size_t)n : 0;
        return n > 0 ? r : NULL;
    }
    json_t *arr = json_array();
    char when[32];
    incident_format_time(when_now_us(), when);
    for (int i = 0; i < cfg->batch; i++) {
        if (incident_uuid_v4(ids[i]) < 0) { /* no randomness: no request */
            json_decref(arr);
            return NULL;
        }
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:i}}", "id", ids[i],
                                             "type", "crash", "severity", "error", "occurred_at",
                                             when, "firmware_version", "1.4.2", "component",
                                             "main", "details", "pc", "0x0800f00d", "line", i));
    }
    char *body = json_dumps(cfg->batch == 1 ? json_array_get(arr, 0) : arr, JSON_COMPACT);
    json_decref(arr);
    char *r = NULL;
    int n = body ? asprintf(&r, "POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: "
                            "application/json\r\nContent-Length: %zu\r\n\r\n%s",
                            cfg->path ? cfg->path : "/v1/incidents", strlen(body), body) : -1;
    free(body);
    *len = n > 0 ? (size_t)n : 0;
    return n > 0 ? r : NULL;
}

/* ---- connection state machine ---- */

static void watch(worker *w, bconn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Counts an answer, or a failed exchange, by its verdict. */
static void tally(worker *w, bench_verdict v)
{
    w->stats.verdicts[v]++;
    w->stats.errors += v != BV_OK;
}

/* Ends the connection; failed: it ended without the answer it was owed
 * (a transport error), and is retried after 100 ms. */
static void drop(worker *w, bconn *c, int failed)
{
    if (c->ssl) {
        /* A "shut down" connection keeps its session resumable; SSL_free
         * without it marks the session bad. Quiet: nothing is sent. */
        SSL_set_quiet_shutdown(c->ssl, 1);
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = C_DEAD;
    c->retry_at_us = bench_now_us() + (failed ? 100000 : 0);
    if (failed)
        tally(w, BV_TRANSPORT);
    ERR_clear_error();
}

/* Renew over fresh connections: the next device of the slot's share
 * (the devices d with d % connections == slot), so no two connections
 * ever use one device at once. */
static void next_device(const bench_cfg *cfg, bconn *c)
{
    int share = (cfg->devices - c->slot + cfg->connections - 1) / cfg->connections;
    c->dev = c->slot + cfg->connections * (c->round++ % share);
}

static void start(worker *w, bconn *c)
{
    int one = 1;
    if (w->cfg->mode == BM_RENEW && !w->cfg->keepalive)
        next_device(w->cfg, c);
    c->fd = socket(server_addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) {
        drop(w, c, 1);
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->started_us = bench_now_us();
    if (connect(c->fd, server_addr->ai_addr, server_addr->ai_addrlen) < 0 && errno != EINPROGRESS) {
        drop(w, c, 1);
        return;
    }
    c->ssl = SSL_new(ctx);
    SSL_set_app_data(c->ssl, c);
    SSL_use_certificate(c->ssl, devices[c->dev].cert);
    SSL_use_PrivateKey(c->ssl, devices[c->dev].key);
    if (w->cfg->resume && devices[c->dev].session)
        SSL_set_session(c->ssl, devices[c->dev].session);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    c->state = C_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Device c->dev's next renewal request, a copy of the pool's. */
static char *renew_request(worker *w, bconn *c, size_t *len)
{
    int reused = 0;
    const char *r = renew_pool_next(pool, c->dev, len, &c->expect, &reused);
    char *out = malloc(*len);
    if (out)
        memcpy(out, r, *len);
    w->stats.keys_reused += (uint64_t)reused;
    return out;
}

/* Open loop: the next due time of c (the first from its slot's phase),
 * and whether it is still to come (then c waits in C_WAIT). */
static int schedule(worker *w, bconn *c, uint64_t now)
{
    if (!c->due_us)
        c->due_us = (uint64_t)bench_first_due_us(w->cfg, w->begin_us, c->slot);
    else
        c->due_us += (uint64_t)w->interval_us;
    return c->due_us > now;
}

/* Open loop: how late the first byte of a request that waited for its
 * due time (c->waited) went out after it. Latency counts from the due
 * time, so a load generator short of CPU shows as the server's latency;
 * this tells the two apart. A request due while its connection still
 * waited for the previous answer is late by the server's doing, and is
 * not noted. */
static void note_late(worker *w, bconn *c)
{
    if ((double)c->due_us < w->measure_from_us || (double)c->due_us >= w->stop_at_us)
        return;
    uint64_t now = bench_now_us();
    samples_add(&w->stats.late, now > c->due_us ? now - c->due_us : 0);
}

static void send_request(worker *w, bconn *c)
{
    c->state = C_SEND;
    watch(w, c, EPOLLOUT);
}

static void next_request(worker *w, bconn *c)
{
    free(c->out);
    c->out = w->cfg->mode == BM_RENEW ? renew_request(w, c, &c->out_len)
                                      : make_request(w->cfg, c->ids, &c->out_len);
    if (!c->out) {
        drop(w, c, 1);
        return;
    }
    c->out_off = 0;
    c->in_len = 0;
    if (w->interval_us > 0) {
        uint64_t now = bench_now_us();
        int early = schedule(w, c, now);
        c->started_us = c->due_us; /* the latency runs from when it was due */
        c->waited = early;
        if (early) {
            c->state = C_WAIT;
            watch(w, c, 0);
            return;
        }
    } else if (c->state != C_HANDSHAKE) {
        c->started_us = bench_now_us();
    }
    send_request(w, c);
}

/* Open loop: sends the requests now due; the time to the next one (us,
 * at most max_us). */
static uint64_t send_due(worker *w, uint64_t max_us)
{
    uint64_t now = bench_now_us(), next = now + max_us;
    for (int i = 0; i < w->n; i++) {
        bconn *c = &w->conns[i];
        if (c->state != C_WAIT)
            continue;
        if (c->due_us <= now)
            send_request(w, c);
        else if (c->due_us < next)
            next = c->due_us;
    }
    return next - now;
}

static int ssl_want(worker *w, bconn *c, int r)
{
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ: watch(w, c, EPOLLIN); return 1;
    case SSL_ERROR_WANT_WRITE: watch(w, c, EPOLLOUT); return 1;
    default: drop(w, c, 1); return 0;
    }
}

/* Appends the worker's acknowledged ids to the acked log. */
static void acked_flush(worker *w)
{
    if (!w->acked_len)
        return;
    pthread_mutex_lock(&acked_mu);
    fwrite(w->acked, 1, w->acked_len, acked_log);
    pthread_mutex_unlock(&acked_mu);
    w->acked_len = 0;
}

/* bench_acked_fn: one report id the server acknowledged. */
static void on_acked(void *arg, const char *id)
{
    worker *w = arg;
    size_t n = strnlen(id, 64);
    if (n >= 64)   /* not a report id of ours: it cannot be stored either */
        return;
    if (w->acked_len + n + 1 > sizeof(w->acked))
        acked_flush(w);
    memcpy(w->acked + w->acked_len, id, n);
    w->acked[w->acked_len + n] = '\n';
    w->acked_len += n + 1;
    w->stats.acked++;
}

/* A whole answer arrived, judged v at time t (when its last byte came):
 * count it, then go on (or close, when the server said it will). */
static void answered(worker *w, bconn *c, bench_verdict v, int status, int close_after, uint64_t t)
{
    const bench_cfg *cfg = w->cfg;
    tally(w, v);
    w->stats.by_status[status >= 100 && status < 600 ? status / 100 - 1 : 5]++;
    w->stats.status_429 += status == 429;
    w->stats.status_503 += status == 503;
    if (v == BV_OK && cfg->mode == BM_DOWNLOAD) {
        w->stats.downloads++;
        w->stats.bytes += c->window_bytes;
    }
    if (v == BV_OK && (double)t >= w->measure_from_us && (double)t < w->stop_at_us) {
        w->stats.ok++;
        w->stats.reports += cfg->mode == BM_INGEST ? (uint64_t)cfg->batch : 0;
        w->stats.resumed += (uint64_t)c->reused;
        stats_add(&w->stats, t - c->started_us);
    }
    if (cfg->mode == BM_HANDSHAKES || close_after || w->stopping ||
        (cfg->mode == BM_RENEW && !cfg->keepalive))
        drop(w, c, 0);
    else
        next_request(w, c);
}

/* Keeps the first answer of the worker that did not count, in words:
 * its status, then the X-Vigil-Reason or the start of its body. */
static void note(worker *w, int status, const char *head, const char *head_end, const char *body,
                 size_t body_len)
{
    size_t rlen = 0, n;
    const char *reason = head ? bench_answer_header(head, head_end, "X-Vigil-Reason", &rlen) : NULL;
    char text[81];
    if (w->note[0])
        return;
    if (reason)
        body = reason, body_len = rlen;
    n = errors_printable(text, sizeof(text), body, body ? body_len : 0, '.');
    snprintf(w->note, sizeof(w->note), "HTTP %d%s%s", status,
             reason ? ", X-Vigil-Reason: "
             : n    ? ", body: "
                    : "",
             text);
}

/* The verdict of a whole answer (not a download's: body_end). */
static bench_verdict judge(worker *w, bconn *c, int status, const char *head_end, const char *body,
                           size_t body_len)
{
    const bench_cfg *cfg = w->cfg;
    size_t ctype_len = 0;
    const char *ctype;
    switch (cfg->mode) {
    case BM_RENEW:
        ctype = bench_answer_header(c->in, head_end, "Content-Type", &ctype_len);
        return bench_answer_renewal(&c->expect, status, ctype, ctype_len, body, body_len);
    case BM_UPDATE:
        return bench_answer_update(cfg, status, c->in, head_end, body, body_len);
    default:
        return bench_answer_judge(cfg, status, body, body_len, (const char(*)[37])c->ids,
                                  cfg->mode == BM_INGEST ? cfg->batch : 0,
                                  acked_log ? on_acked : NULL, w);
    }
}

/* ---- downloads ---- */

/* The body of a download's answer is complete: judge its digest. */
static void body_end(worker *w, bconn *c, uint64_t t)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int bad = 0;
    bench_verdict v = EVP_DigestFinal_ex(c->md, d, &n) == 1 && n == 32
                          ? bench_answer_download(w->cfg, c->status, d, &bad)
                          : BV_OTHER;
    w->stats.bad_digest += (uint64_t)bad;
    if (bad && !w->note[0]) {
        char hex[65];
        hex_encode(d, 32, hex);
        snprintf(w->note, sizeof(w->note), "HTTP 200, %llu bytes whose SHA-256 is %s",
                 (unsigned long long)c->body_len, hex);
    } else if (v != BV_OK) {
        note(w, c->status, NULL, NULL, NULL, 0);
    }
    answered(w, c, v, c->status, c->close_after, t);
}

/* n more bytes of the body; 1 if that ended it (and it was judged). */
static int body_feed(worker *w, bconn *c, const char *p, size_t n)
{
    uint64_t t = bench_now_us();
    EVP_DigestUpdate(c->md, p, n);
    c->body_left -= n;
    if ((double)t >= w->measure_from_us && (double)t < w->stop_at_us)
        c->window_bytes += n;
    if (c->body_left)
        return 0;
    body_end(w, c, t);
    return 1;
}

/* A download's head arrived (head bytes of c->in, a body of len): stream
 * the body through SHA-256 from here on. Always returns 1. */
static int body_begin(worker *w, bconn *c, int status, size_t head, uint64_t len, int close_after)
{
    size_t have = c->in_len - head;
    if ((!c->md && !(c->md = EVP_MD_CTX_new())) ||
        EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
        drop(w, c, 1);
        return 1;
    }
    if (have > len) { /* bytes after the answer, though nothing else was asked */
        tally(w, BV_OTHER);
        drop(w, c, 0);
        return 1;
    }
    c->status = status;
    c->close_after = close_after;
    c->body_left = c->body_len = len;
    c->window_bytes = 0;
    c->state = C_BODY;
    body_feed(w, c, c->in + head, have);
    return 1;
}

/* Parses what arrived; 1 when a whole answer was handled (or the
 * connection dropped), 0 while it is incomplete. Answers are framed by
 * Content-Length; without one only a 204, 304 or 1xx has a known end. */
static int parse_answer(worker *w, bconn *c)
{
    c->in[c->in_len] = '\0';
    char *end = strstr(c->in, "\r\n\r\n");
    int status;
    size_t cl_len, te_len, conn_len;
    if (!end || sscanf(c->in, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    const char *cl = bench_answer_header(c->in, end + 2, "Content-Length", &cl_len);
    const char *te = bench_answer_header(c->in, end + 2, "Transfer-Encoding", &te_len);
    const char *conn = bench_answer_header(c->in, end + 2, "Connection", &conn_len);
    size_t head = (size_t)(end + 4 - c->in);
    if (te || (!cl && status != 204 && status != 304 && status / 100 != 1)) {
        tally(w, BV_OTHER);   /* a body up to the close, or chunked: not a device port's */
        drop(w, c, 0);
        return 1;
    }
    size_t body_len = cl ? strtoul(cl, NULL, 10) : 0;
    int close_after = conn && conn_len >= 5 && !strncasecmp(conn, "close", 5);
    if (w->cfg->mode == BM_DOWNLOAD)
        return body_begin(w, c, status, head, body_len, close_after);
    if (body_len > IN_CAP - head) {
        drop(w, c, 1);
        return 1;
    }
    if (c->in_len < head + body_len)
        return 0;
    uint64_t t = bench_now_us(); /* the latency ends here: judging a renewal takes a verify */
    bench_verdict v = judge(w, c, status, end + 2, end + 4, body_len);
    if (v != BV_OK)
        note(w, status, c->in, end + 2, end + 4, body_len);
    answered(w, c, v, status, close_after, t);
    return 1;
}

static void on_event(worker *w, bconn *c)
{
    int r;
    switch (c->state) {
    case C_CONNECTING:
        c->state = C_HANDSHAKE;
        /* fall through */
    case C_HANDSHAKE:
        ERR_clear_error();
        r = SSL_connect(c->ssl);
        if (r != 1) {
            ssl_want(w, c, r);
            return;
        }
        if (w->stopping) { /* draining: no new request */
            drop(w, c, 0);
            return;
        }
        c->reused = SSL_session_reused(c->ssl);
        if ((!c->in && !(c->in = malloc(IN_CAP + 1))) ||
            (!c->ids && !(c->ids = calloc((size_t)w->cfg->batch, sizeof(*c->ids))))) {
            drop(w, c, 1);
            return;
        }
        next_request(w, c);
        return;
    case C_SEND:
        ERR_clear_error();
        r = SSL_write(c->ssl, c->out + c->out_off, (int)(c->out_len - c->out_off));
        if (r <= 0) {
            ssl_want(w, c, r);
            return;
        }
        if (c->out_off == 0 && c->waited)
            note_late(w, c);
        c->out_off += (size_t)r;
        if (c->out_off == c->out_len) {
            c->state = C_RECV;
            watch(w, c, EPOLLIN);
        }
        return;
    case C_RECV:
        for (;;) {
            ERR_clear_error();
            if (c->in_len >= IN_CAP) {
                drop(w, c, 1);
                return;
            }
            r = SSL_read(c->ssl, c->in + c->in_len, (int)(IN_CAP - c->in_len));
            if (r <= 0) {
                ssl_want(w, c, r);
                return;
            }
            c->in_len += (size_t)r;
            if (parse_answer(w, c))
                return;
        }
    case C_BODY:
        for (size_t got = 0;; got += (size_t)r) {
            /* the other connections get their turn (epoll is level-triggered:
             * what is left in the socket brings this one back) */
            if (got >= BODY_PER_EVENT && !SSL_pending(c->ssl))
                return;
            ERR_clear_error();
            r = SSL_read(c->ssl, c->in, (int)(c->body_left < IN_CAP ? c->body_left : IN_CAP));
            if (r <= 0) {
                ssl_want(w, c, r);
                return;
            }
            if (body_feed(w, c, c->in, (size_t)r))
                return;
        }
    }
}

/* Renew, download: the end of the run. A request not wholly sent never
 * reaches the server (TLS delivers no partial record), so it is dropped;
 * the answers to the others are waited for and judged, and one that does
 * not come (whole) is a transport error (the server may have recorded
 * it). */
static void drain(worker *w)
{
    struct epoll_event events[256];
    double limit = w->cfg->drain >= 0            ? w->cfg->drain * 1e6
                   : w->cfg->mode == BM_DOWNLOAD ? DRAIN_DOWNLOAD_US
                                                 : DRAIN_US;
    uint64_t until = bench_now_us() + (uint64_t)limit;
    int waiting;
    w->stopping = 1;
    do {
        waiting = 0;
        for (int i = 0; i < w->n; i++) {
            bconn *c = &w->conns[i];
            if (c->state == C_RECV || c->state == C_BODY)
                waiting = 1;
            else if (c->state != C_DEAD && c->state != C_CONNECTING && c->state != C_HANDSHAKE)
                drop(w, c, 0);
        }
        int n = waiting ? epoll_wait(w->epfd, events, 256, 20) : 0;
        for (int i = 0; i < n; i++)
            on_event(w, events[i].data.ptr);
    } while (waiting && bench_now_us() < until);
    for (int i = 0; i < w->n; i++)
        if (w->conns[i].state == C_RECV || w->conns[i].state == C_BODY)
            drop(w, &w->conns[i], 1);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event events[256];
    while ((double)bench_now_us() < w->stop_at_us) {
        uint64_t t = bench_now_us();
        for (int i = 0; i < w->n; i++)
            if (w->conns[i].state == C_DEAD && w->conns[i].retry_at_us <= t)
                start(w, &w->conns[i]);
        /* Open loop: wake for the next due request to the microsecond
         * (epoll_wait's milliseconds would add up to one to a latency). */
        uint64_t wait_us = w->interval_us > 0 ? send_due(w, 20000) : 20000;
        struct timespec timeout = {(time_t)(wait_us / 1000000), (long)(wait_us % 1000000) * 1000};
        int n = epoll_pwait2(w->epfd, events, 256, &timeout, NULL);
        for (int i = 0; i < n; i++)
            on_event(w, events[i].data.ptr);
    }
    if (w->cfg->mode == BM_RENEW || w->cfg->mode == BM_DOWNLOAD)
        drain(w);
    for (int i = 0; i < w->n; i++) {
        if (w->conns[i].state != C_DEAD)
            drop(w, &w->conns[i], 0);
        free(w->conns[i].out);
        free(w->conns[i].in);
        free(w->conns[i].ids);
        EVP_MD_CTX_free(w->conns[i].md);
    }
    if (acked_log)
        acked_flush(w);
    return NULL;
}

int bench_run(const bench_cfg *cfg, bench_stats *total, double *elapsed)
{
    int threads = cfg->threads > 0 ? cfg->threads : 2;
    worker *ws = calloc((size_t)threads, sizeof(*ws));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    if (!ws || !tids || setup(cfg) < 0) {
        free(ws);
        free(tids);
        teardown(cfg);
        return -1;
    }
    double begin = (double)bench_now_us();
    for (int t = 0; t < threads; t++) {
        worker *w = &ws[t];
        w->cfg = cfg;
        w->index = t;
        w->epfd = epoll_create1(0);
        w->n = cfg->connections / threads + (t < cfg->connections % threads);
        w->conns = calloc((size_t)w->n, sizeof(*w->conns));
        w->measure_from_us = begin + cfg->warmup * 1e6;
        w->stop_at_us = begin + (cfg->warmup + cfg->duration) * 1e6;
        w->begin_us = begin;
        w->interval_us = bench_interval_us(cfg);
        for (int i = 0; i < w->n; i++) {
            w->conns[i].fd = -1;
            w->conns[i].slot = t + i * threads;
            w->conns[i].dev = w->conns[i].slot % cfg->devices;
        }
        pthread_create(&tids[t], NULL, worker_main, w);
    }
    const char *first = NULL;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        first = first ? first : ws[t].note[0] ? ws[t].note : NULL;
        stats_merge(total, &ws[t].stats);
        stats_free(&ws[t].stats);
        close(ws[t].epfd);
        free(ws[t].conns);
    }
    if (first)
        fprintf(stderr, "vigil-bench: the first answer not counted: %s\n", first);
    *elapsed = cfg->duration;
    free(ws);
    free(tids);
    return teardown(cfg);
}
