/*
 * bench_renew.c - the renewal load's requests, made before the timed part
 * so that the run measures the server, not the client's key generation:
 * for each device in use, its CSRs (subject CN = the device id) as whole
 * POST /.well-known/est/simplereenroll requests, and for each the DER
 * SubjectPublicKeyInfo the answer must certify.
 *
 * A renewal with a new key each time is the realistic default: each
 * device gets cfg->keys new P-256 keys (the keys themselves are dropped
 * once their CSR is signed: the load only needs the public half). With
 * cfg->same_key each device has one CSR with the key of its current
 * certificate. A device whose pool runs out sends its CSRs again from
 * the first; the load counts those (keys_reused), since a server may
 * treat a key it has certified before differently.
 *
 * The keys come from one EVP_PKEY_CTX per thread, and the CSR's public key
 * is set from the key's encoded point: with OpenSSL 3.0,
 * EVP_PKEY_Q_keygen and X509_REQ_set_pubkey (its encoder lookup) cost
 * some 70 and 600 us a key on this machine, 10 times the signature.
 *
 * The pool is made on cfg->threads threads; each device's part is
 * touched by one connection at a time (bench_load.c gives each device to
 * one connection slot), so renew_pool_next takes no lock.
 */
#define _GNU_SOURCE 1
#include "tools/vigil-bench/bench.h"

#include "cert-authority/ca.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SPKI_MAX 160           /* DER SubjectPublicKeyInfo of a P-256 key: 91 bytes */
#define AUTO_BUDGET_PER_S 1500 /* renewals/s the automatic pool size allows for */
#define AUTO_KEYS_MIN 4
#define AUTO_KEYS_MAX 2000

typedef struct renew_csr {
    char *request;
    size_t len;
    unsigned char spki[SPKI_MAX];
    size_t spki_len;
    int sent;
} renew_csr;

typedef struct renew_device {
    char id[128];
    X509 *cert; /* borrowed from the load: the certificate it presents */
    renew_csr *csrs;
    int n, next;
} renew_device;

struct renew_pool {
    const bench_cfg *cfg;
    renew_device *devs;
    int n, per_device, failed;
    EVP_PKEY *const *keys;
    STACK_OF(X509) *issuers;
    int next_dev; /* the next device a maker thread takes */
    pthread_mutex_t mu;
};

int renew_pool_keys(const bench_cfg *cfg)
{
    if (cfg->same_key)
        return 1;
    if (cfg->keys > 0)
        return cfg->keys;
    int in_use = cfg->keepalive ? cfg->connections : cfg->devices;
    double want = AUTO_BUDGET_PER_S * (cfg->warmup + cfg->duration + 1) / (in_use > 0 ? in_use : 1);
    int k = (int)want + 1;
    return k < AUTO_KEYS_MIN ? AUTO_KEYS_MIN : k > AUTO_KEYS_MAX ? AUTO_KEYS_MAX : k;
}

/* Sets the request's public key to P-256 key from its encoded point
 * (X509_REQ_set_pubkey for any other key). */
static int set_pubkey(X509_REQ *req, EVP_PKEY *key)
{
    unsigned char point[133], *copy;
    size_t n = 0;
    char group[32] = "";
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                        NULL) ||
        strcmp(group, "prime256v1") != 0 ||
        !EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point,
                                         sizeof(point), &n)) {
        ERR_clear_error();
        return X509_REQ_set_pubkey(req, key);
    }
    if (!(copy = OPENSSL_memdup(point, n)))
        return 0;
    if (!X509_PUBKEY_set0_param(X509_REQ_get_X509_PUBKEY(req),
                                OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
                                OBJ_nid2obj(NID_X9_62_prime256v1), copy, (int)n)) {
        OPENSSL_free(copy);
        return 0;
    }
    return 1;
}

/* One CSR of device d for key, as a whole request; 0 or -1. */
static int make_csr(const renew_pool *p, const renew_device *d, EVP_PKEY *key, renew_csr *out)
{
    X509_REQ *req = X509_REQ_new();
    unsigned char *der = NULL, *spki = out->spki;
    int der_len = -1, rc = -1;
    if (!req ||
        !X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                                    (const unsigned char *)d->id, -1, -1, 0) ||
        !set_pubkey(req, key) || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
        (der_len = i2d_X509_REQ(req, &der)) <= 0 ||
        i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), NULL) > SPKI_MAX)
        goto done;
    out->spki_len = (size_t)i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki);
    size_t b64_len = 0;
    char *b64 = ca_est_base64(der, (size_t)der_len, &b64_len);
    const char *path = p->cfg->path ? p->cfg->path : "/.well-known/est/simplereenroll";
    int n = b64 ? asprintf(&out->request,
                           "POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/pkcs10\r\n"
                           "Content-Length: %zu\r\n%s\r\n%s",
                           path, b64_len, p->cfg->keepalive ? "" : "Connection: close\r\n", b64)
                : -1;
    free(b64);
    if (n > 0) {
        out->len = (size_t)n;
        rc = 0;
    } else {
        out->request = NULL;
    }
done:
    OPENSSL_free(der);
    X509_REQ_free(req);
    return rc;
}

/* Device i's CSRs: new keys from gen, or its own key with same_key. */
static int make_device(renew_pool *p, int i, EVP_PKEY_CTX *gen)
{
    renew_device *d = &p->devs[i];
    if (!(d->csrs = calloc((size_t)p->per_device, sizeof(*d->csrs))))
        return -1;
    for (d->n = 0; d->n < p->per_device; d->n++) {
        EVP_PKEY *key = p->cfg->same_key ? p->keys[i] : NULL;
        if (!key && EVP_PKEY_generate(gen, &key) <= 0)
            key = NULL;
        int rc = key ? make_csr(p, d, key, &d->csrs[d->n]) : -1;
        if (!p->cfg->same_key)
            EVP_PKEY_free(key);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static void *maker_main(void *arg)
{
    renew_pool *p = arg;
    EVP_PKEY_CTX *gen = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!gen || EVP_PKEY_keygen_init(gen) <= 0 || EVP_PKEY_CTX_set_group_name(gen, "P-256") <= 0) {
        pthread_mutex_lock(&p->mu);
        p->failed = 1;
        pthread_mutex_unlock(&p->mu);
    }
    for (;;) {
        pthread_mutex_lock(&p->mu);
        int i = p->failed ? p->n : p->next_dev++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->n)
            break;
        if (make_device(p, i, gen) < 0) {
            pthread_mutex_lock(&p->mu);
            p->failed = 1;
            pthread_mutex_unlock(&p->mu);
        }
    }
    EVP_PKEY_CTX_free(gen);
    ERR_clear_error();
    return NULL;
}

static int make_all(renew_pool *p)
{
    int threads = p->cfg->threads > 0 ? p->cfg->threads : 2, started = 0;
    pthread_t tids[64];
    if (threads > 64)
        threads = 64;
    for (; started < threads; started++)
        if (pthread_create(&tids[started], NULL, maker_main, p) != 0)
            break;
    if (!started)
        maker_main(p);
    for (int t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    return p->failed ? -1 : 0;
}

/* The CA certificates of the chain file, their keys and extensions
 * decoded now (the load's threads then only read them). */
static STACK_OF(X509) *load_issuers(const char *path)
{
    STACK_OF(X509) *s = sk_X509_new_null();
    FILE *f = fopen(path, "r");
    X509 *x;
    while (s && f && (x = PEM_read_X509(f, NULL, NULL, NULL)))
        if (!X509_get0_pubkey(x) || X509_check_ca(x) < 0 || !sk_X509_push(s, x))
            X509_free(x);
    if (f)
        fclose(f);
    ERR_clear_error();
    if (s && sk_X509_num(s) > 0)
        return s;
    sk_X509_pop_free(s, X509_free);
    return NULL;
}

renew_pool *renew_pool_make(const bench_cfg *cfg, X509 *const *certs, EVP_PKEY *const *keys, int n)
{
    renew_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    p->cfg = cfg;
    p->keys = keys;
    p->n = n;
    p->per_device = renew_pool_keys(cfg);
    if (!(p->issuers = load_issuers(cfg->ca))) {
        fprintf(stderr, "vigil-bench: cannot load the CA chain %s\n", cfg->ca);
        renew_pool_free(p);
        return NULL;
    }
    if (!(p->devs = calloc((size_t)n, sizeof(*p->devs)))) {
        renew_pool_free(p);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        p->devs[i].cert = certs[i];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(certs[i]), NID_commonName,
                                      p->devs[i].id, sizeof(p->devs[i].id)) <= 0) {
            fprintf(stderr, "vigil-bench: device certificate %d has no CN\n", i);
            renew_pool_free(p);
            return NULL;
        }
    }
    int rc = make_all(p);
    p->keys = NULL; /* borrowed for make_all only */
    if (rc < 0) {
        fprintf(stderr, "vigil-bench: cannot make the renewal CSRs\n");
        renew_pool_free(p);
        return NULL;
    }
    return p;
}

const char *renew_pool_next(renew_pool *p, int dev, size_t *len, bench_renewal *expect, int *reused)
{
    renew_device *d = &p->devs[dev];
    renew_csr *c = &d->csrs[d->next];
    d->next = (d->next + 1) % d->n;
    *reused = c->sent++ > 0 && !p->cfg->same_key; /* same key: one CSR by design */
    *len = c->len;
    *expect = (bench_renewal){d->id, c->spki, c->spki_len, d->cert, p->issuers};
    return c->request;
}

void renew_pool_free(renew_pool *p)
{
    if (!p)
        return;
    for (int i = 0; p->devs && i < p->n; i++) {
        for (int k = 0; k < p->devs[i].n; k++)
            free(p->devs[i].csrs[k].request);
        free(p->devs[i].csrs);
    }
    free(p->devs);
    sk_X509_pop_free(p->issuers, X509_free);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
