/*
 * download.c - resumable artifact download (see download.h).
 */
#include "tools/vigil-device/download.h"

#include "protocol/hex.h"
#include "tools/vigil-device/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)
#define META_MAX 1024
#define ERROR_BODY_MAX 4096

typedef struct dl {
    devc *c;
    const manifest *m;
    const char *part;
    char meta[PATH_MAX];
    int fd;
    EVP_MD_CTX *md;
    long long have;      /* bytes in the part, all hashed into md */
    long long cut_after; /* the test hook, -1 when off */
    char etag[128];
    download_result *r;
} dl;

static download_status set(download_result *r, download_status st, const char *code,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static download_status set(download_result *r, download_status st, const char *code,
                           const char *fmt, ...)
{
    va_list ap;
    r->status = st;
    snprintf(r->code, sizeof(r->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
    return st;
}

void download_discard(const char *part)
{
    char meta[PATH_MAX];
    snprintf(meta, sizeof(meta), "%s.json", part);
    unlink(part);
    unlink(meta);
    devu_fsync_dir_of(part, 0);
}

/* The ETag recorded for the part, when the record names m's artifact. */
static int meta_load(dl *d)
{
    size_t len = 0;
    char *text = devu_read_file(d->meta, META_MAX, &len);
    json_t *j = text ? json_loadb(text, len, 0, NULL) : NULL;
    const char *sha = json_string_value(json_object_get(j, "sha256"));
    const char *etag = json_string_value(json_object_get(j, "etag"));
    int ok = sha && etag && etag[0] && strcmp(sha, d->m->sha256) == 0 &&
             strlen(etag) < sizeof(d->etag) && !strpbrk(etag, "\r\n");
    if (ok)
        snprintf(d->etag, sizeof(d->etag), "%s", etag);
    free(text);
    json_decref(j);
    return ok ? 0 : -1;
}

static int meta_save(dl *d, const char *etag)
{
    json_t *j = json_pack("{s:s,s:s}", "sha256", d->m->sha256, "etag", etag);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int rc = text ? devu_write_atomic(d->meta, text, strlen(text), 0600) : -1;
    snprintf(d->etag, sizeof(d->etag), "%s", etag);
    free(text);
    json_decref(j);
    return rc;
}

/* Empties the part and the hash: the next try starts at byte 0. */
static int reset(dl *d)
{
    d->have = 0;
    d->etag[0] = '\0';
    return ftruncate(d->fd, 0) == 0 && EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

/* Hashes the bytes already in the part (a resumed download). */
static int rehash(dl *d)
{
    char *buf = malloc(BUF_SIZE);
    long long at = 0;
    while (buf && at < d->have) {
        ssize_t n = pread(d->fd, buf, BUF_SIZE, (off_t)at);
        if (n <= 0 || EVP_DigestUpdate(d->md, buf, (size_t)n) != 1)
            break;
        at += n;
    }
    free(buf);
    return at == d->have ? 0 : -1;
}

/* The server's refusal: its JSON error code, read from a small body. */
static download_status refused(dl *d, devc_response *resp)
{
    char body[ERROR_BODY_MAX + 1], code[64], reason[400];
    size_t n = 0;
    long got;
    if (resp->length >= 0 && resp->length <= ERROR_BODY_MAX)
        while (n < ERROR_BODY_MAX &&
               (got = devc_stream_read(d->c, body + n, ERROR_BODY_MAX - n)) > 0)
            n += (size_t)got;
    body[n] = '\0';
    devc_stream_close(d->c, resp);
    resp->body = body;
    devc_error_of(resp, code, sizeof(code), reason, sizeof(reason));
    resp->body = NULL;
    download_status st =
        resp->status == 429 || resp->status >= 500 ? DOWNLOAD_RETRY : DOWNLOAD_REFUSED;
    d->r->retry_after = resp->retry_after;
    return set(d->r, st, code, "GET %s: HTTP %d: %s", d->m->path, resp->status, reason);
}

/* "bytes A-B/T" (206) or "bytes *\/T" (416); fields not given stay -1. */
static int content_range(const devc_response *resp, long long *a, long long *b, long long *t)
{
    char v[128];
    *a = *b = *t = -1;
    if (!devc_header(resp, "Content-Range", v, sizeof(v)))
        return -1;
    if (sscanf(v, "bytes */%lld", t) == 1)
        return 0;
    return sscanf(v, "bytes %lld-%lld/%lld", a, b, t) == 3 ? 0 : -1;
}

/* Sorts the answer's status line and headers: 0 stream its body into the
 * part, 1 ask again from byte 0, -1 stop (r says why). */
static int head(dl *d, devc_response *resp)
{
    long long a, b, t, size = d->m->size;
    char etag[128];
    if (resp->status == 200) {
        if (resp->length != size) {
            devc_stream_close(d->c, resp);
            set(d->r, DOWNLOAD_SIZE, "size_mismatch",
                "the server sends %lld bytes; the manifest says %lld", resp->length, size);
            return -1;
        }
        if (d->have > 0)
            d->r->restarted = 1;
        d->r->resumed_from = 0;
        if (reset(d) < 0 ||
            meta_save(d, devc_header(resp, "ETag", etag, sizeof(etag)) ? etag : "") < 0) {
            devc_stream_close(d->c, resp);
            set(d->r, DOWNLOAD_LOCAL, "local", "cannot write %s: %s", d->part, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (resp->status == 206 || resp->status == 416) {
        int bad = content_range(resp, &a, &b, &t) < 0;
        if (!bad && t != size) {
            devc_stream_close(d->c, resp);
            set(d->r, DOWNLOAD_SIZE, "size_mismatch",
                "the server's artifact has %lld bytes; the manifest says %lld", t, size);
            return -1;
        }
        if (resp->status == 416 && !bad) {
            devc_stream_close(d->c, resp); /* our part is not a prefix of it: start over */
            return reset(d) < 0
                       ? (set(d->r, DOWNLOAD_LOCAL, "local", "cannot truncate %s", d->part), -1)
                       : 1;
        }
        if (bad || a != d->have || b != size - 1 || resp->length != b - a + 1) {
            devc_stream_close(d->c, resp);
            set(d->r, DOWNLOAD_BAD_ANSWER, "bad_answer",
                "HTTP %d does not answer Range: bytes=%lld- for %lld bytes", resp->status, d->have,
                size);
            return -1;
        }
        return 0;
    }
    refused(d, resp);
    return -1;
}

/* Appends the body to the part, hashing it. */
static download_status body(dl *d, const devc_response *resp)
{
    char *buf = malloc(BUF_SIZE);
    long n = 0;
    if (!buf || lseek(d->fd, (off_t)d->have, SEEK_SET) < 0) {
        free(buf);
        devc_stream_close(d->c, resp);
        return set(d->r, DOWNLOAD_LOCAL, "local", "cannot write %s", d->part);
    }
    while ((n = devc_stream_read(d->c, buf, BUF_SIZE)) > 0) {
        if (d->cut_after >= 0 && d->r->fetched + n > d->cut_after)
            n = (long)(d->cut_after - d->r->fetched);
        if (devu_write_all(d->fd, buf, (size_t)n) < 0 ||
            EVP_DigestUpdate(d->md, buf, (size_t)n) != 1) {
            n = -2;
            break;
        }
        d->have += n;
        d->r->fetched += n;
        if (d->cut_after >= 0 && d->r->fetched >= d->cut_after) {
            devc_disconnect(d->c);
            fsync(d->fd);
            devu_crash_point("download-cut");
            n = -1;
            break;
        }
    }
    free(buf);
    devc_stream_close(d->c, resp);
    if (n == -2)
        return set(d->r, DOWNLOAD_LOCAL, "local", "cannot write %s: %s", d->part, strerror(errno));
    if (n < 0) {
        fsync(d->fd); /* what arrived is kept for the next try */
        return set(d->r, DOWNLOAD_RETRY, "network",
                   "the download broke off at byte %lld of %lld (kept in %s)", d->have,
                   (long long)d->m->size, d->part);
    }
    return DOWNLOAD_OK;
}

/* One request for what the part lacks: 0 done, 1 ask again from 0, -1 stop. */
static int one_try(dl *d)
{
    char extra[256] = "", err[512] = "";
    devc_response resp;
    if (d->have > 0)
        snprintf(extra, sizeof(extra), "Range: bytes=%lld-\r\nIf-Range: %s\r\n", d->have, d->etag);
    devc_result cr =
        devc_stream_open(d->c, d->m->path, d->have > 0 ? extra : NULL, &resp, err, sizeof(err));
    if (cr != DEVC_OK) {
        set(d->r, cr == DEVC_IDENTITY ? DOWNLOAD_IDENTITY : DOWNLOAD_RETRY,
            cr == DEVC_IDENTITY ? "tls" : "network", "%s", err);
        return -1;
    }
    d->r->http = resp.status;
    int next = head(d, &resp);
    if (next == 0 && body(d, &resp) != DOWNLOAD_OK)
        next = -1;
    devc_response_free(&resp);
    return next;
}

/* The size and digest of the finished part. */
static download_status check(dl *d)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (d->have != d->m->size)
        return set(d->r, DOWNLOAD_SIZE, "size_mismatch",
                   "received %lld bytes; the manifest says %lld", d->have, (long long)d->m->size);
    if (fsync(d->fd) < 0 || EVP_DigestFinal_ex(d->md, md, &mdlen) != 1)
        return set(d->r, DOWNLOAD_LOCAL, "local", "cannot sync %s", d->part);
    hex_encode(md, mdlen, hex);
    if (strcmp(hex, d->m->sha256) != 0)
        return set(d->r, DOWNLOAD_DIGEST, "digest_mismatch",
                   "the artifact's SHA-256 is %s; the manifest says %s", hex, d->m->sha256);
    return set(d->r, DOWNLOAD_OK, "ok", "%lld bytes, SHA-256 %s", d->have, hex);
}

static download_status run_tries(dl *d)
{
    struct stat st;
    if (fstat(d->fd, &st) < 0)
        return set(d->r, DOWNLOAD_LOCAL, "local", "cannot read %s", d->part);
    d->have = st.st_size;
    /* bytes of another artifact, or of no known ETag, or unreadable: from 0 */
    if ((d->have > d->m->size || (d->have > 0 && meta_load(d) < 0) || rehash(d) < 0) &&
        reset(d) < 0)
        return set(d->r, DOWNLOAD_LOCAL, "local", "cannot truncate %s", d->part);
    d->r->resumed_from = d->have;
    if (d->have > 0)
        fprintf(stderr, "vigil-device: resuming the download at byte %lld of %lld\n", d->have,
                (long long)d->m->size);
    for (int attempt = 0; attempt < 2 && d->have < d->m->size; attempt++) {
        int next = one_try(d);
        if (next < 0)
            return d->r->status;
        if (next == 0)
            break;
    }
    return check(d);
}

download_status download_artifact(devc *c, const manifest *m, const char *part, download_result *r)
{
    const char *cut = getenv("VIGIL_DEVICE_CUT_AFTER");
    dl d = {.c = c, .m = m, .part = part, .r = r, .cut_after = cut ? atoll(cut) : -1};
    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
    snprintf(d.meta, sizeof(d.meta), "%s.json", part);
    d.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    d.md = EVP_MD_CTX_new();
    download_status st;
    if (d.fd < 0 || !d.md || EVP_DigestInit_ex(d.md, EVP_sha256(), NULL) != 1)
        st = set(r, DOWNLOAD_LOCAL, "local", "cannot open %s: %s", part, strerror(errno));
    else
        st = run_tries(&d);
    if (d.fd >= 0)
        close(d.fd);
    EVP_MD_CTX_free(d.md);
    if (st == DOWNLOAD_SIZE || st == DOWNLOAD_DIGEST)
        download_discard(part); /* never resume from bytes that proved wrong */
    return st;
}
