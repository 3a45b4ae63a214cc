#!/usr/bin/env bash
# A device's firmware version follows its reports: the newest report's
# version is written to the registry (and shown by the operator API and
# vigilctl), a late report made before an update never winds it back, and
# the version filter of GET /v1/devices finds the device.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start one "$port"
D="$T/dev"
"$VIGILCTL" device create --id fw-1 --out-dir "$D" >/dev/null 2>&1
TOKEN=$("$VIGILCTL" token create --role viewer --name fw 2>/dev/null | tail -n 1)

send() {  # send FIRMWARE OCCURRED_AT
    dcurl "$D" fw-1 -H 'Content-Type: application/json' "https://127.0.0.1:$port/v1/incidents" \
        -d "{\"id\":\"$(cat /proc/sys/kernel/random/uuid)\",\"type\":\"crash\",\"severity\":\"error\",\"occurred_at\":\"$2\",\"firmware_version\":\"$1\"}"
}
firmware_is() {  # waits up to 3 s for the registry to say $1
    for _ in $(seq 1 30); do
        [ "$(sql "SELECT firmware_version FROM devices WHERE id = 'fw-1'")" = "$1" ] && return 0
        sleep 0.1
    done
    echo "firmware is '$(sql "SELECT firmware_version FROM devices WHERE id = 'fw-1'")'" >&2
    return 1
}

check "a report with firmware 1.0.0 is stored" send 1.0.0 "$(date -u -d '-10 min' +%FT%TZ)"
check "the device's firmware is 1.0.0" firmware_is 1.0.0
check "a report from 2.0.0" send 2.0.0 "$(date -u -d '-1 min' +%FT%TZ)"
check "the device's firmware is 2.0.0" firmware_is 2.0.0
check "a late report made before the update, from 1.0.0" send 1.0.0 "$(date -u -d '-5 min' +%FT%TZ)"
sleep 0.5
check "the firmware stays 2.0.0" firmware_is 2.0.0
check "the API lists the device by firmware" curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" \
    "http://$(vigild_api one)/v1/devices?firmware_version=2.0.0"
check_json "  ... with its version" "[i['id'] for i in d['items']] == ['fw-1'] and d['items'][0]['firmware_version'] == '2.0.0'"
check "vigilctl devices --firmware shows it" "$VIGILCTL" devices --firmware 2.0.0 --json
check_json "  ... too" "[i['id'] for i in d] == ['fw-1']"
# The workers' registry connection, which writes the firmware, is lost
# again and again while a report commits (the ingest connections stay):
# the firmware waits for the connection and is written once it is back.
kill_registry() {
    for _ in $(seq 1 60); do
        sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE application_name LIKE 'vigild-registry-%'" >/dev/null 2>&1
        sleep 0.03
    done
}
kill_registry &
killer=$!
sleep 0.3
check "a report from 3.0.0 while the registry connection is down" send 3.0.0 "$(date -u +%FT%TZ)"
wait "$killer"
firmware_back() { for _ in $(seq 1 10); do firmware_is 3.0.0 2>/dev/null && return 0; done; firmware_is 3.0.0; }
check "  ... its firmware is written when the connection is back" firmware_back
check_contains "  ... which it was" "database unavailable" "$T/one.log"
check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
