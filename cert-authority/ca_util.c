/*
 * ca_util.c - small pure helpers of the CA library: error recording, device
 * id and duration syntax, serial and fingerprint text forms, time
 * conversion, and RFC 5280 revocation reason names.
 *
 * These are the forms that cross the boundary to operators and the registry,
 * so each has exactly one canonical spelling produced here.
 */
#include "cert-authority/ca.h"

#include "protocol/hex.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

int ca_fail(ca_error *err, ca_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int ca_serial_normalize(const char *text, char out[CA_SERIAL_HEX_MAX], ca_error *err)
{
    char digits[2 * CA_SERIAL_HEX_MAX];
    size_t n = 0;
    if (text && (strncmp(text, "0x", 2) == 0 || strncmp(text, "0X", 2) == 0))
        text += 2;
    for (const char *p = text; p && *p; p++) {
        if (*p == ':')
            continue;
        if (!isxdigit((unsigned char)*p) || n + 1 >= sizeof(digits))
            goto bad;
        digits[n++] = (char)toupper((unsigned char)*p);
    }
    size_t skip = 0;
    while (skip + 1 < n && digits[skip] == '0')
        skip++;
    n -= skip;
    if (n == 0 || (n + 1) / 2 > CA_SERIAL_BYTES)
        goto bad;
    size_t o = 0;
    if (n % 2)                      /* whole bytes, as openssl prints them */
        out[o++] = '0';
    memcpy(out + o, digits + skip, n);
    out[o + n] = '\0';
    return 0;
bad:
    return ca_fail(err, CA_ERR_INVALID, "invalid serial '%s': expected up to %d hex bytes",
                   text ? text : "", CA_SERIAL_BYTES);
}

int ca_serial_hex(const X509 *cert, char out[CA_SERIAL_HEX_MAX])
{
    const ASN1_INTEGER *serial = X509_get0_serialNumber(cert);
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    int rc = -1;
    if (hex)
        rc = ca_serial_normalize(hex, out, NULL);
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

int ca_fingerprint_sha256(X509 *cert, char out[CA_FINGERPRINT_HEX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!X509_digest(cert, EVP_sha256(), md, &len) || len != 32)
        return -1;
    hex_encode(md, len, out);
    return 0;
}

void ca_format_time(time_t t, char out[CA_TIME_STR])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, CA_TIME_STR, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int ca_asn1_time_to_unix(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm))
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* certificateHold is left out on purpose: revocation in Vigil is final (a
 * device to be set aside for a while is quarantined instead). */
static const char *const reason_names[] = {
    [CRL_REASON_UNSPECIFIED] = "unspecified",
    [CRL_REASON_KEY_COMPROMISE] = "keyCompromise",
    [CRL_REASON_CA_COMPROMISE] = "cACompromise",
    [CRL_REASON_AFFILIATION_CHANGED] = "affiliationChanged",
    [CRL_REASON_SUPERSEDED] = "superseded",
    [CRL_REASON_CESSATION_OF_OPERATION] = "cessationOfOperation",
    [CRL_REASON_PRIVILEGE_WITHDRAWN] = "privilegeWithdrawn",
    [CRL_REASON_AA_COMPROMISE] = "aACompromise",
};

int ca_reason_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof(reason_names) / sizeof(reason_names[0]); i++)
        if (reason_names[i] && strcasecmp(reason_names[i], name) == 0)
            return (int)i;
    return -1;
}

const char *ca_reason_name(int code)
{
    if (code < 0 || (size_t)code >= sizeof(reason_names) / sizeof(reason_names[0]))
        return NULL;
    return reason_names[code];
}
