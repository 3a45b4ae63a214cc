#!/usr/bin/env bash
# vigil-device renew and cacerts against vigild's EST endpoints: a renewal
# with a new key authenticates at once and the old certificate keeps
# working until it expires; --same-key, and its refusal by policy; a kill
# -9 at each step of replacing the pair leaves (after the automatic
# recovery every command does first) a pair that authenticates; exit codes
# for the rate limit and an expired certificate; cacerts writes trust
# anchors openssl uses and refuses a set without the device's root.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port"
D="$T/d"
Q="$T/queue"
# dev ID CMD [ARGS...]: vigil-device CMD as device ID (its pair in $D)
dev() {
    local id=$1 cmd=$2; shift 2
    "$VIGIL_DEVICE" "$cmd" --server "127.0.0.1:$port" --cert "$D/$id.crt" --key "$D/$id.key" \
        --ca "$T/chain.pem" "$@"
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | sed 's/^0*//'; }
pubkey() { openssl pkey -in "$1" -pubout 2>/dev/null; }
# works ID: a report with the pair on disk, by stock curl (no recovery)
works() { dcurl "$D" "$1" -H 'Content-Type: application/json' -d "$(report)" \
    "https://127.0.0.1:$port/v1/incidents" | grep -q '"status":"stored"'; }
enroll() {
    "$VIGIL_DEVICE" keygen --id "$1" --out-dir "$D" >/dev/null &&
        "$VIGILCTL" device enroll --csr "$D/$1.csr" >"$D/$1.crt"
}
# The tests renew more often than the default 6 an hour allows.
sql "UPDATE ca_policy SET renewals_per_hour = 1000" >/dev/null

check "enroll sensor-1" enroll sensor-1
mkdir -p "$T/old" && cp "$D/sensor-1.crt" "$D/sensor-1.key" "$T/old/"
old=$(serial "$D/sensor-1.crt")
check "renew" dev sensor-1 renew --json
check_json "renewed and confirmed" "d['renewed'] and d['confirmed'] and not d['same_key']"
new=$(python3 -c "import json;print(json.load(open('$T/last.json'))['serial'])")
check_eq "the certificate on disk is the new one" "$new" "$(serial "$D/sensor-1.crt")"
check_eq "descended from the old one in the registry" "$old" \
    "$(sql "SELECT renewed_from FROM certificates WHERE serial = '$new'")"
check "with a new key" bash -c "[ \"\$(openssl pkey -in '$D/sensor-1.key' -pubout)\" != \"\$(openssl pkey -in '$T/old/sensor-1.key' -pubout)\" ]"
check "that matches the certificate" bash -c "[ \"\$(openssl pkey -in '$D/sensor-1.key' -pubout)\" = \"\$(openssl x509 -in '$D/sensor-1.crt' -noout -pubkey)\" ]"
check_eq "the key is 0600" "600" "$(stat -c %a "$D/sensor-1.key")"
check_eq "no .new or .prev left" "" "$(ls "$D" | grep -E '\.(new|prev|tmp)$')"
check "a report with the new pair" dev sensor-1 report --queue-dir "$Q" --json
check_json "is stored" "d['stored'] == 1"
works_old() { curl -sS --max-time 10 --cacert "$T/chain.pem" --cert "$T/old/sensor-1.crt" --key "$T/old/sensor-1.key" \
    -H 'Content-Type: application/json' -d "$(report)" "https://127.0.0.1:$port/v1/incidents" | grep -q stored; }
check "the old certificate still works until it expires" works_old

# --same-key, allowed and then refused by policy
key_before=$(pubkey "$D/sensor-1.key")
check "renew --same-key" dev sensor-1 renew --same-key --json
check_json "renewed with the same key" "d['renewed'] and d['same_key']"
check_eq "the key is unchanged" "$key_before" "$(pubkey "$D/sensor-1.key")"
check_eq "the registry says same_key" "true" \
    "$(sql "SELECT details->>'same_key' FROM audit_log WHERE action = 'cert.renew' ORDER BY id DESC LIMIT 1")"
sql "UPDATE ca_policy SET renew_same_key = false" >/dev/null
before=$(serial "$D/sensor-1.crt")
check_exit 1 "--same-key refused by policy: exit 1 (refused for good)" dev sensor-1 renew --same-key
check_contains "with the server's code" "same_key" "$T/err"
check_eq "the pair on disk is unchanged" "$before" "$(serial "$D/sensor-1.crt")"
check "and still authenticates" works sensor-1
check "a new key is still accepted" dev sensor-1 renew
sql "UPDATE ca_policy SET renew_same_key = true" >/dev/null

# kill -9 at each step of replacing the pair: the pair that is left works,
# at once (stock curl) or after the recovery the next command does.
for point in after-answer after-stage-key after-prev between-renames after-commit; do
    before=$(serial "$D/sensor-1.crt")
    VIGIL_DEVICE_CRASH_AT=$point dev sensor-1 renew >"$T/out" 2>"$T/err"
    check_eq "crash $point: killed (exit 137)" "137" "$?"
    if [ "$point" != between-renames ]; then
        check "crash $point: the pair on disk authenticates as it is" works sensor-1
    fi
    check "crash $point: the next command recovers and reports" dev sensor-1 report --queue-dir "$Q"
    check "crash $point: then the pair on disk authenticates" works sensor-1
    case $point in
    after-answer | after-stage-key) want=$before ;;
    *) want=$(sql "SELECT serial FROM certificates WHERE renewed_from = '$before' ORDER BY created_at DESC LIMIT 1") ;;
    esac
    check_eq "crash $point: the pair is the $([ "$want" = "$before" ] && echo old || echo new) one" "$want" "$(serial "$D/sensor-1.crt")"
    check "crash $point: a renewal after it works" dev sensor-1 renew
done
check_eq "no .new or .tmp left" "" "$(ls "$D" | grep -E '\.(new|tmp)$')"

# the rate limit: 429 with Retry-After is exit 75 with the delay
check "enroll sensor-2" enroll sensor-2
sql "UPDATE ca_policy SET renewals_per_hour = 1" >/dev/null
check "sensor-2: a first renewal" dev sensor-2 renew
check_exit 75 "sensor-2: the second in the hour: exit 75 (retry later)" dev sensor-2 renew --json
check_json "with the server's code and Retry-After" "d['status'] == 429 and d['error'] == 'rate_limited' and d['retry_after'] > 0"
check_exit 75 "without --json too" dev sensor-2 renew
check_contains "it says when" "retry in " "$T/err"
check "sensor-2's pair still works" works sensor-2
sql "UPDATE ca_policy SET renewals_per_hour = 1000" >/dev/null

# an expired certificate without a renewal grant: identity refused
"$VIGILCTL" device create --id sensor-3 --out-dir "$D" --validity 1h --backdate 2h >/dev/null 2>&1
check_exit 3 "expired, no grant: exit 3 (identity refused)" dev sensor-3 renew

# a quarantined device may not renew: refused for good
"$VIGILCTL" device quarantine sensor-2 >/dev/null 2>&1 ||
    sql "UPDATE devices SET status = 'quarantined' WHERE id = 'sensor-2'; SELECT pg_notify('vigil_registry', json_build_object('event','device_status','device_id','sensor-2','status','quarantined')::text)" >/dev/null
check_exit 1 "quarantined: exit 1" dev sensor-2 renew
check_contains "the server says quarantined" "quarantined" "$T/err"

# cacerts: trust anchors openssl verifies with; the root is kept
check "cacerts --out" dev sensor-1 cacerts --out "$T/anchors.pem" --json
check_json "two certificates" "d['certificates'] == 2"
check "openssl verify uses them" openssl verify -CAfile "$T/anchors.pem" -purpose sslclient "$D/sensor-1.crt"
check_eq "the key is still 0600 and anchors 0644" "644" "$(stat -c %a "$T/anchors.pem")"
VIGIL_CA_DIR="$T/other-ca" "$VIGILCTL" ca init >/dev/null 2>&1
VIGIL_CA_DIR="$T/other-ca" "$VIGILCTL" ca chain | awk '/BEGIN/{n++} n==2' >"$T/other-root.pem"
openssl x509 -in "$T/other-root.pem" -noout -subject >/dev/null 2>&1 ||
    VIGIL_CA_DIR="$T/other-ca" "$VIGILCTL" ca chain >"$T/other-root.pem"
cat "$T/chain.pem" "$T/other-root.pem" >"$T/two-roots.pem"
cp "$T/two-roots.pem" "$T/two-roots.orig"
check_exit 4 "a set without a root the device trusts is refused: exit 4" \
    "$VIGIL_DEVICE" cacerts --server "127.0.0.1:$port" --cert "$D/sensor-1.crt" --key "$D/sensor-1.key" --ca "$T/two-roots.pem"
check_contains "and says why" "does not include the root" "$T/err"
check "the anchors file is untouched" cmp "$T/two-roots.pem" "$T/two-roots.orig"
check "cacerts in place (--ca replaced)" dev sensor-1 cacerts
check "the replaced file still verifies" openssl verify -CAfile "$T/chain.pem" "$D/sensor-1.crt"

check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
