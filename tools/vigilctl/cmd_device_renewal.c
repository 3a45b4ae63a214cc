/*
 * cmd_device_renewal.c - `vigilctl device allow-renewal`: a one-time,
 * time-limited permission for a device to renew with its newest
 * certificate even though it has expired (a device that was switched off
 * past its certificate's lifetime). The grant, its audit row and its NOTIFY
 * are db_renewal_grant's, the same as the operator API's.
 */
#include "tools/vigilctl/commands.h"

#include "db/db_renewal.h"

enum { OPT_UNTIL = OPT_FIRST_COMMAND_OPTION };

static const char allow_usage[] =
    "Usage: vigilctl device allow-renewal ID --until TIME\n\n"
    "Allow device ID to renew once, until TIME, with its newest certificate (the\n"
    "one with the latest notAfter), whether or not that certificate has expired.\n"
    "The first renewal spends the grant. A device has at most one open grant: a\n"
    "new one replaces it. Refused for an unknown or decommissioned device, a device\n"
    "without a certificate, and a newest certificate that is revoked (re-enroll\n"
    "the device instead). Every vigild hears of the grant when it commits.\n\n"
    "Options:\n"
    "  --until TIME   RFC 3339 (2026-12-08T00:00:00Z) or a duration from now (7d,\n"
    "                 90m); in the future and at most 30 days ahead\n"
    "--json prints {device_id, serial, fingerprint_sha256, granted_at, expires_at,\n"
    "replaced}; replaced is the open grant this one replaced, or null.\n" CLI_COMMON_HELP;

static int allow_renewal(cli_ctx *ctx, const char *id, const char *until)
{
    db_error err = {0};
    db_refusal why;
    db_actor who = {"os", ctx->actor};
    int rc = cli_begin_audited(ctx);
    if (rc != EXIT_OK)
        return rc;
    PGresult *res = db_renewal_grant(ctx->db, &who, id, until, &why, &err);
    if (!res)
        return cli_fail_refusal(ctx, &why, &err, "see `vigilctl device list`");
    if ((rc = cli_commit(ctx)) == EXIT_OK) {
        if (ctx->json)
            cli_print_result(ctx, res, 1);
        else
            printf("device %s may renew once with certificate %s until %s%s\n", id,
                   PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 4),
                   PQgetisnull(res, 0, 5) ? "" : " (it replaces the open grant)");
    }
    PQclear(res);
    return rc;
}

int cmd_device_allow_renewal(int argc, char **argv)
{
    static const struct option opts[] = {
        {"until", required_argument, NULL, OPT_UNTIL}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    const char *until = NULL;
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "device allow-renewal", allow_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, cli_string_option, &until, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 1, "device id")) != EXIT_OK)
        goto done;
    if (!until)
        rc = cli_usage_error(&ctx, "--until is required: RFC 3339 or a duration such as 7d");
    else
        rc = allow_renewal(&ctx, argv[first], until);
done:
    cli_ctx_free(&ctx);
    return rc;
}
