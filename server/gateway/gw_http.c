/*
 * gw_http.c - bounded, strict HTTP/1.1 request parsing on llhttp (see
 * gw_http.h). Limits are enforced inside the callbacks, so nothing is
 * buffered beyond them: a header flood is refused at the first byte over.
 */
#include "server/gateway/gw_http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int user_error(gw_http_parser *p, int status, const char *reason)
{
    p->error = status;
    p->reason = reason;
    return HPE_USER;
}

static gw_http_parser *from(llhttp_t *l)
{
    return (gw_http_parser *)l->data;
}

static int count_header_bytes(gw_http_parser *p, size_t n)
{
    p->header_bytes += n;
    if (p->header_bytes > p->limits.max_header_bytes)
        return user_error(p, 431, "request line and headers are too large");
    return 0;
}

static int on_message_begin(llhttp_t *l)
{
    from(l)->started = 1;
    return 0;
}

static int on_url(llhttp_t *l, const char *at, size_t n)
{
    gw_http_parser *p = from(l);
    if (p->path_len + n >= sizeof(p->req.path))
        return user_error(p, 414, "the request target is too long");
    memcpy(p->req.path + p->path_len, at, n);
    p->path_len += n;
    p->req.path[p->path_len] = '\0';
    return count_header_bytes(p, n);
}

static int on_header_field(llhttp_t *l, const char *at, size_t n)
{
    gw_http_parser *p = from(l);
    size_t room = sizeof(p->field) - 1 - p->field_len;
    memcpy(p->field + p->field_len, at, n < room ? n : room);
    p->field_len += n < room ? n : room;
    p->field[p->field_len] = '\0';
    return count_header_bytes(p, n + 4);   /* ": " and CRLF */
}

static const char *const kept_names[GW_HDR__COUNT] = {"x-vigil-version", "x-vigil-security-version",
                                                      "range", "if-range"};

/* A header whose name was cut (longer than field holds) matches none of
 * them: a cut name is sizeof(field) - 1 long, longer than every kept one. */
static int kept_header(const char *name)
{
    for (int i = 0; i < GW_HDR__COUNT; i++)
        if (strcasecmp(name, kept_names[i]) == 0)
            return i + 1;
    return 0;
}

static int on_header_field_complete(llhttp_t *l)
{
    gw_http_parser *p = from(l);
    if (++p->n_headers > p->limits.max_headers)
        return user_error(p, 431, "too many header fields");
    p->in_content_type = strcasecmp(p->field, "content-type") == 0;
    if (p->in_content_type && p->req.content_type[0])
        return user_error(p, 400, "more than one Content-Type");
    p->in_host = strcasecmp(p->field, "host") == 0;
    if (p->in_host && ++p->n_host > 1)
        return user_error(p, 400, "more than one Host header");
    if ((p->in_kept = kept_header(p->field)))
        p->req.headers[p->in_kept - 1].lines++;
    p->field_len = 0;
    p->field[0] = '\0';
    return 0;
}

/* uri-host [":" port] (RFC 3986: reg-name, IPv4, or an IP literal in
 * brackets), after llhttp's trailing whitespace: anything else (a space
 * inside, a slash, "@") is refused, so no Host smuggles a path or a
 * second authority. */
static int host_valid(const char *host, size_t n)
{
    while (n > 0 && (host[n - 1] == ' ' || host[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)host[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (ch && strchr("-._~%!$&'()*+,;=:[]", ch))))
            return 0;
    }
    return 1;
}

static void keep_host_bytes(gw_http_parser *p, const char *at, size_t n)
{
    if (p->host_len + n > sizeof(p->host)) {
        p->host_len = sizeof(p->host); /* too long for any host name */
        return;
    }
    memcpy(p->host + p->host_len, at, n);
    p->host_len += n;
}

/* llhttp 8 takes an obs-fold (a header line continued on the next, begun
 * with a space or a tab) and hands the continuation over as more of the
 * value, or as the value itself when the first line had none ("X:\r\n 5").
 * A value piece is folded when the bytes before it, past spaces and tabs,
 * end a line; what was before this feed is last_byte, the last byte of the
 * earlier feeds that was not a space or a tab. Refused as RFC 9112
 * section 5.2 allows. */
static int is_obs_fold(const gw_http_parser *p, const char *at)
{
    const char *k = at;
    while (k > p->feed_start && (k[-1] == ' ' || k[-1] == '\t'))
        k--;
    return (k > p->feed_start ? k[-1] : p->last_byte) == '\n';
}

static int on_header_value(llhttp_t *l, const char *at, size_t n)
{
    gw_http_parser *p = from(l);
    if (n > 0 && is_obs_fold(p, at))
        return user_error(p, 400, "a header line continued on the next (obs-fold)");
    if (p->in_content_type) {
        if (p->ct_len + n >= sizeof(p->req.content_type))
            return user_error(p, 400, "Content-Type is too long");
        memcpy(p->req.content_type + p->ct_len, at, n);
        p->ct_len += n;
        p->req.content_type[p->ct_len] = '\0';
    }
    if (p->in_host)
        keep_host_bytes(p, at, n);
    if (p->in_kept) {
        gw_http_header *h = &p->req.headers[p->in_kept - 1];
        if (h->len + n > GW_HTTP_HEADER_VALUE_MAX) {
            h->too_long = 1;
        } else {
            memcpy(h->value + h->len, at, n);
            h->len += n;
            h->value[h->len] = '\0';
        }
    }
    return count_header_bytes(p, n);
}

/* llhttp hands a value over with the spaces before the line's end. */
static void trim_kept(gw_http_parser *p)
{
    for (int i = 0; i < GW_HDR__COUNT; i++) {
        gw_http_header *h = &p->req.headers[i];
        while (h->len > 0 && (h->value[h->len - 1] == ' ' || h->value[h->len - 1] == '\t'))
            h->value[--h->len] = '\0';
    }
}

static int on_headers_complete(llhttp_t *l)
{
    gw_http_parser *p = from(l);
    p->headers_done = 1;
    trim_kept(p);
    if (l->http_major != 1)
        return user_error(p, 400, "only HTTP/1.1 is spoken here");
    if (l->upgrade || l->method == HTTP_CONNECT)
        return user_error(p, 400, "protocol upgrades and CONNECT are not supported");
    if (l->http_minor >= 1 && p->n_host == 0)
        return user_error(p, 400, "an HTTP/1.1 request needs a Host header");
    if (p->n_host && (p->host_len == sizeof(p->host) || !host_valid(p->host, p->host_len)))
        return user_error(p, 400, "the Host header is not a valid host[:port]");
    p->req.method = l->method;
    p->req.has_content_length = (l->flags & F_CONTENT_LENGTH) != 0;
    p->req.chunked = (l->flags & F_CHUNKED) != 0;
    p->req.content_length = l->content_length;
    if (p->req.has_content_length && l->content_length > p->limits.max_body)
        return user_error(p, 413, "the body is larger than the server accepts");
    return 0;
}

static int on_body(llhttp_t *l, const char *at, size_t n)
{
    gw_http_parser *p = from(l);
    if (p->req.body_len + n > p->limits.max_body)
        return user_error(p, 413, "the body is larger than the server accepts");
    if (p->req.body_len + n + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 4096;
        if (p->req.has_content_length && p->req.content_length + 1 > cap)
            cap = (size_t)p->req.content_length + 1;
        while (cap < p->req.body_len + n + 1)
            cap *= 2;
        char *grown = realloc(p->req.body, cap);
        if (!grown)
            return user_error(p, 503, "out of memory");
        p->req.body = grown;
        p->body_cap = cap;
    }
    memcpy(p->req.body + p->req.body_len, at, n);
    p->req.body_len += n;
    p->req.body[p->req.body_len] = '\0';
    return 0;
}

static int on_chunk_header(llhttp_t *l)
{
    gw_http_parser *p = from(l);
    if (l->content_length > p->limits.max_body - p->req.body_len)
        return user_error(p, 413, "the body is larger than the server accepts");
    return 0;
}

static int on_message_complete(llhttp_t *l)
{
    gw_http_parser *p = from(l);
    p->done = 1;
    p->req.keep_alive = llhttp_should_keep_alive(l);
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

void gw_http_parser_init(gw_http_parser *p, const gw_http_limits *limits)
{
    memset(p, 0, sizeof(*p));
    p->limits = *limits;
    llhttp_init(&p->llh, HTTP_REQUEST, &settings);
    p->llh.data = p;
}

void gw_http_parser_free(gw_http_parser *p)
{
    free(p->req.body);
    p->req.body = NULL;
    p->body_cap = 0;
}

static int status_for(llhttp_errno_t e)
{
    (void)e;
    return 400;   /* malformed, whatever llhttp's reason: a client error */
}

size_t gw_http_parser_feed(gw_http_parser *p, const char *data, size_t len)
{
    if (p->done || p->error)
        return 0;
    p->feed_start = data;
    llhttp_errno_t e = llhttp_execute(&p->llh, data, len);
    size_t used = len;
    if (e == HPE_PAUSED) {
        used = (size_t)(llhttp_get_error_pos(&p->llh) - data);
    } else if (p->error) {
        /* a callback refused the request and said why */
    } else if (e != HPE_OK) {
        p->error = status_for(e);
        p->reason = llhttp_get_error_reason(&p->llh);
        if (!p->reason)
            p->reason = "malformed request";
    }
    for (size_t i = used; i > 0; i--) {
        if (data[i - 1] != ' ' && data[i - 1] != '\t') {
            p->last_byte = data[i - 1];
            break;
        }
    }
    if (!p->headers_done && !p->error) {
        /* Bytes llhttp skips without a callback (whitespace) count too. */
        p->raw_header_bytes += used;
        if (p->raw_header_bytes > 2 * p->limits.max_header_bytes)
            user_error(p, 431, "request line and headers are too large");
    }
    return used;
}

int gw_http_parser_done(const gw_http_parser *p)
{
    return p->done && !p->error;
}

int gw_http_parser_error(const gw_http_parser *p)
{
    return p->error;
}

const char *gw_http_parser_reason(const gw_http_parser *p)
{
    return p->reason ? p->reason : "";
}

void gw_http_parser_next(gw_http_parser *p)
{
    gw_http_limits limits = p->limits;
    char *body = p->req.body;
    size_t cap = p->body_cap;
    llhttp_t llh = p->llh;
    int resume = p->done;
    memset(p, 0, sizeof(*p));
    p->limits = limits;
    p->llh = llh;
    p->llh.data = p;
    p->req.body = body;      /* keep the buffer for the next request */
    p->body_cap = cap;
    if (resume)
        llhttp_resume(&p->llh);
}

int gw_http_parser_in_progress(const gw_http_parser *p)
{
    return p->started && !p->done;
}

int gw_http_header_get(const gw_http_request *req, gw_http_header_id id, const char **value)
{
    const gw_http_header *h = &req->headers[id];
    if (h->lines == 0)
        return 0;
    if (h->lines > 1 || h->too_long)
        return -1;
    *value = h->value;
    return 1;
}

size_t gw_http_path_len(const gw_http_request *req)
{
    return strcspn(req->path, "?");
}

const char *gw_http_query(const gw_http_request *req)
{
    const char *q = strchr(req->path, '?');
    return q ? q + 1 : "";
}

/* ---- status words and error codes ---- */

const char *gw_http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

const char *gw_http_error_code(int status)
{
    switch (status) {
    case 408:
        return "timeout";
    case 413:
        return "payload_too_large";
    case 414:
        return "uri_too_long";
    case 415:
        return "unsupported_media_type";
    case 431:
        return "headers_too_large";
    case 501:
        return "not_implemented";
    case 503:
        return "unavailable";
    case 505:
        return "http_version_not_supported";
    default:
        return "bad_request";
    }
}

int gw_http_media_type_is(const char *content_type, const char *type)
{
    size_t n = strlen(type);
    return strncasecmp(content_type, type, n) == 0 &&
           (content_type[n] == '\0' || content_type[n] == ';' || content_type[n] == ' ');
}
