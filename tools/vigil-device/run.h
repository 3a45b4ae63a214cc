/*
 * run.h - `vigil-device run`: the long-running device loop. It sends what
 * is queued, optionally queues a heartbeat report every --report-every,
 * renews its certificate by itself when two thirds of its lifetime have
 * passed (with jitter of ±5% of the lifetime), refreshes its trust anchors
 * before each renewal, checks for a signed update every --update-interval
 * (±20% at random; the first within a fifth of it) when it has pinned
 * release keys (update.h), and backs off on 429/503 (Retry-After) and
 * network failures (capped exponential backoff with full jitter).
 */
#ifndef VIGIL_DEVICE_RUN_H
#define VIGIL_DEVICE_RUN_H

#include "tools/vigil-device/renew.h"
#include "tools/vigil-device/update.h"

/* Exit codes of run (the usage text documents them). */
enum {
    RUN_EXIT_SIGNAL = 0,   /* SIGTERM/SIGINT, nothing left queued */
    RUN_EXIT_REFUSED = 1,  /* a renewal was refused for good */
    RUN_EXIT_IDENTITY = 3, /* the server refused this device's certificate */
    RUN_EXIT_MAXTIME = 5,  /* --max-time ran out, nothing left queued */
    RUN_EXIT_QUEUED = 75,  /* stopped (signal or --max-time) with reports still queued */
};

typedef struct run_opts {
    renew_opts renew; /* server, cert, key, ca, key type, same key */
    const char *queue_dir;
    long long report_every_ms; /* 0: no heartbeat reports */
    long long max_ms;          /* 0: until a signal */
    int json;
    update_opts update;        /* update.keys NULL: no update checks */
    long long update_every_ms; /* 0: the default, 1 h */
} run_opts;

int run_command(const run_opts *o);

#endif
