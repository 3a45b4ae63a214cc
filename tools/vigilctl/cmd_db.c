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

static int migrate_action(cli_ctx *ctx, char **args)
{
    db_error err = {0};
    int applied = 0;
    (void)args;
    if (db_migrate(ctx->db, print_applied, NULL, &applied, &err) < 0)
        return cli_fail_db(ctx, &err);
    printf("database schema is up to date (%d applied now, %zu known)\n", applied,
           db_migrations_count);
    return EXIT_OK;
}

int cmd_db_migrate(int argc, char **argv)
{
    return cli_run_db_command("db migrate", migrate_usage, argc, argv, 0, "", migrate_action);
}
