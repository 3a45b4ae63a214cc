#!/usr/bin/env bash
# bench_query.sh - `make bench-query`: the operator API's incident queries on a
# fleet-sized history, while devices keep reporting. A throwaway PostgreSQL is
# seeded with BENCH_QUERY_INCIDENTS incidents (10,000,000) over
# BENCH_QUERY_DEVICES devices (100,000) across the last 30 days
# (`vigil-bench seed`); vigild is started with its operator port on a free
# loopback port, a viewer token is made, and `vigil-bench ingest` reports
# incidents from BENCH_QUERY_INGEST_DEVICES enrolled devices (100) for the
# whole measurement while `vigil-bench query` measures:
#   - one device's latest 50 incidents (GET /v1/incidents?device_id=..&limit=50,
#     a random device each time), BENCH_QUERY_RATE (200) requests/s over 4
#     connections, latency counted from when each request was due: goal
#     p99 <= 5 ms; then the same as fast as 4 connections go (no goal);
#   - fleet-wide stats of the last 24 hours, hourly by type
#     (GET /v1/incidents/stats?since=24h&bucket=1h&by=type),
#     BENCH_QUERY_STATS_RATE (2) requests/s over 2 connections: goal
#     p99 <= 100 ms; then one connection back to back (no goal: the time one
#     query takes when the scheduled rate is more than the server keeps up with).
# Prints each figure beside its goal, the ingest rate achieved meanwhile and
# how many incidents the 24-hour window held before and after. A benchmark,
# not a test: a missed goal is reported, not failed. Each query run lasts
# BENCH_DURATION seconds (20). BENCH_QUERY_INGEST="CONNECTIONS BATCH" ("4 1":
# single reports, each answered once committed) shapes the ingest load; "100 1"
# or "50 100" is the device port flat out, which adds rows to the 24-hour
# window far faster than 10 million incidents over 30 days did.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${VIGIL_BUILD:-build}
N=${BENCH_QUERY_INCIDENTS:-10000000}
D=${BENCH_QUERY_DEVICES:-100000}
DUR=${BENCH_DURATION:-20}
QRATE=${BENCH_QUERY_RATE:-200}
SRATE=${BENCH_QUERY_STATS_RATE:-2}
IDEV=${BENCH_QUERY_INGEST_DEVICES:-100}
read -r ICONN IBATCH <<<"${BENCH_QUERY_INGEST:-4 1}"
# shellcheck source=tools/vigil-bench/bench-env.sh
. tools/vigil-bench/bench-env.sh vigil-bench-query

echo "seeding $N incidents over $D devices (vigil-bench seed)..."
seed=$($B/vigil-bench seed --incidents "$N" --devices "$D" --days 30 --json)
echo "  $(echo "$seed" | json rows_per_second) rows/s with keys and indexes;" \
     "$(echo "$seed" | json total_seconds) s in all with VACUUM (ANALYZE); $(echo "$seed" | json size)"
$B/vigil-bench enroll --count "$IDEV" --out-dir "$W/dev" >/dev/null

vport=$(free_port)
aport=$(free_port)
VIGIL_TLS_CERT="$W/tls/server.crt" VIGIL_TLS_KEY="$W/tls/server.key" \
    VIGIL_DEVICE_LISTEN="127.0.0.1:$vport" VIGIL_API_LISTEN="127.0.0.1:$aport" \
    VIGIL_MAX_CONNECTIONS_PER_ADDRESS=1000000 VIGIL_DEVICE_RATE=1000000 VIGIL_DEVICE_BURST=1000000 \
    VIGIL_LOG_LEVEL=warn $B/vigild 2>"$W/vigild.log" &
pids+=($!)
if ! wait_port "$vport" || ! wait_port "$aport"; then
    echo "vigild did not open its device port $vport and operator port $aport:" >&2
    tail -n 20 "$W/vigild.log" >&2
    exit 1
fi
if ! (umask 077; $B/vigilctl token create --role viewer --name bench 2>"$W/token.err" |
      tail -n 1 >"$W/token"); then
    cat "$W/token.err" >&2
    exit 1
fi
# vigild folds the seeded history into the hourly counts once at start
# (seconds for 10 million rows); the measurement starts after that.
for _ in $(seq 1 120); do
    [ "$(psql -XAtq "$VIGIL_DATABASE_URL" -c "SELECT upto > '-infinity' FROM incident_counts_state")" = t ] && break
    sleep 1
done
window() { psql -XAtq "$VIGIL_DATABASE_URL" -c \
    "SELECT count(*) FROM incidents WHERE received_at >= now() - interval '24 hours'"; }

# Ingest runs through the four query runs (each: 1 s warm-up + DUR), with slack.
ingest_for=$((4 * (DUR + 1) + 4))
$B/vigil-bench ingest --server "127.0.0.1:$vport" --ca "$W/chain.pem" --devices "$W/dev" \
    --device-count "$IDEV" --connections "$ICONN" --batch "$IBATCH" --warmup 1 \
    --duration "$ingest_for" --json >"$W/ingest.json" &
ipid=$!
pids+=("$ipid")
sleep 2

query() { $B/vigil-bench query --api "127.0.0.1:$aport" --token-file "$W/token" --device-count "$D" \
            --duration "$DUR" --json "$@"; }
echo "measuring (each run ${DUR}s; ingest of $ICONN connections x $IBATCH reports runs throughout;"
echo "client, vigild and PostgreSQL on the same $(nproc) cores)..."
w0=$(window)
dl=$(query --kind device-latest --connections 4 --rate "$QRATE")
dx=$(query --kind device-latest --connections 4)
st=$(query --kind stats-24h --connections 2 --rate "$SRATE")
sx=$(query --kind stats-24h --connections 1)
w1=$(window)
wait "$ipid" || true
ing=$(cat "$W/ingest.json")

row() {  # row NAME JSON [GOAL-MS]
    python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
name, j, goal = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
if goal:
    ok = j["ok"] > 0 and j["p99_ms"] <= float(goal) and j["errors"] == 0
    verdict = "(goal p99 <= %s ms: %s)" % (goal, "met" if ok else "MISSED")
else:
    verdict = "(no goal)"
print("%-40s %8.1f %8.2f %8.2f %8.2f %8.2f %6.1f %6d  %s" % (
    name, j["per_second"], j["p50_ms"], j["p99_ms"], j["p999_ms"], j["max_ms"],
    j["items_per_answer"], j["errors"], verdict))
PY
}
echo
printf '%-40s %8s %8s %8s %8s %8s %6s %6s\n' "query ($N incidents, $D devices)" "req/s" "p50 ms" \
    "p99 ms" "p99.9 ms" "max ms" "items" "errors"
row "device's latest 50, $QRATE/s scheduled" "$dl" 5
row "device's latest 50, 4 conns flat out" "$dx"
row "24 h stats by type/1 h, $SRATE/s scheduled" "$st" 100
row "24 h stats, 1 conn back to back" "$sx"
echo "ingest meanwhile: $(echo "$ing" | json reports_per_second) reports/s committed" \
     "($(echo "$ing" | json per_second) requests/s of $IBATCH report(s) over $ICONN connections," \
     "$(echo "$ing" | json errors) errors); the 24-hour window held $w0 incidents before the" \
     "queries and $w1 after"
grep -q Sanitizer "$W/vigild.log" && { echo "vigild reported a sanitizer error"; exit 1; }
exit 0
