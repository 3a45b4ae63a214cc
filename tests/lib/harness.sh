# harness.sh - sourced by every integration and end-to-end test file.
#
# Gives a test: $T (a temporary directory removed at exit), $VIGILCTL and
# friends (the sanitizer build by default), pg_start (a throwaway
# PostgreSQL cluster, stopped at exit), and checks that print
# "ok - name" / "FAIL - name". `finish` prints the file's tally and sets
# the exit status. Every command a check runs is bounded by a timeout.
# shellcheck shell=bash

set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VIGIL_BUILD=${VIGIL_BUILD:-build/test}
case "$VIGIL_BUILD" in /*) ;; *) VIGIL_BUILD="$REPO/$VIGIL_BUILD" ;; esac
VIGILCTL="$VIGIL_BUILD/vigilctl"
VIGILD="$VIGIL_BUILD/vigild"
VIGIL_DEVICE="$VIGIL_BUILD/vigil-device"
PSQL=/usr/lib/postgresql/15/bin/psql
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}
unset VIGIL_DATABASE_URL VIGIL_CA_DIR VIGIL_CA_PASSPHRASE

T=$(mktemp -d /tmp/vigil-test.XXXXXX)
PASSED=0
FAILED=0
CHECK_TIMEOUT=${CHECK_TIMEOUT:-60}
_cleanups=()

at_exit() { _cleanups+=("$*"); }
_run_cleanups() {
    local i
    for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[$i]}" >/dev/null 2>&1 || true; done
    rm -rf "$T"
}
trap _run_cleanups EXIT

# A PostgreSQL cluster of our own; exports VIGIL_DATABASE_URL and PGDIR.
pg_start() {
    PGDIR=$(mktemp -d /tmp/vigil-pg.XXXXXX)
    at_exit "bash '$REPO/tools/dev/pg.sh' stop '$PGDIR'; rm -rf '$PGDIR'"
    VIGIL_DATABASE_URL=$(bash "$REPO/tools/dev/pg.sh" start "$PGDIR") || { echo "cannot start PostgreSQL" >&2; exit 1; }
    export VIGIL_DATABASE_URL PGDIR
}
pg_stop() { bash "$REPO/tools/dev/pg.sh" stop "$PGDIR"; }
pg_restart() { VIGIL_DATABASE_URL=$(bash "$REPO/tools/dev/pg.sh" start "$PGDIR"); export VIGIL_DATABASE_URL; }

# sql "SELECT ..." prints the result unaligned, tuples only.
sql() { "$PSQL" "$VIGIL_DATABASE_URL" -Atqc "$1"; }
# pg_listen CHANNEL CMD...: runs CMD (its output dropped) in a psql
# session that listens on CHANNEL; prints the notifications it heard
# (psql shows them after its next statement, whose "1" ends the output).
pg_listen() {
    local channel=$1; shift
    printf 'LISTEN %s;\n\\! %s >/dev/null 2>&1\nSELECT 1;\n' "$channel" "$*" |
        timeout "$CHECK_TIMEOUT" "$PSQL" "$VIGIL_DATABASE_URL" -Atq 2>&1
}

_report() {
    local ok=$1 name=$2
    if [ "$ok" -eq 0 ]; then
        PASSED=$((PASSED + 1))
        echo "ok - $name"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL - $name"
        tail -n 15 "$T/err" 2>/dev/null | sed 's/^/    stderr: /'
        tail -n 5 "$T/out" 2>/dev/null | sed 's/^/    stdout: /'
    fi
}

# Runs CMD with output in $T/out and $T/err; returns its exit code.
# Shell functions run as they are (each bounds its own waits).
run() {
    if [ "$(type -t "$1")" = function ]; then
        "$@" >"$T/out" 2>"$T/err"
    else
        timeout "$CHECK_TIMEOUT" "$@" >"$T/out" 2>"$T/err"
    fi
}

# check NAME CMD...: CMD must exit 0.
check() {
    local name=$1; shift
    run "$@"
    _report $? "$name"
}

# check_exit CODE NAME CMD...: CMD must exit with CODE.
check_exit() {
    local code=$1 name=$2; shift 2
    run "$@"
    local rc=$?
    [ "$rc" -eq "$code" ] || echo "    expected exit $code, got $rc" >>"$T/err"
    _report $([ "$rc" -eq "$code" ] && echo 0 || echo 1) "$name"
}

# check_fails NAME CMD...: CMD must fail (any non-zero exit): for clients
# whose exact code depends on timing (curl: 35, 55 or 56 for a refused
# handshake).
check_fails() {
    local name=$1; shift
    run "$@"
    local rc=$?
    [ "$rc" -ne 0 ] || echo "    expected a failure, got exit 0" >>"$T/err"
    _report $([ "$rc" -ne 0 ] && echo 0 || echo 1) "$name"
}

# check_contains NAME STRING FILE: FILE contains STRING.
check_contains() {
    grep -qF -- "$2" "$3"
    _report $? "$1 ('$2' in $(basename "$3"))"
}

# check_json NAME PYTHON-EXPR: the last command's stdout is JSON (bound to d)
# and the expression holds.
check_json() {
    cp "$T/out" "$T/last.json"
    run python3 -c "import json,sys; d=json.load(open('$T/last.json')); sys.exit(0 if ($2) else 1)"
    _report $? "$1"
}

# check_json_in FILE NAME PYTHON-EXPR: check_json on the JSON in FILE.
check_json_in() { cp "$1" "$T/out"; check_json "$2" "$3"; }

# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then _report 0 "$1"; else echo "    expected '$2', got '$3'" >"$T/err"; : >"$T/out"; _report 1 "$1"; fi
}

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# CA, schema and server certificate in $T for tests that need a server.
setup_ca() {
    export VIGIL_CA_DIR="$T/ca"
    "$VIGILCTL" db migrate >/dev/null || { echo "migrate failed" >&2; exit 1; }
    "$VIGILCTL" ca init >/dev/null || { echo "ca init failed" >&2; exit 1; }
    "$VIGILCTL" ca server-cert --dns localhost --ip 127.0.0.1 --out-dir "$T/tls" >/dev/null
    "$VIGILCTL" ca chain >"$T/chain.pem"
}

# release_db_start: a PostgreSQL cluster with the schema, a release key
# directory $T/release (VIGIL_RELEASE_DIR, no passphrase) and its first
# key, for the tests of vigilctl's releases and rollouts.
release_db_start() {
    pg_start
    "$VIGILCTL" db migrate >/dev/null || { echo "migrate failed" >&2; exit 1; }
    export VIGIL_RELEASE_DIR="$T/release"
    unset VIGIL_RELEASE_PASSPHRASE
    "$VIGILCTL" release key init >/dev/null || { echo "release key init failed" >&2; exit 1; }
}

# device_server [VAR=value ...]: PostgreSQL, the CA (setup_ca) and vigild
# "main" (the VARs in its environment); $port is its device port, $U that
# port's URL, $D a directory for the test devices.
device_server() {
    pg_start
    setup_ca
    port=$(free_port)
    vigild_start main "$port" "$@"
    U="https://127.0.0.1:$port"
    D="$T/dev"
}

# vigild_start NAME PORT [VAR=value ...]: vigild in the background with the
# CA from setup_ca, logging to $T/NAME.log; waits until it accepts. Its
# operator port is on a free port of its own (vigild_api NAME), unless a
# VAR=value sets VIGIL_API_LISTEN.
vigild_start() {
    local name=$1 port=$2; shift 2
    local api_port
    api_port=$(free_port)
    env VIGIL_CA_DIR="$VIGIL_CA_DIR" VIGIL_TLS_CERT="$T/tls/server.crt" VIGIL_TLS_KEY="$T/tls/server.key" \
        VIGIL_DEVICE_LISTEN="127.0.0.1:$port" VIGIL_API_LISTEN="127.0.0.1:$api_port" VIGIL_WORKERS=2 \
        "$@" "$VIGILD" >"$T/$name.log" 2>&1 &
    local pid=$!
    eval "VIGILD_PID_$name=$pid"
    eval "VIGILD_API_$name=127.0.0.1:$api_port"
    at_exit "kill -9 $pid"
    for _ in $(seq 1 100); do
        if grep -q '"registry loaded"' "$T/$name.log" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "vigild $name did not start:" >&2
    tail -20 "$T/$name.log" >&2
    return 1
}

# vigild_stop NAME: SIGTERM, wait; returns vigild's exit status.
vigild_stop() {
    local pid
    pid=$(eval "echo \$VIGILD_PID_$1")
    kill -TERM "$pid" 2>/dev/null
    wait "$pid"
}

vigild_pid() { eval "echo \$VIGILD_PID_$1"; }
# The operator port's address of vigild NAME (unless the test chose its own).
vigild_api() { eval "echo \$VIGILD_API_$1"; }

# curl with a device's credentials: dcurl DIR ID [curl args...]
dcurl() {
    local dir=$1 id=$2; shift 2
    curl -sS --max-time 10 --cacert "$T/chain.pem" --cert "$dir/$id.crt" --key "$dir/$id.key" "$@"
}

# hold_mtls DIR ID PORT NAME: an idle mTLS connection of device ID (its key
# and certificate in DIR) to 127.0.0.1:PORT; writes $T/NAME.closed (the time
# in ns) when the server ends it.
hold_mtls() {
    ( openssl s_client -quiet -connect "127.0.0.1:$3" -CAfile "$T/chain.pem" -cert "$1/$2.crt" \
          -key "$1/$2.key" < <(sleep 20) >"$T/$4.out" 2>&1
      date +%s%N >"$T/$4.closed" ) &
}
# closed_within NAME SINCE_NS LIMIT_MS: the held connection NAME ended at
# most LIMIT_MS after SINCE_NS (waits up to 2 s for it).
closed_within() {
    for _ in $(seq 1 40); do [ -s "$T/$1.closed" ] && break; sleep 0.05; done
    [ -s "$T/$1.closed" ] || { echo "$1 still open" >&2; return 1; }
    local ms=$(( ($(cat "$T/$1.closed") - $2) / 1000000 ))
    echo "$1 closed after ${ms} ms" >&2
    [ "$ms" -le "$3" ]
}
still_open() { [ ! -e "$T/$1.closed" ]; }

# A report as JSON: report [ID] [TYPE]
report() {
    local id=${1:-$(cat /proc/sys/kernel/random/uuid)} type=${2:-crash}
    printf '{"id":"%s","type":"%s","severity":"error","occurred_at":"%s","firmware_version":"1.2.3","component":"main","details":{"pc":"0x0800abcd"}}' \
        "$id" "$type" "$(date -u +%FT%TZ)"
}

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}
