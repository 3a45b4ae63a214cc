/*
 * ca.h - the Vigil device certificate authority library.
 *
 * A CA directory holds an offline root CA and one or more issuing CAs (the
 * newest one signs; older ones stay trusted until every certificate they
 * issued has expired, so a rotation never disconnects a device). This library
 * creates and loads that directory, checks certificate signing requests,
 * issues device and server certificates with Vigil's profile and builds
 * CRLs. It knows nothing of PostgreSQL: recording what was issued is the
 * caller's job (vigilctl today, vigild for renewals).
 *
 * Errors: every fallible function fills a ca_error and returns -1 or NULL.
 * Ownership: objects returned by *_new/_read/_issue/_build belong to the
 * caller, who frees them with the matching OpenSSL or ca_ free function.
 */
#ifndef VIGIL_CA_H
#define VIGIL_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/types.h>
#include <openssl/x509.h>

typedef enum ca_status {
    CA_OK = 0,
    CA_ERR_INVALID,    /* input refused: malformed, weak key, against policy */
    CA_ERR_NOT_FOUND,  /* CA directory or a file in it is missing */
    CA_ERR_PASSPHRASE, /* key is encrypted and the passphrase is missing or wrong */
    CA_ERR_EXISTS,     /* refusing to overwrite something */
    CA_ERR_IO,         /* filesystem error */
    CA_ERR_CRYPTO,     /* OpenSSL failed where it should not */
} ca_status;

typedef struct ca_error {
    ca_status status;
    char msg[512];
} ca_error;

/* Records an error (printf-style) and returns -1 for `return ca_fail(...)`. */
int ca_fail(ca_error *err, ca_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- identifiers, formatting (ca_util.c) ---- */

#define CA_SERIAL_BYTES 20                        /* 159 random bits */
#define CA_SERIAL_HEX_MAX (2 * CA_SERIAL_BYTES + 1)
#define CA_FINGERPRINT_HEX (2 * 32 + 1)
#define CA_TIME_STR 21                            /* "YYYY-MM-DDTHH:MM:SSZ" */

/* Canonical serial: uppercase hex, no separators, no leading zero bytes.
 * Accepts "0a:1B", "0x0A1B", "a1b". */
int ca_serial_normalize(const char *text, char out[CA_SERIAL_HEX_MAX], ca_error *err);
int ca_serial_hex(const X509 *cert, char out[CA_SERIAL_HEX_MAX]);
int ca_fingerprint_sha256(X509 *cert, char out[CA_FINGERPRINT_HEX]);
void ca_format_time(time_t t, char out[CA_TIME_STR]);
int ca_asn1_time_to_unix(const ASN1_TIME *t, time_t *out);

/* RFC 5280 CRLReason names <-> codes ("keyCompromise" <-> 1). */
int ca_reason_from_name(const char *name);        /* -1 if unknown */
const char *ca_reason_name(int code);             /* NULL if unknown */

/* ---- keys (ca_key.c) ---- */

typedef enum ca_key_type { CA_KEY_P256 = 0, CA_KEY_P384, CA_KEY_ED25519 } ca_key_type;

int ca_key_type_parse(const char *name, ca_key_type *out);   /* "p256", "p384", "ed25519" */
const char *ca_key_type_name(ca_key_type type);
EVP_PKEY *ca_key_generate(ca_key_type type, ca_error *err);
/* Refuses RSA under 2048 bits and curves other than P-256, P-384, Ed25519. */
int ca_key_check_strength(EVP_PKEY *key, ca_error *err);
/* SHA-256 of the key's DER SubjectPublicKeyInfo, lowercase hex: how the
 * registry names a key (certificates.key_sha256, compromised_keys). */
int ca_key_sha256(EVP_PKEY *key, char out[CA_FINGERPRINT_HEX]);
/* Writes a private key 0600, atomically, PKCS#8 encrypted with AES-256 when
 * passphrase is not NULL. Refuses to replace an existing file. */
int ca_key_write(const char *path, EVP_PKEY *key, const char *passphrase, ca_error *err);
EVP_PKEY *ca_key_read(const char *path, const char *passphrase, ca_error *err);
/* Reads a passphrase from a file (first line) or an environment variable;
 * exactly one of file/env is non-NULL. Result is malloc'd; free with
 * ca_passphrase_free, which wipes it. */
char *ca_passphrase_load(const char *file, const char *env, ca_error *err);
/* A passphrase from file, else from the variable env, else from the
 * variable dflt_env (VIGIL_CA_PASSPHRASE for the CA, VIGIL_RELEASE_PASSPHRASE
 * for release keys) when that is set and not empty, else from the file the
 * variable dflt_env + "_FILE" names (both set: refused; at most one of
 * file/env non-NULL). *out is NULL when none is given (keys stored
 * unencrypted). -1 (err filled) when the one given cannot be read. */
int ca_passphrase_find(const char *file, const char *env, const char *dflt_env, char **out,
                       ca_error *err);
void ca_passphrase_free(char *pass);

/* ---- certificates and CSRs on disk (ca_pem.c) ---- */

/* Whether a key file is PEM-encrypted (an "ENCRYPTED" line; ca_key.c). */
int ca_key_file_is_encrypted(const char *path);

int ca_certs_write(const char *path, X509 *const *certs, size_t n, ca_error *err);
/* Writes len bytes of data to path with mode through a synced temporary
 * file renamed into place: path holds the old content or the new, never a
 * part (vigilctl's --out FILE). 0, or -1 with err (CA_ERR_IO) naming the
 * file and the reason. */
int ca_text_replace(const char *path, const char *data, size_t len, int mode, ca_error *err);
X509 *ca_cert_read(const char *path, ca_error *err);
/* The certificate as PEM text, as the registry records it: malloc'd and
 * NUL-terminated (the caller frees it); NULL when out of memory. */
char *ca_cert_pem(X509 *cert);
/* Parses a PKCS#10 request, PEM or DER. */
X509_REQ *ca_csr_parse(const unsigned char *data, size_t len, ca_error *err);
/* Reads a CSR file; every error names the file first ("x.csr: No such
 * file or directory", "x.csr is empty", "x.csr is a directory ...",
 * "x.csr: not a certificate signing request ..."). */
X509_REQ *ca_csr_read(const char *path, ca_error *err);
/* Proof of possession (self-signature) and key strength. */
int ca_csr_check(X509_REQ *req, ca_error *err);
/* Copies the subject CN; returns 1 if present, 0 if absent, -1 if unusable. */
int ca_csr_common_name(X509_REQ *req, char *out, size_t outlen);

/* ---- PEM files checked, TLS identities loaded (ca_tls.c) ---- */

typedef enum ca_pem_kind { CA_PEM_CERTIFICATE, CA_PEM_PRIVATE_KEY } ca_pem_kind;

/* Checks that path can be opened and read, is not a directory, is not
 * empty and has a BEGIN line of the kind, so that the error names the file
 * and the problem ("x.crt: No such file or directory", "x.crt is empty",
 * "x.crt is not a PEM certificate ..."). 0, or -1 with err filled. */
int ca_pem_file_check(const char *path, ca_pem_kind kind, ca_error *err);
/* The same checks on the whole text of path, which may also be a pipe
 * (/dev/stdin), read once: the text (NUL-terminated, *len bytes, at most
 * 1 MiB), to be freed with ca_pem_buffer_free, which wipes it. NULL with
 * err filled. */
char *ca_pem_file_load(const char *path, ca_pem_kind kind, size_t *len, ca_error *err);
void ca_pem_buffer_free(char *buf, size_t len);


/* Loads a certificate chain and its unencrypted private key into ctx and
 * checks that they match; err names the file at fault. */
int ca_tls_use_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file,
                        ca_error *err);
/* Loads the certificates of ca_file as the peers' trust anchors. */
int ca_tls_use_trust(SSL_CTX *ctx, const char *ca_file, ca_error *err);

/* ---- EST encodings (ca_est.c, RFC 7030) ---- */

/* Base64 with a line break every 64 characters (RFC 2045), NUL-terminated,
 * malloc'd; *out_len (may be NULL) is its length. NULL if out of memory. */
char *ca_est_base64(const unsigned char *der, size_t len, size_t *out_len);
/* Decodes base64 that may contain whitespace and line breaks; NULL when it
 * is not base64, is empty or decodes to more than max bytes. malloc'd. */
unsigned char *ca_est_base64_decode(const char *text, size_t len, size_t max, size_t *out_len);
/* A PKCS#7 certs-only Simple PKI Response of certs, DER in base64. */
char *ca_est_certs_only(X509 *const *certs, size_t n, size_t *out_len);
/* The reverse: the certificates of a base64 PKCS#7 SignedData of at most
 * max bytes of DER, with nothing after it; NULL when it is not one. The
 * stack and its certificates are the caller's (sk_X509_pop_free with
 * X509_free); it may be empty. */
STACK_OF(X509) * ca_est_certs_parse(const char *b64, size_t len, size_t max);
/* The CSR attributes (RFC 7030 §4.5) for device_id, DER in base64: the key
 * types accepted, the signature algorithm, and the subject CN. */
char *ca_est_csrattrs(const char *device_id, size_t *out_len);
/* 1 if the request's subject CN is device_id and every subjectAltName it
 * carries is urn:vigil:device:<device_id>; else 0 and why says what is
 * wrong. Other subject attributes are ignored: a device certificate's
 * subject is always CN=<id>. */
int ca_csr_names_device(X509_REQ *req, const char *device_id, char *why, size_t whylen);

/* ---- the CA directory (ca_store.c) ---- */

typedef struct ca_issuer {
    char id[8];          /* "0001", "0002", ...: file name stem under issuing/ */
    char ski[65];        /* subject key identifier, lowercase hex: the id the
                            registry records as a certificate's issuer */
    X509 *cert;
    EVP_PKEY *key;       /* NULL until ca_store_unlock() */
    time_t created_at;
    time_t retired_at;   /* 0 while this is the current issuer */
} ca_issuer;

typedef struct ca_store {
    char *dir;
    X509 *root;
    ca_issuer *issuers;  /* oldest first; the last one is current */
    size_t n_issuers;
    ca_key_type key_type;
    int encrypted;       /* keys are passphrase-protected */
    int64_t default_validity;
    int64_t max_validity;
    uint64_t crl_number; /* last CRL number handed out */
} ca_store;

typedef struct ca_init_opts {
    ca_key_type key_type;
    const char *org;            /* subject O=, default "Vigil" */
    int64_t root_validity;      /* seconds */
    int64_t issuing_validity;
    int64_t default_validity;   /* device certificates */
    int64_t max_validity;
    const char *passphrase;     /* NULL: keys stored unencrypted */
} ca_init_opts;

void ca_init_opts_defaults(ca_init_opts *o);
int ca_store_init(const char *dir, const ca_init_opts *o, ca_error *err);
ca_store *ca_store_open(const char *dir, ca_error *err);
void ca_store_close(ca_store *s);
/* Loads the private keys of the trusted issuers. */
int ca_store_unlock(ca_store *s, const char *passphrase, ca_error *err);
ca_issuer *ca_store_current(ca_store *s);
/* 1 if iss is trusted at `now`: current, or retired less than max_validity
 * ago (every certificate it issued is still possibly in date). */
int ca_issuer_trusted(const ca_store *s, const ca_issuer *iss, time_t now);
/* Finds the issuer whose subject key identifier matches cert's AKI. */
ca_issuer *ca_store_issuer_of(ca_store *s, X509 *cert);
/* New issuing CA signed by the root key (root_key_path NULL: the one in the
 * directory); the previous issuer is retired but stays trusted. */
int ca_store_rotate(ca_store *s, const char *root_key_path, const char *passphrase,
                    int64_t issuing_validity, ca_error *err);
/* Reserves the next CRL number (persisted before it is returned). */
int ca_store_next_crl_number(ca_store *s, uint64_t *out, ca_error *err);

/* ---- issuing (ca_issue.c) ---- */

typedef struct ca_issued {
    X509 *cert;
    char serial[CA_SERIAL_HEX_MAX];
    char fingerprint[CA_FINGERPRINT_HEX];
    char key_sha256[CA_FINGERPRINT_HEX]; /* ca_key_sha256 of the subject key */
    char issuer_ski[65];
    time_t not_before;
    time_t not_after;
} ca_issued;

typedef struct ca_device_request {
    const char *device_id;
    EVP_PKEY *public_key;
    int64_t validity;      /* seconds; 0 = policy default */
    int64_t backdate;      /* start notBefore this long ago (tests of expiry) */
} ca_device_request;

typedef struct ca_server_request {
    const char *const *dns;
    size_t n_dns;
    const char *const *ips;
    size_t n_ips;
    EVP_PKEY *public_key;
    int64_t validity;
} ca_server_request;

int ca_issue_device(ca_store *s, const ca_device_request *r, ca_issued *out, ca_error *err);
int ca_issue_server(ca_store *s, const ca_server_request *r, ca_issued *out, ca_error *err);
void ca_issued_clear(ca_issued *out);

/* ---- revocation (ca_crl.c) ---- */

typedef struct ca_revoked {
    const char *serial;    /* canonical hex */
    time_t revoked_at;
    int reason;            /* RFC 5280 CRLReason code */
} ca_revoked;

X509_CRL *ca_crl_build(ca_store *s, ca_issuer *iss, const ca_revoked *revoked, size_t n,
                       int64_t next_update, ca_error *err);

#endif
