#!/usr/bin/env bash
# Nothing acknowledged is lost: vigild killed with -9 while vigil-bench is
# sending, and PostgreSQL stopped under load (503s, no crash, service comes
# back). Every report id the client saw acknowledged must be in PostgreSQL,
# and none twice.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
BENCH="$VIGIL_BUILD/vigil-bench"
"$BENCH" enroll --count 20 --out-dir "$T/dev" >/dev/null
port=$(free_port)
limits=(VIGIL_DEVICE_RATE=100000 VIGIL_DEVICE_BURST=100000 VIGIL_RETRY_AFTER=1s)
vigild_start main "$port" "${limits[@]}"

bench() {  # bench SECONDS ACKED-LOG
    "$BENCH" ingest --server "127.0.0.1:$port" --ca "$T/chain.pem" --devices "$T/dev" --device-count 20 \
        --connections 10 --batch 5 --duration "$1" --warmup 0 --acked-log "$2" --json
}
stored_once() { PSQL=$PSQL bash "$REPO/tools/vigil-bench/bench-acked.sh" "$1"; }   # each acked id, once

# 1. kill -9 in the middle of the load, then start again
bench 8 "$T/acked1" >"$T/bench1.json" 2>"$T/bench1.err" &
load=$!
sleep 3
kill -9 "$(vigild_pid main)"
sleep 1
vigild_start main "$port" "${limits[@]}"
wait "$load"
n1=$(sort -u "$T/acked1" | wc -l)
check "the client saw reports acknowledged before and after the kill" test "$n1" -gt 50
check "every acknowledged report is in PostgreSQL, once ($n1)" stored_once "$T/acked1"
check_eq "none stored twice" "0" "$(sql "SELECT count(*) - count(DISTINCT (device_id, id)) FROM incidents WHERE source = 'device'")"

# 2. PostgreSQL stops under load and comes back
bench 9 "$T/acked2" >"$T/bench2.json" 2>"$T/bench2.err" &
load=$!
sleep 2
pg_stop
sleep 3
check "vigild survives the outage" kill -0 "$(vigild_pid main)"
pg_restart
wait "$load"
cp "$T/bench2.json" "$T/out"
check_json "the client got 503s during the outage, and successes around it" \
    "d['status_5xx'] > 0 and d['ok'] > 0"
n2=$(sort -u "$T/acked2" | wc -l)
check "every acknowledged report is in PostgreSQL, once ($n2)" stored_once "$T/acked2"
for _ in $(seq 1 50); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/chain.pem" --cert "$T/dev/bench-000003.crt" \
        --key "$T/dev/bench-000003.key" -H 'Content-Type: application/json' -d "$(report)" "https://127.0.0.1:$port/v1/incidents")
    [ "$code" = 200 ] && break
    sleep 0.2
done
check_eq "service resumes after PostgreSQL restarts" "200" "$code"
check_contains "vigild logged the outage" "database unavailable" "$T/main.log"
check_contains "  ... and its end" "database back" "$T/main.log"
check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
