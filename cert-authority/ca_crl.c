/*
 * ca_crl.c - certificate revocation lists (RFC 5280 section 5).
 *
 * One CRL per issuing CA, signed by that CA, with a CRL number from the CA
 * directory's counter (so numbers only ever grow, across processes), an AKI,
 * thisUpdate/nextUpdate, and each entry's revocation date and reason code.
 * The list of revoked serials comes from the registry; this file only signs.
 */
#include "cert-authority/ca.h"
#include "cert-authority/ca_internal.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static int add_entry(X509_CRL *crl, const ca_revoked *r, ca_error *err)
{
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *when = NULL;
    ASN1_ENUMERATED *reason = NULL;
    X509_REVOKED *entry = X509_REVOKED_new();
    int rc = -1;
    if (!entry || !BN_hex2bn(&bn, r->serial) || !(serial = BN_to_ASN1_INTEGER(bn, NULL)) ||
        !(when = ASN1_TIME_set(NULL, r->revoked_at)) ||
        !X509_REVOKED_set_serialNumber(entry, serial) ||
        !X509_REVOKED_set_revocationDate(entry, when))
        goto fail;
    /* RFC 5280 5.3.1: omit the reason code rather than say "unspecified" */
    if (r->reason > 0) {
        if (!(reason = ASN1_ENUMERATED_new()) || !ASN1_ENUMERATED_set(reason, r->reason) ||
            !X509_REVOKED_add1_ext_i2d(entry, NID_crl_reason, reason, 0, 0))
            goto fail;
    }
    if (!X509_CRL_add0_revoked(crl, entry))
        goto fail;
    entry = NULL;
    rc = 0;
fail:
    if (rc < 0)
        ca_fail(err, CA_ERR_INVALID, "cannot add serial %s to the CRL", r->serial);
    X509_REVOKED_free(entry);
    ASN1_ENUMERATED_free(reason);
    ASN1_TIME_free(when);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    return rc;
}

static int set_header(X509_CRL *crl, ca_issuer *iss, uint64_t number, int64_t next_update,
                      ca_error *err)
{
    time_t now = time(NULL);
    ASN1_TIME *this_upd = ASN1_TIME_set(NULL, now);
    ASN1_TIME *next_upd = ASN1_TIME_set(NULL, now + next_update);
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    X509V3_CTX ctx;
    X509_EXTENSION *aki = NULL;
    int rc = -1;
    if (!this_upd || !next_upd || !num || !ASN1_INTEGER_set_uint64(num, number) ||
        !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
        !X509_CRL_set_issuer_name(crl, X509_get_subject_name(iss->cert)) ||
        !X509_CRL_set1_lastUpdate(crl, this_upd) || !X509_CRL_set1_nextUpdate(crl, next_upd) ||
        !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
        goto fail;
    X509V3_set_ctx(&ctx, iss->cert, NULL, NULL, crl, 0);
    aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
    if (!aki || !X509_CRL_add_ext(crl, aki, -1))
        goto fail;
    rc = 0;
fail:
    if (rc < 0)
        ca_fail(err, CA_ERR_CRYPTO, "cannot build the CRL header");
    X509_EXTENSION_free(aki);
    ASN1_INTEGER_free(num);
    ASN1_TIME_free(next_upd);
    ASN1_TIME_free(this_upd);
    return rc;
}

X509_CRL *ca_crl_build(ca_store *s, ca_issuer *iss, const ca_revoked *revoked, size_t n,
                       int64_t next_update, ca_error *err)
{
    uint64_t number = 0;
    X509_CRL *crl = NULL;
    if (!iss->key) {
        ca_fail(err, CA_ERR_PASSPHRASE, "the key of issuing CA %s is not loaded", iss->id);
        return NULL;
    }
    if (next_update <= 0) {
        ca_fail(err, CA_ERR_INVALID, "nextUpdate must be in the future");
        return NULL;
    }
    if (ca_store_next_crl_number(s, &number, err) < 0)
        return NULL;
    if (!(crl = X509_CRL_new()) || set_header(crl, iss, number, next_update, err) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (add_entry(crl, &revoked[i], err) < 0)
            goto fail;
    X509_CRL_sort(crl);
    if (!X509_CRL_sign(crl, iss->key, ca_sign_digest(iss->key))) {
        ERR_clear_error();
        ca_fail(err, CA_ERR_CRYPTO, "cannot sign the CRL");
        goto fail;
    }
    return crl;
fail:
    X509_CRL_free(crl);
    return NULL;
}
