/*
 * bench_update.c - the requests of vigil-bench's update and download loads
 * and what counts as a success in their answers (docs/DEVICE-PORT.md,
 * "GET /v1/update", "GET /v1/artifacts/{sha256}"), so that a server cannot
 * score with answers that do not carry the update:
 *
 *   update    --expect 200 (the bench started a rollout at 100 %): a 200
 *             with Content-Type application/jose, an X-Vigil-Rollout id,
 *             and a body that is a compact JWS whose protected header is
 *             ES256 of typ vigil-manifest, byte for byte the release's
 *             manifest when --manifest gives it. --expect 204: a 204 with
 *             no body and an X-Vigil-Reason (the one --reason names, when
 *             given). Against the reference (--reference, nginx's
 *             `return 204`): a 2xx with no body.
 *   download  a 200 whose whole body's SHA-256 (taken by bench_load.c as
 *             the bytes arrive) is the --sha256 given; the same for the
 *             reference, which serves the same file.
 */
#define _GNU_SOURCE 1
#include "tools/vigil-bench/bench.h"

#include "protocol/hex.h"
#include "protocol/manifest.h"

#include <jansson.h>
#include <jose/b64.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MANIFEST_MAX (64 * 1024)
#define JWS_HEADER_MAX 1024

char *bench_update_request(const bench_cfg *cfg, size_t *len)
{
    char *r = NULL;
    int n;
    if (cfg->mode == BM_UPDATE)
        n = asprintf(&r,
                     "GET %s HTTP/1.1\r\nHost: bench\r\nX-Vigil-Version: %s\r\n"
                     "X-Vigil-Security-Version: %s\r\n\r\n",
                     cfg->path ? cfg->path : "/v1/update", cfg->device_version,
                     cfg->security_version);
    else if (cfg->path)
        n = asprintf(&r, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", cfg->path);
    else
        n = asprintf(&r, "GET /v1/artifacts/%s HTTP/1.1\r\nHost: bench\r\n\r\n", cfg->sha256);
    *len = n > 0 ? (size_t)n : 0;
    return n > 0 ? r : NULL;
}

static int is_b64url(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_';
}

/* A compact JWS: three non-empty base64url parts joined by dots, the
 * first a protected header {"alg":"ES256","typ":"vigil-manifest",...}. */
static int is_manifest_jws(const char *body, size_t len)
{
    size_t dots[2], n_dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '.') {
            if (n_dots == 2 || i == (n_dots ? dots[0] + 1 : 0))
                return 0;
            dots[n_dots++] = i;
        } else if (!is_b64url((unsigned char)body[i])) {
            return 0;
        }
    }
    if (n_dots != 2 || dots[1] + 1 == len || dots[0] > JWS_HEADER_MAX)
        return 0;
    char header[JWS_HEADER_MAX];
    size_t n = jose_b64_dec_buf(body, dots[0], header, sizeof(header));
    if (n == SIZE_MAX)
        return 0;
    json_t *h = json_loadb(header, n, 0, NULL);
    const char *alg = json_string_value(json_object_get(h, "alg"));
    const char *typ = json_string_value(json_object_get(h, "typ"));
    int ok = alg && typ && !strcmp(alg, "ES256") && !strcmp(typ, "vigil-manifest");
    json_decref(h);
    return ok;
}

/* Whether header name in [head, end) is exactly value (value NULL: is
 * there and not empty). */
static int header_is(const char *head, const char *end, const char *name, const char *value)
{
    size_t len = 0;
    const char *v = bench_answer_header(head, end, name, &len);
    while (v && len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (!v || !len)
        return 0;
    return !value || (strlen(value) == len && !memcmp(v, value, len));
}

static int is_rollout_id(const char *head, const char *end)
{
    size_t len = 0;
    const char *v = bench_answer_header(head, end, "X-Vigil-Rollout", &len);
    if (!v || !len || len > 19)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

bench_verdict bench_answer_update(const bench_cfg *cfg, int status, const char *head,
                                  const char *head_end, const char *body, size_t body_len)
{
    int ok;
    if (cfg->reference)
        return status >= 200 && status < 300 && !body_len ? BV_OK : bench_answer_error(status);
    if (status != cfg->expect)
        return bench_answer_error(status);
    if (cfg->expect == 204)
        ok = !body_len && header_is(head, head_end, "X-Vigil-Reason", cfg->expect_reason);
    else if (cfg->manifest)
        ok = body_len == cfg->manifest_len && !memcmp(body, cfg->manifest, body_len);
    else
        ok = is_manifest_jws(body, body_len);
    if (ok && cfg->expect == 200) {
        size_t ct_len = 0;
        const char *ct = bench_answer_header(head, head_end, "Content-Type", &ct_len);
        ok = ct && ct_len >= 16 && !strncasecmp(ct, "application/jose", 16) &&
             (ct_len == 16 || ct[16] == ';' || ct[16] == ' ') && is_rollout_id(head, head_end);
    }
    return ok ? BV_OK : bench_answer_error(status);
}

bench_verdict bench_answer_download(const bench_cfg *cfg, int status,
                                    const unsigned char digest[32], int *bad_digest)
{
    *bad_digest = 0;
    if (status != 200)
        return bench_answer_error(status);
    if (memcmp(digest, cfg->digest, 32) != 0) {
        *bad_digest = 1;
        return BV_2XX;
    }
    return BV_OK;
}

int bench_sha256_parse(const char *hex, unsigned char out[32])
{
    if (!hex || !manifest_sha256_valid(hex))
        return -1;
    return hex_decode(hex, out, 32);
}

int bench_manifest_load(bench_cfg *cfg, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(MANIFEST_MAX + 1);
    size_t n = f && buf ? fread(buf, 1, MANIFEST_MAX + 1, f) : 0;
    if (f)
        fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (!n || n > MANIFEST_MAX || !is_manifest_jws(buf, n)) {
        fprintf(stderr,
                "vigil-bench: %s does not hold a manifest (a compact JWS, ES256, typ "
                "vigil-manifest)\n",
                path);
        free(buf);
        return -1;
    }
    cfg->manifest = buf;
    cfg->manifest_len = n;
    return 0;
}
