/*
 * bench_idle.c - what an idle device connection costs the server: open N
 * mutual-TLS connections (handshake done, then silent), let the server's
 * resident memory settle, and divide its growth by N.
 */
#include "tools/vigil-bench/bench.h"

#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAVE 200

static long rss_kib_of(int pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}

/* The sum over "PID,PID,...": nginx serves from several processes. */
static long rss_kib(const char *pids)
{
    long total = 0;
    for (const char *p = pids; *p;) {
        char *end;
        long pid = strtol(p, &end, 10);
        long kib = end > p ? rss_kib_of((int)pid) : -1;
        if (kib < 0)
            return -1;
        total += kib;
        p = *end == ',' ? end + 1 : end;
        if (end == p && *p)
            return -1;
    }
    return total;
}

typedef struct idle_conn {
    int fd;
    SSL *ssl;
    int done;
} idle_conn;

static int load_pair(const bench_cfg *cfg, int i, X509 **cert, EVP_PKEY **key)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s%06d.crt", cfg->devices_dir, cfg->prefix, i % cfg->devices);
    if (!(f = fopen(path, "r")))
        return -1;
    *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s%06d.key", cfg->devices_dir, cfg->prefix, i % cfg->devices);
    if (!(f = fopen(path, "r")))
        return -1;
    *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    return *cert && *key ? 0 : -1;
}

/* Handshakes a wave of connections to completion (blocking poll loop). */
static int open_wave(SSL_CTX *ctx, struct addrinfo *ai, const bench_cfg *cfg, idle_conn *c,
                     int first, int n)
{
    int pending = 0;
    for (int i = first; i < first + n; i++) {
        X509 *cert = NULL;
        EVP_PKEY *key = NULL;
        if (load_pair(cfg, i, &cert, &key) < 0)
            return -1;
        c[i].fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (c[i].fd < 0 || (connect(c[i].fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS))
            return -1;
        c[i].ssl = SSL_new(ctx);
        SSL_use_certificate(c[i].ssl, cert);
        SSL_use_PrivateKey(c[i].ssl, key);
        X509_free(cert);
        EVP_PKEY_free(key);
        SSL_set_fd(c[i].ssl, c[i].fd);
        SSL_set_connect_state(c[i].ssl);
        pending++;
    }
    for (int round = 0; pending > 0 && round < 2000; round++) {
        struct pollfd pfd[WAVE];
        int k = 0;
        for (int i = first; i < first + n; i++) {
            if (c[i].done)
                continue;
            ERR_clear_error();
            int r = SSL_connect(c[i].ssl);
            if (r == 1) {
                c[i].done = 1;
                pending--;
                continue;
            }
            int e = SSL_get_error(c[i].ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                return -1;
            pfd[k].fd = c[i].fd;
            pfd[k++].events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        }
        if (pending)
            poll(pfd, (nfds_t)k, 100);
    }
    return pending ? -1 : 0;
}

int bench_idle(const bench_cfg *cfg, double *kib_per_conn, int *opened)
{
    struct rlimit rl;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = -1, n = cfg->count;
    idle_conn *c = calloc((size_t)n, sizeof(*c));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (!c || !ctx || SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) != 1 ||
        getaddrinfo(cfg->host, cfg->port, &hints, &ai) != 0)
        goto done;
    long before = rss_kib(cfg->server_pids);
    *opened = 0;
    for (int first = 0; first < n; first += WAVE) {
        int wave = n - first < WAVE ? n - first : WAVE;
        if (open_wave(ctx, ai, cfg, c, first, wave) < 0) {
            fprintf(stderr, "vigil-bench: connection %d failed (ulimit -n? server limits?)\n",
                    first);
            goto done;
        }
        *opened += wave;
    }
    sleep(2);   /* let the server finish authorizing and release buffers */
    long after = rss_kib(cfg->server_pids);
    if (before < 0 || after < 0) {
        fprintf(stderr, "vigil-bench: cannot read the RSS of %s\n", cfg->server_pids);
        goto done;
    }
    *kib_per_conn = (double)(after - before) / n;
    rc = 0;
done:
    for (int i = 0; c && i < n; i++) {
        if (c[i].ssl)
            SSL_free(c[i].ssl);
        if (c[i].fd > 0)
            close(c[i].fd);
    }
    free(c);
    SSL_CTX_free(ctx);
    if (ai)
        freeaddrinfo(ai);
    return rc;
}
