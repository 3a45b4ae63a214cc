#!/usr/bin/env bash
# bench.sh - `make bench`: vigild against its references, side by side, in one
# run on this machine: nginx with the same mutual-TLS setup answering 204 (the
# ceiling for TLS and HTTP) and COPY into the same table (the ceiling for the
# database). Prints each pair, the ratio and the goal. A benchmark, not a test:
# a missed goal is reported, not failed. But a fooled measurement is not one:
# each run's errors (vigil-bench's: 4xx, 5xx, 2xx not a success, other,
# transport) are in the table, a row with any is INVALID, and after each
# ingest run against vigild every report id it acknowledged is looked up in
# PostgreSQL (bench-acked.sh: stored exactly once). Certificate renewals
# (EST simplereenroll, fresh and keep-alive connections) are measured
# against vigild's own full handshakes, measured again right before them
# (on a shared machine a reference minutes away drifts), last, under a
# renewal policy that allows them (renewals_per_hour = 3600 per device, put
# back after), and the certificates vigild says it issued are counted in
# PostgreSQL. Updates (issue 12): a release of a BENCH_ARTIFACT_MIB MiB
# artifact for the test devices' class and a rollout at 100 % (vigilctl),
# then manifest checks (GET /v1/update, each answer the release's manifest
# byte for byte) against nginx's 204, artifact downloads (each body's
# SHA-256 checked) against nginx serving the same file, and the memory of a
# second vigild, just started, during BENCH_DOWNLOADS concurrent downloads
# of it (bench-rss.sh), all after the idle row; the
# offers vigild recorded are counted in PostgreSQL. Any error or mismatch
# fails `make bench` (exit 1) after the table. Durations: BENCH_DURATION (s).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${VIGIL_BUILD:-build}  # the programs measured (as in bench_query.sh)
DUR=${BENCH_DURATION:-10}
DEVICES=${BENCH_DEVICES:-1000}
IDLE=${BENCH_IDLE:-10000}
ART_MIB=${BENCH_ARTIFACT_MIB:-100}
DOWNLOADS=${BENCH_DOWNLOADS:-100}
DL_CONNS=${BENCH_DOWNLOAD_CONNECTIONS:-10}
# shellcheck source=tools/vigil-bench/bench-env.sh
. tools/vigil-bench/bench-env.sh vigil-bench
start=$(date +%s.%N)
$B/vigil-bench enroll --count "$DEVICES" --out-dir "$W/dev"
echo "enrolled $DEVICES test devices in $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"

# The artifact, where nginx's workers (nobody, when we are root) read it.
chmod 711 "$W" && mkdir -m 755 "$W/www"
head -c $((ART_MIB * 1024 * 1024)) /dev/urandom >"$W/www/artifact.bin"
sha=$(sha256sum "$W/www/artifact.bin" | cut -d' ' -f1)

# start_vigild PORT LOG: a vigild on PORT in the background, its pid in $vigild_pid.
start_vigild() {
    VIGIL_TLS_CERT="$W/tls/server.crt" VIGIL_TLS_KEY="$W/tls/server.key" VIGIL_DEVICE_LISTEN="127.0.0.1:$1" \
        VIGIL_API_LISTEN="127.0.0.1:$(free_port)" \
        VIGIL_MAX_CONNECTIONS_PER_ADDRESS=1000000 VIGIL_DEVICE_RATE=1000000 VIGIL_DEVICE_BURST=1000000 \
        VIGIL_LOG_LEVEL=warn $B/vigild 2>"$2" &
    vigild_pid=$!; pids+=("$vigild_pid")
}
vport=$(free_port)
start_vigild "$vport" "$W/vigild.log"
vpid=$vigild_pid
nport=$(free_port)
bash tools/vigil-bench/bench-nginx.sh "$W/nginx" "$nport" "$W/tls/server.crt" "$W/tls/server.key" \
    "$W/chain.pem" "$(nproc)" "location = /v1/artifacts/$sha { alias $W/www/artifact.bin;
        default_type application/octet-stream; sendfile on; tcp_nopush on; }
    location / { return 204; }" &
pids+=($!)
wait_port "$vport"; wait_port "$nport"

# load ARGS...: one vigil-bench run's JSON. A run with errors (exit 3) shows
# in the table; one that could not run at all stops the bench.
load() {
    local rc=0
    $B/vigil-bench "$@" --ca "$W/chain.pem" --devices "$W/dev" --device-count "$DEVICES" \
        --duration "$DUR" --json || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || { echo "vigil-bench $1 could not run (exit $rc)" >&2; exit 1; }
}
# acked LOG: bench-acked.sh's line on the ids in LOG; it ends in ": ok" when
# each is stored once.
acked() { bash tools/vigil-bench/bench-acked.sh "$1" 2>&1 || true; }
q() { "${PSQL:-/usr/lib/postgresql/15/bin/psql}" -X -Atq -v ON_ERROR_STOP=1 "$VIGIL_DATABASE_URL" -c "$1"; }
ratio() { python3 -c "a=$1; b=$2; print('%.2f' % (a / b if b else 0))"; }
# memory_row JSON: vigild's memory during the concurrent downloads.
memory_row() {
    python3 - "$1" "$DOWNLOADS" "$ART_MIB" <<'PY'
import json, sys
try:
    j = json.loads(sys.argv[1])
except ValueError:
    j = {"clean": False, "ok": 0, "errors": 0, "downloads": 0}
n, mib = int(sys.argv[2]), int(sys.argv[3])
bad = []
if not j.get("clean"):
    bad.append("%d errors" % j["errors"] if j.get("downloads") else "no success")
if j.get("downloads", 0) < n:
    bad.append("%d of %d downloads done" % (j.get("downloads", 0), n))
if not j.get("rss_hwm_reset", False):
    bad.append("peak not reset")
peak, growth = j.get("rss_peak_kib", 0) / 1024, j.get("rss_growth_kib", 0) / 1024
per = j.get("rss_growth_kib", 0) / n
verdict = ("INVALID: " + ", ".join(bad) if bad else
           "growth %.0f KiB per download, %.2f%% of its %d MiB" % (per, 100 * per / 1024 / mib, mib))
name = "peak RSS, %d x %d MiB downloads" % (n, mib)
print("%-36s %12.1f %12s %-8s %7s %7s  (growth %.1f MiB over idle %.1f MiB; %s)"
      % (name, peak, "-", "MiB", j.get("errors", 0), "-", growth, j.get("rss_idle_kib", 0) / 1024, verdict))
PY
}
# row NAME VIGILD-JSON FIELD REFERENCE-JSON FIELD UNIT GOAL-OP GOAL: a pair
# of runs, their ratio against GOAL (GOAL-OP >= or <=); with GOAL-OP p99<=,
# an open loop at a fixed rate whose goal is vigild's p99 in ms.
row() {
    python3 - "$@" <<'PY' || printf '%-36s INVALID: the row could not be computed (above)\n' "$1"
import json, sys
name, vj, vf, rj, rf, unit, op, goal = sys.argv[1:]
runs = (("vigild", json.loads(vj)), ("reference", json.loads(rj)))
a, b = runs[0][1][vf], runs[1][1][rf]
r = a / b if b else 0
bad = ["%s %d errors" % (who, j["errors"]) if j["ok"] else "%s: no success" % who
       for who, j in runs if not j.get("clean", True)]
if op == "p99<=":
    goal_text = "p99 <= %s ms" % goal
    met = runs[0][1]["p99_ms"] <= float(goal)
    ratio = "%7s" % "-"
else:
    goal_text = "%s %sx" % (op, goal)
    met = r >= float(goal) if op == ">=" else r <= float(goal)
    ratio = "%6.2fx" % r
verdict = "INVALID: " + ", ".join(bad) if bad else "goal %s: %s" % (goal_text, "met" if met else "MISSED")
behind = [who for who, j in runs if j.get("per_second", 0) < 0.95 * j.get("scheduled_per_second", 0)]
if behind and not bad:
    verdict += "; fell behind the schedule: " + ", ".join(behind)
if "send_late_p99_ms" in runs[0][1]:   # the open loop: the client's own share of the latency
    verdict += "; vigil-bench sent p99 %s ms late" % " | ".join(
        "%.2f" % j.get("send_late_p99_ms", 0) for _, j in runs)
errors = "/".join(str(j.get("errors", 0)) for _, j in runs)
lat = " | ".join("%.2f/%.2f/%.2f" % (j.get("p50_ms", 0), j.get("p99_ms", 0), j.get("p999_ms", 0))
                 if "p50_ms" in j else "-" for _, j in runs)
print("%-36s %12.1f %12.1f %-8s %7s %s  %-29s (%s)" % (name, a, b, unit, errors, ratio, lat, verdict))
PY
}

echo "measuring (each run ${DUR}s, client and servers on the same $(nproc) cores)..."
hs_v=$(load handshakes --server "127.0.0.1:$vport" --connections 50)
hs_n=$(load handshakes --server "127.0.0.1:$nport" --connections 50 --reference)
rs_v=$(load handshakes --resume --server "127.0.0.1:$vport" --connections 50)
rs_n=$(load handshakes --resume --server "127.0.0.1:$nport" --connections 50 --reference)
in_v=$(load ingest --server "127.0.0.1:$vport" --connections 100 --acked-log "$W/acked-single")
ack_in=$(acked "$W/acked-single")
in_n=$(load ingest --server "127.0.0.1:$nport" --connections 100 --path / --reference)
# Latency under a realistic load: an open loop (requests on a fixed
# schedule, latency from when each was due) at half the peak just measured,
# against vigild and nginx at the same rate.
half=$(python3 -c "print(round($(echo "$in_v" | json per_second) / 2, 1))")
ol_v=$(load ingest --server "127.0.0.1:$vport" --connections 100 --rate "$half" --acked-log "$W/acked-open")
ack_ol=$(acked "$W/acked-open")
ol_n=$(load ingest --server "127.0.0.1:$nport" --connections 100 --path / --reference --rate "$half")
bt_v=$(load ingest --batch 100 --server "127.0.0.1:$vport" --connections 50 --acked-log "$W/acked-batch")
ack_bt=$(acked "$W/acked-batch")
rows=$(python3 -c "print(max(100000, int($(echo "$bt_v" | json reports_per_second) * $DUR)))")
cp_r=$($B/vigil-bench copy --rows "$rows" --batch 1000 --json)
idle() { $B/vigil-bench idle --server "127.0.0.1:$1" --ca "$W/chain.pem" --devices "$W/dev" \
           --device-count "$DEVICES" --count "$IDLE" --server-pid "$2" --json | json kib_per_connection; }
idle=$(idle "$vport" "$vpid")
idle_n=$(idle "$nport" "$(pgrep -d, -f "nginx: worker process" -P "$(cat "$W/nginx/nginx.pid")")")

# Updates, after the idle row (the downloads' buffers, freed but kept in
# vigild's heap, would hide the idle connections' cost): a release for the
# test devices' class (bench), a rollout at 100 %; the devices say they run
# bench-0, so each is offered bench-1.
export VIGIL_RELEASE_DIR="$W/release"
$B/vigilctl release key init >/dev/null
$B/vigilctl release create --artifact "$W/www/artifact.bin" --version bench-1 --security-version 1 \
    --class bench >/dev/null
$B/vigilctl rollout start bench-1 --percent 100 >/dev/null
q "SELECT manifest FROM releases WHERE version = 'bench-1'" >"$W/manifest.jws"
rollout=$(q "SELECT id FROM rollouts WHERE state = 'running'")
wait_offers() {  # wait_offers PORT: vigild's view follows the NOTIFY: wait until it offers
    for _ in $(seq 1 100); do
        $B/vigil-bench update --server "127.0.0.1:$1" --ca "$W/chain.pem" --devices "$W/dev" \
            --device-count 1 --connections 1 --threads 1 --warmup 0 --duration 0.1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
wait_offers "$vport" || echo "vigild offers no manifest for the rollout (the update row will say how)" >&2
up_v=$(load update --server "127.0.0.1:$vport" --connections 50 --manifest "$W/manifest.jws")
up_n=$(load update --server "127.0.0.1:$nport" --connections 50 --reference)
offers=$(q "SELECT count(*) FROM rollout_devices WHERE rollout_id = $rollout")
dl_v=$(load download --server "127.0.0.1:$vport" --connections "$DL_CONNS" --sha256 "$sha")
dl_n=$(load download --server "127.0.0.1:$nport" --connections "$DL_CONNS" --sha256 "$sha")
# The memory of DOWNLOADS concurrent downloads, one each over DOWNLOADS
# connections (started in the 2 s window, then waited for to the end), in
# a vigild of its own on the same database, just started (one update check
# made, to know its view is loaded), so that nothing before is in its heap.
mport=$(free_port)
start_vigild "$mport" "$W/vigild-mem.log"
mpid=$vigild_pid
wait_port "$mport" && wait_offers "$mport" || echo "the second vigild offers no manifest" >&2
mem=$(bash tools/vigil-bench/bench-rss.sh "$mpid" $B/vigil-bench download --server "127.0.0.1:$mport" \
    --ca "$W/chain.pem" --devices "$W/dev" --device-count "$DEVICES" --connections "$DOWNLOADS" \
    --sha256 "$sha" --warmup 0 --duration 2 --drain 1800 --json) || true
kill "$mpid"; wait "$mpid" 2>/dev/null || true

# Renewals, last, so that their certificates cannot touch the rows above
# (a policy that revokes superseded certificates would revoke the test
# devices'); the default policy (6 renewals per device and hour) would
# refuse them. Their reference is vigild's full handshakes, run again just
# before them. A renewal run that could not run gives a row marked
# INVALID, not a stop.
recorded() { q "SELECT count(*) FROM certificates WHERE renewed_from IS NOT NULL"; }
policy=$(q "SELECT renewals_per_hour FROM ca_policy")
q "UPDATE ca_policy SET renewals_per_hour = 3600"
failed='{"ok":0,"errors":0,"clean":false,"per_second":0,"renewed":-1}'
hs_r=$(load handshakes --server "127.0.0.1:$vport" --connections 50)
r0=$(recorded)
rn_f=$(load renew --server "127.0.0.1:$vport" --connections 50) || rn_f=$failed
r1=$(recorded)
rn_k=$(load renew --keepalive --server "127.0.0.1:$vport" --connections 50) || rn_k=$failed
r2=$(recorded)
q "UPDATE ca_policy SET renewals_per_hour = $policy"
# issued NAME JSON FROM TO: vigild's renewals of one run against PostgreSQL.
issued() {
    local n; n=$(echo "$2" | json renewed)
    echo "$1: $n renewed (answered and verified), $(($4 - $3)) recorded:" \
        "$([ "$n" -eq $(($4 - $3)) ] && [ "$n" -gt 0 ] && echo ok || echo MISMATCH)"
}
iss_f=$(issued "fresh connections" "$rn_f" "$r0" "$r1")
iss_k=$(issued "keep-alive" "$rn_k" "$r1" "$r2")
# The update run's 50 devices were each offered the release once.
offers_line="$offers rollout_devices rows for the 50 devices answered the manifest:"
offers_line+=" $([ "$offers" -eq 50 ] && echo ok || echo MISMATCH)"

echo
printf '%-36s %12s %12s %-8s %7s %7s  %-29s\n' "" "vigild" "reference" "unit" "errors" "ratio" \
    "p50/p99/p99.9 ms (vigild | ref)"
table=$(
    row "full handshakes (vs nginx)" "$hs_v" per_second "$hs_n" per_second "/s" ">=" 1.0
    row "renewals, fresh connections (vs hs)" "$rn_f" per_second "$hs_r" per_second "/s" ">=" 0
    row "renewals, keep-alive (vs hs)" "$rn_k" per_second "$hs_r" per_second "/s" ">=" 0.5
    row "resumed handshakes (vs nginx)" "$rs_v" per_second "$rs_n" per_second "/s" ">=" 1.0
    row "single-report ingest (vs nginx 204)" "$in_v" per_second "$in_n" per_second "req/s" ">=" 0.5
    row "single-report, open loop at $half/s" "$ol_v" per_second "$ol_n" per_second "req/s" "p99<=" 10
    row "batched ingest x100 (vs COPY)" "$bt_v" reports_per_second "$cp_r" rows_per_second "rows/s" ">=" 0.9
    row "manifest checks (vs nginx 204)" "$up_v" per_second "$up_n" per_second "/s" ">=" 0
    row "artifact download (vs nginx)" "$dl_v" mib_per_second "$dl_n" mib_per_second "MiB/s" ">=" 0.8
    memory_row "$mem"
)
echo "$table"
# The goal is nginx's memory with the same OpenSSL (issue 15): about 20.5
# KB of an idle mutual-TLS connection is OpenSSL's own; vigild must add
# nothing to it (met when the ratio rounds to 1.00x or less).
printf '%-36s %12.2f %12.2f %-8s %7s %6sx  (goal <= 1.0x nginx: %s)\n' "idle connections ($IDLE, vs nginx)" "$idle" \
    "$idle_n" "KiB/conn" "-" "$(ratio "$idle" "$idle_n")" \
    "$(python3 -c "print('met' if $idle <= $idle_n * 1.005 else 'MISSED')")"
echo "errors: vigild's/the reference's answers that were not a success (vigil-bench --help)"
echo "latencies: of the successes in the measured window, per request (handshakes: connect to answer);"
echo "  the open loop sends each request when due, or at once when late, and counts from when it was due"
echo "renewals (vs hs): the reference is vigild's full handshakes/s run again just before them (the"
echo "  first row's run: $(echo "$hs_v" | json per_second)/s); 50 connections, new P-256 keys made before each run;"
echo "  fresh: one renewal per connection over all $DEVICES devices, keep-alive: 50 devices;"
echo "  policy renewals_per_hour = 3600 for these runs (was $policy, put back)"
echo "certificates vigild issued, counted in PostgreSQL (renewed_from set):"
echo "  $iss_f"
echo "  $iss_k"
echo "updates: release bench-1 of class bench ($ART_MIB MiB artifact), rollout $rollout at 100 %; the devices say"
echo "  they run bench-0 at security version 0; a check counts only with the release's manifest byte for"
echo "  byte (nginx: its 204); a download only with the artifact's SHA-256, $DL_CONNS connections, nginx"
echo "  serving the same file (sendfile on); memory: vigild's VmRSS every 50 ms and VmHWM (reset before)"
echo "  during $DOWNLOADS concurrent downloads, each over its own connection, waited for to the end, from"
echo "  a second vigild on the same database, just started (idle: its RSS then)"
echo "offers vigild recorded, counted in PostgreSQL: $offers_line"
echo "reports vigild acknowledged, looked up in PostgreSQL:"
echo "  single-report ingest: $ack_in"
echo "  open loop at $half/s:  $ack_ol"
echo "  batched ingest x100:  $ack_bt"
cat "$W/vigild.log" "$W/vigild-mem.log" | grep -q Sanitizer && { echo "vigild reported a sanitizer error"; exit 1; }
if grep -q INVALID <<<"$table" || ! grep -q ': ok$' <<<"$ack_in" || ! grep -q ': ok$' <<<"$ack_bt" ||
    ! grep -q ': ok$' <<<"$ack_ol" ||
    ! grep -q ': ok$' <<<"$offers_line" ||
    ! grep -q ': ok$' <<<"$iss_f" || ! grep -q ': ok$' <<<"$iss_k"; then
    echo "ERRORS in this run: the rows marked INVALID, the reports not stored once, the renewals" \
        "not recorded as answered, or the offers not recorded, are no measurement"
    exit 1
fi
exit 0
