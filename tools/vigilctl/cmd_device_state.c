/*
 * cmd_device_state.c - `vigilctl device quarantine|release|decommission`:
 * an operator's change of a device's status, the same as the operator
 * API's POST /v1/devices/{id}/quarantine|release|decommission. Both go
 * through db_device_transition, so the audit row (device.quarantine,
 * device.release, device.decommission with {"from","to","reason"}) and the
 * NOTIFY on which every vigild acts when it commits (a decommissioned
 * device's connections are closed) are the same from either.
 */
#include "tools/vigilctl/commands.h"

#include "db/db_admin.h"
#include "protocol/device_id.h"

#include <string.h>

enum { OPT_REASON = OPT_FIRST_COMMAND_OPTION };

#define REASON_MAX_CHARS 256 /* as the API's status change */

#define STATE_HELP_TAIL                                                                   \
    "Options:\n"                                                                          \
    "  --reason TEXT     why (1-256 characters, no control characters), kept in the\n"  \
    "                    audit row (`vigilctl audit --device ID`)\n"                     \
    "Asking for the status the device already has changes nothing and exits 0.\n"       \
    "--json prints the device as it now is, with \"changed\" (true or false).\n"          \
    "Exit codes: 0 done, 1 no such device or the device is decommissioned, 2 usage,\n"  \
    "4 database problem.\n" CLI_COMMON_HELP

static const char quarantine_usage[] =
    "Usage: vigilctl device quarantine ID [--reason TEXT]\n\n"
    "Quarantine a device: it still connects and reports, and its reports are marked\n"
    "(`vigilctl incidents --quarantined true`); it cannot renew its certificate and\n"
    "is offered no update. `vigilctl device release ID` ends it; `device show ID`\n"
    "says who quarantined it, when and why.\n\n" STATE_HELP_TAIL;

static const char release_usage[] =
    "Usage: vigilctl device release ID [--reason TEXT]\n\n"
    "End a device's quarantine: it is active again (renewal and updates as before).\n\n"
    STATE_HELP_TAIL;

static const char decommission_usage[] =
    "Usage: vigilctl device decommission ID [--reason TEXT]\n\n"
    "Decommission a device, for good: every vigild closes its live connections when\n"
    "this commits and refuses it from then on; it can never be enrolled, renewed or\n"
    "released again (enroll the hardware under a new id).\n\n" STATE_HELP_TAIL;

/* 1-256 characters (UTF-8 continuation bytes not counted), no control
 * characters: what the API takes. */
static int reason_valid(const char *s)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return 0;
        if ((*p & 0xc0) != 0x80 && ++chars > REASON_MAX_CHARS)
            return 0;
    }
    return chars >= 1;
}

static int reason_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    if (opt != OPT_REASON)
        return cli_usage_error(ctx, "unexpected option");
    if (!reason_valid(arg))
        return cli_usage_error(ctx,
                               "--reason must be 1 to %d characters without control "
                               "characters",
                               REASON_MAX_CHARS);
    *(const char **)state = arg;
    return EXIT_OK;
}

static void print_change(cli_ctx *ctx, PGresult *res, const char *id, const char *to,
                         int changed)
{
    if (ctx->json) {
        json_t *obj = cli_result_row_json(res, 0);
        json_object_set_new(obj, "changed", json_boolean(changed));
        cli_print_json(obj);
    } else if (!changed) {
        printf("device %s is already %s: nothing changed\n", id, to);
    } else if (strcmp(to, "decommissioned") == 0) {
        printf("device %s decommissioned: its connections are closed and it is refused "
               "from now on\n",
               id);
    } else if (strcmp(to, "quarantined") == 0) {
        printf("device %s quarantined: its reports are marked; it cannot renew and is "
               "offered no update (`vigilctl device release %s` ends it)\n",
               id, id);
    } else {
        printf("device %s released: it is active again\n", id);
    }
}

static int transition(int argc, char **argv, const char *command, const char *usage,
                      const char *action, const char *to)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, OPT_REASON}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    const char *reason = NULL;
    db_error err = {0};
    db_refusal why;
    int rc = EXIT_OK, changed = 0;
    cli_ctx_init(&ctx, command, usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, reason_option, &reason, &rc);
    if (first < 0 || (rc = cli_expect_args(&ctx, argc, argv, first, 1, "device id")) != EXIT_OK)
        goto done;
    const char *id = argv[first];
    if (!device_id_valid(id)) {
        rc = cli_usage_error(&ctx, "'%s' is not a device id: use " DEVICE_ID_RULE, id);
        goto done;
    }
    if ((rc = cli_begin_audited(&ctx)) != EXIT_OK)
        goto done;
    db_actor who = {"os", ctx.actor};
    PGresult *res = db_device_transition(ctx.db, &who, id, to, action, reason, &changed, &why,
                                         &err);
    if (!res) {
        rc = cli_fail_refusal(&ctx, &why, &err, "see `vigilctl device list`");
        goto done;
    }
    if ((rc = cli_commit(&ctx)) == EXIT_OK)
        print_change(&ctx, res, id, to, changed);
    PQclear(res);
done:
    cli_ctx_free(&ctx);
    return rc;
}

int cmd_device_quarantine(int argc, char **argv)
{
    return transition(argc, argv, "device quarantine", quarantine_usage, "device.quarantine",
                      "quarantined");
}

int cmd_device_release(int argc, char **argv)
{
    return transition(argc, argv, "device release", release_usage, "device.release", "active");
}

int cmd_device_decommission(int argc, char **argv)
{
    return transition(argc, argv, "device decommission", decommission_usage,
                      "device.decommission", "decommissioned");
}
