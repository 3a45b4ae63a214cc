/*
 * cmd_token.c - `vigilctl token create|list|revoke`: the bearer tokens of
 * the operator REST API.
 *
 * A token is "vgl_" and 43 base64url characters (256 random bits). It is
 * printed once, as the last line of stdout, and only the SHA-256 of the
 * whole string is stored, so neither the database nor its backups hold a
 * working token. Every create and revoke writes its audit row in the same
 * transaction as the change.
 */
#include "tools/vigilctl/commands.h"

#include "db/db_token.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

enum { OPT_ROLE = OPT_FIRST_COMMAND_OPTION, OPT_NAME, OPT_EXPIRES };

#define TOKEN_PREFIX "vgl_"
#define TOKEN_RANDOM_BYTES 32
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + 43) /* 43 = base64url of 32 bytes, unpadded */
#define EXPIRES_MAX (100LL * 365 * 86400)

#define NAME_RULE "1-64 characters A-Z a-z 0-9 . _ @ - starting with a letter or digit"

static int name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '@' && c != '-')))
            return 0;
    }
    return 1;
}

/* ---- token create ---- */

static const char create_usage[] =
    "Usage: vigilctl token create --role viewer|operator|admin --name NAME [--expires DUR]\n\n"
    "Make a bearer token for the operator API. The token is printed once, alone\n"
    "on the last line of stdout (`| tail -n1` in scripts); only its SHA-256 is\n"
    "stored, so it cannot be shown again: revoke it and make another if lost.\n\n"
    "Roles: viewer reads everything under /v1 except the audit log; operator\n"
    "also quarantines and releases devices and revokes certificates; admin also\n"
    "decommissions devices and reads the audit log.\n\n"
    "Options:\n"
    "  --role ROLE     viewer, operator or admin\n"
    "  --name NAME     who or what uses it (" NAME_RULE ");\n"
    "                  one live token per name; recorded in the audit log\n"
    "  --expires DUR   valid for DUR from now (e.g. 12h, 30d); default: no expiry\n"
    "  --json          print {\"name\",\"role\",\"expires_at\",\"token\"} "
    "instead\n" CLI_COMMON_HELP;

typedef struct create_args {
    const char *role, *name;
    int64_t expires; /* seconds; 0 = never */
} create_args;

static int create_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    create_args *a = state;
    switch (opt) {
    case OPT_ROLE:
        if (strcmp(arg, "viewer") && strcmp(arg, "operator") && strcmp(arg, "admin"))
            return cli_usage_error(ctx, "--role must be viewer, operator or admin, not '%s'", arg);
        a->role = arg;
        return EXIT_OK;
    case OPT_NAME:
        if (!name_valid(arg))
            return cli_usage_error(ctx, "--name '%s': use " NAME_RULE, arg);
        a->name = arg;
        return EXIT_OK;
    case OPT_EXPIRES: {
        int rc = cli_parse_duration(ctx, "expires", arg, &a->expires);
        if (rc == EXIT_OK && a->expires > EXPIRES_MAX)
            return cli_usage_error(ctx, "--expires: at most 100y; leave it out for a token "
                                        "that never expires");
        return rc;
    }
    default:
        return cli_usage_error(ctx, "unexpected option");
    }
}

typedef struct secret {
    unsigned char random[TOKEN_RANDOM_BYTES];
    char b64[48]; /* EVP_EncodeBlock: 44 characters and a NUL */
    char token[TOKEN_LEN + 1];
    char sha256_hex[65];
} secret;

/* Fills s->token and s->sha256_hex from fresh random bytes. */
static int make_token(cli_ctx *ctx, secret *s)
{
    if (RAND_bytes(s->random, sizeof(s->random)) != 1)
        return cli_fail(ctx, EXIT_INTERNAL, "the random number generator failed");
    int n = EVP_EncodeBlock((unsigned char *)s->b64, s->random, sizeof(s->random));
    if (n != 44)
        return cli_fail(ctx, EXIT_INTERNAL, "cannot encode the token");
    for (int i = 0; i < n; i++) /* base64 to base64url; the one '=' is dropped below */
        s->b64[i] = s->b64[i] == '+' ? '-' : s->b64[i] == '/' ? '_' : s->b64[i];
    memcpy(s->token, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1);
    memcpy(s->token + sizeof(TOKEN_PREFIX) - 1, s->b64, 43);
    s->token[TOKEN_LEN] = '\0';
    if (db_token_hash(s->token, s->sha256_hex) < 0)
        return cli_fail(ctx, EXIT_INTERNAL, "cannot hash the token");
    return EXIT_OK;
}

/* A JSON string for v (null when NULL); the caller frees it. */
static char *json_text(const char *v)
{
    json_t *j = v ? json_string(v) : json_null();
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return text;
}

/* The token goes straight from our buffer to stdout, never through jansson,
 * so that no copy is left in memory we cannot wipe. */
static int print_created(cli_ctx *ctx, const create_args *a, const char *expires_at,
                         const secret *s)
{
    if (ctx->json) {
        char *name = json_text(a->name), *role = json_text(a->role), *exp = json_text(expires_at);
        if (!name || !role || !exp) {
            free(name);
            free(role);
            free(exp);
            return cli_fail(ctx, EXIT_INTERNAL, "out of memory");
        }
        printf(
            "{\n  \"name\": %s,\n  \"role\": %s,\n  \"expires_at\": %s,\n  \"token\": \"%s\"\n}\n",
            name, role, exp, s->token);
        free(name);
        free(role);
        free(exp);
    } else {
        fprintf(stderr,
                "created token '%s' with role %s, %s%s\n"
                "Store it now: it is shown only this once (only its SHA-256 is kept).\n",
                a->name, a->role, expires_at ? "expires " : "never expires",
                expires_at ? expires_at : "");
        printf("%s\n", s->token);
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_fail(ctx, EXIT_INTERNAL,
                        "could not print the token; it is stored, so revoke it with "
                        "`vigilctl token revoke %s` and make another",
                        a->name);
    return EXIT_OK;
}

/* Stores the token and its audit row in one transaction. */
static int store_token(cli_ctx *ctx, const create_args *a, const char *expires, const secret *s)
{
    db_error err = {0};
    int64_t id = 0;
    db_token_new row = {a->name, a->role, s->sha256_hex, ctx->actor, expires};
    int rc = cli_begin_audited(ctx);
    if (rc != EXIT_OK)
        return rc;
    int r = db_token_create(ctx->db, &row, &id, &err);
    if (r < 0)
        return cli_fail_db(ctx, &err);
    if (r == DB_TOKEN_EXISTS) {
        db_rollback(ctx->db);
        return cli_fail(ctx, EXIT_REFUSED,
                        "a live token named '%s' exists: revoke it first (`vigilctl token "
                        "revoke %s`) or choose another --name",
                        a->name, a->name);
    }
    json_t *details = json_pack("{s:s,s:s,s:o}", "name", a->name, "role", a->role, "expires_at",
                                expires ? json_string(expires) : json_null());
    if ((rc = cli_audit_json(ctx, "token.create", NULL, NULL, details)) != EXIT_OK)
        return rc;
    return cli_commit(ctx);
}

static int create_token(cli_ctx *ctx, const create_args *a)
{
    secret s;
    char expires_at[32];
    const char *expires = NULL;
    if (a->expires > 0) {
        time_t at = time(NULL) + (time_t)a->expires;
        struct tm tm;
        if (!gmtime_r(&at, &tm) ||
            !strftime(expires_at, sizeof(expires_at), "%Y-%m-%dT%H:%M:%SZ", &tm))
            return cli_fail(ctx, EXIT_INTERNAL, "cannot compute the expiry time");
        expires = expires_at;
    }
    memset(&s, 0, sizeof(s));
    int rc = make_token(ctx, &s);
    if (rc == EXIT_OK && (rc = store_token(ctx, a, expires, &s)) == EXIT_OK)
        rc = print_created(ctx, a, expires, &s);
    OPENSSL_cleanse(&s, sizeof(s));
    return rc;
}

int cmd_token_create(int argc, char **argv)
{
    static const struct option opts[] = {{"role", required_argument, NULL, OPT_ROLE},
                                         {"name", required_argument, NULL, OPT_NAME},
                                         {"expires", required_argument, NULL, OPT_EXPIRES},
                                         CLI_COMMON_OPTIONS,
                                         {0}};
    cli_ctx ctx;
    create_args a = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "token create", create_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, create_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK)
        goto done;
    if (!a.role || !a.name)
        rc = cli_usage_error(&ctx, "--role and --name are required");
    else
        rc = create_token(&ctx, &a);
done:
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- token list ---- */

static const char list_usage[] =
    "Usage: vigilctl token list [--json]\n\n"
    "List API tokens, live ones first: name, role, status (active, expired or\n"
    "revoked), when and by whom each was made, when it expires, was revoked and\n"
    "was last used. Tokens themselves are never stored, so never shown.\n" CLI_COMMON_HELP;

static int list_action(cli_ctx *ctx, char **args)
{
    db_error err = {0};
    (void)args;
    PGresult *res = db_tokens_list(ctx->db, &err);
    if (!res)
        return cli_fail_db(ctx, &err);
    cli_print_result(ctx, res, 0);
    PQclear(res);
    return EXIT_OK;
}

int cmd_token_list(int argc, char **argv)
{
    return cli_run_db_command("token list", list_usage, argc, argv, 0, "", list_action);
}

/* ---- token revoke ---- */

static const char revoke_usage[] =
    "Usage: vigilctl token revoke NAME\n\n"
    "Revoke the live token named NAME: vigild refuses it from then on. The row\n"
    "stays (status revoked) for the audit trail, and NAME may be given to a new\n"
    "token.\n" CLI_COMMON_HELP;

static int revoke_token(cli_ctx *ctx, const char *name)
{
    db_error err = {0};
    db_token_revoked out = {{0}};
    int rc = cli_begin_audited(ctx);
    if (rc != EXIT_OK)
        return rc;
    int r = db_token_revoke(ctx->db, name, &out, &err);
    if (r < 0)
        return cli_fail_db(ctx, &err);
    if (r == DB_TOKEN_NOT_FOUND) {
        db_rollback(ctx->db);
        return cli_fail(ctx, EXIT_REFUSED, "no live token named '%s' (see `vigilctl token list`)",
                        name);
    }
    if ((rc = cli_audit_json(ctx, "token.revoke", NULL, NULL,
                             json_pack("{s:s,s:s}", "name", name, "role", out.role))) != EXIT_OK ||
        (rc = cli_commit(ctx)) != EXIT_OK)
        return rc;
    if (ctx->json)
        cli_print_json(json_pack("{s:s,s:s,s:s}", "name", name, "role", out.role, "revoked_at",
                                 out.revoked_at));
    else
        printf("revoked token '%s' (role %s)\n", name, out.role);
    return EXIT_OK;
}

static int revoke_action(cli_ctx *ctx, char **args)
{
    return revoke_token(ctx, args[0]);
}

int cmd_token_revoke(int argc, char **argv)
{
    return cli_run_db_command("token revoke", revoke_usage, argc, argv, 1, "token name",
                              revoke_action);
}
