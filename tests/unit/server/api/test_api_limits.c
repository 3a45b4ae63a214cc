/*
 * test_api_limits.c - the operator port's limits on a request's head
 * (server/api/api_limits.c): the request target's length and number of
 * query parameters, counted as libmicrohttpd would store them, and the
 * size of the head. A miscount either lets through a query that exhausts
 * a connection's memory (and the client hears nothing) or refuses a
 * legitimate one.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/api_limits.h"
#include "tests/unit/leak_check.h"

TestSuite(api_limits, .fini = leak_check);

/* "/v1/incidents?" and n pieces joined by '&'. */
static char *query(int n, const char *piece)
{
    size_t len = 16 + (size_t)n * (strlen(piece) + 1);
    char *s = malloc(len);
    cr_assert_not_null(s);
    strcpy(s, "/v1/incidents?");
    for (int i = 0; i < n; i++) {
        if (i)
            strcat(s, "&");
        strcat(s, piece);
    }
    return s;
}

Test(api_limits, an_ordinary_target_passes)
{
    api_limits_refusal why;
    cr_assert_eq(api_limits_target("/v1/incidents?since=1h&type=crash&limit=50", &why), 0);
    cr_assert_eq(api_limits_target("/healthz", &why), 0);
    cr_assert_eq(api_limits_target("/v1/incidents?", &why), 0, "an empty query has none");
}

Test(api_limits, parameters_are_counted_as_libmicrohttpd_stores_them)
{
    api_limits_refusal why;
    char *q = query(API_QUERY_PARAMS_MAX, "a=1");
    cr_assert_eq(api_limits_target(q, &why), 0, "exactly the limit");
    free(q);
    q = query(API_QUERY_PARAMS_MAX + 1, "a=1");
    cr_assert_eq(api_limits_target(q, &why), -1);
    cr_assert_eq(why.status, 414);
    cr_assert_str_eq(why.code, "uri_too_long");
    char want[64];
    snprintf(want, sizeof(want), "has %d parameters", API_QUERY_PARAMS_MAX + 1);
    cr_assert_not_null(strstr(why.reason, want), "%s", why.reason);
    free(q);
    q = query(API_QUERY_PARAMS_MAX + 1, ""); /* "?&&&...": each empty piece is one too */
    cr_assert_eq(api_limits_target(q, &why), -1);
    free(q);
}

Test(api_limits, the_target_length_is_bounded)
{
    api_limits_refusal why;
    char *t = malloc(API_TARGET_MAX + 2);
    cr_assert_not_null(t);
    memset(t, 'x', API_TARGET_MAX + 1);
    t[0] = '/';
    t[API_TARGET_MAX] = '\0';
    cr_assert_eq(api_limits_target(t, &why), 0, "exactly the limit");
    t[API_TARGET_MAX] = 'x';
    t[API_TARGET_MAX + 1] = '\0';
    cr_assert_eq(api_limits_target(t, &why), -1);
    cr_assert_eq(why.status, 414);
    cr_assert_not_null(strstr(why.reason, "bytes"), "%s", why.reason);
    free(t);
}

Test(api_limits, the_head_size_is_bounded)
{
    api_limits_refusal why;
    cr_assert_eq(api_limits_head(API_HEAD_MAX, &why), 0);
    cr_assert_eq(api_limits_head(API_HEAD_MAX + 1, &why), -1);
    cr_assert_eq(why.status, 431);
    cr_assert_str_eq(why.code, "headers_too_large");
}
