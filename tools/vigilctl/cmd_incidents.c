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
    OPT_LIMIT
};

#define INCIDENTS_LIMIT_MAX 1000
#define GROUPS_LIMIT_MAX 500
#define CELL_MAX 32 /* widest table cell; longer values end in "..." */

#define WHEN_HELP                                                                                  \
    "WHEN is an RFC 3339 time (2026-11-25T10:00:00Z, 2026-11-25T12:00:00+02:00) or a\n"            \
    "duration back from now: a number and s, m, h or d (90s, 15m, 1h, 7d).\n"

/* ---- option values ---- */

typedef struct when {
    char text[40]; /* what PostgreSQL gets: RFC 3339 */
    int64_t us;    /* the same, for comparing since and until */
} when;

typedef struct query_args {
    db_incident_filter f;
    when since, until;
    int has_since, has_until;
    char group[17];
    int limit;
    int limit_max;
} query_args;

static int parse_when(cli_ctx *ctx, const char *opt, const char *arg, when *out)
{
    if (when_parse(arg, when_now_us(), &out->us) < 0 ||
        incident_format_time(out->us, out->text) < 0)
        return cli_usage_error(ctx,
                               "--%s: '%s' is neither an RFC 3339 time nor a duration back "
                               "from now.\n" WHEN_HELP,
                               opt, arg);
    return EXIT_OK;
}

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

static int printable_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
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

static int query_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    static const char *const severities[] = {"info", "warning", "error", "critical", NULL};
    static const char *const sources[] = {"device", "server", NULL};
    query_args *a = state;
    switch (opt) {
    case OPT_DEVICE:
        if (!device_id_valid(arg))
            return cli_usage_error(ctx, "--device '%s' is not a device id: use " DEVICE_ID_RULE,
                                   arg);
        a->f.device_id = arg;
        return EXIT_OK;
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
        if (!printable_valid(arg))
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
        return parse_when(ctx, "since", arg, &a->since);
    case OPT_UNTIL:
        a->has_until = 1;
        return parse_when(ctx, "until", arg, &a->until);
    case OPT_LIMIT:
        return cli_parse_limit(ctx, arg, a->limit_max, &a->limit);
    default:
        return cli_usage_error(ctx, "unexpected option");
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

/* One cell as shown in a table: printable ASCII, at most CELL_MAX
 * characters, timestamps to the second. */
static void cell_text(PGresult *res, int row, int col, char *out, size_t size)
{
    const char *v = PQgetvalue(res, row, col);
    size_t n = (size_t)PQgetlength(res, row, col), len = 0;
    if (PQgetisnull(res, row, col) || n == 0) {
        snprintf(out, size, "-");
        return;
    }
    /* "2026-11-25T10:00:00.123456Z" -> "2026-11-25T10:00:00Z" */
    int trim = n == 27 && v[10] == 'T' && v[19] == '.' && v[26] == 'Z';
    if (trim)
        n = 19;
    for (size_t i = 0; i < n && len + 2 < size; i++) {
        unsigned char c = (unsigned char)v[i];
        out[len++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (trim)
        out[len++] = 'Z';
    out[len] = '\0';
    if (len > CELL_MAX)
        memcpy(out + CELL_MAX - 3, "...", 4);
}

/* The named columns of res as a table (absent ones are skipped). */
static void print_columns(PGresult *res, const char *const *names)
{
    int idx[16], ncol = 0, rows = PQntuples(res);
    size_t width[16];
    char buf[CELL_MAX + 8];
    for (; *names && ncol < 16; names++) {
        int c = PQfnumber(res, *names);
        if (c < 0)
            continue;
        idx[ncol] = c;
        width[ncol++] = strlen(*names);
    }
    for (int k = 0; k < ncol; k++)
        for (int r = 0; r < rows; r++) {
            cell_text(res, r, idx[k], buf, sizeof(buf));
            if (strlen(buf) > width[k])
                width[k] = strlen(buf);
        }
    for (int k = 0; k < ncol; k++) {
        const char *name = PQfname(res, idx[k]);
        for (const char *p = name; *p; p++)
            putchar(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        if (k + 1 < ncol)
            printf("%*s", (int)(width[k] - strlen(name) + 2), "");
    }
    putchar('\n');
    for (int r = 0; r < rows; r++) {
        for (int k = 0; k < ncol; k++) {
            cell_text(res, r, idx[k], buf, sizeof(buf));
            if (k + 1 < ncol)
                printf("%-*s  ", (int)width[k], buf);
            else
                fputs(buf, stdout);
        }
        putchar('\n');
    }
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
    "                          [--limit N] [--json]\n\n"
    "List incidents, newest first (by the time the server received them). The\n"
    "table shows RECEIVED_AT, DEVICE_ID, TYPE, SEVERITY, FIRMWARE_VERSION,\n"
    "COMPONENT and GROUP; --json prints every field, details included, as the\n"
    "operator API does.\n\n"
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
    "  --limit N        at most N incidents, 1-1000 (default 100)\n\n" WHEN_HELP "\nExamples:\n"
    "  vigilctl incidents --device sensor-0001 --since 1h\n"
    "  vigilctl incidents --severity critical --since 2026-11-25T00:00:00Z\n"
    "  vigilctl incidents --type crash --firmware 2.4.1 --since 7d --json\n" CLI_COMMON_HELP;

int cmd_incidents(int argc, char **argv)
{
    static const struct option opts[] = {{"device", required_argument, NULL, OPT_DEVICE},
                                         {"type", required_argument, NULL, OPT_TYPE},
                                         {"severity", required_argument, NULL, OPT_SEVERITY},
                                         {"source", required_argument, NULL, OPT_SOURCE},
                                         {"firmware", required_argument, NULL, OPT_FIRMWARE},
                                         {"group", required_argument, NULL, OPT_GROUP},
                                         {"since", required_argument, NULL, OPT_SINCE},
                                         {"until", required_argument, NULL, OPT_UNTIL},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    static const char *const columns[] = {"received_at",      "device_id", "type",  "severity",
                                          "firmware_version", "component", "group", NULL};
    cli_ctx ctx;
    query_args a = {.limit = 100, .limit_max = INCIDENTS_LIMIT_MAX};
    db_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "incidents", incidents_usage);
    if (parse_query(&ctx, argc, argv, opts, &a, &rc) < 0 || (rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    PGresult *res = db_incidents_list(ctx.db, &a.f, NULL, a.limit, &err);
    if (!res) {
        rc = cli_fail_db(&ctx, &err);
        goto done;
    }
    if (ctx.json) {
        rc = print_json_rows(&ctx, res, "received_us");
    } else {
        print_columns(res, columns);
        note_truncated(res, a.limit, INCIDENTS_LIMIT_MAX, "incidents");
    }
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
        parse_when(&ctx, "since", "7d", &a.since);
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
