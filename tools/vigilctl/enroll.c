/*
 * enroll.c - issue a device certificate and record it in the registry (see
 * enroll.h). Order matters: the device row is locked before anything is
 * checked, so two enrollments of one id serialize in PostgreSQL and the
 * second one sees the first one's certificate.
 */
#include "tools/vigilctl/enroll.h"

#include "db/db_renewal.h"
#include "protocol/device_id.h"

#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

json_t *enroll_result_json(const char *device_id, const ca_issued *issued)
{
    char nb[CA_TIME_STR], na[CA_TIME_STR];
    char *pem = ca_cert_pem(issued->cert);
    ca_format_time(issued->not_before, nb);
    ca_format_time(issued->not_after, na);
    json_t *obj = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s?}", "device_id", device_id, "serial",
                            issued->serial, "fingerprint", issued->fingerprint, "not_before", nb,
                            "not_after", na, "pem", pem);
    free(pem);
    return obj;
}

/* Revokes the device's active certificates as superseded; their serials go
 * into replaced. */
static int supersede(cli_ctx *ctx, const char *device_id, json_t *replaced)
{
    db_error err = {0};
    PGresult *res = db_cert_revoke(ctx->db, NULL, device_id, "superseded", &err);
    if (!res)
        return cli_fail_db(ctx, &err);
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(replaced, json_string(PQgetvalue(res, i, 0)));
    PQclear(res);
    return EXIT_OK;
}

/* A key on the compromised-keys list is never certified again: the
 * operator is told which certificate carried it and when it was listed. */
static int check_key(cli_ctx *ctx, const enroll_request *r)
{
    char key[CA_FINGERPRINT_HEX];
    db_compromised_key found_key;
    db_error err = {0};
    if (ca_key_sha256(r->public_key, key) < 0)
        return cli_fail(ctx, EXIT_REFUSED, "cannot read the public key for device %s",
                        r->device_id);
    int found = db_key_compromised(ctx->db, key, &found_key, &err);
    if (found < 0)
        return cli_fail_db(ctx, &err);
    if (found)
        return cli_fail(ctx, EXIT_REFUSED,
                        "refused: the key for device %s (sha256 %s) was declared compromised: "
                        "it is on the compromised-keys list since %s (certificate %s of device "
                        "%s, revoked for keyCompromise). Nothing was issued or recorded. The "
                        "device must make a new key and a new CSR (`vigil-device keygen`)",
                        r->device_id, key, found_key.added_at,
                        found_key.serial[0] ? found_key.serial : "?",
                        found_key.device_id[0] ? found_key.device_id : "?");
    return EXIT_OK;
}

static int check_device_state(cli_ctx *ctx, const enroll_request *r, const db_device_state *st)
{
    if (strcmp(st->status, "decommissioned") == 0)
        return cli_fail(ctx, EXIT_REFUSED, "device %s is decommissioned; it cannot be enrolled "
                        "again (use a new id)", r->device_id);
    if (st->active_certs > 0 && !r->replace)
        return cli_fail(ctx, EXIT_REFUSED, "device %s already has an active certificate; "
                        "use --replace to supersede it, or choose another id", r->device_id);
    return EXIT_OK;
}

static int record(cli_ctx *ctx, const enroll_request *r, const ca_issued *issued,
                  const char *device_class, json_t *replaced)
{
    db_error err = {0};
    char *pem = ca_cert_pem(issued->cert);
    db_cert row = {issued->serial,
                   r->device_id,
                   issued->issuer_ski,
                   issued->fingerprint,
                   issued->not_before,
                   issued->not_after,
                   pem,
                   issued->key_sha256};
    int rc = EXIT_OK;
    if (!pem)
        rc = cli_fail(ctx, EXIT_INTERNAL, "out of memory");
    else if (db_cert_insert(ctx->db, &row, &err) < 0)
        rc = cli_fail_db(ctx, &err);
    free(pem);
    if (rc != EXIT_OK) {
        json_decref(replaced);
        return rc;
    }
    char na[CA_TIME_STR];
    ca_format_time(issued->not_after, na);
    json_t *details = json_pack("{s:s,s:s,s:s,s:s,s:o}", "how", r->how, "class", device_class,
                                "issuer", issued->issuer_ski, "not_after", na, "replaced",
                                replaced);
    return cli_audit_json(ctx, "device.enroll", r->device_id, issued->serial, details);
}

int enroll_device(cli_ctx *ctx, const enroll_request *r, ca_issued *out)
{
    db_device_state st;
    db_error err = {0};
    ca_error cerr = {0};
    json_t *replaced = json_array();
    int rc;
    memset(out, 0, sizeof(*out));
    if (!device_id_valid(r->device_id)) {
        rc = cli_fail(ctx, EXIT_REFUSED, "invalid device id '%s': use " DEVICE_ID_RULE,
                      r->device_id);
        goto fail;
    }
    if (db_device_lock(ctx->db, r->device_id, r->device_class, &st, &err) < 0) {
        rc = cli_fail_db(ctx, &err);
        goto fail;
    }
    if ((rc = check_device_state(ctx, r, &st)) != EXIT_OK || (rc = check_key(ctx, r)) != EXIT_OK ||
        (st.active_certs > 0 && (rc = supersede(ctx, r->device_id, replaced)) != EXIT_OK))
        goto fail;
    ca_device_request req = {r->device_id, r->public_key, r->validity, r->backdate};
    if (ca_issue_device(ctx->ca, &req, out, &cerr) < 0) {
        rc = cli_fail_ca(ctx, &cerr);
        goto fail;
    }
    rc = record(ctx, r, out, st.device_class, replaced);   /* consumes replaced */
    if (rc != EXIT_OK)
        ca_issued_clear(out);
    return rc;
fail:
    json_decref(replaced);
    return rc;
}
