#!/usr/bin/env bash
# Runs on the release build too.
# GET /v1/artifacts/{sha256} with curl: a whole download's digest is the
# file's (chunk sizes that do and do not divide the size); every Range form
# (206 with Content-Range; 416 with bytes */SIZE when unsatisfiable, 416
# bad_range when malformed or multiple); If-Range; HEAD; a download cut in
# the middle resumes with `curl -C -` and ends with the right digest; a
# second vigild on the same database serves the same bytes; a 64 MiB
# download leaves vigild's RSS bounded; a quarantined device gets 403,
# an unknown artifact, one of another class and one of a revoked release
# 404; a chunk of the wrong length, or missing, cuts the connection after
# the right bytes only, and is not cached; the device's rate limit applies
# (429). The chunk cache (artifact-cache-bytes, 16 MiB here): a second
# download reads nothing from the database (the /metrics counters say so);
# a chunk damaged in the database (same length) after a good copy was
# cached is not served, and without a cache (0) it is served as stored,
# since only lengths are checked (the device's digest check refuses it);
# concurrent misses of one chunk on one worker make one database read; the
# 64 MiB download stays within the cache's limit plus its own chunks.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../../lib/release_fixture.sh"
# a small quarantine keeps freed memory from counting as RSS in the sanitizer build
device_server ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=8" VIGIL_ARTIFACT_CACHE_BYTES=16m
API="http://$(vigild_api main)"
for id in a-1 a-2 q-1; do "$VIGILCTL" device create --id "$id" --class sensor --out-dir "$D" >/dev/null 2>&1; done
"$VIGILCTL" device create --id g-1 --class gateway --out-dir "$D" >/dev/null 2>&1
TOKEN=$("$VIGILCTL" token create --role operator --name art 2>/dev/null | tail -n 1)
rf_key main >/dev/null
head -c 1000000 /dev/urandom >"$T/fw.bin"          # 3 whole chunks of 256 KiB and a part
head -c 50001 /dev/urandom >"$T/small.bin"         # chunks of 4 KiB
SHA=$(sha256sum "$T/fw.bin" | cut -c1-64)
rf_release 2.0.0 1 sensor "$T/fw.bin" >/dev/null
SMALL=$(rf_artifact "$T/small.bin" 4096)
rf_release 2.0.1 1 sensor "$T/small.bin" >/dev/null
A="$U/v1/artifacts/$SHA"
# get ID URL [curl args...]: status in $T/out, body in $T/body, headers in $T/h
get() {
    local id=$1 url=$2; shift 2
    dcurl "$D" "$id" -o "$T/body" -D "$T/h" -w '%{http_code}' "$@" "$url"
}
served() {  # served ID URL [curl args...]: 200 or 206 within 5 s (the view follows by NOTIFY)
    for _ in $(seq 1 50); do
        case "$(get "$@")" in 200 | 206) return 0 ;; esac
        sleep 0.1
    done
    return 1
}
header() { tr -d '\r' <"$T/h" | sed -n "s/^$1: //Ip"; }
# metric NAME [VIGILD]: a sample without labels from vigild's /metrics
metric() { curl -sS --max-time 10 "http://$(vigild_api "${2:-main}")/metrics" | sed -n "s/^$1 \([0-9]*\)\$/\1/p"; }
digest() { sha256sum <"$1" | cut -c1-64; }

check "the artifact is served" served a-1 "$A"
check_eq "a whole download has the file's digest" "$SHA" "$(sha256sum <"$T/body" | cut -c1-64)"
check_eq "  ... Content-Length" 1000000 "$(header Content-Length)"
check_eq "  ... Content-Type" application/octet-stream "$(header Content-Type)"
check_eq "  ... ETag: the digest" "\"$SHA\"" "$(header ETag)"
check_eq "  ... Accept-Ranges" bytes "$(header Accept-Ranges)"
check "chunks of 4 KiB" served a-1 "$U/v1/artifacts/$SMALL"
check_eq "  ... the digest too (50001 bytes, 13 chunks)" "$SMALL" "$(sha256sum <"$T/body" | cut -c1-64)"
check "HEAD: answered" dcurl "$D" a-1 -I -o "$T/h" -w '%{http_code}' "$A"
check_eq "  ... 200" 200 "$(cat "$T/out")"
check_eq "  ... Content-Length of the whole" 1000000 "$(header Content-Length)"

# Range
range() {  # range NAME RANGE FIRST LAST: 206, Content-Range, and those bytes
    local name=$1 r=$2 first=$3 last=$4
    check_eq "$name: 206" 206 "$(get a-1 "$A" -H "Range: $r")"
    check_eq "  ... Content-Range" "bytes $first-$last/1000000" "$(header Content-Range)"
    check "  ... the bytes $first-$last" cmp "$T/body" <(tail -c +$((first + 1)) "$T/fw.bin" | head -c $((last - first + 1)))
}
range "bytes=0-99" bytes=0-99 0 99
range "bytes=262000-530000 (across two chunk boundaries)" bytes=262000-530000 262000 530000
range "bytes=999000-" bytes=999000- 999000 999999
range "bytes=-1000" bytes=-1000 999000 999999
range "bytes=-2000000 (more than the whole)" bytes=-2000000 0 999999
range "bytes=500000-5000000 (past the end)" bytes=500000-5000000 500000 999999
range "bytes=262144-262144 (one byte, a chunk's first)" bytes=262144-262144 262144 262144
unsatisfiable() {  # unsatisfiable NAME RANGE CODE
    check_eq "$1: 416" 416 "$(get a-1 "$A" -H "Range: $2")"
    check_eq "  ... Content-Range: bytes */SIZE" "bytes */1000000" "$(header Content-Range)"
    check_json_in "$T/body" "  ... $3" "d['error'] == '$3'"
}
unsatisfiable "bytes=1000000-" bytes=1000000- range_not_satisfiable
unsatisfiable "bytes=-0" bytes=-0 range_not_satisfiable
unsatisfiable "two ranges" bytes=0-1,5-6 bad_range
unsatisfiable "bytes=5-1" bytes=5-1 bad_range
unsatisfiable "bytes=abc" bytes=abc bad_range
unsatisfiable "items=0-1" items=0-1 bad_range
unsatisfiable "bytes=-" bytes=- bad_range
check_eq "If-Range with this ETag: 206" 206 "$(get a-1 "$A" -H 'Range: bytes=0-9' -H "If-Range: \"$SHA\"")"
check_eq "If-Range with another ETag: the whole, 200" 200 "$(get a-1 "$A" -H 'Range: bytes=0-9' -H 'If-Range: "0000"')"
check_eq "  ... all of it" 1000000 "$(stat -c %s "$T/body")"
check_eq "If-Range with a date: the whole, 200" 200 "$(get a-1 "$A" -H 'Range: bytes=0-9' -H 'If-Range: Wed, 21 Oct 2015 07:28:00 GMT')"

# the chunk cache: a second download comes from memory
head -c 600000 /dev/urandom >"$T/cache.bin" # chunks of 262144, 262144 and 75712 bytes
CACHE=$(sha256sum "$T/cache.bin" | cut -c1-64)
rf_release 2.0.4 1 sensor "$T/cache.bin" >/dev/null
check "an artifact to cache is known (HEAD: no chunk read)" served a-1 "$U/v1/artifacts/$CACHE" -I
reads=$(metric vigil_artifact_chunk_reads_total)
check_eq "its first download: 200" 200 "$(get a-1 "$U/v1/artifacts/$CACHE")"
check_eq "  ... the right digest" "$CACHE" "$(digest "$T/body")"
check_eq "  ... its 3 chunks read from the database" $((reads + 3)) "$(metric vigil_artifact_chunk_reads_total)"
reads=$(metric vigil_artifact_chunk_reads_total)
hits=$(metric vigil_artifact_cache_hits_total)
check_eq "a second download: 200" 200 "$(get a-2 "$U/v1/artifacts/$CACHE")"
check_eq "  ... the right digest" "$CACHE" "$(digest "$T/body")"
check_eq "  ... no chunk read from the database" "$reads" "$(metric vigil_artifact_chunk_reads_total)"
check_eq "  ... 3 cache hits" $((hits + 3)) "$(metric vigil_artifact_cache_hits_total)"
check "  ... vigil_artifact_cache_bytes counts them" test "$(metric vigil_artifact_cache_bytes)" -ge 600000
check "  ... vigil_artifact_cache_chunks too" test "$(metric vigil_artifact_cache_chunks)" -ge 3
check_eq "a range from the cache: 206" 206 "$(get a-1 "$U/v1/artifacts/$CACHE" -H 'Range: bytes=262000-262300')"
check "  ... those bytes" cmp "$T/body" <(tail -c +262001 "$T/cache.bin" | head -c 301)
# a byte of chunk 1 changed in the database, its length kept (and changed
# back by the same update: 255 - (255 - b) = b)
flip="UPDATE artifact_chunks SET data = set_byte(data, 1000, 255 - get_byte(data, 1000))
      WHERE sha256 = '$CACHE' AND idx = 1"
sql "$flip" >/dev/null
check_eq "chunk 1 damaged in the database after it was cached: 200" 200 "$(get a-1 "$U/v1/artifacts/$CACHE")"
check_eq "  ... with the cached, right bytes" "$CACHE" "$(digest "$T/body")"
port4=$(free_port)
vigild_start nocache "$port4" VIGIL_ARTIFACT_CACHE_BYTES=0
check "a vigild with artifact-cache-bytes 0 serves it" served a-1 "https://127.0.0.1:$port4/v1/artifacts/$CACHE"
check "  ... as stored, damaged: only lengths are checked, the device's digest check refuses it" \
    test "$(digest "$T/body")" != "$CACHE"
reads=$(metric vigil_artifact_chunk_reads_total nocache)
check_eq "  ... a second download: 200" 200 "$(get a-2 "https://127.0.0.1:$port4/v1/artifacts/$CACHE")"
check_eq "  ... reads its 3 chunks again: no cache" $((reads + 3)) "$(metric vigil_artifact_chunk_reads_total nocache)"
check_eq "  ... which holds nothing" 0 "$(metric vigil_artifact_cache_bytes nocache)"
check "  ... SIGTERM: it exits 0 (no leak, no sanitizer report)" vigild_stop nocache
sql "$flip" >/dev/null

# concurrent misses of one chunk on one worker: one read. The reads wait
# behind a session that holds artifact_chunks locked until it is ended.
port5=$(free_port)
vigild_start flight "$port5" VIGIL_WORKERS=1
"$PSQL" "$VIGIL_DATABASE_URL" -Atqc \
    "BEGIN; LOCK TABLE artifact_chunks IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60) AS vigil_test_lock; COMMIT" \
    >/dev/null 2>&1 &
locker=$!
at_exit "kill $locker"
locked() {
    for _ in $(seq 1 50); do
        [ "$(sql "SELECT count(*) FROM pg_locks WHERE relation = 'artifact_chunks'::regclass AND granted
                   AND mode = 'AccessExclusiveLock'")" = 1 ] && return 0
        sleep 0.1
    done
    return 1
}
check "artifact_chunks locked by another session" locked
dl_pids=()
for i in 1 2 3; do
    dcurl "$D" a-$((i % 2 + 1)) --max-time 60 -o "$T/flight$i.bin" "https://127.0.0.1:$port5/v1/artifacts/$CACHE" &
    dl_pids+=($!)
done
shared() { for _ in $(seq 1 100); do [ "$(metric vigil_artifact_chunk_reads_shared_total flight)" -ge 2 ] && return 0; sleep 0.1; done; return 1; }
check "three downloads waiting for chunk 0: two wait for the first one's read" shared
check_eq "  ... which is the only one" 1 "$(metric vigil_artifact_chunk_reads_total flight)"
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%vigil_test_lock%' AND pid <> pg_backend_pid()" >/dev/null
for p in "${dl_pids[@]}"; do wait "$p"; done
for i in 1 2 3; do check_eq "  ... download $i has the right digest" "$CACHE" "$(digest "$T/flight$i.bin")"; done
check_eq "  ... and the worker read each of the 3 chunks once" 3 "$(metric vigil_artifact_chunk_reads_total flight)"
check "  ... SIGTERM: it exits 0 (no leak, no sanitizer report)" vigild_stop flight

# another vigild on the same database
port2=$(free_port)
vigild_start second "$port2"
check "a second vigild serves it" served a-2 "https://127.0.0.1:$port2/v1/artifacts/$SHA"
check_eq "  ... the same bytes" "$SHA" "$(sha256sum <"$T/body" | cut -c1-64)"
vigild_stop second >/dev/null 2>&1

# who may not
check_eq "an artifact of another class: 404" 404 "$(get g-1 "$A")"
check_json_in "$T/body" "  ... unknown_artifact" "d['error'] == 'unknown_artifact'"
check_eq "an unknown artifact: 404" 404 "$(get a-1 "$U/v1/artifacts/$(printf '%064d' 0)")"
check_json_in "$T/body" "  ... unknown_artifact" "d['error'] == 'unknown_artifact'"
check_eq "an uppercase digest: 404" 404 "$(get a-1 "$U/v1/artifacts/${SHA^^}")"
check_eq "a short one: 404" 404 "$(get a-1 "$U/v1/artifacts/abc")"
check_eq "POST: 405" 405 "$(get a-1 "$A" -d x)"
curl -sS --max-time 10 -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"reason":"test"}' "$API/v1/devices/q-1/quarantine" >/dev/null
check "a quarantined device: 403" bash -c "for i in \$(seq 1 50); do [ \"\$(curl -sS --max-time 10 --cacert '$T/chain.pem' --cert '$D/q-1.crt' --key '$D/q-1.key' -o '$T/body' -w '%{http_code}' '$A')\" = 403 ] && exit 0; sleep 0.1; done; exit 1"
check_json_in "$T/body" "  ... quarantined" "d['error'] == 'quarantined'"
head -c 70000 /dev/urandom >"$T/rev.bin"
REV=$(sha256sum "$T/rev.bin" | cut -c1-64)
rel_rev=$(rf_release 2.0.2 1 sensor "$T/rev.bin")
check "a release's artifact is served" served a-1 "$U/v1/artifacts/$REV"
rf_revoke "$rel_rev"
gone() { for _ in $(seq 1 50); do [ "$(get a-1 "$U/v1/artifacts/$REV")" = 404 ] && return 0; sleep 0.1; done; return 1; }
check "  ... not once it is revoked: 404" gone

# damaged storage: the right bytes, then the connection ends
head -c 600000 /dev/urandom >"$T/bad.bin"
BAD=$(sha256sum "$T/bad.bin" | cut -c1-64)
rf_release 2.0.3 1 sensor "$T/bad.bin" >/dev/null
check "a release to damage (HEAD: nothing read, nothing cached)" served a-1 "$U/v1/artifacts/$BAD" -I
sql "UPDATE artifact_chunks SET data = substring(data FROM 1 FOR 1000) WHERE sha256 = '$BAD' AND idx = 1" >/dev/null
check_fails "a chunk of the wrong length: the download fails" dcurl "$D" a-1 -o "$T/cut.bin" "$U/v1/artifacts/$BAD"
check "  ... after the right bytes only (the first chunk)" cmp "$T/cut.bin" <(head -c 262144 "$T/bad.bin")
check_contains "  ... and vigild says why" "artifact download cut" "$T/main.log"
reads=$(metric vigil_artifact_chunk_reads_total)
check_fails "  ... the next download fails too: the chunk was not cached" dcurl "$D" a-1 -o "$T/cut.bin" "$U/v1/artifacts/$BAD"
check_eq "  ... it was read again (chunk 0, good, came from the cache)" $((reads + 1)) "$(metric vigil_artifact_chunk_reads_total)"
check_eq "a range of the good chunk still works" 206 "$(get a-1 "$U/v1/artifacts/$BAD" -H 'Range: bytes=0-99')"
sql "DELETE FROM artifact_chunks WHERE sha256 = '$BAD' AND idx = 2" >/dev/null
rm -f "$T/cut.bin"
check_fails "a missing chunk: the range that needs it fails" dcurl "$D" a-1 -o "$T/cut.bin" \
    -H 'Range: bytes=524288-' "$U/v1/artifacts/$BAD"
check_eq "  ... with not even a head sent" 0 "$(stat -c %s "$T/cut.bin" 2>/dev/null || echo 0)"

# 64 MiB in bounded memory: the cache's 16 MiB and the download's chunks
head -c $((64 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
BIG=$(sha256sum "$T/big.bin" | cut -c1-64)
rf_release 3.0.0 1 sensor "$T/big.bin" >/dev/null
check "a 64 MiB artifact is stored" served a-1 "$U/v1/artifacts/$BIG" -r 0-0
rss() { awk '/^VmRSS/ {print $2}' "/proc/$(vigild_pid main)/status"; }
base=$(rss)
dcurl "$D" a-2 --max-time 120 --limit-rate 16M -o "$T/big.out" "$U/v1/artifacts/$BIG" &
dl=$!
peak=$base
while kill -0 "$dl" 2>/dev/null; do r=$(rss); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.2; done
wait "$dl"
echo "VmRSS before ${base} kB, at most ${peak} kB during the download" >&2
check_eq "the 64 MiB download has the right digest" "$BIG" "$(sha256sum <"$T/big.out" | cut -c1-64)"
check "vigild's RSS grew by less than 48 MiB during it" test $((peak - base)) -lt $((48 * 1024))
check "  ... the cache held at most its 16 MiB" test "$(metric vigil_artifact_cache_bytes)" -le $((16 * 1024 * 1024))
check "  ... evicting chunks to stay there" test "$(metric vigil_artifact_cache_evictions_total)" -gt 0

# a cut download of the 64 MiB artifact resumes
timeout 2 curl -sS --cacert "$T/chain.pem" --cert "$D/a-2.crt" --key "$D/a-2.key" --limit-rate 1M \
    -o "$T/partial.bin" "$U/v1/artifacts/$BIG" 2>/dev/null
part=$(stat -c %s "$T/partial.bin" 2>/dev/null || echo 0)
echo "cut after $part bytes" >&2
check "the cut download has part of the file" test "$part" -gt 0 -a "$part" -lt $((64 * 1024 * 1024))
check "curl -C - resumes it" dcurl "$D" a-2 --max-time 60 -C - -o "$T/partial.bin" -D "$T/h" -w '%{http_code}' "$U/v1/artifacts/$BIG"
check_eq "  ... with a 206" 206 "$(cat "$T/out")"
check_eq "  ... from where it stopped" "bytes $part-$((64 * 1024 * 1024 - 1))/$((64 * 1024 * 1024))" "$(header Content-Range)"
check_eq "  ... and ends with the right digest" "$BIG" "$(sha256sum <"$T/partial.bin" | cut -c1-64)"

# the device's rate limit
port3=$(free_port)
vigild_start limited "$port3" VIGIL_DEVICE_RATE=1 VIGIL_DEVICE_BURST=3
codes=""
for _ in 1 2 3 4 5 6; do codes+="$(get a-1 "https://127.0.0.1:$port3/v1/artifacts/$SHA" -r 0-0) "; done
check_contains "over the device's rate: 429" "429" <(echo "$codes")
check_json_in "$T/body" "  ... rate_limited" "d['error'] == 'rate_limited'"
vigild_stop limited >/dev/null 2>&1

check "SIGTERM: vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
