/*
 * test_gw_http.c - the device port's request parser
 * (server/gateway/gw_http.c): byte-by-byte feeds, pipelining, chunked
 * bodies and every refusal with its status, the headers kept for the
 * update paths, path and query; and the status line words and
 * JSON error codes the port answers with, which a device reads to decide
 * whether to fix its request or retry (docs/DEVICE-PORT.md).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "server/gateway/gw_http.h"
#include "tests/unit/leak_check.h"

TestSuite(gw_http_request, .fini = leak_check);
TestSuite(gw_http_status, .fini = leak_check);

static const gw_http_limits limits = {1024, 16, 4096};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

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
    const char *two =
        "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
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
    feed(&p,
         "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
         "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
         3);
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
    snprintf(header, sizeof(header), "GET / HTTP/1.1\r\nHost: a\r\nX: %s\r\n\r\n", big + 1000);
    cr_assert_eq(status_of(header), 431);
    cr_assert_eq(
        status_of(
            "GET / HTTP/1.1\r\nHost: a\r\nA:1\r\nB:1\r\nC:1\r\nD:1\r\nE:1\r\nF:1\r\nG:1\r\nH:1\r\n"
            "I:1\r\nJ:1\r\nK:1\r\nL:1\r\nM:1\r\nN:1\r\nO:1\r\nP:1\r\nQ:1\r\n\r\n"),
        431);
    cr_assert_eq(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"), 413);
    cr_assert_eq(
        status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n"), 413);
    cr_assert_eq(
        status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        400);
    cr_assert_eq(status_of("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: "
                           "chunked\r\n\r\n"),
                 400);
    cr_assert_eq(
        status_of("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400);
    cr_assert_eq(status_of("BREW / HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    cr_assert_eq(status_of("GET / HTTP/2.0\r\n\r\n"), 400);
    cr_assert_eq(
        status_of("GET / HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n"), 400);
    char uri[700] = "GET /";
    memset(uri + 5, 'u', 600);
    strcpy(uri + 605, " HTTP/1.1\r\nHost: a\r\n\r\n");
    cr_assert_eq(status_of(uri), 414);
}

/* RFC 9112 section 3.2: an HTTP/1.1 request with no Host, with more than
 * one (even the same twice), or with a Host that is not host[:port] is a
 * 400; HTTP/1.0 may leave it out. An obs-fold is a 400 too. Fed 1 and 7
 * bytes at a time so that a value split across feeds is checked whole and
 * a split is never taken for a fold. */
Test(gw_http_request, host_and_line_rules)
{
    static const struct {
        const char *request;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nhOsT: a\r\nHOST: b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: vigil.example.com:8443\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: 127.0.0.1 \r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHostname: x\r\nHost: a\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        /* obs-fold, with a space or a tab; a space inside a value is fine */
        {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\n \r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: a b  c\r\n\r\n", 0},
        /* folds whose first line is empty: the continuation is the value */
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 5\r\n\r\nhello", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n chunked\r\n\r\n0\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost:\r\n\ta\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nX-A:   \t b\r\n\r\n", 0},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        for (size_t step = 1; step <= 7; step += 6) {
            gw_http_parser p;
            gw_http_parser_init(&p, &limits);
            feed(&p, cases[i].request, step);
            cr_assert_eq(gw_http_parser_error(&p), cases[i].status, "case %zu (%s): %d %s", i,
                         cases[i].request, gw_http_parser_error(&p), gw_http_parser_reason(&p));
            if (!cases[i].status)
                cr_assert(gw_http_parser_done(&p), "case %zu", i);
            gw_http_parser_free(&p);
        }
    }
}

Test(gw_http_request, kept_headers_path_and_query)
{
    gw_http_parser p;
    const char *value = NULL;
    const char *req = "GET /v1/update?version=1.0&security_version=2 HTTP/1.1\r\nHost: a\r\n"
                      "x-vigil-VERSION: 2.0.0  \r\nRange: bytes=0-9\r\nX-Other: 1\r\n"
                      "X-Vigil-Security-Version-Extra-Long-Name-Over-Thirty-One: 7\r\n\r\n";
    gw_http_parser_init(&p, &limits);
    cr_assert_eq(feed(&p, req, 3), strlen(req));
    cr_assert(gw_http_parser_done(&p));
    cr_assert_eq(gw_http_header_get(&p.req, GW_HDR_VIGIL_VERSION, &value), 1);
    cr_assert_str_eq(value, "2.0.0", "trailing spaces are cut");
    cr_assert_eq(gw_http_header_get(&p.req, GW_HDR_RANGE, &value), 1);
    cr_assert_str_eq(value, "bytes=0-9");
    cr_assert_eq(gw_http_header_get(&p.req, GW_HDR_VIGIL_SECURITY_VERSION, &value), 0,
                 "a longer name that starts like a kept one is not it");
    cr_assert_eq(gw_http_header_get(&p.req, GW_HDR_IF_RANGE, &value), 0);
    cr_assert_eq(gw_http_path_len(&p.req), strlen("/v1/update"));
    cr_assert_str_eq(gw_http_query(&p.req), "version=1.0&security_version=2");
    gw_http_parser_free(&p);

    const char *twice = "GET /v1/update HTTP/1.1\r\nHost: a\r\nX-Vigil-Version: 1\r\n"
                        "X-Vigil-Version: 2\r\n\r\n";
    gw_http_parser_init(&p, &limits);
    feed(&p, twice, 5);
    cr_assert(gw_http_parser_done(&p));
    cr_assert_eq(gw_http_header_get(&p.req, GW_HDR_VIGIL_VERSION, &value), -1, "repeated");
    cr_assert_str_eq(gw_http_query(&p.req), "");
    gw_http_parser_free(&p);

    char lng[512];
    snprintf(lng, sizeof(lng), "GET / HTTP/1.1\r\nHost: a\r\nIf-Range: \"%0200d\"\r\n\r\n", 0);
    gw_http_parser_init(&p, &limits);
    feed(&p, lng, 64);
    cr_assert(gw_http_parser_done(&p));
    cr_assert_eq(gw_http_header_get(&p.req, GW_HDR_IF_RANGE, &value), -1, "too long");
    gw_http_parser_free(&p);
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

/* ---- status words and error codes ---- */

typedef struct status_word {
    int status;
    const char *word;
} status_word;

/* word() gives each of words its word, and each of others dflt. */
static void check_words(const char *(*word)(int), const char *what, const status_word *words,
                        size_t n, const int *others, size_t n_others, const char *dflt)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(word(words[i].status), words[i].word, "%s of %d", what, words[i].status);
    for (size_t i = 0; i < n_others; i++)
        cr_assert_str_eq(word(others[i]), dflt, "%s of %d", what, others[i]);
}

Test(gw_http_status, every_status_the_port_answers_has_its_reason_phrase_and_others_error)
{
    static const status_word phrases[] = {
        {200, "OK"},
        {204, "No Content"},
        {206, "Partial Content"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {413, "Payload Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {501, "Not Implemented"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
    };
    static const int others[] = {0,   -1,  100, 201, 301, 302, 402, 406,
                                 410, 418, 422, 500, 502, 504, 599, 1000};
    check_words(gw_http_status_text, "the reason phrase", phrases, COUNT(phrases), others,
                COUNT(others), "Error");
}

Test(gw_http_status, each_refusal_status_has_its_error_code_and_others_are_bad_requests)
{
    static const status_word codes[] = {
        {400, "bad_request"},
        {408, "timeout"},
        {413, "payload_too_large"},
        {414, "uri_too_long"},
        {415, "unsupported_media_type"},
        {431, "headers_too_large"},
        {501, "not_implemented"},
        {505, "http_version_not_supported"},
    };
    static const int others[] = {0, 200, 401, 404, 405, 429, 500};
    check_words(gw_http_error_code, "the error code", codes, COUNT(codes), others, COUNT(others),
                "bad_request");
}

Test(gw_http_status, every_status_the_parser_refuses_with_is_answered_properly)
{
    /* One request for each way the parser refuses; the status it picks
     * must have a real reason phrase, a reason text for the JSON body, and
     * its own error code unless it is a plain 400. */
    static char long_target[700], long_header[1200], long_type[300], blank_lines[2200];
    snprintf(long_target, sizeof(long_target), "GET /%0600d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    snprintf(long_header, sizeof(long_header), "GET / HTTP/1.1\r\nHost: a\r\nX: %01100d\r\n\r\n",
             0);
    snprintf(long_type, sizeof(long_type),
             "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: %0200d\r\n\r\n", 0);
    for (size_t i = 0; i + 2 < 2100; i += 2) /* skipped by llhttp without a callback */
        memcpy(blank_lines + i, "\r\n", 2);
    static const struct {
        const char *request;
        int status;
    } refusals[] = {
        {"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\r\nContent-Type: a\r\nContent-Type: b\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 413},
        {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n", 413},
        {long_type, 400},
        {long_target, 414},
        {long_header, 431},
        {"GET / HTTP/1.1\r\nHost: a\r\nA:1\r\nB:1\r\nC:1\r\nD:1\r\nE:1\r\nF:1\r\nG:1\r\nH:1\r\n"
         "I:1\r\nJ:1\r\nK:1\r\nL:1\r\nM:1\r\nN:1\r\nO:1\r\nP:1\r\nQ:1\r\n\r\n",
         431},
        {blank_lines, 431},
    };
    int seen[600] = {0};
    for (size_t i = 0; i < COUNT(refusals); i++) {
        gw_http_parser p;
        gw_http_parser_init(&p, &limits);
        feed(&p, refusals[i].request, 7);
        int status = gw_http_parser_error(&p);
        const char *reason = gw_http_parser_reason(&p);
        cr_assert_eq(status, refusals[i].status, "request %zu: %d (%s)", i, status, reason);
        cr_assert(*reason, "request %zu: no reason for the JSON body", i);
        gw_http_parser_free(&p);
        seen[status] = 1;
        cr_assert_str_neq(gw_http_status_text(status), "Error", "status %d", status);
        if (status != 400)
            cr_assert_str_neq(gw_http_error_code(status), "bad_request", "status %d", status);
    }
    cr_assert(seen[400] && seen[413] && seen[414] && seen[431]);
}

/* The parser refuses with 503 when the body buffer cannot grow (out of
 * memory; no test can make realloc fail) and gw_conn.c answers with
 * gw_http_error_code(503): it must say "unavailable" (docs/DEVICE-PORT.md),
 * so the device retries, not "bad_request", so it drops the report. */
Test(gw_http_status, the_parsers_out_of_memory_503_is_unavailable)
{
    cr_assert_str_eq(gw_http_error_code(503), "unavailable");
}
