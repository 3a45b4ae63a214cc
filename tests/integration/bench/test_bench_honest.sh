#!/usr/bin/env bash
# Runs on the release build too.
# vigil-bench is not fooled (tools/vigil-bench/bench_answer.c): against an
# nginx with the bench's mutual-TLS setup (bench-nginx.sh) that answers 400,
# or 200 with reports rejected, left to retry or not its own, or 204 where
# a device port owes results, it counts no success, counts each error by
# kind, says ERRORS and exits 3; only with --reference is nginx's 204 with
# no body a success. An open loop (--rate) never sends more than its
# schedule. Against a real vigild, a clean run's acknowledged ids
# (--acked-log) are each stored once in PostgreSQL (bench-acked.sh), and
# that check fails for an id not stored or stored twice. Each run is 1-2 s.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/bench_calls.sh"
bench_setup 4

# 2xx bodies a device port could send that acknowledge nothing sent.
results() { printf '{"results":[{"id":%s,"status":"%s"}],"stored":%s,"duplicate":0,"rejected":%s,"retry":%s}' "$@"; }
json200() { printf "location = /%s { default_type application/json; return 200 '%s'; }" "$1" "$2"; }
bench_nginx "location = /400 { return 400; } location = /204 { return 204; }
     $(json200 rejected "$(results null rejected 0 1 0)")
     $(json200 retry "$(results '"5b1c9b8e-0f5e-4c57-9b38-5a2f0c7d8e11"' retry 0 0 1)")
     $(json200 canned "$(results '"5b1c9b8e-0f5e-4c57-9b38-5a2f0c7d8e11"' stored 1 0 0)")"

load() {  # load PORT COMMAND [OPTIONS...]: a 1 s run of 4 connections, JSON out
    local port=$1; shift
    "$BENCH" "$@" --server "127.0.0.1:$port" --ca "$T/chain.pem" --devices "$T/dev" --device-count 4 \
        --connections 4 --threads 1 --warmup 0 --duration 1 --json
}
no_success="not d['clean'] and d['ok'] == 0 and d['per_second'] == 0 and d['reports_per_second'] == 0"

check_exit 3 "ingest answered 400: exit 3" load "$nport" ingest --path /400
check_json "  ... no success, no throughput, the 400s counted as 4xx errors" \
    "$no_success and d['errors_4xx'] > 0 and d['errors'] >= d['errors_4xx'] and d['status_4xx'] > 0"
check_exit 3 "  ... the same with --reference" load "$nport" ingest --reference --path /400
check_json "  ... no success there either" "$no_success and d['errors_4xx'] > 0"
check_exit 3 "handshakes answered 400: exit 3" load "$nport" handshakes --path /400
check_json "  ... no handshake counted" "$no_success and d['errors_4xx'] > 0"
check_exit 3 "the result line without --json" \
    "$BENCH" ingest --server "127.0.0.1:$nport" --ca "$T/chain.pem" --devices "$T/dev" --device-count 4 \
    --connections 4 --threads 1 --warmup 0 --duration 1 --path /400
check_contains "  ... says ERRORS" "ERRORS:" "$T/out"
check_contains "  ... and that nothing was measured" "no success: nothing was measured" "$T/out"

for answer in rejected retry canned; do
    check_exit 3 "200 with a report $answer: exit 3" load "$nport" ingest --path "/$answer"
    check_json "  ... not counted: a 2xx error each" "$no_success and d['errors_2xx'] > 0 and d['status_2xx'] > 0"
done
check_exit 3 "a batch answered with one result: exit 3" load "$nport" ingest --batch 5 --path /canned
check_exit 3 "204 with no body acknowledges no report of a device port" load "$nport" ingest --path /204
check_json "  ... a 2xx error each" "$no_success and d['errors_2xx'] > 0"
check_exit 3 "with --reference, a 200 with a body is not the reference's answer" \
    load "$nport" ingest --reference --path /rejected
check "with --reference, the reference's 204 with no body is a success" load "$nport" ingest --reference --path /204
check_json "  ... clean, with a rate" "d['clean'] and d['ok'] > 0 and d['per_second'] > 0 and d['errors'] == 0"
check_exit 2 "--acked-log with --reference is refused" \
    load "$nport" ingest --reference --path /204 --acked-log "$T/acked-ref"

# The open loop (--rate): requests on a schedule, never more than it holds
# (200/s for 1 s over 4 connections: at most 200 due, plus one each in
# flight at the end), whatever the server could take.
check "an open loop at 200/s (--rate) against the reference" \
    load "$nport" ingest --reference --path /204 --rate 200
cp "$T/out" "$T/open.json"
check_json_in "$T/open.json" "  ... clean, and says its schedule" "d['clean'] and d['scheduled_per_second'] == 200"
check_json_in "$T/open.json" "  ... never ahead of it (at most 204 answers in all)" "0 < d['status_2xx'] <= 204"
# Each request's lateness is part of its latency; the two sample sets are
# of nearly the same requests (due vs answered in the window).
check_json_in "$T/open.json" "  ... and says how late it sent them, within their latency" \
    "0 <= d['send_late_p50_ms'] <= d['send_late_p99_ms'] <= d['p99_ms'] + 1"
check_exit 2 "--rate with handshakes is refused (a closed loop only)" \
    load "$nport" handshakes --reference --path /204 --rate 200
check_contains "  ... saying where it goes" "--rate is 0 to 10000000 requests/s in all, with ingest" "$T/err"

# A real vigild: every acknowledged report is in PostgreSQL once.
vport=$(free_port)
vigild_start main "$vport" VIGIL_DEVICE_RATE=1000000 VIGIL_DEVICE_BURST=1000000 || exit 1
check "ingest against vigild: a clean run, exit 0" load "$vport" ingest --duration 2 --acked-log "$T/acked1"
check_json "  ... successes, no errors, ids acknowledged" \
    "d['clean'] and d['ok'] > 0 and d['errors'] == 0 and d['acked'] >= d['ok']"
acked1=$(python3 -c "import json; print(json.load(open('$T/last.json'))['acked'])")
check_eq "  ... one line per acknowledged id in the log" "$acked1" "$(wc -l <"$T/acked1")"
check "  ... each stored once in PostgreSQL" bash "$REPO/tools/vigil-bench/bench-acked.sh" "$T/acked1"
check_contains "  ... as the check says" "0 missing, 0 stored more than once: ok" "$T/out"
check "batches of 10 against vigild: clean" load "$vport" ingest --batch 10 --acked-log "$T/acked2"
check_json "  ... ten acknowledged ids per counted request, at least" \
    "d['clean'] and d['acked'] >= 10 * d['ok'] and abs(d['reports_per_second'] - 10 * d['per_second']) < 1"
check "  ... each stored once in PostgreSQL" bash "$REPO/tools/vigil-bench/bench-acked.sh" "$T/acked2"
check "handshakes against vigild: its 404 not_found to the probe counts" load "$vport" handshakes
check_json "  ... clean" "d['clean'] and d['ok'] > 0"

(cat "$T/acked1"; cat /proc/sys/kernel/random/uuid) >"$T/acked-bogus"
check_exit 1 "the check fails for an acknowledged id that is not stored" \
    bash "$REPO/tools/vigil-bench/bench-acked.sh" "$T/acked-bogus"
check_contains "  ... and says which way" "1 missing, 0 stored more than once: MISMATCH" "$T/out"
twice=$(head -n 1 "$T/acked1")
sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at)
     SELECT id, device_id, source, type, severity, occurred_at FROM incidents WHERE id = '$twice'" >/dev/null
check_exit 1 "the check fails for an id stored twice" bash "$REPO/tools/vigil-bench/bench-acked.sh" "$T/acked1"
check_contains "  ... and says which way" "0 missing, 1 stored more than once: MISMATCH" "$T/out"
: >"$T/acked-empty"
check_exit 1 "the check fails when nothing was acknowledged" \
    bash "$REPO/tools/vigil-bench/bench-acked.sh" "$T/acked-empty"
check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
