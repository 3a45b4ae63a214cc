/*
 * api_auth.c - bearer tokens for the operator API, and a budget of failed
 * attempts per client address so that guessing tokens is slow and loud.
 *
 * Tokens are made by `vigilctl token create`; the database keeps only the
 * SHA-256 of each. A request's token is hashed and looked up on every
 * request, so a revocation or an expiry applies to the very next request.
 *
 * The budget limits failures, not an address's successes: a token that
 * verifies is always served, however many failures its address has, so
 * one client behind a NAT or a proxy cannot lock out the others. The
 * first FAIL_MAX failures of an address in a window of FAIL_WINDOW_S
 * seconds (counted from its first failure) are answered 401 with the
 * reason; from the (FAIL_MAX + 1)th on, every failure is answered 429 with
 * Retry-After and nothing that tells an unknown token from a revoked or
 * an expired one. Over the budget a token is still looked up: that is the
 * price of never refusing a valid one, since only the lookup tells a valid
 * token from a guess. Guessing stays hopeless all the same: a token has
 * 256 random bits (cmd_token.c), so even a million guesses a second would
 * need about 10^63 years for an even chance; the budget's part is that a
 * wrong guess teaches nothing and is seen (vigil_api_auth_failures_total, the
 * log line when an address passes the budget), and the connection limits
 * per address (api_guard.h) bound its rate.
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
#define FAIL_MAX 10 /* failed attempts per address per window answered 401 */
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

/* Counts one failure of r's address; 1 when it is past the budget, with
 * in *wait the seconds until the address's window ends. */
static int over_budget(const api_req *r, int *wait)
{
    uint64_t key = hash_fnv1a(r->address);
    int64_t now = (int64_t)time(NULL), left;
    int64_t count = rate_window_hit(&fails, key, now);
    metrics_add(&metrics.api_auth_failures, 1);
    if (count <= FAIL_MAX)
        return 0;
    rate_window_peek(&fails, key, now, &left);
    *wait = left > 0 ? (int)left : 1;
    if (count == FAIL_MAX + 1)
        log_warn("operator API: an address passed its budget of failed token attempts; its "
                 "failures are answered 429 until the window ends, valid tokens still served",
                 "address", r->address, NULL);
    return 1;
}

/* A token that did not verify: 401 with msg while the address is within
 * its budget, 429 without the reason once it is past it. -1. */
static int refuse(api_req *r, const char *msg)
{
    int wait;
    if (over_budget(r, &wait)) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%d", wait);
        api_set_header(r, "Retry-After", secs);
        api_error(r, 429, "too_many_requests", NULL,
                  "no valid token was given, and this address has failed more than %d times "
                  "within %d s: why is not said until the window ends in %d s (a valid token is "
                  "served meanwhile)",
                  FAIL_MAX, FAIL_WINDOW_S, wait);
        return -1;
    }
    log_info("operator API: refused a token", "address", r->address, "reason", msg, NULL);
    api_set_header(r, "WWW-Authenticate", "Bearer realm=\"vigil\"");
    api_error(r, 401, "unauthorized", NULL, "%s", msg);
    return -1;
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
    const char *token = bearer_token(r);
    if (!token)
        return refuse(r, "send Authorization: Bearer <token>; `vigilctl token create` makes one");
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
    if (found == DB_TOKEN_NOT_FOUND)
        return refuse(r, "this token is not known");
    if (t.revoked || t.expired) {
        snprintf(msg, sizeof(msg),
                 t.revoked ? "token '%s' was revoked" : "token '%s' has expired; make a new one",
                 t.name);
        return refuse(r, msg);
    }
    snprintf(r->token_name, sizeof(r->token_name), "%s", t.name);
    r->role = role_from(t.role);
    return 0;
}
