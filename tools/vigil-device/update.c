/*
 * update.c - `vigil-device update` (see update.h). The order of the steps
 * is the safety argument: nothing is downloaded before the manifest
 * verified against a pinned key and passed its checks; nothing is
 * installed before the bytes matched the manifest's size and digest; the
 * stored security version (the floor) moves only after the install, by an
 * atomic replace of the state file, and never down.
 */
#include "tools/vigil-device/update.h"

#include "tools/vigil-device/download.h"
#include "tools/vigil-device/fwstate.h"
#include "tools/vigil-device/install.h"
#include "tools/vigil-device/outbox.h"
#include "tools/vigil-device/pair.h"
#include "tools/vigil-device/pinned.h"
#include "tools/vigil-device/util.h"

#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UPDATE_PATH "/v1/update"
#define KEYS_PATH "/v1/update/keys"

typedef struct ctx {
    devc *c;
    const update_opts *o;
    update_result *r;
    fwstate st;
    json_t *jwks;
    char outbox[PATH_MAX], part[PATH_MAX], install[PATH_MAX];
    manifest m;
} ctx;

/* Sets the outcome (r->code is the exit code); returns -1: no step follows. */
static int done(update_result *r, int code, const char *result, const char *reason, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));
static int done(update_result *r, int code, const char *result, const char *reason, const char *fmt,
                ...)
{
    va_list ap;
    r->code = code;
    r->result = result;
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    return -1;
}

/* Queues a status report and sends what is queued; 1 if it all went out. */
static int report(ctx *x, const char *version, const char *state, const char *reason)
{
    outbox_totals t = {0};
    int queued = outbox_put(x->outbox, version, state, reason) == 0;
    if (!queued)
        fprintf(stderr, "vigil-device: cannot queue the status report in %s (full?)\n", x->outbox);
    outbox_flush(x->c, x->outbox, &t);
    return queued && t.left == 0;
}

/* A refusal, reported as failed for version (when one is known); -1. */
static int refuse(ctx *x, int code, const char *reason, const char *version, const char *why)
{
    char text[OUTBOX_REASON_MAX + 1];
    snprintf(text, sizeof(text), "%s: %s", reason, why);
    if (version && version[0]) {
        snprintf(x->r->version, sizeof(x->r->version), "%s", version);
        x->r->reported = report(x, version, "failed", text);
    }
    return done(x->r, code, "refused", reason, "%s", why);
}

static long long env_ll(const char *name, long long fallback)
{
    const char *v = getenv(name);
    if (!v || !v[0])
        return fallback;
    fprintf(stderr, "vigil-device: TEST HOOK %s=%s in effect\n", name, v);
    return atoll(v);
}

static int exit_of(manifest_status s)
{
    switch (s) {
    case MANIFEST_OK:
        return UPDATE_EXIT_OK;
    case MANIFEST_MALFORMED:
        return UPDATE_EXIT_MALFORMED;
    case MANIFEST_UNKNOWN_KEY:
        return UPDATE_EXIT_UNKNOWN_KEY;
    case MANIFEST_BAD_SIGNATURE:
        return UPDATE_EXIT_BAD_SIGNATURE;
    case MANIFEST_EXPIRED:
        return UPDATE_EXIT_EXPIRED;
    case MANIFEST_WRONG_CLASS:
        return UPDATE_EXIT_WRONG_CLASS;
    case MANIFEST_ROLLBACK:
        return UPDATE_EXIT_ROLLBACK;
    }
    return UPDATE_EXIT_MALFORMED;
}

/* The state, the device class and the pinned keys; -1 with r set. */
static int prepare(ctx *x)
{
    const update_opts *o = x->o;
    char why[600];
    if (fwstate_load(o->state_dir, &x->st, why, sizeof(why)) < 0)
        return done(x->r, UPDATE_EXIT_LOCAL, "error", "local", "%s", why);
    if (o->device_class && !device_id_valid(o->device_class))
        return done(x->r, UPDATE_EXIT_USAGE, "error", "usage", "--class: use " DEVICE_ID_RULE);
    if (o->device_class && x->st.device_class[0] && strcmp(o->device_class, x->st.device_class))
        return done(x->r, UPDATE_EXIT_USAGE, "error", "usage",
                    "--class %s: this device's class is %s (stored in %s at first use; a "
                    "class never changes)",
                    o->device_class, x->st.device_class, o->state_dir);
    if (!o->device_class && !x->st.device_class[0])
        return done(x->r, UPDATE_EXIT_USAGE, "error", "usage",
                    "--class is needed the first time (it is then stored in %s)", o->state_dir);
    if (!x->st.device_class[0]) {
        snprintf(x->st.device_class, sizeof(x->st.device_class), "%s", o->device_class);
        if (fwstate_save(o->state_dir, &x->st) < 0)
            return done(x->r, UPDATE_EXIT_LOCAL, "error", "local", "cannot write the state in %s",
                        o->state_dir);
    }
    if (!(x->jwks = pinned_load(o->keys, why, sizeof(why))))
        return done(x->r, UPDATE_EXIT_LOCAL, "error", "local", "%s", why);
    snprintf(x->outbox, sizeof(x->outbox), "%s/status", o->state_dir);
    snprintf(x->part, sizeof(x->part), "%s/artifact.part", o->state_dir);
    if (o->install_dir)
        snprintf(x->install, sizeof(x->install), "%s", o->install_dir);
    else
        snprintf(x->install, sizeof(x->install), "%s/install", o->state_dir);
    return 0;
}

/* Sorts an answer that is neither 200 nor 204 (nor a body we take). */
static int answer_error(ctx *x, const devc_response *resp, const char *what)
{
    char code[64], reason[400];
    devc_error_of(resp, code, sizeof(code), reason, sizeof(reason));
    x->r->retry_after = resp->retry_after;
    if (resp->status == 429 || resp->status >= 500)
        return done(x->r, UPDATE_EXIT_RETRY, "retry", code, "%s: HTTP %d: %s", what, resp->status,
                    reason);
    return done(x->r, UPDATE_EXIT_REFUSED, "error", code, "%s: HTTP %d: %s", what, resp->status,
                reason);
}

static int network(ctx *x, devc_result d, const char *err)
{
    return d == DEVC_IDENTITY ? done(x->r, UPDATE_EXIT_IDENTITY, "error", "identity", "%s", err)
                              : done(x->r, UPDATE_EXIT_RETRY, "retry", "network", "%s", err);
}

/* GET /v1/update: 0 with the manifest in resp, 1 nothing to do, -1 r set. */
static int fetch_manifest(ctx *x, devc_response *resp)
{
    char extra[256] = "", err[512] = "", v[128];
    long long sv = env_ll("VIGIL_DEVICE_TEST_CLAIM_SECURITY_VERSION", x->st.security_version);
    if (x->st.version[0])
        snprintf(extra, sizeof(extra), "X-Vigil-Version: %s\r\n", x->st.version);
    snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra),
             "X-Vigil-Security-Version: %lld\r\n", sv);
    devc_result d =
        devc_request_ex(x->c, "GET", UPDATE_PATH, extra, NULL, NULL, 0, resp, err, sizeof(err));
    if (d != DEVC_OK)
        return network(x, d, err);
    if (resp->status == 204) {
        done(x->r, UPDATE_EXIT_OK, "none",
             devc_header(resp, "X-Vigil-Reason", v, sizeof(v)) ? v : "none",
             "the server has nothing for this device");
        devc_response_free(resp);
        return 1;
    }
    if (resp->status != 200) {
        answer_error(x, resp, "GET " UPDATE_PATH);
        devc_response_free(resp);
        return -1;
    }
    if (strncasecmp(resp->content_type, "application/jose", 16) != 0 ||
        resp->body_len > MANIFEST_JWS_MAX) {
        done(x->r, UPDATE_EXIT_BAD_ANSWER, "error", "bad_answer",
             "GET " UPDATE_PATH ": a 200 that is not an application/jose manifest");
        devc_response_free(resp);
        return -1;
    }
    x->r->rollout = devc_header(resp, "X-Vigil-Rollout", v, sizeof(v)) ? atoll(v) : 0;
    return 0;
}

/* The version an unverified manifest names (for the failure report
 * only: the server then knows which release failed here); "" if none. */
static void peek_version(const char *jws, size_t len, char out[MANIFEST_VERSION_MAX + 1])
{
    json_t *claims = manifest_peek_claims(jws, len);
    const char *v = json_string_value(json_object_get(claims, "version"));
    out[0] = '\0';
    if (manifest_version_valid(v))
        snprintf(out, MANIFEST_VERSION_MAX + 1, "%s", v);
    json_decref(claims);
}

/* GET /v1/update/keys and the keys its endorsements vouch for with a
 * pinned key; the pinned file is rewritten when any was learned. */
static int learn_keys(ctx *x)
{
    char err[512] = "";
    devc_response resp;
    devc_result d = devc_request(x->c, "GET", KEYS_PATH, NULL, NULL, 0, &resp, err, sizeof(err));
    if (d != DEVC_OK)
        return network(x, d, err);
    if (resp.status != 200) {
        answer_error(x, &resp, "GET " KEYS_PATH);
        devc_response_free(&resp);
        return -1;
    }
    json_t *set = json_loadb(resp.body, resp.body_len, 0, NULL);
    devc_response_free(&resp);
    int n = pinned_learn(x->jwks, json_object_get(set, "endorsements"));
    json_decref(set);
    if (n > 0 && pinned_save(x->o->keys, x->jwks) < 0)
        return done(x->r, UPDATE_EXIT_LOCAL, "error", "local", "cannot rewrite %s", x->o->keys);
    if (n > 0)
        fprintf(stderr, "vigil-device: learned %d release key(s) endorsed by pinned keys (%s)\n", n,
                x->o->keys);
    x->r->learned_keys += n;
    return 0;
}

/* The manifest's signature and claims, then this device's checks. */
static int verify(ctx *x, const char *jws, size_t len)
{
    char why[400], version[MANIFEST_VERSION_MAX + 1];
    manifest_status s = manifest_verify(jws, len, x->jwks, &x->m, why, sizeof(why));
    if (s == MANIFEST_UNKNOWN_KEY) {
        if (learn_keys(x) < 0)
            return -1;
        if (x->r->learned_keys > 0)
            s = manifest_verify(jws, len, x->jwks, &x->m, why, sizeof(why));
    }
    if (s != MANIFEST_OK) {
        peek_version(jws, len, version);
        return refuse(x, exit_of(s), manifest_status_name(s), version, why);
    }
    snprintf(x->r->version, sizeof(x->r->version), "%s", x->m.version);
    x->r->security_version = x->m.security_version;
    long long now = devu_wall_ms() / 1000 + env_ll("VIGIL_DEVICE_TEST_CLOCK_SKEW", 0);
    s = manifest_check(&x->m, x->st.device_class, x->st.security_version, now, why, sizeof(why));
    if (s != MANIFEST_OK)
        return refuse(x, exit_of(s), manifest_status_name(s), x->m.version, why);
    return 0;
}

/* The artifact into the part file, checked; -1 with r set. */
static int download(ctx *x)
{
    download_result d;
    download_status s = download_artifact(x->c, &x->m, x->part, &d);
    x->r->resumed_from = d.resumed_from;
    x->r->fetched = d.fetched;
    x->r->restarted = d.restarted;
    x->r->retry_after = d.retry_after;
    switch (s) {
    case DOWNLOAD_OK:
        return 0;
    case DOWNLOAD_SIZE:
        return refuse(x, UPDATE_EXIT_SIZE, d.code, x->m.version, d.why);
    case DOWNLOAD_DIGEST:
        return refuse(x, UPDATE_EXIT_DIGEST, d.code, x->m.version, d.why);
    case DOWNLOAD_RETRY:
        return done(x->r, UPDATE_EXIT_RETRY, "retry", d.code, "%s", d.why);
    case DOWNLOAD_REFUSED:
        return done(x->r, UPDATE_EXIT_REFUSED, "error", d.code, "%s", d.why);
    case DOWNLOAD_IDENTITY:
        return done(x->r, UPDATE_EXIT_IDENTITY, "error", d.code, "%s", d.why);
    case DOWNLOAD_BAD_ANSWER:
        return done(x->r, UPDATE_EXIT_BAD_ANSWER, "error", d.code, "%s", d.why);
    case DOWNLOAD_LOCAL:
        break;
    }
    return done(x->r, UPDATE_EXIT_LOCAL, "error", d.code, "%s", d.why);
}

/* Install, then the new floor, then the report. */
static int install(ctx *x)
{
    char why[400];
    devu_crash_point("after-download");
    if (install_artifact(x->part, x->install, why, sizeof(why)) < 0)
        return refuse(x, UPDATE_EXIT_INSTALL, "install_failed", x->m.version, why);
    download_discard(x->part); /* its record */
    devu_crash_point("after-install");
    fwstate next = x->st;
    snprintf(next.version, sizeof(next.version), "%s", x->m.version);
    if (x->m.security_version > next.security_version)
        next.security_version = x->m.security_version;
    if (fwstate_save(x->o->state_dir, &next) < 0)
        return done(x->r, UPDATE_EXIT_LOCAL, "error", "local",
                    "installed in %s but cannot store the state in %s", x->install,
                    x->o->state_dir);
    x->st = next;
    x->r->reported = report(x, x->m.version, "installed", NULL);
    return done(x->r, UPDATE_EXIT_OK, "installed", "installed", "%s/" INSTALL_FILE, x->install);
}

static void apply(ctx *x)
{
    if (strcmp(x->m.version, x->st.version) == 0) {
        /* installed here, but the server did not hear of it */
        x->r->reported = report(x, x->m.version, "installed", NULL);
        done(x->r, UPDATE_EXIT_OK, "none", "already_installed", "%s is installed", x->m.version);
        return;
    }
    report(x, x->m.version, "downloading", NULL);
    if (download(x) == 0)
        install(x);
}

int update_once(devc *c, const update_opts *o, update_result *r)
{
    ctx x = {.c = c, .o = o, .r = r};
    devc_response resp;
    outbox_totals t = {0};
    memset(r, 0, sizeof(*r));
    r->retry_after = -1;
    if (prepare(&x) == 0) {
        outbox_flush(c, x.outbox, &t); /* what an earlier run could not send goes first */
        if (t.identity)
            done(r, UPDATE_EXIT_IDENTITY, "error", "identity", "the server refused this device");
        else if (fetch_manifest(&x, &resp) == 0) {
            int ok = verify(&x, resp.body, resp.body_len);
            devc_response_free(&resp);
            if (ok == 0)
                apply(&x);
        }
    }
    json_decref(x.jwks);
    return r->code;
}

static void summarize(const update_result *r, int json)
{
    if (json) {
        json_t *j =
            json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:b,s:i,s:b,s:i}", "result", r->result,
                      "reason", r->reason, "detail", r->detail, "exit", r->code, "rollout",
                      (json_int_t)r->rollout, "resumed_from", (json_int_t)r->resumed_from,
                      "fetched", (json_int_t)r->fetched, "security_version",
                      (json_int_t)r->security_version, "restarted", r->restarted, "learned_keys",
                      r->learned_keys, "reported", r->reported, "retry_after", r->retry_after);
        if (j && r->version[0])
            json_object_set_new(j, "version", json_string(r->version));
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(j);
    }
    if (strcmp(r->result, "installed") == 0)
        fprintf(stderr,
                "vigil-device update: installed %s (security version %lld) as %s; %lld bytes "
                "fetched, resumed from byte %lld%s\n",
                r->version, r->security_version, r->detail, r->fetched, r->resumed_from,
                r->reported ? "" : "; the installed report is queued for the next run");
    else if (strcmp(r->result, "none") == 0)
        fprintf(stderr, "vigil-device update: nothing to install: %s\n", r->reason);
    else
        fprintf(stderr, "vigil-device update: %s: %s: %s (exit %d)\n", r->result, r->reason,
                r->detail, r->code);
}

int update_command(const update_opts *o, int json)
{
    devc c;
    update_result r = {.result = "error"};
    if (!o->server || !o->cert || !o->key || !o->ca || !o->keys) {
        fprintf(stderr,
                "vigil-device update: --server, --cert, --key, --ca and --keys are required\n");
        return UPDATE_EXIT_USAGE;
    }
    if (pair_connect(&c, o->server, o->cert, o->key, o->ca, "vigil-device update") < 0)
        done(&r, UPDATE_EXIT_IDENTITY, "error", "identity", "the device's key pair is unusable");
    else
        update_once(&c, o, &r);
    devc_free(&c);
    summarize(&r, json);
    return r.code;
}
