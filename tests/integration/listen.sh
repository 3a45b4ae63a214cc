# listen.sh - sourced by tests (after harness.sh and pg_start) that check a
# NOTIFY on vigil_registry, the channel every vigild follows: a psql
# session LISTENs, and psql prints what it heard (one "Asynchronous
# notification ... with payload ..." line each) into $T/notify.txt when it
# runs the next statement.
# shellcheck shell=bash

# listen_start: LISTEN from now on.
listen_start() {
    rm -f "$T/lq" && mkfifo "$T/lq"
    "$PSQL" "$VIGIL_DATABASE_URL" -At <"$T/lq" >"$T/notify.txt" 2>&1 &
    LISTEN_PID=$!
    exec 7>"$T/lq"
    echo "LISTEN vigil_registry;" >&7
    listen_mark LISTEN
}
# listen_mark TEXT: what was heard so far is in $T/notify.txt once it returns.
listen_mark() {
    [ "$1" = LISTEN ] || echo "SELECT '$1';" >&7
    for _ in $(seq 1 100); do grep -q "$1" "$T/notify.txt" && return 0; sleep 0.05; done
    return 1
}
# listen_stop: the session ends; $T/notify.txt holds every notification.
listen_stop() { echo "SELECT 'done';" >&7; exec 7>&-; wait "$LISTEN_PID"; }
