/*
 * cmd_db.c - `vigilctl db migrate`: bring the database schema up to date.
 * The migrations are compiled into the binary (db/migrations); applying
 * them is idempotent and safe to run from several hosts at once.
 */
#include "tools/vigilctl/commands.h"

static const char migrate_usage[] =
    "Usage: vigilctl db migrate [options]\n\n"
    "Apply the schema migrations that the database does not have yet, each in its\n"
    "own transaction. Running it again, or from two places at once, is safe.\n"
    CLI_COMMON_HELP;

static void print_applied(const char *name, void *arg)
{
    (void)arg;
    printf("applied %s\n", name);
}

int cmd_db_migrate(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    db_error err = {0};
    int applied = 0, rc = EXIT_OK;
    cli_ctx_init(&ctx, "db migrate", migrate_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, NULL, NULL, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    if (db_migrate(ctx.db, print_applied, NULL, &applied, &err) < 0) {
        rc = cli_fail_db(&ctx, &err);
        goto done;
    }
    printf("database schema is up to date (%d applied now, %zu known)\n", applied,
           db_migrations_count);
done:
    cli_ctx_free(&ctx);
    return rc;
}
