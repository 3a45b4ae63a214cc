#!/usr/bin/env bash
# vigil-device run with 1-minute certificates: it renews by itself at two
# thirds of each lifetime, five times in a row (a lineage of five in the
# registry), reports every 2 s throughout (every report it queued is
# stored exactly once), a second vigild on the same database accepts each
# new certificate at once, and SIGTERM stops it with exit 0 after a flush.
# A certificate is good for its validity from the moment of issue, and its
# notBefore is 60 s earlier (clock skew), so a 60 s certificate spans
# 120 s and is renewed ~20 s after issue: the five renewals take about two
# minutes.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
port2=$(free_port)
sql "UPDATE ca_policy SET renewal_validity_s = 60, renewals_per_hour = 100" >/dev/null
vigild_start main "$port"
vigild_start second "$port2"
D="$T/d"
Q="$T/queue"
cp "$T/chain.pem" "$T/device-ca.pem"       # the device refreshes its own copy
serial() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2 | sed 's/^0*//'; }
pub() { openssl pkey -in "$1" -pubout 2>/dev/null; }
cpub() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }

check "keygen" "$VIGIL_DEVICE" keygen --id sensor-run --out-dir "$D"
check "enroll with a 1-minute certificate" "$VIGILCTL" device enroll --csr "$D/sensor-run.csr" --validity 60s
cp "$T/out" "$D/sensor-run.crt"
first=$(serial "$D/sensor-run.crt")

"$VIGIL_DEVICE" run --server "127.0.0.1:$port" --cert "$D/sensor-run.crt" --key "$D/sensor-run.key" \
    --ca "$T/device-ca.pem" --queue-dir "$Q" --report-every 2s --max-time 240s --json \
    >"$T/run.out" 2>"$T/run.log" &
pid=$!
started=$(date +%s)
at_exit "kill -9 $pid"

# Each time the pair on disk changes, a report with it to the second vigild.
seen=0 second_ok=0 last=$first
mkdir -p "$T/snap"
for _ in $(seq 1 1600); do
    [ "$seen" -ge 5 ] && break
    kill -0 "$pid" 2>/dev/null || break
    s=$(serial "$D/sensor-run.crt")
    if [ -n "$s" ] && [ "$s" != "$last" ]; then
        cp "$D/sensor-run.crt" "$T/snap/s.crt" && cp "$D/sensor-run.key" "$T/snap/s.key"
        if [ "$(pub "$T/snap/s.key")" = "$(cpub "$T/snap/s.crt")" ]; then
            seen=$((seen + 1))
            last=$s
            if timeout 20 "$VIGIL_DEVICE" report --server "127.0.0.1:$port2" --cert "$T/snap/s.crt" \
                --key "$T/snap/s.key" --ca "$T/chain.pem" --queue-dir "$T/q2" --type x-second \
                --max-time 1s >>"$T/second.log" 2>&1; then
                second_ok=$((second_ok + 1))
            else
                echo "renewal $seen ($s): the second vigild refused it" >>"$T/second.log"
            fi
        fi
    fi
    sleep 0.2
done
ran=$(($(date +%s) - started))
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
cp "$T/run.log" "$T/err"
check_eq "run stops on SIGTERM with exit 0 (flushed)" "0" "$rc"
check_json_in "$T/run.out" "its summary says signal, 5 renewals" "d['stopped'] == 'signal' and d['renewals'] >= 5 and d['queued'] == 0"
check_eq "5 renewals seen on disk" "5" "$seen"
cp "$T/second.log" "$T/err"
check_eq "each new certificate accepted at once by the second vigild" "5" "$second_ok"
depth=$(sql "SELECT max(depth) FROM vigil_certificate_descendants('$first')")
check "a lineage of at least five renewals from the enrolled certificate ($depth)" \
    test "$depth" -ge 5
check_eq "one cert.renew audit row per renewal the device logged" \
    "$(grep -c 'vigil-device run: renewed ' "$T/run.log")" \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'cert.renew' AND device_id = 'sensor-run'")"
check_eq "each renewal good for 60 s from issue (the policy), notBefore 60 s back" "0" \
    "$(sql "SELECT count(*) FROM certificates WHERE device_id = 'sensor-run' AND renewed_from IS NOT NULL AND not_after - not_before <> interval '120 s'")"
check "the pair on disk authenticates at the end" dcurl "$D" sensor-run -H 'Content-Type: application/json' \
    -d "$(report)" "https://127.0.0.1:$port/v1/incidents"

sed -n 's/.*vigil-device run: queued report=\([0-9a-f-]*\).*/\1/p' "$T/run.log" >"$T/queued.ids"
n=$(wc -l <"$T/queued.ids")
# One report every 2 s for as long as it ran (five renewals of a 1-minute
# certificate take about 100 s), with room for a slow machine: at least 40%.
want=$((ran * 4 / 10))
[ "$want" -ge 20 ] || want=20
check "reports were queued every 2 s ($n in ${ran} s, at least $want)" test "$n" -ge "$want"
check "every report the device queued is stored exactly once ($n)" \
    env PSQL="$PSQL" bash "$REPO/tools/vigil-bench/bench-acked.sh" "$T/queued.ids"
check_eq "nothing left in the queue" "0" "$(ls "$Q"/*.json 2>/dev/null | wc -l)"
check_eq "reporting never paused for more than 10 s" "0" \
    "$(sql "SELECT count(*) FROM (SELECT received_at - lag(received_at) OVER (ORDER BY received_at) AS gap FROM incidents WHERE type = 'x-heartbeat') g WHERE gap > interval '10 s'")"
check "no backoff was needed" bash -c "! grep -q 'backoff what=renew' '$T/run.log'"
check "vigild exits 0" vigild_stop main
check "the second vigild exits 0" vigild_stop second
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log' '$T/second.log' '$T/run.log'"
finish
