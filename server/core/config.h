/*
 * config.h - vigild's settings. Each one can come from the built-in default,
 * a config file (`name = value` lines), the environment (VIGIL_NAME with
 * dashes as underscores) or a flag (--name value); later sources win in that
 * order. `vigild --help` lists them all from the same table that parses
 * them, so the help can never drift from the code.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct config {
    char *config_file;
    char *database_url;
    char *database_password_file;
    char *ca_dir;
    char *ca_passphrase_file;
    char *device_listen;
    char *api_listen;                /* "" or "off": no operator port */
    char *api_tls_cert, *api_tls_key;
    char *tls_cert;
    char *tls_key;
    char *log_level;
    int64_t api_threads;
    int64_t api_max_connections; /* the operator port's connection budget */
    int64_t api_max_connections_per_address;
    int64_t api_header_timeout_ms;   /* operator port: the whole request, headers and body */
    int64_t workers;                 /* device-port event loops; 0 = one per core */
    int64_t max_connections;         /* per process */
    int64_t max_connections_per_address;
    int64_t handshake_timeout_ms;
    int64_t header_timeout_ms;       /* from the first byte of a request to its end */
    int64_t idle_timeout_ms;         /* keep-alive between requests */
    int64_t max_header_bytes;
    int64_t max_body_bytes;
    int64_t max_batch;               /* reports per request */
    int64_t device_rate;             /* requests per second per device (sustained) */
    int64_t device_burst;
    int64_t flush_max_rows;          /* reports per group commit */
    int64_t security_events_per_second;  /* per process, all kinds together */
    int64_t security_events_per_address; /* per source address per 10 s */
    int64_t drain_timeout_ms;
    int64_t retry_after_s;           /* Retry-After when the database is down */
    int64_t artifact_cache_bytes;    /* artifact chunks shared by downloads; 0 = no cache */
    int64_t log_summary_interval_ms; /* the ingest summary line; 0 = none */
    int64_t database_wait_ms;        /* at start, how long to wait for PostgreSQL */
    /* device_listen and api_listen as config_load resolved them, once
     * (core/addr.h); api_addr is unset when the operator port is off. */
    struct sockaddr_storage device_addr, api_addr;
    socklen_t device_addr_len, api_addr_len;
} config;

/* Fills defaults, then the file, the environment and argv. Returns 0, or
 * 1 when --help/--version was printed (exit 0), or -1 with a message on
 * stderr (exit 2). */
int config_load(config *c, int argc, char **argv);
void config_free(config *c);
/* 1 unless api-listen is "" or "off". */
int config_api_enabled(const config *c);

#endif
