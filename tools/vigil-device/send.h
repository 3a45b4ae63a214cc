/*
 * send.h - delivering the queue: batches of queued reports, each POSTed
 * until the server gives a verdict for every one, with exponential backoff
 * and full jitter between failed attempts and Retry-After honoured, within
 * a time budget.
 */
#ifndef VIGIL_DEVICE_SEND_H
#define VIGIL_DEVICE_SEND_H

#include "tools/vigil-device/client.h"

typedef struct dev_totals {
    size_t stored, duplicate, rejected, queued;
    int identity_error;      /* the server refused our certificate, or TLS identity failed */
} dev_totals;

/* Sends everything queued in dir. max_ms bounds the whole run. */
void dev_send_queue(devc *c, const char *dir, long long max_ms, dev_totals *t);

#endif
