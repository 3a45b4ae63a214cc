/*
 * release.c - the release key directory, passphrase and key files that
 * the release commands share (see release.h).
 */
#include "tools/vigilctl/release.h"

#include "db/db_update.h"
#include "protocol/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

int release_dir(cli_ctx *ctx, const char *dir, const char **out)
{
    if (!dir || !dir[0])
        dir = getenv("VIGIL_RELEASE_DIR");
    if (!dir || !dir[0])
        return cli_fail(ctx, EXIT_CA,
                        "no release key directory given: set VIGIL_RELEASE_DIR or use "
                        "--release-dir (it is not the CA directory; after `make run`: "
                        "`. var/env` sets it)");
    *out = dir;
    return EXIT_OK;
}

int release_passphrase(cli_ctx *ctx)
{
    ca_error err = {0};
    if (ctx->passphrase_file && ctx->passphrase_env)
        return cli_usage_error(ctx, "give --passphrase-file or --passphrase-env, not both");
    /* none given: the key file is not encrypted (ctx->passphrase NULL) */
    if (ca_passphrase_find(ctx->passphrase_file, ctx->passphrase_env, "VIGIL_RELEASE_PASSPHRASE",
                           &ctx->passphrase, &err) < 0)
        return cli_fail_ca(ctx, &err);
    return EXIT_OK;
}

void release_key_path(const char *dir, const char *kid, char *path, size_t len)
{
    snprintf(path, len, "%s/%s.key", dir, kid);
}

int release_key_load(cli_ctx *ctx, const char *dir, const char *kid, json_t **jwk)
{
    char path[4096], got[MANIFEST_KID_LEN + 1] = "";
    ca_error err = {0};
    *jwk = NULL;
    release_key_path(dir, kid, path, sizeof(path));
    EVP_PKEY *key = ca_key_read(path, ctx->passphrase, &err);
    if (!key && err.status == CA_ERR_NOT_FOUND)
        return cli_fail(ctx, EXIT_CA,
                        "the active release key %s is not in %s (no %s): give the release key "
                        "directory that holds it with --release-dir or VIGIL_RELEASE_DIR",
                        kid, dir, path);
    if (!key && err.status == CA_ERR_PASSPHRASE && !ctx->passphrase)
        return cli_fail(ctx, EXIT_CA,
                        "%s is encrypted: give its passphrase with --passphrase-file, "
                        "--passphrase-env or VIGIL_RELEASE_PASSPHRASE",
                        path);
    if (!key && err.status == CA_ERR_PASSPHRASE)
        return cli_fail(ctx, EXIT_CA, "wrong passphrase for release key %s", path);
    if (!key)
        return cli_fail(ctx, EXIT_CA, "%s", err.msg);
    *jwk = manifest_jwk_from_key(key);
    EVP_PKEY_free(key);
    if (!*jwk || manifest_kid(*jwk, got) < 0 || strcmp(got, kid) != 0) {
        json_decref(*jwk);
        *jwk = NULL;
        return cli_fail(ctx, EXIT_CA,
                        "%s does not hold release key %s (it holds %s): key files are named "
                        "for their key; do not rename them",
                        path, kid, got[0] ? got : "no EC P-256 key");
    }
    return EXIT_OK;
}
