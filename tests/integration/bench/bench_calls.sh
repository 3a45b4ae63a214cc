# bench_calls.sh - sourced by the vigil-bench tests (after harness.sh): their
# PostgreSQL, CA and test devices, and nginx with the bench's mutual-TLS
# setup answering what a test needs.
# shellcheck shell=bash

# bench_setup COUNT: PostgreSQL and the CA (pg_start, setup_ca), $BENCH the
# vigil-bench under test, and COUNT test devices enrolled in $T/dev.
bench_setup() {
    pg_start
    setup_ca
    BENCH="$VIGIL_BUILD/vigil-bench"
    "$BENCH" enroll --count "$1" --out-dir "$T/dev" >/dev/null || { echo "enroll failed" >&2; exit 1; }
}

# bench_nginx LOCATIONS: nginx (tools/vigil-bench/bench-nginx.sh, one
# worker, $T/tls's server certificate, clients verified against
# $T/chain.pem) with the location blocks LOCATIONS on a free port, $nport;
# stopped at exit. Returns once it accepts; ends the test if it never does.
bench_nginx() {
    nport=$(free_port)
    bash "$REPO/tools/vigil-bench/bench-nginx.sh" "$T/nginx" "$nport" "$T/tls/server.crt" \
        "$T/tls/server.key" "$T/chain.pem" 1 "$1" &
    at_exit "kill $!"
    for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$nport") 2>/dev/null && return 0; sleep 0.1; done
    echo "nginx did not start" >&2
    exit 1
}
