/*
 * cli.h - what every vigilctl command shares: exit codes, the common
 * options (database, CA directory, passphrase), opening the CA and the
 * database with messages an operator can act on, the audit actor, and
 * printing query results as a table or as JSON.
 */
#ifndef VIGIL_CLI_H
#define VIGIL_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "cert-authority/ca.h"
#include "db/db.h"
#include "db/db_renewal.h"

#include <jansson.h>

/* Exit codes: scripts branch on these, so they never change meaning. */
enum {
    EXIT_OK = 0,
    EXIT_REFUSED = 1,   /* invalid input, conflict, not found */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_CA = 3,        /* CA directory or key unusable, wrong passphrase */
    EXIT_DB = 4,        /* database unavailable or failing */
    EXIT_INTERNAL = 5,
};

enum {
    OPT_DATABASE_URL = 1000,
    OPT_CA_DIR,
    OPT_PASSPHRASE_FILE,
    OPT_PASSPHRASE_ENV,
    OPT_JSON,
    OPT_OUT,
    OPT_FIRST_COMMAND_OPTION = 1100,
};

#define CLI_COMMON_OPTIONS                                                  \
    {"database-url", required_argument, NULL, OPT_DATABASE_URL},            \
    {"ca-dir", required_argument, NULL, OPT_CA_DIR},                        \
    {"passphrase-file", required_argument, NULL, OPT_PASSPHRASE_FILE},      \
    {"passphrase-env", required_argument, NULL, OPT_PASSPHRASE_ENV},        \
    {"json", no_argument, NULL, OPT_JSON},                                  \
    {"help", no_argument, NULL, 'h'}

/* --out FILE, for the commands whose output a user would redirect into a
 * file (a certificate, a chain, CRLs): list it beside CLI_COMMON_OPTIONS and
 * print with cli_write_out. */
#define CLI_OUT_OPTION {"out", required_argument, NULL, OPT_OUT}
#define CLI_OUT_HELP                                                                        \
    "  --out FILE        write the PEM to FILE (mode 0644) instead of stdout: atomically\n" \
    "                    (a temporary file renamed into place) and only on success, so\n"  \
    "                    a refused command leaves an existing FILE as it was\n"

/* The text every command's --help ends with. */
#define CLI_COMMON_HELP                                                                   \
    "\nCommon options:\n"                                                                 \
    "  --database-url URL     PostgreSQL (libpq URI or key=value); default $VIGIL_DATABASE_URL\n" \
    "  --ca-dir DIR           CA directory; default $VIGIL_CA_DIR\n"                     \
    "  --passphrase-file F    read the CA key passphrase from the first line of F\n"     \
    "  --passphrase-env VAR   read it from environment variable VAR\n"                   \
    "                         (default: $VIGIL_CA_PASSPHRASE when set)\n"                \
    "  --json                 machine-readable output where the command prints data\n"  \
    "  -h, --help             this help\n"

typedef struct cli_ctx {
    const char *command;        /* "device enroll", for messages */
    const char *usage;          /* the full --help text */
    const char *database_url;
    const char *ca_dir;
    const char *passphrase_file;
    const char *passphrase_env;
    int json;
    const char *out_path;       /* --out FILE, or NULL: stdout */
    char *passphrase;           /* loaded on demand, wiped on exit */
    PGconn *db;
    ca_store *ca;
    char actor[64];
} cli_ctx;

typedef int (*cli_command_fn)(int argc, char **argv);

void cli_ctx_init(cli_ctx *ctx, const char *command, const char *usage);
void cli_ctx_free(cli_ctx *ctx);

/* Runs getopt_long over argv (argv[0] is the command name). The common
 * options and --help are handled here; the command's own go to on_option,
 * which returns EXIT_OK or an exit code. Returns the index of the first
 * positional argument, or -1 with *exit_code set when the command is done. */
typedef int (*cli_option_fn)(cli_ctx *ctx, int opt, const char *arg, void *state);
int cli_parse_options(cli_ctx *ctx, int argc, char **argv, const struct option *opts,
                      cli_option_fn on_option, void *state, int *exit_code);
/* An on_option for a command with one option of its own that takes a
 * value: stores it in *(const char **)state. */
int cli_string_option(cli_ctx *ctx, int opt, const char *arg, void *state);
/* Checks that exactly `n` positional arguments follow the options at `first`
 * (what names them in the message). */
int cli_expect_args(cli_ctx *ctx, int argc, char **argv, int first, int n, const char *what);
int cli_usage_error(cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The whole life of a command that takes only the common options and
 * n_args positional arguments (named by what): parse, check the count,
 * open the database, run fn with the arguments, clean up. */
typedef int (*cli_db_action)(cli_ctx *ctx, char **args);
int cli_run_db_command(const char *command, const char *usage, int argc, char **argv, int n_args,
                       const char *what, cli_db_action fn);

/* Prints "vigilctl <command>: <message>" and returns code. */
int cli_fail(cli_ctx *ctx, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cli_fail_ca(cli_ctx *ctx, const ca_error *err);
int cli_fail_db(cli_ctx *ctx, const db_error *err);
/* A db layer's answer of NULL: a refusal (why set) exits 1 with its
 * message, and for DB_REFUSED_NOT_FOUND with hint (may be NULL) after it
 * in parentheses ("see `vigilctl device list`"); else a database failure. */
int cli_fail_refusal(cli_ctx *ctx, const db_refusal *why, const db_error *err, const char *hint);

/* The command's result (PEM text): to --out FILE atomically when given,
 * else to stdout. Call it only once the command has succeeded. Returns the
 * exit code (a file that cannot be written exits 1 naming it). */
int cli_write_out(cli_ctx *ctx, const char *data, size_t len);

/* Open what a command needs; on failure they print and return an exit code. */
int cli_open_db(cli_ctx *ctx);
int cli_open_ca(cli_ctx *ctx, int unlock);
int cli_load_passphrase(cli_ctx *ctx);  /* ctx->passphrase stays NULL if none given */
int cli_require_ca_dir(cli_ctx *ctx);

/* Writes one audit row as the OS user running vigilctl. */
int cli_audit(cli_ctx *ctx, const char *action, const char *device_id, const char *serial,
              const char *details_json);

/* A CA action runs in one transaction with its audit row: open it before
 * the key is used, commit after the result is on disk. A database that is
 * down thus stops the action before anything is written. */
int cli_begin_audited(cli_ctx *ctx);
int cli_commit(cli_ctx *ctx);
/* Like cli_audit with details as JSON (db_audit_json); consumes details:
 * NULL (a json_pack that failed) is reported as out of memory. */
int cli_audit_json(cli_ctx *ctx, const char *action, const char *device_id, const char *serial,
                   json_t *details);

/* In the open transaction: tells every vigild that the set of issuing CAs
 * changed (NOTIFY ca_changed with the new issuer's SKI, on commit). */
int cli_notify_ca_changed(cli_ctx *ctx, const char *issuer_ski);

int cli_parse_duration(cli_ctx *ctx, const char *opt, const char *text, int64_t *out);
int cli_parse_class(cli_ctx *ctx, const char *text, const char **out);
/* --device ID: a valid device id, else a usage error quoting it. */
int cli_parse_device(cli_ctx *ctx, const char *text, const char **out);
/* 1 to max printable ASCII characters, no spaces: a firmware version, an
 * actor or action name. */
int cli_printable_word(const char *s, size_t max);

/* A time option: an RFC 3339 time or a duration back from now. */
#define CLI_WHEN_HELP                                                                              \
    "WHEN is an RFC 3339 time (2026-11-25T10:00:00Z, 2026-11-25T12:00:00+02:00) or a\n"            \
    "duration back from now: a number and s, m, h or d (90s, 15m, 1h, 7d).\n"
typedef struct cli_when {
    char text[40]; /* what PostgreSQL gets: RFC 3339 UTC */
    int64_t us;    /* the same, for comparing since and until */
} cli_when;
int cli_parse_when(cli_ctx *ctx, const char *opt, const char *arg, cli_when *out);

/* A keyset cursor "A.B" (two decimal numbers, as the operator API's
 * incident cursors and vigilctl's "next page" lines print them); copies the
 * two parts into a and b (24 bytes each). */
int cli_parse_cursor(cli_ctx *ctx, const char *arg, char a[24], char b[24]);
/* --limit N with 1 <= N <= max; listings of the registry allow CLI_LIMIT_MAX. */
#define CLI_LIMIT_MAX 100000
int cli_parse_limit(cli_ctx *ctx, const char *text, int max, int *out);

/* Query results: a table with a header, or a JSON array of objects (one
 * object when single is set). Integers and booleans keep their JSON type. */
void cli_print_result(const cli_ctx *ctx, PGresult *res, int single);
/* The table of cli_print_result with only the named columns, in that
 * order (a NULL-terminated list; NULL: every column). */
void cli_print_table(PGresult *res, const char *const *columns);
/* A listing: a JSON array of every column with --json, else the table of
 * columns; res NULL is the database failure in err. Clears res; returns
 * the exit code. */
int cli_print_rows(cli_ctx *ctx, PGresult *res, const db_error *err, const char *const *columns);
json_t *cli_result_row_json(PGresult *res, int row);

/* The first rows of res, named columns only (absent ones skipped), as a
 * table of printable ASCII cells of at most 32 characters (timestamps to
 * the second, booleans yes/no), with the header line when header is set. */
void cli_print_cells(PGresult *res, const char *const *names, int header, int rows);

/* A keyset-paged listing. fetch returns the next page of at most limit
 * rows (from where advance last left state); advance moves state past row
 * and writes the cursor text a user gives back with --after. */
typedef struct cli_pager {
    PGresult *(*fetch)(cli_ctx *ctx, void *state, int limit, db_error *err);
    void (*advance)(void *state, PGresult *res, int row, char *cursor, size_t len);
    const char *const *columns; /* the table's */
    const char *drop;           /* a column --json leaves out, or NULL */
    int limit;                  /* rows a page */
    int all;                    /* every page, or only one */
} cli_pager;
/* One page (all: every page) as a table or, with --json, one JSON array;
 * when a page was left unread, "next page: --after CURSOR" on stderr.
 * Returns the exit code. */
int cli_print_pages(cli_ctx *ctx, const cli_pager *p, void *state);
void cli_print_json(json_t *value);   /* consumes value */

#endif
