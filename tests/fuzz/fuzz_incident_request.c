/*
 * fuzz_incident_request.c - libFuzzer target for the device port's path
 * from request bytes to validated reports: the llhttp request parser with
 * vigild's limits (server/gateway/gw_http.c), fed in two pieces split where
 * the input says, then, for each complete request, the incident parser and
 * validator (protocol/incident.c). Pipelined requests are followed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/incident.h"
#include "server/gateway/gw_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void handle(gw_http_parser *p)
{
    incident_batch b;
    char reason[200];
    const int64_t now = 1795580000000000LL;   /* fixed: runs must repeat */
    if (incident_batch_parse(p->req.body ? p->req.body : "", p->req.body_len, 1000, now, &b, reason,
                             sizeof(reason)) == 0)
        incident_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_http_limits limits = {8192, 64, 1024 * 1024};
    gw_http_parser p;
    if (size < 1)
        return 0;
    size_t split = data[0] % (size);   /* first byte picks where the first read ends */
    const char *in = (const char *)data + 1;
    size_t len = size - 1, off = 0;
    gw_http_parser_init(&p, &limits);
    for (int rounds = 0; rounds < 64 && off < len; rounds++) {
        size_t chunk = off < split && split <= len ? split - off : len - off;
        if (chunk == 0)
            chunk = len - off;
        size_t used = gw_http_parser_feed(&p, in + off, chunk);
        off += used;
        if (gw_http_parser_error(&p))
            break;
        if (gw_http_parser_done(&p)) {
            handle(&p);
            gw_http_parser_next(&p);
        } else if (used < chunk) {
            break;   /* should not happen: the parser takes all until done */
        }
    }
    gw_http_parser_free(&p);
    return 0;
}
