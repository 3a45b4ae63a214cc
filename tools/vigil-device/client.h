/*
 * client.h - vigil-device's connection to the device port: blocking
 * sockets with deadlines (a stub has one connection and nothing else to
 * do), OpenSSL with the server verified against the fleet CA and by name,
 * HTTP/1.1 keep-alive, and small bounded response parsing (any content
 * type; bodies up to DEVC_MAX_BODY).
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
} devc;

#define DEVC_MAX_BODY (1024 * 1024)

typedef struct devc_response {
    int status;
    char content_type[128]; /* as sent, "" when absent */
    int retry_after;       /* seconds, -1 when absent */
    int close;             /* the server will close the connection */
    char *body;            /* NUL-terminated, malloc'd */
    size_t body_len;
} devc_response;

typedef enum devc_result {
    DEVC_OK = 0,
    DEVC_RETRY,            /* network trouble: try again later */
    DEVC_IDENTITY,         /* our key/certificate or the server's identity is wrong */
} devc_result;

/* server is HOST:PORT. Loads the key pair and the CA; DEVC_IDENTITY on failure. */
devc_result devc_init(devc *c, const char *server, const char *cert, const char *key,
                      const char *ca, char *err, size_t errlen);
/* Sends one request (connecting first if needed) and reads the answer.
 * method "GET" sends no body (content_type and body may be NULL). */
devc_result devc_request(devc *c, const char *method, const char *path, const char *content_type,
                         const char *body, size_t body_len, devc_response *resp, char *err,
                         size_t errlen);
/* devc_request of a JSON body. */
devc_result devc_post(devc *c, const char *path, const char *body, devc_response *resp,
                      char *err, size_t errlen);
void devc_response_free(devc_response *r);
void devc_disconnect(devc *c);
void devc_free(devc *c);

#endif
