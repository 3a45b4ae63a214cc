#!/usr/bin/env bash
# pg.sh start|stop|status|url DIR - a throwaway PostgreSQL 15 cluster in DIR
# (data in DIR/data, socket in DIR/sock, log in DIR/pg.log, no TCP), for the
# tests and for `make run`. PostgreSQL refuses to run as root, so as root the
# cluster belongs to the `postgres` user. Tolerates what a crashed run left:
# a stale postmaster.pid, a server still running (reused).
set -euo pipefail

action=${1:?usage: pg.sh start|stop|status|url DIR}
dir=${2:?usage: pg.sh start|stop|status|url DIR}
bin=/usr/lib/postgresql/15/bin
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [ "$(id -u)" -eq 0 ]; then
    owner=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    owner=$(id -un)
    as_owner() { "$@"; }
fi
url="postgresql:///vigil?host=$dir/sock&user=$owner"

running() { as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

start() {
    mkdir -p "$dir/sock"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        rm -rf "$dir/data"
        as_owner "$bin/initdb" -D "$dir/data" -A trust -U "$owner" -E UTF8 --no-locale >/dev/null
    fi
    if ! running; then
        rm -f "$dir/data/postmaster.pid" "$dir/sock/.s.PGSQL.5432" "$dir/sock/.s.PGSQL.5432.lock"
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 start \
            -o "-k $dir/sock -c listen_addresses='' -c fsync=on -c max_connections=200" >/dev/null
    fi
    if ! as_owner "$bin/psql" -h "$dir/sock" -U "$owner" -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = 'vigil'" | grep -q 1; then
        as_owner "$bin/createdb" -h "$dir/sock" -U "$owner" vigil
    fi
    echo "$url"
}

stop() {
    if [ -f "$dir/data/PG_VERSION" ] && running; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    fi
}

case "$action" in
start) start ;;
stop) stop ;;
status) if running; then echo "running: $url"; else echo "stopped"; exit 3; fi ;;
url) echo "$url" ;;
*) echo "usage: pg.sh start|stop|status|url DIR" >&2; exit 2 ;;
esac
