#!/usr/bin/env bash
# Runs on the release build too.
# The update paths as a hostile device with a valid certificate sees them,
# over raw mutual-TLS sockets (update_raw.py) where curl cannot go:
# pipelined requests after an artifact GET and after HEADs are answered in
# order with the right Content-Length and no body after a HEAD; with
# PostgreSQL stopped every malformed input is still a 400 (or 416) in the
# JSON error shape, so none reaches the database (a NUL in a query value
# included); one device cannot hold more than 4 downloads at once, so its
# connections that never read take neither the server's memory nor the
# artifact connection from the other devices; a device cannot report for a
# rollout that did not offer it the release, nor move another device's row,
# and its failure reports stop at its request budget; an aborted rollout
# offers nothing (its release's artifact is still served to the class, as
# the contract says); connections reset in the middle of a chunk leak
# nothing (the sanitizer build's report at exit).
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../../lib/release_fixture.sh"
pg_start
setup_ca
port=$(free_port)
# a small quarantine keeps freed memory from counting as RSS in the sanitizer build
vigild_start main "$port" VIGIL_HEADER_TIMEOUT=3s ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8"
U="https://127.0.0.1:$port"
API="http://$(vigild_api main)"
D="$T/dev"
for id in a-1 a-2 a-3 a-4; do "$VIGILCTL" device create --id "$id" --class sensor --out-dir "$D" >/dev/null 2>&1; done
rf_key main >/dev/null
head -c 3000000 /dev/urandom >"$T/fw.bin"
SHA=$(sha256sum "$T/fw.bin" | cut -c1-64)
rel=$(rf_release 2.0.0 1 sensor "$T/fw.bin")
ro=$(rf_rollout "$rel" 10000)
RAW() {  # RAW SCENARIO DEVICE ARGS...: update_raw.py as DEVICE, its JSON in $T/raw.json
    timeout 60 python3 "$REPO/tests/e2e/gateway/update_raw.py" "$1" 127.0.0.1 "$port" \
        "$T/chain.pem" "$D/$2.crt" "$D/$2.key" "${@:3}" >"$T/raw.json"
}
# answers WANT URL [curl args...]: a-1 is answered WANT within 10 s (the
# view follows the database by NOTIFY; connections come back after it)
answers() {
    local want=$1 url=$2; shift 2
    for _ in $(seq 1 100); do
        [ "$(dcurl "$D" a-1 -o /dev/null -w '%{http_code}' "$@" "$url")" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}
check "the rollout reaches the view" answers 200 "$U/v1/update"

# ---- pipelining and Content-Length ----
check "ten pipelined requests on one connection, artifact GETs and HEADs among them" \
    RAW pipeline a-1 "$SHA" 3000000
check_json_in "$T/raw.json" "  ... each answered in order" \
    "d['statuses'] == [206, 200, 200, 200, 200, 200, 206, 206, 200, 200]"
check_json_in "$T/raw.json" "  ... with the Content-Length of what a GET gets, HEADs included" \
    "d['lengths'][:2] == [100, 3000000] and d['lengths'][5:8] == [3000000, 5, 3] and d['lengths'][2] == d['lengths'][3] == d['lengths'][9] and d['lengths'][4] == d['lengths'][8] > 0"
check_json_in "$T/raw.json" "  ... the whole GET's body is the artifact" "d['sha256'] == '$SHA'"
check_json_in "$T/raw.json" "  ... and nothing follows the last answer" "d['trailing'] == 0"

# ---- malformed input: 400 (or 416) before the database ----
head -c 100000 /dev/urandom >"$T/cold.bin"
COLD=$(sha256sum "$T/cold.bin" | cut -c1-64)
rf_release 2.0.1 1 sensor "$T/cold.bin" >/dev/null
check "a second release's artifact (HEAD reads no chunk: none is cached)" \
    answers 200 "$U/v1/artifacts/$COLD" -I
pg_stop >/dev/null 2>&1
shape() {  # shape FILE CODE: the JSON error shape with that code
    python3 -c "
import json, sys
d = json.load(open('$1'))
assert d['error'] == '$2' and isinstance(d['reason'], str) and set(d) <= {'error', 'reason', 'parameter'}, d
"
}
bad_get() {  # bad_get NAME WANT CODE PATH [curl args...]
    local name=$1 want=$2 code=$3 path=$4; shift 4
    check_eq "database down, $name: $want" "$want" \
        "$(dcurl "$D" a-1 -o "$T/body" -w '%{http_code}' "$@" "$U$path")"
    check "  ... $code in the JSON error shape" shape "$T/body" "$code"
}
bad_get "X-Vigil-Security-Version: 1e3" 400 bad_update_query /v1/update -H 'X-Vigil-Security-Version: 1e3'
bad_get "X-Vigil-Security-Version: 99999999999999999999" 400 bad_update_query /v1/update \
    -H 'X-Vigil-Security-Version: 99999999999999999999'
bad_get "X-Vigil-Security-Version of 200 digits" 400 bad_update_query /v1/update \
    -H "X-Vigil-Security-Version: $(printf '1%.0s' $(seq 1 200))"
bad_get "X-Vigil-Version twice" 400 bad_update_query /v1/update -H 'X-Vigil-Version: 1' -H 'X-Vigil-Version: 1'
bad_get "?version=1.0%00x (a NUL)" 400 bad_update_query '/v1/update?version=1.0%00x'
bad_get "?security_version=5%00 (a NUL)" 400 bad_update_query '/v1/update?security_version=5%00'
bad_get "?version=%0d%0a" 400 bad_update_query '/v1/update?version=1%0d%0aX:%20y'
bad_get "?security_version=%2B5" 400 bad_update_query '/v1/update?security_version=%2B5'
bad_get "?security_version=-0" 400 bad_update_query '/v1/update?security_version=-0'
bad_get "Range: bytes=5-4" 416 bad_range "/v1/artifacts/$SHA" -H 'Range: bytes=5-4'
bad_get "two Range headers" 416 bad_range "/v1/artifacts/$SHA" -H 'Range: bytes=0-1' -H 'Range: bytes=0-1'
bad_get "Range: bytes= 0-1 (a space inside)" 416 bad_range "/v1/artifacts/$SHA" -H 'Range: bytes= 0-1'
bad_get "Range: bytes=0-1 , 2-3" 416 bad_range "/v1/artifacts/$SHA" -H 'Range: bytes=0-1 , 2-3'
bad_get "Range: bytes=99999999999999999999-" 416 bad_range "/v1/artifacts/$SHA" \
    -H 'Range: bytes=99999999999999999999-'
bad_get "Range: bytes=-0" 416 range_not_satisfiable "/v1/artifacts/$SHA" -H 'Range: bytes=-0'
bad_get "Range: bytes=3000000-3000001 (past the end)" 416 range_not_satisfiable "/v1/artifacts/$SHA" \
    -H 'Range: bytes=3000000-3000001'
bad_get "a Range of 200 characters" 416 bad_range "/v1/artifacts/$SHA" \
    -H "Range: bytes=0-$(printf '1%.0s' $(seq 1 190))"
check_eq "database down, a good Range of an artifact not cached: 503 (its bytes are in the database)" 503 \
    "$(dcurl "$D" a-1 -o "$T/body" -w '%{http_code}' -H 'Range: bytes=99999-' "$U/v1/artifacts/$COLD")"
check "  ... unavailable in the JSON error shape" shape "$T/body" unavailable
post_bad() {  # post_bad NAME BODY
    check_eq "database down, status $1: 400" 400 "$(dcurl "$D" a-1 -H 'Content-Type: application/json' \
        --data-binary "$2" -o "$T/body" -w '%{http_code}' "$U/v1/update/status")"
    check "  ... bad_update_status in the JSON error shape" shape "$T/body" bad_update_status
}
UUID=$(cat /proc/sys/kernel/random/uuid)
post_bad "not JSON" '{"id":'
post_bad "an array" '[]'
post_bad "an unknown member" "{\"id\":\"$UUID\",\"version\":\"2.0.0\",\"state\":\"installed\",\"x\":1}"
post_bad "a duplicate member" "{\"id\":\"$UUID\",\"id\":\"$UUID\",\"version\":\"2.0.0\",\"state\":\"installed\"}"
post_bad "a reason of 513 characters" "{\"id\":\"$UUID\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"$(printf 'r%.0s' $(seq 1 513))\"}"
post_bad "an empty reason" "{\"id\":\"$UUID\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"\"}"
post_bad "failed without a reason" "{\"id\":\"$UUID\",\"version\":\"2.0.0\",\"state\":\"failed\"}"
post_bad "state offered (only the server says offered)" "{\"id\":\"$UUID\",\"version\":\"2.0.0\",\"state\":\"offered\"}"
post_bad "a NUL in the reason" "{\"id\":\"$UUID\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"a\\u0000b\"}"
post_bad "a version with a slash" "{\"id\":\"$UUID\",\"version\":\"../2\",\"state\":\"installed\"}"
post_bad "an id that is not a UUID" '{"id":"1","version":"2.0.0","state":"installed"}'
pg_restart >/dev/null 2>&1
check "database back: the artifact is served" answers 206 "$U/v1/artifacts/$SHA" -r 0-0

# ---- downloads that are never read ----
# bigger than what a socket's send buffer takes (tcp_wmem: 4 MiB at most),
# so that an unread download stays in progress
head -c $((12 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
BIG=$(sha256sum "$T/big.bin" | cut -c1-64)
rf_release 2.0.2 1 sensor "$T/big.bin" >/dev/null
check "a 12 MiB artifact" answers 200 "$U/v1/artifacts/$BIG" -I
rss() { awk '/^VmRSS/ {print $2}' "/proc/$(vigild_pid main)/status"; }
check "one device asks for 10 downloads at once" RAW heads a-2 "$BIG" 10
check_json_in "$T/raw.json" "  ... 4 are served, the others are 429" \
    "sorted(d['statuses']) == [200] * 4 + [429] * 6"
sleep 3.5 # the header timeout ends the unread ones
base=$(rss)
timeout 60 python3 "$REPO/tests/e2e/gateway/update_raw.py" hold 127.0.0.1 "$port" "$T/chain.pem" \
    "$D/a-3.crt" "$D/a-3.key" "$BIG" 120 2.5 >"$T/hold.out" 2>"$T/hold.err" &
holder=$!
for _ in $(seq 1 200); do grep -q holding "$T/hold.err" && break; sleep 0.1; done
# within the header timeout (3 s), while 4 of them are in progress
check_eq "120 unread downloads of one device: its next download is a 429" 429 \
    "$(dcurl "$D" a-3 -o "$T/body" -w '%{http_code}' "$U/v1/artifacts/$BIG")"
check "  ... too_many_downloads in the JSON error shape" shape "$T/body" too_many_downloads
held=$(rss)
echo "VmRSS ${base} kB before, ${held} kB with 120 unread downloads of one device" >&2
check "  ... they take less than 24 MiB" test $((held - base)) -lt $((24 * 1024))
check_eq "  ... while another device downloads the whole artifact" "$BIG" \
    "$(dcurl "$D" a-4 "$U/v1/artifacts/$BIG" | sha256sum | cut -c1-64)"
wait "$holder"
check "once they are closed, that device downloads again" bash -c \
    "for i in \$(seq 1 50); do [ \"\$(curl -sS --max-time 20 --cacert '$T/chain.pem' --cert '$D/a-3.crt' --key '$D/a-3.key' '$U/v1/artifacts/$BIG' | sha256sum | cut -c1-64)\" = '$BIG' ] && exit 0; sleep 0.2; done; exit 1"

# ---- another device's state; a flood of failures ----
status() {  # status ID STATE [REASON]: POST /v1/update/status of 2.0.0 as ID; prints the HTTP status
    local body="{\"id\":\"$(cat /proc/sys/kernel/random/uuid)\",\"version\":\"2.0.0\",\"state\":\"$2\"${3:+,\"reason\":\"$3\"}}"
    dcurl "$D" "$1" -H 'Content-Type: application/json' --data-binary "$body" -o "$T/body" -w '%{http_code}' \
        "${SU:-$U}/v1/update/status"
}
check_eq "a-1 was offered the release" offered \
    "$(sql "SELECT state FROM rollout_devices WHERE rollout_id = $ro AND device_id = 'a-1'")"
check_eq "a-4, never offered it, reports it installed: 409" 409 "$(status a-4 installed)"
check_json_in "$T/body" "  ... not_offered" "d['error'] == 'not_offered'"
check_eq "  ... a-4 has no row and a-1's is as it was" "a-1:offered" \
    "$(sql "SELECT string_agg(device_id || ':' || state, ',') FROM rollout_devices WHERE rollout_id = $ro")"
check_eq "  ... and no device's firmware version moved" 0 \
    "$(sql "SELECT count(*) FROM devices WHERE firmware_version = '2.0.0'")"
port2=$(free_port)
vigild_start limited "$port2" VIGIL_DEVICE_RATE=1 VIGIL_DEVICE_BURST=3
SU="https://127.0.0.1:$port2"
codes=""
for _ in $(seq 1 12); do codes+="$(SU=$SU status a-1 failed 'flash error') "; done
echo "12 failure reports at once: $codes" >&2
check "12 failure reports at once over a rate of 1/s, burst 3: some are 429" grep -q 429 <<<"$codes"
check "  ... at most 5 update_failure incidents written" \
    test "$(sql "SELECT count(*) FROM incidents WHERE type = 'update_failure' AND device_id = 'a-1'")" -le 5
check "  ... one row for a-1 in the rollout, failed" test \
    "$(sql "SELECT count(*) || state FROM rollout_devices WHERE rollout_id = $ro AND device_id = 'a-1' GROUP BY state")" = 1failed
vigild_stop limited >/dev/null 2>&1

# ---- what an aborted rollout still serves (by contract: artifacts of releases not revoked) ----
rf_move "$ro" aborted
gone() { for _ in $(seq 1 50); do [ "$(dcurl "$D" a-2 -o /dev/null -D "$T/h" -w '%{http_code}' "$U/v1/update")" = 204 ] && grep -qi 'X-Vigil-Reason: no_rollout' "$T/h" && return 0; sleep 0.1; done; return 1; }
check "an aborted rollout offers nothing: 204 no_rollout" gone
check_eq "  ... its release's artifact is still served to the class (the contract: not revoked)" 206 \
    "$(dcurl "$D" a-2 -o /dev/null -w '%{http_code}' -r 0-9 "$U/v1/artifacts/$SHA")"

# ---- connections reset in the middle of a chunk ----
check "20 downloads reset in the middle of a chunk" RAW cut a-1 "$SHA" 20
check_eq "  ... vigild still serves" "$SHA" "$(dcurl "$D" a-1 "$U/v1/artifacts/$SHA" | sha256sum | cut -c1-64)"

check "SIGTERM: vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
