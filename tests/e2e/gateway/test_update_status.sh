#!/usr/bin/env bash
# POST /v1/update/status with curl: each answer (200, duplicate, 400 for
# each bad member, 404 unknown_release, 409 not_offered and
# already_installed, 413, 415, 503 with nothing written during a database
# outage); downloading, installed (the device's firmware version follows)
# and failed (an update_failure incident in the same transaction as the
# rollout's row); a retry with the same id changes nothing; failures over
# the rollout's threshold halt it (the answer says so, GET /v1/update then
# says 204 halted); updated devices that crash while the others do not
# halt a rollout on health within vigild's 5-second check.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../../lib/release_fixture.sh"
device_server
for i in $(seq 1 8); do
    "$VIGILCTL" device create --id "u-$i" --class sensor --out-dir "$D" >/dev/null 2>&1
done
head -c 100000 /dev/urandom >"$T/fw.bin"
rf_key main >/dev/null
rel=$(rf_release 2.0.0 1 sensor "$T/fw.bin")
ro=$(rf_rollout "$rel" 10000 "" 0.3 3)
uuid() { cat /proc/sys/kernel/random/uuid; }
# post ID BODY [curl args...]: POST /v1/update/status as ID; the status in $T/out, body in $T/body
post() {
    local id=$1 body=$2; shift 2
    dcurl "$D" "$id" -H 'Content-Type: application/json' --data-binary "$body" -o "$T/body" \
        -D "$T/h" -w '%{http_code}' "$@" "$U/v1/update/status"
}
# answer NAME WANT ID BODY: the status is WANT
answer() {
    local name=$1 want=$2; shift 2
    run post "$@"
    check_eq "$name: $want" "$want" "$(cat "$T/out")"
}
offer() {  # offer ID: GET /v1/update until it is 200 (the view follows by NOTIFY)
    for _ in $(seq 1 100); do
        [ "$(dcurl "$D" "$1" -o /dev/null -D "$T/offer.h" -w '%{http_code}' "$U/v1/update")" = 200 ] && return 0
        sleep 0.1
    done
    echo "the last answer:" >&2
    cat "$T/offer.h" >&2
    return 1
}
rows() { sql "SELECT count(*) FROM rollout_devices WHERE device_id = '$1'"; }

# refusals before the database
answer "not JSON" 400 u-1 'nope'
check_json_in "$T/body" "  ... bad_update_status" "d['error'] == 'bad_update_status' and d['parameter'] == 'body'"
answer "an array" 400 u-1 '[]'
bad_member() {  # bad_member NAME PARAMETER BODY
    answer "$1" 400 u-1 "$3"
    check_json_in "$T/body" "  ... names $2" "d['error'] == 'bad_update_status' and d['parameter'] == '$2'"
}
ID=$(uuid)
bad_member "an unknown member" body "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"installed\",\"extra\":1}"
bad_member "no id" id '{"version":"2.0.0","state":"installed"}'
bad_member "an id that is no UUID" id '{"id":"12345","version":"2.0.0","state":"installed"}'
bad_member "a bad version" version "{\"id\":\"$ID\",\"version\":\"2.0 0\",\"state\":\"installed\"}"
bad_member "no version" version "{\"id\":\"$ID\",\"state\":\"installed\"}"
bad_member "an unknown state" state "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"done\"}"
bad_member "failed without a reason" reason "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"failed\"}"
bad_member "an empty reason" reason "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"\"}"
bad_member "a reason of 513 characters" reason \
    "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"$(printf 'x%.0s' $(seq 1 513))\"}"
answer "a reason of 512 characters (two bytes each) is long enough, not too long" 409 u-1 \
    "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"$(printf 'é%.0s' $(seq 1 512))\"}"
bad_member "a reason that is no string" reason "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":5}"
bad_member "a member twice" body "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"installed\",\"state\":\"failed\"}"
answer "a body over 4 KiB" 413 u-1 "{\"id\":\"$ID\",\"version\":\"2.0.0\",\"state\":\"downloading\",\"reason\":\"$(printf 'y%.0s' $(seq 1 4100))\"}"
check "another media type: answered" dcurl "$D" u-1 -H 'Content-Type: text/plain' -d '{}' -o "$T/body" \
    -w '%{http_code}' "$U/v1/update/status"
check_eq "  ... 415" 415 "$(cat "$T/out")"
check "GET /v1/update/status: answered" dcurl "$D" u-1 -o /dev/null -D "$T/h" -w '%{http_code}' "$U/v1/update/status"
check_eq "  ... 405" 405 "$(cat "$T/out")"
check_eq "nothing reached the database" "0 0" \
    "$(sql "SELECT (SELECT count(*) FROM rollout_devices) || ' ' || (SELECT count(*) FROM incidents WHERE type = 'update_failure')")"

# the database's refusals
answer "a version no release of the class has" 404 u-1 "{\"id\":\"$(uuid)\",\"version\":\"9.9.9\",\"state\":\"installed\"}"
check_json_in "$T/body" "  ... unknown_release" "d['error'] == 'unknown_release'"
answer "a release never offered to this device" 409 u-1 "{\"id\":\"$(uuid)\",\"version\":\"2.0.0\",\"state\":\"downloading\"}"
check_json_in "$T/body" "  ... not_offered" "d['error'] == 'not_offered'"

# downloading, installed, a retry, already installed
check "u-1 is offered the release" offer u-1
D1=$(uuid)
answer "downloading" 200 u-1 "{\"id\":\"$D1\",\"version\":\"2.0.0\",\"state\":\"downloading\"}"
check_json_in "$T/body" "  ... the answer" "d == {'state': 'downloading', 'rollout_id': $ro, 'duplicate': False, 'halted': False}"
check_eq "  ... recorded" downloading "$(sql "SELECT state FROM rollout_devices WHERE device_id = 'u-1'")"
I1=$(uuid)
answer "installed" 200 u-1 "{\"id\":\"$I1\",\"version\":\"2.0.0\",\"state\":\"installed\"}"
check_eq "  ... the device's firmware version follows" "2.0.0" "$(sql "SELECT firmware_version FROM devices WHERE id = 'u-1'")"
check_eq "  ... its row is installed, with the time" "installed true" \
    "$(sql "SELECT state || ' ' || (installed_at IS NOT NULL) FROM rollout_devices WHERE device_id = 'u-1'")"
snapshot() { sql "SELECT state, updated_at, installed_at FROM rollout_devices WHERE device_id = 'u-1'"; }
before=$(snapshot)
answer "the same report again" 200 u-1 "{\"id\":\"$I1\",\"version\":\"2.0.0\",\"state\":\"installed\"}"
check_json_in "$T/body" "  ... a duplicate, with its rollout" "d == {'state': 'installed', 'rollout_id': $ro, 'duplicate': True, 'halted': False}"
check_eq "  ... nothing changed" "$before" "$(snapshot)"
answer "an older report retried after it (same id as downloading)" 200 u-1 "{\"id\":\"$D1\",\"version\":\"2.0.0\",\"state\":\"downloading\"}"
check_eq "  ... does not wind it back" "$before" "$(snapshot)"
answer "installed again under a new id" 409 u-1 "{\"id\":\"$(uuid)\",\"version\":\"2.0.0\",\"state\":\"installed\"}"
check_json_in "$T/body" "  ... already_installed" "d['error'] == 'already_installed'"

# failed: the incident and the rollout's row in one transaction
check "u-2 is offered the release" offer u-2
F2=$(uuid)
answer "failed" 200 u-2 "{\"id\":\"$F2\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"flash write error at 0x8000\"}"
check_json_in "$T/body" "  ... not yet halted (one failure in two reports, under the minimum of 3)" "d['halted'] == False"
check_eq "an update_failure incident with the report's id" "update_failure error device update" \
    "$(sql "SELECT type || ' ' || severity || ' ' || source || ' ' || component FROM incidents WHERE id = '$F2'")"
check_json_in <(sql "SELECT details FROM incidents WHERE id = '$F2'") "  ... its details: version, rollout, reason" \
    "d == {'version': '2.0.0', 'rollout_id': $ro, 'reason': 'flash write error at 0x8000'}"
check_eq "  ... written in the same transaction as the rollout's row" "t" \
    "$(sql "SELECT i.xmin = d.xmin FROM incidents i, rollout_devices d WHERE i.id = '$F2' AND d.device_id = 'u-2'")"
check_eq "  ... which says failed, and why" "failed|flash write error at 0x8000" \
    "$(sql "SELECT state, reason FROM rollout_devices WHERE device_id = 'u-2'")"
answer "the failure retried" 200 u-2 "{\"id\":\"$F2\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"flash write error at 0x8000\"}"
check_eq "  ... one incident still" 1 "$(sql "SELECT count(*) FROM incidents WHERE type = 'update_failure'")"

# failures over the threshold (0.3 after 3 reports) halt the rollout
check "u-3 is offered the release" offer u-3
answer "a second failure: 2 of 3 reports" 200 u-3 "{\"id\":\"$(uuid)\",\"version\":\"2.0.0\",\"state\":\"failed\",\"reason\":\"boot loop\"}"
check_json_in "$T/body" "  ... halted the rollout, says the answer" "d['halted'] == True"
check_json_in <(sql "SELECT halt_reason FROM rollouts WHERE id = $ro") "the rollout is halted on install failures" \
    "d['kind'] == 'install_failures' and d['failed'] == 2 and d['reported'] == 3"
check_eq "  ... audited as vigild's" "1" \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'rollout.halted' AND actor = 'vigild' AND details->>'rollout_id' = '$ro'")"
halted() { [ "$(dcurl "$D" u-4 -o /dev/null -D "$T/h" -w '%{http_code}' "$U/v1/update")" = 204 ] && grep -qi 'X-Vigil-Reason: halted' "$T/h"; }
wait_for() { for _ in $(seq 1 50); do "$@" && return 0; sleep 0.1; done; "$@"; }
check "a halted rollout answers 204 halted" wait_for halted
check "  ... and offers nothing more" test "$(rows u-4)" = 0

# a database outage: 503, nothing written
rel_b=$(rf_release 2.1.0 1 sensor "$T/fw.bin")
ro_b=$(rf_rollout "$rel_b" 10000 "" 0.5 5)
check "u-5 is offered 2.1.0" offer u-5
counts() { sql "SELECT (SELECT count(*) FROM incidents) || ' ' || (SELECT count(*) FROM incident_keys) || ' ' || (SELECT string_agg(state, ',') FROM rollout_devices WHERE device_id = 'u-5')"; }
before=$(counts)
pg_stop >/dev/null 2>&1
answer "database down" 503 u-5 "{\"id\":\"$(uuid)\",\"version\":\"2.1.0\",\"state\":\"failed\",\"reason\":\"x\"}"
check_contains "  ... with Retry-After" "Retry-After:" "$T/h"
check_json_in "$T/body" "  ... unavailable" "d['error'] == 'unavailable'"
pg_restart >/dev/null 2>&1
check_eq "  ... nothing was written" "$before" "$(counts)"

# post-install health: updated devices crash, the others do not
install() {  # install ID: offered, then installed (retried while vigild reconnects)
    local id
    id=$(uuid)
    offer "$1" || return 1
    for _ in $(seq 1 50); do
        [ "$(post "$1" "{\"id\":\"$id\",\"version\":\"2.1.0\",\"state\":\"installed\"}")" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}
for i in 5 6 7; do install "u-$i"; done
check_eq "three devices installed 2.1.0" 3 "$(sql "SELECT count(*) FROM rollout_devices WHERE rollout_id = $ro_b AND state = 'installed'")"
for i in 5 6 7; do
    dcurl "$D" "u-$i" -H 'Content-Type: application/json' -d "$(report '' crash)" "$U/v1/incidents" >/dev/null
done
check "vigild's health check halts the rollout within 7 s" bash -c \
    "for i in \$(seq 1 70); do [ \"\$($PSQL '$VIGIL_DATABASE_URL' -Atqc 'SELECT state FROM rollouts WHERE id = $ro_b')\" = halted ] && exit 0; sleep 0.1; done; exit 1"
check_json_in <(sql "SELECT halt_reason FROM rollouts WHERE id = $ro_b") "  ... on health, with both rates" \
    "d['kind'] == 'health' and d['updated_crashes'] == 3 and d['updated_rate'] > 0 and d['control_rate'] == 0 and d['control_devices'] >= 4"

check "SIGTERM: vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
