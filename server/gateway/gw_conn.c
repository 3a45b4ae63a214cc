/*
 * gw_conn.c - device connection I/O: TLS on the socket, request reading,
 * response writing, deadlines and closing (see gw_conn.h). What a request
 * means is decided in gw_routes.c; who the peer is, in gw_auth.c.
 */
#include "server/gateway/gw_conn.h"

#include "protocol/errors.h"
#include "server/core/metrics.h"
#include "server/core/strbuf.h"
#include "server/gateway/gw_auth.h"
#include "server/gateway/gw_artifact.h"
#include "server/gateway/gw_est.h"
#include "server/gateway/gw_update.h"
#include "server/gateway/gw_routes.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads and answers in a row before the other connections of the loop
 * get a turn: a peer that streams pipelined requests gets about 32 of
 * them answered per turn, and everyone else is served in between. */
#define GW_CONN_WORK_PER_TURN 64
/* Bytes written in a row before the others get a turn: a streamed body
 * whose pieces are all in memory (cached artifact chunks) going to a peer
 * that reads as fast would otherwise keep its loop to itself. */
#define GW_CONN_WRITE_PER_TURN (512 * 1024)

static void on_io(uv_poll_t *h, int status, int events);
static void read_requests(gw_conn *c);

/* ---- polling and deadlines ---- */

static void set_poll(gw_conn *c, int events)
{
    if (c->state == GW_CONN_CLOSING || events == c->poll_events)
        return;
    c->poll_events = events;
    if (events)
        uv_poll_start(&c->poll, events, on_io);
    else
        uv_poll_stop(&c->poll);
}

static void on_deadline(uv_timer_t *t)
{
    gw_conn *c = t->data;
    switch (c->state) {
    case GW_CONN_HANDSHAKE:
        metrics_add(&metrics.handshakes[HS_TIMEOUT], 1);
        gw_conn_close(c);
        return;
    case GW_CONN_READING:
        if (c->parser && gw_http_parser_in_progress(c->parser))
            gw_conn_respond_error(c, 408, "timeout", "the request took too long to arrive", 0, 1);
        else
            gw_conn_close(c); /* idle keep-alive connection */
        return;
    default:
        gw_conn_close(c); /* a peer that does not read its response */
    }
}

static void arm(gw_conn *c, int64_t ms)
{
    c->deadline = uv_now(&c->w->loop) + (uint64_t)ms;
    uv_timer_start(&c->timer, on_deadline, (uint64_t)ms, 0);
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
    gw_conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    close(c->fd);
    SSL_free(c->ssl);
    if (c->parser) {
        gw_http_parser_free(c->parser);
        free(c->parser);
    }
    free(c->out);
    free(c->leftover);
    free(c->peer);
    free(c);
}

void gw_conn_close(gw_conn *c)
{
    if (c->state == GW_CONN_CLOSING)
        return;
    if (c->pending) {
        ingest_detach(c->pending);
        c->pending = NULL;
    }
    gw_auth_release(c);
    gw_est_release(c);
    gw_update_release(c);
    gw_artifact_release(c);
    gw_track_addr_release(c->addr);
    if (c->state != GW_CONN_HANDSHAKE) {
        ERR_clear_error();
        SSL_shutdown(c->ssl);   /* close_notify, best effort, never waits */
    }
    ERR_clear_error();
    c->state = GW_CONN_CLOSING;
    /* No uv_poll_stop first: uv_close stops the poll itself, and stopping it
     * twice costs a second epoll_ctl DEL that fails, once per connection. */
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->poll, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    gw_worker_conn_removed(c->w, c);
    metrics_add(&metrics.connections_open, -1);
}

/* ---- accepting and the handshake ---- */

void gw_conn_accept(gw_worker *w, int fd, const char *addr)
{
    gw_conn *c = calloc(1, sizeof(*c));
    SSL_CTX *ctx = gw_tls_current();
    if (!c || !ctx || !(c->peer = calloc(1, sizeof(*c->peer))) || !(c->ssl = SSL_new(ctx)) ||
        !SSL_set_fd(c->ssl, fd)) {
        if (c) {
            SSL_free(c->ssl);
            free(c->peer);
        }
        free(c);
        SSL_CTX_free(ctx);
        gw_track_addr_release(addr);
        close(fd);
        return;
    }
    SSL_CTX_free(ctx);          /* the SSL holds its own reference */
    SSL_set_accept_state(c->ssl);
    /* SSL_write returns as each record goes out (flush_out keeps the
     * offset), so a streamed body's source learns how far it got. */
    SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE);
    gw_tls_set_peer(c->ssl, c->peer);
    c->w = w;
    c->fd = fd;
    snprintf(c->addr, sizeof(c->addr), "%s", addr);
    uv_poll_init(&w->loop, &c->poll, fd);
    uv_timer_init(&w->loop, &c->timer);
    c->poll.data = c->timer.data = c;
    c->open_handles = 2;
    c->state = GW_CONN_HANDSHAKE;
    gw_worker_conn_added(w, c);
    metrics_add(&metrics.connections_open, 1);
    metrics_add(&metrics.connections_total, 1);
    arm(c, w->cfg->handshake_timeout_ms);
    set_poll(c, UV_READABLE);
}

static void do_handshake(gw_conn *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        gw_tls_set_peer(c->ssl, NULL);
        c->grant_only = c->peer->renewal_grant;
        free(c->peer);
        c->peer = NULL;
        c->resumed = SSL_session_reused(c->ssl);
        uv_timer_stop(&c->timer);
        /* Polling stays on: the registry's answer is most often at hand
         * and the connection reads on at once, and stopping and starting
         * it is two epoll_ctl calls. If the answer is to be looked up, an
         * event meanwhile stops it (on_io). */
        c->state = GW_CONN_AUTHORIZING;
        gw_auth_start(c);
        return;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        set_poll(c, UV_READABLE);
        return;
    case SSL_ERROR_WANT_WRITE:
        set_poll(c, UV_READABLE | UV_WRITABLE);
        return;
    default:
        gw_auth_handshake_failed(c, c->peer, ERR_peek_error());
        ERR_clear_error();
        gw_conn_close(c);
    }
}

/* ---- serving requests ---- */

void gw_conn_authorized(gw_conn *c)
{
    c->authenticated = 1;
    c->state = GW_CONN_READING;
    if (c->w->draining) {
        gw_conn_close(c);
        return;
    }
    arm(c, c->w->cfg->idle_timeout_ms);
    set_poll(c, UV_READABLE);
    read_requests(c);
}

static int new_parser(gw_conn *c)
{
    const config *cfg = c->w->cfg;
    gw_http_limits limits = {(size_t)cfg->max_header_bytes, 64, (size_t)cfg->max_body_bytes};
    if (!(c->parser = malloc(sizeof(*c->parser))))
        return -1;
    gw_http_parser_init(c->parser, &limits);
    arm(c, cfg->header_timeout_ms);   /* the whole request must arrive in time */
    return 0;
}

/* Gets the next plaintext: pipelined leftovers first, then TLS. Returns
 * the length, 0 to wait for the socket, -1 when the connection is over. */
static ssize_t next_input(gw_conn *c, const char **data)
{
    if (c->leftover) {
        *data = c->leftover + c->leftover_off;
        return (ssize_t)(c->leftover_len - c->leftover_off);
    }
    ERR_clear_error();
    int n = SSL_read(c->ssl, c->w->rbuf, (int)sizeof(c->w->rbuf));
    if (n > 0) {
        *data = c->w->rbuf;
        return n;
    }
    switch (SSL_get_error(c->ssl, n)) {
    case SSL_ERROR_WANT_READ:
        set_poll(c, UV_READABLE);
        return 0;
    case SSL_ERROR_WANT_WRITE:
        set_poll(c, UV_READABLE | UV_WRITABLE);
        return 0;
    default:
        ERR_clear_error();
        return -1;          /* close_notify, EOF, reset or a TLS error */
    }
}

/* Keeps what the parser did not take (the start of a pipelined request). */
static int consume_input(gw_conn *c, const char *data, size_t len, size_t used)
{
    if (c->leftover) {
        c->leftover_off += used;
        if (c->leftover_off >= c->leftover_len) {
            free(c->leftover);
            c->leftover = NULL;
        }
        return 0;
    }
    if (used == len)
        return 0;
    if (!(c->leftover = malloc(len - used)))
        return -1;
    memcpy(c->leftover, data + used, len - used);
    c->leftover_len = len - used;
    c->leftover_off = 0;
    return 0;
}

/* Plaintext is already here in user space (pipelined bytes the parser did
 * not take, or a TLS record OpenSSL has read): no poll would report it.
 * What is still in the socket, the (level-triggered) poll reports; reading
 * for it now would be a read() that says EAGAIN, once per request. */
static int input_buffered(gw_conn *c)
{
    return c->leftover || SSL_has_pending(c->ssl);
}

/* After a dispatch: the answer was written at once (an error, a 429) and
 * the next pipelined request is already here. */
static int answered_with_more_input(gw_conn *c)
{
    return c->state == GW_CONN_READING && input_buffered(c);
}

/* The next turn of a connection that used up its turn (read_loop): the
 * deadline the turn's timer stood in for runs on from where it was. */
static void on_next_turn(uv_timer_t *t)
{
    gw_conn *c = t->data;
    if (c->state != GW_CONN_READING)
        return;
    uint64_t now = uv_now(&c->w->loop);
    uv_timer_start(&c->timer, on_deadline, c->deadline > now ? c->deadline - now : 0, 0);
    read_requests(c);
}

/* The others on this loop get their turn first; the poll brings the
 * connection back for what is in the socket, the timer for what is
 * buffered. 1 ms, not 0: libuv 1.44 runs a 0 ms timer started from a
 * timer callback again in the same pass, before any poll, so 0 would give
 * nobody a turn. */
static void end_turn(gw_conn *c)
{
    if (input_buffered(c))
        uv_timer_start(&c->timer, on_next_turn, 1, 0);
}

static void read_loop(gw_conn *c)
{
    int work = 0; /* reads and answers in this turn */
    while (c->state == GW_CONN_READING) {
        if (++work > GW_CONN_WORK_PER_TURN) {
            end_turn(c);
            return;
        }
        const char *data = NULL;
        ssize_t len = next_input(c, &data);
        if (len == 0)
            return;
        if (len < 0) {
            gw_conn_close(c);
            return;
        }
        if (!c->parser && new_parser(c) < 0) {
            gw_conn_close(c);
            return;
        }
        size_t used = gw_http_parser_feed(c->parser, data, (size_t)len);
        if (consume_input(c, data, (size_t)len, used) < 0) {
            gw_conn_close(c);
            return;
        }
        if (gw_http_parser_error(c->parser)) {
            int status = gw_http_parser_error(c->parser);
            gw_conn_respond_error(c, status, gw_http_error_code(status),
                                  gw_http_parser_reason(c->parser), 0, 1);
            return;
        }
        if (gw_http_parser_done(c->parser)) {
            /* The poll stays as it is: turning it off and on again costs two
             * epoll_ctl calls per request; on_io turns it off only if the
             * peer sends more while we are busy. */
            uv_timer_stop(&c->timer);
            c->state = GW_CONN_PROCESSING;
            gw_routes_dispatch(c, &c->parser->req);
            if (!answered_with_more_input(c))
                return;
            work++;
        }
    }
}

/* A response written at once (an error, say) brings the connection back to
 * READING inside read_loop's own call, and response_sent's call here
 * returns at once: read_loop itself goes on with the next pipelined
 * request, so a flood of tiny pipelined requests can neither grow the
 * stack nor be left waiting for bytes the peer has already sent. */
static void read_requests(gw_conn *c)
{
    if (c->in_read_loop)
        return;
    c->in_read_loop = 1;
    read_loop(c);
    c->in_read_loop = 0;
}

/* ---- responses ---- */

static void response_sent(gw_conn *c)
{
    free(c->out);
    c->out = NULL;
    c->streaming = c->stream_ended = 0;
    c->progress = NULL;
    if (c->close_after || c->w->draining) {
        gw_conn_close(c);
        return;
    }
    if (c->parser) {
        gw_http_parser_free(c->parser);
        free(c->parser);
        c->parser = NULL;
    }
    c->state = GW_CONN_READING;
    arm(c, c->w->cfg->idle_timeout_ms);
    set_poll(c, UV_READABLE);
    /* A keep-alive peer usually sends its next request only after reading
     * this answer: only what is already buffered is read now. */
    if (input_buffered(c))
        read_requests(c);
}

/* What is still to be written: the head (out) first, then the piece. */
static const char *unwritten(const gw_conn *c, size_t *len)
{
    if (c->out && c->out_off < c->out_len) {
        *len = c->out_len - c->out_off;
        return c->out + c->out_off;
    }
    if (c->piece && c->piece_off < c->piece_len) {
        *len = c->piece_len - c->piece_off;
        return c->piece + c->piece_off;
    }
    return NULL;
}

/* n bytes went out (partial writes: a TLS record or more at a time). */
static void advance(gw_conn *c, size_t n)
{
    if (c->out && c->out_off < c->out_len) {
        c->out_off += n;
        return;
    }
    c->piece_off += n;
    size_t unsent = c->piece_len - c->piece_off;
    if (unsent == 0)
        c->piece = NULL;
    arm(c, c->w->cfg->header_timeout_ms); /* a peer that reads has more time */
    c->progress(c, unsent);               /* may give the next piece, or end */
}

/* Writes until the socket is full or nothing is left; then the answer is
 * sent, or (a streamed body) waits for its source's next piece. */
static void flush_out(gw_conn *c)
{
    const char *buf;
    size_t len, turn = 0;
    c->in_flush = 1;
    while (c->state == GW_CONN_WRITING && (buf = unwritten(c, &len))) {
        if (turn >= GW_CONN_WRITE_PER_TURN) {
            c->in_flush = 0;
            set_poll(c, UV_WRITABLE); /* level-triggered: back on the next turn */
            return;
        }
        ERR_clear_error();
        int n = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
        if (n > 0) {
            turn += (size_t)n;
            advance(c, (size_t)n);
            continue;
        }
        c->in_flush = 0;
        switch (SSL_get_error(c->ssl, n)) {
        case SSL_ERROR_WANT_WRITE:
            set_poll(c, UV_WRITABLE);
            return;
        case SSL_ERROR_WANT_READ:
            set_poll(c, UV_READABLE);
            return;
        default:
            ERR_clear_error();
            gw_conn_close(c);
            return;
        }
    }
    c->in_flush = 0;
    if (c->state != GW_CONN_WRITING)
        return;
    if (c->streaming && !c->stream_ended)
        set_poll(c, 0); /* the source is reading its next piece */
    else
        response_sent(c);
}

/* The status line and headers; body_len is the Content-Length, which a
 * 204 does not have (RFC 9110 section 8.6). */
static void put_head(gw_conn *c, strbuf *b, int status, const char *content_type,
                     const char *headers, uint64_t body_len, int retry_after, int close_after)
{
    strbuf_printf(b, "HTTP/1.1 %d %s\r\n", status, gw_http_status_text(status));
    if (status != 204)
        strbuf_printf(b, "Content-Length: %llu\r\n", (unsigned long long)body_len);
    if (content_type)
        strbuf_printf(b, "Content-Type: %s\r\n", content_type);
    if (headers)
        strbuf_puts(b, headers);
    if (retry_after > 0)
        strbuf_printf(b, "Retry-After: %d\r\n", retry_after);
    if (status == 405 && c->allow)
        strbuf_printf(b, "Allow: %s\r\n", c->allow);
    c->allow = NULL;
    if (close_after)
        strbuf_puts(b, "Connection: close\r\n");
    strbuf_puts(b, "\r\n");
}

/* A HEAD answer has the headers a GET would get, Content-Length included,
 * and no body (RFC 9110 section 9.3.2): a client on keep-alive reads no
 * body after it. */
static int is_head(const gw_conn *c)
{
    return c->parser && c->parser->started && c->parser->llh.method == HTTP_HEAD;
}

/* Takes what b holds as the answer and starts writing it. */
static void start_writing(gw_conn *c, strbuf *b, int close_after)
{
    free(c->out);
    c->out_off = 0;
    if (!(c->out = strbuf_take(b, &c->out_len))) {
        gw_conn_close(c);
        return;
    }
    c->close_after = close_after;
    c->state = GW_CONN_WRITING;
    arm(c, c->w->cfg->header_timeout_ms);
    flush_out(c);
}

void gw_conn_respond_body(gw_conn *c, int status, const char *content_type, const char *headers,
                          const char *body, size_t body_len, int retry_after, int close_after)
{
    strbuf b;
    if (c->state == GW_CONN_CLOSING)
        return;
    if (c->w->draining)
        close_after = 1;
    strbuf_init(&b);
    put_head(c, &b, status, body ? content_type : NULL, headers, body ? body_len : 0, retry_after,
             close_after);
    if (body && !is_head(c))
        strbuf_append(&b, body, body_len);
    start_writing(c, &b, close_after);
}

void gw_conn_respond_stream(gw_conn *c, int status, const char *content_type, const char *headers,
                            uint64_t content_length, const char *first, size_t len,
                            gw_conn_progress_cb progress)
{
    strbuf b;
    if (c->state == GW_CONN_CLOSING)
        return;
    int close_after = c->w->draining;
    strbuf_init(&b);
    put_head(c, &b, status, content_type, headers, content_length, 0, close_after);
    if (!is_head(c) && first && len > 0) {
        c->streaming = 1;
        c->stream_ended = 0;
        c->progress = progress;
        c->piece = first;
        c->piece_len = len;
        c->piece_off = 0;
    }
    start_writing(c, &b, close_after);
}

void gw_conn_stream_piece(gw_conn *c, const char *data, size_t len)
{
    if (c->state != GW_CONN_WRITING || !c->streaming || c->piece || len == 0)
        return;
    c->piece = data;
    c->piece_len = len;
    c->piece_off = 0;
    if (!c->in_flush)
        flush_out(c);
}

void gw_conn_stream_end(gw_conn *c)
{
    if (c->state != GW_CONN_WRITING || !c->streaming)
        return;
    c->stream_ended = 1;
    c->piece = NULL;
    if (!c->in_flush)
        flush_out(c);
}

void gw_conn_respond(gw_conn *c, int status, const char *body_json, int retry_after,
                     int close_after)
{
    gw_conn_respond_body(c, status, "application/json", NULL, body_json,
                         body_json ? strlen(body_json) : 0, retry_after, close_after);
}

void gw_conn_respond_error(gw_conn *c, int status, const char *code, const char *reason,
                           int retry_after, int close_after)
{
    char *body = errors_json(code, reason, NULL);
    gw_conn_respond(c, status, body, retry_after, close_after);
    free(body);
}

void gw_conn_respond_error_param(gw_conn *c, int status, const char *code, const char *reason,
                                 const char *parameter, int close_after)
{
    char *body = errors_json(code, reason, parameter);
    gw_conn_respond(c, status, body, 0, close_after);
    free(body);
}

static void on_io(uv_poll_t *h, int status, int events)
{
    gw_conn *c = h->data;
    (void)events;
    if (status < 0) {
        gw_conn_close(c);
        return;
    }
    switch (c->state) {
    case GW_CONN_HANDSHAKE:
        do_handshake(c);
        break;
    case GW_CONN_READING:
        read_requests(c);
        break;
    case GW_CONN_WRITING:
        flush_out(c);
        break;
    default: set_poll(c, 0); break;
    }
}

void gw_conn_recheck(gw_conn *c)
{
    if (c->state == GW_CONN_CLOSING || !c->authenticated)
        return;
    if (!gw_auth_still_valid(c))
        gw_conn_close(c);
}

void gw_conn_drain(gw_conn *c)
{
    if (c->state == GW_CONN_READING && !c->parser && !c->leftover)
        gw_conn_close(c);
    else if (c->state == GW_CONN_HANDSHAKE)
        gw_conn_close(c);
}
