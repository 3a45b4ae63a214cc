/*
 * bench_answer.c - what counts as a success in an answer to vigil-bench's
 * load (handshakes, ingest), so that a server cannot score with answers
 * that do not do the work: every other answer is an error of one kind,
 * counted and printed (bench_verdict). Also the one header lookup that
 * both HTTP clients of vigil-bench (bench_load.c, bench_query.c) use.
 *
 * Against vigild (the default), per docs/DEVICE-PORT.md:
 *   ingest      a 2xx whose body is {"results":[...]} with one result per
 *               report sent, in order, each carrying that report's id and
 *               status "stored" or "duplicate" (both mean: committed).
 *   handshakes  a 2xx, or the device port's 404 {"error":"not_found"} to
 *               the probe (GET /bench, a path it does not serve): an
 *               answer only an authorized device gets (a refused
 *               certificate gets 401 or 403, and the connection closes).
 *   renew       a 200 with Content-Type application/pkcs7-mime;
 *               smime-type=certs-only, whose body is base64 of a DER
 *               PKCS#7 (parsed with OpenSSL) holding exactly one
 *               certificate: not the one the connection presented, signed
 *               by a CA certificate of the --ca chain (its signature
 *               verified), with subject CN = the device id and the public
 *               key of the CSR sent (their DER SubjectPublicKeyInfo equal).
 * Against the reference (--reference: nginx answering `return 204`, see
 * nginx.conf.in), which stores nothing and so has no report to
 * acknowledge: a 2xx with no body, in both modes.
 */
#include "tools/vigil-bench/bench.h"

#include "cert-authority/ca.h"

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *bench_answer_header(const char *in, const char *end, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *p = strstr(in, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (h + n < end && !strncasecmp(h, name, n) && h[n] == ':') {
            const char *v = h + n + 1, *e = strstr(v, "\r\n");
            while (*v == ' ' || *v == '\t')
                v++;
            *len = (size_t)((e ? e : end) - v);
            return v;
        }
    }
    return NULL;
}

static int acknowledges(const char *status)
{
    return status && (!strcmp(status, "stored") || !strcmp(status, "duplicate"));
}

/* Whether the results of an ingest answer acknowledge each report sent;
 * reports every acknowledged id to acked either way. */
static int all_acknowledged(json_t *answer, const char (*ids)[37], int n_ids, bench_acked_fn *acked,
                            void *arg)
{
    json_t *results = json_object_get(answer, "results"), *item;
    size_t i;
    int all = json_is_array(results) && json_array_size(results) == (size_t)n_ids;
    json_array_foreach(results, i, item) {
        const char *id = json_string_value(json_object_get(item, "id"));
        int ack = acknowledges(json_string_value(json_object_get(item, "status")));
        if (ack && id && acked)
            acked(arg, id);
        if (!ack || !id || i >= (size_t)n_ids || strcmp(id, ids[i]) != 0)
            all = 0;
    }
    return all;
}

/* The device port's answer to an authorized device asking for a path it
 * does not serve. */
static int is_not_found(json_t *answer)
{
    const char *code = json_string_value(json_object_get(answer, "error"));
    return code && !strcmp(code, "not_found");
}

bench_verdict bench_answer_error(int status)
{
    if (status >= 200 && status < 300)
        return BV_2XX;
    if (status >= 400 && status < 500)
        return BV_4XX;
    if (status >= 500 && status < 600)
        return BV_5XX;
    return BV_OTHER;
}

bench_verdict bench_answer_judge(const bench_cfg *cfg, int status, const char *body,
                                 size_t body_len, const char (*ids)[37], int n_ids,
                                 bench_acked_fn *acked, void *arg)
{
    int is_2xx = status >= 200 && status < 300, ok;
    if (cfg->reference)
        return is_2xx && body_len == 0 ? BV_OK : bench_answer_error(status);
    if (cfg->mode == BM_HANDSHAKES && is_2xx)
        return BV_OK;
    int read_body = cfg->mode == BM_INGEST ? is_2xx : status == 404;
    json_t *answer = read_body && body_len ? json_loadb(body, body_len, 0, NULL) : NULL;
    if (cfg->mode == BM_INGEST)
        ok = json_is_object(answer) && all_acknowledged(answer, ids, n_ids, acked, arg);
    else
        ok = is_not_found(answer);
    json_decref(answer);
    return ok ? BV_OK : bench_answer_error(status);
}

/* ---- renewals ---- */

#define PKCS7_MAX (64 * 1024)

/* Content-Type application/pkcs7-mime with smime-type=certs-only among
 * its parameters (names and the media type without regard to case). */
static int is_certs_only(const char *ctype, size_t len)
{
    static const char media[] = "application/pkcs7-mime";
    char v[256];
    if (!ctype || len >= sizeof(v) || len < sizeof(media) - 1 ||
        strncasecmp(ctype, media, sizeof(media) - 1) != 0)
        return 0;
    memcpy(v, ctype, len);
    v[len] = '\0';
    for (char *p = strchr(v + sizeof(media) - 1, ';'); p; p = strchr(p + 1, ';')) {
        char *q = p + 1;
        while (*q == ' ' || *q == '\t')
            q++;
        if (!strncasecmp(q, "smime-type=certs-only", 21) &&
            (q[21] == '\0' || q[21] == ';' || q[21] == ' '))
            return 1;
    }
    return 0;
}

/* Whether cert is what the renewal asked for (see bench_renewal). The
 * key is compared as encoded (i2d_X509_PUBKEY re-encodes the parsed
 * fields; i2d_PUBKEY would go through OpenSSL 3.0's slow encoder). */
static int certifies(const bench_renewal *e, X509 *cert)
{
    char cn[256];
    unsigned char spki[512], *p = spki;
    X509_PUBKEY *xpk = X509_get_X509_PUBKEY(cert);
    int spki_len = i2d_X509_PUBKEY(xpk, NULL);
    X509_NAME *subject = X509_get_subject_name(cert);
    if (X509_NAME_get_text_by_NID(subject, NID_commonName, cn, sizeof(cn)) <= 0 ||
        strcmp(cn, e->device_id) != 0 || spki_len <= 0 || spki_len > (int)sizeof(spki) ||
        i2d_X509_PUBKEY(xpk, &p) != spki_len || (size_t)spki_len != e->spki_len ||
        memcmp(spki, e->spki, e->spki_len) != 0 || X509_cmp(cert, e->presented) == 0)
        return 0;
    for (int i = 0; i < sk_X509_num(e->issuers); i++) {
        X509 *ca = sk_X509_value(e->issuers, i);
        if (X509_check_issued(ca, cert) == X509_V_OK &&
            X509_verify(cert, X509_get0_pubkey(ca)) == 1)
            return 1;
    }
    return 0;
}

bench_verdict bench_answer_renewal(const bench_renewal *expect, int status, const char *ctype,
                                   size_t ctype_len, const char *body, size_t body_len)
{
    if (status != 200 || !is_certs_only(ctype, ctype_len))
        return bench_answer_error(status);
    STACK_OF(X509) *certs = ca_est_certs_parse(body, body_len, PKCS7_MAX);
    int ok = certs && sk_X509_num(certs) == 1 && certifies(expect, sk_X509_value(certs, 0));
    sk_X509_pop_free(certs, X509_free);
    ERR_clear_error();
    return ok ? BV_OK : BV_2XX;
}
