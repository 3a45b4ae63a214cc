#!/usr/bin/env bash
# vigil-device end to end: its own key and CSR, enrolled; reports land with
# the device id from the certificate; a retry is stored once; batches; the
# on-disk queue survives the server being down and the stub being killed.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
Q="$T/queue"
dev() { "$VIGIL_DEVICE" "$@" --server "127.0.0.1:$port" --cert "$T/d/sensor-1.crt" --key "$T/d/sensor-1.key" --ca "$T/chain.pem" --queue-dir "$Q"; }
rows() { sql "SELECT count(*) FROM incidents WHERE source = 'device' $1"; }

check "keygen makes a key and a CSR" "$VIGIL_DEVICE" keygen --id sensor-1 --out-dir "$T/d"
check_eq "the key is 0600" "600" "$(stat -c %a "$T/d/sensor-1.key")"
check "the CSR enrolls" "$VIGILCTL" device enroll --csr "$T/d/sensor-1.csr"
cp "$T/out" "$T/d/sensor-1.crt"

# The server is not running yet: the report waits in the queue.
check_exit 75 "server down: exit 75, still queued" dev report --type watchdog_reset --max-time 1500ms
check_eq "one report in the queue" "1" "$(ls "$Q"/*.json | wc -l)"
vigild_start main "$port"
check "flush delivers it" dev flush --json
check_json "summary says stored" "d['stored']==1 and d['queued']==0"
check_eq "stored with the certificate's device id" "sensor-1 watchdog_reset" "$(sql "SELECT device_id || ' ' || type FROM incidents WHERE source='device'")"

check_eq "the device's last address is recorded" "127.0.0.1" "$(sql "SELECT host(last_address) FROM devices WHERE id = 'sensor-1' AND last_seen_at IS NOT NULL")"

cat >"$T/spoof.json" <<'J'
{"type":"tamper","severity":"critical","occurred_at":"2026-11-25T00:00:00Z","device_id":"someone-else","details":{"sensor":"lid"}}
J
check "a body's device_id is ignored" dev report --file "$T/spoof.json"
check_eq "stored under sensor-1" "sensor-1" "$(sql "SELECT device_id FROM incidents WHERE type='tamper'")"

id=$(cat /proc/sys/kernel/random/uuid)
check "a report" dev report --id "$id" --json
check_json "stored" "d['stored']==1"
check "the same report again" dev report --id "$id" --json
check_json "is a duplicate" "d['duplicate']==1 and d['stored']==0"
check_eq "stored once" "1" "$(rows "AND id = '$id'")"

python3 - "$T/batch.json" <<'PY'
import json, sys, uuid, datetime
now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
json.dump([{"id": str(uuid.uuid4()), "type": "crash", "severity": "error", "occurred_at": now,
            "component": "fw", "firmware_version": "2.0.%d" % i, "details": {"pc": hex(0x8000 + i)}}
           for i in range(50)], open(sys.argv[1], 'w'))
PY
check "a batch file of 50" dev report --file "$T/batch.json" --json
check_json "50 stored" "d['stored']==50"
check_eq "50 rows" "50" "$(rows "AND firmware_version LIKE '2.0.%'")"
check_eq "each with its group, as the database defines it" "50" \
    "$(rows "AND firmware_version LIKE '2.0.%' AND fingerprint = vigil_incident_group(type, component, details)")"
check_eq "50 groups (one per pc)" "50" \
    "$(sql "SELECT count(DISTINCT fingerprint) FROM incidents WHERE firmware_version LIKE '2.0.%'")"

twin=$(cat /proc/sys/kernel/random/uuid)
printf '[%s,%s]' "$(report "$twin")" "$(report "$twin")" >"$T/twins.json"
# post FILE [CURL-ARGS...]: sensor-1 POSTs FILE with stock curl
post() {
    curl -sS --cacert "$T/chain.pem" --cert "$T/d/sensor-1.crt" --key "$T/d/sensor-1.key" \
        -H 'Content-Type: application/json' --data-binary @"$1" "${@:2}" "https://127.0.0.1:$port/v1/incidents"
}
# race N FILE: N connections POST FILE at once; the answers land in FILE.1 .. FILE.N
race() {
    local racers=()
    for i in $(seq 1 "$1"); do
        post "$2" -o "$2.$i" & racers+=($!)
    done
    wait "${racers[@]}"
}
# answered FILE STATUS: how many reports the answers of race FILE gave STATUS
answered() { cat "$1".[0-9]* | grep -o "\"status\":\"$2\"" | wc -l; }

check "one request carrying the same report twice" post "$T/twins.json"
check_json "first stored, second a duplicate" "[r['status'] for r in d['results']] == ['stored', 'duplicate']"
check_eq "stored once" "1" "$(rows "AND id = '$twin'")"

# the same report from 20 connections at once: both workers race
race=$(cat /proc/sys/kernel/random/uuid)
report "$race" >"$T/race.json"
race 20 "$T/race.json"
check_eq "20 concurrent copies of a report: one stored" "1" "$(answered "$T/race.json" stored)"
check_eq "the other 19 told duplicate" "19" "$(answered "$T/race.json" duplicate)"
check_eq "one row" "1" "$(rows "AND id = '$race'")"

# the same batch of 100 from 10 connections at once: a worker's second lane
# opens for 64 queued reports, so its two lanes race each other too
python3 - "$T/race100.json" <<'PY'
import json, sys, uuid
json.dump([{"id": str(uuid.uuid4()), "type": "x-race", "severity": "info",
            "occurred_at": "2026-11-25T00:00:00Z"} for _ in range(100)], open(sys.argv[1], 'w'))
PY
race 10 "$T/race100.json"
check_eq "10 concurrent copies of a batch of 100: 100 stored" "100" "$(answered "$T/race100.json" stored)"
check_eq "the other 900 told duplicate" "900" "$(answered "$T/race100.json" duplicate)"
check_eq "100 rows" "100" "$(rows "AND type = 'x-race'")"

echo '[{"type":"crash","severity":"loud","occurred_at":"2026-11-25T00:00:00Z"}]' >"$T/bad.json"
check_exit 1 "a report rejected for good: exit 1" dev report --file "$T/bad.json"
check "it moved to rejected/ with its reason" grep -q severity "$Q"/rejected/*.reason

# kill -9 the stub in the middle of sending 300 reports, then flush.
before=$(rows "")
dev report --count 300 --type x-soak >/dev/null 2>&1 &
stub=$!
for _ in $(seq 1 100); do [ "$(rows "AND type = 'x-soak'")" -gt 0 ] && break; sleep 0.05; done
kill -9 "$stub" 2>/dev/null; wait "$stub" 2>/dev/null
check "after kill -9, flush delivers the rest" dev flush --max-time 20s
check_eq "all 300 stored" "300" "$(rows "AND type = 'x-soak'")"
check_eq "none twice" "300" "$(sql "SELECT count(DISTINCT id) FROM incidents WHERE type = 'x-soak'")"
check_eq "queue empty" "0" "$(ls "$Q"/*.json 2>/dev/null | wc -l)"

"$VIGILCTL" cert revoke --device sensor-1 --reason keyCompromise >/dev/null
check_exit 3 "a revoked device is told so: exit 3" dev report
check_contains "with the server's reason" "revoked" "$T/err"
check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
