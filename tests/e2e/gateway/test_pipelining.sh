#!/usr/bin/env bash
# Runs on the release build too.
# Pipelining on the device port: 1,000 requests written at once on one
# connection, mixing valid reports, 404s, 405s, 415s, HEADs and reports the
# device's rate limit refuses (answered at once, without the database), are
# all answered in order with no stall; every report answered "stored" is in
# PostgreSQL exactly once and none answered 429 is.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
# The limit makes some of the reports 429s; the idle timeout is the default
# (300 s), so a stall shows as pipeline.py's 10 s read timeout, not a close.
vigild_start main "$port" VIGIL_DEVICE_RATE=100 VIGIL_DEVICE_BURST=60
"$VIGILCTL" device create --id piper --out-dir "$T/d" >/dev/null 2>&1
pipeline() {
    python3 "$(dirname "$0")/pipeline.py" 127.0.0.1 "$port" "$T/chain.pem" "$T/d/piper.crt" \
        "$T/d/piper.key" "$1" "$T/$2.ids"
}

check "a 404 and a 405 pipelined get two answers" pipeline 2 two
cat "$T/out"
check "1,000 pipelined requests of every kind are all answered in order" pipeline 1000 mixed
cat "$T/out"
check "some reports were stored" test -s "$T/mixed.ids"
check "and some were rate-limited (the 429s were in the mix)" test -s "$T/mixed.ids.limited"

acked() { PSQL=$PSQL bash "$REPO/tools/vigil-bench/bench-acked.sh" "$1"; }   # each id, once
check "every report answered stored is in PostgreSQL exactly once" acked "$T/mixed.ids"
n=$(wc -l <"$T/mixed.ids.limited")
check_exit 1 "no report answered 429 is" acked "$T/mixed.ids.limited"
check_contains "  ... not one of the $n" ": 0 stored once, $n missing, 0 stored more than once" "$T/out"

check "the connection of a device that pipelines at its rate limit is served again" pipeline 50 after
vigild_stop main
check_eq "vigild exits 0" "0" "$?"

# One worker, three connections streaming pipelined 404s as fast as it takes
# them: another device's report is still answered at once (each connection
# gets a turn of a few dozen answers, then the others theirs; a connection
# that kept its worker made this one wait seconds).
port=$(free_port)
vigild_start one "$port" VIGIL_WORKERS=1
"$VIGILCTL" device create --id flooder --out-dir "$T/d" >/dev/null 2>&1
python3 "$(dirname "$0")/pipeflood.py" 127.0.0.1 "$port" "$T/chain.pem" "$T/d/flooder.crt" \
    "$T/d/flooder.key" 3 6 >"$T/flood.out" 2>&1 &
flood=$!
sleep 1.5
: >"$T/times"
for _ in $(seq 1 8); do
    dcurl "$T/d" piper -o /dev/null -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' \
        -d "$(report)" "https://127.0.0.1:$port/v1/incidents" >>"$T/times"
    sleep 0.3
done
wait "$flood"
cat "$T/flood.out" "$T/times"
check "the flood was answered meanwhile" grep -q '^[1-9][0-9]* answers' "$T/flood.out"
check_eq "another device's 8 reports during the flood were stored" "8" "$(grep -c '^200 ' "$T/times")"
check "each within a second" awk '$2 >= 1 { bad = 1 } END { exit bad }' "$T/times"
vigild_stop one
check_eq "vigild exits 0 after the flood" "0" "$?"
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log' '$T/one.log'"
finish
