#!/usr/bin/env bash
# run.sh [SECONDS] - builds the libFuzzer target (clang, ASan + UBSan) into
# build/fuzz and runs it for a bounded time on a copy of the seed corpus
# (nothing is written into the repository). Non-zero exit on a crash.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=build/fuzz
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
flags=(-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -I. -I/usr/share/include/llhttp $(pkg-config --cflags jansson))
"$CC" "${flags[@]}" -o "$out/fuzz_incident_request" tests/fuzz/fuzz_incident_request.c \
    server/gateway/gw_http.c protocol/incident.c protocol/errors.c \
    /usr/share/llhttp/api.c /usr/share/llhttp/http.c /usr/share/llhttp/llhttp.c \
    $(pkg-config --libs jansson) -lcrypto
work=$(mktemp -d /tmp/vigil-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/incident_request/* "$work/"
"$out/fuzz_incident_request" "$work" -max_total_time="$secs" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/" 2>&1 | tail -n 12
