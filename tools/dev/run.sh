#!/usr/bin/env bash
# run.sh [start|stop|status] - `make run`, `make stop` and `make status`.
#
# start (`make run`): a working local Vigil from a fresh checkout. Checks
# that the device and operator ports are free (VIGIL_DEVICE_PORT, 8443;
# VIGIL_API_PORT, 8080; PostgreSQL listens on a Unix socket only, no TCP
# port), starts a PostgreSQL cluster under var/pg, applies the schema,
# makes a development CA (var/ca), a TLS certificate for localhost (var/tls),
# a release signing key (var/release) and an admin API token
# (var/admin-token) if missing, writes var/env, says what it did, then runs
# vigild in the foreground, its PID in var/vigild.pid. Safe to run again: it
# reuses what is there.
# stop (`make stop`): stops that vigild (SIGTERM, by its PID) and then the
# PostgreSQL of var/pg, and says what it stopped.
# status (`make status`): what runs: PIDs, ports, vigild's /readyz; exit 0
# when both run, 3 when something does not (`make status` itself exits 0
# either way).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${VIGIL_BUILD:-build}
ctl="$build/vigilctl"
pidfile=var/vigild.pid

# alive PID: the process runs (a zombie left for its parent to reap does not).
alive() {
    [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# The PID of the vigild that `make run` started in this checkout, if it is
# still running (not a recycled PID: the process is a vigild whose working
# directory is this checkout).
vigild_pid() {
    local pid exe
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
    exe=${exe% (deleted)}
    [ "${exe##*/}" = vigild ] && [ "$(readlink "/proc/$pid/cwd")" = "$(pwd -P)" ] || return 1
    echo "$pid"
}

# The PID of var/pg's PostgreSQL, if it runs.
pg_pid() {
    [ -f var/pg/data/postmaster.pid ] || return 1
    bash tools/dev/pg.sh status var/pg >/dev/null 2>&1 || return 1
    head -n 1 var/pg/data/postmaster.pid
}

# port_free PORT: nothing listens on PORT (vigild binds with SO_REUSEADDR).
port_free() {
    python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
PY
}

# Who listens on PORT, as ss tells it: `vigild (pid 123)` or nothing.
port_owner() {
    ss -Hltnp "sport = :$1" 2>/dev/null |
        sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\),.*/\1 (pid \2)/p' | head -n 1
}

# check_ports DEVICE API: both valid, distinct and free, or say what to do.
check_ports() {
    local dev=$1 api=$2 bad=0 what var port next owner
    for port in "$dev" "$api"; do
        if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
            echo "make run: '$port' is not a port (VIGIL_DEVICE_PORT, VIGIL_API_PORT: 1-65535)" >&2
            return 2
        fi
    done
    if [ "$dev" = "$api" ]; then
        echo "make run: the device port and the operator port are both $dev: give VIGIL_DEVICE_PORT and VIGIL_API_PORT different values" >&2
        return 2
    fi
    for what in device api; do
        if [ "$what" = device ]; then port=$dev var=VIGIL_DEVICE_PORT; else port=$api var=VIGIL_API_PORT; fi
        port_free "$port" && continue
        bad=1
        owner=$(port_owner "$port")
        next=$((port + 1))
        while [ "$next" -lt 65535 ] && { [ "$next" = "$dev" ] || [ "$next" = "$api" ] || ! port_free "$next"; }; do
            next=$((next + 1))
        done
        echo "make run: port $port (the ${what/api/operator} port) is taken${owner:+ by $owner}." >&2
        echo "  Stop what holds it, or pick another port: $var=$next make run" >&2
    done
    return "$bad"
}

stop() {
    local pid i
    if pid=$(vigild_pid); then
        kill -TERM "$pid"
        # vigild drains for at most --drain-timeout (15 s) before it exits.
        for ((i = 0; i < 300; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            echo "vigild (pid $pid) did not stop within 30 s of SIGTERM; kill -9 $pid ends it" >&2
            return 1
        fi
        echo "stopped vigild (pid $pid)"
    else
        echo "vigild: not running"
    fi
    rm -f "$pidfile"
    if pid=$(pg_pid); then
        bash tools/dev/pg.sh stop var/pg
        echo "stopped PostgreSQL (pid $pid, var/pg)"
    else
        echo "PostgreSQL (var/pg): not running"
    fi
}

status() {
    local pid dev="" api="" ready rc=0
    if [ -f var/env ]; then
        # shellcheck disable=SC1091
        read -r dev api < <(. var/env; echo "$VIGIL_DEVICE_LISTEN $VIGIL_API_LISTEN")
    fi
    if pid=$(vigild_pid); then
        ready=$(curl -s --max-time 3 -w ' (HTTP %{http_code})' "http://$api/readyz" 2>/dev/null | tr -d '\n') ||
            ready="no answer${ready:+: $ready}"
        echo "vigild: running (pid $pid), devices on $dev, operators on http://$api"
        echo "  /readyz: $ready"
    else
        echo "vigild: not running (make run starts it)"
        rc=3
    fi
    if pid=$(pg_pid); then
        echo "PostgreSQL: running (pid $pid) in var/pg, Unix socket var/pg/sock only (no TCP port)"
        echo "  $(bash tools/dev/pg.sh url var/pg)"
    else
        echo "PostgreSQL (var/pg): not running"
        rc=3
    fi
    return "$rc"
}

# What to do next: the README's "Report an incident", as far as it is not
# done yet (the device demo-1 may be enrolled already).
next_steps() {
    echo
    echo "Next, in another shell (README.md, \"Report an incident\"):"
    echo "  . var/env"
    if [ ! -s var/devices/demo-1.crt ]; then
        echo "  $build/vigil-device keygen --id demo-1 --out-dir var/devices"
        echo "  $build/vigilctl device enroll --csr var/devices/demo-1.csr --out var/devices/demo-1.crt"
    fi
    cat <<MSG
  $build/vigil-device report --server "\$VIGIL_DEVICE_LISTEN" --ca var/ca-chain.pem \\
      --cert var/devices/demo-1.crt --key var/devices/demo-1.key \\
      --queue-dir var/devices/queue --type watchdog_reset --component main
  $build/vigilctl incidents --device demo-1 --since 1h
  curl -H "Authorization: Bearer \$(cat var/admin-token)" "\$VIGIL_API_URL/v1/incidents?since=1h"
'make status' tells what runs; 'make stop' stops vigild and PostgreSQL.

MSG
}

# The CA, TLS certificate, release key and admin token, each made once.
make_credentials() {
    local err
    if [ ! -f var/ca/ca.json ]; then
        "$ctl" ca init --org "Vigil Dev" >/dev/null
        echo "CA: created a development CA in var/ca (keys unencrypted: for development only)"
    else
        echo "CA: using var/ca"
    fi
    if [ ! -f var/tls/server.crt ]; then
        "$ctl" ca server-cert --dns localhost --ip 127.0.0.1 --ip ::1 --out-dir var/tls >/dev/null
        echo "TLS: issued var/tls/server.crt for localhost, 127.0.0.1, ::1"
    fi
    "$ctl" ca chain > var/ca-chain.pem.new && mv var/ca-chain.pem.new var/ca-chain.pem
    # The release key signs update manifests: its own directory, not the CA's.
    if ! "$ctl" release key export >/dev/null 2>&1; then
        "$ctl" release key init >/dev/null
        echo "Releases: created a release signing key in var/release (unencrypted: for development only)"
    else
        echo "Releases: using the release key of the database (its file is in var/release)"
    fi
    # Only the token's SHA-256 is in the database; the token is in
    # var/admin-token (0600), written only when create succeeds.
    if [ ! -s var/admin-token ]; then
        if ! err=$( (umask 077; "$ctl" token create --role admin --name dev-admin | tail -n 1 > var/admin-token.new) 2>&1) ||
            [ ! -s var/admin-token.new ]; then
            rm -f var/admin-token.new
            echo "API: cannot make the admin token: $err" >&2
            return 1
        fi
        mv var/admin-token.new var/admin-token
        echo "API: created an admin token (role admin) in var/admin-token"
    fi
    echo "API: the admin token is in var/admin-token: curl -H \"Authorization: Bearer \$(cat var/admin-token)\" http://127.0.0.1:$api_port/v1/devices"
}

start() {
    local pid url
    port=${VIGIL_DEVICE_PORT:-8443}
    api_port=${VIGIL_API_PORT:-8080}
    if pid=$(vigild_pid); then
        echo "make run: vigild is running already (pid $pid, started by make run here):" \
            "'make status' tells more, 'make stop' stops it" >&2
        return 1
    fi
    check_ports "$port" "$api_port" || return
    if [ ! -x "$build/vigild" ] || [ ! -x "$ctl" ]; then
        echo "make run: $build/vigild is not built; run 'make' first" >&2
        return 1
    fi
    mkdir -p var
    url=$(bash tools/dev/pg.sh start var/pg)
    echo "PostgreSQL: running in var/pg (pid $(pg_pid), Unix socket only: $url)"
    export VIGIL_DATABASE_URL="$url" VIGIL_CA_DIR="$root/var/ca" VIGIL_RELEASE_DIR="$root/var/release"
    unset VIGIL_CA_PASSPHRASE VIGIL_RELEASE_PASSPHRASE
    "$ctl" db migrate | sed 's/^/schema: /'
    make_credentials
    cat > var/env <<ENV
# Written by make run: the settings of vigild, vigilctl and the README's
# commands (VIGIL_API_URL is for curl; vigild does not read it).
export VIGIL_DATABASE_URL='$url'
export VIGIL_CA_DIR='$root/var/ca'
export VIGIL_RELEASE_DIR='$root/var/release'
export VIGIL_TLS_CERT='$root/var/tls/server.crt'
export VIGIL_TLS_KEY='$root/var/tls/server.key'
export VIGIL_DEVICE_LISTEN='127.0.0.1:$port'
export VIGIL_API_LISTEN='127.0.0.1:$api_port'
export VIGIL_API_URL='http://127.0.0.1:$api_port'
ENV
    echo "Environment: var/env (source it: . var/env)"
    next_steps
    # shellcheck disable=SC1091
    . var/env
    echo "Starting vigild (pid $$, in var/vigild.pid): devices on 127.0.0.1:$port," \
        "operators on http://127.0.0.1:$api_port (Ctrl-C stops it; PostgreSQL keeps running)"
    echo "$$" > "$pidfile"
    exec "$build/vigild"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) status ;;
*) echo "usage: run.sh [start|stop|status]" >&2; exit 2 ;;
esac
