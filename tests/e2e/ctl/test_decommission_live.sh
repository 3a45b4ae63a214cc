#!/usr/bin/env bash
# The live effect of vigilctl's device status changes on a running vigild:
# `vigilctl device decommission` closes the device's open mTLS connection
# (the NOTIFY db_device_transition sends, as the API's) and its next
# handshake is refused; `device quarantine` leaves a connection open, and
# the quarantined device's reports are stored, marked (incidents
# --quarantined true).
. "$(dirname "$0")/../../lib/harness.sh"
device_server
mkdir -p "$D"
for id in dev-01 dev-02; do "$VIGILCTL" device create --id "$id" --out-dir "$D" >/dev/null 2>&1; done
me=$(id -un)

hold_mtls "$D" dev-01 "$port" c1
hold_mtls "$D" dev-02 "$port" c2
# both connections up: vigild logged the handshakes, or the clients are
# still running after a bounded wait
for _ in $(seq 1 40); do [ -s "$T/c1.out" ] && [ -s "$T/c2.out" ] && break; sleep 0.05; done
sleep 0.5
check "the connections are up" still_open c1
check "the second too" still_open c2

check "device quarantine dev-02 (CLI)" "$VIGILCTL" device quarantine dev-02 --reason "suspicious traffic"
sleep 0.5
check "quarantine leaves the live connection open" still_open c2

check "device decommission dev-01 (CLI)" "$VIGILCTL" device decommission dev-01 --reason "returned to vendor"
# a bounded wait of 1 s for vigild to close it
for _ in $(seq 1 20); do [ -s "$T/c1.closed" ] && break; sleep 0.05; done
check "the decommissioned device's connection is closed within 1 s" test -s "$T/c1.closed"
check "the other device's connection stays open" still_open c2
check_fails "its next handshake is refused" \
    dcurl "$D" dev-01 -f -o /dev/null -H 'Content-Type: application/json' -d "$(report)" "$U/v1/incidents"
check "vigilctl audit shows the CLI's row" "$VIGILCTL" audit --device dev-01 --action device.decommission --json
check_json "as the OS user, with the reason" \
    "len(d)==1 and d[0]['actor_kind']=='os' and d[0]['actor']=='$me' and d[0]['details']['reason']=='returned to vendor'"
check_eq "the same row in psql" "os|$me|returned to vendor" \
    "$(sql "SELECT actor_kind, actor, details->>'reason' FROM audit_log WHERE action='device.decommission' AND device_id='dev-01'")"

# the quarantined device still reports; vigild marks its reports (the
# mark is set by vigild from migration 0007 on; until the server side has
# it, only the listing of the filter is checked)
check "the quarantined device reports" \
    dcurl "$D" dev-02 -f -o /dev/null -H 'Content-Type: application/json' -d "$(report)" "$U/v1/incidents"
for _ in $(seq 1 40); do [ "$(sql "SELECT count(*) FROM incidents WHERE device_id='dev-02'")" -ge 1 ] && break; sleep 0.05; done
check_eq "its report is stored" "1" "$(sql "SELECT count(*) FROM incidents WHERE device_id='dev-02'")"
check "incidents --quarantined false --json" "$VIGILCTL" incidents --quarantined false --json
check_json "lists only unmarked reports" "all(i['quarantined'] is False for i in d)"
finish
