/*
 * cmd_device_tag.c - `vigilctl device tag|untag ID TAG...`: the tags that
 * group devices for a rollout (`vigilctl rollout start --group TAG`). A
 * change is one transaction with its audit row (device.tag /
 * device.untag) and a NOTIFY to every vigild (db_device_tags).
 */
#include "tools/vigilctl/commands.h"

#include "db/db_update.h"
#include "protocol/device_id.h"

#include <string.h>

static const char tag_usage[] =
    "Usage: vigilctl device tag ID TAG...\n\n"
    "Add tags to device ID (each " DEVICE_ID_RULE ").\n"
    "A device has at most 32 tags; a tag it has already is kept once. Rollouts\n"
    "started with --group TAG reach only the devices tagged TAG.\n"
    "--json prints {device_id, tags}.\n"
    "Exit codes: 0, 1 unknown device or bad tag, 2 usage, 4 database problem.\n" CLI_COMMON_HELP;

static const char untag_usage[] =
    "Usage: vigilctl device untag ID TAG...\n\n"
    "Remove tags from device ID (a tag it does not have is no error).\n"
    "--json prints {device_id, tags}.\n"
    "Exit codes: 0, 1 unknown device or bad tag, 2 usage, 4 database problem.\n" CLI_COMMON_HELP;

static int tag_run(cli_ctx *ctx, const char *id, char **tags, int n, int add)
{
    db_error err = {0};
    db_refusal why;
    db_actor who = {"os", ctx->actor};
    int rc = cli_begin_audited(ctx);
    if (rc != EXIT_OK)
        return rc;
    PGresult *res =
        db_device_tags(ctx->db, &who, id, (const char *const *)tags, n, add, &why, &err);
    if (!res)
        return cli_fail_refusal(ctx, &why, &err, "see `vigilctl device list`");
    if ((rc = cli_commit(ctx)) == EXIT_OK) {
        if (ctx->json) {
            cli_print_result(ctx, res, 1);
        } else {
            json_t *t = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
            size_t i;
            json_t *v;
            printf("device %s tags:", id);
            json_array_foreach(t, i, v) printf(" %s", json_string_value(v));
            printf("%s\n", json_array_size(t) ? "" : " (none)");
            json_decref(t);
        }
    }
    PQclear(res);
    return rc;
}

static int tag_command(int argc, char **argv, const char *command, const char *usage, int add)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, command, usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, NULL, NULL, &rc);
    if (first < 0)
        goto done;
    if (argc - first < 2)
        rc = cli_usage_error(&ctx, "give a device id and at least one tag");
    else if (argc - first - 1 > DB_DEVICE_TAGS_MAX)
        rc = cli_usage_error(&ctx, "at most %d tags at once", DB_DEVICE_TAGS_MAX);
    else if ((rc = cli_open_db(&ctx)) == EXIT_OK)
        rc = tag_run(&ctx, argv[first], argv + first + 1, argc - first - 1, add);
done:
    cli_ctx_free(&ctx);
    return rc;
}

int cmd_device_tag(int argc, char **argv)
{
    return tag_command(argc, argv, "device tag", tag_usage, 1);
}

int cmd_device_untag(int argc, char **argv)
{
    return tag_command(argc, argv, "device untag", untag_usage, 0);
}
