/*
 * cmd_audit.c - `vigilctl audit`: the append-only audit log, newest first,
 * with the operator API's filters (GET /v1/audit, the same query:
 * db_audit_page) and keyset paging by row id.
 */
#include "tools/vigilctl/commands.h"

#include "db/db_admin.h"

#include <stdlib.h>
#include <string.h>

enum { OPT_ACTOR = OPT_FIRST_COMMAND_OPTION, OPT_ACTION, OPT_DEVICE, OPT_SINCE, OPT_UNTIL,
       OPT_LIMIT, OPT_AFTER, OPT_ALL };

#define AUDIT_LIMIT_MAX 1000
#define AUDIT_PAGE 1000 /* --all reads pages of this many */

static const char audit_usage[] =
    "Usage: vigilctl audit [--actor NAME] [--action A] [--device ID] [--since WHEN]\n"
    "                      [--until WHEN] [--limit N] [--after ID | --all] [--json]\n\n"
    "List audit rows, newest first: who (ACTOR_KIND os: a vigilctl user, token: an\n"
    "API token, server: vigild) did what (ACTION, e.g. device.enroll, cert.revoke,\n"
    "device.quarantine, device.release, device.decommission) to which device or\n"
    "certificate, with the details. The rows are what GET /v1/audit lists.\n\n"
    "A page holds --limit rows; when more match, the last line on stderr is\n"
    "`next page: --after ID`: run the same command with it for the next page.\n"
    "--all prints every match (with --json one array).\n\n"
    "Options:\n"
    "  --actor NAME     only rows by this actor (an OS user name, a token name)\n"
    "  --action A       only this action (device.quarantine, cert.revoke, ...)\n"
    "  --device ID      only rows about this device\n"
    "  --since WHEN     at or after WHEN\n"
    "  --until WHEN     before WHEN\n"
    "  --limit N        at most N rows a page, 1-1000 (default 100)\n"
    "  --after ID       the page after the one whose next-page line said ID\n"
    "  --all            every matching row\n\n" CLI_WHEN_HELP
    "Exit codes: 0 listed (also when nothing matches), 2 usage, 4 database problem.\n"
    CLI_COMMON_HELP;

typedef struct audit_args {
    db_audit_filter f;
    cli_when since, until;
    int has_since, has_until, limit, all;
    char after[24];
} audit_args;

static int audit_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    audit_args *a = state;
    const char **name = opt == OPT_ACTOR ? &a->f.actor : &a->f.action;
    switch (opt) {
    case OPT_ACTOR:
    case OPT_ACTION:
        if (!cli_printable_word(arg, 200))
            return cli_usage_error(ctx, "--%s: use 1-200 printable characters, no spaces",
                                   opt == OPT_ACTOR ? "actor" : "action");
        *name = arg;
        return EXIT_OK;
    case OPT_DEVICE:
        return cli_parse_device(ctx, arg, &a->f.device_id);
    case OPT_SINCE: a->has_since = 1; return cli_parse_when(ctx, "since", arg, &a->since);
    case OPT_UNTIL: a->has_until = 1; return cli_parse_when(ctx, "until", arg, &a->until);
    case OPT_LIMIT: return cli_parse_limit(ctx, arg, AUDIT_LIMIT_MAX, &a->limit);
    case OPT_ALL: a->all = 1; return EXIT_OK;
    case OPT_AFTER: {
        char *end = NULL;
        long long id = strtoll(arg, &end, 10);
        if (!end || *end || end == arg || arg[0] == '-' || arg[0] == '+' || id < 1)
            return cli_usage_error(ctx, "--after '%s' is not a row id: give the number a "
                                   "next-page line printed", arg);
        snprintf(a->after, sizeof(a->after), "%lld", id);
        return EXIT_OK;
    }
    default: return cli_usage_error(ctx, "unexpected option");
    }
}

static PGresult *fetch_audit(cli_ctx *ctx, void *state, int limit, db_error *err)
{
    audit_args *a = state;
    return db_audit_page(ctx->db, &a->f, a->after[0] ? a->after : NULL, limit, err);
}

static void advance_audit(void *state, PGresult *res, int row, char *cursor, size_t len)
{
    audit_args *a = state;
    snprintf(a->after, sizeof(a->after), "%s", PQgetvalue(res, row, 0));
    snprintf(cursor, len, "%s", a->after);
}

int cmd_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"actor", required_argument, NULL, OPT_ACTOR},
        {"action", required_argument, NULL, OPT_ACTION},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"after", required_argument, NULL, OPT_AFTER},
        {"all", no_argument, NULL, OPT_ALL}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    audit_args a = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "audit", audit_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, audit_option, &a, &rc);
    if (first < 0 || (rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK)
        goto done;
    if (a.all && a.after[0]) {
        rc = cli_usage_error(&ctx, "give --all or --after, not both");
        goto done;
    }
    if (a.has_since && a.has_until && a.since.us >= a.until.us) {
        rc = cli_usage_error(&ctx, "--since (%s) must be before --until (%s)", a.since.text,
                             a.until.text);
        goto done;
    }
    a.f.since = a.has_since ? a.since.text : NULL;
    a.f.until = a.has_until ? a.until.text : NULL;
    static const char *const columns[] = {"id",        "at",     "actor_kind", "actor", "action",
                                          "device_id", "serial", "details",    NULL};
    if ((rc = cli_open_db(&ctx)) == EXIT_OK)
        rc = cli_print_pages(&ctx,
                             &(cli_pager){fetch_audit, advance_audit, columns, NULL,
                                          a.all ? AUDIT_PAGE : a.limit > 0 ? a.limit : 100, a.all},
                             &a);
done:
    cli_ctx_free(&ctx);
    return rc;
}
