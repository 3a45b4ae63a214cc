/*
 * gw_http.h - reading HTTP/1.1 requests on the device port with llhttp,
 * one request at a time, within limits; and the status words and error
 * codes the port answers with.
 *
 * The connection feeds whatever plaintext TLS produced; the parser stops
 * (llhttp's pause) at the end of each request, so pipelined bytes stay
 * unconsumed until the response is out. Strict parsing only: no lenient
 * flags, so smuggling tricks (conflicting Content-Length, Content-Length
 * with Transfer-Encoding, bad chunk sizes, obs-fold, bare LF) are errors,
 * and so are an HTTP/1.1 request without exactly one valid Host (RFC 9112
 * section 3.2).
 * No libuv or OpenSSL here, so the fuzzer and the unit tests drive it
 * alone (nginx's ngx_http_parse.c beside ngx_http_request.c: the parser
 * here, the I/O in gw_conn.c).
 */
#ifndef VIGIL_GW_HTTP_H
#define VIGIL_GW_HTTP_H

#include <llhttp.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_http_limits {
    size_t max_header_bytes;     /* request line and headers */
    size_t max_headers;
    size_t max_body;
} gw_http_limits;

/* Request headers kept for the paths that read them (the update paths):
 * every other header is only counted. */
typedef enum gw_http_header_id {
    GW_HDR_VIGIL_VERSION = 0,      /* X-Vigil-Version */
    GW_HDR_VIGIL_SECURITY_VERSION, /* X-Vigil-Security-Version */
    GW_HDR_RANGE,                  /* Range */
    GW_HDR_IF_RANGE,               /* If-Range */
    GW_HDR__COUNT
} gw_http_header_id;

#define GW_HTTP_HEADER_VALUE_MAX 127

typedef struct gw_http_header {
    char value[GW_HTTP_HEADER_VALUE_MAX + 1];
    size_t len;
    int lines; /* header lines of this name */
    int too_long;
} gw_http_header;

typedef struct gw_http_request {
    int method;                  /* llhttp_method_t */
    char path[512];
    char content_type[128];
    int has_content_length;
    uint64_t content_length;
    int chunked;
    int keep_alive;
    char *body;                  /* NUL-terminated for convenience; may be NULL */
    size_t body_len;
    gw_http_header headers[GW_HDR__COUNT];
} gw_http_request;

typedef struct gw_http_parser {
    llhttp_t llh;
    gw_http_limits limits;
    gw_http_request req;
    size_t body_cap;
    size_t path_len;
    size_t header_bytes;         /* counted from the callbacks */
    size_t raw_header_bytes;     /* every byte fed before the headers ended */
    size_t n_headers;
    int in_content_type;         /* the header being read is Content-Type */
    size_t ct_len;
    int in_host;                 /* the header being read is Host */
    int in_kept;                 /* the header being read is kept: its gw_http_header_id + 1 */
    int n_host;                  /* Host header lines seen */
    char host[256];              /* its value, checked when the headers end */
    const char *feed_start;      /* the buffer of the feed in progress */
    char last_byte;              /* of the earlier feeds, the last not a space or tab */
    size_t host_len;             /* sizeof(host) when it was longer */
    char field[32];              /* start of the current header name */
    size_t field_len;
    int started, headers_done, done;
    int error;                   /* HTTP status to answer, 0 if none */
    const char *reason;
} gw_http_parser;

void gw_http_parser_init(gw_http_parser *p, const gw_http_limits *limits);
void gw_http_parser_free(gw_http_parser *p);
/* Returns the bytes consumed; then exactly one of: done, error, or neither
 * (needs more input). Bytes after a complete request are not consumed. */
size_t gw_http_parser_feed(gw_http_parser *p, const char *data, size_t len);
int gw_http_parser_done(const gw_http_parser *p);
int gw_http_parser_error(const gw_http_parser *p);
const char *gw_http_parser_reason(const gw_http_parser *p);
/* Ready for the next request on the same connection. */
void gw_http_parser_next(gw_http_parser *p);
/* Some bytes of a request have arrived (a deadline applies). */
int gw_http_parser_in_progress(const gw_http_parser *p);

/* A kept header of a request: 1 and *value (NUL-terminated, trailing
 * spaces and tabs cut) when it came once, 0 when it did not come, -1 when
 * it came more than once or longer than GW_HTTP_HEADER_VALUE_MAX. */
int gw_http_header_get(const gw_http_request *req, gw_http_header_id id, const char **value);

/* The path of a request target without its query ("/v1/update" of
 * "/v1/update?version=1"): its length. */
size_t gw_http_path_len(const gw_http_request *req);
/* The query of a request target (after '?'), or "" when it has none. */
const char *gw_http_query(const gw_http_request *req);

/* The reason phrase of an HTTP status this port answers with ("Not
 * Found"); "Error" for any other. */
const char *gw_http_status_text(int status);
/* The error code (protocol/errors.h) for a status the parser refused a
 * request with ("payload_too_large" for 413); "bad_request" otherwise. */
const char *gw_http_error_code(int status);

/* 1 if a Content-Type value is the media type `type` (case-insensitive),
 * with or without parameters ("application/json; charset=utf-8"). */
int gw_http_media_type_is(const char *content_type, const char *type);

#endif
