/*
 * http_request.h - reading HTTP/1.1 requests on the device port with
 * llhttp, one request at a time, within limits.
 *
 * The connection feeds whatever plaintext TLS produced; the parser stops
 * (llhttp's pause) at the end of each request, so pipelined bytes stay
 * unconsumed until the response is out. Strict parsing only: no lenient
 * flags, so smuggling tricks (conflicting Content-Length, Content-Length
 * with Transfer-Encoding, bad chunk sizes, obs-fold, bare LF) are errors.
 * No libuv or OpenSSL here, so the fuzzer can drive it alone.
 */
#ifndef VIGIL_HTTP_REQUEST_H
#define VIGIL_HTTP_REQUEST_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_limits {
    size_t max_header_bytes;     /* request line and headers */
    size_t max_headers;
    size_t max_body;
} http_limits;

typedef struct http_request {
    int method;                  /* llhttp_method_t */
    char path[512];
    char content_type[128];
    int has_content_length;
    uint64_t content_length;
    int chunked;
    int keep_alive;
    char *body;                  /* NUL-terminated for convenience; may be NULL */
    size_t body_len;
} http_request;

typedef struct http_parser {
    llhttp_t llh;
    http_limits limits;
    http_request req;
    size_t body_cap;
    size_t path_len;
    size_t header_bytes;         /* counted from the callbacks */
    size_t raw_header_bytes;     /* every byte fed before the headers ended */
    size_t n_headers;
    int in_content_type;         /* the header being read is Content-Type */
    size_t ct_len;
    char field[16];              /* start of the current header name */
    size_t field_len;
    int started, headers_done, done;
    int error;                   /* HTTP status to answer, 0 if none */
    const char *reason;
} http_parser;

void http_parser_init(http_parser *p, const http_limits *limits);
void http_parser_free(http_parser *p);
/* Returns the bytes consumed; then exactly one of: done, error, or neither
 * (needs more input). Bytes after a complete request are not consumed. */
size_t http_parser_feed(http_parser *p, const char *data, size_t len);
int http_parser_done(const http_parser *p);
int http_parser_error(const http_parser *p);
const char *http_parser_reason(const http_parser *p);
/* Ready for the next request on the same connection. */
void http_parser_next(http_parser *p);
/* Some bytes of a request have arrived (a deadline applies). */
int http_parser_in_progress(const http_parser *p);

#endif
