/*
 * ca_store.c - the CA directory: creating it, loading it, unlocking its
 * keys, rotating the issuing CA and handing out CRL numbers.
 *
 *   DIR/ca.json              policy, issuer list, CRL counter (0644)
 *   DIR/root.crt, root.key   the root CA; the key may be moved offline
 *   DIR/issuing/NNNN.crt|key one pair per issuing CA, the newest is current
 *   DIR/.lock                flock(2) serializing writers (rotate, CRL numbers)
 *
 * `ca init` builds everything in a staging directory and renames it into
 * place, so a CA directory is either complete or absent. ca.json is only ever
 * replaced atomically, under the lock, after re-reading it.
 */
#include "cert-authority/ca.h"
#include "cert-authority/ca_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509v3.h>

#define CA_CONFIG_VERSION 1
#define CA_MAX_ISSUERS 999

static int path_in(char *out, size_t size, const char *dir, const char *name)
{
    return snprintf(out, size, "%s/%s", dir, name) < (int)size ? 0 : -1;
}

void ca_init_opts_defaults(ca_init_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->key_type = CA_KEY_P256;
    o->org = "Vigil";
    o->root_validity = 10LL * 365 * 86400;
    o->issuing_validity = 2LL * 365 * 86400;
    o->default_validity = 30LL * 86400;
    o->max_validity = 365LL * 86400;
}

/* ---- ca.json ---- */

static json_t *config_to_json(const ca_store *s)
{
    json_t *issuers = json_array();
    for (size_t i = 0; i < s->n_issuers; i++) {
        const ca_issuer *iss = &s->issuers[i];
        json_array_append_new(issuers, json_pack("{s:s, s:I, s:o}", "id", iss->id, "created_at",
                                                 (json_int_t)iss->created_at, "retired_at",
                                                 iss->retired_at ? json_integer(iss->retired_at)
                                                                 : json_null()));
    }
    return json_pack("{s:i, s:s, s:b, s:I, s:I, s:I, s:o}", "version", CA_CONFIG_VERSION,
                     "key_type", ca_key_type_name(s->key_type), "encrypted",
                     s->encrypted, "default_validity", (json_int_t)s->default_validity,
                     "max_validity", (json_int_t)s->max_validity, "crl_number",
                     (json_int_t)s->crl_number, "issuers", issuers);
}

static int emit_json(BIO *bio, void *arg)
{
    char *text = json_dumps(arg, JSON_INDENT(2) | JSON_SORT_KEYS);
    int ok = text && BIO_puts(bio, text) > 0 && BIO_puts(bio, "\n") > 0;
    free(text);
    return ok;
}

static int config_write(const ca_store *s, const char *dir, ca_error *err)
{
    char path[PATH_MAX];
    json_t *j = config_to_json(s);
    if (!j)
        return ca_fail(err, CA_ERR_IO, "cannot encode ca.json");
    int rc = path_in(path, sizeof(path), dir, "ca.json") < 0
                 ? ca_fail(err, CA_ERR_IO, "path too long")
                 : ca_file_replace(path, 0644, emit_json, j, err);
    json_decref(j);
    return rc;
}

static int parse_issuers(ca_store *s, json_t *arr, ca_error *err)
{
    size_t n = json_array_size(arr);
    if (n == 0 || n > CA_MAX_ISSUERS)
        return ca_fail(err, CA_ERR_INVALID, "ca.json lists no issuing CA");
    s->issuers = calloc(n, sizeof(*s->issuers));
    if (!s->issuers)
        return ca_fail(err, CA_ERR_IO, "out of memory");
    s->n_issuers = n;
    for (size_t i = 0; i < n; i++) {
        const char *id = NULL;
        json_int_t created = 0;
        json_t *retired = NULL;
        if (json_unpack(json_array_get(arr, i), "{s:s, s:I, s:o}", "id", &id, "created_at",
                        &created, "retired_at", &retired) != 0 ||
            strlen(id) != 4 || strspn(id, "0123456789") != 4)
            return ca_fail(err, CA_ERR_INVALID, "ca.json: malformed issuer entry %zu", i);
        memcpy(s->issuers[i].id, id, 5);
        s->issuers[i].created_at = (time_t)created;
        s->issuers[i].retired_at = json_is_integer(retired) ? json_integer_value(retired) : 0;
    }
    return 0;
}

static int config_read(ca_store *s, ca_error *err)
{
    char path[PATH_MAX];
    json_error_t jerr;
    json_t *j = NULL, *issuers = NULL;
    const char *key_type = NULL;
    int version = 0, encrypted = 0;
    json_int_t def = 0, max = 0, crl = 0;
    if (path_in(path, sizeof(path), s->dir, "ca.json") < 0)
        return ca_fail(err, CA_ERR_IO, "path too long");
    j = json_load_file(path, 0, &jerr);
    if (!j) {
        if (access(path, F_OK) != 0)
            return ca_fail(err, CA_ERR_NOT_FOUND,
                           "no CA in %s: create one with `vigilctl ca init` or point "
                           "VIGIL_CA_DIR / --ca-dir at an existing one", s->dir);
        return ca_fail(err, CA_ERR_INVALID, "%s: %s (line %d)", path, jerr.text, jerr.line);
    }
    int rc = -1;
    if (json_unpack(j, "{s:i, s:s, s:b, s:I, s:I, s:I, s:o}", "version", &version, "key_type",
                    &key_type, "encrypted", &encrypted, "default_validity", &def,
                    "max_validity", &max, "crl_number", &crl, "issuers", &issuers) != 0 ||
        version != CA_CONFIG_VERSION || ca_key_type_parse(key_type, &s->key_type) < 0 ||
        def <= 0 || max < def || crl < 0) {
        ca_fail(err, CA_ERR_INVALID, "%s is malformed or of an unknown version", path);
        goto fail;
    }
    s->encrypted = encrypted;
    s->default_validity = def;
    s->max_validity = max;
    s->crl_number = (uint64_t)crl;
    rc = parse_issuers(s, issuers, err);
fail:
    json_decref(j);
    return rc;
}

/* ---- loading ---- */

static void issuers_free(ca_store *s)
{
    for (size_t i = 0; i < s->n_issuers; i++) {
        X509_free(s->issuers[i].cert);
        EVP_PKEY_free(s->issuers[i].key);
    }
    free(s->issuers);
    s->issuers = NULL;
    s->n_issuers = 0;
}

static int issuer_file(char *out, size_t size, const char *dir, const char *id, const char *ext)
{
    return snprintf(out, size, "%s/issuing/%s.%s", dir, id, ext) < (int)size ? 0 : -1;
}

static int load_certs(ca_store *s, ca_error *err)
{
    char path[PATH_MAX];
    if (path_in(path, sizeof(path), s->dir, "root.crt") < 0 ||
        !(s->root = ca_cert_read(path, err)))
        return -1;
    for (size_t i = 0; i < s->n_issuers; i++) {
        ca_issuer *iss = &s->issuers[i];
        if (issuer_file(path, sizeof(path), s->dir, iss->id, "crt") < 0 ||
            !(iss->cert = ca_cert_read(path, err)))
            return -1;
        if (ca_ski_hex(iss->cert, iss->ski) < 0)
            return ca_fail(err, CA_ERR_INVALID, "%s has no subject key identifier", path);
    }
    return 0;
}

ca_store *ca_store_open(const char *dir, ca_error *err)
{
    ca_store *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        ca_fail(err, CA_ERR_IO, "out of memory");
        return NULL;
    }
    if (config_read(s, err) < 0 || load_certs(s, err) < 0) {
        ca_store_close(s);
        return NULL;
    }
    return s;
}

void ca_store_close(ca_store *s)
{
    if (!s)
        return;
    issuers_free(s);
    X509_free(s->root);
    free(s->dir);
    free(s);
}

ca_issuer *ca_store_current(ca_store *s)
{
    return s->n_issuers ? &s->issuers[s->n_issuers - 1] : NULL;
}

int ca_issuer_trusted(const ca_store *s, const ca_issuer *iss, time_t now)
{
    time_t end = 0;
    if (ca_asn1_time_to_unix(X509_get0_notAfter(iss->cert), &end) < 0 || now > end)
        return 0;
    return iss->retired_at == 0 || now < iss->retired_at + s->max_validity;
}

ca_issuer *ca_store_issuer_of(ca_store *s, X509 *cert)
{
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(cert);
    for (size_t i = 0; aki && i < s->n_issuers; i++) {
        const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(s->issuers[i].cert);
        if (ski && ASN1_OCTET_STRING_cmp(aki, ski) == 0)
            return &s->issuers[i];
    }
    return NULL;
}

int ca_store_unlock(ca_store *s, const char *passphrase, ca_error *err)
{
    char path[PATH_MAX];
    time_t now = time(NULL);
    if (s->encrypted && !passphrase)
        return ca_fail(err, CA_ERR_PASSPHRASE,
                       "the CA keys in %s are encrypted: give the passphrase with "
                       "--passphrase-file, --passphrase-env or VIGIL_CA_PASSPHRASE", s->dir);
    for (size_t i = 0; i < s->n_issuers; i++) {
        ca_issuer *iss = &s->issuers[i];
        if (iss->key || !ca_issuer_trusted(s, iss, now))
            continue;
        if (issuer_file(path, sizeof(path), s->dir, iss->id, "key") < 0 ||
            !(iss->key = ca_key_read(path, s->encrypted ? passphrase : NULL, err)))
            return -1;
        if (X509_check_private_key(iss->cert, iss->key) != 1)
            return ca_fail(err, CA_ERR_INVALID, "%s does not match its certificate", path);
    }
    if (!ca_store_current(s)->key)
        return ca_fail(err, CA_ERR_INVALID, "the current issuing CA %s has expired; run "
                       "`vigilctl ca rotate`", ca_store_current(s)->id);
    return 0;
}

/* ---- writers: init, rotate, CRL numbers ---- */

static int lock_dir(const char *dir, ca_error *err)
{
    char path[PATH_MAX];
    if (path_in(path, sizeof(path), dir, ".lock") < 0)
        return ca_fail(err, CA_ERR_IO, "path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return ca_fail(err, errno == ENOENT ? CA_ERR_NOT_FOUND : CA_ERR_IO, "cannot open %s: %s",
                       path, strerror(errno));
    if (flock(fd, LOCK_EX) != 0) {
        close(fd);
        return ca_fail(err, CA_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
    }
    return fd;
}

static void unlock_dir(int fd)
{
    if (fd >= 0)
        close(fd);                  /* releases the flock */
}

/* Makes issuing CA number `index` signed by root, writes its files into dir. */
static int new_issuer(const char *dir, const char *org, ca_key_type type, X509 *root,
                      EVP_PKEY *root_key, unsigned index, int64_t validity,
                      const char *passphrase, ca_issuer *out, ca_error *err)
{
    char path[PATH_MAX], cn[64];
    time_t root_end = 0, now = time(NULL);
    ca_asn1_time_to_unix(X509_get0_notAfter(root), &root_end);
    time_t end = now + validity < root_end ? now + validity : root_end;
    memset(out, 0, sizeof(*out));
    snprintf(out->id, sizeof(out->id), "%04u", index);
    snprintf(cn, sizeof(cn), "%s Issuing CA %s", org, out->id);
    out->created_at = now;
    if (!(out->key = ca_key_generate(type, err)) ||
        !(out->cert = ca_make_ca_cert(org, cn, out->key, root, root_key, end, err)))
        return -1;
    if (ca_ski_hex(out->cert, out->ski) < 0)
        return ca_fail(err, CA_ERR_CRYPTO, "issuing CA without SKI");
    if (issuer_file(path, sizeof(path), dir, out->id, "key") < 0 ||
        ca_key_write(path, out->key, passphrase, err) < 0 ||
        issuer_file(path, sizeof(path), dir, out->id, "crt") < 0 ||
        ca_certs_write(path, &out->cert, 1, err) < 0)
        return -1;
    return 0;
}

static int build_ca(const char *dir, const ca_init_opts *o, ca_store *s, ca_error *err)
{
    char path[PATH_MAX];
    EVP_PKEY *root_key = NULL;
    int rc = -1;
    s->key_type = o->key_type;
    s->encrypted = o->passphrase != NULL;
    s->default_validity = o->default_validity;
    s->max_validity = o->max_validity;
    if (!(s->issuers = calloc(1, sizeof(*s->issuers))))
        return ca_fail(err, CA_ERR_IO, "out of memory");
    s->n_issuers = 1;
    if (path_in(path, sizeof(path), dir, "issuing") < 0) {
        ca_fail(err, CA_ERR_INVALID, "CA directory path too long");
        goto fail;
    }
    if (mkdir(path, 0700) != 0) {
        ca_fail(err, CA_ERR_IO, "cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!(root_key = ca_key_generate(o->key_type, err)))
        goto fail;
    char cn[128];
    snprintf(cn, sizeof(cn), "%s Root CA", o->org);
    if (!(s->root = ca_make_ca_cert(o->org, cn, root_key, NULL, NULL,
                                    time(NULL) + o->root_validity, err)) ||
        path_in(path, sizeof(path), dir, "root.key") < 0 ||
        ca_key_write(path, root_key, o->passphrase, err) < 0 ||
        path_in(path, sizeof(path), dir, "root.crt") < 0 ||
        ca_certs_write(path, &s->root, 1, err) < 0 ||
        new_issuer(dir, o->org, o->key_type, s->root, root_key, 1, o->issuing_validity,
                   o->passphrase, &s->issuers[0], err) < 0 ||
        config_write(s, dir, err) < 0)
        goto fail;
    rc = 0;
fail:
    EVP_PKEY_free(root_key);
    return rc;
}

static int check_init_opts(const ca_init_opts *o, ca_error *err)
{
    if (!o->org || !o->org[0] || strlen(o->org) > 48)
        return ca_fail(err, CA_ERR_INVALID, "organisation name must be 1-48 characters");
    if (o->passphrase && strlen(o->passphrase) < 8)
        return ca_fail(err, CA_ERR_INVALID, "passphrase too short: use at least 8 characters");
    if (o->default_validity > o->max_validity)
        return ca_fail(err, CA_ERR_INVALID, "default validity exceeds the maximum validity");
    if (o->issuing_validity < o->max_validity || o->root_validity < o->issuing_validity)
        return ca_fail(err, CA_ERR_INVALID, "validities must nest: device maximum <= issuing CA "
                       "<= root CA");
    return 0;
}

int ca_store_init(const char *dir, const ca_init_opts *o, ca_error *err)
{
    char staging[PATH_MAX];
    ca_store s = {0};
    int rc = -1;
    if (check_init_opts(o, err) < 0)
        return -1;
    if (snprintf(staging, sizeof(staging), "%s.init.%ld", dir, (long)getpid()) >=
        (int)sizeof(staging))
        return ca_fail(err, CA_ERR_IO, "path too long: %s", dir);
    char probe[PATH_MAX];
    if (path_in(probe, sizeof(probe), dir, "ca.json") == 0 && access(probe, F_OK) == 0)
        return ca_fail(err, CA_ERR_EXISTS, "a CA already exists in %s; refusing to replace it",
                       dir);
    if (mkdir(staging, 0700) != 0)
        return ca_fail(err, errno == ENOENT ? CA_ERR_NOT_FOUND : CA_ERR_IO,
                       "cannot create the CA next to %s: %s", dir, strerror(errno));
    if (build_ca(staging, o, &s, err) < 0)
        goto fail;
    rmdir(dir);                      /* an empty directory may stand in the way */
    if (rename(staging, dir) != 0) {
        ca_fail(err, errno == ENOTEMPTY || errno == EEXIST ? CA_ERR_EXISTS : CA_ERR_IO,
                "cannot create the CA in %s: %s", dir,
                errno == ENOTEMPTY || errno == EEXIST ? "the directory is not empty"
                                                      : strerror(errno));
        goto fail;
    }
    rc = 0;
fail:
    if (rc < 0) {
        /* staging holds only the files build_ca makes; remove them, then it */
        static const char *const made[] = {"root.key", "root.crt", "ca.json",
                                           "issuing/0001.key", "issuing/0001.crt", "issuing"};
        char victim[PATH_MAX + 32];
        for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
            snprintf(victim, sizeof(victim), "%s/%s", staging, made[i]);
            remove(victim);
        }
        rmdir(staging);
    }
    issuers_free(&s);
    X509_free(s.root);
    return rc;
}

/* Re-reads ca.json under the lock, so concurrent writers never lose updates. */
static int reload_config(ca_store *s, ca_error *err)
{
    ca_store fresh = {.dir = s->dir};
    if (config_read(&fresh, err) < 0) {
        free(fresh.issuers);
        return -1;
    }
    if (fresh.n_issuers != s->n_issuers) {
        free(fresh.issuers);
        return ca_fail(err, CA_ERR_EXISTS, "the CA in %s changed while we worked; run the "
                       "command again", s->dir);
    }
    for (size_t i = 0; i < s->n_issuers; i++)
        s->issuers[i].retired_at = fresh.issuers[i].retired_at;
    s->crl_number = fresh.crl_number;
    s->default_validity = fresh.default_validity;
    s->max_validity = fresh.max_validity;
    free(fresh.issuers);
    return 0;
}

int ca_store_rotate(ca_store *s, const char *root_key_path, const char *passphrase,
                    int64_t issuing_validity, ca_error *err)
{
    char path[PATH_MAX];
    EVP_PKEY *root_key = NULL;
    ca_issuer fresh = {0};
    int rc = -1, fd = lock_dir(s->dir, err);
    if (fd < 0)
        return -1;
    if (reload_config(s, err) < 0)
        goto fail;
    if (s->n_issuers >= CA_MAX_ISSUERS) {
        ca_fail(err, CA_ERR_INVALID, "too many issuing CAs");
        goto fail;
    }
    if (!root_key_path && path_in(path, sizeof(path), s->dir, "root.key") == 0)
        root_key_path = path;
    if (s->encrypted && !passphrase) {
        ca_fail(err, CA_ERR_PASSPHRASE, "the CA keys are encrypted: give the passphrase with "
                "--passphrase-file, --passphrase-env or VIGIL_CA_PASSPHRASE");
        goto fail;
    }
    if (!(root_key = ca_key_read(root_key_path, s->encrypted ? passphrase : NULL, err)))
        goto fail;
    if (X509_check_private_key(s->root, root_key) != 1) {
        ca_fail(err, CA_ERR_INVALID, "%s is not the key of this CA's root", root_key_path);
        goto fail;
    }
    if (issuing_validity < s->max_validity) {
        ca_fail(err, CA_ERR_INVALID, "issuing CA validity is shorter than the maximum device "
                "certificate validity");
        goto fail;
    }
    X509_NAME *root_name = X509_get_subject_name(s->root);
    X509_NAME_ENTRY *org = X509_NAME_get_entry(
        root_name, X509_NAME_get_index_by_NID(root_name, NID_organizationName, -1));
    unsigned char *org_utf8 = NULL;
    if (!org || ASN1_STRING_to_UTF8(&org_utf8, X509_NAME_ENTRY_get_data(org)) < 0) {
        ca_fail(err, CA_ERR_INVALID, "root CA subject has no organisation");
        goto fail;
    }
    int made = new_issuer(s->dir, (const char *)org_utf8, s->key_type, s->root, root_key,
                          (unsigned)s->n_issuers + 1, issuing_validity,
                          s->encrypted ? passphrase : NULL, &fresh, err);
    OPENSSL_free(org_utf8);
    if (made < 0)
        goto fail;
    ca_issuer *grown = realloc(s->issuers, (s->n_issuers + 1) * sizeof(*grown));
    if (!grown) {
        ca_fail(err, CA_ERR_IO, "out of memory");
        goto fail;
    }
    s->issuers = grown;
    s->issuers[s->n_issuers - 1].retired_at = fresh.created_at;
    s->issuers[s->n_issuers++] = fresh;
    memset(&fresh, 0, sizeof(fresh));
    rc = config_write(s, s->dir, err);
fail:
    X509_free(fresh.cert);
    EVP_PKEY_free(fresh.key);
    EVP_PKEY_free(root_key);
    unlock_dir(fd);
    return rc;
}

int ca_store_next_crl_number(ca_store *s, uint64_t *out, ca_error *err)
{
    int rc = -1, fd = lock_dir(s->dir, err);
    if (fd < 0)
        return -1;
    if (reload_config(s, err) == 0) {
        s->crl_number++;
        rc = config_write(s, s->dir, err);
        *out = s->crl_number;
    }
    unlock_dir(fd);
    return rc;
}
