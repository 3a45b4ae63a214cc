/*
 * cli.c - the plumbing every vigilctl command shares (see cli.h).
 *
 * Failures are reported once, here, in one shape: "vigilctl <command>:
 * <what went wrong and what to do>", with an exit code from cli.h. Commands
 * only decide which failure applies.
 */
#include "tools/vigilctl/cli.h"

#include "protocol/cliopt.h"
#include "protocol/device_id.h"
#include "protocol/incident.h"
#include "protocol/when.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

void cli_ctx_init(cli_ctx *ctx, const char *command, const char *usage)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->command = command;
    ctx->usage = usage;
    ctx->database_url = getenv("VIGIL_DATABASE_URL");
    ctx->ca_dir = getenv("VIGIL_CA_DIR");
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(ctx->actor, sizeof(ctx->actor), "%s", pw->pw_name);
    else
        snprintf(ctx->actor, sizeof(ctx->actor), "uid:%ld", (long)geteuid());
}

void cli_ctx_free(cli_ctx *ctx)
{
    ca_passphrase_free(ctx->passphrase);
    ca_store_close(ctx->ca);
    db_close(ctx->db);
    ctx->passphrase = NULL;
    ctx->ca = NULL;
    ctx->db = NULL;
}

static int vfail(cli_ctx *ctx, int code, const char *fmt, va_list ap)
{
    fprintf(stderr, "vigilctl %s: ", ctx->command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    return code;
}

int cli_fail(cli_ctx *ctx, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ctx, code, fmt, ap);
    va_end(ap);
    return code;
}

int cli_usage_error(cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ctx, EXIT_USAGE, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Run `vigilctl %s --help` for usage.\n", ctx->command);
    return EXIT_USAGE;
}

int cli_expect_args(cli_ctx *ctx, int argc, char **argv, int first, int n, const char *what)
{
    if (argc - first > n)
        return cli_usage_error(ctx, "unexpected argument '%s'", argv[first + n]);
    if (argc - first < n)
        return cli_usage_error(ctx, "missing %s", what);
    return EXIT_OK;
}

int cli_fail_ca(cli_ctx *ctx, const ca_error *err)
{
    switch (err->status) {
    case CA_ERR_INVALID:
    case CA_ERR_EXISTS:
        return cli_fail(ctx, EXIT_REFUSED, "%s", err->msg);
    case CA_ERR_NOT_FOUND:
    case CA_ERR_PASSPHRASE:
    case CA_ERR_IO:
        return cli_fail(ctx, EXIT_CA, "%s", err->msg);
    default:
        return cli_fail(ctx, EXIT_INTERNAL, "%s", err->msg);
    }
}

int cli_fail_db(cli_ctx *ctx, const db_error *err)
{
    if (err->unavailable)
        return cli_fail(ctx, EXIT_DB, "%s (is PostgreSQL running and VIGIL_DATABASE_URL right?)",
                        err->msg);
    if (strcmp(err->sqlstate, "42P01") == 0)     /* undefined_table */
        return cli_fail(ctx, EXIT_DB, "%s: run `vigilctl db migrate` first", err->msg);
    return cli_fail(ctx, EXIT_DB, "database error: %s", err->msg);
}

int cli_fail_refusal(cli_ctx *ctx, const db_refusal *why, const db_error *err, const char *hint)
{
    if (why->kind == DB_ACCEPTED)
        return cli_fail_db(ctx, err);
    if (why->kind == DB_REFUSED_NOT_FOUND && hint)
        return cli_fail(ctx, EXIT_REFUSED, "%s (%s)", why->msg, hint);
    return cli_fail(ctx, EXIT_REFUSED, "%s", why->msg);
}

int cli_string_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    (void)opt;
    (void)ctx;
    *(const char **)state = arg;
    return EXIT_OK;
}

static int common_option(cli_ctx *ctx, int opt, const char *arg, const char *at, int *exit_code)
{
    switch (opt) {
    case OPT_DATABASE_URL: ctx->database_url = arg; return 1;
    case OPT_CA_DIR: ctx->ca_dir = arg; return 1;
    case OPT_PASSPHRASE_FILE: ctx->passphrase_file = arg; return 1;
    case OPT_PASSPHRASE_ENV: ctx->passphrase_env = arg; return 1;
    case OPT_JSON: ctx->json = 1; return 1;
    case OPT_OUT: ctx->out_path = arg; return 1;
    case 'h':
        fputs(ctx->usage, stdout);
        *exit_code = EXIT_OK;
        return -1;
    case '?':
        *exit_code = cli_usage_error(ctx, "unknown option '%s'", at ? at : "?");
        return -1;
    case ':':
        *exit_code = cli_usage_error(ctx, "option '%s' needs a value", at ? at : "?");
        return -1;
    default:
        return 0;
    }
}

int cli_parse_options(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
                      cli_option_fn on_option, void *state, int *exit_code)
{
    int opt;
    const char *at;
    optind = 1;
    opterr = 0;                      /* we word the errors ourselves */
    while ((opt = cliopt_getopt_long(argc, argv, ":h", opts, &at)) != -1) {
        int handled = common_option(ctx, opt, optarg, at, exit_code);
        if (handled < 0)
            return -1;
        if (handled > 0)
            continue;
        if (!on_option || (*exit_code = on_option(ctx, opt, optarg, state)) != EXIT_OK)
            return -1;
    }
    return optind;
}

int cli_write_out(cli_ctx *ctx, const char *data, size_t len)
{
    ca_error err = {0};
    if (ctx->out_path) {
        if (ca_text_replace(ctx->out_path, data, len, 0644, &err) < 0)
            return cli_fail(ctx, EXIT_REFUSED, "--out %s: %s", ctx->out_path, err.msg);
        return EXIT_OK;
    }
    if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
        return cli_fail(ctx, EXIT_INTERNAL, "cannot write to stdout: %s", strerror(errno));
    return EXIT_OK;
}

int cli_open_db(cli_ctx *ctx)
{
    db_error err = {0};
    if (!ctx->database_url || !ctx->database_url[0])
        return cli_fail(ctx, EXIT_DB, "no database given: set VIGIL_DATABASE_URL or use "
                        "--database-url (after `make run`: `. var/env` sets it)");
    const char *password_file = getenv("VIGIL_DATABASE_PASSWORD_FILE");
    if (password_file && password_file[0] && db_password_file_use(password_file, ctx->database_url, &err) < 0)
        /* A setting to mend, not a database to wait for: exit 2. */
        return cli_fail(ctx, EXIT_USAGE, "VIGIL_DATABASE_PASSWORD_FILE: %s", err.msg);
    if (!(ctx->db = db_connect(ctx->database_url, &err)))
        return cli_fail_db(ctx, &err);
    return EXIT_OK;
}

int cli_load_passphrase(cli_ctx *ctx)
{
    ca_error err = {0};
    if (ctx->passphrase_file && ctx->passphrase_env)
        return cli_usage_error(ctx, "give --passphrase-file or --passphrase-env, not both");
    if (ca_passphrase_find(ctx->passphrase_file, ctx->passphrase_env, "VIGIL_CA_PASSPHRASE",
                           &ctx->passphrase, &err) < 0)
        return cli_fail_ca(ctx, &err);
    return EXIT_OK;
}

int cli_require_ca_dir(cli_ctx *ctx)
{
    if (!ctx->ca_dir || !ctx->ca_dir[0])
        return cli_fail(ctx, EXIT_CA, "no CA directory given: set VIGIL_CA_DIR or use --ca-dir "
                        "(after `make run`: `. var/env` sets it)");
    return EXIT_OK;
}

int cli_open_ca(cli_ctx *ctx, int unlock)
{
    ca_error err = {0};
    int rc = cli_require_ca_dir(ctx);
    if (rc != EXIT_OK)
        return rc;
    if (!(ctx->ca = ca_store_open(ctx->ca_dir, &err))) /* a broken CA file: exit 3 too */
        return err.status == CA_ERR_INVALID ? cli_fail(ctx, EXIT_CA, "%s", err.msg)
                                            : cli_fail_ca(ctx, &err);
    if (!unlock)
        return EXIT_OK;
    if ((rc = cli_load_passphrase(ctx)) != EXIT_OK)
        return rc;
    if (ca_store_unlock(ctx->ca, ctx->passphrase, &err) < 0)
        return err.status == CA_ERR_INVALID ? cli_fail(ctx, EXIT_CA, "%s", err.msg)
                                            : cli_fail_ca(ctx, &err);
    return EXIT_OK;
}

int cli_audit(cli_ctx *ctx, const char *action, const char *device_id, const char *serial,
              const char *details_json)
{
    db_error err = {0};
    db_actor who = {"os", ctx->actor};
    if (db_audit(ctx->db, &who, action, device_id, serial, details_json, &err) < 0)
        return cli_fail_db(ctx, &err);
    return EXIT_OK;
}

int cli_begin_audited(cli_ctx *ctx)
{
    db_error err = {0};
    int rc = ctx->db ? EXIT_OK : cli_open_db(ctx);
    if (rc != EXIT_OK)
        return rc;
    if (db_begin(ctx->db, &err) < 0)
        return cli_fail_db(ctx, &err);
    return EXIT_OK;
}

int cli_commit(cli_ctx *ctx)
{
    db_error err = {0};
    if (db_commit(ctx->db, &err) < 0)
        return cli_fail_db(ctx, &err);
    return EXIT_OK;
}

int cli_audit_json(cli_ctx *ctx, const char *action, const char *device_id, const char *serial,
                   json_t *details)
{
    db_error err = {0};
    db_actor who = {"os", ctx->actor};
    if (db_audit_json(ctx->db, &who, action, device_id, serial, details, &err) < 0)
        return cli_fail_db(ctx, &err);
    return EXIT_OK;
}

int cli_notify_ca_changed(cli_ctx *ctx, const char *issuer_ski)
{
    db_error err = {0};
    if (db_notify_ca_changed(ctx->db, issuer_ski, &err) < 0)
        return cli_fail_db(ctx, &err);
    return EXIT_OK;
}

int cli_parse_duration(cli_ctx *ctx, const char *opt, const char *text, int64_t *out)
{
    /* A unit is required: --validity 30 must not mean 30 seconds. */
    int64_t ms = when_duration_ms(text, 0);
    if (ms <= 0 || ms % 1000)
        return cli_usage_error(ctx,
                               "--%s: invalid duration '%s': use a whole number and a unit "
                               "s, m, h, d, w or y (e.g. 30d)",
                               opt, text);
    *out = ms / 1000;
    return EXIT_OK;
}

int cli_parse_class(cli_ctx *ctx, const char *text, const char **out)
{
    if (!device_id_valid(text)) /* classes follow the device id rules */
        return cli_usage_error(ctx, "--class: use " DEVICE_ID_RULE);
    *out = text;
    return EXIT_OK;
}

int cli_parse_device(cli_ctx *ctx, const char *text, const char **out)
{
    if (!device_id_valid(text))
        return cli_usage_error(ctx, "--device '%s' is not a device id: use " DEVICE_ID_RULE,
                               text);
    *out = text;
    return EXIT_OK;
}

int cli_printable_word(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n < 1 || n > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

int cli_parse_when(cli_ctx *ctx, const char *opt, const char *arg, cli_when *out)
{
    if (when_parse(arg, when_now_us(), &out->us) < 0 ||
        incident_format_time(out->us, out->text) < 0)
        return cli_usage_error(ctx,
                               "--%s: '%s' is neither an RFC 3339 time nor a duration back "
                               "from now.\n" CLI_WHEN_HELP,
                               opt, arg);
    return EXIT_OK;
}

/* Up to 19 decimal digits, copied into out; 0 or -1. */
static int cursor_part(const char *p, size_t n, char out[24])
{
    if (n < 1 || n > 19)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int cli_parse_cursor(cli_ctx *ctx, const char *arg, char a[24], char b[24])
{
    const char *dot = strchr(arg, '.');
    if (!dot || cursor_part(arg, (size_t)(dot - arg), a) < 0 ||
        cursor_part(dot + 1, strlen(dot + 1), b) < 0)
        return cli_usage_error(ctx,
                               "--after '%s' is not a cursor: give the one a previous page "
                               "printed (two numbers with a dot between)",
                               arg);
    return EXIT_OK;
}

int cli_parse_limit(cli_ctx *ctx, const char *text, int max, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > max)
        return cli_usage_error(ctx, "--limit must be a number from 1 to %d, not '%s'", max, text);
    *out = (int)v;
    return EXIT_OK;
}

int cli_run_db_command(const char *command, const char *usage, int argc, char **argv, int n_args,
                       const char *what, cli_db_action fn)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, command, usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, NULL, NULL, &rc);
    if (first >= 0 && (rc = cli_expect_args(&ctx, argc, argv, first, n_args, what)) == EXIT_OK &&
        (rc = cli_open_db(&ctx)) == EXIT_OK)
        rc = fn(&ctx, argv + first);
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- output ---- */


json_t *cli_result_row_json(PGresult *res, int row)
{
    json_t *obj = db_row_json(res, row);
    return obj ? obj : json_null();
}

void cli_print_json(json_t *value)
{
    /* 15 digits: a float8 0.1 prints as 0.1, not 0.10000000000000001 */
    char *text = json_dumps(value, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (text)
        puts(text);
    free(text);
    json_decref(value);
}

void cli_print_table(PGresult *res, const char *const *columns)
{
    int cols[64], n = 0, rows = PQntuples(res);
    size_t width[64] = {0};
    for (int i = 0; columns && columns[i] && n < 64; i++)
        if ((cols[n] = PQfnumber(res, columns[i])) >= 0) /* a name it lacks is left out */
            n++;
    for (int c = 0; !columns && c < PQnfields(res) && n < 64; c++)
        cols[n++] = c;
    for (int c = 0; c < n; c++) {
        width[c] = strlen(PQfname(res, cols[c]));
        for (int r = 0; r < rows; r++) {
            size_t len = PQgetisnull(res, r, cols[c]) ? 1 : (size_t)PQgetlength(res, r, cols[c]);
            if (len > width[c])
                width[c] = len;
        }
    }
    for (int c = 0; c < n; c++) {
        const char *name = PQfname(res, cols[c]);
        for (const char *p = name; *p; p++)
            putchar(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        printf("%*s", c + 1 < n ? (int)(width[c] - strlen(name) + 2) : 0, "");
    }
    putchar('\n');
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < n; c++) {
            const char *v = PQgetisnull(res, r, cols[c]) ? "-" : PQgetvalue(res, r, cols[c]);
            int last = c + 1 == n;
            printf("%-*s%s", last ? 0 : (int)width[c], v, last ? "" : "  ");
        }
        putchar('\n');
    }
}

int cli_print_rows(cli_ctx *ctx, PGresult *res, const db_error *err, const char *const *columns)
{
    if (!res)
        return cli_fail_db(ctx, err);
    if (ctx->json)
        cli_print_result(ctx, res, 0);
    else
        cli_print_table(res, columns);
    PQclear(res);
    return EXIT_OK;
}

void cli_print_result(const cli_ctx *ctx, PGresult *res, int single)
{
    if (ctx->json) {
        if (single) {
            cli_print_json(PQntuples(res) ? cli_result_row_json(res, 0) : json_null());
            return;
        }
        json_t *arr = json_array();
        for (int r = 0; r < PQntuples(res); r++)
            json_array_append_new(arr, cli_result_row_json(res, r));
        cli_print_json(arr);
        return;
    }
    if (single && PQntuples(res) == 1) {
        for (int c = 0; c < PQnfields(res); c++)
            printf("%-20s %s\n", PQfname(res, c),
                   PQgetisnull(res, 0, c) ? "-" : PQgetvalue(res, 0, c));
        return;
    }
    cli_print_table(res, NULL);
}
