/*
 * cmd_ca.c - `vigilctl ca init|show|chain`: create the CA directory and
 * look at it. The commands that sign with its keys are in cmd_ca_sign.c.
 *
 * Every command that uses a CA key writes its audit row in a transaction
 * opened before the key is used and committed after the result is safely on
 * disk, so a database that is down stops the action before anything is
 * written.
 */
#include "tools/vigilctl/commands.h"

#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

/* ---- ca init ---- */

static const char init_usage[] =
    "Usage: vigilctl ca init [options]\n\n"
    "Create a CA directory (--ca-dir) with a root CA, which only ever signs issuing\n"
    "CAs and can be moved offline, and a first issuing CA, which signs device\n"
    "certificates. Key files are 0600; they are encrypted (AES-256, PKCS#8) when a\n"
    "passphrase is given. The directory must not hold a CA already.\n\n"
    "Options:\n"
    "  --key-type TYPE          p256 (default), p384 or ed25519\n"
    "  --org NAME               organisation in the CA subjects (default Vigil)\n"
    "  --root-validity DUR      root CA lifetime (default 10y)\n"
    "  --issuing-validity DUR   issuing CA lifetime (default 2y)\n"
    "  --default-validity DUR   device certificates when none is asked (default 30d)\n"
    "  --max-validity DUR       longest device certificate allowed (default 1y)\n"
    "Durations: a number and s, m, h, d, w or y (\"24h\", \"90d\").\n"
    CLI_COMMON_HELP;

enum { OPT_KEY_TYPE = OPT_FIRST_COMMAND_OPTION, OPT_ORG, OPT_ROOT_VALIDITY,
       OPT_ISSUING_VALIDITY, OPT_DEFAULT_VALIDITY, OPT_MAX_VALIDITY };

static int init_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    ca_init_opts *o = state;
    switch (opt) {
    case OPT_KEY_TYPE:
        if (ca_key_type_parse(arg, &o->key_type) < 0)
            return cli_usage_error(ctx, "--key-type must be p256, p384 or ed25519");
        return EXIT_OK;
    case OPT_ORG: o->org = arg; return EXIT_OK;
    case OPT_ROOT_VALIDITY: return cli_parse_duration(ctx, "root-validity", arg, &o->root_validity);
    case OPT_ISSUING_VALIDITY:
        return cli_parse_duration(ctx, "issuing-validity", arg, &o->issuing_validity);
    case OPT_DEFAULT_VALIDITY:
        return cli_parse_duration(ctx, "default-validity", arg, &o->default_validity);
    case OPT_MAX_VALIDITY: return cli_parse_duration(ctx, "max-validity", arg, &o->max_validity);
    default: return cli_usage_error(ctx, "unexpected option");
    }
}

static json_t *issuer_json(const ca_store *s, const ca_issuer *iss, time_t now);

int cmd_ca_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key-type", required_argument, NULL, OPT_KEY_TYPE},
        {"org", required_argument, NULL, OPT_ORG},
        {"root-validity", required_argument, NULL, OPT_ROOT_VALIDITY},
        {"issuing-validity", required_argument, NULL, OPT_ISSUING_VALIDITY},
        {"default-validity", required_argument, NULL, OPT_DEFAULT_VALIDITY},
        {"max-validity", required_argument, NULL, OPT_MAX_VALIDITY},
        CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    ca_init_opts o;
    ca_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "ca init", init_usage);
    ca_init_opts_defaults(&o);
    int first = cli_parse_options(&ctx, argc, argv, opts, init_option, &o, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_require_ca_dir(&ctx)) != EXIT_OK || (rc = cli_load_passphrase(&ctx)) != EXIT_OK ||
        (rc = cli_begin_audited(&ctx)) != EXIT_OK)
        goto done;
    o.passphrase = ctx.passphrase;
    if (ca_store_init(ctx.ca_dir, &o, &err) < 0) {
        rc = cli_fail_ca(&ctx, &err);
        goto done;
    }
    if (!(ctx.ca = ca_store_open(ctx.ca_dir, &err))) {
        rc = cli_fail_ca(&ctx, &err);
        goto done;
    }
    json_t *details = json_pack("{s:s,s:b,s:o}", "key_type", ca_key_type_name(o.key_type),
                                "encrypted", ctx.passphrase != NULL, "issuer",
                                issuer_json(ctx.ca, ca_store_current(ctx.ca), time(NULL)));
    if ((rc = cli_audit_json(&ctx, "ca.init", NULL, NULL, details)) != EXIT_OK ||
        (rc = cli_notify_ca_changed(&ctx, ca_store_current(ctx.ca)->ski)) != EXIT_OK ||
        (rc = cli_commit(&ctx)) != EXIT_OK)
        goto done;
    printf("created CA in %s (%s keys%s)\n", ctx.ca_dir, ca_key_type_name(o.key_type),
           ctx.passphrase ? ", encrypted" : ", NOT encrypted: give a passphrase in production");
    printf("root.key signs only issuing CAs: keep a copy offline and remove it from this host\n"
           "once you do not plan to rotate from here.\n");
done:
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- ca show ---- */

static const char show_usage[] =
    "Usage: vigilctl ca show [options]\n\n"
    "Describe the CA directory: the root, each issuing CA and whether it is still\n"
    "trusted, and the validity policy for device certificates.\n"
    CLI_COMMON_HELP;

static json_t *time_json(time_t t)
{
    char buf[CA_TIME_STR];
    if (t == 0)
        return json_null();
    ca_format_time(t, buf);
    return json_string(buf);
}

static json_t *cert_times_json(json_t *obj, X509 *cert)
{
    time_t nb = 0, na = 0;
    ca_asn1_time_to_unix(X509_get0_notBefore(cert), &nb);
    ca_asn1_time_to_unix(X509_get0_notAfter(cert), &na);
    json_object_set_new(obj, "not_before", time_json(nb));
    json_object_set_new(obj, "not_after", time_json(na));
    return obj;
}

static json_t *subject_json(X509 *cert)
{
    char *text = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
    json_t *v = json_string(text ? text : "");
    OPENSSL_free(text);
    return v;
}

static json_t *issuer_json(const ca_store *s, const ca_issuer *iss, time_t now)
{
    const char *state = iss->retired_at == 0 ? "current"
                        : ca_issuer_trusted(s, iss, now) ? "retired, trusted"
                                                         : "retired, no longer trusted";
    json_t *obj = json_pack("{s:s,s:s,s:o,s:s}", "id", iss->id, "ski", iss->ski, "subject",
                            subject_json(iss->cert), "state", state);
    json_object_set_new(obj, "retired_at", time_json(iss->retired_at));
    return cert_times_json(obj, iss->cert);
}

static json_t *store_json(ca_store *s)
{
    time_t now = time(NULL);
    json_t *issuers = json_array();
    for (size_t i = 0; i < s->n_issuers; i++)
        json_array_append_new(issuers, issuer_json(s, &s->issuers[i], now));
    json_t *root = cert_times_json(json_pack("{s:o}", "subject", subject_json(s->root)), s->root);
    return json_pack("{s:s,s:s,s:b,s:I,s:I,s:o,s:o}", "dir", s->dir, "key_type",
                     ca_key_type_name(s->key_type), "encrypted", s->encrypted,
                     "default_validity_seconds", (json_int_t)s->default_validity,
                     "max_validity_seconds", (json_int_t)s->max_validity, "root", root,
                     "issuers", issuers);
}

static void print_store(json_t *info)
{
    json_t *root = json_object_get(info, "root");
    printf("CA directory      %s\n", json_string_value(json_object_get(info, "dir")));
    printf("key type          %s%s\n", json_string_value(json_object_get(info, "key_type")),
           json_is_true(json_object_get(info, "encrypted")) ? " (encrypted)" : "");
    printf("device validity   default %llds, max %llds\n",
           (long long)json_integer_value(json_object_get(info, "default_validity_seconds")),
           (long long)json_integer_value(json_object_get(info, "max_validity_seconds")));
    printf("root              %s, until %s\n",
           json_string_value(json_object_get(root, "subject")),
           json_string_value(json_object_get(root, "not_after")));
    size_t i;
    json_t *iss;
    json_array_foreach(json_object_get(info, "issuers"), i, iss)
        printf("issuer %s       %s, until %s, %s\n  ski %s\n",
               json_string_value(json_object_get(iss, "id")),
               json_string_value(json_object_get(iss, "subject")),
               json_string_value(json_object_get(iss, "not_after")),
               json_string_value(json_object_get(iss, "state")),
               json_string_value(json_object_get(iss, "ski")));
}

int cmd_ca_show(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "ca show", show_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, NULL, NULL, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_open_ca(&ctx, 0)) != EXIT_OK)
        goto done;
    json_t *info = store_json(ctx.ca);
    if (ctx.json) {
        cli_print_json(info);
    } else {
        print_store(info);
        json_decref(info);
    }
done:
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- ca chain ---- */

static const char chain_usage[] =
    "Usage: vigilctl ca chain [--out FILE] [options]\n\n"
    "Print, as PEM on stdout, every trusted issuing CA (newest first) and then the\n"
    "root: what a TLS peer needs to verify a device certificate, old or new.\n\n"
    "Options:\n" CLI_OUT_HELP CLI_COMMON_HELP;

int cmd_ca_chain(int argc, char **argv)
{
    static const struct option opts[] = {CLI_OUT_OPTION, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    int rc = EXIT_OK;
    BIO *out = BIO_new(BIO_s_mem());
    cli_ctx_init(&ctx, "ca chain", chain_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, NULL, NULL, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_open_ca(&ctx, 0)) != EXIT_OK)
        goto done;
    time_t now = time(NULL);
    int ok = out != NULL;
    for (size_t i = ctx.ca->n_issuers; ok && i-- > 0;)
        if (ca_issuer_trusted(ctx.ca, &ctx.ca->issuers[i], now))
            ok = PEM_write_bio_X509(out, ctx.ca->issuers[i].cert);
    ok = ok && PEM_write_bio_X509(out, ctx.ca->root);
    char *pem = NULL;
    long len = ok ? BIO_get_mem_data(out, &pem) : 0;
    rc = ok && len > 0 ? cli_write_out(&ctx, pem, (size_t)len)
                       : cli_fail(&ctx, EXIT_INTERNAL, "out of memory encoding the chain");
done:
    BIO_free(out);
    cli_ctx_free(&ctx);
    return rc;
}
