/*
 * cacerts.c - refreshing the trust anchors file (see cacerts.h).
 */
#include "tools/vigil-device/cacerts.h"

#include "cert-authority/ca.h"
#include "tools/vigil-device/pair.h"
#include "tools/vigil-device/renew.h"
#include "tools/vigil-device/util.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static est_outcome refuse(est_result *r, const char *reason)
{
    est_set(r, EST_BAD_ANSWER, "bad_answer", reason);
    return EST_BAD_ANSWER;
}

/* The self-signed certificates of a PEM file (the roots it trusts). */
static STACK_OF(X509) * read_roots(const char *path)
{
    BIO *bio = BIO_new_file(path, "r");
    STACK_OF(X509) *roots = bio ? sk_X509_new_null() : NULL;
    X509 *x;
    while (roots && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
        if (X509_self_signed(x, 1) != 1 || !sk_X509_push(roots, x))
            X509_free(x);
    BIO_free(bio);
    ERR_clear_error();
    return roots;
}

static int contains(STACK_OF(X509) * set, X509 *x)
{
    for (int i = 0; i < sk_X509_num(set); i++)
        if (X509_cmp(sk_X509_value(set, i), x) == 0)
            return 1;
    return 0;
}

static int chains_to(X509 *x, STACK_OF(X509) * roots, STACK_OF(X509) * set)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = st && ctx;
    for (int i = 0; ok && i < sk_X509_num(roots); i++)
        ok = X509_STORE_add_cert(st, sk_X509_value(roots, i)) == 1;
    ok = ok && X509_STORE_CTX_init(ctx, st, x, set) == 1 && X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    ERR_clear_error();
    return ok;
}

/* Why the new set may not replace the trust anchors, or NULL if it may. */
static const char *unacceptable(STACK_OF(X509) * roots, STACK_OF(X509) * set)
{
    if (sk_X509_num(roots) == 0)
        return "the current trust anchors file holds no root (self-signed) certificate";
    for (int i = 0; i < sk_X509_num(roots); i++)
        if (!contains(set, sk_X509_value(roots, i)))
            return "the server's set does not include the root this device trusts: refused";
    for (int i = 0; i < sk_X509_num(set); i++) {
        X509 *x = sk_X509_value(set, i);
        if (X509_self_signed(x, 1) == 1 ? !contains(roots, x) : !chains_to(x, roots, set))
            return X509_self_signed(x, 1) == 1
                       ? "the server's set holds a root this device does not trust: refused"
                       : "a CA of the server's set does not chain to this device's root: refused";
    }
    ERR_clear_error();
    return NULL;
}

static int write_pem(const char *out, STACK_OF(X509) * set)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    int ok = bio != NULL;
    for (int i = 0; ok && i < sk_X509_num(set); i++)
        ok = PEM_write_bio_X509(bio, sk_X509_value(set, i));
    long len = ok ? BIO_get_mem_data(bio, &data) : 0;
    ok = ok && len > 0 && devu_write_atomic(out, data, (size_t)len, 0644) == 0;
    BIO_free(bio);
    return ok ? 0 : -1;
}

est_outcome cacerts_refresh(devc *c, const char *ca_file, const char *out, est_result *r, int *n)
{
    STACK_OF(X509) *set = est_cacerts(c, r);
    if (!set)
        return r->outcome;
    STACK_OF(X509) *roots = read_roots(ca_file);
    const char *why = roots ? unacceptable(roots, set) : "cannot read the trust anchors file";
    est_outcome o = EST_OK;
    if (why)
        o = refuse(r, why);
    else if (write_pem(out, set) < 0) {
        o = EST_RETRY;
        est_set(r, o, "local", "cannot write the trust anchors file");
    }
    if (n)
        *n = sk_X509_num(set);
    sk_X509_pop_free(roots, X509_free);
    sk_X509_pop_free(set, X509_free);
    return o;
}

int cacerts_command(const char *server, const char *cert, const char *key, const char *ca,
                    const char *out, int json)
{
    devc c = {.fd = -1};
    est_result r = {0};
    int n = 0;
    if (!server || !cert || !key || !ca) {
        fprintf(stderr, "vigil-device cacerts: --server, --cert, --key and --ca are required\n");
        return 2;
    }
    if (pair_connect(&c, server, cert, key, ca, "vigil-device cacerts") < 0) {
        devc_free(&c);
        return renew_exit_code(EST_IDENTITY);
    }
    est_outcome o = cacerts_refresh(&c, ca, out ? out : ca, &r, &n);
    devc_free(&c);
    if (o == EST_OK && json)
        printf("{\"written\":\"%s\",\"certificates\":%d}\n", out ? out : ca, n);
    else if (o == EST_OK)
        printf("wrote %d certificate(s) to %s\n", n, out ? out : ca);
    else
        fprintf(stderr, "vigil-device cacerts: %s: %s: %s\n", est_outcome_name(o), r.code,
                r.reason);
    return renew_exit_code(o);
}
