/*
 * api_registry.c - the registry side of the operator API: devices (list,
 * show, quarantine, release, decommission, renewal grants), certificates
 * (list, show with their lineage, revoke: keyCompromise follows the
 * lineage) and the audit log. Grants and revocations are db/'s
 * (db_renewal.h), the same statements vigilctl runs.
 *
 * Reads are keyset pages (see db/db_admin.c). Every change runs in one
 * transaction on the request's connection: the row is locked, the
 * transition checked, the change made with its NOTIFY to vigil_registry
 * (so every vigild applies it to live connections when it commits) and an
 * audit row naming the token written, all or nothing.
 *
 * A path argument that cannot be an id or serial at all was answered by
 * api.c's routing (404 naming it, as the URL names no resource); the
 * handlers see only ids and serials that could exist.
 */
#include "server/api/api_handlers.h"

#include "server/api/api_db.h"
#include "server/api/api_param.h"

#include "cert-authority/ca.h"
#include "db/db_admin.h"
#include "db/db_renewal.h"
#include "protocol/device_id.h"
#include "protocol/incident.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const no_params[] = {NULL};
static const char *const reason_only[] = {"reason", NULL}; /* a change's body */
static const char *const device_statuses[] = {"active", "quarantined", "decommissioned", NULL};
static const char *const cert_statuses[] = {"active", "revoked", "expired", NULL};

#define REASON_MAX 256 /* characters of a status change's free-text reason */

/* ---- shared ---- */

static void bad_cursor(api_req *r, const char *cursor)
{
    api_param_refuse(r, "cursor", cursor,
                     "is not a cursor this server made; pass next_cursor from the previous page "
                     "unchanged");
}

/* The page size and the cursor of a one-column keyset (the last key
 * shown; *after stays NULL on the first page). 0, or -1 once answered. */
static int page_params(api_req *r, size_t cursor_max, int (*valid)(const char *), int *limit,
                       const char **after)
{
    int rc;
    *after = NULL;
    if (api_param_limit(r, limit) < 0 || (rc = api_param_text(r, "cursor", cursor_max, after)) < 0)
        return -1;
    if (rc && !valid(*after)) {
        bad_cursor(r, *after);
        return -1;
    }
    return 0;
}

/* ---- devices ---- */

static void no_device(api_req *r, const char *id)
{
    api_error(r, 404, "not_found", NULL, "no device %s (see GET /v1/devices)", id);
}

static void device_cursor(PGresult *res, int row, char *out, size_t len)
{
    snprintf(out, len, "%s", PQgetvalue(res, row, PQfnumber(res, "id")));
}

/* Fills f from the query; since and before hold its times. 0 or -1. */
static int device_filter(api_req *r, db_device_filter *f, api_time *since, api_time *before)
{
    memset(f, 0, sizeof(*f));
    if (api_param_choice(r, "status", device_statuses, &f->status) < 0 ||
        api_param_text(r, "class", 64, &f->device_class) < 0 ||
        api_param_text(r, "firmware_version", INCIDENT_TEXT_MAX, &f->firmware_version) < 0 ||
        api_param_text(r, "id_prefix", 64, &f->id_prefix) < 0 ||
        api_param_time(r, "seen_since", since, &f->seen_since) < 0 ||
        api_param_time(r, "seen_before", before, &f->seen_before) < 0)
        return -1;
    return 0;
}

void api_registry_devices(api_req *r)
{
    static const char *const names[] = {"status",    "class",      "firmware_version",
                                        "id_prefix", "seen_since", "seen_before",
                                        "limit",     "cursor",     NULL};
    db_device_filter f;
    api_time since, before;
    const char *after;
    int limit;
    if (api_param_only(r, names) < 0 || device_filter(r, &f, &since, &before) < 0 ||
        page_params(r, 64, device_id_valid, &limit, &after) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    db_error err;
    if (db)
        api_answer_page(r, db_devices_page(db, &f, after, limit + 1, &err), &err, limit, NULL,
                        device_cursor);
}

/* The device object with its certificates and incident counts. */
static json_t *device_show_json(PGresult *dev, PGresult *certs, PGresult *counts)
{
    json_t *obj = db_row_json(dev, 0), *arr = db_rows_json(certs, PQntuples(certs), "created_us");
    int ok = obj && arr;
    if (ok) {
        ok = json_object_set_new(obj, "certificates", arr) == 0;
        arr = NULL;
    }
    if (ok)
        ok = json_object_set_new(obj, "incidents", db_row_json(counts, 0)) == 0;
    json_decref(arr);
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

void api_registry_device(api_req *r)
{
    if (api_param_only(r, no_params) < 0)
        return;
    const char *id = r->path_args[0];
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err;
    PGresult *dev = NULL, *certs = NULL, *counts = NULL;
    if (!(dev = db_device_row(db, id, 0, &err))) {
        api_pool_fail(r, &err);
    } else if (PQntuples(dev) == 0) {
        no_device(r, id);
    } else if (!(certs = db_certs_page(db, id, NULL, NULL, NULL, INT_MAX, &err)) ||
               !(counts = db_device_incident_counts(db, id, &err))) {
        api_pool_fail(r, &err);
    } else {
        json_t *obj = device_show_json(dev, certs, counts);
        if (obj && db_device_status_note(db, dev, obj, &err) < 0) {
            json_decref(obj);
            api_pool_fail(r, &err);
        } else {
            api_reply_json(r, 200, obj);
        }
    }
    PQclear(dev);
    PQclear(certs);
    PQclear(counts);
}

/* The change with its NOTIFY and audit row (db_device_transition: the
 * checks vigilctl's device quarantine|release|decommission make too),
 * committed, and answered with the device as it now is. */
static void transition_run(api_req *r, PGconn *db, const char *action, const char *to,
                           const char *reason)
{
    const char *id = r->path_args[0];
    db_actor who = {"token", r->token_name};
    db_error err = {0};
    db_refusal why = {0};
    PGresult *res = NULL;
    int changed;
    if (db_begin(db, &err) < 0)
        goto fail;
    res = db_device_transition(db, &who, id, to, action, reason, &changed, &why, &err);
    if (!res && why.kind != DB_ACCEPTED) {
        db_rollback(db);
        if (why.kind == DB_REFUSED_NOT_FOUND)
            no_device(r, id);
        else
            api_db_refused(r, &why, NULL, NULL);
        return;
    }
    if (!res || db_commit(db, &err) < 0)
        goto fail;
    api_reply_json(r, 200, db_row_json(res, 0));
    PQclear(res);
    return;
fail:
    db_rollback(db);
    api_pool_fail(r, &err);
    PQclear(res);
}

static void device_transition(api_req *r, const char *action, const char *to)
{
    const char *reason = NULL;
    json_t *body = api_param_body(r, reason_only);
    if (!body)
        return;
    PGconn *db; /* the reason: free text, as in a query */
    if (api_param_body_text(r, body, "reason", REASON_MAX, &reason) >= 0 && (db = api_pool_conn(r)))
        transition_run(r, db, action, to, reason);
    json_decref(body); /* reason points into it */
}

void api_registry_quarantine(api_req *r)
{
    device_transition(r, "device.quarantine", "quarantined");
}

void api_registry_release(api_req *r)
{
    device_transition(r, "device.release", "active");
}

void api_registry_decommission(api_req *r)
{
    device_transition(r, "device.decommission", "decommissioned");
}

/* ---- renewal grants ---- */

typedef struct renewal_grant {
    const char *device_id, *until;
} renewal_grant;

static PGresult *grant_renewal(PGconn *db, const db_actor *who, void *arg, db_refusal *why,
                               db_error *err)
{
    const renewal_grant *g = arg;
    return db_renewal_grant(db, who, g->device_id, g->until, why, err);
}

/* POST /v1/devices/{id}/allow-renewal {"until": RFC 3339 or a duration
 * ahead}: db_renewal_grant in one transaction, answered with the grant. */
void api_registry_allow_renewal(api_req *r)
{
    static const char *const names[] = {"until", NULL};
    json_t *body = api_param_body(r, names);
    if (!body)
        return;
    json_t *v = json_object_get(body, "until");
    const char *until = json_string_value(v);
    if (!v)
        api_error(r, 400, "bad_request", "until",
                  "'until' is required: an RFC 3339 time such as 2026-12-08T00:00:00Z or a "
                  "duration from now such as 7d, at most 30 days ahead");
    else if (!until || !api_value_text(until, 64))
        api_param_refuse_json(r, "until", v,
                              "must be an RFC 3339 time such as 2026-12-08T00:00:00Z or a "
                              "duration from now such as 7d, at most 30 days ahead");
    else
        api_db_change(r, grant_renewal, &(renewal_grant){r->path_args[0], until},
                      &(api_db_answer){"until", NULL, 200, NULL});
    json_decref(body); /* until points into it */
}

/* ---- certificates ---- */

/* The serial in the path, canonical (uppercase hex, whole bytes, no
 * leading zero byte), as openssl and vigilctl print it; "0a:1b" is
 * accepted too (api.c's routing refused what ca_serial_normalize does not
 * take). 0, or -1 after answering 500. */
static int serial_path_arg(api_req *r, char out[CA_SERIAL_HEX_MAX])
{
    if (ca_serial_normalize(r->path_args[0], out, NULL) == 0)
        return 0;
    api_error(r, 500, "internal", NULL, "an unchecked serial reached its handler; this is a bug");
    return -1;
}

static void no_cert(api_req *r, const char *serial)
{
    api_error(r, 404, "not_found", NULL,
              "no certificate with serial %s (see GET "
              "/v1/certificates)",
              serial);
}

static void cert_cursor(PGresult *res, int row, char *out, size_t len)
{
    snprintf(out, len, "%s.%s", PQgetvalue(res, row, PQfnumber(res, "created_us")),
             PQgetvalue(res, row, PQfnumber(res, "serial")));
}

void api_registry_certs(api_req *r)
{
    static const char *const names[] = {"device_id", "status", "limit", "cursor", NULL};
    const char *device_id = NULL, *status = NULL, *after_us = NULL, *after_serial = NULL;
    char cbuf[64];
    int limit;
    if (api_param_only(r, names) < 0 || api_param_device_id(r, "device_id", &device_id) < 0 ||
        api_param_choice(r, "status", cert_statuses, &status) < 0 ||
        api_param_limit(r, &limit) < 0 ||
        api_param_cursor(r, "cursor", 1, cbuf, &after_us, &after_serial) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    db_error err;
    if (db)
        api_answer_page(
            r, db_certs_page(db, device_id, status, after_us, after_serial, limit + 1, &err), &err,
            limit, "created_us", cert_cursor);
}

void api_registry_cert(api_req *r)
{
    char serial[CA_SERIAL_HEX_MAX];
    if (api_param_only(r, no_params) < 0 || serial_path_arg(r, serial) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    if (!db)
        return;
    db_error err;
    PGresult *res = db_cert_get(db, serial, &err); /* the object plus pem */
    if (!res)
        api_pool_fail(r, &err);
    else if (PQntuples(res) == 0)
        no_cert(r, serial);
    else
        api_reply_json(r, 200, db_row_json(res, 0));
    PQclear(res);
}

/* The body's RFC 5280 reason name, canonically spelled; "unspecified" when
 * absent. certificateHold is not offered (as in vigilctl): a revocation in
 * Vigil is final, and a device to be set aside for a while is quarantined.
 * 0, or -1 after answering 400. */
static int body_revocation_reason(api_req *r, json_t *body, const char **out)
{
    json_t *v = json_object_get(body, "reason");
    if (!v)
        return 0;
    int code = json_is_string(v) ? ca_reason_from_name(json_string_value(v)) : -1;
    if (code < 0)
        return api_param_refuse_json(
            r, "reason", v,
            "is not an RFC 5280 reason name: unspecified, keyCompromise, cACompromise, "
            "affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn or "
            "aACompromise (certificateHold is not offered: revocation is final; quarantine the "
            "device to set it aside)");
    *out = ca_reason_name(code);
    return 0;
}

/* The certificate as it now is, with what this revocation revoked
 * ([{serial, device_id, via}], via for a descendant: keyCompromise follows
 * the lineage) and how many keys it put on the compromised-keys list. */
static json_t *revoke_answer(PGresult *cert, PGresult *rev, int keys)
{
    json_t *obj = db_row_json(cert, 0), *arr = json_array();
    for (int i = 0; obj && arr && i < PQntuples(rev); i++)
        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:s?}", "serial", PQgetvalue(rev, i, 0),
                                        "device_id", PQgetvalue(rev, i, 1), "via",
                                        PQgetisnull(rev, i, 4) ? NULL : PQgetvalue(rev, i, 4)));
    if (!obj || !arr || json_object_set_new(obj, "revoked", arr) < 0 ||
        json_object_set_new(obj, "compromised_keys_added", json_integer(keys)) < 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Locks the certificate, refuses a second revocation (except keyCompromise
 * of a revoked certificate whose lineage is not yet all revoked and
 * listed), revokes it with its NOTIFY and audit rows (and for keyCompromise
 * its descendants: db_cert_revoke_audited) in one transaction. */
static void revoke_run(api_req *r, PGconn *db, const char *serial, const char *reason)
{
    db_error err = {0};
    db_actor who = {"token", r->token_name};
    PGresult *res = NULL, *rev = NULL;
    int keys = 0, compromise = strcmp(reason, "keyCompromise") == 0;
    if (db_begin(db, &err) < 0 || !(res = db_cert_row(db, serial, 1, &err)))
        goto fail;
    if (PQntuples(res) == 0) {
        db_rollback(db);
        no_cert(r, serial);
        goto done;
    }
    int revoked = strcmp(PQgetvalue(res, 0, PQfnumber(res, "status")), "revoked") == 0;
    if (revoked && !compromise)
        goto already;
    if (!(rev = db_cert_revoke_audited(db, &who, serial, NULL, reason, ca_key_sha256, &keys, &err)))
        goto fail;
    if (PQntuples(rev) == 0 && keys == 0)
        goto already;
    PQclear(res);
    if (!(res = db_cert_row(db, serial, 0, &err)) || db_commit(db, &err) < 0)
        goto fail;
    api_reply_json(r, 200, revoke_answer(res, rev, keys));
    goto done;
already:
    db_rollback(db);
    api_error(r, 409, "conflict", NULL, "certificate %s was already revoked at %s (%s)%s", serial,
              PQgetvalue(res, 0, PQfnumber(res, "revoked_at")),
              PQgetvalue(res, 0, PQfnumber(res, "revocation_reason")),
              compromise ? ", and its descendants and keys are revoked and listed" : "");
    goto done;
fail:
    db_rollback(db);
    api_pool_fail(r, &err);
done:
    PQclear(rev);
    PQclear(res);
}

void api_registry_revoke(api_req *r)
{
    char serial[CA_SERIAL_HEX_MAX];
    const char *reason = "unspecified";
    json_t *body = serial_path_arg(r, serial) < 0 ? NULL : api_param_body(r, reason_only);
    if (!body)
        return;
    PGconn *db;
    if (body_revocation_reason(r, body, &reason) == 0 && (db = api_pool_conn(r)))
        revoke_run(r, db, serial, reason);
    json_decref(body);
}

/* ---- the audit log ---- */

static void audit_cursor(PGresult *res, int row, char *out, size_t len)
{
    snprintf(out, len, "%s", PQgetvalue(res, row, PQfnumber(res, "id")));
}

/* An audit cursor is the last id shown. */
static int valid_audit_id(const char *s)
{
    int64_t id;
    return api_value_int(s, 1, INT64_MAX, &id) == 0;
}

static int audit_filter(api_req *r, db_audit_filter *f, api_time *since, api_time *until)
{
    memset(f, 0, sizeof(*f));
    if (api_param_device_id(r, "device_id", &f->device_id) < 0 ||
        api_param_text(r, "action", 64, &f->action) < 0 ||
        api_param_text(r, "actor", 128, &f->actor) < 0 ||
        api_param_time(r, "since", since, &f->since) < 0 ||
        api_param_time(r, "until", until, &f->until) < 0)
        return -1;
    return 0;
}

void api_registry_audit(api_req *r)
{
    static const char *const names[] = {"since", "until", "device_id", "action",
                                        "actor", "limit", "cursor",    NULL};
    db_audit_filter f;
    api_time since, until;
    const char *before;
    int limit;
    if (api_param_only(r, names) < 0 || audit_filter(r, &f, &since, &until) < 0 ||
        page_params(r, 32, valid_audit_id, &limit, &before) < 0)
        return;
    PGconn *db = api_pool_conn(r);
    db_error err;
    if (db)
        api_answer_page(r, db_audit_page(db, &f, before, limit + 1, &err), &err, limit, NULL,
                        audit_cursor);
}
