/*
 * download.h - an artifact downloaded from GET /v1/artifacts/{sha256} to
 * a partial file on disk, resumable: a later try asks only for the bytes
 * it lacks (Range from the part's size, If-Range with the ETag the first
 * answer gave) and starts again from zero when the server answers the
 * whole body (200: the artifact changed, or the server ignores Range).
 * The body is streamed in bounded memory (one 64 KiB buffer) and hashed
 * as it is written; the bytes already on disk are hashed again at the
 * start of a resumed try, so the digest checked is that of the whole file.
 *
 * Test hook: VIGIL_DEVICE_CUT_AFTER=N drops the connection after N bytes
 * received by this process (a link cut mid-download), then crash point
 * "download-cut" (VIGIL_DEVICE_CRASH_AT, util.h) is passed.
 */
#ifndef VIGIL_DEVICE_DOWNLOAD_H
#define VIGIL_DEVICE_DOWNLOAD_H

#include "protocol/manifest.h"
#include "tools/vigil-device/client.h"

typedef enum download_status {
    DOWNLOAD_OK = 0,
    DOWNLOAD_RETRY,      /* network, 429, 5xx, a dropped link: the part is kept */
    DOWNLOAD_REFUSED,    /* another 4xx (code says which) */
    DOWNLOAD_IDENTITY,   /* our certificate is refused, or the server's is not trusted */
    DOWNLOAD_BAD_ANSWER, /* an answer that does not fit the request (Range, lengths) */
    DOWNLOAD_SIZE,       /* the artifact's size is not the manifest's (part dropped) */
    DOWNLOAD_DIGEST,     /* its SHA-256 is not the manifest's (part dropped) */
    DOWNLOAD_LOCAL,      /* the part cannot be written */
} download_status;

typedef struct download_result {
    download_status status;
    int http;               /* the last HTTP status, 0 when none */
    int retry_after;        /* seconds, -1 when unknown */
    long long resumed_from; /* bytes kept from an earlier try (0: from the start) */
    long long fetched;      /* bytes received by this try */
    int restarted;          /* a resume was answered with the whole body */
    char code[64], why[512];
} download_result;

/* Downloads m's artifact into the file part (part.json beside it records
 * which artifact and ETag the bytes belong to). On DOWNLOAD_OK part holds
 * exactly m->size bytes whose SHA-256 is m->sha256, synced to disk. */
download_status download_artifact(devc *c, const manifest *m, const char *part, download_result *r);
/* Removes part and its record. */
void download_discard(const char *part);

#endif
