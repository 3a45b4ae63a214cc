#!/usr/bin/env bash
# bench.sh - `make bench`: vigild against its references, side by side, in one
# run on this machine: nginx with the same mutual-TLS setup answering 204 (the
# ceiling for TLS and HTTP) and COPY into the same table (the ceiling for the
# database). Prints each pair, the ratio and the goal. A benchmark, not a test:
# a missed goal is reported, not failed. Durations: BENCH_DURATION (s).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build
DUR=${BENCH_DURATION:-10}
DEVICES=${BENCH_DEVICES:-1000}
IDLE=${BENCH_IDLE:-10000}
# shellcheck source=tools/vigil-bench/bench-env.sh
. tools/vigil-bench/bench-env.sh vigil-bench
start=$(date +%s.%N)
$B/vigil-bench enroll --count "$DEVICES" --out-dir "$W/dev"
echo "enrolled $DEVICES test devices in $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"

vport=$(free_port)
VIGIL_TLS_CERT="$W/tls/server.crt" VIGIL_TLS_KEY="$W/tls/server.key" VIGIL_DEVICE_LISTEN="127.0.0.1:$vport" \
    VIGIL_API_LISTEN="127.0.0.1:$(free_port)" \
    VIGIL_MAX_CONNECTIONS_PER_ADDRESS=1000000 VIGIL_DEVICE_RATE=1000000 VIGIL_DEVICE_BURST=1000000 \
    VIGIL_LOG_LEVEL=warn $B/vigild 2>"$W/vigild.log" &
vpid=$!; pids+=("$vpid")
nport=$(free_port)
bash tools/vigil-bench/bench-nginx.sh "$W/nginx" "$nport" "$W/tls/server.crt" "$W/tls/server.key" \
    "$W/chain.pem" "$(nproc)" 'location / { return 204; }' &
pids+=($!)
wait_port "$vport"; wait_port "$nport"

load() { $B/vigil-bench "$@" --ca "$W/chain.pem" --devices "$W/dev" --device-count "$DEVICES" --duration "$DUR" --json; }
ratio() { python3 -c "a=$1; b=$2; print('%.2f' % (a / b if b else 0))"; }
row() {  # row NAME VIGIL REF UNIT GOAL-OP GOAL
    local r; r=$(ratio "$2" "$3")
    local met; met=$(python3 -c "print('met' if $r $5 $6 else 'MISSED')")
    printf '%-34s %12.1f %12.1f %-10s %6sx  (goal %s %sx: %s)\n' "$1" "$2" "$3" "$4" "$r" "$5" "$6" "$met"
}

echo "measuring (each run ${DUR}s, client and servers on the same $(nproc) cores)..."
hs_v=$(load handshakes --server "127.0.0.1:$vport" --connections 50 | json per_second)
hs_n=$(load handshakes --server "127.0.0.1:$nport" --connections 50 --reference | json per_second)
rs_v=$(load handshakes --resume --server "127.0.0.1:$vport" --connections 50 | json per_second)
rs_n=$(load handshakes --resume --server "127.0.0.1:$nport" --connections 50 --reference | json per_second)
in_v=$(load ingest --server "127.0.0.1:$vport" --connections 100 | json per_second)
in_n=$(load ingest --server "127.0.0.1:$nport" --connections 100 --path / --reference | json per_second)
bt_v=$(load ingest --batch 100 --server "127.0.0.1:$vport" --connections 50 | json reports_per_second)
rows=$(python3 -c "print(max(100000, int($bt_v * $DUR)))")
cp_r=$($B/vigil-bench copy --rows "$rows" --batch 1000 --json | json rows_per_second)
idle() { $B/vigil-bench idle --server "127.0.0.1:$1" --ca "$W/chain.pem" --devices "$W/dev" \
           --device-count "$DEVICES" --count "$IDLE" --server-pid "$2" --json | json kib_per_connection; }
idle=$(idle "$vport" "$vpid")
idle_n=$(idle "$nport" "$(pgrep -d, -f "nginx: worker process" -P "$(cat "$W/nginx/nginx.pid")")")

echo
printf '%-34s %12s %12s %-10s %7s\n' "" "vigild" "reference" "unit" "ratio"
row "full handshakes (vs nginx)" "$hs_v" "$hs_n" "/s" ">=" 1.0
row "resumed handshakes (vs nginx)" "$rs_v" "$rs_n" "/s" ">=" 0
row "single-report ingest (vs nginx 204)" "$in_v" "$in_n" "req/s" ">=" 0.5
row "batched ingest x100 (vs COPY)" "$bt_v" "$cp_r" "rows/s" ">=" 0.7
printf '%-34s %12.2f %12.2f %-10s %6sx  (goal <= 16 KiB: %s)\n' "idle connections ($IDLE, vs nginx)" "$idle" \
    "$idle_n" "KiB/conn" "$(ratio "$idle" "$idle_n")" "$(python3 -c "print('met' if $idle <= 16 else 'MISSED')")"
grep -q Sanitizer "$W/vigild.log" && { echo "vigild reported a sanitizer error"; exit 1; }
exit 0
