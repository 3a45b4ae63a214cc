#!/usr/bin/env bash
# Runs on the release build too.
# HEAD on the operator port: answered wherever GET is, as GET would be but
# with no body, whatever the status (200, 401, 404, 405, 414, a stream, the
# answers libmicrohttpd makes itself), so that a client keeping the
# connection alive reads the next answer where it starts. rawhttp.py sends
# the requests pipelined on one connection and splits what comes back as a
# client must (no body after HEAD): any byte left over is a body that
# should not have been sent.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
vigild_start one "$(free_port)"
HOST=$(vigild_api one)
IP=${HOST%:*} PORT=${HOST##*:}
TOKEN=$("$VIGILCTL" token create --role viewer --name head 2>/dev/null | tail -n 1)
RAW=(python3 "$(dirname "$0")/rawhttp.py" "$IP" "$PORT")
# seq_ok NAME STATUS REQUEST... : the HEAD answer has STATUS and no body, the
# GET /healthz after it on the same connection is answered whole, nothing is
# left over and the connection is still open.
seq_ok() {
    local name=$1 status=$2; shift 2
    check "$name" "${RAW[@]}" "$@" "GET /healthz"
    check_json "  ... $status, no body, then the GET's answer whole, nothing left over" \
        "len(d['responses']) == 2 and d['responses'][0]['status'] == $status and d['leftover'] == '' and d['responses'][1]['status'] == 200 and d['responses'][1]['body'] == '{\"status\":\"ok\"}\n' and not d['closed']"
}

check "curl -I /healthz" curl -sS -I --max-time 5 "http://$HOST/healthz"
check_contains "  ... 200" "HTTP/1.1 200" "$T/out"
check_contains "  ... with the Content-Length of the GET" "Content-Length: 16" "$T/out"
seq_ok "HEAD /healthz then GET on one connection" 200 "HEAD /healthz"
seq_ok "HEAD /metrics then GET" 200 "HEAD /metrics"
seq_ok "HEAD without a token (401) then GET" 401 "HEAD /v1/incidents"
seq_ok "HEAD of no such path (404) then GET" 404 "HEAD /nope"
seq_ok "HEAD of a POST-only path (405) then GET" 405 "HEAD /v1/devices/x/quarantine"
check_eq "  ... which allows POST" "POST" \
    "$(python3 -c "import json; print(json.load(open('$T/last.json'))['responses'][0]['headers']['allow'])")"
seq_ok "HEAD of a compiled-in document then GET" 200 --header "Authorization: Bearer $TOKEN" \
    "HEAD /v1/openapi.json"
check "a GET-only path allows GET and HEAD" "${RAW[@]}" "POST /healthz"
check_json "  ... Allow: GET, HEAD" "d['responses'][0]['headers']['allow'] == 'GET, HEAD'"

check "HEAD of a stream (the export)" "${RAW[@]}" --header "Authorization: Bearer $TOKEN" \
    "HEAD /v1/incidents/export" "GET /healthz"
check_json "  ... 200 with no body, no last chunk, and the connection closed after it" \
    "len(d['responses']) == 1 and d['responses'][0]['status'] == 200 and d['leftover'] == '' and d['closed'] and 'transfer-encoding' not in d['responses'][0]['headers']"
check "GET of the stream still streams, chunked" "${RAW[@]}" --header "Authorization: Bearer $TOKEN" \
    "GET /v1/incidents/export" "GET /healthz"
check_json "  ... and the next answer follows it" \
    "len(d['responses']) == 2 and d['responses'][0]['headers']['transfer-encoding'] == 'chunked' and d['responses'][1]['status'] == 200 and d['leftover'] == ''"

python3 -c "print('HEAD /v1/incidents?' + '&'.join('a%d=1' % i for i in range(5000)))" >"$T/params"
check "HEAD with 5000 query parameters" "${RAW[@]}" "@$T/params" "GET /healthz"
check_json "  ... 414, no body, closed" \
    "len(d['responses']) == 1 and d['responses'][0]['status'] == 414 and d['leftover'] == '' and d['closed']"
{ printf 'X-Big: '; head -c 200000 /dev/zero | tr '\0' h; echo; } >"$T/header"
check "HEAD with a 200 KB header (libmicrohttpd's own 431)" "${RAW[@]}" --header "@$T/header" \
    "HEAD /healthz"
check_json "  ... 431, no body, closed" \
    "len(d['responses']) == 1 and d['responses'][0]['status'] == 431 and d['leftover'] == '' and d['closed']"

check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
