/*
 * test_ca_tls.c - PEM files checked before OpenSSL reads them, and TLS
 * identities loaded (cert-authority/ca_tls.c): each problem a user meets
 * with --cert/--key/--ca/--tls-cert/--tls-key names the file and says what
 * is wrong, instead of OpenSSL's "system lib" or "PEM lib".
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "cert-authority/ca.h"
#include "tests/unit/tmpdir.h"
#include "cert-authority/ca_internal.h"

TestSuite(ca_tls, .init = setup, .fini = teardown);

static const char *in_dir(const char *name)
{
    static char paths[8][128];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* A self-signed certificate and its key, written as name.crt, name.key
 * (the key encrypted when pass is given). */
static void identity(const char *name, const char *pass)
{
    ca_error err = {0};
    char file[64];
    EVP_PKEY *key = ca_key_generate(CA_KEY_P256, &err);
    cr_assert_not_null(key, "%s", err.msg);
    X509 *cert = ca_make_ca_cert("Test", name, key, NULL, NULL, time(NULL) + 3600, &err);
    cr_assert_not_null(cert, "%s", err.msg);
    snprintf(file, sizeof(file), "%s.crt", name);
    cr_assert_eq(ca_certs_write(in_dir(file), &cert, 1, &err), 0, "%s", err.msg);
    snprintf(file, sizeof(file), "%s.key", name);
    cr_assert_eq(ca_key_write(in_dir(file), key, pass, &err), 0, "%s", err.msg);
    X509_free(cert);
    EVP_PKEY_free(key);
}

/* ca_pem_file_check's message for path, "" when it passes. */
static const char *check(const char *path, ca_pem_kind kind)
{
    static ca_error err;
    memset(&err, 0, sizeof(err));
    return ca_pem_file_check(path, kind, &err) == 0 ? "" : err.msg;
}

Test(ca_tls, a_file_problem_names_the_file_and_the_reason)
{
    char want[256];
    const char *nope = in_dir("nope.crt");
    snprintf(want, sizeof(want), "%s: No such file or directory", nope);
    cr_assert_str_eq(check(nope, CA_PEM_CERTIFICATE), want);
    write_text(in_dir("empty.crt"), "");
    cr_assert(strstr(check(in_dir("empty.crt"), CA_PEM_CERTIFICATE), "empty.crt is empty"));
    cr_assert(strstr(check(dir, CA_PEM_CERTIFICATE), "is a directory"));
    write_text(in_dir("junk.crt"), "hello\n");
    cr_assert(strstr(check(in_dir("junk.crt"), CA_PEM_CERTIFICATE),
                     "junk.crt is not a PEM certificate"));
    identity("dev", NULL);
    cr_assert_str_eq(check(in_dir("dev.crt"), CA_PEM_CERTIFICATE), "");
    cr_assert_str_eq(check(in_dir("dev.key"), CA_PEM_PRIVATE_KEY), "");
    cr_assert(strstr(check(in_dir("dev.key"), CA_PEM_CERTIFICATE), "is not a PEM certificate"),
              "a key given for a certificate");
    cr_assert(strstr(check(in_dir("dev.crt"), CA_PEM_PRIVATE_KEY), "is not a PEM private key"),
              "a certificate given for a key");
}

/* The identity's message, "" when it loads. */
static const char *use(const char *cert, const char *key)
{
    static ca_error err;
    memset(&err, 0, sizeof(err));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    cr_assert_not_null(ctx);
    int rc = ca_tls_use_identity(ctx, in_dir(cert), in_dir(key), &err);
    SSL_CTX_free(ctx);
    return rc == 0 ? "" : err.msg;
}

Test(ca_tls, an_identity_loads_only_when_cert_and_key_match)
{
    identity("a", NULL);
    identity("b", NULL);
    identity("enc", "a passphrase");
    cr_assert_str_eq(use("a.crt", "a.key"), "");
    cr_assert(strstr(use("a.crt", "b.key"), "b.key does not match the certificate in"));
    cr_assert(strstr(use("enc.crt", "enc.key"), "enc.key is encrypted"),
              "refused, never prompted for");
    cr_assert(strstr(use("missing.crt", "a.key"), "missing.crt: No such file"));
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ca_error err = {0};
    cr_assert_eq(ca_tls_use_trust(ctx, in_dir("a.crt"), &err), 0, "%s", err.msg);
    cr_assert_eq(ca_tls_use_trust(ctx, in_dir("a.key"), &err), -1);
    cr_assert(strstr(err.msg, "is not a PEM certificate"));
    SSL_CTX_free(ctx);
}

Test(ca_tls, a_pipe_is_refused_without_waiting_for_a_writer)
{
    const char *fifo = in_dir("cert.fifo");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert(strstr(check(fifo, CA_PEM_CERTIFICATE), "cert.fifo is not a regular file"));
    write_text(in_dir("two.crt"), "-----BEGIN X509 CRL-----\nCERTIFICATE-----\n");
    cr_assert(strstr(check(in_dir("two.crt"), CA_PEM_CERTIFICATE), "is not a PEM certificate"),
              "the label must be on the BEGIN line itself");
}

/* ca_key_read reads the key once, so it may come from a pipe (`vigilctl ca
 * rotate --root-key /dev/stdin`: a root key kept offline never touches the
 * disk); an encrypted one still needs its passphrase. */
Test(ca_tls, a_key_is_read_once_and_may_come_from_a_pipe)
{
    identity("piped", "a passphrase");
    FILE *f = fopen(in_dir("piped.key"), "r");
    cr_assert_not_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof(text), f);
    fclose(f);
    cr_assert_gt(n, 100);
    for (int round = 0; round < 2; round++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        cr_assert_eq(write(fds[1], text, n), (ssize_t)n, "the key fits the pipe's buffer");
        close(fds[1]);
        char path[64];
        snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
        ca_error err = {0};
        EVP_PKEY *key = ca_key_read(path, round ? "a passphrase" : NULL, &err);
        close(fds[0]);
        if (round == 0) {
            cr_assert_null(key);
            cr_assert(strstr(err.msg, "is encrypted"), "%s", err.msg);
        } else {
            cr_assert_not_null(key, "%s", err.msg);
            EVP_PKEY_free(key);
        }
    }
    /* A file far larger than any PEM key is refused, not read whole. */
    f = fopen(in_dir("huge.key"), "w");
    cr_assert_not_null(f);
    fputs("-----BEGIN PRIVATE KEY-----\n", f);
    for (int i = 0; i < 20000; i++)
        fputs("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", f);
    fclose(f);
    ca_error err = {0};
    cr_assert_null(ca_key_read(in_dir("huge.key"), NULL, &err));
    cr_assert(strstr(err.msg, "huge.key is larger than 1024 KiB"), "%s", err.msg);
}
