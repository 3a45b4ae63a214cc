/*
 * api_guard.h - the operator port's connection guard: a connection budget
 * that a few addresses cannot exhaust, and a deadline for every request.
 *
 * libmicrohttpd's own timeout counts only silence, so a request trickled
 * a byte a second holds its connection forever, and its per-address limit
 * lets four addresses take every connection. The guard keeps a table of
 * the open connections (libmicrohttpd's connection notifications), where
 * each request stands (waiting for its first line, arriving, or with a
 * handler) and since when, and closes connections itself by shutting their
 * socket down, which libmicrohttpd then sees and finishes:
 *
 *  - a request that has not wholly arrived --api-header-timeout after its
 *    connection became ready for it (accepted, or the previous answer
 *    sent) is cut by a watchdog thread: 408 in the error shape when it can
 *    be written (plain HTTP; a request had begun), then the close;
 *  - a connection from an address that already has
 *    --api-max-connections-per-address is closed at once;
 *  - when --api-max-connections are open, a new connection closes one that
 *    has not finished its request: from the address with the most
 *    connections, the oldest. A connection whose request is with a handler
 *    or whose answer is being sent is never chosen. So the attacker's own
 *    slow connections make room for everyone else's.
 */
#ifndef VIGIL_API_GUARD_H
#define VIGIL_API_GUARD_H

#include <microhttpd.h>
#include <stdint.h>

#include "server/api/api_limits.h"

typedef struct api_guard api_guard;

typedef struct api_guard_conf {
    int budget;          /* --api-max-connections */
    int per_address;     /* --api-max-connections-per-address */
    int64_t deadline_ms; /* --api-header-timeout */
    int tls;             /* 1: nothing can be written beside the TLS stream */
} api_guard_conf;

/* Starts the watchdog thread. NULL when out of memory or threads. */
api_guard *api_guard_new(const api_guard_conf *conf);
/* Stops the watchdog; after MHD_stop_daemon (which reports every close). */
void api_guard_free(api_guard *g);
/* The connection limit to give libmicrohttpd: the budget and room for
 * connections the guard has closed that libmicrohttpd has not yet
 * finished, so that libmicrohttpd never refuses one the guard would take. */
unsigned api_guard_mhd_limit(const api_guard_conf *conf);

/* MHD_OPTION_NOTIFY_CONNECTION with the guard as its cls: admits, refuses
 * or makes room on STARTED, forgets on CLOSED. */
void api_guard_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* The request line of mc's next request has arrived; refused: NULL, or
 * why it is to be refused once its headers are in (kept in mc's slot,
 * which libmicrohttpd's CLOSED notification always frees, so nothing
 * leaks on the paths where it never calls the request's completion). */
void api_guard_request_line(api_guard *g, struct MHD_Connection *mc,
                            const api_limits_refusal *refused);
/* 1 and *why when mc's request was refused at its request line. */
int api_guard_refusal(api_guard *g, struct MHD_Connection *mc, api_limits_refusal *why);
/* The whole request has arrived and is about to be answered: from now on
 * the deadline no longer applies. -1 when the guard has already closed the
 * connection (the request must not be answered). */
int api_guard_dispatch(api_guard *g, struct MHD_Connection *mc);
/* mc's request is over (its answer sent, or it failed): the connection is
 * ready for the next one, and the deadline runs again. */
void api_guard_request_done(api_guard *g, struct MHD_Connection *mc);

/* ---- the decisions, without I/O (unit tests) ---- */

typedef enum api_guard_phase {
    GUARD_WAITING = 0, /* for the first line of a request */
    GUARD_RECEIVING,   /* the request line came; headers or body still arriving */
    GUARD_BUSY,        /* with a handler, or its answer being sent */
} api_guard_phase;

typedef struct api_guard_conn {
    unsigned char addr[16]; /* the client's IP address; IPv4 as IPv4-mapped IPv6 */
    int64_t since_ms;       /* when it became ready for its current request */
    api_guard_phase phase;
    unsigned served; /* requests answered on it */
    int cut;         /* refused, evicted or timed out: closing */
    int refused;     /* the current request was refused at its line: */
    api_limits_refusal refusal;
    int fd, in_use;
} api_guard_conn;

typedef enum api_guard_verdict {
    GUARD_ADMIT = 0,
    GUARD_EVICT,          /* admit, and close *victim to make room */
    GUARD_REFUSE_ADDRESS, /* its address has per_address connections already */
    GUARD_REFUSE_FULL,    /* the budget is full and every connection is being answered */
} api_guard_verdict;

/* What to do with a new connection from addr, given the n connections
 * already open and not cut (live; reordered). */
api_guard_verdict api_guard_decide(api_guard_conn **live, int n, const unsigned char addr[16],
                                   int budget, int per_address, api_guard_conn **victim);

typedef enum api_guard_cut { GUARD_KEEP = 0, GUARD_CUT_SILENT, GUARD_CUT_408 } api_guard_cut;

/* Whether c is past the deadline at now_ms, and whether a 408 is owed: a
 * request had begun (its line came, or it is the connection's first),
 * rather than a kept-alive connection waiting idle for its next one. */
api_guard_cut api_guard_expired(const api_guard_conn *c, int64_t now_ms, int64_t deadline_ms);

#endif
