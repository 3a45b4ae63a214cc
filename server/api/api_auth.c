/*
 * api_auth.c - bearer tokens for the operator API, and a budget of failed
 * attempts per client address so that guessing tokens is slow and loud.
 *
 * Tokens are made by `vigilctl token create`; the database keeps only the
 * SHA-256 of each. A request's token is hashed and looked up on every
 * request, so a revocation or an expiry applies to the very next request.
 */
#include "server/api/api.h"

#include "db/db_token.h"

#include "server/core/hash.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/core/rate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FAIL_SLOTS 1024
#define FAIL_WINDOW_S 60
#define FAIL_MAX 10 /* failed attempts per address per window */
#define TOKEN_MAX_LEN 128

/* Failed attempts per address, in seconds: a small fixed table shared by
 * libmicrohttpd's threads (core/rate.h), so an attacker with many
 * addresses can push entries out but never grow memory. */
static rate_window_slot fail_slots[FAIL_SLOTS];
static rate_window fails = RATE_WINDOW_INIT(fail_slots, FAIL_SLOTS, FAIL_WINDOW_S);

void api_auth_init(void)
{
    rate_window_clear(&fails);
}

/* Seconds until the address may try again, 0 if it may now. */
static int blocked_for(const char *address)
{
    int64_t left;
    int64_t count = rate_window_peek(&fails, hash_fnv1a(address), (int64_t)time(NULL), &left);
    return count >= FAIL_MAX ? (int)left : 0;
}

static void record_failure(const char *address)
{
    metrics_add(&metrics.api_auth_failures, 1);
    rate_window_hit(&fails, hash_fnv1a(address), (int64_t)time(NULL));
}

static void reply_401(api_req *r, const char *msg)
{
    record_failure(r->address);
    log_info("operator API: refused a token", "address", r->address, "reason", msg, NULL);
    api_set_header(r, "WWW-Authenticate", "Bearer realm=\"vigil\"");
    api_error(r, 401, "unauthorized", NULL, "%s", msg);
}

static void reply_429(api_req *r, int wait)
{
    char secs[16];
    snprintf(secs, sizeof(secs), "%d", wait);
    api_set_header(r, "Retry-After", secs);
    api_error(r, 429, "too_many_requests", NULL,
              "too many failed token attempts from this address; retry after %d s", wait);
}

/* The token text from "Bearer <token>", or NULL. */
static const char *bearer_token(api_req *r)
{
    const char *h = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    return n > 0 && n <= TOKEN_MAX_LEN ? h : NULL;
}

static api_role role_from(const char *name)
{
    return strcmp(name, "admin") == 0      ? ROLE_ADMIN
           : strcmp(name, "operator") == 0 ? ROLE_OPERATOR
                                           : ROLE_VIEWER;
}

int api_authenticate(api_req *r)
{
    int wait = blocked_for(r->address);
    if (wait > 0) {
        reply_429(r, wait);
        return -1;
    }
    const char *token = bearer_token(r);
    if (!token) {
        reply_401(r, "send Authorization: Bearer <token>; `vigilctl token create` makes one");
        return -1;
    }
    char hash[65];
    if (db_token_hash(token, hash) < 0) {
        api_error(r, 500, "internal", NULL, "cannot hash the token");
        return -1;
    }
    PGconn *db = api_pool_conn(r);
    if (!db)
        return -1;
    db_error err;
    db_token_found t;
    int found = db_token_lookup(db, hash, &t, &err);
    char msg[160];
    if (found < 0) {
        api_pool_fail(r, &err);
        return -1;
    }
    if (found == DB_TOKEN_NOT_FOUND) {
        reply_401(r, "this token is not known");
        return -1;
    }
    if (t.revoked || t.expired) {
        snprintf(msg, sizeof(msg),
                 t.revoked ? "token '%s' was revoked" : "token '%s' has expired; make a new one",
                 t.name);
        reply_401(r, msg);
        return -1;
    }
    snprintf(r->token_name, sizeof(r->token_name), "%s", t.name);
    r->role = role_from(t.role);
    return 0;
}

int api_auth_audit(api_req *r, const char *action, const char *device_id, const char *serial,
                   const char *details_json, db_error *err)
{
    db_actor who = {"token", r->token_name};
    return db_audit(r->db, &who, action, device_id, serial, details_json, err);
}
