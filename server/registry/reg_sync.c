/*
 * reg_sync.c - LISTEN/NOTIFY and full loads for the in-memory registry
 * (see reg_sync.h).
 */
#include "server/registry/reg_sync.h"

#include "protocol/hex.h"
#include "server/core/log.h"
#include "server/core/pg_async.h"
#include "server/registry/reg_grant.h"
#include "server/registry/reg_view.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reg_sync {
    pg_async_conn *pg;
    int loaded;
    reg_sync_change_cb on_change;
    void *arg;
    void (*on_ca_change)(void *arg);
    void *ca_arg;
    int grant_loads;
};

/* Renewal grants worth knowing: open ones, and those spent or expired in
 * the last day (so a refused handshake can say which). */
static const char grants_sql[] =
    "SELECT DISTINCT ON (fingerprint_sha256) fingerprint_sha256, device_id,"
    " extract(epoch FROM expires_at)::int8, used_at IS NOT NULL FROM renewal_grants"
    " WHERE expires_at > now() - interval '1 day' OR used_at > now() - interval '1 day'"
    " ORDER BY fingerprint_sha256, id DESC";

/* Registry rows: fingerprint, device_id, active (bool), not_after (epoch
 * int8), device status, last network, device class, tags (REG_TAGS form:
 * the valid ones, each between newlines); $1 filters one fingerprint when
 * not NULL. Expired certificates are left out: they fail on not_after anyway,
 * and loading them would grow the view forever. The network is the /24 or
 * /48 the device was last seen from. */
static const char select_sql[] =
    "SELECT c.fingerprint_sha256, c.device_id, c.status = 'active',"
    " extract(epoch FROM c.not_after)::int8, d.status,"
    " CASE WHEN d.last_address IS NULL THEN NULL"
    "  WHEN family(d.last_address) = 4 THEN network(set_masklen(d.last_address, 24))::text"
    "  ELSE network(set_masklen(d.last_address, 48))::text END,"
    " d.device_class,"
    " (SELECT E'\\n' || string_agg(t, E'\\n' ORDER BY o) || E'\\n'"
    "   FROM unnest(d.tags) WITH ORDINALITY AS u (t, o)"
    "  WHERE t ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' AND o <= 32)"
    " FROM certificates c JOIN devices d ON d.id = c.device_id"
    " WHERE c.not_after > now() AND ($1::text IS NULL OR c.fingerprint_sha256 = $1)";

/* Row i of a select_sql result. */
static void parse_row(PGresult *res, int i, reg_cert_row *row)
{
    row->found = 1;
    row->device_id = PQgetvalue(res, i, 1);
    row->cert_active = PQgetvalue(res, i, 2)[0] == 't';
    row->not_after = (time_t)strtoll(PQgetvalue(res, i, 3), NULL, 10);
    row->device_status = PQgetvalue(res, i, 4);
    row->last_address = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5);
    row->device_class = PQgetvalue(res, i, 6);
    row->tags = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7);
}

static void on_loaded(PGresult *res, void *arg)
{
    reg_sync *r = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("registry load failed", "error", res ? PQresultErrorMessage(res) : "connection lost",
                  NULL);
        return;
    }
    reg_view_load_begin();
    for (int i = 0; i < PQntuples(res); i++) {
        uint8_t fp[REG_FP_LEN];
        reg_cert_row row;
        if (hex_decode(PQgetvalue(res, i, 0), fp, REG_FP_LEN) < 0)
            continue;
        parse_row(res, i, &row);
        reg_view_load_row(fp, &row);
    }
    reg_view_load_commit();
    r->loaded = 1;
    log_info_fields("registry loaded", LOG_INT("certificates", PQntuples(res)));
    if (r->on_change)
        r->on_change(NULL, r->arg);
}

static void on_grants_loaded(PGresult *res, void *arg)
{
    reg_sync *r = arg;
    if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_error("renewal grants load failed", "error",
                  res ? PQresultErrorMessage(res) : "connection lost", NULL);
        return;
    }
    reg_grant_clear();
    for (int i = 0; i < PQntuples(res); i++) {
        uint8_t fp[REG_FP_LEN];
        if (hex_decode(PQgetvalue(res, i, 0), fp, REG_FP_LEN) < 0)
            continue;
        reg_grant_note(fp, PQgetvalue(res, i, 1), (time_t)strtoll(PQgetvalue(res, i, 2), NULL, 10),
                       PQgetvalue(res, i, 3)[0] == 't');
    }
    /* after a reconnection, not at start: vigild loaded its CA set then */
    if (r->grant_loads++ > 0 && r->on_ca_change)
        r->on_ca_change(r->ca_arg);
}

static void on_listening(PGresult *res, void *arg)
{
    (void)arg;
    if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
        log_error("LISTEN vigil_registry failed", "error",
                  res ? PQresultErrorMessage(res) : "connection lost", NULL);
}

static void on_state(pg_async_conn *c, int up, void *arg)
{
    reg_sync *r = arg;
    const char *no_filter[] = {NULL};
    if (!up) {
        r->loaded = 0;
        return;
    }
    /* LISTEN first, then load: a change committed between the two is both
     * in the load and in a NOTIFY, which is harmless. */
    if (pg_async_query(c, "LISTEN vigil_registry", 0, NULL, on_listening, r) < 0 ||
        pg_async_query(c, select_sql, 1, no_filter, on_loaded, r) < 0 ||
        pg_async_query(c, grants_sql, 0, NULL, on_grants_loaded, r) < 0)
        log_error("cannot query the registry", NULL);
}

static int notified_fp(json_t *msg, uint8_t fp[REG_FP_LEN])
{
    const char *hex = json_string_value(json_object_get(msg, "fingerprint"));
    return hex && hex_decode(hex, fp, REG_FP_LEN) == 0 ? 0 : -1;
}

static void apply_grant(json_t *msg, const char *device)
{
    uint8_t fp[REG_FP_LEN];
    const char *state = json_string_value(json_object_get(msg, "state"));
    json_int_t expires = json_integer_value(json_object_get(msg, "expires_at"));
    if (notified_fp(msg, fp) < 0 || !state)
        return;
    if (strcmp(state, "open") == 0 && expires > 0)
        reg_grant_note(fp, device, (time_t)expires, 0);
    else if (strcmp(state, "spent") == 0)
        reg_grant_note(fp, device, 0, 1);
}

/* {"tags":[...]}: at most REG_TAGS_MAX strings (reg_view skips bad ones). */
static int apply_tags(json_t *msg, const char *device)
{
    json_t *list = json_object_get(msg, "tags");
    const char *tags[REG_TAGS_MAX];
    size_t n = 0, i;
    json_t *t;
    if (!json_is_array(list))
        return -1;
    json_array_foreach(list, i, t) {
        if (json_is_string(t) && n < REG_TAGS_MAX)
            tags[n++] = json_string_value(t);
    }
    reg_view_set_device_tags(device, tags, n);
    return 0;
}

static void apply_notify(reg_sync *r, json_t *msg)
{
    const char *event = json_string_value(json_object_get(msg, "event"));
    const char *device = json_string_value(json_object_get(msg, "device_id"));
    if (event && strcmp(event, "ca_changed") == 0) {
        log_info("registry change", "event", event, NULL);
        if (r->on_ca_change)
            r->on_ca_change(r->ca_arg);
        return;
    }
    if (!event || !device)
        return;
    if (strcmp(event, "certificate_revoked") == 0) {
        uint8_t fp[REG_FP_LEN];
        if (notified_fp(msg, fp) < 0)
            return;
        reg_view_revoke(fp, device);
        reg_grant_forget(fp);
    } else if (strcmp(event, "renewal_grant") == 0) {
        apply_grant(msg, device);
    } else if (strcmp(event, "device_tags") == 0) {
        if (apply_tags(msg, device) < 0)
            return;
    } else if (strcmp(event, "device_status") == 0) {
        reg_device_status st;
        const char *status = json_string_value(json_object_get(msg, "status"));
        if (!status || reg_view_device_status_parse(status, &st) < 0)
            return;
        reg_view_set_device_status(device, st);
    } else {
        return;
    }
    log_info("registry change", "event", event, "device_id", device, NULL);
    if (r->on_change)
        r->on_change(device, r->arg);
}

static void on_notify(const char *channel, const char *payload, void *arg)
{
    json_t *msg = json_loads(payload, 0, NULL);
    (void)channel;
    if (msg)
        apply_notify(arg, msg);
    else
        log_warn("unreadable registry notification", NULL);
    json_decref(msg);
}

reg_sync *reg_sync_start(uv_loop_t *loop, const char *database_url, reg_sync_change_cb on_change,
                         void *arg)
{
    reg_sync *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->on_change = on_change;
    r->arg = arg;
    if (!(r->pg = pg_async_new(loop, database_url, "vigild-registry", on_state, on_notify, r))) {
        free(r);
        return NULL;
    }
    return r;
}

void reg_sync_on_ca_change(reg_sync *r, void (*on_ca_change)(void *arg), void *arg)
{
    r->on_ca_change = on_ca_change;
    r->ca_arg = arg;
}

void reg_sync_stop(reg_sync *r)
{
    if (!r)
        return;
    pg_async_close(r->pg);
    free(r);
}

int reg_sync_loaded(const reg_sync *r)
{
    return r && r->loaded;
}

/* ---- one certificate, on a worker's connection ---- */

typedef struct fetch {
    uint8_t fp[REG_FP_LEN];
    reg_sync_fetch_cb done;
    void *arg;
} fetch;

static void on_fetched(PGresult *res, void *arg)
{
    fetch *f = arg;
    int answered = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    if (answered) {
        reg_cert_row row = {0}; /* found = 0: known absent */
        if (PQntuples(res) > 0)
            parse_row(res, 0, &row);
        reg_view_learn(f->fp, &row);
    }
    f->done(answered, f->arg);
    free(f);
}

int reg_sync_fetch(pg_async_conn *pg, const uint8_t fp[REG_FP_LEN], reg_sync_fetch_cb done,
                   void *arg)
{
    char fp_hex[2 * REG_FP_LEN + 1];
    fetch *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    memcpy(f->fp, fp, REG_FP_LEN);
    f->done = done;
    f->arg = arg;
    hex_encode(fp, REG_FP_LEN, fp_hex);
    const char *params[] = {fp_hex};
    if (pg_async_query(pg, select_sql, 1, params, on_fetched, f) < 0) {
        free(f);
        return -1;
    }
    return 0;
}
