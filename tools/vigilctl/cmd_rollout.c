/*
 * cmd_rollout.c - `vigilctl rollout start|widen|pause|resume|abort|status|
 * list`: staged rollouts of a release to a share of its class.
 *
 * A device is in a rollout when its bucket, SHA-256("<rollout id>:<device
 * id>") (protocol/rollout.h), is under the rollout's basis points, so
 * widening only adds devices. Every change is one transaction with its
 * audit row and a NOTIFY that every vigild follows; the checks are
 * db_rollout.c's, the same as the operator API's.
 */
#include "tools/vigilctl/commands.h"
#include "tools/vigilctl/release.h"

#include "db/db_update.h"
#include "protocol/device_id.h"
#include "protocol/manifest.h"
#include "protocol/rollout.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_PERCENT = OPT_FIRST_COMMAND_OPTION,
    OPT_CLASS,
    OPT_ERROR_THRESHOLD,
    OPT_MIN_REPORTS,
    OPT_HEALTH_WINDOW,
    OPT_HEALTH_RATIO,
    OPT_HEALTH_MIN_CRASHES,
    OPT_GROUP,
    OPT_LIVE,
    OPT_LIMIT,
};

#define ROLLOUT_EXIT_HELP                                                                          \
    "Exit codes: 0 done, 1 refused (unknown rollout or release, a move its state\n"                \
    "forbids), 2 usage, 4 database problem.\n"

static const char start_usage[] =
    "Usage: vigilctl rollout start VERSION|REF --percent P [--class CLASS]\n"
    "                              [--error-threshold F] [--min-reports N]\n"
    "                              [--health-window DUR] [--health-ratio R]\n"
    "                              [--health-min-crashes N] [--group TAG]\n\n"
    "Offer a release to P percent of the active devices of its class (with --group,\n"
    "of those tagged TAG: `vigilctl device tag`). A class has one live rollout:\n"
    "starting one supersedes the class's live rollout (audited). The release is\n"
    "named by VERSION (with --class when several classes have it), CLASS/VERSION\n"
    "or its id; a revoked or expired release is refused.\n\n"
    "It halts by itself, recording why (see `rollout status`):\n"
    "  - install failures: more than F of the devices that reported installed or\n"
    "    failed have failed, once N have reported;\n"
    "  - health: the devices that installed it report crash and watchdog_reset\n"
    "    incidents within DUR of their install more than R times as often per\n"
    "    device-hour as the class's devices still on the previous version, over\n"
    "    the same period (and at least --health-min-crashes times).\n"
    "A halted rollout offers nothing until resumed or aborted.\n\n"
    "Options:\n"
    "  --percent P              0.01 to 100, up to two decimals (2.5 = 250 of 10000)\n"
    "  --class CLASS            the class of VERSION, when several have it\n"
    "  --error-threshold F      share of failed installs that halts it, above 0 and\n"
    "                           at most 1 (default 0.1)\n"
    "  --min-reports N          reports before the failure share counts (default 5)\n"
    "  --health-window DUR      how long after its install a device is watched\n"
    "                           (default 24h; 60s to 365d)\n"
    "  --health-ratio R         crash rate ratio that halts it, at least 1 (default 2)\n"
    "  --health-min-crashes N   crashes of updated devices before the ratio counts\n"
    "                           (default 3)\n"
    "  --group TAG              only devices tagged TAG\n"
    "--json prints the rollout as `rollout status --json`.\n" ROLLOUT_EXIT_HELP RELEASE_COMMON_HELP;

static const char widen_usage[] =
    "Usage: vigilctl rollout widen ID --percent P\n\n"
    "Reach more devices: P must be above the rollout's percent (every device in\n"
    "stays in; widening never drops one). Any live state (running, paused,\n"
    "halted). Audited rollout.widen.\n\n"
    "Options:\n"
    "  --percent P   0.01 to 100, up to two decimals\n"
    "--json prints the rollout as `rollout status --json`.\n" ROLLOUT_EXIT_HELP RELEASE_COMMON_HELP;

static const char pause_usage[] =
    "Usage: vigilctl rollout pause ID\n\n"
    "Stop offering a running rollout's release (devices that have it keep it;\n"
    "their reports still count). `rollout resume` goes on. Audited rollout.paused.\n"
    "--json prints the rollout.\n" ROLLOUT_EXIT_HELP RELEASE_COMMON_HELP;

static const char resume_usage[] =
    "Usage: vigilctl rollout resume ID\n\n"
    "Offer a paused or halted rollout's release again. After a halt, its reason\n"
    "is cleared and the automatic checks start afresh: they count only install\n"
    "reports and crashes from the resume on, so the figures that halted it do\n"
    "not halt it again (after a pause they go on counting). Audited\n"
    "rollout.running.\n"
    "--json prints the rollout.\n" ROLLOUT_EXIT_HELP RELEASE_COMMON_HELP;

static const char abort_usage[] =
    "Usage: vigilctl rollout abort ID\n\n"
    "End a live rollout for good: nothing more is offered; start a new rollout to\n"
    "go on. Audited rollout.aborted.\n"
    "--json prints the rollout.\n" ROLLOUT_EXIT_HELP RELEASE_COMMON_HELP;

static const char status_usage[] =
    "Usage: vigilctl rollout status ID\n\n"
    "Show a rollout: its state and why it halted, the release, its reach, how many\n"
    "devices are eligible (active, of the class and group, bucket in), the\n"
    "devices per state (offered, downloading, installed, failed), and the health\n"
    "figures: crash and watchdog_reset incidents per device-hour of the updated\n"
    "devices within the window after their install, and of the control devices\n"
    "(the class's others, not on this version) over the same span.\n"
    "--json prints every figure.\n" ROLLOUT_EXIT_HELP RELEASE_COMMON_HELP;

static const char list_usage[] = "Usage: vigilctl rollout list [--live] [--limit N]\n\n"
                                 "Rollouts, newest first.\n\n"
                                 "Options:\n"
                                 "  --live      only live ones (running, paused, halted)\n"
                                 "  --limit N   at most N (default 100)\n"
                                 "--json prints every column.\n" RELEASE_COMMON_HELP;

/* ---- arguments ---- */

static int parse_id(cli_ctx *ctx, const char *text, int64_t *id)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 1 || text[0] == '+')
        return cli_usage_error(ctx,
                               "rollout id must be a positive number, not '%s' (see "
                               "`vigilctl rollout list`)",
                               text);
    *id = v;
    return EXIT_OK;
}

static int parse_percent(cli_ctx *ctx, const char *text, int *bp)
{
    if (rollout_percent_parse(text, bp) < 0)
        return cli_usage_error(ctx,
                               "--percent '%s': give 0.01 to 100 with at most two decimals "
                               "(10, 2.5)",
                               text);
    return EXIT_OK;
}

static int parse_number(cli_ctx *ctx, const char *opt, const char *text, double lo, double hi,
                        int lo_open, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || v > hi || v < lo || (lo_open && v == lo))
        return cli_usage_error(ctx, "--%s must be a number %s %g and at most %g, not '%s'", opt,
                               lo_open ? "above" : "from", lo, hi, text);
    *out = v;
    return EXIT_OK;
}

static int parse_count(cli_ctx *ctx, const char *opt, const char *text, int *out)
{
    double v;
    if (parse_number(ctx, opt, text, 1, DB_ROLLOUT_COUNT_MAX, 0, &v) != EXIT_OK)
        return EXIT_USAGE;
    if (v != floor(v))
        return cli_usage_error(ctx, "--%s must be a whole number, not '%s'", opt, text);
    *out = (int)v;
    return EXIT_OK;
}

typedef struct start_args {
    db_rollout_new r;
    const char *device_class;
    int percent_given;
} start_args;

static int start_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    start_args *a = state;
    switch (opt) {
    case OPT_PERCENT:
        a->percent_given = 1;
        return parse_percent(ctx, arg, &a->r.basis_points);
    case OPT_CLASS:
        return cli_parse_class(ctx, arg, &a->device_class);
    case OPT_ERROR_THRESHOLD:
        return parse_number(ctx, "error-threshold", arg, 0, 1, 1, &a->r.error_threshold);
    case OPT_MIN_REPORTS:
        return parse_count(ctx, "min-reports", arg, &a->r.min_reports);
    case OPT_HEALTH_WINDOW:
        if (cli_parse_duration(ctx, "health-window", arg, &a->r.health_window_s) != EXIT_OK)
            return EXIT_USAGE;
        if (a->r.health_window_s < DB_ROLLOUT_HEALTH_WINDOW_MIN_S ||
            a->r.health_window_s > DB_ROLLOUT_HEALTH_WINDOW_MAX_S)
            return cli_usage_error(ctx, "--health-window %s: give 60s to 365d", arg);
        return EXIT_OK;
    case OPT_HEALTH_RATIO:
        return parse_number(ctx, "health-ratio", arg, 1, DB_ROLLOUT_HEALTH_RATIO_MAX, 0,
                            &a->r.health_ratio);
    case OPT_HEALTH_MIN_CRASHES:
        return parse_count(ctx, "health-min-crashes", arg, &a->r.health_min_crashes);
    case OPT_GROUP:
        if (!device_id_valid(arg))
            return cli_usage_error(ctx, "--group '%s': a tag is " DEVICE_ID_RULE, arg);
        a->r.group_tag = arg;
        return EXIT_OK;
    default:
        return cli_usage_error(ctx, "unexpected option");
    }
}

/* ---- output ---- */

static const char *col(PGresult *res, const char *name)
{
    int c = PQfnumber(res, name);
    return c < 0 || PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c);
}

/* "24h", "90m", "7d", "61s" */
static void duration_text(int64_t s, char out[24])
{
    if (s % 86400 == 0 && s >= 2 * 86400)
        snprintf(out, 24, "%" PRId64 "d", s / 86400);
    else if (s % 3600 == 0)
        snprintf(out, 24, "%" PRId64 "h", s / 3600);
    else if (s % 60 == 0)
        snprintf(out, 24, "%" PRId64 "m", s / 60);
    else
        snprintf(out, 24, "%" PRId64 "s", s);
}

static void print_health(PGresult *res)
{
    printf("%-20s updated: %s devices, %s crashes in %.2f device-hours (%.4f per hour)\n",
           "health now", col(res, "updated_devices"), col(res, "updated_crashes"),
           atof(col(res, "updated_device_hours")), atof(col(res, "updated_rate")));
    printf("%-20s control: %s devices, %s crashes in %.2f device-hours (%.4f per hour)\n", "",
           col(res, "control_devices"), col(res, "control_crashes"),
           atof(col(res, "control_device_hours")), atof(col(res, "control_rate")));
}

/* The rollout row of db_rollout_get, as text or JSON. */
static void print_rollout(const cli_ctx *ctx, PGresult *res)
{
    char window[24], percent[ROLLOUT_PERCENT_LEN];
    if (ctx->json) {
        cli_print_result(ctx, res, 1);
        return;
    }
    rollout_percent_format(atoi(col(res, "basis_points")), percent);
    duration_text(strtoll(col(res, "health_window_s"), NULL, 10), window);
    printf("%-20s %s\n", "rollout", col(res, "id"));
    printf("%-20s %s\n", "state", col(res, "state"));
    if (col(res, "halt_reason"))
        printf("%-20s %s\n", "halt reason", col(res, "halt_reason"));
    printf("%-20s %s (class %s, release %s, security version %s)\n", "release", col(res, "version"),
           col(res, "device_class"), col(res, "release_id"), col(res, "security_version"));
    printf("%-20s %s%% of the active devices of class %s%s%s\n", "reach", percent,
           col(res, "device_class"), col(res, "group_tag") ? " tagged " : "",
           col(res, "group_tag") ? col(res, "group_tag") : "");
    printf("%-20s %s devices\n", "eligible", col(res, "eligible"));
    printf("%-20s offered %s, downloading %s, installed %s, failed %s\n", "devices",
           col(res, "offered"), col(res, "downloading"), col(res, "installed"), col(res, "failed"));
    printf("%-20s more than %g%% of the installed-or-failed reports failed (once %s\n"
           "%-20s have reported)\n",
           "halts on failures", 100 * atof(col(res, "error_threshold")), col(res, "min_reports"),
           "");
    printf("%-20s updated devices crash over %gx as often as the others within %s of\n"
           "%-20s their install (and at least %s times)\n",
           "halts on health", atof(col(res, "health_ratio")), window, "",
           col(res, "health_min_crashes"));
    print_health(res);
    printf("%-20s %s by %s; last change %s\n", "started", col(res, "started_at"),
           col(res, "created_by"), col(res, "updated_at"));
}

/* ---- rollout start ---- */

static int start_run(cli_ctx *ctx, start_args *a, const char *release)
{
    db_error err = {0};
    db_refusal why;
    db_actor who = {"os", ctx->actor};
    db_rollout_superseded old;
    char ref[DEVICE_ID_MAX + MANIFEST_VERSION_MAX + 2];
    if (a->device_class)
        snprintf(ref, sizeof(ref), "%s/%s", a->device_class, release);
    else
        snprintf(ref, sizeof(ref), "%s", release);
    a->r.release_ref = ref;
    int rc = cli_begin_audited(ctx);
    if (rc != EXIT_OK)
        return rc;
    PGresult *res = db_rollout_start(ctx->db, &who, &a->r, &old, &why, &err);
    if (!res)
        return cli_fail_refusal(ctx, &why, &err, "see `vigilctl release list`");
    if ((rc = cli_commit(ctx)) == EXIT_OK) {
        if (!ctx->json && old.id)
            printf("rollout %" PRId64 " (%s) is superseded by this one\n", old.id, old.state);
        print_rollout(ctx, res);
    }
    PQclear(res);
    return rc;
}

int cmd_rollout_start(int argc, char **argv)
{
    static const struct option opts[] = {
        {"percent", required_argument, NULL, OPT_PERCENT},
        {"class", required_argument, NULL, OPT_CLASS},
        {"error-threshold", required_argument, NULL, OPT_ERROR_THRESHOLD},
        {"min-reports", required_argument, NULL, OPT_MIN_REPORTS},
        {"health-window", required_argument, NULL, OPT_HEALTH_WINDOW},
        {"health-ratio", required_argument, NULL, OPT_HEALTH_RATIO},
        {"health-min-crashes", required_argument, NULL, OPT_HEALTH_MIN_CRASHES},
        {"group", required_argument, NULL, OPT_GROUP},
        CLI_COMMON_OPTIONS,
        {0}};
    cli_ctx ctx;
    start_args a = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "rollout start", start_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, start_option, &a, &rc);
    if (first < 0 ||
        (rc = cli_expect_args(&ctx, argc, argv, first, 1, "release version")) != EXIT_OK)
        goto done;
    if (!a.percent_given)
        rc = cli_usage_error(&ctx, "--percent is required: the share of the class to reach "
                                   "first, e.g. 10");
    else if (a.device_class && (strchr(argv[first], '/') || !manifest_version_valid(argv[first])))
        rc = cli_usage_error(
            &ctx, "with --class, give the version alone (" MANIFEST_VERSION_RULE "), not '%s'",
            argv[first]);
    else if ((rc = cli_open_db(&ctx)) == EXIT_OK)
        rc = start_run(&ctx, &a, argv[first]);
done:
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- widen, pause, resume, abort ---- */

static int percent_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    if (opt != OPT_PERCENT)
        return cli_usage_error(ctx, "unexpected option");
    return parse_percent(ctx, arg, state);
}

/* A change to rollout ID: to is a state, or NULL to widen to bp. */
static int change(cli_ctx *ctx, const char *id_text, const char *to, int bp)
{
    db_error err = {0};
    db_refusal why;
    db_actor who = {"os", ctx->actor};
    int64_t id;
    int rc;
    if ((rc = parse_id(ctx, id_text, &id)) != EXIT_OK || (rc = cli_begin_audited(ctx)) != EXIT_OK)
        return rc;
    PGresult *res = to ? db_rollout_move(ctx->db, &who, id, to, &why, &err)
                       : db_rollout_widen(ctx->db, &who, id, bp, &why, &err);
    if (!res)
        return cli_fail_refusal(ctx, &why, &err, "see `vigilctl rollout list`");
    if ((rc = cli_commit(ctx)) == EXIT_OK) {
        if (ctx->json) {
            print_rollout(ctx, res);
        } else if (!to) {
            char p[ROLLOUT_PERCENT_LEN];
            rollout_percent_format(bp, p);
            printf("rollout %" PRId64 " widened to %s%%: %s devices eligible\n", id, p,
                   col(res, "eligible"));
        } else {
            printf("rollout %" PRId64 " is %s\n", id, col(res, "state"));
        }
    }
    PQclear(res);
    return rc;
}

static int change_command(int argc, char **argv, const char *command, const char *usage,
                          const char *to)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    static const struct option widen_opts[] = {
        {"percent", required_argument, NULL, OPT_PERCENT}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    int rc = EXIT_OK, bp = 0;
    cli_ctx_init(&ctx, command, usage);
    int first = cli_parse_options(&ctx, argc, argv, to ? opts : widen_opts,
                                  to ? NULL : percent_option, &bp, &rc);
    if (first < 0 || (rc = cli_expect_args(&ctx, argc, argv, first, 1, "rollout id")) != EXIT_OK)
        goto done;
    if (!to && !bp)
        rc = cli_usage_error(&ctx, "--percent is required: the share to reach now");
    else if ((rc = cli_open_db(&ctx)) == EXIT_OK)
        rc = change(&ctx, argv[first], to, bp);
done:
    cli_ctx_free(&ctx);
    return rc;
}

int cmd_rollout_widen(int argc, char **argv)
{
    return change_command(argc, argv, "rollout widen", widen_usage, NULL);
}

int cmd_rollout_pause(int argc, char **argv)
{
    return change_command(argc, argv, "rollout pause", pause_usage, "paused");
}

int cmd_rollout_resume(int argc, char **argv)
{
    return change_command(argc, argv, "rollout resume", resume_usage, "running");
}

int cmd_rollout_abort(int argc, char **argv)
{
    return change_command(argc, argv, "rollout abort", abort_usage, "aborted");
}

/* ---- status, list ---- */

static int status_action(cli_ctx *ctx, char **args)
{
    db_error err = {0};
    db_refusal why;
    int64_t id;
    int rc = parse_id(ctx, args[0], &id);
    if (rc != EXIT_OK)
        return rc;
    PGresult *res = db_rollout_get(ctx->db, id, &why, &err);
    if (!res)
        return cli_fail_refusal(ctx, &why, &err, "see `vigilctl rollout list`");
    print_rollout(ctx, res);
    PQclear(res);
    return EXIT_OK;
}

int cmd_rollout_status(int argc, char **argv)
{
    return cli_run_db_command("rollout status", status_usage, argc, argv, 1, "rollout id",
                              status_action);
}

typedef struct list_args {
    int live, limit;
} list_args;

static int list_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    list_args *a = state;
    if (opt == OPT_LIVE) {
        a->live = 1;
        return EXIT_OK;
    }
    if (opt == OPT_LIMIT)
        return cli_parse_limit(ctx, arg, CLI_LIMIT_MAX, &a->limit);
    return cli_usage_error(ctx, "unexpected option");
}

int cmd_rollout_list(int argc, char **argv)
{
    static const struct option opts[] = {{"live", no_argument, NULL, OPT_LIVE},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    static const char *const columns[] = {"id",         "device_class", "version",
                                          "state",      "percent",      "group_tag",
                                          "started_at", "updated_at",   NULL};
    cli_ctx ctx;
    list_args a = {0, 100};
    db_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "rollout list", list_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, list_option, &a, &rc);
    if (first < 0 || (rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    rc = cli_print_rows(&ctx, db_rollout_list(ctx.db, a.live, a.limit, &err), &err, columns);
done:
    cli_ctx_free(&ctx);
    return rc;
}
