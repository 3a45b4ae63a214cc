#!/usr/bin/env bash
# Runs on the release build too.
# vigil-bench update and download count right (tools/vigil-bench/bench_update.c).
# Against nginx with the bench's mutual-TLS setup (bench-nginx.sh) serving a
# 3 MiB file: a download counts only with the right SHA-256, and every one
# the bench counts is one nginx logged sent whole; with a wrong --sha256
# every download is an error ("2xx not a success", bad_digest) and the run
# exits 3, as it does for a 404 or a 204. An update check counts only as
# asked: nginx's 204 with --reference; a 204 with X-Vigil-Reason with
# --expect 204 (and only that reason with --reason); a 200 with a compact
# JWS of typ vigil-manifest, Content-Type application/jose and
# X-Vigil-Rollout by default (and only the manifest of --manifest when
# given); everything else is an error of its kind. bench-rss.sh adds the
# server's memory to a run's JSON. Against a real vigild with a release of
# the same file and a rollout at 100 % (vigilctl): the manifest checks
# count and each device is offered once in PostgreSQL; a device up to date,
# or a paused rollout, is a 204 that counts only when the bench is told to
# expect it (with that reason); the artifact downloads with its digest, a
# wrong --sha256 makes every download an error and an artifact vigild does
# not serve is a 404 each. No timing is asserted; each run is 1-2 s.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/bench_calls.sh"
bench_setup 4

# The files nginx serves, where its workers (nobody, when we are root) read them.
mkdir -m 755 "$T/www" && chmod 711 "$T"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/www/artifact"
sha=$(sha256sum "$T/www/artifact" | cut -d' ' -f1)
other=$(printf 'another artifact' | sha256sum | cut -d' ' -f1)
head -c 1000 /dev/urandom >"$T/www/small"
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }
jws() {  # jws TYP: a compact JWS shape (header, payload, signature) of that typ
    printf '%s.%s.%s' "$(printf '{"alg":"ES256","kid":"k","typ":"%s"}' "$1" | b64url)" \
        "$(printf '{"version":"2.0.0"}' | b64url)" "$(head -c 64 /dev/urandom | b64url)"
}
jws vigil-manifest >"$T/manifest.jws"
jws vigil-manifest >"$T/other.jws"
jose_200() {  # jose_200 NAME BODY [ROLLOUT-HEADER]
    printf "location = /%s { default_type application/jose; %s return 200 '%s'; }" "$1" \
        "${3-add_header X-Vigil-Rollout 7;}" "$2"
}
bench_nginx "location = /v1/artifacts/$sha { alias $T/www/artifact; default_type application/octet-stream;
         sendfile on; access_log $T/nginx/artifact.log; }
     location = /small { alias $T/www/small; }
     location = /missing { return 404; }
     location = /reason { add_header X-Vigil-Reason up_to_date always; return 204; }
     $(jose_200 jws "$(cat "$T/manifest.jws")")
     $(jose_200 norollout "$(cat "$T/manifest.jws")" '')
     $(jose_200 typ "$(jws JWT)")
     $(jose_200 garbage 'not.a jws.at all')
     location = /plain { default_type text/plain; add_header X-Vigil-Rollout 7; return 200 '$(cat "$T/manifest.jws")'; }
     location / { return 204; }"

load() {  # load PORT COMMAND [OPTIONS...]: a 1 s run of 4 connections, JSON out
    local port=$1; shift
    "$BENCH" "$@" --server "127.0.0.1:$port" --ca "$T/chain.pem" --devices "$T/dev" --device-count 4 \
        --connections 4 --threads 2 --warmup 0.2 --duration 1 --json
}
no_success="not d['clean'] and d['ok'] == 0 and d['per_second'] == 0"

# ---- downloads, against nginx ----
check "download with the right digest: a clean run, exit 0" load "$nport" download --sha256 "$sha"
check_json "  ... downloads and throughput, no error, no wrong digest" \
    "d['clean'] and d['mode'] == 'downloads' and d['downloads'] > 0 and d['errors'] == 0 \
and d['bad_digest'] == 0 and d['mib_per_second'] > 0 and 0 < d['bytes'] <= d['downloads'] * 3 * 2**20"
sent=$(awk -v n=$((3 * 1024 * 1024)) '$9 == 200 && $10 == n' "$T/nginx/artifact.log" | wc -l)
check_eq "  ... each one counted is one nginx logged sent whole (the end waited for)" \
    "$(python3 -c "import json; print(json.load(open('$T/last.json'))['downloads'])")" "$sent"
check_exit 3 "download with a wrong --sha256: exit 3" load "$nport" download --sha256 "$other" --path "/v1/artifacts/$sha"
check_contains "  ... and the first one says what it got" "3145728 bytes whose SHA-256 is $sha" "$T/err"
check_json "  ... every download an error: a 2xx not a success, a wrong digest each" \
    "$no_success and d['downloads'] == 0 and d['bytes'] == 0 and d['mib_per_second'] == 0 \
and d['bad_digest'] > 0 and d['errors'] == d['errors_2xx'] == d['bad_digest'] == d['status_2xx']"
check_exit 3 "a body of another size: exit 3" load "$nport" download --sha256 "$sha" --path /small
check_json "  ... a wrong digest too" "$no_success and d['bad_digest'] == d['errors'] > 0"
check_exit 3 "a 404: exit 3" load "$nport" download --sha256 "$sha" --path /missing
check_json "  ... 4xx errors" "$no_success and d['errors_4xx'] == d['errors'] > 0 and d['bad_digest'] == 0"
check_exit 3 "a 204 is no download: exit 3" load "$nport" download --sha256 "$sha" --path /
check_json "  ... 2xx errors" "$no_success and d['errors_2xx'] == d['errors'] > 0"
check_exit 3 "the result line without --json says ERRORS" "$BENCH" download --sha256 "$other" \
    --path "/v1/artifacts/$sha" --server "127.0.0.1:$nport" --ca "$T/chain.pem" --devices "$T/dev" \
    --device-count 4 --connections 2 --warmup 0 --duration 1
check_contains "  ... and that nothing was measured" "no success: nothing was measured" "$T/out"
check_exit 2 "download without --sha256 is refused" load "$nport" download
check_exit 2 "  ... and with one that is not 64 lowercase hex" load "$nport" download --sha256 "${sha^^}"
check_exit 2 "--sha256 goes with download only" load "$nport" update --sha256 "$sha"
check "bench-rss.sh adds nginx's memory to a download run" bash "$REPO/tools/vigil-bench/bench-rss.sh" \
    "$(pgrep -d, -f "nginx: worker process" -P "$(cat "$T/nginx/nginx.pid")")" \
    "$BENCH" download --sha256 "$sha" --server "127.0.0.1:$nport" --ca "$T/chain.pem" --devices "$T/dev" \
    --device-count 4 --connections 4 --warmup 0 --duration 1 --json
check_json "  ... idle, peak and growth, the run's own figures kept" \
    "d['clean'] and d['downloads'] > 0 and d['rss_idle_kib'] > 0 and d['rss_peak_kib'] >= d['rss_idle_kib'] \
and d['rss_growth_kib'] == d['rss_peak_kib'] - d['rss_idle_kib'] and d['rss_samples'] > 0"

# ---- update checks, against nginx ----
check "update against the reference's 204, with --reference: clean" load "$nport" update --reference
check_json "  ... checks counted" "d['clean'] and d['mode'] == 'update_checks' and d['ok'] > 0 and d['errors'] == 0"
check_exit 3 "without --reference, a 204 is not the manifest asked for: exit 3" load "$nport" update
check_json "  ... a 2xx error each" "$no_success and d['errors_2xx'] == d['errors'] > 0"
check_exit 3 "  ... nor, with --expect 204, a 204 without X-Vigil-Reason" load "$nport" update --expect 204
check_json "  ... a 2xx error each" "$no_success and d['errors_2xx'] == d['errors'] > 0"
check "--expect 204: a 204 with X-Vigil-Reason counts" load "$nport" update --expect 204 --path /reason
check_json "  ... clean" "d['clean'] and d['ok'] > 0"
check "  ... with --reason up_to_date too" load "$nport" update --expect 204 --reason up_to_date --path /reason
check_exit 3 "  ... but not with --reason paused" load "$nport" update --expect 204 --reason paused --path /reason
check_contains "  ... and the first one says which reason it got" "X-Vigil-Reason: up_to_date" "$T/err"
check "a 200 with a compact JWS of typ vigil-manifest counts" load "$nport" update --path /jws
check_json "  ... clean" "d['clean'] and d['ok'] > 0"
check "  ... and with --manifest of that JWS" load "$nport" update --path /jws --manifest "$T/manifest.jws"
check_exit 3 "  ... not with --manifest of another" load "$nport" update --path /jws --manifest "$T/other.jws"
check_json "  ... a 2xx error each" "$no_success and d['errors_2xx'] == d['errors'] > 0"
check_exit 3 "  ... not with --expect 204" load "$nport" update --path /jws --expect 204
for what in norollout typ garbage plain; do
    check_exit 3 "a 200 that is no manifest answer ($what): exit 3" load "$nport" update --path "/$what"
    check_json "  ... a 2xx error each" "$no_success and d['errors_2xx'] == d['errors'] > 0"
done
check_exit 3 "a 404: a 4xx error each" load "$nport" update --path /missing
check_exit 2 "--manifest of a file that holds none is refused" load "$nport" update --manifest "$T/www/small"
check_exit 2 "--reason goes with --expect 204" load "$nport" update --reason paused
check_exit 2 "the reference answers 204 only" load "$nport" update --reference --expect 200
check_exit 2 "a --security-version above 2^53 is refused" load "$nport" update --security-version 9007199254740993
check_exit 2 "a --device-version that is no version is refused" load "$nport" update --device-version 'a b'

# ---- against vigild: a release of the same file, a rollout at 100 % ----
export VIGIL_RELEASE_DIR="$T/release"
"$VIGILCTL" release key init >/dev/null || { echo "release key init failed" >&2; exit 1; }
"$VIGILCTL" release create --artifact "$T/www/artifact" --version bench-1 --security-version 1 \
    --class bench >/dev/null || { echo "release create failed" >&2; exit 1; }
"$VIGILCTL" rollout start bench-1 --percent 100 >/dev/null || { echo "rollout start failed" >&2; exit 1; }
sql "SELECT manifest FROM releases WHERE version = 'bench-1'" >"$T/release.jws"
rollout=$(sql "SELECT id FROM rollouts WHERE state = 'running'")
vport=$(free_port)
vigild_start main "$vport" VIGIL_DEVICE_RATE=1000000 VIGIL_DEVICE_BURST=1000000 || exit 1
check "manifest checks against vigild's rollout at 100 %: a clean run, exit 0" \
    load "$vport" update --manifest "$T/release.jws"
check_json "  ... checks counted, no error" "d['clean'] and d['ok'] > 0 and d['errors'] == 0"
check_eq "  ... each of the 4 devices offered once, in PostgreSQL" 4 \
    "$(sql "SELECT count(*) FROM rollout_devices WHERE rollout_id = $rollout AND state = 'offered'")"
check_exit 3 "a device that runs bench-1 is not offered it: exit 3" load "$vport" update --device-version bench-1
check_contains "  ... and the first one says why" "X-Vigil-Reason: up_to_date" "$T/err"
check_json "  ... a 2xx error each" "$no_success and d['errors_2xx'] == d['errors'] > 0"
check "  ... and with --expect 204 --reason up_to_date: clean" \
    load "$vport" update --device-version bench-1 --expect 204 --reason up_to_date
check_exit 3 "  ... but not with --reason paused" \
    load "$vport" update --device-version bench-1 --expect 204 --reason paused
"$VIGILCTL" rollout pause "$rollout" >/dev/null
paused() { load "$vport" update --expect 204 --reason paused >"$T/paused.json" 2>&1; }
for _ in $(seq 1 50); do paused && break; sleep 0.1; done
check "a paused rollout: --expect 204 --reason paused counts" load "$vport" update --expect 204 --reason paused
check_json "  ... clean" "d['clean'] and d['ok'] > 0"
check_exit 3 "  ... and a manifest is no longer what it gets: exit 3" load "$vport" update --manifest "$T/release.jws"
check "downloads from vigild with the artifact's digest: a clean run, exit 0" load "$vport" download --sha256 "$sha"
check_json "  ... downloads and throughput, no error" \
    "d['clean'] and d['downloads'] > 0 and d['bad_digest'] == 0 and d['mib_per_second'] > 0"
check_exit 3 "a wrong --sha256: exit 3" load "$vport" download --sha256 "$other" --path "/v1/artifacts/$sha"
check_json "  ... every download an error, a wrong digest each" \
    "$no_success and d['downloads'] == 0 and d['bad_digest'] > 0 and d['errors'] == d['errors_2xx'] == d['bad_digest']"
check_exit 3 "an artifact vigild does not serve: exit 3" load "$vport" download --sha256 "$other"
check_json "  ... 404s, 4xx errors" "$no_success and d['errors_4xx'] == d['errors'] > 0"
check "bench-rss.sh during downloads from vigild" bash "$REPO/tools/vigil-bench/bench-rss.sh" "$VIGILD_PID_main" \
    "$BENCH" download --sha256 "$sha" --server "127.0.0.1:$vport" --ca "$T/chain.pem" --devices "$T/dev" \
    --device-count 4 --connections 4 --warmup 0 --duration 1 --json
check_json "  ... its memory, the run clean" \
    "d['clean'] and d['rss_hwm_reset'] and d['rss_peak_kib'] >= d['rss_idle_kib'] > 0"
check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
