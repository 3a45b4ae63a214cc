/*
 * cli.h - vigil-device's command line: one table of options, the options
 * each command takes (and needs), option names matched exactly (getopt's
 * abbreviations are refused: `--sever` is not `--severity`), values
 * checked before the command does anything, and each command's --help
 * with its defaults (cli_help.c).
 */
#ifndef VIGIL_DEVICE_CLI_H
#define VIGIL_DEVICE_CLI_H

#include <getopt.h>
#include <stddef.h>

/* Every option of every command; bit (1 << id) in a command's masks. */
typedef enum devcli_opt {
    DO_SERVER,
    DO_CERT,
    DO_KEY,
    DO_CA,
    DO_QUEUE_DIR,
    DO_MAX_TIME,
    DO_JSON,
    DO_FILE,
    DO_TYPE,
    DO_SEVERITY,
    DO_COMPONENT,
    DO_FIRMWARE,
    DO_DETAILS,
    DO_OCCURRED_AT,
    DO_ID,
    DO_COUNT,
    DO_OUT_DIR,
    DO_KEY_TYPE,
    DO_SAME_KEY,
    DO_OUT,
    DO_REPORT_EVERY,
    DO_KEYS,
    DO_STATE_DIR,
    DO_INSTALL_DIR,
    DO_CLASS,
    DO_UPDATE_INTERVAL,
    DO_HELP,
    DO_VERSION,
    DO_COUNT_OF
} devcli_opt;

#define DO_BIT(o) (1UL << (o))

typedef struct devcli_opts {
    const char *server, *cert, *key, *ca, *queue_dir, *file, *type, *severity, *component,
        *firmware, *details, *occurred_at, *id, *out_dir, *key_type, *out, *keys, *state_dir,
        *install_dir, *device_class;
    long long max_ms, report_every_ms, update_every_ms;
    long count;
    int json, same_key;
    unsigned long given; /* DO_BIT of each option on the command line */
} devcli_opts;

typedef struct devcli_command {
    const char *name;
    const char *help;    /* its --help (cli_help.c) */
    unsigned long takes; /* the options it accepts */
    unsigned long needs; /* those it cannot do without */
} devcli_command;

/* The usage text of `vigil-device --help`: the commands and exit codes. */
extern const char devcli_usage[];

/* The command called name, or NULL. */
const devcli_command *devcli_find(const char *name);


enum { DEVCLI_RUN = 0, DEVCLI_HELP = 1, DEVCLI_VERSION = 2, DEVCLI_USAGE = -1 };

/* Parses the options of cmd (argv[0] is the command's name) into o and
 * checks them: exact names, each taken by cmd, values of the right form
 * (durations, counts, key types, HOST:PORT), nothing missing that cmd
 * needs. DEVCLI_RUN, DEVCLI_HELP or DEVCLI_VERSION (asked for), or
 * DEVCLI_USAGE with err saying what is wrong, quoting the value given. */
int devcli_parse(const devcli_command *cmd, int argc, char **argv, devcli_opts *o, char *err,
                 size_t errlen);

/* "500ms", "30s" (or "30"), "2m", "1h" as milliseconds; 0, or -1. */
int devcli_duration_ms(const char *s, long long *out);

#endif
