/*
 * client.c - the device stub's TLS client (see client.h).
 */
#include "tools/vigil-device/client.h"

#include "tools/vigil-device/util.h"

#include "cert-authority/ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IO_TIMEOUT_S 15
#define MAX_HEADER 16384

static devc_result fail(devc_result r, char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static devc_result fail(devc_result r, char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return r;
}

static const char *ssl_reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    return r ? r : "connection closed";
}

/* The TLS alerts a server sends about a client's certificate, in words. */
static const struct {
    int alert;
    const char *name, *words;
} refusals[] = {
    {SSL_AD_UNKNOWN_CA, "unknown_ca",
     "unknown issuer: the server does not trust the CA that issued it (a self-signed "
     "certificate, or one from another CA)"},
    {SSL_AD_CERTIFICATE_REVOKED, "certificate_revoked", "it is revoked"},
    {SSL_AD_CERTIFICATE_EXPIRED, "certificate_expired", "it has expired"},
    {SSL_AD_BAD_CERTIFICATE, "bad_certificate",
     "bad certificate (not yet valid, or refused by the server's checks)"},
    {SSL_AD_UNSUPPORTED_CERTIFICATE, "unsupported_certificate",
     "not a client certificate (it needs extendedKeyUsage clientAuth)"},
    {SSL_AD_CERTIFICATE_UNKNOWN, "certificate_unknown", "not accepted"},
    {SSL_AD_DECRYPT_ERROR, "decrypt_error",
     "bad signature (not signed by the CA it names, or made with another key)"},
    {SSL_AD_ACCESS_DENIED, "access_denied", "access denied"},
    {SSL_AD_CERTIFICATE_REQUIRED, "certificate_required", "the server requires one"},
    {SSL_AD_HANDSHAKE_FAILURE, "handshake_failure",
     "the handshake failed (no certificate, or no cipher, the server accepts)"},
};

/* If the last TLS error is the server's alert about our certificate (in
 * TLS 1.3 a refused client certificate shows up at the first read), says
 * so in err and returns 1. */
static int refused_by_alert(char *err, size_t errlen)
{
    unsigned long e = ERR_peek_last_error();
    int alert = ERR_GET_REASON(e) - SSL_AD_REASON_OFFSET;
    if (ERR_GET_LIB(e) != ERR_LIB_SSL)
        return 0;
    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
        if (refusals[i].alert == alert) {
            fail(DEVC_IDENTITY, err, errlen,
                 "the server refused this certificate: %s (TLS alert %s)", refusals[i].words,
                 refusals[i].name);
            return 1;
        }
    return 0;
}

int devc_parse_server(const char *server, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = server ? strrchr(server, ':') : NULL;
    if (!colon || colon == server || !colon[1] || strlen(colon + 1) >= portlen ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1) || (size_t)(colon - server) >= hostlen)
        return -1;
    memcpy(host, server, (size_t)(colon - server));
    host[colon - server] = '\0';
    if (host[0] == '[') {   /* [::1]:8443 */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    snprintf(port, portlen, "%s", colon + 1);
    return host[0] ? 0 : -1;
}

devc_result devc_init(devc *c, const char *server, const char *cert, const char *key,
                      const char *ca, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if (devc_parse_server(server, c->host, sizeof(c->host), c->port, sizeof(c->port)) < 0)
        return fail(DEVC_IDENTITY, err, errlen, "--server '%s' is not HOST:PORT", server);
    ca_error cerr = {0};
    if (!(c->ctx = SSL_CTX_new(TLS_client_method())) ||
        !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION))
        return fail(DEVC_IDENTITY, err, errlen, "cannot set up TLS: %s", ssl_reason());
    if (ca_tls_use_identity(c->ctx, cert, key, &cerr) < 0 ||
        ca_tls_use_trust(c->ctx, ca, &cerr) < 0)
        return fail(DEVC_IDENTITY, err, errlen, "%s", cerr.msg);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    return DEVC_OK;
}

static int connect_tcp(devc *c, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL, *p;
    int rc = getaddrinfo(c->host, c->port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", c->host, gai_strerror(rc));
        return -1;
    }
    for (p = ai; p; p = p->ai_next) {
        int fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct timeval tv = {IO_TIMEOUT_S, 0};
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) {
            freeaddrinfo(ai);
            return fd;
        }
        snprintf(err, errlen, "cannot connect to %s:%s: %s", c->host, c->port, strerror(errno));
        close(fd);
    }
    freeaddrinfo(ai);
    return -1;
}

static devc_result connect_tls(devc *c, char *err, size_t errlen)
{
    unsigned char ip[16];
    if ((c->fd = connect_tcp(c, err, errlen)) < 0)
        return DEVC_RETRY;
    c->ssl = SSL_new(c->ctx);
    X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
    if (inet_pton(AF_INET, c->host, ip) == 1 || inet_pton(AF_INET6, c->host, ip) == 1)
        X509_VERIFY_PARAM_set1_ip_asc(vp, c->host);
    else {
        SSL_set_tlsext_host_name(c->ssl, c->host);
        SSL_set1_host(c->ssl, c->host);
    }
    SSL_set_fd(c->ssl, c->fd);
    ERR_clear_error();
    if (SSL_connect(c->ssl) != 1) {
        long v = SSL_get_verify_result(c->ssl);
        devc_result r = ERR_peek_last_error() ? DEVC_IDENTITY : DEVC_RETRY;
        if (v == X509_V_OK && refused_by_alert(err, errlen))
            ;   /* TLS 1.2: the refusal comes during the handshake */
        else if (v != X509_V_OK)
            fail(DEVC_IDENTITY, err, errlen, "the server's certificate is not trusted: %s",
                 X509_verify_cert_error_string(v));
        else if (strstr(ssl_reason(), "wrong version number") ||
                 strstr(ssl_reason(), "packet length too long"))
            fail(r, err, errlen,
                 "TLS handshake failed: %s: %s:%s did not answer in TLS; is it vigild's device "
                 "port (not its operator port or another service)?",
                 ssl_reason(), c->host, c->port);
        else
            fail(r, err, errlen, "TLS handshake failed: %s", ssl_reason());
        devc_disconnect(c);
        return v != X509_V_OK ? DEVC_IDENTITY : r;
    }
    return DEVC_OK;
}

static void drop_pending(devc *c)
{
    free(c->pend);
    c->pend = NULL;
    c->pend_len = c->pend_off = 0;
    c->body_left = 0;
}

void devc_disconnect(devc *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    ERR_clear_error();
}

void devc_free(devc *c)
{
    devc_disconnect(c);
    drop_pending(c);
    SSL_CTX_free(c->ctx);
    c->ctx = NULL;
}

void devc_response_free(devc_response *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

static int write_all(devc *c, const char *data, size_t len)
{
    while (len > 0) {
        int n = SSL_write(c->ssl, data, (int)(len > 65536 ? 65536 : len));
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Each read waits at most until the answer's deadline (and at most
 * IO_TIMEOUT_S); 0, or -1 once it has passed. */
static int before_deadline(devc *c)
{
    long long left = c->deadline_ms - devu_now_ms();
    if (left <= 0)
        return -1;
    if (left > IO_TIMEOUT_S * 1000)
        left = IO_TIMEOUT_S * 1000;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return 0;
}

/* Back to the timeout of one read, for a streamed body. */
static void no_deadline(devc *c)
{
    struct timeval tv = {IO_TIMEOUT_S, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Reads the header section into buf; returns its length (up to and
 * including the blank line) and how much was read in total. */
static long read_headers(devc *c, char *buf, size_t cap, size_t *got)
{
    *got = 0;
    while (*got < cap - 1) {
        if (before_deadline(c) < 0)
            return -1;
        int n = SSL_read(c->ssl, buf + *got, (int)(cap - 1 - *got));
        if (n <= 0)
            return -1;
        *got += (size_t)n;
        buf[*got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end)
            return end + 4 - buf;
    }
    return -1;
}

static const char *header(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
            return p + 3 + n;
    return NULL;
}

devc_result devc_parse_head(const char *buf, size_t hlen, devc_response *r, char *err,
                            size_t errlen)
{
    /* Only the head itself is looked at: bytes of the body read with it
     * could otherwise pass for a header ("\r\nContent-Length: ..."). */
    if (!(r->head = strndup(buf, hlen)))
        return fail(DEVC_RETRY, err, errlen, "out of memory");
    const char *head = r->head;
    if (strlen(head) != hlen || sscanf(head, "HTTP/1.%*d %d", &r->status) != 1)
        return fail(DEVC_RETRY, err, errlen, "not an HTTP answer");
    const char *cl = header(head, "Content-Length"), *ra = header(head, "Retry-After"),
               *conn = header(head, "Connection"), *ct = header(head, "Content-Type");
    char *end = NULL;
    r->length = cl ? strtoll(cl, &end, 10) : -1;
    r->retry_after = ra ? atoi(ra) : -1;
    if (ct) {
        ct += strspn(ct, " \t");
        snprintf(r->content_type, sizeof(r->content_type), "%.*s", (int)strcspn(ct, "\r"), ct);
    }
    r->close = conn && strncasecmp(conn + strspn(conn, " "), "close", 5) == 0;
    if (cl && (end == cl || r->length < 0))
        return fail(DEVC_RETRY, err, errlen, "a malformed Content-Length");
    if (header(head, "Transfer-Encoding"))
        return fail(DEVC_RETRY, err, errlen, "a Transfer-Encoding is not expected here");
    return DEVC_OK;
}

/* Reads the status line and headers; what was read past them is kept in
 * c->pend for the body. */
static devc_result read_head(devc *c, devc_response *r, char *err, size_t errlen)
{
    char head[MAX_HEADER + 1];
    size_t got = 0;
    long hlen = read_headers(c, head, sizeof(head), &got);
    if (hlen < 0 && refused_by_alert(err, errlen))
        return DEVC_IDENTITY;
    if (hlen < 0 && devu_now_ms() >= c->deadline_ms)
        return fail(DEVC_RETRY, err, errlen, "no whole answer within %d s", DEVC_ANSWER_S);
    if (hlen < 0)
        return fail(DEVC_RETRY, err, errlen, "no answer from the server: %s", ssl_reason());
    devc_result d = devc_parse_head(head, (size_t)hlen, r, err, errlen);
    if (d != DEVC_OK)
        return d;
    if (got > (size_t)hlen && !(c->pend = malloc(got - (size_t)hlen)))
        return fail(DEVC_RETRY, err, errlen, "out of memory");
    c->pend_len = got - (size_t)hlen;
    c->pend_off = 0;
    if (c->pend_len)
        memcpy(c->pend, head + hlen, c->pend_len);
    c->body_left = r->length > 0 ? r->length : 0;
    return DEVC_OK;
}

long devc_stream_read(devc *c, char *buf, size_t cap)
{
    size_t want = (unsigned long long)c->body_left < cap ? (size_t)c->body_left : cap;
    if (want == 0)
        return 0;
    if (c->pend_off < c->pend_len) {
        size_t n = c->pend_len - c->pend_off < want ? c->pend_len - c->pend_off : want;
        memcpy(buf, c->pend + c->pend_off, n);
        c->pend_off += n;
        c->body_left -= (long long)n;
        return (long)n;
    }
    int n = c->ssl ? SSL_read(c->ssl, buf, (int)(want > INT_MAX ? INT_MAX : want)) : -1;
    if (n <= 0) {
        devc_disconnect(c);
        return -1;
    }
    c->body_left -= n;
    return n;
}

void devc_stream_close(devc *c, const devc_response *resp)
{
    if (c->body_left > 0 || c->pend_off < c->pend_len || resp->close)
        devc_disconnect(c); /* bytes we did not read would be taken for the next answer */
    drop_pending(c);
}

/* Reads the whole body (at most DEVC_MAX_BODY) into r->body. */
static devc_result read_body(devc *c, devc_response *r, char *err, size_t errlen)
{
    size_t length = (size_t)c->body_left, have = 0;
    if (c->body_left > DEVC_MAX_BODY)
        return fail(DEVC_RETRY, err, errlen, "answer body of %lld bytes refused", c->body_left);
    if (!(r->body = malloc(length + 1)))
        return fail(DEVC_RETRY, err, errlen, "out of memory");
    while (have < length) {
        long n = before_deadline(c) < 0 ? -2 : devc_stream_read(c, r->body + have, length - have);
        if (n == -2)
            return fail(DEVC_RETRY, err, errlen, "the answer took more than %d s", DEVC_ANSWER_S);
        if (n <= 0)
            return fail(DEVC_RETRY, err, errlen, "answer cut short: %s", ssl_reason());
        have += (size_t)n;
    }
    r->body[length] = '\0';
    r->body_len = length;
    drop_pending(c);
    return DEVC_OK;
}

const char *devc_header(const devc_response *r, const char *name, char *out, size_t outlen)
{
    const char *v = r->head ? header(r->head, name) : NULL;
    if (!v || outlen == 0)
        return NULL;
    v += strspn(v, " \t");
    size_t n = strcspn(v, "\r\n");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    snprintf(out, outlen, "%.*s", (int)n, v);
    return out;
}

static devc_result request(devc *c, const char *method, const char *path, const char *extra,
                           const char *content_type, const char *body, size_t body_len,
                           devc_response *resp, int stream, char *err, size_t errlen)
{
    char head[1024];
    int has_body = strcmp(method, "GET") != 0, n;
    memset(resp, 0, sizeof(*resp));
    if (has_body)
        n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: %s\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, c->host, extra ? extra : "", content_type, body_len);
    else
        n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method, path,
                     c->host, extra ? extra : "");
    if (n < 0 || (size_t)n >= sizeof(head))
        return fail(DEVC_RETRY, err, errlen, "request header too long");
    /* A kept-alive connection may have been closed by the server meanwhile:
     * one fresh attempt is part of the same try. */
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->ssl != NULL;
        devc_result r;
        if (!c->ssl && (r = connect_tls(c, err, errlen)) != DEVC_OK)
            return r;
        /* A server refusing this device answers and closes without reading
         * the request, so a failed write may still have an answer behind it. */
        int wrote = write_all(c, head, strlen(head)) == 0 &&
                    (!has_body || write_all(c, body, body_len) == 0);
        c->deadline_ms = devu_now_ms() + DEVC_ANSWER_S * 1000LL;
        r = read_head(c, resp, err, errlen);
        if (r == DEVC_OK && (wrote || resp->close)) {
            if (stream) {
                no_deadline(c);
                return DEVC_OK;
            }
            r = read_body(c, resp, err, errlen);
        }
        if (r == DEVC_OK && (wrote || resp->close)) {
            if (resp->close)
                devc_disconnect(c);
            return DEVC_OK;
        }
        devc_response_free(resp);
        drop_pending(c);
        devc_disconnect(c);
        if (r == DEVC_IDENTITY)
            return r;
        if (!reused)
            return err[0] ? DEVC_RETRY : fail(DEVC_RETRY, err, errlen, "connection failed");
    }
    return DEVC_RETRY;
}

devc_result devc_request(devc *c, const char *method, const char *path, const char *content_type,
                         const char *body, size_t body_len, devc_response *resp, char *err,
                         size_t errlen)
{
    return request(c, method, path, NULL, content_type, body, body_len, resp, 0, err, errlen);
}

devc_result devc_request_ex(devc *c, const char *method, const char *path, const char *extra,
                            const char *content_type, const char *body, size_t body_len,
                            devc_response *resp, char *err, size_t errlen)
{
    return request(c, method, path, extra, content_type, body, body_len, resp, 0, err, errlen);
}

devc_result devc_stream_open(devc *c, const char *path, const char *extra, devc_response *resp,
                             char *err, size_t errlen)
{
    return request(c, "GET", path, extra, NULL, NULL, 0, resp, 1, err, errlen);
}

void devc_error_of(const devc_response *r, char *code, size_t codelen, char *reason,
                   size_t reasonlen)
{
    json_t *e = r->body ? json_loads(r->body, 0, NULL) : NULL;
    const char *c = json_string_value(json_object_get(e, "error"));
    const char *why = json_string_value(json_object_get(e, "reason"));
    if (c)
        snprintf(code, codelen, "%s", c);
    else
        snprintf(code, codelen, "http_%d", r->status);
    snprintf(reason, reasonlen, "%s", why ? why : "no reason given");
    json_decref(e);
}

devc_result devc_post(devc *c, const char *path, const char *body, devc_response *resp, char *err,
                      size_t errlen)
{
    return devc_request(c, "POST", path, "application/json", body, strlen(body), resp, err, errlen);
}
