/*
 * cmd_incidents.c - `vigilctl incidents` and `vigilctl incidents groups`:
 * what is failing across the fleet, from a shell. The queries are the
 * operator API's (db_incidents.c), so both show the same rows; --json
 * prints the API's incident and group objects.
 *
 * Tables show a few columns of bounded width and only printable ASCII:
 * incident fields come from devices, and a terminal is no place for their
 * control characters. --json has every field as stored.
 */
#include "tools/vigilctl/commands.h"

#include "protocol/device_id.h"
#include "protocol/incident.h"
#include "protocol/when.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    OPT_DEVICE = OPT_FIRST_COMMAND_OPTION,
    OPT_TYPE,
    OPT_SEVERITY,
    OPT_SOURCE,
    OPT_FIRMWARE,
    OPT_GROUP,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_LIMIT,
    OPT_QUARANTINED,
    OPT_AFTER,
    OPT_ALL,
    OPT_BUCKET,
    OPT_BY
};

#define INCIDENTS_LIMIT_MAX 1000
#define GROUPS_LIMIT_MAX 500

#define WHEN_HELP CLI_WHEN_HELP

/* ---- option values ---- */

typedef struct query_args {
    db_incident_filter f;
    cli_when since, until;
    int has_since, has_until;
    char group[17];
    int limit;
    int limit_max;
    char after_us[24], after_seq[24];
    int has_after, all;
    int64_t bucket;
    int by;
} query_args;

/* The filters of incidents and incidents stats (the API's). */
#define FILTER_OPTIONS                                                                             \
    {"device", required_argument, NULL, OPT_DEVICE}, {"type", required_argument, NULL, OPT_TYPE},  \
        {"severity", required_argument, NULL, OPT_SEVERITY},                                       \
        {"source", required_argument, NULL, OPT_SOURCE},                                           \
        {"firmware", required_argument, NULL, OPT_FIRMWARE},                                       \
        {"group", required_argument, NULL, OPT_GROUP},                                             \
        {"since", required_argument, NULL, OPT_SINCE},                                             \
        {"until", required_argument, NULL, OPT_UNTIL},                                             \
        {"quarantined", required_argument, NULL, OPT_QUARANTINED}

static const char *const stats_bys[] = {"type", "severity", "firmware_version", "source", NULL};

static int one_of(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(v, *set) == 0)
            return 1;
    return 0;
}

/* Incident types: the built-in names and x-... ones are lowercase. */
static int type_valid(const char *t)
{
    size_t n = strlen(t);
    if (n < 1 || n > 63)
        return 0;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '_' || *t == '.' ||
              *t == '-'))
            return 0;
    return 1;
}

/* A group is 16 hex digits, stored lowercase. */
static int group_parse(const char *arg, char out[17])
{
    if (strlen(arg) != 16)
        return 0;
    for (int i = 0; i < 16; i++) {
        char c = arg[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        out[i] = c;
    }
    out[16] = '\0';
    return 1;
}

/* The options only some commands take: --quarantined, --after, --all
 * (incidents), --bucket and --by (incidents stats). */
static int more_option(cli_ctx *ctx, int opt, const char *arg, query_args *a)
{
    switch (opt) {
    case OPT_QUARANTINED:
        if (strcmp(arg, "true") != 0 && strcmp(arg, "false") != 0)
            return cli_usage_error(ctx, "--quarantined must be true or false, not '%s'", arg);
        a->f.quarantined = arg;
        return EXIT_OK;
    case OPT_AFTER:
        a->has_after = 1;
        return cli_parse_cursor(ctx, arg, a->after_us, a->after_seq);
    case OPT_ALL:
        a->all = 1;
        return EXIT_OK;
    case OPT_BUCKET:
        if (cli_parse_duration(ctx, "bucket", arg, &a->bucket) != EXIT_OK)
            return EXIT_USAGE;
        if (a->bucket > 366 * 86400)
            return cli_usage_error(ctx, "--bucket '%s' is longer than 366d", arg);
        return EXIT_OK;
    case OPT_BY:
        for (a->by = 0; stats_bys[a->by]; a->by++)
            if (strcmp(stats_bys[a->by], arg) == 0)
                return EXIT_OK;
        return cli_usage_error(ctx,
                               "--by must be type, severity, firmware_version or source, not "
                               "'%s'",
                               arg);
    default:
        return cli_usage_error(ctx, "unexpected option");
    }
}

static int query_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    static const char *const severities[] = {"info", "warning", "error", "critical", NULL};
    static const char *const sources[] = {"device", "server", NULL};
    query_args *a = state;
    switch (opt) {
    case OPT_DEVICE:
        return cli_parse_device(ctx, arg, &a->f.device_id);
    case OPT_TYPE:
        if (!type_valid(arg))
            return cli_usage_error(ctx,
                                   "--type '%s' is not an incident type: use crash, "
                                   "watchdog_reset, auth_failure, update_failure, tamper,\n"
                                   "network_anomaly, resource_exhaustion or an x-... type "
                                   "(a-z 0-9 _ . -)",
                                   arg);
        a->f.type = arg;
        return EXIT_OK;
    case OPT_SEVERITY:
        if (!one_of(arg, severities))
            return cli_usage_error(ctx,
                                   "--severity must be info, warning, error or critical, "
                                   "not '%s'",
                                   arg);
        a->f.severity = arg;
        return EXIT_OK;
    case OPT_SOURCE:
        if (!one_of(arg, sources))
            return cli_usage_error(ctx, "--source must be device or server, not '%s'", arg);
        a->f.source = arg;
        return EXIT_OK;
    case OPT_FIRMWARE:
        if (!cli_printable_word(arg, 64))
            return cli_usage_error(ctx, "--firmware: use 1-64 printable ASCII characters, no "
                                        "spaces");
        a->f.firmware_version = arg;
        return EXIT_OK;
    case OPT_GROUP:
        if (!group_parse(arg, a->group))
            return cli_usage_error(ctx,
                                   "--group '%s' is not a group: use the 16 hex digits "
                                   "`vigilctl incidents groups` shows",
                                   arg);
        a->f.group = a->group;
        return EXIT_OK;
    case OPT_SINCE:
        a->has_since = 1;
        return cli_parse_when(ctx, "since", arg, &a->since);
    case OPT_UNTIL:
        a->has_until = 1;
        return cli_parse_when(ctx, "until", arg, &a->until);
    case OPT_LIMIT:
        return cli_parse_limit(ctx, arg, a->limit_max, &a->limit);
    default:
        return more_option(ctx, opt, arg, a);
    }
}

/* Parses the command line; < 0 when done with *rc set. */
static int parse_query(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
                       query_args *a, int *rc)
{
    int first = cli_parse_options(ctx, argc, argv, opts, query_option, a, rc);
    if (first < 0)
        return -1;
    if ((*rc = cli_expect_args(ctx, argc, argv, first, 0, "")) != EXIT_OK)
        return -1;
    if (a->has_since && a->has_until && a->since.us >= a->until.us) {
        *rc = cli_usage_error(ctx, "--since (%s) must be before --until (%s)", a->since.text,
                              a->until.text);
        return -1;
    }
    a->f.since = a->has_since ? a->since.text : NULL;
    a->f.until = a->has_until ? a->until.text : NULL;
    return 0;
}

/* ---- output ---- */

static void print_columns(PGresult *res, const char *const *names)
{
    cli_print_cells(res, names, 1, PQntuples(res));
}

/* A JSON array of the rows, without the columns named in drop. */
static int print_json_rows(cli_ctx *ctx, PGresult *res, const char *drop)
{
    json_t *arr = db_rows_json(res, PQntuples(res), drop);
    if (!arr)
        return cli_fail(ctx, EXIT_INTERNAL, "out of memory");
    cli_print_json(arr);
    return EXIT_OK;
}

static void note_truncated(PGresult *res, int limit, int max, const char *what)
{
    if (PQntuples(res) == limit)
        fprintf(stderr,
                "(%d %s shown; more may match: raise --limit (at most %d) or narrow "
                "the filter)\n",
                limit, what, max);
}

/* ---- incidents ---- */

static const char incidents_usage[] =
    "Usage: vigilctl incidents [--device ID] [--type T] [--severity S] [--source device|server]\n"
    "                          [--firmware V] [--group G] [--since WHEN] [--until WHEN]\n"
    "                          [--quarantined true|false] [--limit N] [--after CURSOR | --all]\n"
    "                          [--json]\n\n"
    "List incidents, newest first (by the time the server received them). The\n"
    "table shows RECEIVED_AT, DEVICE_ID, TYPE, SEVERITY, FIRMWARE_VERSION,\n"
    "COMPONENT, GROUP and QUARANTINED (yes: reported while the device was\n"
    "quarantined);\n"
    "--json prints every field, details and quarantined included, as the operator\n"
    "API does.\n\n"
    "A page holds --limit incidents; when more match, the last line on stderr is\n"
    "`next page: --after CURSOR`: run the same command with it for the next page\n"
    "(keyset paging: no repeats or gaps while reports arrive). --all prints every\n"
    "match, page after page (with --json one array).\n\n"
    "Options:\n"
    "  --device ID      only this device's\n"
    "  --type T         crash, watchdog_reset, auth_failure, update_failure, tamper,\n"
    "                   network_anomaly, resource_exhaustion or an x-... type\n"
    "  --severity S     info, warning, error or critical\n"
    "  --source S       device (reported by a device) or server (seen by vigild)\n"
    "  --firmware V     only reports from this firmware version\n"
    "  --group G        only this group (16 hex digits, see `vigilctl incidents groups`)\n"
    "  --since WHEN     received at or after WHEN\n"
    "  --until WHEN     received before WHEN\n"
    "  --quarantined B  true: only reports of quarantined devices; false: only the others\n"
    "  --limit N        at most N incidents a page, 1-1000 (default 100)\n"
    "  --after CURSOR   the page after the one that printed CURSOR\n"
    "  --all            every matching incident (pages of 1000)\n\n" WHEN_HELP "\nExamples:\n"
    "  vigilctl incidents --device sensor-0001 --since 1h\n"
    "  vigilctl incidents --severity critical --since 2026-11-25T00:00:00Z\n"
    "  vigilctl incidents --type crash --firmware 2.4.1 --since 7d --json\n"
    "  vigilctl incidents --quarantined true --since 1d --all --json\n" CLI_COMMON_HELP;

/* The table's columns. */
static const char *const incident_columns[] = {"received_at", "device_id", "type",
                                               "severity",    "firmware_version", "component",
                                               "group",       "quarantined",      NULL};

static PGresult *fetch_incidents(cli_ctx *ctx, void *state, int limit, db_error *err)
{
    query_args *a = state;
    db_incident_cursor after = {a->after_us, a->after_seq};
    return db_incidents_list(ctx->db, &a->f, a->has_after ? &after : NULL, limit, err);
}

static void advance_incidents(void *state, PGresult *res, int row, char *cursor, size_t len)
{
    query_args *a = state;
    snprintf(a->after_us, sizeof(a->after_us), "%s",
             PQgetvalue(res, row, PQfnumber(res, "received_us")));
    snprintf(a->after_seq, sizeof(a->after_seq), "%s", PQgetvalue(res, row, 0));
    a->has_after = 1;
    snprintf(cursor, len, "%s.%s", a->after_us, a->after_seq);
}

int cmd_incidents(int argc, char **argv)
{
    static const struct option opts[] = {FILTER_OPTIONS,
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {"after", required_argument, NULL, OPT_AFTER},
                                         {"all", no_argument, NULL, OPT_ALL},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    cli_ctx ctx;
    query_args a = {.limit = 100, .limit_max = INCIDENTS_LIMIT_MAX};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "incidents", incidents_usage);
    if (parse_query(&ctx, argc, argv, opts, &a, &rc) < 0)
        goto done;
    if (a.all && a.has_after)
        rc = cli_usage_error(&ctx, "give --all or --after, not both");
    else if ((rc = cli_open_db(&ctx)) == EXIT_OK)
        rc = cli_print_pages(&ctx,
                             &(cli_pager){fetch_incidents, advance_incidents, incident_columns,
                                          "received_us", a.all ? INCIDENTS_LIMIT_MAX : a.limit,
                                          a.all},
                             &a);
done:
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- incidents stats ---- */

static const char stats_usage[] =
    "Usage: vigilctl incidents stats [--since WHEN] [--until WHEN] [--bucket DUR]\n"
    "                                [--by type|severity|firmware_version|source]\n"
    "                                [--device ID] [--type T] [--severity S] [--source S]\n"
    "                                [--firmware V] [--group G] [--quarantined true|false]\n"
    "                                [--json]\n\n"
    "How many incidents were received per time bucket and per type (or severity,\n"
    "firmware version, source): what GET /v1/incidents/stats answers, from the same\n"
    "query. The table shows BUCKET, KEY and COUNT (buckets with no incident are\n"
    "left out) and a total; --json prints the API's object {since, until,\n"
    "bucket_seconds, by, series: [{bucket, key, count}]}.\n\n"
    "Options:\n"
    "  --since WHEN     from WHEN (default 24h ago)\n"
    "  --until WHEN     to WHEN (default now)\n"
    "  --bucket DUR     bucket length: a number and s, m, h, d or w (default 1h);\n"
    "                   at most 10000 buckets in the range\n"
    "  --by KEY         type (default), severity, firmware_version or source\n"
    "  the filters of `vigilctl incidents` (see its --help)\n\n" WHEN_HELP CLI_COMMON_HELP;

/* Defaults since to 24h ago and until to now; checks the bucket count. */
static int stats_range(cli_ctx *ctx, query_args *a)
{
    if (!a->has_since)
        cli_parse_when(ctx, "since", "24h", &a->since);
    if (!a->has_until) {
        a->until.us = when_now_us();
        incident_format_time(a->until.us, a->until.text);
    }
    if (a->since.us >= a->until.us)
        return cli_usage_error(ctx, "--since (%s) must be before --until (%s)", a->since.text,
                               a->until.text);
    a->f.since = a->since.text;
    a->f.until = a->until.text;
    int64_t span = (a->until.us - a->since.us) / 1000000 + 1;
    if (span / a->bucket > 10000)
        return cli_usage_error(ctx,
                               "%lld buckets of %llds in this range; at most 10000: use a "
                               "larger --bucket or a shorter range",
                               (long long)(span / a->bucket), (long long)a->bucket);
    return EXIT_OK;
}

static int print_stats(cli_ctx *ctx, const query_args *a, PGresult *res)
{
    if (ctx->json) {
        json_t *series = db_rows_json(res, PQntuples(res), NULL);
        json_t *obj = series ? json_pack("{s:s, s:s, s:I, s:s, s:o}", "since", a->f.since,
                                         "until", a->f.until, "bucket_seconds",
                                         (json_int_t)a->bucket, "by", stats_bys[a->by], "series",
                                         series)
                             : NULL;
        if (!obj)
            return cli_fail(ctx, EXIT_INTERNAL, "out of memory");
        cli_print_json(obj);
        return EXIT_OK;
    }
    static const char *const columns[] = {"bucket", "key", "count", NULL};
    long long total = 0;
    for (int i = 0; i < PQntuples(res); i++)
        total += strtoll(PQgetvalue(res, i, 2), NULL, 10);
    printf("incidents by %s, buckets of %llds, from %s to %s\n", stats_bys[a->by],
           (long long)a->bucket, a->f.since, a->f.until);
    print_columns(res, columns);
    printf("total %lld\n", total);
    return EXIT_OK;
}

int cmd_incidents_stats(int argc, char **argv)
{
    static const struct option opts[] = {FILTER_OPTIONS,
                                         {"bucket", required_argument, NULL, OPT_BUCKET},
                                         {"by", required_argument, NULL, OPT_BY},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    static const db_stats_by by_values[] = {DB_STATS_TYPE, DB_STATS_SEVERITY, DB_STATS_FIRMWARE,
                                            DB_STATS_SOURCE};
    cli_ctx ctx;
    query_args a = {.bucket = 3600, .limit_max = 1};
    db_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "incidents stats", stats_usage);
    if (parse_query(&ctx, argc, argv, opts, &a, &rc) < 0 || (rc = stats_range(&ctx, &a)) != EXIT_OK ||
        (rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    PGresult *res = db_incidents_stats(ctx.db, &a.f, (long)a.bucket, by_values[a.by], &err);
    if (!res) {
        rc = cli_fail_db(&ctx, &err);
        goto done;
    }
    rc = print_stats(&ctx, &a, res);
    PQclear(res);
done:
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- incidents groups ---- */

static const char groups_usage[] =
    "Usage: vigilctl incidents groups [--since WHEN] [--until WHEN] [--type T] [--device ID]\n"
    "                                 [--source device|server] [--firmware V] [--limit N]\n"
    "                                 [--json]\n\n"
    "Incidents grouped by fingerprint: the same type, component and signature\n"
    "(the first of details.pc, signature, reason, fault_address and code), most\n"
    "frequent first, with how many reports and devices each has. The table shows\n"
    "GROUP, TYPE, COMPONENT, SIGNATURE, COUNT, DEVICES and LAST_SEEN; --json adds\n"
    "first_seen and the firmware versions. `vigilctl incidents --group G` lists a\n"
    "group's reports.\n\n"
    "Options:\n"
    "  --since WHEN     received at or after WHEN (default 7d)\n"
    "  --until WHEN     received before WHEN\n"
    "  --type T         only this incident type\n"
    "  --device ID      only this device's reports\n"
    "  --source S       device or server\n"
    "  --firmware V     only reports from this firmware version\n"
    "  --limit N        at most N groups, 1-500 (default 50)\n\n" WHEN_HELP CLI_COMMON_HELP;

int cmd_incidents_groups(int argc, char **argv)
{
    static const struct option opts[] = {{"device", required_argument, NULL, OPT_DEVICE},
                                         {"type", required_argument, NULL, OPT_TYPE},
                                         {"source", required_argument, NULL, OPT_SOURCE},
                                         {"firmware", required_argument, NULL, OPT_FIRMWARE},
                                         {"since", required_argument, NULL, OPT_SINCE},
                                         {"until", required_argument, NULL, OPT_UNTIL},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    static const char *const columns[] = {"group", "type",    "component", "signature",
                                          "count", "devices", "last_seen", NULL};
    cli_ctx ctx;
    query_args a = {.limit = 50, .limit_max = GROUPS_LIMIT_MAX};
    db_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "incidents groups", groups_usage);
    if (parse_query(&ctx, argc, argv, opts, &a, &rc) < 0)
        goto done;
    if (!a.has_since) {
        cli_parse_when(&ctx, "since", "7d", &a.since);
        a.f.since = a.since.text;
        if (a.has_until && a.since.us >= a.until.us) {
            rc = cli_usage_error(&ctx, "--until is more than 7 days ago: give --since too");
            goto done;
        }
    }
    if ((rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    PGresult *res = db_incident_groups(ctx.db, &a.f, a.limit, &err);
    if (!res) {
        rc = cli_fail_db(&ctx, &err);
        goto done;
    }
    if (ctx.json) {
        rc = print_json_rows(&ctx, res, NULL);
    } else {
        print_columns(res, columns);
        note_truncated(res, a.limit, GROUPS_LIMIT_MAX, "groups");
    }
    PQclear(res);
done:
    cli_ctx_free(&ctx);
    return rc;
}
