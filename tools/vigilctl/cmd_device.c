/*
 * cmd_device.c - `vigilctl device create|list|show`: test devices whose key
 * vigilctl makes itself, and looking up the registry. Enrolling real
 * devices from their CSRs is in cmd_device_enroll.c.
 */
#include "tools/vigilctl/commands.h"
#include "tools/vigilctl/enroll.h"

#include "db/db_admin.h"
#include "protocol/device_id.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OPT_ID = OPT_FIRST_COMMAND_OPTION, OPT_OUT_DIR, OPT_CLASS, OPT_VALIDITY, OPT_BACKDATE,
       OPT_KEY_TYPE, OPT_STATUS, OPT_PREFIX, OPT_LIMIT, OPT_FIRMWARE };

/* ---- device create ---- */

static const char create_usage[] =
    "Usage: vigilctl device create --id ID --out-dir DIR [options]\n\n"
    "FOR TESTS ONLY: make a key here and issue its certificate, writing\n"
    "DIR/ID.key (0600) and DIR/ID.crt. A real device makes its own key and is\n"
    "enrolled from its CSR with `vigilctl device enroll`.\n\n"
    "Options:\n"
    "  --id ID            device id\n"
    "  --out-dir DIR      where to write the key and certificate\n"
    "  --class CLASS      device class (default 'default')\n"
    "  --validity DUR     certificate lifetime (default: the CA's)\n"
    "  --backdate DUR     start the validity this long ago (to test expiry)\n"
    "  --key-type TYPE    p256 (default), p384 or ed25519\n"
    CLI_COMMON_HELP;

typedef struct create_args {
    const char *id, *out_dir, *device_class;
    int64_t validity, backdate;
    ca_key_type key_type;
} create_args;

static int create_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    create_args *a = state;
    switch (opt) {
    case OPT_ID: a->id = arg; return EXIT_OK;
    case OPT_OUT_DIR: a->out_dir = arg; return EXIT_OK;
    case OPT_CLASS: return cli_parse_class(ctx, arg, &a->device_class);
    case OPT_VALIDITY: return cli_parse_duration(ctx, "validity", arg, &a->validity);
    case OPT_BACKDATE: return cli_parse_duration(ctx, "backdate", arg, &a->backdate);
    case OPT_KEY_TYPE:
        if (ca_key_type_parse(arg, &a->key_type) < 0)
            return cli_usage_error(ctx, "--key-type must be p256, p384 or ed25519");
        return EXIT_OK;
    default: return cli_usage_error(ctx, "unexpected option");
    }
}

static int create_paths(cli_ctx *ctx, const create_args *a, char *key, char *crt)
{
    if (snprintf(key, PATH_MAX, "%s/%s.key", a->out_dir, a->id) >= PATH_MAX ||
        snprintf(crt, PATH_MAX, "%s/%s.crt", a->out_dir, a->id) >= PATH_MAX)
        return cli_usage_error(ctx, "--out-dir is too long");
    if (access(key, F_OK) == 0 || access(crt, F_OK) == 0)
        return cli_fail(ctx, EXIT_REFUSED, "%s or %s exists: remove it or choose another "
                        "--out-dir", key, crt);
    return EXIT_OK;
}

static int create_write(cli_ctx *ctx, const char *dir, const char *key_path, const char *crt_path, EVP_PKEY *key,
                        X509 *cert)
{
    ca_error err = {0};
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return cli_fail(ctx, EXIT_REFUSED, "cannot create %s: %s", dir, strerror(errno));
    if (ca_key_write(key_path, key, NULL, &err) < 0)
        return cli_fail_ca(ctx, &err);
    if (ca_certs_write(crt_path, &cert, 1, &err) < 0) {
        unlink(key_path);
        return cli_fail_ca(ctx, &err);
    }
    return EXIT_OK;
}

int cmd_device_create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"id", required_argument, NULL, OPT_ID}, {"out-dir", required_argument, NULL, OPT_OUT_DIR},
        {"class", required_argument, NULL, OPT_CLASS},
        {"validity", required_argument, NULL, OPT_VALIDITY},
        {"backdate", required_argument, NULL, OPT_BACKDATE},
        {"key-type", required_argument, NULL, OPT_KEY_TYPE}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    create_args a = {0};
    char key_path[PATH_MAX], crt_path[PATH_MAX];
    ca_issued issued = {0};
    ca_error err = {0};
    EVP_PKEY *key = NULL;
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "device create", create_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, create_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK)
        goto done;
    if (!a.id || !a.out_dir) {
        rc = cli_usage_error(&ctx, "--id and --out-dir are required");
        goto done;
    }
    if (!device_id_valid(a.id)) {
        rc = cli_fail(&ctx, EXIT_REFUSED, "invalid device id '%s': use " DEVICE_ID_RULE, a.id);
        goto done;
    }
    if ((rc = create_paths(&ctx, &a, key_path, crt_path)) != EXIT_OK ||
        (rc = cli_begin_audited(&ctx)) != EXIT_OK || (rc = cli_open_ca(&ctx, 1)) != EXIT_OK)
        goto done;
    if (!(key = ca_key_generate(a.key_type, &err))) {
        rc = cli_fail_ca(&ctx, &err);
        goto done;
    }
    enroll_request r = {a.id, a.device_class, key, a.validity, a.backdate, 0, "created"};
    if ((rc = enroll_device(&ctx, &r, &issued)) != EXIT_OK ||
        (rc = create_write(&ctx, a.out_dir, key_path, crt_path, key, issued.cert)) != EXIT_OK)
        goto done;
    if ((rc = cli_commit(&ctx)) != EXIT_OK) {
        unlink(key_path);
        unlink(crt_path);
        goto done;
    }
    fprintf(stderr, "warning: %s was made by vigilctl, not on the device: use it for tests "
            "only\n", key_path);
    if (ctx.json)
        cli_print_json(enroll_result_json(a.id, &issued));
    else
        printf("created %s and %s (serial %s)\n", key_path, crt_path, issued.serial);
done:
    ca_issued_clear(&issued);
    EVP_PKEY_free(key);
    cli_ctx_free(&ctx);
    return rc;
}

/* ---- device list / show ---- */

/* device list and devices: one list, two names. */
#define LIST_HELP                                                                                  \
    "List devices in id order with their class, status, firmware, and when and\n"                \
    "from where each was last seen (the operator API's GET /v1/devices).\n\n"                     \
    "Options:\n"                                                                                   \
    "  --status S     active, quarantined or decommissioned\n"                                     \
    "  --class C      only this device class\n"                                                    \
    "  --firmware V   only devices that last reported firmware version V\n"                        \
    "  --prefix P     only ids starting with P\n"                                                  \
    "  --limit N      at most N devices (default 100)\n" CLI_COMMON_HELP

static const char list_usage[] =
    "Usage: vigilctl device list [--status S] [--class C] [--firmware V] [--prefix P] [--limit N]\n\n"
    LIST_HELP;

static const char devices_usage[] =
    "Usage: vigilctl devices [--status S] [--class C] [--firmware V] [--prefix P] [--limit N]\n\n"
    LIST_HELP;

typedef struct list_args {
    db_device_filter f;
    int limit;
} list_args;

static int list_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    list_args *a = state;
    switch (opt) {
    case OPT_STATUS:
        if (strcmp(arg, "active") && strcmp(arg, "quarantined") && strcmp(arg, "decommissioned"))
            return cli_usage_error(ctx, "--status must be active, quarantined or decommissioned");
        a->f.status = arg;
        return EXIT_OK;
    case OPT_CLASS: a->f.device_class = arg; return EXIT_OK;
    case OPT_FIRMWARE: a->f.firmware_version = arg; return EXIT_OK;
    case OPT_PREFIX: a->f.id_prefix = arg; return EXIT_OK;
    case OPT_LIMIT: return cli_parse_limit(ctx, arg, CLI_LIMIT_MAX, &a->limit);
    default: return cli_usage_error(ctx, "unexpected option");
    }
}

static int run_list(int argc, char **argv, const char *command, const char *usage)
{
    static const struct option opts[] = {
        {"status", required_argument, NULL, OPT_STATUS},
        {"class", required_argument, NULL, OPT_CLASS},
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"limit", required_argument, NULL, OPT_LIMIT}, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    list_args a = {0};
    db_error err = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, command, usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, list_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK ||
        (rc = cli_open_db(&ctx)) != EXIT_OK)
        goto done;
    PGresult *res = db_devices_page(ctx.db, &a.f, NULL, a.limit > 0 ? a.limit : 100, &err);
    if (!res) {
        rc = cli_fail_db(&ctx, &err);
        goto done;
    }
    cli_print_result(&ctx, res, 0);
    PQclear(res);
done:
    cli_ctx_free(&ctx);
    return rc;
}

int cmd_device_list(int argc, char **argv)
{
    return run_list(argc, argv, "device list", list_usage);
}

int cmd_devices(int argc, char **argv)
{
    return run_list(argc, argv, "devices", devices_usage);
}

static const char show_usage[] =
    "Usage: vigilctl device show ID\n\n"
    "Show one device and its certificates. A quarantined device shows who\n"
    "quarantined it, when and why (quarantined_by, quarantined_at,\n"
    "quarantine_reason: the newest device.quarantine audit row); a decommissioned\n"
    "one the same as decommissioned_by, decommissioned_at, decommission_reason.\n"
    CLI_COMMON_HELP;

static void print_device_text(json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (json_is_array(v))
            continue;
        char *text = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
        printf("%-20s %s\n", key,
               json_is_string(v) ? json_string_value(v) : json_is_null(v) ? "-" : text ? text : "?");
        free(text);
    }
}

static int show_device(cli_ctx *ctx, const char *id)
{
    db_error err = {0};
    PGresult *dev = db_device_row(ctx->db, id, 0, &err), *certs = NULL;
    json_t *obj = NULL;
    int rc = EXIT_OK;
    if (!dev || !(certs = db_certs_list(ctx->db, id, NULL, 1000, &err))) {
        rc = cli_fail_db(ctx, &err);
        goto done;
    }
    if (PQntuples(dev) == 0) {
        rc = cli_fail(ctx, EXIT_REFUSED, "no device %s (see `vigilctl device list`)", id);
        goto done;
    }
    obj = cli_result_row_json(dev, 0);
    if (db_device_status_note(ctx->db, dev, obj, &err) < 0) {
        rc = cli_fail_db(ctx, &err);
        goto done;
    }
    if (ctx->json) {
        json_t *arr = json_array();
        for (int i = 0; i < PQntuples(certs); i++)
            json_array_append_new(arr, cli_result_row_json(certs, i));
        json_object_set_new(obj, "certificates", arr);
        cli_print_json(obj);
        obj = NULL;
    } else {
        print_device_text(obj);
        printf("\n");
        cli_print_result(ctx, certs, 0);
    }
done:
    json_decref(obj);
    PQclear(dev);
    PQclear(certs);
    return rc;
}

static int show_action(cli_ctx *ctx, char **args)
{
    return show_device(ctx, args[0]);
}

int cmd_device_show(int argc, char **argv)
{
    return cli_run_db_command("device show", show_usage, argc, argv, 1, "device id", show_action);
}
