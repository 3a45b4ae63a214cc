/*
 * release.h - what the release commands share (cmd_release_key.c,
 * cmd_release.c): the release key directory, the release key's
 * passphrase, and reading the private key a release is signed with.
 *
 * A release key is not a CA key: it lives in its own directory
 * (--release-dir or VIGIL_RELEASE_DIR) as <dir>/<kid>.key, PEM, 0600,
 * PKCS#8-encrypted when a passphrase is given (--passphrase-file,
 * --passphrase-env, or VIGIL_RELEASE_PASSPHRASE; never the CA's). The
 * database holds only its public half.
 */
#ifndef VIGIL_RELEASE_H
#define VIGIL_RELEASE_H

#include "tools/vigilctl/cli.h"

#include <jansson.h>

enum { OPT_RELEASE_DIR = OPT_FIRST_COMMAND_OPTION + 50 };

#define RELEASE_DIR_OPTION                                                                         \
    {                                                                                              \
        "release-dir", required_argument, NULL, OPT_RELEASE_DIR                                    \
    }

/* The common options of the release commands, for their --help. */
#define RELEASE_COMMON_HELP                                                                        \
    "\nCommon options:\n"                                                                          \
    "  --database-url URL     PostgreSQL (libpq URI or key=value); default $VIGIL_DATABASE_URL\n"  \
    "  --json                 machine-readable output\n"                                           \
    "  -h, --help             this help\n"
#define RELEASE_KEY_HELP                                                                           \
    "  --release-dir DIR      release key directory; default $VIGIL_RELEASE_DIR\n"                 \
    "  --passphrase-file F    the release key's passphrase, first line of F\n"                     \
    "  --passphrase-env VAR   ... or from environment variable VAR\n"                              \
    "                         (default: $VIGIL_RELEASE_PASSPHRASE when set; none: the key\n"       \
    "                         file is not encrypted)\n"

/* The release key directory: --release-dir (dir, may be NULL), else
 * VIGIL_RELEASE_DIR. Prints and returns EXIT_CA when there is none. */
int release_dir(cli_ctx *ctx, const char *dir, const char **out);

/* Loads the release key passphrase into ctx->passphrase (NULL when none
 * is given). Never falls back to the CA's VIGIL_CA_PASSPHRASE. */
int release_passphrase(cli_ctx *ctx);

/* <dir>/<kid>.key into path (PATH_MAX). */
void release_key_path(const char *dir, const char *kid, char *path, size_t len);

/* Reads <dir>/<kid>.key with ctx->passphrase: its private JWK (kid
 * checked against the file name) into *jwk. EXIT_CA with a message for
 * a missing file or a wrong or missing passphrase. */
int release_key_load(cli_ctx *ctx, const char *dir, const char *kid, json_t **jwk);

#endif
