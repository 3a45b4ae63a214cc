#!/usr/bin/env bash
# Runs on the release build too.
# Oversize request heads on the operator port get an answer at once, in the
# error shape, and a close: thousands of query parameters and a very long
# target (414 uri_too_long), a huge header (431 headers_too_large). Before,
# libmicrohttpd ran out of connection memory storing the parameters and
# sent nothing for 30 s. Heads too big for the connection's memory at all
# are refused by libmicrohttpd itself, still with the status and a close.
# Each request is followed on its connection by a GET that must go
# unanswered (rawhttp.py).
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
vigild_start one "$(free_port)"
HOST=$(vigild_api one)
IP=${HOST%:*} PORT=${HOST##*:}
TOKEN=$("$VIGILCTL" token create --role viewer --name limits 2>/dev/null | tail -n 1)
RAW=(python3 "$(dirname "$0")/rawhttp.py" "$IP" "$PORT" --header "Authorization: Bearer $TOKEN")
# refused NAME STATUS CODE [rawhttp args] REQUEST: REQUEST alone is answered
# STATUS (with error CODE in the body, unless CODE is -) within 2 s, and the
# connection is closed. What came back stays in $T/resp.json.
refused() {
    local name=$1 status=$2 code=$3; shift 3
    check "$name" "${RAW[@]}" "$@" "GET /healthz"
    cp "$T/out" "$T/resp.json"
    check_json_in "$T/resp.json" "  ... $status at once, then the close" \
        "len(d['responses']) == 1 and d['responses'][0]['status'] == $status and d['closed'] and d['seconds'] < 2"
    [ "$code" = - ] && return
    check_json_in "$T/resp.json" "  ... in the error shape: $code, with a reason" \
        "(lambda e: set(e) == {'error', 'reason'} and e['error'] == '$code' and 'limit' in e['reason'])(json.loads(d['responses'][0]['body']))"
}
# target N FILE: "GET /v1/incidents?" and N parameters a0=1&a1=1...
target() { python3 -c "print('GET /v1/incidents?' + '&'.join('a%d=1' % i for i in range($1)))" >"$2"; }

target 5000 "$T/p5000"
check_eq "curl with 5000 query parameters: 414" 414 \
    "$(curl -sS --max-time 5 -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        "http://$HOST/$(cut -d' ' -f2 "$T/p5000" | cut -c2-)")"
check_contains "  ... uri_too_long" '"error":"uri_too_long"' "$T/body"
refused "5000 query parameters" 414 uri_too_long "@$T/p5000"
python3 -c "print('GET /v1/incidents?' + '&'.join(['a'] * 1000))" >"$T/p1000"
refused "1000 short parameters in under 8 KiB" 414 uri_too_long "@$T/p1000"
check_contains "  ... saying how many" "the query has 1000 parameters" "$T/resp.json"
target 64 "$T/p64"
check "64 parameters are within the limit" "${RAW[@]}" "@$T/p64"
check_json "  ... and reach the endpoint (which refuses the names it does not take)" \
    "d['responses'][0]['status'] == 400 and json.loads(d['responses'][0]['body'])['error'] == 'bad_request'"
echo "GET /v1/incidents?type=$(head -c 20000 /dev/zero | tr '\0' x)" >"$T/long"
refused "a 20 KB target" 414 uri_too_long "@$T/long"
check_contains "  ... saying how long" "the request target is 20019 bytes" "$T/resp.json"
echo "GET /v1/incidents?type=$(head -c 300000 /dev/zero | tr '\0' x)" >"$T/huge"
refused "a 300 KB target (libmicrohttpd's own 414)" 414 - "@$T/huge"

{ printf 'X-Big: '; head -c 40000 /dev/zero | tr '\0' h; echo; } >"$T/h40k"
check_eq "curl with a 40 KB header: 431" 431 \
    "$(curl -sS --max-time 5 -o "$T/body" -w '%{http_code}' -H @"$T/h40k" "http://$HOST/healthz")"
check_contains "  ... headers_too_large" '"error":"headers_too_large"' "$T/body"
refused "a 40 KB header" 431 headers_too_large --header "@$T/h40k" "GET /healthz"
{ printf 'X-Big: '; head -c 200000 /dev/zero | tr '\0' h; echo; } >"$T/h200k"
refused "a 200 KB header (libmicrohttpd's own 431)" 431 - --header "@$T/h200k" "GET /healthz"
args=()
for i in $(seq 1 3000); do args+=(--header "X-$i: v"); done
refused "3000 small headers (libmicrohttpd's own 431)" 431 - "${args[@]}" "GET /healthz"

check_eq "the port still answers" 200 "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$HOST/readyz")"
check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
