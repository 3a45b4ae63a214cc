/*
 * gw_worker.h - the device port's event loops: one thread per core, each with
 * its own libuv loop, its own listening socket on the same address
 * (SO_REUSEPORT: the kernel spreads connections), its own connections, its
 * own ingest pipeline and its own database connections (ingest's, the
 * registry's, and one for artifact downloads). Workers share only
 * the registry (registry/reg_view.h), the TLS context (gw_tls.h), the connection
 * tracker (gw_track.h) and the metrics.
 *
 * The main thread talks to a worker only through gw_workers_recheck() and
 * gw_workers_drain(), which post to the worker's uv_async_t.
 */
#ifndef VIGIL_GW_WORKER_H
#define VIGIL_GW_WORKER_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <uv.h>

#include "server/core/config.h"
#include "server/core/pg_async.h"
#include "server/ingest/ingest.h"
#include "server/registry/reg_touch.h"

#define GW_WORKER_READ_BUF 16384

typedef struct gw_conn gw_conn;

typedef struct gw_worker {
    int index;
    const config *cfg;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;
    uv_timer_t drain_timer;

    pthread_mutex_t mu; /* guards the fields up to the blank line */
    char **recheck;     /* device ids whose connections to re-check */
    size_t n_recheck, cap_recheck;
    int recheck_all;
    int drain_requested;

    int listen_fd;
    uv_poll_t listen_poll;
    int listening;
    int draining;
    int ingest_idle;
    int touch_idle;
    gw_conn *conns; /* doubly linked, every open connection */
    size_t n_conns;
    ingest *ing;
    pg_async_conn *registry;  /* registry misses, the devices' last-seen writes, renewals,
                                 update offers and status reports */
    pg_async_conn *artifacts; /* artifact chunk reads (gw_artifact.c) alone */
    void *artifact_reads;     /* gw_artifact.c's chunk reads in flight on it */
    reg_touch *touch;
    char rbuf[GW_WORKER_READ_BUF]; /* shared by all connections: decrypted input */
} gw_worker;

/* 1 when no other process listens on --device-listen; 0 (logged) when one
 * does, before vigild starts. */
int gw_workers_port_free(const config *cfg);
/* Opens the listening sockets and starts the threads. */
int gw_workers_start(const config *cfg, int n, gw_worker **out);
/* Thread-safe. device_id NULL: re-check every connection. */
void gw_workers_recheck(gw_worker *ws, int n, const char *device_id);
/* Thread-safe: stop accepting, finish in-flight requests, flush, exit. */
void gw_workers_drain(gw_worker *ws, int n);
/* Waits for the threads and frees everything. */
void gw_workers_join(gw_worker *ws, int n);

/* Called by the connection code (worker thread only). */
void gw_worker_conn_added(gw_worker *w, gw_conn *c);
void gw_worker_conn_removed(gw_worker *w, gw_conn *c);

#endif
