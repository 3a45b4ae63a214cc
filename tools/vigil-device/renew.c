/*
 * renew.c - certificate renewal by the device (see renew.h): recover the
 * pair on disk, make a key (or keep it with --same-key) and a CSR for the
 * id in the current certificate, POST simplereenroll, check that the
 * answer is a certificate for this id, for this key, that verifies against
 * the trust anchors, then stage, commit and confirm it with a second
 * connection made with the new pair.
 */
#include "tools/vigil-device/renew.h"

#include "tools/vigil-device/keygen.h"
#include "tools/vigil-device/pair.h"
#include "tools/vigil-device/util.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_IDENTITY = 3, EXIT_BAD_ANSWER = 4, EXIT_RETRY = 75 };

int renew_exit_code(est_outcome o)
{
    switch (o) {
    case EST_OK:
        return EXIT_OK;
    case EST_REFUSED:
        return EXIT_REFUSED;
    case EST_IDENTITY:
        return EXIT_IDENTITY;
    case EST_BAD_ANSWER:
        return EXIT_BAD_ANSWER;
    case EST_RETRY:
        return EXIT_RETRY;
    }
    return EXIT_RETRY;
}

static est_outcome fail(renew_info *info, est_outcome o, const char *code, const char *reason)
{
    est_set(&info->r, o, code, reason);
    return o;
}

static int common_name(X509 *x, char *id, size_t idlen)
{
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, id, (int)idlen);
    return n > 0 && (size_t)n < idlen ? 0 : -1;
}

int renew_identity(const char *path, char *id, size_t idlen, time_t *nb, time_t *na)
{
    ca_error err;
    X509 *x = ca_cert_read(path, &err);
    int rc = x && common_name(x, id, idlen) == 0 &&
                     ca_asn1_time_to_unix(X509_get0_notBefore(x), nb) == 0 &&
                     ca_asn1_time_to_unix(X509_get0_notAfter(x), na) == 0
                 ? 0
                 : -1;
    X509_free(x);
    return rc;
}

/* 1 if x chains to a root in ca_file (untrusted: intermediates, may be NULL). */
static int verifies(X509 *x, const char *ca_file, STACK_OF(X509) * untrusted)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = st && ctx && X509_STORE_load_file(st, ca_file) == 1 &&
             X509_STORE_CTX_init(ctx, st, x, untrusted) == 1 &&
             X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) == 1 &&
             X509_verify_cert(ctx) == 1;
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    ERR_clear_error();
    return ok;
}

/* The checks on the answer: same id, our key, a chain to our trust anchors
 * (the server's cacerts may supply a new issuing CA, never the root). */
static est_outcome check_answer(devc *c, X509 *x, EVP_PKEY *key, const char *id,
                                const char *ca_file, renew_info *info)
{
    char cn[256];
    if (common_name(x, cn, sizeof(cn)) < 0 || strcmp(cn, id) != 0)
        return fail(info, EST_BAD_ANSWER, "bad_answer", "the new certificate names another device");
    if (EVP_PKEY_eq(X509_get0_pubkey(x), key) != 1)
        return fail(info, EST_BAD_ANSWER, "bad_answer", "the new certificate is not for our key");
    if (verifies(x, ca_file, NULL))
        return EST_OK;
    est_result r;
    STACK_OF(X509) *cas = est_cacerts(c, &r);
    int ok = cas && verifies(x, ca_file, cas);
    sk_X509_pop_free(cas, X509_free);
    return ok ? EST_OK
              : fail(info, EST_BAD_ANSWER, "bad_answer",
                     "the new certificate does not verify against the trust anchors");
}

static void describe(X509 *x, renew_info *info)
{
    ca_serial_hex(x, info->serial);
    ca_asn1_time_to_unix(X509_get0_notBefore(x), &info->nb);
    ca_asn1_time_to_unix(X509_get0_notAfter(x), &info->na);
    ca_format_time(info->nb, info->not_before);
    ca_format_time(info->na, info->not_after);
}

/* A request with the new pair: the server accepts it (pair confirmed), refuses
 * it (previous pair restored), or cannot be reached (both kept). */
static est_outcome confirm(const renew_opts *o, renew_info *info)
{
    devc c;
    char err[512];
    est_result r = {.outcome = EST_IDENTITY};
    if (devc_init(&c, o->server, o->cert, o->key, o->ca, err, sizeof(err)) == DEVC_OK) {
        STACK_OF(X509) *cas = est_cacerts(&c, &r);
        sk_X509_pop_free(cas, X509_free);
    } else
        snprintf(r.reason, sizeof(r.reason), "%s", err);
    devc_free(&c);
    if (r.outcome == EST_IDENTITY) {
        char why[600];
        snprintf(why, sizeof(why), "the server refused the new certificate (%s): %s", r.reason,
                 pair_rollback(o->cert, o->key) == 0 ? "previous pair restored"
                                                     : "cannot restore the previous pair");
        return fail(info, EST_IDENTITY, r.code[0] ? r.code : "tls", why);
    }
    info->confirmed = r.outcome != EST_RETRY || r.status != 0;
    if (info->confirmed)
        pair_confirm(o->cert, o->key);
    return EST_OK;
}

static EVP_PKEY *next_key(const renew_opts *o, renew_info *info)
{
    ca_error err;
    ca_key_type type = CA_KEY_P256;
    if (o->same_key)
        return ca_key_read(o->key, NULL, &err);
    if (o->key_type && ca_key_type_parse(o->key_type, &type) < 0) {
        fail(info, EST_REFUSED, "usage", "--key-type must be p256, p384 or ed25519");
        return NULL;
    }
    return ca_key_generate(type, &err);
}

est_outcome renew_once(const renew_opts *o, renew_info *info)
{
    char id[256], msg[600], err[512];
    time_t nb, na;
    devc c;
    memset(info, 0, sizeof(*info));
    info->r.retry_after = -1;
    if (pair_recover(o->cert, o->key, msg, sizeof(msg)) < 0)
        return fail(info, EST_IDENTITY, "local", msg);
    if (msg[0])
        fprintf(stderr, "vigil-device: %s\n", msg);
    if (renew_identity(o->cert, id, sizeof(id), &nb, &na) < 0)
        return fail(info, EST_IDENTITY, "local", "cannot read the device id (CN) of --cert");
    EVP_PKEY *key = next_key(o, info);
    X509_REQ *req = key ? keygen_csr(key, id) : NULL;
    X509 *x = NULL;
    if (!req) {
        EVP_PKEY_free(key);
        return info->r.code[0] ? info->r.outcome
                               : fail(info, EST_IDENTITY, "local", "cannot make a key and CSR");
    }
    if (devc_init(&c, o->server, o->cert, o->key, o->ca, err, sizeof(err)) != DEVC_OK)
        fail(info, EST_IDENTITY, "local", err);
    else if ((x = est_simplereenroll(&c, req, &info->r)) &&
             check_answer(&c, x, key, id, o->ca, info) == EST_OK) {
        devu_crash_point("after-answer");
        describe(x, info);
        if (pair_stage(o->cert, o->key, x, key) < 0 || pair_commit(o->cert, o->key) < 0)
            fail(info, EST_RETRY, "local", "cannot write the new key pair (the old one is kept)");
        else
            confirm(o, info);
    }
    devc_free(&c);
    X509_free(x);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return info->r.outcome;
}

int renew_command(const renew_opts *o, int json)
{
    renew_info info;
    if (!o->server || !o->cert || !o->key || !o->ca) {
        fprintf(stderr, "vigil-device renew: --server, --cert, --key and --ca are required\n");
        return 2;
    }
    est_outcome out = renew_once(o, &info);
    const est_result *r = &info.r;
    if (json && out == EST_OK)
        printf("{\"renewed\":true,\"serial\":\"%s\",\"not_before\":\"%s\",\"not_after\":\"%s\","
               "\"same_key\":%s,\"confirmed\":%s}\n",
               info.serial, info.not_before, info.not_after, o->same_key ? "true" : "false",
               info.confirmed ? "true" : "false");
    else if (out == EST_OK)
        printf("renewed: serial %s, not after %s%s\n", info.serial, info.not_after,
               info.confirmed ? ""
                              : " (not yet confirmed by the server: the previous pair is "
                                "kept as .prev until a later run succeeds)");
    if (out != EST_OK) {
        char status[32] = "";
        if (r->status)
            snprintf(status, sizeof(status), " (HTTP %d)", r->status);
        fprintf(stderr, "vigil-device renew: %s%s: %s: %s\n", est_outcome_name(out), status,
                r->code, r->reason);
        if (out == EST_RETRY)
            fprintf(stderr, "vigil-device renew: retry in %d s\n",
                    r->retry_after >= 0 ? r->retry_after : 60);
    }
    if (json && out != EST_OK) {
        json_t *j = json_pack("{s:b,s:s,s:i,s:s,s:s,s:i}", "renewed", 0, "outcome",
                              est_outcome_name(out), "status", r->status, "error", r->code,
                              "reason", r->reason, "retry_after", r->retry_after);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(j);
    }
    return renew_exit_code(out);
}
