/*
 * gw_update.c - GET /v1/update (see gw_update.h): which signed manifest
 * this device should install next, decided from memory, or 204 with the
 * reason in X-Vigil-Reason. The first 200 of a rollout for a device waits
 * for vigil_update_offered to commit (the rollout's "offered" count is the
 * database's); later ones come from the registry view's memory.
 */
#include "server/gateway/gw_update.h"

#include "protocol/percent.h"
#include "protocol/rollout.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/gateway/gw_http.h"
#include "server/gateway/gw_routes.h"
#include "server/registry/reg_update.h"
#include "server/registry/reg_view.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOSE_TYPE "application/jose"
#define SECURITY_VERSION_DIGITS 16 /* 2^53 has 16 */

/* What the device says it runs. */
typedef struct claim {
    char version[MANIFEST_VERSION_MAX + 1]; /* "" when it did not say */
    int64_t security_version;               /* 0 when it did not say */
} claim;

typedef struct offer_job {
    gw_update_pending pending; /* first: gw_update_release clears pending.c */
    reg_update *view;          /* holds rel */
    const reg_release *rel;
    int64_t rollout_id;
    char device_id[REG_ID_MAX + 1];
} offer_job;

/* ---- what the device says ---- */

/* The value of query parameter name, percent-decoded (percent_decode; '+'
 * stays a plus: versions may hold one): 1, 0 when absent, -1 when
 * repeated, too long, badly encoded or holding a control character (a
 * "%00" would otherwise cut the value short, and "1.0%00junk" pass as
 * "1.0"). */
static int query_value(const char *query, const char *name, char *out, size_t cap)
{
    size_t name_len = strlen(name);
    int found = 0;
    for (const char *p = query; *p;) {
        size_t n = strcspn(p, "&");
        if (n > name_len && strncmp(p, name, name_len) == 0 && p[name_len] == '=') {
            size_t len;
            if (found++ ||
                percent_decode(p + name_len + 1, n - name_len - 1, 0, out, cap - 1, &len) != 0)
                return -1;
            for (size_t i = 0; i < len; i++)
                if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
                    return -1;
        }
        p += n + (p[n] == '&');
    }
    return found;
}

static int parse_security_version(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > SECURITY_VERSION_DIGITS || strspn(s, "0123456789") != n)
        return -1;
    int64_t v = strtoll(s, NULL, 10);
    if (v > MANIFEST_SIZE_MAX)
        return -1;
    *out = v;
    return 0;
}

/* One of the two claims: the header, else the query parameter; *source
 * names the one read. 1 and out, 0 when neither came, -1 when the one
 * that came is repeated or too long. */
static int read_one(const gw_http_request *req, gw_http_header_id id, const char *header,
                    const char *param, char *out, size_t cap, const char **source)
{
    const char *value;
    int got = gw_http_header_get(req, id, &value);
    out[0] = '\0';
    if (got != 0) {
        *source = header;
        if (got < 0 || strlen(value) >= cap)
            return -1;
        memcpy(out, value, strlen(value) + 1);
        return 1;
    }
    *source = param;
    return query_value(gw_http_query(req), param, out, cap);
}

/* 0 and *out; or -1 with *bad (the header or parameter at fault) and why. */
static int read_claim(const gw_http_request *req, claim *out, const char **bad, char *why,
                      size_t why_len)
{
    char sv[SECURITY_VERSION_DIGITS + 2];
    int got = read_one(req, GW_HDR_VIGIL_VERSION, "X-Vigil-Version", "version", out->version,
                       sizeof(out->version), bad);
    if (got < 0 || (got > 0 && !manifest_version_valid(out->version))) {
        snprintf(why, why_len, "%s must be a release version (%s), given once", *bad,
                 MANIFEST_VERSION_RULE);
        return -1;
    }
    out->security_version = 0;
    got = read_one(req, GW_HDR_VIGIL_SECURITY_VERSION, "X-Vigil-Security-Version",
                   "security_version", sv, sizeof(sv), bad);
    if (got < 0 || (got > 0 && parse_security_version(sv, &out->security_version) < 0)) {
        snprintf(why, why_len, "%s must be a decimal number from 0 to 2^53, given once", *bad);
        return -1;
    }
    return 0;
}

/* ---- the decision, from memory ---- */

/* The group of the rollout for device_class in view u (a reg_view_group_fn):
 * the tag a device must have to be offered it, NULL when it has none. */
static const char *rollout_group(const char *device_class, const void *u)
{
    const reg_rollout *ro = reg_update_rollout(u, device_class);
    return ro && ro->group_tag[0] ? ro->group_tag : NULL;
}

/* NULL when rel (of rollout *ro) is this device's to install; otherwise
 * the X-Vigil-Reason code. f was read with rollout_group for u. */
static const char *decide(const reg_update *u, const char *device_id, const claim *cl, int64_t now,
                          const reg_rollout **ro, const reg_release **rel,
                          const reg_device_facts *f)
{
    if (f->status == REG_DEV_QUARANTINED)
        return "quarantined";
    if (!f->device_class[0] || !(*ro = reg_update_rollout(u, f->device_class)))
        return "no_rollout";
    *rel = reg_update_release(u, (*ro)->release_id);
    if (!*rel || strcmp((*rel)->device_class, f->device_class) != 0)
        return "revoked"; /* not among the releases that are not revoked */
    if ((*ro)->state == REG_ROLLOUT_PAUSED)
        return "paused";
    if ((*ro)->state == REG_ROLLOUT_HALTED)
        return "halted";
    if ((*ro)->group_tag[0] && !f->in_group) /* f was read for this group (rollout_group) */
        return "not_selected";
    if (!rollout_includes((*ro)->id, device_id, (*ro)->basis_points))
        return "not_selected";
    if (strcmp(cl->version, (*rel)->version) == 0)
        return "up_to_date";
    if ((*rel)->security_version < cl->security_version)
        return "security_version";
    if ((*rel)->expires_at <= now)
        return "expired";
    return NULL;
}

/* ---- answers ---- */

static void answer_none(gw_conn *c, const char *reason)
{
    char headers[64];
    snprintf(headers, sizeof(headers), "X-Vigil-Reason: %s\r\n", reason);
    metrics_request(MP_UPDATE, 204);
    gw_conn_respond_body(c, 204, NULL, headers, NULL, 0, 0, 0);
}

static void answer_manifest(gw_conn *c, const reg_release *rel, int64_t rollout_id)
{
    char headers[80];
    snprintf(headers, sizeof(headers),
             "X-Vigil-Rollout: %" PRId64 "\r\nCache-Control: no-store\r\n", rollout_id);
    metrics_request(MP_UPDATE, 200);
    gw_conn_respond_body(c, 200, JOSE_TYPE, headers, rel->manifest, rel->manifest_len, 0, 0);
}

static void unavailable(gw_conn *c, const char *reason)
{
    gw_routes_refuse(c, MP_UPDATE, 503, "unavailable", reason, (int)c->w->cfg->retry_after_s);
}

/* ---- the first offer: recorded before the answer ---- */

static void job_free(offer_job *j)
{
    reg_update_unref(j->view);
    free(j);
}

static void on_offered(PGresult *res, void *arg)
{
    offer_job *j = arg;
    gw_conn *c = j->pending.c;
    int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
    if (ok)
        reg_view_note_offered(j->device_id, j->rollout_id);
    else
        log_warn("cannot record an update offer", "device_id", j->device_id, "error",
                 res ? PQresultErrorMessage(res) : "connection lost", NULL);
    if (c) {
        c->update = NULL;
        if (ok)
            answer_manifest(c, j->rel, j->rollout_id);
        else
            unavailable(c, "the offer of this update cannot be recorded now; retry later");
    }
    job_free(j);
}

static void record_offer(gw_conn *c, reg_update *u, const reg_release *rel, int64_t rollout_id)
{
    char rollout[24];
    offer_job *j = calloc(1, sizeof(*j));
    if (!j) {
        reg_update_unref(u);
        gw_conn_close(c);
        return;
    }
    j->pending.c = c;
    j->view = u;
    j->rel = rel;
    j->rollout_id = rollout_id;
    memcpy(j->device_id, c->device_id, sizeof(j->device_id));
    snprintf(rollout, sizeof(rollout), "%" PRId64, rollout_id);
    const char *params[] = {rollout, c->device_id};
    /* before the query: pg_async may answer it before it returns (a
     * connection that breaks as the query is sent) */
    c->update = j;
    if (pg_async_query(c->w->registry, "SELECT vigil_update_offered($1, $2)", 2, params, on_offered,
                       j) < 0) {
        c->update = NULL;
        job_free(j);
        unavailable(c, "the database is unavailable; retry later");
    }
}

void gw_update_get(gw_conn *c, gw_http_request *req)
{
    claim cl;
    const char *bad = NULL;
    char why[200];
    if (gw_routes_refuse_over_rate(c, MP_UPDATE))
        return;
    if (read_claim(req, &cl, &bad, why, sizeof(why)) < 0) {
        metrics_request(MP_UPDATE, 400);
        gw_conn_respond_error_param(c, 400, "bad_update_query", why, bad, 0);
        return;
    }
    reg_update *u = reg_update_current();
    reg_device_facts f;
    if (!u || reg_view_device_facts_group(c->device_id, rollout_group, u, &f) < 0) {
        reg_update_unref(u);
        unavailable(c, "the update view is not loaded yet; retry later");
        return;
    }
    const reg_rollout *ro = NULL;
    const reg_release *rel = NULL;
    const char *reason = decide(u, c->device_id, &cl, (int64_t)time(NULL), &ro, &rel, &f);
    if (reason) {
        answer_none(c, reason);
    } else if (f.offered_rollout == ro->id) {
        answer_manifest(c, rel, ro->id);
    } else {
        record_offer(c, u, rel, ro->id); /* takes u */
        return;
    }
    reg_update_unref(u);
}

void gw_update_release(gw_conn *c)
{
    if (c->update) {
        ((gw_update_pending *)c->update)->c = NULL;
        c->update = NULL;
    }
}
