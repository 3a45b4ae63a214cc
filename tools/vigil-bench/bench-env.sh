# bench-env.sh - sourced by make bench and make bench-query: a throwaway
# PostgreSQL, a CA, a server certificate and the chain in a work directory,
# the helpers both scripts use, and a cleanup at exit that stops every
# process in $pids and removes it all. Expects $B (the build directory) and
# the prefix of its temporary directories as $1.
# shellcheck shell=bash
W=$(mktemp -d "/tmp/$1.XXXXXX")
PG=$(mktemp -d "/tmp/$1-pg.XXXXXX")   # its own: the postgres user must reach it
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    bash tools/dev/pg.sh stop "$PG" >/dev/null 2>&1 || true
    rm -rf "$W" "$PG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
json() { python3 -c "import json,sys; print(json.loads(sys.stdin.read())['$1'])"; }

export VIGIL_DATABASE_URL
VIGIL_DATABASE_URL=$(bash tools/dev/pg.sh start "$PG")
export VIGIL_CA_DIR="$W/ca"
$B/vigilctl db migrate >/dev/null
$B/vigilctl ca init >/dev/null
$B/vigilctl ca server-cert --dns localhost --ip 127.0.0.1 --out-dir "$W/tls" >/dev/null
$B/vigilctl ca chain >"$W/chain.pem"
