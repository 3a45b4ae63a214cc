/*
 * test_http_request.c - the device port's request parser
 * (server/gw_http_request.c): byte-by-byte feeds, pipelining, chunked bodies
 * and every refusal with its status.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/gateway/gw_http.h"

static const gw_http_limits limits = {1024, 16, 4096};

/* Feeds text in pieces of `step` bytes; returns bytes consumed. */
static size_t feed(gw_http_parser *p, const char *text, size_t step)
{
    size_t off = 0, len = strlen(text);
    while (off < len && !gw_http_parser_done(p) && !gw_http_parser_error(p)) {
        size_t n = len - off < step ? len - off : step;
        off += gw_http_parser_feed(p, text + off, n);
    }
    return off;
}

static int status_of(const char *text)
{
    gw_http_parser p;
    gw_http_parser_init(&p, &limits);
    feed(&p, text, 7);
    int s = gw_http_parser_error(&p);
    gw_http_parser_free(&p);
    return s;
}

Test(gw_http_request, byte_by_byte)
{
    gw_http_parser p;
    const char *req = "POST /v1/incidents HTTP/1.1\r\nHost: a\r\ncontent-TYPE: application/json\r\n"
                      "Content-Length: 2\r\n\r\n{}";
    gw_http_parser_init(&p, &limits);
    cr_assert_eq(feed(&p, req, 1), strlen(req));
    cr_assert(gw_http_parser_done(&p));
    cr_assert_str_eq(p.req.path, "/v1/incidents");
    cr_assert_str_eq(p.req.content_type, "application/json");
    cr_assert_eq(p.req.body_len, 2);
    cr_assert_str_eq(p.req.body, "{}");
    cr_assert(p.req.keep_alive);
    gw_http_parser_free(&p);
}

Test(gw_http_request, pipelined_requests_stay_unconsumed)
{
    gw_http_parser p;
    const char *two = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    gw_http_parser_init(&p, &limits);
    size_t used = gw_http_parser_feed(&p, two, strlen(two));
    cr_assert(gw_http_parser_done(&p));
    cr_assert_str_eq(p.req.path, "/a");
    cr_assert_lt(used, strlen(two));
    gw_http_parser_next(&p);
    cr_assert_eq(gw_http_parser_feed(&p, two + used, strlen(two) - used), strlen(two) - used);
    cr_assert(gw_http_parser_done(&p));
    cr_assert_str_eq(p.req.path, "/b");
    cr_assert_not(p.req.keep_alive);
    gw_http_parser_free(&p);
}

Test(gw_http_request, chunked_body)
{
    gw_http_parser p;
    gw_http_parser_init(&p, &limits);
    feed(&p, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 3);
    cr_assert(gw_http_parser_done(&p));
    cr_assert_str_eq(p.req.body, "abcde");
    cr_assert(p.req.chunked);
    gw_http_parser_free(&p);
}

Test(gw_http_request, refusals)
{
    char big[2048];
    memset(big, 'a', sizeof(big));
    big[sizeof(big) - 1] = '\0';
    char header[2100];
    snprintf(header, sizeof(header), "GET / HTTP/1.1\r\nX: %s\r\n\r\n", big + 1000);
    cr_assert_eq(status_of(header), 431);
    cr_assert_eq(status_of("GET / HTTP/1.1\r\nA:1\r\nB:1\r\nC:1\r\nD:1\r\nE:1\r\nF:1\r\nG:1\r\nH:1\r\n"
                           "I:1\r\nJ:1\r\nK:1\r\nL:1\r\nM:1\r\nN:1\r\nO:1\r\nP:1\r\nQ:1\r\n\r\n"), 431);
    cr_assert_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"), 413);
    cr_assert_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n"), 413);
    cr_assert_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
    cr_assert_eq(status_of("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    cr_assert_eq(status_of("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400);
    cr_assert_eq(status_of("BREW / HTTP/1.1\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/2.0\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/1.1\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n"), 400);
    char uri[700] = "GET /";
    memset(uri + 5, 'u', 600);
    strcpy(uri + 605, " HTTP/1.1\r\n\r\n");
    cr_assert_eq(status_of(uri), 414);
}

Test(gw_http_request, in_progress_tracks_partial_requests)
{
    gw_http_parser p;
    gw_http_parser_init(&p, &limits);
    cr_assert_not(gw_http_parser_in_progress(&p));
    gw_http_parser_feed(&p, "GET / HT", 8);
    cr_assert(gw_http_parser_in_progress(&p));
    gw_http_parser_free(&p);
}
