#!/usr/bin/env bash
# GET /v1/update with a view that has not caught up: a release revoked or
# a rollout paused in the database without the NOTIFY reaching vigild
# (its LISTEN connection down, a reload in flight). A device not offered yet must not get the manifest (a 503 with
# Retry-After, nothing recorded: vigil_update_offered checks what is
# committed); once the NOTIFY comes it hears why. A device offered before
# still gets its manifest from memory until then (decisions from memory).
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../../lib/release_fixture.sh"
device_server
for i in 1 2 3 4; do
    "$VIGILCTL" device create --id "s-$i" --class sensor --out-dir "$D" >/dev/null 2>&1
done
head -c 20000 /dev/urandom >"$T/fw.bin"

# upd ID: GET /v1/update as ID; prints "200", "204 REASON" or the status
upd() {
    local code
    code=$(dcurl "$D" "$1" -o "$T/body" -D "$T/h" -w '%{http_code}' \
        -H 'X-Vigil-Version: 1.0.0' -H 'X-Vigil-Security-Version: 1' "$U/v1/update") || return 1
    if [ "$code" = 204 ]; then
        echo "204 $(tr -d '\r' <"$T/h" | sed -n 's/^x-vigil-reason: //Ip')"
    else
        echo "$code"
    fi
}
await() {
    for _ in $(seq 1 50); do
        [ "$(upd "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    echo "answer: $(upd "$1"), wanted $2" >&2
    return 1
}
offered() { sql "SELECT count(*) FROM rollout_devices WHERE device_id = '$1'"; }

rf_key main >/dev/null
rel=$(rf_release 2.0.0 5 sensor "$T/fw.bin")
rf_rollout "$rel" 10000 >/dev/null
check "s-1 is offered the release" await s-1 200

# ---- revoked, not yet notified ----
sql "UPDATE releases SET revoked_at = now(), revoked_by = 'test' WHERE id = $rel" >/dev/null
check_eq "s-1, offered before, still has it from memory" "200" "$(upd s-1)"
check_eq "s-2, never offered: no manifest of the revoked release" "503" "$(upd s-2)"
check_contains "  ... retry later" "Retry-After:" "$T/h"
check_eq "  ... and no offer recorded" "0" "$(offered s-2)"
sql "SELECT vigil_update_notify('release', $rel)" >/dev/null
check "after the NOTIFY: 204 revoked" await s-2 "204 revoked"

# ---- paused, not yet notified ----
rel2=$(rf_release 2.1.0 5 sensor "$T/fw.bin")
ro2=$(rf_rollout "$rel2" 10000)
check "s-3 is offered the new release" await s-3 200
sql "UPDATE rollouts SET state = 'paused' WHERE id = $ro2" >/dev/null
check_eq "s-4, never offered: no manifest of a paused rollout" "503" "$(upd s-4)"
check_eq "  ... and no offer recorded" "0" "$(offered s-4)"
sql "SELECT vigil_update_notify('rollout', $ro2)" >/dev/null
check "after the NOTIFY: 204 paused" await s-4 "204 paused"
sql "UPDATE rollouts SET state = 'running' WHERE id = $ro2; SELECT vigil_update_notify('rollout', $ro2)" >/dev/null
check "running again" await s-4 200

check_contains "vigild logged why it could not record the offer" "release $rel is revoked" "$T/main.log"

check "SIGTERM: vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
