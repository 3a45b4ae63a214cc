/*
 * test_ca_store.c - the CA directory, issuing and revocation lists
 * (cert-authority/ca_store.c, ca_issue.c, ca_crl.c): file modes, the
 * device certificate profile checked with OpenSSL, rotation keeping the old
 * issuer trusted, and CRLs that verify.
 */
#include <criterion/criterion.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cert-authority/ca.h"

static char dir[64], cadir[80];
static ca_store *store;

static void setup(void)
{
    ca_error err = {0};
    ca_init_opts o;
    strcpy(dir, "/tmp/vigil-unit-ca.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cadir, sizeof(cadir), "%s/ca", dir);
    ca_init_opts_defaults(&o);
    cr_assert_eq(ca_store_init(cadir, &o, &err), 0, "%s", err.msg);
    store = ca_store_open(cadir, &err);
    cr_assert_not_null(store, "%s", err.msg);
    cr_assert_eq(ca_store_unlock(store, NULL, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
    char cmd[128];
    ca_store_close(store);
    store = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(ca_store, .init = setup, .fini = teardown);

static int mode_of(const char *rel)
{
    char path[160];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", cadir, rel);
    cr_assert_eq(stat(path, &st), 0, "%s missing", rel);
    return st.st_mode & 0777;
}

static ca_issued issue(const char *id, int64_t validity)
{
    ca_error err = {0};
    ca_issued out;
    EVP_PKEY *k = ca_key_generate(CA_KEY_P256, &err);
    ca_device_request r = {id, k, validity, 0};
    cr_assert_eq(ca_issue_device(store, &r, &out, &err), 0, "%s", err.msg);
    EVP_PKEY_free(k);
    return out;
}

/* Verifies cert against the root, with the issuers as intermediates. */
static int verifies(X509 *cert, X509_CRL *crl)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE_add_cert(st, store->root);
    for (size_t i = 0; i < store->n_issuers; i++)
        sk_X509_push(chain, store->issuers[i].cert);
    if (crl) {
        X509_STORE_add_crl(st, crl);
        X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
    }
    X509_STORE_CTX_init(ctx, st, cert, chain);
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
    int ok = X509_verify_cert(ctx);
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain);
    X509_STORE_free(st);
    return ok == 1;
}

Test(ca_store, layout_and_modes)
{
    ca_error err = {0};
    ca_init_opts o;
    ca_init_opts_defaults(&o);
    cr_assert_eq(mode_of("root.key"), 0600);
    cr_assert_eq(mode_of("issuing/0001.key"), 0600);
    mode_of("root.crt");
    mode_of("ca.json");
    cr_assert_eq(ca_store_init(cadir, &o, &err), -1, "init over an existing CA");
    cr_assert_eq(err.status, CA_ERR_EXISTS);
    cr_assert_null(ca_store_open("/nonexistent/vigil-ca", &err));
    cr_assert_eq(err.status, CA_ERR_NOT_FOUND);
}

Test(ca_store, device_profile)
{
    ca_issued a = issue("dev-1", 0), b = issue("dev-2", 0);
    X509 *c = a.cert;
    const ASN1_INTEGER *serial = X509_get0_serialNumber(c);
    cr_assert_geq(serial->length, 16, "serial of at least 128 bits");
    cr_assert_str_neq(a.serial, b.serial);
    BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(c, NID_basic_constraints, NULL, NULL);
    cr_assert_not_null(bc);
    cr_assert_eq(bc->ca, 0);
    BASIC_CONSTRAINTS_free(bc);
    cr_assert_eq(X509_EXTENSION_get_critical(
                     X509_get_ext(c, X509_get_ext_by_NID(c, NID_basic_constraints, -1))), 1);
    cr_assert_eq(X509_get_key_usage(c), KU_DIGITAL_SIGNATURE);
    cr_assert_eq(X509_get_extended_key_usage(c), XKU_SSL_CLIENT);
    cr_assert_not_null(X509_get0_subject_key_id(c));
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(c);
    cr_assert_not_null(aki);
    cr_assert_eq(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(ca_store_current(store)->cert)), 0);
    char cn[80];
    X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn));
    cr_assert_str_eq(cn, "dev-1");
    GENERAL_NAMES *san = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    cr_assert_eq(sk_GENERAL_NAME_num(san), 1);
    GENERAL_NAME *gn = sk_GENERAL_NAME_value(san, 0);
    cr_assert_eq(gn->type, GEN_URI);
    cr_assert_str_eq((const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
                     "urn:vigil:device:dev-1");
    GENERAL_NAMES_free(san);
    cr_assert_eq(a.not_after - a.not_before, 30 * 86400 + 60,
                 "default validity is 30 days from issue, notBefore a minute back");
    cr_assert(verifies(c, NULL));
    ca_issued_clear(&a);
    ca_issued_clear(&b);
}

Test(ca_store, validity_policy)
{
    ca_error err = {0};
    ca_issued day = issue("dev-d", 86400);
    cr_assert_eq(day.not_after - day.not_before, 86400 + 60);
    cr_assert(verifies(day.cert, NULL));
    ca_issued_clear(&day);
    EVP_PKEY *k = ca_key_generate(CA_KEY_P256, &err);
    ca_issued out;
    ca_device_request too_long = {"dev-x", k, 2 * 365 * 86400LL, 0};
    cr_assert_eq(ca_issue_device(store, &too_long, &out, &err), -1);
    cr_assert_eq(err.status, CA_ERR_INVALID);
    ca_device_request bad_id = {"bad id", k, 0, 0};
    cr_assert_eq(ca_issue_device(store, &bad_id, &out, &err), -1);
    EVP_PKEY_free(k);
}

Test(ca_store, server_certificate)
{
    ca_error err = {0};
    ca_issued out;
    const char *dns[] = {"localhost"}, *ips[] = {"127.0.0.1", "::1"};
    EVP_PKEY *k = ca_key_generate(CA_KEY_P256, &err);
    ca_server_request r = {dns, 1, ips, 2, k, 90 * 86400};
    cr_assert_eq(ca_issue_server(store, &r, &out, &err), 0, "%s", err.msg);
    cr_assert_eq(X509_get_extended_key_usage(out.cert), XKU_SSL_SERVER);
    cr_assert_eq(X509_check_host(out.cert, "localhost", 0, 0, NULL), 1);
    cr_assert_eq(X509_check_ip_asc(out.cert, "127.0.0.1", 0), 1);
    cr_assert_eq(X509_check_ip_asc(out.cert, "::1", 0), 1);
    ca_issued_clear(&out);
    const char *evil[] = {"a,DNS:b"};
    ca_server_request smuggle = {evil, 1, NULL, 0, k, 86400};
    cr_assert_eq(ca_issue_server(store, &smuggle, &out, &err), -1);
    EVP_PKEY_free(k);
}

Test(ca_store, rotation_keeps_old_issuer_trusted)
{
    ca_error err = {0};
    ca_issued before = issue("dev-old", 0);
    char old_ski[65];
    strcpy(old_ski, ca_store_current(store)->ski);
    cr_assert_eq(ca_store_rotate(store, NULL, NULL, 2 * 365 * 86400LL, &err), 0, "%s", err.msg);
    cr_assert_eq(store->n_issuers, 2);
    cr_assert_str_neq(ca_store_current(store)->ski, old_ski);
    cr_assert_neq(store->issuers[0].retired_at, 0);
    cr_assert(ca_issuer_trusted(store, &store->issuers[0], time(NULL)));
    cr_assert_not(ca_issuer_trusted(store, &store->issuers[0],
                                    store->issuers[0].retired_at + store->max_validity + 1));
    cr_assert_eq(ca_store_unlock(store, NULL, &err), 0, "%s", err.msg);
    ca_issued after = issue("dev-new", 0);
    cr_assert_str_eq(ca_store_issuer_of(store, before.cert)->ski, old_ski);
    cr_assert_str_eq(ca_store_issuer_of(store, after.cert)->ski, ca_store_current(store)->ski);
    cr_assert(verifies(before.cert, NULL));
    cr_assert(verifies(after.cert, NULL));
    ca_issued_clear(&before);
    ca_issued_clear(&after);
}

Test(ca_store, crl_lists_revoked_and_verifies)
{
    ca_error err = {0};
    ca_issued a = issue("dev-a", 0), b = issue("dev-b", 0);
    ca_issuer *iss = ca_store_current(store);
    ca_revoked list[] = {{b.serial, time(NULL) - 10, 1}, {a.serial, time(NULL) - 5, 4}};
    X509_CRL *crl = ca_crl_build(store, iss, list, 2, 7 * 86400, &err);
    cr_assert_not_null(crl, "%s", err.msg);
    cr_assert_eq(X509_CRL_verify(crl, X509_get0_pubkey(iss->cert)), 1);
    cr_assert_not_null(X509_CRL_get0_nextUpdate(crl));
    cr_assert_eq(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 2);
    X509_REVOKED *entry = NULL;
    cr_assert_eq(X509_CRL_get0_by_cert(crl, &entry, a.cert), 1);
    ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(entry, NID_crl_reason, NULL, NULL);
    cr_assert_eq(ASN1_ENUMERATED_get(reason), 4);
    ASN1_ENUMERATED_free(reason);
    cr_assert_not(verifies(a.cert, crl), "a revoked certificate must fail a CRL check");
    ASN1_INTEGER *n1 = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    X509_CRL *again = ca_crl_build(store, iss, NULL, 0, 86400, &err);
    cr_assert_not_null(again);
    ASN1_INTEGER *n2 = X509_CRL_get_ext_d2i(again, NID_crl_number, NULL, NULL);
    cr_assert_gt(ASN1_INTEGER_get(n2), ASN1_INTEGER_get(n1), "CRL numbers grow");
    ASN1_INTEGER_free(n1);
    ASN1_INTEGER_free(n2);
    X509_CRL_free(again);
    X509_CRL_free(crl);
    ca_issued_clear(&a);
    ca_issued_clear(&b);
}
