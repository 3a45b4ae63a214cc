#!/usr/bin/env bash
# run.sh [SECONDS] - builds the libFuzzer targets (clang, ASan + UBSan) into
# build/fuzz and runs each on a copy of its seed corpus (nothing is written
# into the repository), the SECONDS shared between them: the device port's
# request parser (fuzz_incident_request), the operator API's parameter
# parsing (fuzz_api_param), a renewal's CSR checks (fuzz_est_csr) and the
# device's manifest and key-endorsement checks (fuzz_manifest).
# Non-zero exit on a crash.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
out=build/fuzz
mkdir -p "$out"
CC=${FUZZ_CC:-clang}
flags=(-g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -I. -I/usr/share/include/llhttp $(pkg-config --cflags jansson))
"$CC" "${flags[@]}" -o "$out/fuzz_incident_request" tests/fuzz/fuzz_incident_request.c \
    server/gateway/gw_http.c protocol/incident.c protocol/errors.c protocol/hex.c protocol/utf8.c \
    /usr/share/llhttp/api.c /usr/share/llhttp/http.c /usr/share/llhttp/llhttp.c \
    $(pkg-config --libs jansson) -lcrypto
"$CC" "${flags[@]}" -o "$out/fuzz_api_param" tests/fuzz/fuzz_api_param.c \
    server/api/api_query.c server/api/api_value.c protocol/when.c protocol/incident.c \
    protocol/device_id.c protocol/hex.c protocol/percent.c protocol/utf8.c protocol/manifest.c \
    cert-authority/ca_util.c \
    $(pkg-config --libs jose openssl)
"$CC" "${flags[@]}" -o "$out/fuzz_est_csr" tests/fuzz/fuzz_est_csr.c \
    cert-authority/ca_est.c cert-authority/ca_pem.c cert-authority/ca_key.c cert-authority/ca_util.c \
    cert-authority/ca_tls.c protocol/device_id.c protocol/hex.c protocol/secret.c \
    $(pkg-config --libs jansson openssl)
"$CC" "${flags[@]}" -o "$out/fuzz_manifest" tests/fuzz/fuzz_manifest.c protocol/manifest.c \
    protocol/device_id.c $(pkg-config --libs jose openssl)
work=$(mktemp -d /tmp/vigil-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
# fuzz TARGET CORPUS SECONDS [libFuzzer flags]
fuzz() {
    mkdir -p "$work/$2"
    cp "tests/fuzz/corpus/$2"/* "$work/$2/"
    echo "== $1 (${3}s)"
    "$out/$1" "$work/$2" -max_total_time="$3" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/$1-" "${@:4}" 2>&1 | tail -n 12
}
quarter=$(( secs / 4 > 0 ? secs / 4 : 1 ))
fuzz fuzz_incident_request incident_request "$(( secs - 3 * quarter > 0 ? secs - 3 * quarter : 1 ))" -max_len=65536
fuzz fuzz_api_param api_param "$quarter" -max_len=4096
fuzz fuzz_est_csr est_csr "$quarter" -max_len=12000
fuzz fuzz_manifest manifest "$quarter" -max_len=8192
