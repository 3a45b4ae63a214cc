#!/usr/bin/env bash
# Live connections follow the registry: revoking a certificate closes its
# connections within a second on every vigild sharing the database, and so
# does decommissioning a device. SIGHUP reloads TLS without dropping
# connections; SIGTERM drains and exits 0.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
p1=$(free_port)
p2=$(free_port)
vigild_start one "$p1"
vigild_start two "$p2"
D="$T/dev"
for id in alpha beta gamma; do "$VIGILCTL" device create --id "$id" --out-dir "$D" >/dev/null 2>&1; done

hold() { hold_mtls "$D" "$@"; }   # hold ID PORT NAME

hold alpha "$p1" a1
hold alpha "$p2" a2
hold beta "$p1" b1
sleep 1
check "connections are up" still_open a1
start=$(date +%s%N)
"$VIGILCTL" cert revoke --device alpha --reason keyCompromise >/dev/null
check "revocation closes the connection on node one within 1 s" closed_within a1 "$start" 1000
check "and on node two within 1 s" closed_within a2 "$start" 1000
check "another device's connection stays open" still_open b1

hold gamma "$p2" g2
sleep 1
start=$(date +%s%N)
sql "UPDATE devices SET status = 'decommissioned' WHERE id = 'gamma'; SELECT pg_notify('vigil_registry', '{\"event\":\"device_status\",\"device_id\":\"gamma\",\"status\":\"decommissioned\"}')" >/dev/null
check "decommissioning closes the device's connection within 1 s" closed_within g2 "$start" 1000

kill -HUP "$(vigild_pid one)"
sleep 0.5
check_contains "SIGHUP reloads" "reloaded the TLS certificate" "$T/one.log"
check "SIGHUP keeps connections" still_open b1
check "new connections work after the reload" dcurl "$D" beta -H 'Content-Type: application/json' -d "$(report)" "https://127.0.0.1:$p1/v1/incidents"

check "SIGTERM: node one exits 0" vigild_stop one
check "its idle connections are closed" closed_within b1 "$(date +%s%N)" 2000
check "SIGTERM: node two exits 0" vigild_stop two
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log' '$T/two.log'"
finish
