/*
 * client.h - vigil-device's connection to the device port: blocking
 * sockets with deadlines (a stub has one connection and nothing else to
 * do), OpenSSL with the server verified against the fleet CA and by name,
 * HTTP/1.1 keep-alive, and small bounded response parsing (any content
 * type; bodies up to DEVC_MAX_BODY), or a body streamed in pieces of the
 * caller's size (an artifact: devc_stream_open, devc_stream_read).
 */
#ifndef VIGIL_DEVICE_CLIENT_H
#define VIGIL_DEVICE_CLIENT_H

#include <openssl/ssl.h>
#include <stddef.h>

typedef struct devc {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    char host[256];
    char port[16];
    /* a streamed body: what came with the header section, and what is left */
    char *pend;
    size_t pend_len, pend_off;
    long long body_left;
    long long deadline_ms; /* monotonic: the answer's head (and a whole small body) by then */
} devc;

#define DEVC_MAX_BODY (1024 * 1024)
/* An answer's status line and headers, and a body read whole, must have
 * come within this long of the request: a server that sends a byte now
 * and then cannot hold the device (and its reports and renewals) for
 * ever. A streamed body only has to keep coming (15 s per read). */
#define DEVC_ANSWER_S 30

typedef struct devc_response {
    int status;
    char content_type[128]; /* as sent, "" when absent */
    int retry_after;       /* seconds, -1 when absent */
    int close;             /* the server will close the connection */
    long long length;      /* Content-Length, -1 when absent */
    char *head;            /* the header section, NUL-terminated, malloc'd */
    char *body;            /* NUL-terminated, malloc'd (NULL when streamed) */
    size_t body_len;
} devc_response;

typedef enum devc_result {
    DEVC_OK = 0,
    DEVC_RETRY,            /* network trouble: try again later */
    DEVC_IDENTITY,         /* our key/certificate or the server's identity is wrong */
} devc_result;

/* Splits HOST:PORT ([V6]:PORT) into host and port; 0, or -1 when server
 * is not of that form or does not fit. */
int devc_parse_server(const char *server, char *host, size_t hostlen, char *port, size_t portlen);
/* server is HOST:PORT. Loads the key pair and the CA; DEVC_IDENTITY on failure. */
devc_result devc_init(devc *c, const char *server, const char *cert, const char *key,
                      const char *ca, char *err, size_t errlen);
/* Sends one request (connecting first if needed) and reads the answer.
 * method "GET" sends no body (content_type and body may be NULL). */
devc_result devc_request(devc *c, const char *method, const char *path, const char *content_type,
                         const char *body, size_t body_len, devc_response *resp, char *err,
                         size_t errlen);
/* devc_request with extra header lines (each "Name: value\r\n"; NULL for none). */
devc_result devc_request_ex(devc *c, const char *method, const char *path, const char *extra,
                            const char *content_type, const char *body, size_t body_len,
                            devc_response *resp, char *err, size_t errlen);
/* A GET whose body is left unread: read it with devc_stream_read (the
 * answer's body and body_len stay NULL and 0). */
devc_result devc_stream_open(devc *c, const char *path, const char *extra, devc_response *resp,
                             char *err, size_t errlen);
/* Up to cap bytes of the streamed body: the count, 0 at its end, -1 if
 * the connection broke (it is then closed). */
long devc_stream_read(devc *c, char *buf, size_t cap);
/* Ends a stream: the connection is kept only if the body was read whole. */
void devc_stream_close(devc *c, const devc_response *resp);
/* Parses the head of an answer: the first hlen bytes of buf, up to and
 * including the blank line (what follows, the body's first bytes, is not
 * looked at). Fills r (r->head malloc'd even on failure: devc_response_free). */
devc_result devc_parse_head(const char *buf, size_t hlen, devc_response *r, char *err,
                            size_t errlen);
/* The value of header name in an answer (trimmed, cut to fit), or NULL. */
const char *devc_header(const devc_response *r, const char *name, char *out, size_t outlen);
/* The error of an answer in the JSON shape of protocol/errors.h: code
 * gets its "error" ("http_STATUS" when there is none), reason its
 * "reason" ("no reason given"). */
void devc_error_of(const devc_response *r, char *code, size_t codelen, char *reason,
                   size_t reasonlen);
/* devc_request of a JSON body. */
devc_result devc_post(devc *c, const char *path, const char *body, devc_response *resp,
                      char *err, size_t errlen);
void devc_response_free(devc_response *r);
void devc_disconnect(devc *c);
void devc_free(devc *c);

#endif
