/*
 * main.c - vigilctl, the operator's command line: the device certificate
 * authority, the device registry, signed releases and their rollouts, and
 * the database schema.
 *
 * vigilctl talks to PostgreSQL and to the CA directory directly (never
 * through vigild), so it works before the server runs and while it is down.
 * This file only finds the command; each group lives in cmd_<group>.c.
 * A command without a name (`vigilctl incidents --since 1h`) runs when its
 * group is given alone or followed by an option.
 */
#include <stdio.h>
#include <string.h>

#include "protocol/version.h"
#include "tools/vigilctl/cli.h"
#include "tools/vigilctl/commands.h"

typedef struct command {
    const char *group;
    const char *name; /* NULL: the group's own command */
    cli_command_fn run;
    const char *summary;
} command;

static const command commands[] = {
    {"db", "migrate", cmd_db_migrate, "apply pending schema migrations"},
    {"ca", "init", cmd_ca_init, "create a root CA and an issuing CA"},
    {"ca", "show", cmd_ca_show, "describe the CA: issuers, trust, policy"},
    {"ca", "chain", cmd_ca_chain, "print the trusted issuing CAs and the root (PEM)"},
    {"ca", "server-cert", cmd_ca_server_cert, "issue a TLS certificate for vigild"},
    {"ca", "crl", cmd_ca_crl, "print signed CRLs of the trusted issuing CAs (PEM)"},
    {"ca", "rotate", cmd_ca_rotate, "start a new issuing CA; the old one stays trusted"},
    {"ca", "policy", cmd_ca_policy, "show or set the certificate renewal policy"},
    {"device", "enroll", cmd_device_enroll, "sign a device's CSR (or a directory of them)"},
    {"device", "create", cmd_device_create, "make a key and certificate for a test device"},
    {"device", "list", cmd_device_list, "list devices"},
    {"device", "show", cmd_device_show, "show one device and its certificates"},
    {"device", "allow-renewal", cmd_device_allow_renewal,
     "let a device renew once with its (expired) certificate"},
    {"device", "tag", cmd_device_tag, "add tags to a device (rollout groups)"},
    {"device", "untag", cmd_device_untag, "remove tags from a device"},
    {"device", "quarantine", cmd_device_quarantine,
     "quarantine: reports marked, no renewal, no update"},
    {"device", "release", cmd_device_release, "end a device's quarantine"},
    {"device", "decommission", cmd_device_decommission,
     "retire a device for good: its connections close"},
    {"cert", "revoke", cmd_cert_revoke, "revoke certificates by serial or device"},
    {"cert", "list", cmd_cert_list, "list certificates"},
    {"cert", "show", cmd_cert_show, "show one certificate"},
    {"token", "create", cmd_token_create, "make an operator API token (printed once)"},
    {"token", "list", cmd_token_list, "list API tokens and their status"},
    {"token", "revoke", cmd_token_revoke, "revoke an API token by name"},
    {"release", "key", cmd_release_key, "release signing keys: init, rotate, export (JWKS)"},
    {"release", "create", cmd_release_create, "store an artifact and sign its release"},
    {"release", "list", cmd_release_list, "list releases"},
    {"release", "show", cmd_release_show, "show a release, its manifest and signature"},
    {"release", "revoke", cmd_release_revoke, "never offer a release again"},
    {"rollout", "start", cmd_rollout_start, "offer a release to a share of its class"},
    {"rollout", "widen", cmd_rollout_widen, "reach more devices"},
    {"rollout", "pause", cmd_rollout_pause, "stop offering, for now"},
    {"rollout", "resume", cmd_rollout_resume, "offer again after a pause or a halt"},
    {"rollout", "abort", cmd_rollout_abort, "end a rollout for good"},
    {"rollout", "status", cmd_rollout_status, "devices per state, health, halt reason"},
    {"rollout", "list", cmd_rollout_list, "list rollouts"},
    {"incidents", NULL, cmd_incidents, "list incidents, newest first, with filters"},
    {"incidents", "groups", cmd_incidents_groups, "incidents grouped by fingerprint"},
    {"incidents", "stats", cmd_incidents_stats, "incident counts per time bucket and type"},
    {"audit", NULL, cmd_audit, "the audit log: who did what, newest first"},
    {"devices", NULL, cmd_devices, "list devices: class, status, last seen"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_help(FILE *out)
{
    fputs("Usage: vigilctl <group> <command> [options]\n\n"
          "Operate a Vigil fleet: the device certificate authority, the device registry,\n"
          "incidents, signed releases and rollouts, operator API tokens and the database\n"
          "schema.\n"
          "`vigilctl <group> <command> --help` tells more; `vigilctl --version` prints\n"
          "the version.\n\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %-14s %s\n", commands[i].group,
                commands[i].name ? commands[i].name : "", commands[i].summary);
    fputs("\nEnvironment: VIGIL_DATABASE_URL, VIGIL_CA_DIR, VIGIL_CA_PASSPHRASE,\n"
          "VIGIL_RELEASE_DIR, VIGIL_RELEASE_PASSPHRASE. A secret can come from the\n"
          "first line of a file instead (a Docker secret): VIGIL_CA_PASSPHRASE_FILE,\n"
          "VIGIL_RELEASE_PASSPHRASE_FILE, and VIGIL_DATABASE_PASSWORD_FILE for the\n"
          "database password.\n"
          "Exit codes: 0 ok, 1 refused (bad input, conflict, not found), 2 usage,\n"
          "3 CA directory or key problem (a release key too), 4 database problem,\n"
          "5 internal error.\n",
          out);
}

/* `vigilctl GROUP --help` (and a mistake in GROUP): the group's commands. */
static void print_group_help(FILE *out, const char *group)
{
    fprintf(out, "Usage: vigilctl %s <command> [options]\n\nCommands:\n", group);
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].group, group) == 0)
            fprintf(out, "  %-14s %s\n", commands[i].name ? commands[i].name : "",
                    commands[i].summary);
    fprintf(out, "\n`vigilctl %s <command> --help` tells more; `vigilctl --help` lists every group.\n",
            group);
}

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0 || strcmp(arg, "help") == 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || is_help(argv[1])) {
        print_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        version_print("vigilctl");
        return EXIT_OK;
    }
    int group_known = 0;
    const command *bare = NULL;
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i].group, argv[1]) != 0)
            continue;
        group_known = 1;
        if (!commands[i].name)
            bare = &commands[i];
        else if (argc > 2 && strcmp(commands[i].name, argv[2]) == 0)
            return commands[i].run(argc - 2, argv + 2);
    }
    if (bare && (argc == 2 || argv[2][0] == '-'))
        return bare->run(argc - 1, argv + 1);
    if (group_known && argc == 3 && is_help(argv[2])) {
        print_group_help(stdout, argv[1]);
        return EXIT_OK;
    }
    if (group_known) {
        if (argc > 2 && argv[2][0] != '-')
            fprintf(stderr, "vigilctl: unknown command '%s %s'\n\n", argv[1], argv[2]);
        else
            fprintf(stderr, "vigilctl %s: which command?\n\n", argv[1]);
        print_group_help(stderr, argv[1]);
        return EXIT_USAGE;
    }
    fprintf(stderr, "vigilctl: unknown command group '%s'\n\n", argv[1]);
    print_help(stderr);
    return EXIT_USAGE;
}
