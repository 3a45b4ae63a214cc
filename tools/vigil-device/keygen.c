/*
 * keygen.c - `vigil-device keygen`: the device makes its own key (it never
 * leaves the device) and a CSR with its id as CN, for
 * `vigilctl device enroll --csr`.
 */
#include "tools/vigil-device/keygen.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static EVP_PKEY *make_key(const char *type)
{
    if (!type || strcmp(type, "p256") == 0)
        return EVP_EC_gen("P-256");
    if (strcmp(type, "p384") == 0)
        return EVP_EC_gen("P-384");
    if (strcmp(type, "ed25519") == 0)
        return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return NULL;
}

static int write_key(const char *path, EVP_PKEY *key)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

int keygen_command(const char *id, const char *out_dir, const char *key_type)
{
    char key_path[4096], csr_path[4096];
    int rc = 1;
    if (!id || !out_dir) {
        fprintf(stderr, "vigil-device keygen: --id and --out-dir are required\n");
        return 2;
    }
    EVP_PKEY *key = make_key(key_type);
    X509_REQ *req = X509_REQ_new();
    if (!key || !req) {
        fprintf(stderr, "vigil-device keygen: --key-type must be p256, p384 or ed25519\n");
        goto done;
    }
    snprintf(key_path, sizeof(key_path), "%s/%s.key", out_dir, id);
    snprintf(csr_path, sizeof(csr_path), "%s/%s.csr", out_dir, id);
    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
                               (const unsigned char *)id, -1, -1, 0);
    X509_REQ_set_pubkey(req, key);
    const EVP_MD *md = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ? NULL : EVP_sha256();
    FILE *f = NULL;
    if (X509_REQ_sign(req, key, md) <= 0 || (mkdir(out_dir, 0700) < 0 && errno != EEXIST) ||
        write_key(key_path, key) < 0 || !(f = fopen(csr_path, "wx")) ||
        !PEM_write_X509_REQ(f, req)) {
        fprintf(stderr, "vigil-device keygen: cannot write %s and %s (do they exist already?)\n",
                key_path, csr_path);
        if (f)
            fclose(f);
        goto done;
    }
    fclose(f);
    printf("wrote %s (keep it on the device) and %s (enroll it with vigilctl)\n", key_path,
           csr_path);
    rc = 0;
done:
    X509_REQ_free(req);
    EVP_PKEY_free(key);
    return rc;
}
