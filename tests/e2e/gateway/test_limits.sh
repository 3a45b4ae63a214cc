#!/usr/bin/env bash
# Rate limits and the security events that watch the fleet: a device over
# its request budget gets 429 with Retry-After; an address over its
# connection limit is refused; a device seen from a new network and one
# certificate used from two addresses at once are recorded.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port" VIGIL_DEVICE_RATE=1 VIGIL_DEVICE_BURST=2 VIGIL_MAX_CONNECTIONS_PER_ADDRESS=3
D="$T/dev"
for id in busy roamer twin; do "$VIGILCTL" device create --id "$id" --out-dir "$D" >/dev/null 2>&1; done
URL="https://127.0.0.1:$port/v1/incidents"
event() {  # event TYPE REASON: waits for the row
    for _ in $(seq 1 50); do
        [ "$(sql "SELECT count(*) FROM incidents WHERE source='server' AND type='$1' AND details->>'reason'='$2'")" -ge 1 ] && return 0
        sleep 0.1
    done
    return 1
}

# request budget: 1/s with a burst of 2, five requests at once
for i in 1 2 3 4 5; do
    dcurl "$D" busy -o /dev/null -D "$T/h$i" -w '%{http_code}\n' -H 'Content-Type: application/json' -d "$(report)" "$URL"
done >"$T/codes"
check_contains "over the budget: 429" "429" "$T/codes"
check_contains "and the first ones were served" "200" "$T/codes"
check "with Retry-After" grep -qi '^Retry-After: ' "$T"/h*
check "rate-limit trip recorded" event x-rate-limited device_requests

# connections per address: three held open, the fourth refused
pids=()
for i in 1 2 3; do
    openssl s_client -quiet -connect "127.0.0.1:$port" -CAfile "$T/chain.pem" -cert "$D/twin.crt" -key "$D/twin.key" \
        < <(sleep 6) >/dev/null 2>&1 & pids+=($!)
done
sleep 1.5
check_fails "a fourth connection from the same address is refused" \
    curl -sS --max-time 5 --cacert "$T/chain.pem" --cert "$D/roamer.crt" --key "$D/roamer.key" -o /dev/null "$URL"
check "connection-limit trip recorded" event x-rate-limited connection_limit

# the same certificate from another address while those are open
check "the twin certificate from 127.0.0.2" dcurl "$D" twin --interface 127.0.0.2 -H 'Content-Type: application/json' -d "$(report)" "$URL"
check "concurrent use recorded" event network_anomaly concurrent_use
kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null

# a device known on 127.0.0.0/24 shows up from 127.0.1.0/24
check "roamer from its usual network" dcurl "$D" roamer -H 'Content-Type: application/json' -d "$(report)" "$URL"
check "roamer from a new network" dcurl "$D" roamer --interface 127.0.1.7 -H 'Content-Type: application/json' -d "$(report)" "$URL"
check "new network recorded" event network_anomaly new_network
check_eq "naming the device" "roamer" "$(sql "SELECT device_id FROM incidents WHERE details->>'reason'='new_network'")"
check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
