/*
 * cmd_ca_sign.c - the `vigilctl ca` commands that sign with a CA key:
 * server-cert (vigild's TLS certificate for the device port), crl (signed
 * revocation lists) and rotate (a new issuing CA signed by the root).
 *
 * Each runs inside cli_begin_audited()/cli_commit(): the audit row and the
 * action succeed together, and a database that is down refuses the action
 * before a key is touched.
 */
#include "tools/vigilctl/commands.h"

#include <errno.h>
#include <limits.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OPT_DNS = OPT_FIRST_COMMAND_OPTION, OPT_IP, OPT_OUT_DIR, OPT_VALIDITY, OPT_NEXT_UPDATE,
       OPT_ROOT_KEY, OPT_ISSUING_VALIDITY };

#define MAX_NAMES 32

/* Creates dir (one level) 0700 if missing; an existing one is kept. */
static int ensure_dir(cli_ctx *ctx, const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
        return EXIT_OK;
    return cli_fail(ctx, EXIT_REFUSED, "cannot create %s: %s", dir, strerror(errno));
}

/* ---- ca server-cert ---- */

static const char server_cert_usage[] =
    "Usage: vigilctl ca server-cert --dns NAME [--dns NAME...] [--ip ADDR...] --out-dir DIR\n\n"
    "Issue a TLS server certificate (extendedKeyUsage serverAuth) for vigild's device\n"
    "port, signed by the current issuing CA. Writes DIR/server.crt (the certificate\n"
    "then the issuing CA) and DIR/server.key (new P-256 key, 0600); refuses to\n"
    "overwrite either.\n\n"
    "Options:\n"
    "  --dns NAME        a DNS name devices connect to (repeatable)\n"
    "  --ip ADDR         an IPv4 or IPv6 address devices connect to (repeatable)\n"
    "  --out-dir DIR     where to write server.crt and server.key\n"
    "  --validity DUR    lifetime (default 90d, at most the CA's max validity)\n"
    CLI_COMMON_HELP;

typedef struct server_cert_args {
    const char *dns[MAX_NAMES];
    size_t n_dns;
    const char *ips[MAX_NAMES];
    size_t n_ips;
    const char *out_dir;
    int64_t validity;
} server_cert_args;

static int server_cert_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    server_cert_args *a = state;
    switch (opt) {
    case OPT_DNS:
    case OPT_IP: {
        size_t *n = opt == OPT_DNS ? &a->n_dns : &a->n_ips;
        if (*n >= MAX_NAMES)
            return cli_usage_error(ctx, "at most %d --dns and %d --ip", MAX_NAMES, MAX_NAMES);
        (opt == OPT_DNS ? a->dns : a->ips)[(*n)++] = arg;
        return EXIT_OK;
    }
    case OPT_OUT_DIR: a->out_dir = arg; return EXIT_OK;
    case OPT_VALIDITY: return cli_parse_duration(ctx, "validity", arg, &a->validity);
    default: return cli_usage_error(ctx, "unexpected option");
    }
}

static int write_server_files(cli_ctx *ctx, const server_cert_args *a, const ca_issued *issued,
                              EVP_PKEY *key)
{
    char crt[PATH_MAX], keyfile[PATH_MAX];
    ca_error err = {0};
    X509 *chain[2] = {issued->cert, ca_store_current(ctx->ca)->cert};
    if (snprintf(crt, sizeof(crt), "%s/server.crt", a->out_dir) >= (int)sizeof(crt) ||
        snprintf(keyfile, sizeof(keyfile), "%s/server.key", a->out_dir) >= (int)sizeof(keyfile))
        return cli_usage_error(ctx, "--out-dir is too long");
    if (access(crt, F_OK) == 0)
        return cli_fail(ctx, EXIT_REFUSED, "%s exists: remove it or choose another --out-dir", crt);
    if (ca_key_write(keyfile, key, NULL, &err) < 0)
        return cli_fail_ca(ctx, &err);
    if (ca_certs_write(crt, chain, 2, &err) < 0) {
        unlink(keyfile);
        return cli_fail_ca(ctx, &err);
    }
    return EXIT_OK;
}

static json_t *names_json(const char *const *names, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(names[i]));
    return arr;
}

int cmd_ca_server_cert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dns", required_argument, NULL, OPT_DNS}, {"ip", required_argument, NULL, OPT_IP},
        {"out-dir", required_argument, NULL, OPT_OUT_DIR},
        {"validity", required_argument, NULL, OPT_VALIDITY}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    server_cert_args a = {.validity = 90 * 86400};
    ca_issued issued = {0};
    EVP_PKEY *key = NULL;
    ca_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "ca server-cert", server_cert_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, server_cert_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK)
        goto done;
    if (!a.out_dir || (a.n_dns == 0 && a.n_ips == 0)) {
        rc = cli_usage_error(&ctx, "--out-dir and at least one --dns or --ip are required");
        goto done;
    }
    if ((rc = cli_begin_audited(&ctx)) != EXIT_OK || (rc = cli_open_ca(&ctx, 1)) != EXIT_OK)
        goto done;
    ca_server_request req = {a.dns, a.n_dns, a.ips, a.n_ips, NULL, a.validity};
    if (!(key = ca_key_generate(CA_KEY_P256, &err)) || !(req.public_key = key) ||
        ca_issue_server(ctx.ca, &req, &issued, &err) < 0) {
        rc = cli_fail_ca(&ctx, &err);
        goto done;
    }
    json_t *details = json_pack("{s:o,s:o,s:s}", "dns", names_json(a.dns, a.n_dns), "ip",
                                names_json(a.ips, a.n_ips), "issuer", issued.issuer_ski);
    if ((rc = cli_audit_json(&ctx, "ca.server_cert", NULL, issued.serial, details)) != EXIT_OK ||
        (rc = ensure_dir(&ctx, a.out_dir)) != EXIT_OK ||
        (rc = write_server_files(&ctx, &a, &issued, key)) != EXIT_OK ||
        (rc = cli_commit(&ctx)) != EXIT_OK)
        goto done;
    printf("wrote %s/server.crt and %s/server.key (serial %s)\n", a.out_dir, a.out_dir,
           issued.serial);
done:
    ca_issued_clear(&issued);
    EVP_PKEY_free(key);
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- ca crl ---- */

static const char crl_usage[] =
    "Usage: vigilctl ca crl [--next-update DUR] [--out FILE]\n\n"
    "Print on stdout, as PEM, a freshly signed CRL for every trusted issuing CA,\n"
    "listing its revoked certificates that have not expired yet, with their\n"
    "revocation date and reason.\n\n"
    "Options:\n"
    "  --next-update DUR   when relying parties should fetch the next CRL (default 7d)\n"
    CLI_OUT_HELP CLI_COMMON_HELP;

static int crl_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    if (opt == OPT_NEXT_UPDATE)
        return cli_parse_duration(ctx, "next-update", arg, state);
    return cli_usage_error(ctx, "unexpected option");
}

/* Builds one issuer's CRL from the registry and appends it to out. */
static int crl_for_issuer(cli_ctx *ctx, ca_issuer *iss, int64_t next_update, BIO *out,
                          json_t *summary)
{
    db_error derr = {0};
    ca_error err = {0};
    int rc = EXIT_OK;
    X509_CRL *crl = NULL;
    PGresult *res = db_revoked_by_issuer(ctx->db, iss->ski, &derr);
    if (!res)
        return cli_fail_db(ctx, &derr);
    int n = PQntuples(res);
    ca_revoked *list = calloc(n ? (size_t)n : 1, sizeof(*list));
    if (!list) {
        rc = cli_fail(ctx, EXIT_INTERNAL, "out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        list[i].serial = PQgetvalue(res, i, 0);
        list[i].revoked_at = (time_t)strtoll(PQgetvalue(res, i, 1), NULL, 10);
        list[i].reason = ca_reason_from_name(PQgetvalue(res, i, 2));
        if (list[i].reason < 0)
            list[i].reason = 0;   /* unspecified */
    }
    if (!(crl = ca_crl_build(ctx->ca, iss, list, (size_t)n, next_update, &err))) {
        rc = cli_fail_ca(ctx, &err);
        goto done;
    }
    if (!PEM_write_bio_X509_CRL(out, crl)) {
        rc = cli_fail(ctx, EXIT_INTERNAL, "cannot encode the CRL");
        goto done;
    }
    json_array_append_new(summary, json_pack("{s:s,s:i}", "issuer", iss->ski, "entries", n));
done:
    X509_CRL_free(crl);
    free(list);
    PQclear(res);
    return rc;
}

int cmd_ca_crl(int argc, char **argv)
{
    static const struct option opts[] = {{"next-update", required_argument, NULL, OPT_NEXT_UPDATE},
                                         CLI_OUT_OPTION, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    int64_t next_update = 7 * 86400;
    int rc = EXIT_OK;
    json_t *summary = json_array();
    BIO *out = BIO_new(BIO_s_mem());
    cli_ctx_init(&ctx, "ca crl", crl_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, crl_option, &next_update, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_begin_audited(&ctx)) != EXIT_OK || (rc = cli_open_ca(&ctx, 1)) != EXIT_OK)
        goto done;
    time_t now = time(NULL);
    for (size_t i = ctx.ca->n_issuers; i-- > 0;)
        if (ca_issuer_trusted(ctx.ca, &ctx.ca->issuers[i], now) &&
            (rc = crl_for_issuer(&ctx, &ctx.ca->issuers[i], next_update, out, summary)) != EXIT_OK)
            goto done;
    json_t *details = json_pack("{s:O}", "crls", summary);
    if ((rc = cli_audit_json(&ctx, "ca.crl", NULL, NULL, details)) != EXIT_OK ||
        (rc = cli_commit(&ctx)) != EXIT_OK)
        goto done;
    /* Printed only once committed: a CRL on stdout means it is audited. */
    char *pem = NULL;
    long len = BIO_get_mem_data(out, &pem);
    rc = cli_write_out(&ctx, pem, len > 0 ? (size_t)len : 0);
done:
    json_decref(summary);
    BIO_free(out);
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- ca rotate ---- */

static const char rotate_usage[] =
    "Usage: vigilctl ca rotate [--root-key FILE] [--issuing-validity DUR]\n\n"
    "Create a new issuing CA, signed by the root, and make it the one that signs.\n"
    "The previous issuing CA stays trusted (in `ca chain` and `ca crl`) until every\n"
    "certificate it may have issued has expired, so no device is cut off. Every\n"
    "vigild hears of the change when it commits (NOTIFY ca_changed) and reloads\n"
    "its trusted issuing CAs.\n\n"
    "Options:\n"
    "  --root-key FILE          the root CA key, when it is kept offline (default:\n"
    "                           root.key in the CA directory)\n"
    "  --issuing-validity DUR   lifetime of the new issuing CA (default 2y)\n" CLI_COMMON_HELP;

typedef struct rotate_args {
    const char *root_key;
    int64_t validity;
} rotate_args;

static int rotate_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    rotate_args *a = state;
    if (opt == OPT_ROOT_KEY) {
        a->root_key = arg;
        return EXIT_OK;
    }
    if (opt == OPT_ISSUING_VALIDITY)
        return cli_parse_duration(ctx, "issuing-validity", arg, &a->validity);
    return cli_usage_error(ctx, "unexpected option");
}

int cmd_ca_rotate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"root-key", required_argument, NULL, OPT_ROOT_KEY},
        {"issuing-validity", required_argument, NULL, OPT_ISSUING_VALIDITY}, CLI_COMMON_OPTIONS,
        {0}};
    cli_ctx ctx;
    rotate_args a = {NULL, 2 * 365 * 86400LL};
    ca_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "ca rotate", rotate_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, rotate_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_begin_audited(&ctx)) != EXIT_OK || (rc = cli_open_ca(&ctx, 0)) != EXIT_OK ||
        (rc = cli_load_passphrase(&ctx)) != EXIT_OK)
        goto done;
    const char *old_ski = ca_store_current(ctx.ca)->ski;
    json_t *details = json_pack("{s:s}", "previous_issuer", old_ski);
    if (ca_store_rotate(ctx.ca, a.root_key, ctx.passphrase, a.validity, &err) < 0) {
        json_decref(details);
        rc = err.status == CA_ERR_INVALID && strstr(err.msg, "passphrase")
                 ? cli_fail(&ctx, EXIT_CA, "%s", err.msg) : cli_fail_ca(&ctx, &err);
        goto done;
    }
    ca_issuer *now = ca_store_current(ctx.ca);
    json_object_set_new(details, "issuer", json_string(now->ski));
    if ((rc = cli_audit_json(&ctx, "ca.rotate", NULL, NULL, details)) != EXIT_OK ||
        (rc = cli_notify_ca_changed(&ctx, now->ski)) != EXIT_OK ||
        (rc = cli_commit(&ctx)) != EXIT_OK)
        goto done;
    printf("issuing CA %s now signs (ski %s); the previous one stays trusted while its\n"
           "certificates are in date. Running vigild nodes are told to load it.\n",
           now->id, now->ski);
done:
    cli_ctx_free(&ctx);
    return rc;
}
