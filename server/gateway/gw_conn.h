/*
 * gw_conn.h - one device connection on a worker loop: non-blocking TLS
 * straight on the socket (OpenSSL reads and writes the descriptor; a
 * uv_poll_t says when), then HTTP/1.1 requests one at a time with
 * keep-alive and pipelining.
 *
 * Life of a connection:
 *   HANDSHAKE -> (certificate chain checked by OpenSSL)
 *   AUTHORIZING -> (registry: registered, not revoked, device not
 *                   decommissioned; may wait for a database lookup)
 *   READING <-> PROCESSING (waiting for the commit) -> WRITING -> READING
 *   CLOSING (handles closing; freed in the last close callback)
 * One timer per connection enforces the deadline of the current state.
 * Idle connections hold no buffers: the read buffer is the worker's, the
 * parser exists only while a request is being read, and OpenSSL releases
 * its buffers (SSL_MODE_RELEASE_BUFFERS).
 */
#ifndef VIGIL_GW_CONN_H
#define VIGIL_GW_CONN_H

#include <openssl/ssl.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "server/gateway/gw_http.h"
#include "server/gateway/gw_tls.h"
#include "server/gateway/gw_track.h"
#include "server/gateway/gw_worker.h"
#include "server/ingest/ingest.h"

typedef enum gw_conn_state {
    GW_CONN_HANDSHAKE = 0,
    GW_CONN_AUTHORIZING,
    GW_CONN_READING,
    GW_CONN_PROCESSING,
    GW_CONN_WRITING,
    GW_CONN_CLOSING
} gw_conn_state;

struct gw_conn;
/* Writing a streamed body progressed: unsent bytes of the current piece
 * remain (0: it is all written, give the next one or end the body). */
typedef void (*gw_conn_progress_cb)(struct gw_conn *c, size_t unsent);

struct gw_conn {
    gw_conn *prev, *next;
    gw_worker *w;
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    uint64_t deadline;           /* when the current state's deadline falls (uv_now) */
    int open_handles;
    int poll_events;
    gw_conn_state state;
    SSL *ssl;
    gw_tls_peer *peer;           /* during the handshake only */
    gw_http_parser *parser;      /* while a request is being read */
    char *out;                   /* response being written (plaintext) */
    size_t out_len, out_off;     /* out_off: bytes of it written (partial writes) */
    /* A streamed body (gw_conn_respond_stream): the piece being written is
     * its source's (borrowed until progress says it is written). */
    const char *piece;
    size_t piece_len, piece_off;
    int streaming, stream_ended, in_flush;
    gw_conn_progress_cb progress;
    char *leftover;              /* pipelined bytes read past the last request */
    size_t leftover_len, leftover_off;
    ingest_req *pending;         /* request waiting for its commit */
    int close_after;             /* close once the response is written */
    const char *allow;           /* Allow of the next 405 (a static string) */
    int authenticated;
    int resumed;
    int cert_tracked;
    int network_changed;
    int in_read_loop;
    int grant_only;              /* expired certificate on a renewal grant:
                                    simplereenroll only (gw_est.c) */
    void *lookup;                /* gw_auth.c's registry lookup in flight */
    void *est;                   /* gw_est.c's renewal in flight */
    void *update;                /* gw_update.c's or gw_update_status.c's job in flight */
    void *download;              /* gw_artifact.c's download */
    time_t cert_not_after;       /* the authenticating certificate's: no
                                    request is served past it (gw_routes.c) */
    char device_id[65];
    uint8_t fp[32];
    char addr[GW_TRACK_ADDR_MAX];
    char network[48];
};

/* Takes over an accepted, non-blocking socket. */
void gw_conn_accept(gw_worker *w, int fd, const char *addr);
void gw_conn_close(gw_conn *c);
/* Queues a response; body_json may be NULL. retry_after > 0 adds the
 * header. close_after sends Connection: close and closes once written.
 * The answer to a HEAD request has the headers only. */
void gw_conn_respond(gw_conn *c, int status, const char *body_json, int retry_after,
                     int close_after);
/* The same with any body: content_type is used when body is not NULL;
 * headers (may be NULL) are extra "Name: value\r\n" lines. */
void gw_conn_respond_body(gw_conn *c, int status, const char *content_type, const char *headers,
                          const char *body, size_t body_len, int retry_after, int close_after);
void gw_conn_respond_error(gw_conn *c, int status, const char *code, const char *reason,
                           int retry_after, int close_after);
/* The same with the error's parameter member (a header, query parameter or
 * body member at fault). */
void gw_conn_respond_error_param(gw_conn *c, int status, const char *code, const char *reason,
                                 const char *parameter, int close_after);

/* A body of content_length bytes written piece by piece (an artifact): the
 * head, then first (len bytes, borrowed like every piece). progress runs
 * as the piece goes out; once it says 0, the source gives the next piece
 * (gw_conn_stream_piece), now or later, or ends the body
 * (gw_conn_stream_end) after exactly content_length bytes. The answer to
 * a HEAD request is the head alone: progress never runs. */
void gw_conn_respond_stream(gw_conn *c, int status, const char *content_type, const char *headers,
                            uint64_t content_length, const char *first, size_t len,
                            gw_conn_progress_cb progress);
void gw_conn_stream_piece(gw_conn *c, const char *data, size_t len);
void gw_conn_stream_end(gw_conn *c);
/* Authorization finished (gw_auth.c): start serving requests. */
void gw_conn_authorized(gw_conn *c);
/* Re-check after a registry change; closes the connection if refused now. */
void gw_conn_recheck(gw_conn *c);
/* Stop waiting for more requests (drain): close now if idle. */
void gw_conn_drain(gw_conn *c);

#endif
