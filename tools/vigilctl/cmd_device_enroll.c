/*
 * cmd_device_enroll.c - `vigilctl device enroll`: sign a device's own CSR
 * (proof of possession: the key never left the device), or a directory of
 * them from a manufacturing line.
 *
 * A batch is all or nothing: every file is parsed and checked first, then
 * every device is enrolled in one transaction; if anything fails, nothing is
 * committed and the certificate files written so far are removed.
 */
#include "tools/vigilctl/commands.h"
#include "tools/vigilctl/enroll.h"

#include "protocol/device_id.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BATCH_MAX 100000

static const char enroll_usage[] =
    "Usage: vigilctl device enroll --csr FILE [--id ID] [--out FILE] [options]\n"
    "       vigilctl device enroll --csr-dir DIR [--out-dir DIR] [options]\n\n"
    "Sign a device's certificate signing request (PKCS#10, PEM or DER) with the\n"
    "issuing CA and record the device and certificate. The CSR's self-signature\n"
    "is checked (the device holds the key) and weak keys are refused (RSA under\n"
    "2048 bits; curves other than P-256, P-384, Ed25519), and so is a key on the\n"
    "compromised-keys list (a key revoked for keyCompromise, see `vigilctl cert\n"
    "revoke`: the device must make a new key). The device id is the CSR's subject\n"
    "CN unless --id gives it (they must agree when both exist). With --csr the\n"
    "certificate PEM is printed on stdout, or written to --out FILE.\n\n"
    "With --csr-dir every *.csr, *.pem and *.der file in DIR is enrolled in one\n"
    "transaction, ids from their CNs; certificates go to OUT/<id>.crt. If any file\n"
    "is bad, nothing is enrolled and each bad file is named with the reason.\n\n"
    "Options:\n"
    "  --csr FILE        the device's CSR\n"
    CLI_OUT_HELP
    "  --csr-dir DIR     a directory of CSRs (a manufacturing batch)\n"
    "  --out-dir DIR     where batch certificates go (default: the CSR directory)\n"
    "  --id ID           device id: 1-64 of A-Z a-z 0-9 . _ -, starting alphanumeric\n"
    "  --class CLASS     device class (default 'default'; kept for a known device)\n"
    "  --validity DUR    certificate lifetime (default: the CA's, 30d unless set)\n"
    "  --replace         supersede the device's active certificate (revoked as\n"
    "                    superseded) instead of refusing\n" CLI_COMMON_HELP;

enum { OPT_CSR = OPT_FIRST_COMMAND_OPTION, OPT_CSR_DIR, OPT_OUT_DIR, OPT_ID, OPT_CLASS,
       OPT_VALIDITY, OPT_REPLACE };

typedef struct enroll_args {
    const char *csr, *csr_dir, *out_dir, *id, *device_class;
    int64_t validity;
    int replace;
} enroll_args;

static int enroll_option(cli_ctx *ctx, int opt, const char *arg, void *state)
{
    enroll_args *a = state;
    switch (opt) {
    case OPT_CSR: a->csr = arg; return EXIT_OK;
    case OPT_CSR_DIR: a->csr_dir = arg; return EXIT_OK;
    case OPT_OUT_DIR: a->out_dir = arg; return EXIT_OK;
    case OPT_ID: a->id = arg; return EXIT_OK;
    case OPT_CLASS: return cli_parse_class(ctx, arg, &a->device_class);
    case OPT_VALIDITY: return cli_parse_duration(ctx, "validity", arg, &a->validity);
    case OPT_REPLACE: a->replace = 1; return EXIT_OK;
    default: return cli_usage_error(ctx, "unexpected option");
    }
}

/* Reads and checks one CSR and works out the device id (from `id` or the
 * CN). On failure writes the reason, naming the file, into why and
 * returns NULL. */
static X509_REQ *load_csr(const char *path, const char *id, char out_id[DEVICE_ID_MAX + 1],
                          char *why, size_t whylen)
{
    ca_error err = {0};
    char cn[256], msg[512];
    X509_REQ *req = NULL;
    if (id && !device_id_valid(id)) {
        snprintf(why, whylen, "invalid device id '%.64s': use " DEVICE_ID_RULE, id);
        return NULL;
    }
    if (!(req = ca_csr_read(path, &err))) { /* its message names the file */
        snprintf(why, whylen, "%s", err.msg);
        return NULL;
    }
    int has_cn = ca_csr_check(req, &err) < 0 ? -2 : ca_csr_common_name(req, cn, sizeof(cn));
    const char *chosen = id ? id : has_cn == 1 ? cn : NULL;
    if (has_cn == -2)
        snprintf(msg, sizeof(msg), "%s", err.msg);
    else if (has_cn < 0)
        snprintf(msg, sizeof(msg), "the CSR subject has an unusable common name");
    else if (has_cn && id && strcmp(cn, id) != 0)
        snprintf(msg, sizeof(msg), "--id %.64s differs from the CSR's common name '%.64s'", id,
                 cn);
    else if (!chosen)
        snprintf(msg, sizeof(msg), "the CSR has no common name: give the device id with --id");
    else if (!device_id_valid(chosen))
        snprintf(msg, sizeof(msg), "invalid device id '%.64s': use " DEVICE_ID_RULE, chosen);
    else {
        snprintf(out_id, DEVICE_ID_MAX + 1, "%.64s", chosen);
        return req;
    }
    snprintf(why, whylen, "%s: %s", path, msg);
    X509_REQ_free(req);
    return NULL;
}

static int enroll_single(cli_ctx *ctx, const enroll_args *a)
{
    char id[DEVICE_ID_MAX + 1], why[600];
    ca_issued issued = {0};
    int rc;
    X509_REQ *req = load_csr(a->csr, a->id, id, why, sizeof(why));
    if (!req)
        return cli_fail(ctx, EXIT_REFUSED, "%s", why);
    if ((rc = cli_begin_audited(ctx)) != EXIT_OK || (rc = cli_open_ca(ctx, 1)) != EXIT_OK)
        goto done;
    enroll_request r = {id, a->device_class, X509_REQ_get0_pubkey(req), a->validity, 0,
                        a->replace, "csr"};
    if ((rc = enroll_device(ctx, &r, &issued)) != EXIT_OK || (rc = cli_commit(ctx)) != EXIT_OK)
        goto done;
    if (ctx->json && !ctx->out_path) {
        cli_print_json(enroll_result_json(id, &issued));
    } else {
        char *pem = ca_cert_pem(issued.cert);
        rc = pem ? cli_write_out(ctx, pem, strlen(pem)) : cli_fail(ctx, EXIT_INTERNAL, "out of memory");
        free(pem);
        if (rc == EXIT_OK && ctx->json)
            cli_print_json(enroll_result_json(id, &issued));
        else if (rc == EXIT_OK)
            fprintf(stderr, "enrolled %s: serial %s%s%s\n", id, issued.serial,
                    ctx->out_path ? "; certificate in " : "", ctx->out_path ? ctx->out_path : "");
        else
            fprintf(stderr, "vigilctl %s: %s is enrolled (serial %s) but its certificate was "
                    "not written: `vigilctl cert show %s --pem --out FILE` writes it\n",
                    ctx->command, id, issued.serial, issued.serial);
    }
done:
    ca_issued_clear(&issued);
    X509_REQ_free(req);
    return rc;
}

/* ---- batches ---- */

typedef struct batch_item {
    char *file;                        /* path */
    char id[DEVICE_ID_MAX + 1];
    X509_REQ *req;
    char *written;                     /* certificate file, once written */
} batch_item;

typedef struct batch {
    batch_item *items;
    size_t n, cap;
} batch;

static void batch_free(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].file);
        free(b->items[i].written);
        X509_REQ_free(b->items[i].req);
    }
    free(b->items);
}

static int is_csr_name(const char *name)
{
    size_t n = strlen(name);
    const char *exts[] = {".csr", ".pem", ".der"};
    if (name[0] == '.')
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (n > 4 && strcmp(name + n - 4, exts[i]) == 0)
            return 1;
    return 0;
}

/* "csrs/" and "csrs" name files the same way: csrs/a.csr, never csrs//a.csr. */
static int ends_in_slash(const char *dir)
{
    size_t n = strlen(dir);
    return n > 0 && dir[n - 1] == '/';
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp(((const batch_item *)a)->file, ((const batch_item *)b)->file);
}

static int batch_list(cli_ctx *ctx, const char *dir, batch *b)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return cli_fail(ctx, EXIT_REFUSED, "cannot open --csr-dir %s: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        if (!is_csr_name(e->d_name))
            continue;
        if (b->n == BATCH_MAX) {
            closedir(d);
            return cli_fail(ctx, EXIT_REFUSED, "more than %d CSRs in %s: split the batch",
                            BATCH_MAX, dir);
        }
        if (b->n == b->cap) {
            size_t cap = b->cap ? b->cap * 2 : 64;
            batch_item *grown = realloc(b->items, cap * sizeof(*grown));
            if (!grown) {
                closedir(d);
                return cli_fail(ctx, EXIT_INTERNAL, "out of memory");
            }
            b->items = grown;
            b->cap = cap;
        }
        batch_item *it = &b->items[b->n];
        memset(it, 0, sizeof(*it));
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(it->file = malloc(len))) {
            closedir(d);
            return cli_fail(ctx, EXIT_INTERNAL, "out of memory");
        }
        snprintf(it->file, len, "%s%s%s", dir, ends_in_slash(dir) ? "" : "/", e->d_name);
        b->n++;
    }
    closedir(d);
    if (b->n == 0)
        return cli_fail(ctx, EXIT_REFUSED, "no *.csr, *.pem or *.der files in %s", dir);
    qsort(b->items, b->n, sizeof(*b->items), cmp_items);
    return EXIT_OK;
}

static int cmp_item_ids(const void *a, const void *b)
{
    return strcmp((*(batch_item *const *)a)->id, (*(batch_item *const *)b)->id);
}

/* Two files of one batch naming the same device: sort by id, compare
 * neighbours. Returns how many duplicates were reported. */
static size_t batch_report_duplicates(cli_ctx *ctx, batch *b)
{
    size_t dups = 0, n = 0;
    batch_item **by_id = calloc(b->n, sizeof(*by_id));
    if (!by_id)
        return 1;
    for (size_t i = 0; i < b->n; i++)
        if (b->items[i].req)
            by_id[n++] = &b->items[i];
    qsort(by_id, n, sizeof(*by_id), cmp_item_ids);
    for (size_t i = 1; i < n; i++)
        if (strcmp(by_id[i - 1]->id, by_id[i]->id) == 0) {
            fprintf(stderr, "vigilctl %s: %s: device id %s is also in %s\n", ctx->command,
                    by_id[i]->file, by_id[i]->id, by_id[i - 1]->file);
            dups++;
        }
    free(by_id);
    return dups;
}

/* Parses every file; reports every bad one, not only the first. */
static int batch_check(cli_ctx *ctx, batch *b)
{
    char why[600];
    size_t bad = 0;
    for (size_t i = 0; i < b->n; i++) {
        batch_item *it = &b->items[i];
        if (!(it->req = load_csr(it->file, NULL, it->id, why, sizeof(why)))) {
            fprintf(stderr, "vigilctl %s: %s\n", ctx->command, why);
            bad++;
        }
    }
    bad += batch_report_duplicates(ctx, b);
    if (bad)
        return cli_fail(ctx, EXIT_REFUSED, "%zu of %zu files refused; nothing was enrolled", bad,
                        b->n);
    return EXIT_OK;
}

static int batch_write_cert(cli_ctx *ctx, const char *out_dir, batch_item *it, X509 *cert)
{
    ca_error err = {0};
    size_t len = strlen(out_dir) + strlen(it->id) + 6;
    if (!(it->written = malloc(len)))
        return cli_fail(ctx, EXIT_INTERNAL, "out of memory");
    snprintf(it->written, len, "%s%s%s.crt", out_dir, ends_in_slash(out_dir) ? "" : "/", it->id);
    if (ca_certs_write(it->written, &cert, 1, &err) < 0) {
        free(it->written);
        it->written = NULL;
        fprintf(stderr, "vigilctl %s: %s: ", ctx->command, it->file);
        return cli_fail_ca(ctx, &err);
    }
    return EXIT_OK;
}

static void batch_progress(size_t done, size_t total)
{
    if (done == total || done % 100 == 0)
        fprintf(stderr, "\renrolling: %zu/%zu%s", done, total, done == total ? "\n" : "");
}

/* Enrolls every item inside the open transaction; writes certificates. */
static int batch_enroll(cli_ctx *ctx, const enroll_args *a, const char *out_dir, batch *b,
                        json_t *results)
{
    for (size_t i = 0; i < b->n; i++) {
        batch_item *it = &b->items[i];
        ca_issued issued = {0};
        enroll_request r = {it->id, a->device_class, X509_REQ_get0_pubkey(it->req), a->validity,
                            0, a->replace, "batch"};
        int rc = enroll_device(ctx, &r, &issued);
        if (rc != EXIT_OK) {
            fprintf(stderr, "vigilctl %s: the failure above is for %s; nothing was enrolled\n",
                    ctx->command, it->file);
            return rc;
        }
        rc = batch_write_cert(ctx, out_dir, it, issued.cert);
        if (rc == EXIT_OK && results)
            json_array_append_new(results, enroll_result_json(it->id, &issued));
        ca_issued_clear(&issued);
        if (rc != EXIT_OK)
            return rc;
        batch_progress(i + 1, b->n);
    }
    return EXIT_OK;
}

static int enroll_batch(cli_ctx *ctx, const enroll_args *a)
{
    batch b = {0};
    const char *out_dir = a->out_dir ? a->out_dir : a->csr_dir;
    json_t *results = ctx->json ? json_array() : NULL;
    int rc;
    if ((rc = batch_list(ctx, a->csr_dir, &b)) != EXIT_OK || (rc = batch_check(ctx, &b)) != EXIT_OK)
        goto done;
    if (mkdir(out_dir, 0755) < 0 && errno != EEXIST) {
        rc = cli_fail(ctx, EXIT_REFUSED, "cannot create %s: %s", out_dir, strerror(errno));
        goto done;
    }
    if ((rc = cli_begin_audited(ctx)) != EXIT_OK || (rc = cli_open_ca(ctx, 1)) != EXIT_OK ||
        (rc = batch_enroll(ctx, a, out_dir, &b, results)) != EXIT_OK ||
        (rc = cli_commit(ctx)) != EXIT_OK)
        goto done;
    if (results) {
        cli_print_json(results);
        results = NULL;
    }
    fprintf(stderr, "enrolled %zu devices; certificates in %s\n", b.n, out_dir);
done:
    if (rc != EXIT_OK)
        for (size_t i = 0; i < b.n; i++)
            if (b.items[i].written)
                unlink(b.items[i].written);
    json_decref(results);
    batch_free(&b);
    return rc;
}

int cmd_device_enroll(int argc, char **argv)
{
    static const struct option opts[] = {
        {"csr", required_argument, NULL, OPT_CSR}, {"csr-dir", required_argument, NULL, OPT_CSR_DIR},
        {"out-dir", required_argument, NULL, OPT_OUT_DIR}, {"id", required_argument, NULL, OPT_ID},
        {"class", required_argument, NULL, OPT_CLASS},
        {"validity", required_argument, NULL, OPT_VALIDITY},
        {"replace", no_argument, NULL, OPT_REPLACE}, CLI_OUT_OPTION, CLI_COMMON_OPTIONS, {0}};
    cli_ctx ctx;
    enroll_args a = {0};
    int rc = EXIT_OK;
    cli_ctx_init(&ctx, "device enroll", enroll_usage);
    int first = cli_parse_options(&ctx, argc, argv, opts, enroll_option, &a, &rc);
    if (first < 0)
        goto done;
    if ((rc = cli_expect_args(&ctx, argc, argv, first, 0, "")) != EXIT_OK)
        goto done;
    if (!a.csr == !a.csr_dir)
        rc = cli_usage_error(&ctx, "give exactly one of --csr FILE and --csr-dir DIR");
    else if (a.csr_dir && a.id)
        rc = cli_usage_error(&ctx, "--id applies to --csr; a batch takes ids from the CNs");
    else if (a.csr && a.out_dir)
        rc = cli_usage_error(&ctx, "--out-dir applies to --csr-dir; with --csr use --out FILE");
    else if (a.csr_dir && ctx.out_path)
        rc = cli_usage_error(&ctx, "--out applies to --csr; a batch writes to --out-dir DIR");
    else
        rc = a.csr ? enroll_single(&ctx, &a) : enroll_batch(&ctx, &a);
done:
    cli_ctx_free(&ctx);
    return rc;
}
