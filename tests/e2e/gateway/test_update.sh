#!/usr/bin/env bash
# GET /v1/update and GET /v1/update/keys with curl, openssl and the jose
# CLI: every 204 reason (quarantined, no_rollout, revoked, paused, halted,
# not_selected, up_to_date, security_version, expired); the devices that get
# the manifest are exactly those `printf '%s:%s' ROLLOUT DEVICE | sha256sum`
# puts under the rollout's basis points, and a group rollout only its
# tagged devices (tags from the load and from the device_tags NOTIFY); the
# first offer is recorded in rollout_devices before the 200, later ones
# come from memory (they still answer with PostgreSQL down, a first offer
# then is a 503); a malformed version or security version is a 400 that
# names it; the served manifest verifies with `jose jws ver` against the
# served JWKS, and a tampered one does not.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../../lib/release_fixture.sh"
device_server
API="http://$(vigild_api main)"
TOKEN=$("$VIGILCTL" token create --role operator --name upd 2>/dev/null | tail -n 1)
for i in $(seq -w 1 16); do
    "$VIGILCTL" device create --id "s-$i" --class sensor --out-dir "$D" >/dev/null 2>&1
done
"$VIGILCTL" device create --id other-1 --class gateway --out-dir "$D" >/dev/null 2>&1
head -c 300000 /dev/urandom >"$T/fw-2.bin"

# upd ID [curl args...]: GET /v1/update as ID; prints "200", or "204 REASON", or the status
upd() {
    local id=$1; shift
    local code
    code=$(dcurl "$D" "$id" -o "$T/body" -D "$T/h" -w '%{http_code}' "$@" "$U/v1/update") || return 1
    if [ "$code" = 204 ]; then
        echo "204 $(tr -d '\r' <"$T/h" | sed -n 's/^x-vigil-reason: //Ip')"
    else
        echo "$code"
    fi
}
# expect NAME ID WANT [curl args...]: the answer is WANT
expect() {
    local name=$1 id=$2 want=$3; shift 3
    check_eq "$name" "$want" "$(upd "$id" "$@")"
}
# await ID WANT [curl args...]: the answer becomes WANT within 5 s (the
# view follows the database by NOTIFY)
await() {
    local id=$1 want=$2; shift 2
    for _ in $(seq 1 50); do
        [ "$(upd "$id" "$@")" = "$want" ] && return 0
        sleep 0.1
    done
    echo "answer: $(upd "$id" "$@"), wanted $want" >&2
    return 1
}
bucket() { echo $((16#$(printf '%s:%s' "$1" "$2" | sha256sum | cut -c1-8) % 10000)); }
V1=(-H 'X-Vigil-Version: 1.0.0' -H 'X-Vigil-Security-Version: 1')

expect "no release yet: 204 no_rollout" s-01 "204 no_rollout"
check_contains "a 204 has no Content-Length" "X-Vigil-Reason" "$T/h"
check "  ... and no body" test ! -s "$T/body"
check "a release key" rf_key main
rel=$(rf_release 2.0.0 5 sensor "$T/fw-2.bin")
check_eq "a release of class sensor" "1" "$rel"
expect "a release without a rollout: still no_rollout" s-01 "204 no_rollout" "${V1[@]}"

# a rollout at 50 %: the set the hash predicts
ro=$(rf_rollout "$rel" 5000)
check "the rollout reaches the view" await s-01 "$([ "$(bucket "$ro" s-01)" -lt 5000 ] && echo 200 || echo '204 not_selected')" "${V1[@]}"
want_in="" got_in="" want_out="" got_out=""
for i in $(seq -w 1 16); do
    a=$(upd "s-$i" "${V1[@]}")
    if [ "$(bucket "$ro" "s-$i")" -lt 5000 ]; then want_in+="s-$i "; else want_out+="s-$i "; fi
    case "$a" in 200) got_in+="s-$i " ;; "204 not_selected") got_out+="s-$i " ;; *) echo "s-$i: $a" >>"$T/odd" ;; esac
done
echo "in: $want_in; out: $want_out" >&2
check_eq "the devices offered the manifest are those whose bucket is under 5000" "$want_in" "$got_in"
check_eq "the others get 204 not_selected" "$want_out" "$got_out"
check "both sets are there" test -n "$want_in" -a -n "$want_out"
check "no other answer" test ! -e "$T/odd"
check_eq "each first offer is recorded in rollout_devices" "$(echo "$want_in" | wc -w)" \
    "$(sql "SELECT count(*) FROM rollout_devices WHERE rollout_id = $ro AND state = 'offered'")"
check_eq "  ... and only those" "$(echo "$want_in" | tr ' ' '\n' | grep . | sort | paste -sd,)" \
    "$(sql "SELECT string_agg(device_id, ',' ORDER BY device_id) FROM rollout_devices WHERE rollout_id = $ro")"
IN=$(echo "$want_in" | cut -d' ' -f1)
OUT=$(echo "$want_out" | cut -d' ' -f1)
LAST_IN=$(echo "$want_in" | awk '{print $NF}')

# the manifest: as stored, and verified by jose against the served JWKS
before=$(sql "SELECT offered_at FROM rollout_devices WHERE device_id = '$IN'")
expect "asked again: 200" "$IN" 200 "${V1[@]}"
check_eq "  ... the offer is not written again" "$before" \
    "$(sql "SELECT offered_at FROM rollout_devices WHERE device_id = '$IN'")"
check_contains "Content-Type: application/jose" "Content-Type: application/jose" "$T/h"
check_contains "X-Vigil-Rollout names the rollout" "X-Vigil-Rollout: $ro" "$T/h"
cp "$T/body" "$T/manifest.jws"
check_eq "the body is the stored compact JWS, no newline" \
    "$(sql "SELECT md5(manifest) FROM releases WHERE id = $rel")" "$(md5sum <"$T/manifest.jws" | cut -d' ' -f1)"
check "GET /v1/update/keys" dcurl "$D" "$IN" -o "$T/keys.json" -D "$T/kh" "$U/v1/update/keys"
check_contains "Content-Type: application/jwk-set+json" "application/jwk-set+json" "$T/kh"
check_json_in "$T/keys.json" "the JWKS: one public key with kid, alg ES256, use sig; endorsements" \
    "len(d['keys']) == 1 and d['keys'][0]['kid'] == open('$RF/main.kid').read().strip() and d['keys'][0]['alg'] == 'ES256' and d['keys'][0]['use'] == 'sig' and 'd' not in d['keys'][0] and d['endorsements'] == []"
check "jose jws ver verifies the manifest with the served keys" \
    jose jws ver -i "$T/manifest.jws" -k "$T/keys.json" -O "$T/payload.json"
check_json_in "$T/payload.json" "its claims: typ, version, security_version, class, artifact, iat, exp, kid" \
    "d['typ'] == 'vigil-manifest' and d['version'] == '2.0.0' and d['security_version'] == 5 and d['class'] == 'sensor' and d['artifact']['sha256'] == '$(sha256sum "$T/fw-2.bin" | cut -c1-64)' and d['artifact']['size'] == 300000 and d['artifact']['path'] == '/v1/artifacts/' + d['artifact']['sha256'] and d['exp'] > d['iat'] and d['kid'] == open('$RF/main.kid').read().strip()"
check_eq "its protected header: alg ES256, kid, typ" "ES256 $(cat "$RF/main.kid") vigil-manifest" \
    "$(cut -d. -f1 "$T/manifest.jws" | jose b64 dec -i- | jq -r '"\(.alg) \(.kid) \(.typ)"')"
tampered=$(cut -d. -f1 "$T/manifest.jws").$(jq -c '.security_version = 99' "$T/payload.json" | tr -d '\n' | jose b64 enc -I-).$(cut -d. -f3 "$T/manifest.jws")
echo -n "$tampered" >"$T/tampered.jws"
check_fails "a tampered payload fails jose jws ver" jose jws ver -i "$T/tampered.jws" -k "$T/keys.json"
jose jwk gen -i '{"alg":"ES256"}' -o "$T/stranger.jwk"
jose jwk pub -i "$T/stranger.jwk" -o "$T/stranger.pub"
check_fails "  ... and so does another key" jose jws ver -i "$T/manifest.jws" -k "$T/stranger.pub"
check "HEAD: answered" dcurl "$D" "$IN" -I -o "$T/hh" "${V1[@]}" "$U/v1/update"
check_contains "  ... with the headers of a GET" "X-Vigil-Rollout: $ro" "$T/hh"

# what the device says it runs
expect "running the release's version: 204 up_to_date" "$IN" "204 up_to_date" -H 'X-Vigil-Version: 2.0.0'
expect "a security version above the release's: 204 security_version" "$IN" "204 security_version" \
    -H 'X-Vigil-Security-Version: 6'
expect "the release's own security version: 200" "$IN" 200 -H 'X-Vigil-Security-Version: 5'
expect "nothing said: version unknown, security version 0: 200" "$IN" 200
expect "the query parameters when there is no header: up_to_date" "$IN" "204 up_to_date" \
    --url-query version=2.0.0
expect "  ... security_version" "$IN" "204 security_version" --url-query security_version=9
expect "the header wins over the query" "$IN" 200 -H 'X-Vigil-Security-Version: 1' \
    --url-query security_version=9
expect "a percent-encoded query value: 2%2E0%2E0" "$IN" "204 up_to_date" --url-query '+version=2%2E0%2E0'
bad() {  # bad NAME PARAMETER [curl args...]: 400 bad_update_query naming PARAMETER
    local name=$1 param=$2; shift 2
    expect "$name: 400" "$IN" 400 "$@"
    check_json_in "$T/body" "  ... bad_update_query naming $param" \
        "d['error'] == 'bad_update_query' and d['parameter'] == '$param' and '$param' in d['reason']"
}
bad "X-Vigil-Security-Version: abc" X-Vigil-Security-Version -H 'X-Vigil-Security-Version: abc'
bad "X-Vigil-Security-Version: -1" X-Vigil-Security-Version -H 'X-Vigil-Security-Version: -1'
bad "X-Vigil-Security-Version: 2^53 + 1" X-Vigil-Security-Version -H 'X-Vigil-Security-Version: 9007199254740993'
expect "X-Vigil-Security-Version: 2^53: accepted (204 security_version)" "$IN" "204 security_version" \
    -H 'X-Vigil-Security-Version: 9007199254740992'
bad "X-Vigil-Version with a space" X-Vigil-Version -H 'X-Vigil-Version: 1 0'
bad "X-Vigil-Version of 65 characters" X-Vigil-Version -H "X-Vigil-Version: $(printf 'a%.0s' $(seq 1 65))"
bad "X-Vigil-Version twice" X-Vigil-Version -H 'X-Vigil-Version: 1' -H 'X-Vigil-Version: 2'
bad "an empty X-Vigil-Version" X-Vigil-Version -H 'X-Vigil-Version;'
bad "?security_version=1e3" security_version --url-query security_version=1e3
bad "?version= twice" version --url-query version=1 --url-query version=2
bad "?version=%zz" version --url-query '+version=%zz'
check "a 400 leaves the connection open: two requests on one" \
    dcurl "$D" "$IN" -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
    -H 'X-Vigil-Version: a b' "$U/v1/update" "$U/v1/update"
check_eq "  ... one connection" "400 1
400 0" "$(cat "$T/out")"
check "POST /v1/update: answered" dcurl "$D" "$IN" -d x -o /dev/null -D "$T/h" -w '%{http_code}' "$U/v1/update"
check_eq "  ... 405" 405 "$(cat "$T/out")"
check_contains "  ... Allow: GET, HEAD" "Allow: GET, HEAD" "$T/h"

# the rollout's state, the device's status, other classes
check "pause the rollout" rf_move "$ro" paused
check "paused: 204 paused" await "$IN" "204 paused"
expect "  ... for a device outside it too" "$OUT" "204 paused"
check "resume it" rf_move "$ro" running
check "running again: 200" await "$IN" 200
check "halt it" rf_move "$ro" halted
check "halted: 204 halted" await "$IN" "204 halted"
rf_move "$ro" running
check "resumed" await "$IN" 200
expect "a device of another class: 204 no_rollout" other-1 "204 no_rollout"
check "quarantine a device (operator API)" curl -sS --max-time 10 -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"reason":"test"}' "$API/v1/devices/$IN/quarantine"
check "quarantined: 204 quarantined" await "$IN" "204 quarantined"
curl -sS --max-time 10 -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"reason":"test"}' "$API/v1/devices/$IN/release" >/dev/null
check "released from quarantine: 200" await "$IN" 200

# a group rollout: only tagged devices, whatever their bucket
rel_b=$(rf_release 2.1.0 5 sensor "$T/fw-2.bin")
ro_b=$(rf_rollout "$rel_b" 10000 lab)
sql "UPDATE devices SET tags = '{lab}' WHERE id = '$OUT'" >/dev/null
tag_notify() {  # tag_notify DEVICE TAGS-JSON: what the ops db layer sends
    sql "SELECT pg_notify('vigil_registry', json_build_object('event', 'device_tags',
         'device_id', '$1', 'tags', '$2'::json)::text)" >/dev/null
}
check "a group rollout: an untagged device gets 204 not_selected" await "$IN" "204 not_selected"
check "a device tagged in the database before vigild knew: still not selected (no NOTIFY yet)" \
    test "$(upd "$OUT")" = "204 not_selected"
tag_notify "$OUT" '["lab"]'
check "after the device_tags NOTIFY: 200" await "$OUT" 200
check_eq "  ... for the group rollout" "1" "$(grep -c "X-Vigil-Rollout: $ro_b" "$T/h")"
check_eq "  ... whose offer is recorded" "offered" \
    "$(sql "SELECT state FROM rollout_devices WHERE rollout_id = $ro_b AND device_id = '$OUT'")"
port2=$(free_port)
vigild_start second "$port2"
check "a vigild started later loads the tags with the registry: 200 there too" \
    test "$(U="https://127.0.0.1:$port2" upd "$OUT")" = 200
vigild_stop second >/dev/null 2>&1
tag_notify "$OUT" '[]'
check "untagged by NOTIFY: not_selected" await "$OUT" "204 not_selected"
check "the first rollout was superseded" test "$(sql "SELECT state FROM rollouts WHERE id = $ro")" = superseded

# revoked and expired releases
check "revoke the group rollout's release (its rollout stays live)" rf_revoke "$rel_b"
check "revoked: 204 revoked" await "$IN" "204 revoked"
rel_x=$(rf_release 3.0.0 6 sensor "$T/fw-2.bin" main $(($(date +%s) - 60)))
ro_x=$(rf_rollout "$rel_x" 10000)
check "an expired manifest: 204 expired" await "$IN" "204 expired" "${V1[@]}"
check_eq "  ... and nothing offered" "0" "$(sql "SELECT count(*) FROM rollout_devices WHERE rollout_id = $ro_x")"

# decisions from memory: with PostgreSQL down an offered device still gets
# its manifest, a new first offer waits for the database
rel_y=$(rf_release 3.1.0 6 sensor "$T/fw-2.bin")
ro_y=$(rf_rollout "$rel_y" 10000)
check "a fresh rollout to everyone" await "$IN" 200
expect "  ... its first offer to a second device" "$OUT" 200
pg_stop >/dev/null 2>&1
expect "database down: an offered device still gets the manifest" "$IN" 200
expect "  ... a device up to date still hears so" "$LAST_IN" "204 up_to_date" -H 'X-Vigil-Version: 3.1.0'
expect "  ... a first offer is 503" "$LAST_IN" 503
check_contains "  ... with Retry-After" "Retry-After:" "$T/h"
check_json_in "$T/body" "  ... error unavailable" "d['error'] == 'unavailable'"
pg_restart >/dev/null 2>&1
check "database back: the first offer goes through" await "$LAST_IN" 200
check_eq "  ... and is recorded" "offered" \
    "$(sql "SELECT state FROM rollout_devices WHERE rollout_id = $ro_y AND device_id = '$LAST_IN'")"

check "SIGTERM: vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
