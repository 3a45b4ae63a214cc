/*
 * cmd_release.c - `vigilctl release create|list|show|revoke`: signed
 * releases of an artifact for one device class.
 *
 * create streams the artifact twice in DB_ARTIFACT_CHUNK pieces (never
 * the whole file in memory): once to learn its SHA-256 (its name in the
 * database), then, unless an artifact with that digest is stored already,
 * into artifact_chunks while hashing again, so a file that changed in
 * between is refused. The chunks, the release row with the manifest
 * signed by the active release key, and the audit row commit in one
 * transaction: a refusal leaves nothing behind. Release creation happens
 * here only: it needs the release key's private half, which never
 * reaches a server.
 */
#include "tools/vigilctl/commands.h"
#include "tools/vigilctl/release.h"

#include "db/db_update.h"
#include "protocol/device_id.h"
#include "protocol/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

enum {
    OPT_ARTIFACT = OPT_FIRST_COMMAND_OPTION,
    OPT_VERSION,
    OPT_SECURITY_VERSION,
    OPT_CLASS,
    OPT_EXPIRES,
    OPT_NOTES,
    OPT_REASON,
    OPT_LIMIT,
};

#define EXPIRES_DEFAULT (90 * 86400)
#define EXPIRES_MAX (10LL * 365 * 86400)

static const char create_usage[] =
    "Usage: vigilctl release create --artifact FILE --version V --security-version N\n"
    "                               --class CLASS [--expires DUR] [--notes TEXT]\n\n"
    "Store FILE as an artifact named by its SHA-256 (in 256 KiB chunks in\n"
    "PostgreSQL, so every vigild serves it; a file stored before is reused) and\n"
    "a release of it for device class CLASS, with a manifest (compact JWS, ES256)\n"
    "signed by the active release key: version, security version, class,\n"
    "artifact digest, size and path, issue time, expiry, key id. Everything\n"
    "commits in one transaction with its audit row (release.create): a refusal\n"
    "stores nothing. Releases are created only here, never through the API: the\n"
    "release key stays with the operator.\n\n"
    "Refused (exit 1): an empty, unreadable or non-regular FILE; a version the\n"
    "class has already; a security version below the class's newest (devices\n"
    "never go back: anti-rollback); no release key yet.\n\n"
    "Options:\n"
    "  --artifact FILE          the image devices install\n"
    "  --version V              " MANIFEST_VERSION_RULE "\n"
    "  --security-version N     0 to 2^53; at least the class's newest\n"
    "  --class CLASS            the device class it is for (" DEVICE_ID_RULE ")\n"
    "  --expires DUR            devices refuse the manifest after this (default 90d,\n"
    "                           at most 10y)\n"
    "  --notes TEXT             free text, at most 4096 bytes\n" RELEASE_KEY_HELP
    "--json prints the release (as `release show --json`, with artifact_reused).\n"
    "Exit codes: 0 created, 1 refused, 2 usage, 3 release key file or passphrase,\n"
    "4 database problem.\n" RELEASE_COMMON_HELP;

typedef struct create_args {
    const char *artifact, *version, *device_class, *notes, *dir;
    int64_t security_version, expires;
} create_args;

static int create_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    create_args *a = state;
    char *end = NULL;
    switch (opt) {
    case OPT_ARTIFACT:
        a->artifact = arg;
        return EXIT_OK;
    case OPT_VERSION:
        if (!manifest_version_valid(arg))
            return cli_usage_error(ctx, "--version '%s': use " MANIFEST_VERSION_RULE, arg);
        a->version = arg;
        return EXIT_OK;
    case OPT_SECURITY_VERSION:
        errno = 0;
        a->security_version = strtoll(arg, &end, 10);
        if (errno || end == arg || *end || arg[0] == '-' || arg[0] == '+' ||
            a->security_version > MANIFEST_SIZE_MAX)
            return cli_usage_error(ctx,
                                   "--security-version must be a number from 0 to 2^53, "
                                   "not '%s'",
                                   arg);
        return EXIT_OK;
    case OPT_CLASS:
        return cli_parse_class(ctx, arg, &a->device_class);
    case OPT_EXPIRES:
        if (cli_parse_duration(ctx, "expires", arg, &a->expires) != EXIT_OK)
            return EXIT_USAGE;
        if (a->expires > EXPIRES_MAX)
            return cli_usage_error(ctx, "--expires %s is more than 10y", arg);
        return EXIT_OK;
    case OPT_NOTES:
        if (strlen(arg) > DB_RELEASE_NOTES_MAX)
            return cli_usage_error(ctx, "--notes is at most %d bytes", DB_RELEASE_NOTES_MAX);
        a->notes = arg;
        return EXIT_OK;
    case OPT_RELEASE_DIR:
        a->dir = arg;
        return EXIT_OK;
    default:
        return cli_usage_error(ctx, "unexpected option");
    }
}

/* ---- the artifact ---- */

typedef struct artifact {
    int fd;
    const char *file;
    int64_t size;
    char sha256[MANIFEST_SHA256_LEN + 1];
    unsigned char *buf; /* DB_ARTIFACT_CHUNK bytes */
} artifact;

/* Opens FILE: a readable, non-empty regular file. */
static int artifact_open(cli_ctx *ctx, artifact *a, const char *file)
{
    struct stat st;
    a->file = file;
    if ((a->fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
        return cli_fail(ctx, EXIT_REFUSED, "cannot read artifact %s: %s", file, strerror(errno));
    if (fstat(a->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return cli_fail(ctx, EXIT_REFUSED,
                        "artifact %s is not a regular file: give the image file itself", file);
    if (st.st_size == 0)
        return cli_fail(ctx, EXIT_REFUSED, "artifact %s is empty: nothing to install", file);
    if ((int64_t)st.st_size > MANIFEST_SIZE_MAX)
        return cli_fail(ctx, EXIT_REFUSED, "artifact %s is larger than 2^53 bytes", file);
    a->size = st.st_size;
    if (!(a->buf = malloc(DB_ARTIFACT_CHUNK)))
        return cli_fail(ctx, EXIT_INTERNAL, "out of memory");
    return EXIT_OK;
}

/* Up to one chunk (fewer only at the end); bytes read, -1 on error. */
static ssize_t read_chunk(artifact *a)
{
    size_t got = 0;
    while (got < DB_ARTIFACT_CHUNK) {
        ssize_t n = read(a->fd, a->buf + got, DB_ARTIFACT_CHUNK - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* Reads the whole file from the start, hashing it and handing each chunk
 * to store (when not NULL); sha256 gets the digest. */
static int artifact_pass(cli_ctx *ctx, artifact *a, char sha256[MANIFEST_SHA256_LEN + 1],
                         int (*store)(cli_ctx *, artifact *, int, size_t))
{
    unsigned char md[32];
    unsigned int md_len = 0;
    int64_t total = 0;
    int rc = EXIT_OK;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    if (!h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL) || lseek(a->fd, 0, SEEK_SET) != 0)
        rc = cli_fail(ctx, EXIT_INTERNAL, "cannot hash artifact %s", a->file);
    for (int idx = 0; rc == EXIT_OK; idx++) {
        ssize_t n = read_chunk(a);
        if (n < 0)
            rc = cli_fail(ctx, EXIT_REFUSED, "cannot read artifact %s: %s", a->file,
                          strerror(errno));
        else if (n == 0)
            break;
        else if (!EVP_DigestUpdate(h, a->buf, (size_t)n))
            rc = cli_fail(ctx, EXIT_INTERNAL, "cannot hash artifact %s", a->file);
        else if (store)
            rc = store(ctx, a, idx, (size_t)n);
        total += n > 0 ? n : 0;
    }
    if (rc == EXIT_OK && (!EVP_DigestFinal_ex(h, md, &md_len) || md_len != 32))
        rc = cli_fail(ctx, EXIT_INTERNAL, "cannot hash artifact %s", a->file);
    if (rc == EXIT_OK && total != a->size)
        rc = cli_fail(ctx, EXIT_REFUSED,
                      "artifact %s changed while it was read (%" PRId64 " bytes, then %" PRId64
                      "): give a file nothing writes to",
                      a->file, a->size, total);
    for (unsigned int i = 0; rc == EXIT_OK && i < md_len; i++)
        snprintf(sha256 + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(h);
    return rc;
}

static int store_chunk(cli_ctx *ctx, artifact *a, int idx, size_t len)
{
    db_error err = {0};
    if (db_artifact_chunk(ctx->db, a->sha256, idx, a->buf, len, &err) < 0)
        return cli_fail_db(ctx, &err);
    return EXIT_OK;
}

/* Inside the transaction: the chunks unless stored already (*reused). */
static int artifact_store(cli_ctx *ctx, artifact *a, int *reused)
{
    db_error err = {0};
    char again[MANIFEST_SHA256_LEN + 1];
    int rc = db_artifact_begin(ctx->db, a->sha256, a->size, DB_ARTIFACT_CHUNK, &err);
    if (rc < 0)
        return cli_fail_db(ctx, &err);
    if ((*reused = rc == 1))
        return EXIT_OK;
    if ((rc = artifact_pass(ctx, a, again, store_chunk)) != EXIT_OK)
        return rc;
    if (strcmp(again, a->sha256) != 0)
        return cli_fail(ctx, EXIT_REFUSED,
                        "artifact %s changed while it was read (SHA-256 %s, then %s): give a "
                        "file nothing writes to",
                        a->file, a->sha256, again);
    return EXIT_OK;
}

/* ---- release create ---- */

/* The refusals known before anything is written: a duplicate version, a
 * security version below the class's newest. */
static int create_precheck(cli_ctx *ctx, const create_args *a)
{
    db_error err = {0};
    db_refusal why;
    char ref[DEVICE_ID_MAX + MANIFEST_VERSION_MAX + 2];
    snprintf(ref, sizeof(ref), "%s/%s", a->device_class, a->version);
    PGresult *res = db_release_get(ctx->db, ref, &why, &err);
    if (res) {
        int rc = cli_fail(ctx, EXIT_REFUSED,
                          "class %s has a release %s already (id %s, created %s): a version is "
                          "never reused; give a new --version",
                          a->device_class, a->version, PQgetvalue(res, 0, 0),
                          PQgetvalue(res, 0, PQfnumber(res, "created_at")));
        PQclear(res);
        return rc;
    }
    if (why.kind != DB_REFUSED_NOT_FOUND)
        return cli_fail_refusal(ctx, &why, &err, NULL);
    int64_t newest = db_release_newest_security_version(ctx->db, a->device_class, &err);
    if (newest < -1)
        return cli_fail_db(ctx, &err);
    if (a->security_version < newest)
        return cli_fail(ctx, EXIT_REFUSED,
                        "--security-version %" PRId64 " is below %" PRId64
                        ", the newest of class %s: devices never go back to a lower security "
                        "version (anti-rollback); give %" PRId64 " or more",
                        a->security_version, newest, a->device_class, newest);
    return EXIT_OK;
}

/* Signs the manifest and inserts the release; the row into *row. */
static int create_release(cli_ctx *ctx, const create_args *a, const artifact *art,
                          const json_t *key, const char *kid, PGresult **row)
{
    db_error err = {0};
    db_refusal why;
    db_actor who = {"os", ctx->actor};
    manifest m = {0};
    snprintf(m.version, sizeof(m.version), "%s", a->version);
    snprintf(m.device_class, sizeof(m.device_class), "%s", a->device_class);
    m.security_version = a->security_version;
    memcpy(m.sha256, art->sha256, sizeof(m.sha256));
    m.size = art->size;
    snprintf(m.path, sizeof(m.path), MANIFEST_PATH_PREFIX "%s", art->sha256);
    m.issued_at = (int64_t)time(NULL);
    m.expires_at = m.issued_at + a->expires;
    char *jws = manifest_sign(&m, key);
    if (!jws)
        return cli_fail(ctx, EXIT_INTERNAL, "cannot sign the manifest with release key %s", kid);
    db_release_new r = {a->version,  a->device_class,
                        a->notes,    a->security_version,
                        art->sha256, art->size,
                        m.issued_at, m.expires_at,
                        kid,         jws};
    *row = db_release_insert(ctx->db, &who, &r, &why, &err);
    free(jws);
    return *row ? EXIT_OK : cli_fail_refusal(ctx, &why, &err, NULL);
}

static void print_created(cli_ctx *ctx, PGresult *res, const artifact *art, int reused)
{
    if (ctx->json) {
        json_t *obj = cli_result_row_json(res, 0);
        json_object_set_new(obj, "artifact_reused", json_boolean(reused));
        cli_print_json(obj);
        return;
    }
    printf("release %s created: class %s, version %s, security version %s\n", PQgetvalue(res, 0, 0),
           PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3));
    printf("artifact %s, %" PRId64 " bytes (%s)\n", art->sha256, art->size,
           reused ? "stored before: reused" : "stored now");
    printf("manifest signed by release key %s, expires %s\n", PQgetvalue(res, 0, 6),
           PQgetvalue(res, 0, PQfnumber(res, "expires_at")));
    printf("roll it out: vigilctl rollout start %s/%s --percent 10\n", PQgetvalue(res, 0, 2),
           PQgetvalue(res, 0, 1));
}

static int create_run(cli_ctx *ctx, const create_args *a, artifact *art)
{
    char kid[44];
    const char *dir = NULL;
    db_error err = {0};
    json_t *key = NULL;
    PGresult *row = NULL;
    int reused = 0, rc = artifact_open(ctx, art, a->artifact);
    if (rc != EXIT_OK || (rc = cli_open_db(ctx)) != EXIT_OK)
        return rc;
    int has = db_release_key_active(ctx->db, kid, &err);
    if (has != 0)
        return has < 0 ? cli_fail_db(ctx, &err)
                       : cli_fail(ctx, EXIT_REFUSED,
                                  "there is no release key to sign with: make one with "
                                  "`vigilctl release key init`");
    if ((rc = release_dir(ctx, a->dir, &dir)) != EXIT_OK ||
        (rc = release_passphrase(ctx)) != EXIT_OK ||
        (rc = release_key_load(ctx, dir, kid, &key)) != EXIT_OK ||
        (rc = create_precheck(ctx, a)) != EXIT_OK ||
        (rc = artifact_pass(ctx, art, art->sha256, NULL)) != EXIT_OK ||
        (rc = cli_begin_audited(ctx)) != EXIT_OK ||
        (rc = artifact_store(ctx, art, &reused)) != EXIT_OK ||
        (rc = create_release(ctx, a, art, key, kid, &row)) != EXIT_OK ||
        (rc = cli_commit(ctx)) != EXIT_OK)
        goto done;
    print_created(ctx, row, art, reused);
done:
    PQclear(row);
    json_decref(key);
    return rc;
}

int cmd_release_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"artifact", required_argument, NULL, OPT_ARTIFACT},
        {"version", required_argument, NULL, OPT_VERSION},
        {"security-version", required_argument, NULL, OPT_SECURITY_VERSION},
        {"class", required_argument, NULL, OPT_CLASS},
        {"expires", required_argument, NULL, OPT_EXPIRES},
        {"notes", required_argument, NULL, OPT_NOTES},
        RELEASE_DIR_OPTION,
        CLI_COMMON_OPTIONS,
        {0}};
    cli_ctx ctx;
    create_args a = {.security_version = -1, .expires = EXPIRES_DEFAULT};
    artifact art = {.fd = -1};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "release create", create_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, create_option, &a, &rc);
    if (first < 0 || (rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK)
        goto done;
    if (!a.artifact || !a.version || a.security_version < 0 || !a.device_class)
        rc = cli_usage_error(&ctx, "--%s is required",
                             !a.artifact              ? "artifact"
                             : !a.version             ? "version"
                             : a.security_version < 0 ? "security-version"
                                                      : "class");
    else
        rc = create_run(&ctx, &a, &art);
done:
    if (art.fd >= 0)
        close(art.fd);
    free(art.buf);
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- release list ---- */

static const char list_usage[] =
    "Usage: vigilctl release list [--class CLASS] [--limit N]\n\n"
    "Releases, newest first: id, class, version, security version, state\n"
    "(active, revoked or expired), size, created and expiry times.\n\n"
    "Options:\n"
    "  --class CLASS   only this device class\n"
    "  --limit N       at most N releases (default 100)\n"
    "--json prints every column (artifact_sha256, kid, notes, revocation).\n" RELEASE_COMMON_HELP;

typedef struct list_args {
    const char *device_class;
    int limit;
} list_args;

static int list_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    list_args *a = state;
    if (opt == OPT_CLASS)
        return cli_parse_class(ctx, arg, &a->device_class);
    if (opt == OPT_LIMIT)
        return cli_parse_limit(ctx, arg, CLI_LIMIT_MAX, &a->limit);
    return cli_usage_error(ctx, "unexpected option");
}

int cmd_release_list(int argc, char **argv)
{
    static const struct option opts[] = {{"class", required_argument, NULL, OPT_CLASS},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    static const char *const columns[] = {"id",    "device_class", "version",    "security_version",
                                          "state", "size",         "created_at", "expires_at",
                                          NULL};
    cli_ctx ctx;
    list_args a = {NULL, 100};
    db_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "release list", list_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, list_option, &a, &rc);
    if (first < 0 || (rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    rc = cli_print_rows(&ctx, db_release_list(ctx.db, a.device_class, NULL, a.limit, &err), &err,
                        columns);
done:
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- release show ---- */

static const char show_usage[] =
    "Usage: vigilctl release show REF\n\n"
    "Show one release: its row, the manifest's claims as signed, whether the\n"
    "signature verifies with the published JWKS (`vigilctl release key export`),\n"
    "and the manifest itself (the compact JWS devices get). REF is the release id,\n"
    "CLASS/VERSION, or a version that only one class has.\n"
    "--json prints the row with manifest, claims and signature_valid.\n" RELEASE_COMMON_HELP;

/* The manifest's payload as JSON (not verified: what it says). */
static json_t *manifest_claims(const char *jws)
{
    json_t *claims = manifest_peek_claims(jws, strlen(jws));
    return claims ? claims : json_null();
}

static int show_action(cli_ctx *ctx, char **args)
{
    db_error err = {0};
    db_refusal why;
    char msg[200] = "";
    manifest m;
    PGresult *res = db_release_get(ctx->db, args[0], &why, &err);
    json_t *jwks = res ? db_release_jwks(ctx->db, &err) : NULL;
    if (!res || !jwks) {
        PQclear(res);
        return cli_fail_refusal(ctx, &why, &err, "see `vigilctl release list`");
    }
    const char *jws = PQgetvalue(res, 0, PQfnumber(res, "manifest"));
    int valid = manifest_verify(jws, strlen(jws), jwks, &m, msg, sizeof(msg)) == MANIFEST_OK;
    json_t *row = cli_result_row_json(res, 0), *claims = manifest_claims(jws);
    if (ctx->json) {
        json_object_set(row, "claims", claims);
        json_object_set_new(row, "signature_valid", json_boolean(valid));
        cli_print_json(json_incref(row));
    } else {
        for (int c = 0; c < PQnfields(res); c++)
            if (strcmp(PQfname(res, c), "manifest") != 0)
                printf("%-20s %s\n", PQfname(res, c),
                       PQgetisnull(res, 0, c) ? "-" : PQgetvalue(res, 0, c));
        char *text = json_dumps(claims, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("\nmanifest claims (as signed):\n%s\n", text ? text : "?");
        free(text);
        printf("signature: %s%s\n",
               valid ? "verifies with release key " : "DOES NOT VERIFY: ", valid ? m.kid : msg);
        printf("\nmanifest (compact JWS):\n%s\n", jws);
    }
    json_decref(row);
    json_decref(claims);
    json_decref(jwks);
    PQclear(res);
    return EXIT_OK;
}

int cmd_release_show(int argc, char **argv)
{
    return cli_run_db_command("release show", show_usage, argc, argv, 1,
                              "release (id or "
                              "CLASS/VERSION)",
                              show_action);
}

/* ---- release revoke ---- */

static const char revoke_usage[] =
    "Usage: vigilctl release revoke REF [--reason TEXT]\n\n"
    "Revoke a release: vigild never offers it again (every node, on commit), and\n"
    "its live rollout, if any, is aborted. Audited (release.revoke, and\n"
    "rollout.aborted for the rollout). A device that installed it keeps it: roll\n"
    "out a fixed release. REF is the release id, CLASS/VERSION or a version only\n"
    "one class has.\n\n"
    "Options:\n"
    "  --reason TEXT   why, kept with the release (at most 1024 bytes)\n"
    "Exit codes: 0 revoked, 1 unknown or already revoked, 4 database problem.\n"
    "--json prints the release as it now is.\n" RELEASE_COMMON_HELP;

static int revoke_run(cli_ctx *ctx, const char *ref, const char *reason)
{
    db_error err = {0};
    db_refusal why;
    db_actor who = {"os", ctx->actor};
    int rc = cli_begin_audited(ctx);
    if (rc != EXIT_OK)
        return rc;
    PGresult *res = db_release_revoke(ctx->db, &who, ref, reason, &why, &err);
    if (!res)
        return cli_fail_refusal(ctx, &why, &err, "see `vigilctl release list`");
    if ((rc = cli_commit(ctx)) == EXIT_OK) {
        if (ctx->json)
            cli_print_result(ctx, res, 1);
        else
            printf("release %s (%s/%s) revoked: it is offered to no device again; its live "
                   "rollout, if any, is aborted\n",
                   PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    return rc;
}

int cmd_release_revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, OPT_REASON}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    const char *reason = NULL;
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "release revoke", revoke_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, cli_string_option, &reason, &rc);
    if (first >= 0 && (rc = cli_expect_args(&ctx, argc, argv, first, 1, "release")) == EXIT_OK)
        rc = revoke_run(&ctx, argv[first], reason);
    cli_ctx_free(&ctx);
    return rc;
}
