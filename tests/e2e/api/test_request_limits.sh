#!/usr/bin/env bash
# Runs on the release build too.
# Oversize request heads on the operator port get an answer at once, in the
# error shape, and a close: thousands of query parameters and a very long
# target (414 uri_too_long), a huge header (431 headers_too_large). Before,
# libmicrohttpd ran out of connection memory storing the parameters and
# sent nothing for 30 s. Heads too big for the connection's memory at all
# are refused by libmicrohttpd itself, still with the status and a close.
# A raw NUL in the target is a 400, and so is HTTP/1.1 without exactly one
# Host.
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

# A raw NUL in the target: libmicrohttpd 0.9.75 ends the target at it for
# us but parses the query past it, so "/v1/devices/plain-1\0junk" would be
# device plain-1, and thousands of parameters behind a NUL would exhaust
# the connection's memory (no answer, and each such request leaked).
nul() {  # nul NAME TARGET-BEFORE TARGET-AFTER: the target with a NUL between them
    python3 -c 'import sys; sys.stdout.buffer.write(b"GET " + sys.argv[1].encode() + b"\0" + sys.argv[2].encode() + b"\n")' "$2" "$3" >"$T/nul"
    check "$1" "${RAW[@]}" "@$T/nul" "GET /healthz"
    cp "$T/out" "$T/resp.json"
    check_json_in "$T/resp.json" "  ... 400 bad_request at once, naming the NUL, then the close" \
        "len(d['responses']) == 1 and d['responses'][0]['status'] == 400 and d['closed'] and d['seconds'] < 2 and 'NUL' in json.loads(d['responses'][0]['body'])['reason']"
}
nul "a raw NUL in a path argument" /v1/devices/plain-1 junk
nul "a raw NUL in a query value" "/v1/incidents?device_id=plain-1" junk
nul "a raw NUL before 3000 parameters" /healthz "?$(python3 -c "print('&'.join('a%d=1' % i for i in range(3000)))")"
python3 - "$IP" "$PORT" <<'PY' >"$T/rounds" 2>&1
import socket, sys
q = "&".join("a%d=1" % i for i in range(3000)).encode()
for _ in range(300):
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    s.sendall(b"GET /healthz\0?" + q + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    s.close()
print("300 rounds sent")
PY
check_contains "300 connect-send-close rounds of it" "300 rounds sent" "$T/rounds"

# RFC 9112 section 3.2, as on the device port
status_of() {  # status_of REQUEST (printf escapes): the status line's code
    python3 - "$IP" "$PORT" "$1" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin1"))
print(s.recv(4096).split(b" ")[1].decode())
PY
}
check_eq "HTTP/1.1 without Host: 400" 400 "$(status_of 'GET /healthz HTTP/1.1\r\n\r\n')"
check_eq "two Host headers: 400" 400 "$(status_of 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')"
check_eq "the same Host twice: 400" 400 "$(status_of 'GET /healthz HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n')"
check_eq "HTTP/1.0 without Host: served" 200 "$(status_of 'GET /healthz HTTP/1.0\r\n\r\n')"
check_eq "HTTP/1.1 with one Host: served" 200 "$(status_of 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n')"

check_eq "the port still answers" 200 "$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$HOST/readyz")"
check "SIGTERM: vigild exits 0 (under the sanitizers: with nothing leaked)" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
