/*
 * ca_key.c - key generation, the key-strength policy, and private keys on
 * disk.
 *
 * Private keys are written 0600 through a temporary file that is linked into
 * place, so a crash never leaves half a key and an existing key is never
 * replaced. When a passphrase is given the key is stored as encrypted PKCS#8
 * (AES-256-CBC, PBKDF2). OpenSSL never prompts on a terminal: a missing
 * passphrase is an error the operator can act on.
 */
#include "cert-authority/ca.h"

#include "cert-authority/ca_internal.h"
#include "protocol/hex.h"
#include "protocol/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>

static const char *const key_type_names[] = {
    [CA_KEY_P256] = "p256", [CA_KEY_P384] = "p384", [CA_KEY_ED25519] = "ed25519"};

int ca_key_type_parse(const char *name, ca_key_type *out)
{
    for (int i = 0; i <= CA_KEY_ED25519; i++) {
        if (name && strcmp(name, key_type_names[i]) == 0) {
            *out = (ca_key_type)i;
            return 0;
        }
    }
    return -1;
}

const char *ca_key_type_name(ca_key_type type)
{
    return type <= CA_KEY_ED25519 ? key_type_names[type] : "unknown";
}

EVP_PKEY *ca_key_generate(ca_key_type type, ca_error *err)
{
    EVP_PKEY *key = NULL;
    switch (type) {
    case CA_KEY_P256: key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"); break;
    case CA_KEY_P384: key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"); break;
    case CA_KEY_ED25519: key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
    }
    if (!key)
        ca_fail(err, CA_ERR_CRYPTO, "key generation failed");
    return key;
}

int ca_key_check_strength(EVP_PKEY *key, ca_error *err)
{
    char curve[64] = "";
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(key) < 2048)
            return ca_fail(err, CA_ERR_INVALID,
                           "RSA key of %d bits refused: at least 2048 bits are required "
                           "(EC P-256 is recommended)", EVP_PKEY_get_bits(key));
        return 0;
    case EVP_PKEY_ED25519:
        return 0;
    case EVP_PKEY_EC:
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve,
                                            sizeof(curve), NULL))
            return ca_fail(err, CA_ERR_INVALID, "EC key with explicit or unknown curve refused");
        if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0 ||
            strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0)
            return 0;
        return ca_fail(err, CA_ERR_INVALID,
                       "EC curve %s refused: use P-256, P-384 or Ed25519", curve);
    default:
        return ca_fail(err, CA_ERR_INVALID, "key type %s refused: use EC P-256, P-384, "
                       "Ed25519 or RSA of at least 2048 bits",
                       OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
    }
}

int ca_key_sha256(EVP_PKEY *key, char out[CA_FINGERPRINT_HEX])
{
    unsigned char *der = NULL, md[32];
    int len = i2d_PUBKEY(key, &der);
    int ok = len > 0 && EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1;
    OPENSSL_free(der);
    ERR_clear_error();
    if (!ok)
        return -1;
    hex_encode(md, sizeof(md), out);
    return 0;
}

struct key_out {
    EVP_PKEY *key;
    const char *passphrase;
};

static int emit_key(BIO *bio, void *arg)
{
    struct key_out *k = arg;
    if (k->passphrase)
        return PEM_write_bio_PKCS8PrivateKey(bio, k->key, EVP_aes_256_cbc(), k->passphrase,
                                             (int)strlen(k->passphrase), NULL, NULL);
    return PEM_write_bio_PKCS8PrivateKey(bio, k->key, NULL, NULL, 0, NULL, NULL);
}

int ca_key_write(const char *path, EVP_PKEY *key, const char *passphrase, ca_error *err)
{
    struct key_out k = {key, passphrase};
    return ca_file_write_new(path, 0600, emit_key, &k, err);
}

/* OpenSSL asks for the passphrase through this; with none we refuse rather
 * than let it prompt on the terminal. */
static int passphrase_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pass = u;
    if (!pass)
        return -1;
    size_t len = strlen(pass);
    if (len > (size_t)size)
        return -1;
    memcpy(buf, pass, len);
    return (int)len;
}

/* PEM text of an encrypted key: "-----BEGIN ENCRYPTED PRIVATE KEY-----",
 * or the traditional form's "Proc-Type: 4,ENCRYPTED". */
static int pem_text_encrypted(const char *text)
{
    return strstr(text, "ENCRYPTED") != NULL;
}

int ca_key_file_is_encrypted(const char *path)
{
    ca_error ignored = {0};
    size_t len = 0;
    char *text = ca_pem_file_load(path, CA_PEM_PRIVATE_KEY, &len, &ignored);
    int encrypted = text && pem_text_encrypted(text);
    ca_pem_buffer_free(text, len);
    return encrypted;
}

EVP_PKEY *ca_key_read(const char *path, const char *passphrase, ca_error *err)
{
    /* Read once, so that the key may come from a pipe (`--root-key
     * /dev/stdin`: a root key kept offline never lands on this disk). */
    size_t len = 0;
    char *text = ca_pem_file_load(path, CA_PEM_PRIVATE_KEY, &len, err);
    if (!text)
        return NULL;
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, passphrase_cb, (void *)passphrase) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    int encrypted = pem_text_encrypted(text);
    ca_pem_buffer_free(text, len);
    if (key)
        return key;
    if (!bio)
        ca_fail(err, CA_ERR_IO, "%s: out of memory", path);
    else if (encrypted)
        ca_fail(err, CA_ERR_PASSPHRASE,
                passphrase ? "wrong passphrase for %s"
                           : "%s is encrypted: give its passphrase with --passphrase-file, "
                             "--passphrase-env or VIGIL_CA_PASSPHRASE",
                path);
    else
        ca_fail(err, CA_ERR_INVALID, "%s does not hold a PEM private key", path);
    return NULL;
}

char *ca_passphrase_load(const char *file, const char *env, ca_error *err)
{
    if (!env) {
        char why[300];
        char *pass = secret_read_file(file, why, sizeof(why));
        if (!pass)
            ca_fail(err, CA_ERR_PASSPHRASE, "passphrase file: %s", why);
        return pass;
    }
    const char *value = getenv(env);
    if (!value || !*value) {
        ca_fail(err, CA_ERR_PASSPHRASE, "environment variable %s is not set or empty", env);
        return NULL;
    }
    char *copy = strdup(value);
    if (!copy)
        ca_fail(err, CA_ERR_IO, "out of memory");
    return copy;
}

/* The default variable, or a file named by the variable with _FILE added
 * (VIGIL_CA_PASSPHRASE_FILE: the convention of Docker secrets). */
int ca_passphrase_find(const char *file, const char *env, const char *dflt_env, char **out,
                       ca_error *err)
{
    *out = NULL;
    if (!file && !env) {
        char file_env[128];
        snprintf(file_env, sizeof(file_env), "%s_FILE", dflt_env);
        const char *dflt = getenv(dflt_env), *dflt_file = getenv(file_env);
        int has = dflt && dflt[0], has_file = dflt_file && dflt_file[0];
        if (has && has_file) {
            ca_fail(err, CA_ERR_PASSPHRASE, "both %s and %s are set: unset one", dflt_env, file_env);
            return -1;
        }
        if (!has && !has_file)
            return 0;
        if (has_file)
            file = dflt_file;
        else
            env = dflt_env;
    }
    return (*out = ca_passphrase_load(file, env, err)) ? 0 : -1;
}

void ca_passphrase_free(char *pass)
{
    secret_free(pass);
}
