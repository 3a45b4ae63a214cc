/*
 * cmd_ca_policy.c - `vigilctl ca policy`: show or change the CA's renewal
 * policy (the ca_policy row vigild reads before every renewal). A change is
 * one transaction with its audit row (ca.policy, the old and new policy).
 */
#include "tools/vigilctl/commands.h"

#include "db/db_renewal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_SAME_KEY = OPT_FIRST_COMMAND_OPTION, OPT_VALIDITY, OPT_PER_HOUR, OPT_SUPERSEDED };

#define VALIDITY_MIN 60
#define VALIDITY_MAX 315360000LL /* ca_policy's CHECK: ten years */

static const char policy_usage[] =
    "Usage: vigilctl ca policy [--renew-same-key allow|deny] [--renewal-validity DUR]\n"
    "                          [--renewals-per-hour N] [--revoke-superseded-after DUR|never]\n\n"
    "Without options, show the renewal policy vigild applies when a device renews\n"
    "its certificate over EST. With options, change those given (the rest stay)\n"
    "in one transaction with an audit row (ca.policy, old and new values); vigild\n"
    "reads the policy at every renewal.\n\n"
    "Options:\n"
    "  --renew-same-key allow|deny     may a renewal keep the device's key? (default\n"
    "                                  allow; deny makes every renewal bring a new key)\n"
    "  --renewal-validity DUR          lifetime of a renewed certificate (default 24h;\n"
    "                                  at least 60s, at most the CA's max validity when\n"
    "                                  the CA directory is given)\n"
    "  --renewals-per-hour N           renewals a device may make per hour, 1 to 3600\n"
    "                                  (default 6)\n"
    "  --revoke-superseded-after DUR|never\n"
    "                                  revoke a renewed-away certificate automatically\n"
    "                                  this long after its renewal (default never: it\n"
    "                                  stays valid until it expires)\n"
    "Durations: a whole number and s, m, h, d, w or y (\"60s\", \"1m\", "
    "\"24h\").\n" CLI_COMMON_HELP;

static int policy_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    db_ca_policy_change *c = state;
    char *end = NULL;
    long n;
    switch (opt) {
    case OPT_SAME_KEY:
        if (strcmp(arg, "allow") && strcmp(arg, "deny"))
            return cli_usage_error(ctx, "--renew-same-key must be allow or deny, not '%s'", arg);
        c->renew_same_key = strcmp(arg, "allow") == 0;
        return EXIT_OK;
    case OPT_VALIDITY:
        if (cli_parse_duration(ctx, "renewal-validity", arg, &c->renewal_validity) != EXIT_OK)
            return EXIT_USAGE;
        if (c->renewal_validity < VALIDITY_MIN || c->renewal_validity > VALIDITY_MAX)
            return cli_usage_error(ctx,
                                   "--renewal-validity %s is out of range: give 60s to "
                                   "10y (renewed certificates should be short-lived, e.g. 24h)",
                                   arg);
        return EXIT_OK;
    case OPT_PER_HOUR:
        errno = 0;
        n = strtol(arg, &end, 10);
        if (errno || end == arg || *end || n < 1 || n > 3600)
            return cli_usage_error(ctx,
                                   "--renewals-per-hour must be a number from 1 to 3600, "
                                   "not '%s'",
                                   arg);
        c->renewals_per_hour = (int)n;
        return EXIT_OK;
    case OPT_SUPERSEDED:
        if (strcmp(arg, "never") == 0) {
            c->revoke_superseded = 2;
            return EXIT_OK;
        }
        c->revoke_superseded = 1;
        return cli_parse_duration(ctx, "revoke-superseded-after", arg, &c->revoke_superseded_after);
    default:
        return cli_usage_error(ctx, "unexpected option");
    }
}

static int policy_changes(const db_ca_policy_change *c)
{
    return c->renew_same_key >= 0 || c->renewal_validity || c->renewals_per_hour ||
           c->revoke_superseded;
}

static void print_policy(json_t *p)
{
    json_int_t grace = json_integer_value(json_object_get(p, "revoke_superseded_after_seconds"));
    printf("renew same key            %s\n",
           json_is_true(json_object_get(p, "renew_same_key")) ? "allow" : "deny");
    printf("renewal validity          %llds\n",
           (long long)json_integer_value(json_object_get(p, "renewal_validity_seconds")));
    printf("renewals per hour         %lld\n",
           (long long)json_integer_value(json_object_get(p, "renewals_per_hour")));
    if (json_is_null(json_object_get(p, "revoke_superseded_after_seconds")))
        printf("revoke superseded after   never\n");
    else
        printf("revoke superseded after   %llds\n", (long long)grace);
    printf("updated at                %s\n", json_string_value(json_object_get(p, "updated_at")));
}

/* The policy row as JSON; NULL after printing the failure. */
static json_t *policy_json(cli_ctx *ctx, PGresult *res, const db_error *err, int *rc)
{
    json_t *p = NULL;
    if (!res)
        *rc = cli_fail_db(ctx, err);
    else if (PQntuples(res) != 1)
        *rc = cli_fail(ctx, EXIT_DB, "the ca_policy row is missing: run `vigilctl db migrate`");
    else if (!(p = db_row_json(res, 0)))
        *rc = cli_fail(ctx, EXIT_INTERNAL, "out of memory");
    PQclear(res);
    return p;
}

/* The CA's longest device certificate, when a CA directory is given. */
static int check_max_validity(cli_ctx *ctx, const db_ca_policy_change *c)
{
    int rc;
    if (!c->renewal_validity || !ctx->ca_dir || !ctx->ca_dir[0])
        return EXIT_OK;
    if ((rc = cli_open_ca(ctx, 0)) != EXIT_OK)
        return rc;
    if (c->renewal_validity > ctx->ca->max_validity)
        return cli_fail(ctx, EXIT_REFUSED,
                        "--renewal-validity %" PRId64 "s is longer than "
                        "the CA's max validity %" PRId64 "s (ca.json in %s): give at most "
                        "%" PRId64 "s",
                        c->renewal_validity, (int64_t)ctx->ca->max_validity, ctx->ca_dir,
                        (int64_t)ctx->ca->max_validity);
    return EXIT_OK;
}

static int set_policy(cli_ctx *ctx, const db_ca_policy_change *c)
{
    db_error err = {0};
    json_t *old = NULL, *now = NULL;
    int rc = check_max_validity(ctx, c);
    if (rc != EXIT_OK || (rc = cli_begin_audited(ctx)) != EXIT_OK)
        return rc;
    if (!(old = policy_json(ctx, db_ca_policy_get(ctx->db, 1, &err), &err, &rc)) ||
        !(now = policy_json(ctx, db_ca_policy_set(ctx->db, c, &err), &err, &rc)))
        goto done;
    json_t *details = json_pack("{s:O,s:O}", "old", old, "new", now);
    if ((rc = cli_audit_json(ctx, "ca.policy", NULL, NULL, details)) != EXIT_OK ||
        (rc = cli_commit(ctx)) != EXIT_OK)
        goto done;
    if (ctx->json) {
        cli_print_json(now);
        now = NULL;
    } else {
        print_policy(now);
    }
done:
    json_decref(old);
    json_decref(now);
    return rc;
}

static int show_policy(cli_ctx *ctx)
{
    db_error err = {0};
    int rc = cli_open_db(ctx);
    json_t *p;
    if (rc != EXIT_OK || !(p = policy_json(ctx, db_ca_policy_get(ctx->db, 0, &err), &err, &rc)))
        return rc;
    if (ctx->json) {
        cli_print_json(p);
        return EXIT_OK;
    }
    print_policy(p);
    json_decref(p);
    return EXIT_OK;
}

int cmd_ca_policy(int argc, char **argv)
{
    static const struct option opts[] = {
        {"renew-same-key", required_argument, NULL, OPT_SAME_KEY},
        {"renewal-validity", required_argument, NULL, OPT_VALIDITY},
        {"renewals-per-hour", required_argument, NULL, OPT_PER_HOUR},
        {"revoke-superseded-after", required_argument, NULL, OPT_SUPERSEDED},
        CLI_COMMON_OPTIONS,
        {0}};
    cli_ctx ctx;
    db_ca_policy_change c = {.renew_same_key = -1};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "ca policy", policy_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, policy_option, &c, &rc);
    if (first >= 0 && (rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) == EXIT_OK)
        rc = policy_changes(&c) ? set_policy(&ctx, &c) : show_policy(&ctx);
    cli_ctx_free(&ctx);
    return rc;
}
