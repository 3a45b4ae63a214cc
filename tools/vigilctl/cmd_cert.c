/*
 * cmd_cert.c - `vigilctl cert revoke|list|show`: the certificates the CA
 * issued, as the registry records them.
 *
 * Revocation is a registry change (the row's status) with a NOTIFY that
 * every vigild hears when it commits, closing the device's live
 * connections; the next `vigilctl ca crl` lists it for everyone else.
 */
#include "tools/vigilctl/commands.h"

#include "db/db_renewal.h"

#include <string.h>

enum { OPT_SERIAL = OPT_FIRST_COMMAND_OPTION, OPT_DEVICE, OPT_REASON, OPT_STATUS, OPT_LIMIT,
       OPT_PEM };

#define REASON_NAMES                                                                  \
    "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,\n"     \
    "cessationOfOperation, privilegeWithdrawn, aACompromise"

/* ---- cert revoke ---- */

static const char revoke_usage[] =
    "Usage: vigilctl cert revoke (--serial S | --device ID) --reason R\n\n"
    "Revoke one certificate, or every active certificate of a device. vigild\n"
    "closes the device's connections at once; the revocation appears in the next\n"
    "`vigilctl ca crl`.\n\n"
    "With --reason keyCompromise every certificate renewed from a revoked one,\n"
    "directly or through others, is revoked too, and the keys of all of them go\n"
    "on the compromised-keys list, which enrollment and renewal refuse. Every\n"
    "serial revoked is printed (--json: [{serial, device_id, reason, via}], via\n"
    "naming the certificate it was renewed from).\n\n"
    "Options:\n"
    "  --serial S     certificate serial (hex, colons allowed)\n"
    "  --device ID    all active certificates of this device\n"
    "  --reason R     RFC 5280 reason: unspecified, keyCompromise, cACompromise,\n"
    "                 affiliationChanged, superseded, cessationOfOperation,\n"
    "                 privilegeWithdrawn, aACompromise\n" CLI_COMMON_HELP;

typedef struct revoke_args {
    char serial[CA_SERIAL_HEX_MAX];
    const char *device, *reason;
} revoke_args;

static int revoke_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    revoke_args *a = state;
    ca_error err = {0};
    switch (opt) {
    case OPT_SERIAL:
        if (ca_serial_normalize(arg, a->serial, &err) < 0)
            return cli_usage_error(ctx, "--serial: %s", err.msg);
        return EXIT_OK;
    case OPT_DEVICE: a->device = arg; return EXIT_OK;
    case OPT_REASON:
        if (ca_reason_from_name(arg) < 0)
            return cli_usage_error(ctx, "unknown --reason '%s'; use one of:\n" REASON_NAMES, arg);
        a->reason = arg;
        return EXIT_OK;
    default: return cli_usage_error(ctx, "unexpected option");
    }
}

static int nothing_revoked(cli_ctx *ctx, const revoke_args *a)
{
    if (a->device)
        return cli_fail(ctx, EXIT_REFUSED, "device %s has no active certificate", a->device);
    db_error err = {0};
    PGresult *res = db_cert_get(ctx->db, a->serial, &err);
    if (!res)
        return cli_fail_db(ctx, &err);
    int known = PQntuples(res) > 0;
    PQclear(res);
    return known ? cli_fail(ctx, EXIT_REFUSED, "certificate %s is already revoked", a->serial)
                 : cli_fail(ctx, EXIT_REFUSED, "no certificate with serial %s (see `vigilctl "
                            "cert list`)", a->serial);
}

/* The revoked certificates as JSON: [{serial, device_id, reason, via?}]. */
static json_t *revoked_json(PGresult *res)
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *o = json_pack("{s:s,s:s,s:s}", "serial", PQgetvalue(res, i, 0), "device_id",
                              PQgetvalue(res, i, 1), "reason", PQgetvalue(res, i, 3));
        if (!PQgetisnull(res, i, 4))
            json_object_set_new(o, "via", json_string(PQgetvalue(res, i, 4)));
        json_array_append_new(arr, o);
    }
    return arr;
}

static void print_revoked(PGresult *res, int keys)
{
    for (int i = 0; i < PQntuples(res); i++) {
        printf("revoked %s (device %s, %s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 3));
        if (!PQgetisnull(res, i, 4))
            printf(", renewed from %s", PQgetvalue(res, i, 4));
        printf(")\n");
    }
    if (keys > 0)
        printf("%d key%s put on the compromised-keys list: enrollment and renewal refuse %s\n",
               keys, keys == 1 ? "" : "s", keys == 1 ? "it" : "them");
}

/* One transaction: the revocations (with the lineage for keyCompromise),
 * their NOTIFYs and one audit row per certificate (db_cert_revoke_audited). */
static int revoke(cli_ctx *ctx, const revoke_args *a)
{
    db_error err = {0};
    db_actor who = {"os", ctx->actor};
    int keys = 0;
    int rc = cli_begin_audited(ctx);
    PGresult *res = NULL;
    if (rc != EXIT_OK)
        return rc;
    if (!(res = db_cert_revoke_audited(ctx->db, &who, a->device ? NULL : a->serial, a->device,
                                       a->reason, ca_key_sha256, &keys, &err)))
        return cli_fail_db(ctx, &err);
    if (PQntuples(res) == 0 && keys == 0)
        rc = nothing_revoked(ctx, a);
    else if ((rc = cli_commit(ctx)) == EXIT_OK && ctx->json)
        cli_print_json(revoked_json(res));
    else if (rc == EXIT_OK)
        print_revoked(res, keys);
    PQclear(res);
    return rc;
}

int cmd_cert_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"reason", required_argument, NULL, OPT_REASON}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    revoke_args a = {{0}};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "cert revoke", revoke_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, revoke_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK)
        goto done;
    if (!a.serial[0] == !a.device)
        rc = cli_usage_error(&ctx, "give exactly one of --serial and --device");
    else if (!a.reason)
        rc = cli_usage_error(&ctx, "--reason is required; one of:\n" REASON_NAMES);
    else
        rc = revoke(&ctx, &a);
done:
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- cert list / show ---- */

static const char list_usage[] =
    "Usage: vigilctl cert list [--device ID] [--status active|revoked|expired] [--limit N]\n\n"
    "List certificates, newest first. A certificate past its notAfter shows as\n"
    "'expired'.\n\n"
    "Options:\n"
    "  --device ID    only this device's\n"
    "  --status S     active, revoked or expired\n"
    "  --limit N      at most N (default 100)\n"
    CLI_COMMON_HELP;

typedef struct list_args {
    const char *device, *status;
    int limit;
    int pem;
} list_args;

static int list_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    list_args *a = state;
    switch (opt) {
    case OPT_DEVICE: a->device = arg; return EXIT_OK;
    case OPT_STATUS:
        if (strcmp(arg, "active") && strcmp(arg, "revoked") && strcmp(arg, "expired"))
            return cli_usage_error(ctx, "--status must be active, revoked or expired");
        a->status = arg;
        return EXIT_OK;
    case OPT_LIMIT: return cli_parse_limit(ctx, arg, CLI_LIMIT_MAX, &a->limit);
    case OPT_PEM: a->pem = 1; return EXIT_OK;
    default: return cli_usage_error(ctx, "unexpected option");
    }
}

int cmd_cert_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, OPT_DEVICE},
        {"status", required_argument, NULL, OPT_STATUS},
        {"limit", required_argument, NULL, OPT_LIMIT}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    list_args a = {0};
    db_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "cert list", list_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, list_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    PGresult *res = db_certs_list(ctx.db, a.device, a.status, a.limit, &err);
    if (!res) {
        rc = cli_fail_db(&ctx, &err);
        goto done;
    }
    cli_print_result(&ctx, res, 0);
    PQclear(res);
done:
    cli_ctx_free(&ctx);
    return rc;
}

static const char show_usage[] =
    "Usage: vigilctl cert show SERIAL [--pem [--out FILE]]\n\n"
    "Show one certificate; --pem prints only its PEM.\n\n"
    "Options:\n"
    "  --pem             print the certificate as PEM\n" CLI_OUT_HELP CLI_COMMON_HELP;

static int show_cert(cli_ctx *ctx, const char *text, int pem_only)
{
    char serial[CA_SERIAL_HEX_MAX];
    ca_error cerr = {0};
    db_error err = {0};
    if (ca_serial_normalize(text, serial, &cerr) < 0)
        return cli_usage_error(ctx, "%s", cerr.msg);
    PGresult *res = db_cert_get(ctx->db, serial, &err);
    if (!res)
        return cli_fail_db(ctx, &err);
    int rc = EXIT_OK;
    if (PQntuples(res) == 0)
        rc = cli_fail(ctx, EXIT_REFUSED, "no certificate with serial %s", serial);
    else if (pem_only)
        rc = cli_write_out(ctx, PQgetvalue(res, 0, PQfnumber(res, "pem")),
                           (size_t)PQgetlength(res, 0, PQfnumber(res, "pem")));
    else
        cli_print_result(ctx, res, 1);
    PQclear(res);
    return rc;
}

int cmd_cert_show(int argc, char **argv)
{
    static const struct option opts[] = {{"pem", no_argument, NULL, OPT_PEM}, CLI_OUT_OPTION,
                                         CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    list_args a = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "cert show", show_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, list_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 1, "serial")) != EXIT_OK)
        goto done;
    if (ctx.out_path && !a.pem) {
        rc = cli_usage_error(&ctx, "--out applies to --pem");
        goto done;
    }
    if ((rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    rc = show_cert(&ctx, argv[first], a.pem);
done:
    cli_ctx_free(&ctx);
    return rc;
}
