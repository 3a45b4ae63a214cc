/*
 * bench_query.c - `vigil-bench query`: the operator API under load, as an
 * operator's dashboards would use it. C threads, each one plain HTTP/1.1
 * keep-alive connection with blocking sockets, one request at a time.
 * Without --rate each connection sends its next request as soon as the
 * answer is in (a closed loop: the most the server does). With --rate R the
 * requests are scheduled, R per second across the connections, and latency
 * counts from the scheduled time, so a server that falls behind is charged
 * for the wait (no coordinated omission).
 *
 *   device-latest  GET /v1/incidents?device_id=q-NNNNNN&limit=50, a random
 *                  device of --device-count each time
 *   stats-24h      GET /v1/incidents/stats?since=24h&bucket=1h&by=type
 *
 * Answers are read whole (Content-Length or chunked); only a 200 whose body
 * has the expected shape counts as a success. Latency is from the first
 * byte sent to the last byte of the answer.
 */
#define _GNU_SOURCE 1
#include "tools/vigil-bench/bench.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_ANSWER (64 * 1024 * 1024)

typedef struct qworker {
    const bench_cfg *cfg;
    const struct addrinfo *addr;
    int index, fd;
    uint64_t seed;
    char *in;                 /* what arrived */
    size_t in_len, in_cap;
    char *body;               /* the decoded body of the last answer */
    size_t body_len, body_cap;
    bench_stats stats;
    uint64_t items;           /* incidents or series points in counted answers */
    double measure_from_us, stop_at_us;
} qworker;

static void sleep_until_us(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000), (long)(t % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static uint64_t next_rand(uint64_t *s)   /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap : 65536;
    while (cap2 < need)
        cap2 *= 2;
    char *b = realloc(*buf, cap2);
    if (!b)
        return -1;
    *buf = b;
    *cap = cap2;
    return 0;
}

static void disconnect(qworker *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    w->in_len = 0;
}

static int connect_once(qworker *w)
{
    int one = 1;
    struct timeval tv = {10, 0};   /* no answer in 10 s is a failure, not a hang */
    w->fd = socket(w->addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (w->fd < 0)
        return -1;
    setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(w->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(w->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(w->fd, w->addr->ai_addr, w->addr->ai_addrlen) < 0) {
        disconnect(w);
        return -1;
    }
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Decodes a chunked body starting at p (n bytes there). Returns the bytes
 * the body took on the wire, 0 while incomplete, -1 if malformed. */
static long dechunk(qworker *w, const char *p, size_t n)
{
    size_t off = 0;
    w->body_len = 0;
    for (;;) {
        const char *eol = memmem(p + off, n - off, "\r\n", 2);
        if (!eol)
            return 0;
        char *num_end;
        unsigned long size = strtoul(p + off, &num_end, 16);
        if (num_end == p + off)
            return -1;
        off = (size_t)(eol + 2 - p);
        if (size == 0) {   /* trailers, then an empty line */
            for (;;) {
                const char *e = memmem(p + off, n - off, "\r\n", 2);
                if (!e)
                    return 0;
                size_t line = (size_t)(e - (p + off));
                off += line + 2;
                if (line == 0)
                    return (long)off;
            }
        }
        if (size > MAX_ANSWER)
            return -1;
        if (n - off < size + 2)
            return 0;
        if (grow(&w->body, &w->body_cap, w->body_len + size + 1) < 0)
            return -1;
        memcpy(w->body + w->body_len, p + off, size);
        w->body_len += size;
        off += size + 2;
    }
}

/* Whether w->in holds a whole answer: 1 (status, body decoded, *used
 * bytes taken, *close if the server will close), 0 not yet, -1 malformed. */
static int whole_answer(qworker *w, int *status, size_t *used, int *close_after)
{
    w->in[w->in_len] = '\0';
    char *end = strstr(w->in, "\r\n\r\n");
    size_t te_len = 0, cl_len = 0, conn_len = 0;
    if (!end)
        return w->in_len > 65536 ? -1 : 0;
    if (sscanf(w->in, "HTTP/1.%*d %d", status) != 1)
        return -1;
    size_t head = (size_t)(end + 4 - w->in);
    const char *te = bench_answer_header(w->in, end + 2, "Transfer-Encoding", &te_len);
    const char *cl = bench_answer_header(w->in, end + 2, "Content-Length", &cl_len);
    const char *conn = bench_answer_header(w->in, end + 2, "Connection", &conn_len);
    *close_after = conn && conn_len >= 5 && !strncasecmp(conn, "close", 5);
    if (te && te_len >= 7 && memmem(te, te_len, "chunked", 7)) {
        long took = dechunk(w, w->in + head, w->in_len - head);
        if (took <= 0)
            return (int)took;
        *used = head + (size_t)took;
    } else if (cl) {
        size_t n = strtoul(cl, NULL, 10);
        if (n > MAX_ANSWER)
            return -1;
        if (w->in_len < head + n)
            return 0;
        if (grow(&w->body, &w->body_cap, n + 1) < 0)
            return -1;
        memcpy(w->body, w->in + head, n);
        w->body_len = n;
        *used = head + n;
    } else if (*status == 204 || *status == 304 || *status / 100 == 1) {
        if (grow(&w->body, &w->body_cap, 1) < 0)
            return -1;
        w->body_len = 0;
        *used = head;
    } else {
        return -1;   /* a body up to the close: not what the API sends */
    }
    w->body[w->body_len] = '\0';
    return 1;
}

/* Counts the items an answer carries; -1 if it is not the expected shape. */
static long count_items(const bench_cfg *cfg, const char *body)
{
    const char *list = cfg->query_kind == BQ_DEVICE_LATEST ? "\"items\"" : "\"series\"";
    const char *each = cfg->query_kind == BQ_DEVICE_LATEST ? "\"seq\":" : "\"bucket\":";
    const char *p = body[0] == '{' ? strstr(body, list) : NULL;
    long n = 0;
    if (!p)
        return -1;
    while ((p = strstr(p + 1, each)) != NULL)
        n++;
    return n;
}

/* One request and its answer: the status, or -1 if the connection failed. */
static int exchange(qworker *w, const char *req, size_t req_len)
{
    int status = 0, close_after = 0, rc;
    size_t used = 0;
    if (w->fd < 0 && connect_once(w) < 0)
        return -1;
    if (send_all(w->fd, req, req_len) < 0) {
        disconnect(w);
        return -1;
    }
    for (;;) {
        if (w->in_len > 0 && (rc = whole_answer(w, &status, &used, &close_after)) != 0) {
            if (rc < 0) {
                disconnect(w);
                return -1;
            }
            break;
        }
        if (grow(&w->in, &w->in_cap, w->in_len + 65536 + 1) < 0) {
            disconnect(w);
            return -1;
        }
        ssize_t r = recv(w->fd, w->in + w->in_len, w->in_cap - w->in_len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {   /* closed, or the 10 s timeout */
            disconnect(w);
            return -1;
        }
        w->in_len += (size_t)r;
    }
    memmove(w->in, w->in + used, w->in_len - used);
    w->in_len -= used;
    if (close_after)
        disconnect(w);
    return status;
}

static void *qworker_main(void *arg)
{
    qworker *w = arg;
    const bench_cfg *cfg = w->cfg;
    char req[2048];
    /* With a rate: this connection's k-th request is due at start + phase +
     * k * interval; a late one goes out at once and is charged from when it
     * was due. */
    double interval_us = bench_interval_us(cfg);
    double due = bench_first_due_us(cfg, w->measure_from_us - cfg->warmup * 1e6, w->index);
    while ((double)bench_now_us() < w->stop_at_us) {
        if (interval_us > 0) {
            if (due >= w->stop_at_us)
                break;
            if ((double)bench_now_us() < due)
                sleep_until_us((uint64_t)due);
        }
        char target[256];
        if (cfg->query_kind == BQ_DEVICE_LATEST)
            snprintf(target, sizeof(target), "/v1/incidents?device_id=%s%06d&limit=50",
                     cfg->prefix, (int)(next_rand(&w->seed) % (uint64_t)cfg->devices));
        else
            snprintf(target, sizeof(target), "/v1/incidents/stats?since=24h&bucket=1h&by=type");
        int n = snprintf(req, sizeof(req),
                         "GET %s HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n"
                         "Accept: application/json\r\n\r\n",
                         target, cfg->host, cfg->port, cfg->token);
        if (n < 0 || (size_t)n >= sizeof(req))
            return NULL;
        uint64_t t0 = interval_us > 0 ? (uint64_t)due : bench_now_us();
        due += interval_us;
        int status = exchange(w, req, (size_t)n);
        uint64_t t1 = bench_now_us();
        int counted = (double)t1 >= w->measure_from_us && (double)t1 < w->stop_at_us;
        if (status < 0) {
            if (counted)
                w->stats.errors++;
            usleep(100000);   /* the server is gone or refusing: do not spin */
            continue;
        }
        long items = status == 200 ? count_items(cfg, w->body) : -1;
        if (!counted)
            continue;
        w->stats.by_status[status >= 100 && status < 600 ? status / 100 - 1 : 5]++;
        if (items >= 0) {
            w->stats.ok++;
            w->items += (uint64_t)items;
            stats_add(&w->stats, t1 - t0);
        } else {
            w->stats.errors++;
            if (w->stats.errors == 1 && w->index == 0)
                fprintf(stderr, "vigil-bench query: a failed answer (HTTP %d): %.300s\n", status,
                        w->body ? w->body : "");
        }
    }
    return NULL;
}

int bench_query(const bench_cfg *cfg, bench_stats *total, double *items_per_answer)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *addr = NULL;
    int conns = cfg->connections > 0 ? cfg->connections : 1;
    if (getaddrinfo(cfg->host, cfg->port, &hints, &addr) != 0) {
        fprintf(stderr, "vigil-bench query: cannot resolve %s\n", cfg->host);
        return -1;
    }
    qworker *ws = calloc((size_t)conns, sizeof(*ws));
    pthread_t *tids = calloc((size_t)conns, sizeof(*tids));
    if (!ws || !tids) {
        free(ws);
        free(tids);
        freeaddrinfo(addr);
        return -1;
    }
    double begin = (double)bench_now_us();
    uint64_t items = 0;
    int started = 0;
    for (int t = 0; t < conns; t++) {
        qworker *w = &ws[t];
        w->cfg = cfg;
        w->addr = addr;
        w->index = t;
        w->fd = -1;
        w->seed = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(t + 1) * 0xD1B54A32D192ED03ULL) ^
                  (uint64_t)begin;
        w->measure_from_us = begin + cfg->warmup * 1e6;
        w->stop_at_us = begin + (cfg->warmup + cfg->duration) * 1e6;
        if (pthread_create(&tids[t], NULL, qworker_main, w) != 0)
            break;
        started++;
    }
    for (int t = 0; t < started; t++) {
        pthread_join(tids[t], NULL);
        stats_merge(total, &ws[t].stats);
        items += ws[t].items;
        stats_free(&ws[t].stats);
        disconnect(&ws[t]);
        free(ws[t].in);
        free(ws[t].body);
    }
    *items_per_answer = total->ok ? (double)items / (double)total->ok : 0;
    free(ws);
    free(tids);
    freeaddrinfo(addr);
    if (started < conns) {
        fprintf(stderr, "vigil-bench query: could start only %d of %d threads\n", started, conns);
        return -1;
    }
    return 0;
}
