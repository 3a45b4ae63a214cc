/*
 * cmd_release_key.c - `vigilctl release key init|rotate|export`: the
 * ES256 keys that sign update manifests.
 *
 * The private key is written to <release dir>/<kid>.key (0600, encrypted
 * when a passphrase is given); the database gets only the public JWK, in
 * the same transaction as its audit row. The file is written before the
 * commit and removed again if the commit fails, so a key is never in the
 * database without its file (when the connection is lost during the
 * commit, whose outcome is then unknown, the file stays). A rotation
 * signs an endorsement of the new key with the active one, so a device
 * that pinned the old key can trust the new one from the JWKS alone.
 */
#include "tools/vigilctl/commands.h"
#include "tools/vigilctl/release.h"

#include "db/db_update.h"
#include "protocol/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char init_usage[] =
    "Usage: vigilctl release key init [--release-dir DIR] [--passphrase-file F]\n\n"
    "Make the first release key: an EC P-256 key that signs update manifests\n"
    "(ES256). It is not a CA key and never goes to the database or to vigild:\n"
    "only its public half is stored. Its id (kid) is its RFC 7638 thumbprint;\n"
    "the private key goes to DIR/<kid>.key, mode 0600, encrypted (AES-256,\n"
    "PKCS#8) when a passphrase is given. DIR is made (0700) if missing.\n"
    "Refused when a release key exists, in the database or as a .key file in\n"
    "DIR: add keys with `vigilctl release key rotate`.\n\n"
    "Options:\n" RELEASE_KEY_HELP "--json prints {kid, path, encrypted}.\n"
    "Exit codes: 0 made, 1 a key exists, 3 directory or passphrase problem,\n"
    "4 database problem.\n" RELEASE_COMMON_HELP;

static const char rotate_usage[] =
    "Usage: vigilctl release key rotate [--release-dir DIR] [--passphrase-file F]\n\n"
    "Make a new release key and make it the active one (it signs every release\n"
    "created from now on). The key active until now signs an endorsement of the\n"
    "new key (a JWS, typ vigil-keys, listing it); the JWKS carries both keys and\n"
    "the endorsement, so releases signed by the old key still verify and a device\n"
    "that pinned only the old key learns the new one through the endorsement.\n"
    "The active key's file must be in DIR; the same passphrase reads it and\n"
    "encrypts the new key's file.\n\n"
    "Options:\n" RELEASE_KEY_HELP "--json prints {kid, path, encrypted, endorsed_by}.\n"
    "Exit codes: 0 rotated, 1 no key yet, 3 key file or passphrase problem,\n"
    "4 database problem.\n" RELEASE_COMMON_HELP;

static const char export_usage[] =
    "Usage: vigilctl release key export\n\n"
    "Print the JWKS of the release keys: {\"keys\": [public JWKs, oldest first],\n"
    "\"endorsements\": [JWS, oldest first]}. It holds no private key. This is the\n"
    "file a device pins at provisioning (`vigilctl release key export >\n"
    "release-keys.json`), and what GET /v1/update/keys serves; `jose jws ver -k`\n"
    "verifies manifests with it.\n"
    "Exit codes: 0, 1 no release key yet, 4 database problem.\n" RELEASE_COMMON_HELP;

static const char key_usage[] = "Usage: vigilctl release key init|rotate|export [options]\n\n"
                                "Commands:\n"
                                "  init     make the first release key\n"
                                "  rotate   make a new active key, endorsed by the current one\n"
                                "  export   print the JWKS devices pin\n\n"
                                "`vigilctl release key <command> --help` tells more.\n";

/* A .key file in dir (its name into found), 1; 0 none; -1 unreadable. */
static int dir_has_key(const char *dir, char *found, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".key") == 0) {
            snprintf(found, len, "%s", e->d_name);
            rc = 1;
        }
    }
    closedir(d);
    return rc;
}

/* A new P-256 key, its private JWK and its kid. */
static int new_key(cli_ctx *ctx, EVP_PKEY **key, json_t **jwk, char kid[MANIFEST_KID_LEN + 1])
{
    ca_error err = {0};
    *jwk = NULL;
    if (!(*key = ca_key_generate(CA_KEY_P256, &err)))
        return cli_fail_ca(ctx, &err);
    if (!(*jwk = manifest_jwk_from_key(*key)) || manifest_kid(*jwk, kid) < 0)
        return cli_fail(ctx, EXIT_INTERNAL, "cannot make the JWK of a new P-256 key");
    return EXIT_OK;
}

/* Stores the public half (endorsed or first), writes the key file and
 * commits; the file goes again if the commit fails. */
static int store_key(cli_ctx *ctx, const char *dir, EVP_PKEY *key, const json_t *jwk,
                     const char *kid, const char *endorsement, const char *endorsed_by)
{
    db_error err = {0};
    db_refusal why;
    ca_error cerr = {0};
    db_actor who = {"os", ctx->actor};
    char path[4096];
    json_t *pub = manifest_jwk_public(jwk);
    if (!pub)
        return cli_fail(ctx, EXIT_INTERNAL, "out of memory");
    int stored = db_release_key_add(ctx->db, &who, kid, pub, endorsement, endorsed_by, &why, &err);
    json_decref(pub);
    if (stored < 0)
        return cli_fail_refusal(ctx, &why, &err, NULL);
    release_key_path(dir, kid, path, sizeof(path));
    if (ca_key_write(path, key, ctx->passphrase, &cerr) < 0)
        return cli_fail(ctx, EXIT_CA, "%s", cerr.msg);
    int rc = cli_commit(ctx);
    if (rc != EXIT_OK && PQstatus(ctx->db) == CONNECTION_BAD) {
        /* the commit may have happened: a stored key without its file
         * could sign nothing and endorse no successor, so it stays */
        fprintf(stderr,
                "vigilctl: the connection was lost during the commit, so whether release key %s "
                "was stored is unknown; its file %s is kept. If `vigilctl release key export` "
                "lists %s, it was; if not, remove the file\n",
                kid, path, kid);
        return rc;
    }
    if (rc != EXIT_OK) {
        unlink(path);
        return rc;
    }
    if (ctx->json) {
        cli_print_json(json_pack("{s:s, s:s, s:b, s:s?}", "kid", kid, "path", path, "encrypted",
                                 ctx->passphrase != NULL, "endorsed_by", endorsed_by));
    } else {
        printf("release key %s %s: %s (%s)\n", kid, endorsed_by ? "is now active" : "made", path,
               ctx->passphrase ? "encrypted" : "not encrypted: give a passphrase to encrypt it");
        if (endorsed_by)
            printf("endorsed by %s, which still verifies the releases it signed\n", endorsed_by);
        printf("devices pin the keys of `vigilctl release key export`\n");
    }
    return EXIT_OK;
}

/* The command's life: options, directory, passphrase, a transaction. */
static int key_begin(cli_ctx *ctx, int argc, char **argv, const char **dir, int *rc)
{
    static const struct option opts[] = {RELEASE_DIR_OPTION, CLI_COMMON_OPTIONS, {0}};
    const char *given = NULL;
    int first = cli_parse_options(ctx, argc, argv, opts, cli_string_option, &given, rc);
    if (first < 0)
        return -1;
    if ((*rc = cli_expect_args(ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (*rc = release_dir(ctx, given, dir)) != EXIT_OK ||
        (*rc = release_passphrase(ctx)) != EXIT_OK || (*rc = cli_begin_audited(ctx)) != EXIT_OK)
        return -1;
    return 0;
}

static int key_init(int argc, char **argv)
{
    cli_ctx ctx;
    const char *dir = NULL;
    char kid[MANIFEST_KID_LEN + 1], active[44], found[256];
    db_error err = {0};
    EVP_PKEY *key = NULL;
    json_t *jwk = NULL;
    int rc = EXIT_OK, has;
    cli_ctx_init(&ctx, "release key init", init_usage);
    if (key_begin(&ctx, argc, argv, &dir, &rc) < 0)
        goto done;
    if ((has = db_release_key_active(ctx.db, active, &err)) < 0) {
        rc = cli_fail_db(&ctx, &err);
        goto done;
    }
    if (has == 0) {
        rc = cli_fail(&ctx, EXIT_REFUSED,
                      "a release key exists already (%s): add one with `vigilctl release key "
                      "rotate`",
                      active);
        goto done;
    }
    if ((has = dir_has_key(dir, found, sizeof(found))) != 0) {
        rc = has < 0 ? cli_fail(&ctx, EXIT_CA, "cannot read release key directory %s: %s", dir,
                                strerror(errno))
                     : cli_fail(&ctx, EXIT_REFUSED,
                                "%s holds a release key file already (%s) that the database "
                                "does not know: give an empty --release-dir, or move it away",
                                dir, found);
        goto done;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = cli_fail(&ctx, EXIT_CA, "cannot make release key directory %s: %s", dir,
                      strerror(errno));
        goto done;
    }
    if ((rc = new_key(&ctx, &key, &jwk, kid)) == EXIT_OK)
        rc = store_key(&ctx, dir, key, jwk, kid, NULL, NULL);
done:
    json_decref(jwk);
    EVP_PKEY_free(key);
    cli_ctx_free(&ctx);
    return rc;
}

/* Endorses the new key (jwk) with the active key active's file. */
static int endorse(cli_ctx *ctx, const char *dir, const char *active, const json_t *jwk,
                   char **endorsement)
{
    json_t *signer = NULL, *pub = manifest_jwk_public(jwk);
    json_t *list = pub ? json_pack("[o]", pub) : NULL;
    int rc = list ? release_key_load(ctx, dir, active, &signer) : EXIT_INTERNAL;
    if (rc == EXIT_OK && !(*endorsement = manifest_endorse(list, signer, (int64_t)time(NULL))))
        rc = cli_fail(ctx, EXIT_INTERNAL, "cannot sign the endorsement of the new key");
    else if (!list)
        cli_fail(ctx, rc, "out of memory");
    json_decref(signer);
    json_decref(list);
    return rc;
}

static int key_rotate(int argc, char **argv)
{
    cli_ctx ctx;
    const char *dir = NULL;
    char kid[MANIFEST_KID_LEN + 1], active[44], *endorsement = NULL;
    db_error err = {0};
    EVP_PKEY *key = NULL;
    json_t *jwk = NULL;
    int rc = EXIT_OK, has;
    cli_ctx_init(&ctx, "release key rotate", rotate_usage);
    if (key_begin(&ctx, argc, argv, &dir, &rc) < 0)
        goto done;
    if ((has = db_release_key_active(ctx.db, active, &err)) != 0) {
        rc = has < 0 ? cli_fail_db(&ctx, &err)
                     : cli_fail(&ctx, EXIT_REFUSED,
                                "there is no release key to rotate: make the first one with "
                                "`vigilctl release key init`");
        goto done;
    }
    if ((rc = new_key(&ctx, &key, &jwk, kid)) != EXIT_OK ||
        (rc = endorse(&ctx, dir, active, jwk, &endorsement)) != EXIT_OK)
        goto done;
    rc = store_key(&ctx, dir, key, jwk, kid, endorsement, active);
done:
    free(endorsement);
    json_decref(jwk);
    EVP_PKEY_free(key);
    cli_ctx_free(&ctx);
    return rc;
}

static int export_action(cli_ctx *ctx, char **args)
{
    (void)args;
    db_error err = {0};
    json_t *jwks = db_release_jwks(ctx->db, &err);
    if (!jwks)
        return cli_fail_db(ctx, &err);
    if (json_array_size(json_object_get(jwks, "keys")) == 0) {
        json_decref(jwks);
        return cli_fail(ctx, EXIT_REFUSED,
                        "there is no release key yet: make one with `vigilctl release key init`");
    }
    cli_print_json(jwks);
    return EXIT_OK;
}

int cmd_release_key(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return key_init(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "rotate") == 0)
        return key_rotate(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "export") == 0)
        return cli_run_db_command("release key export", export_usage, argc - 1, argv + 1, 0, "",
                                  export_action);
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(key_usage, stdout);
        return EXIT_OK;
    }
    if (argc >= 2)
        fprintf(stderr, "vigilctl: unknown command 'release key %s'\n\n", argv[1]);
    fputs(key_usage, stderr);
    return EXIT_USAGE;
}
