#!/usr/bin/env bash
# test_make.sh - `make status`, `make stop` and `make run`'s port checks, in
# a throwaway copy of the checkout (tests/e2e/make/checkout_copy.sh): status
# and stop say what runs and what they stopped, by PID; `make run` refuses a
# taken port before it starts anything, naming the port, what holds it and
# the variable that picks another, and refuses a second vigild; compiles
# print a short `CC file` line, the whole command with V=1.
source "$(dirname "$0")/../../lib/harness.sh"
source "$REPO/tests/e2e/make/checkout_copy.sh"

mk() { make -s --no-print-directory -C "$W" "$@"; }

check "make status with nothing running" mk status
check_contains "make status says vigild is not running" "vigild: not running" "$T/out"
check_contains "make status says PostgreSQL is not running" "PostgreSQL (var/pg): not running" "$T/out"
check "make stop with nothing running" mk stop
check_contains "make stop says vigild was not running" "vigild: not running" "$T/out"

# A port taken by another program: refused before anything starts.
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(120)' \
    "$DPORT" &
holder=$!
at_exit "kill $holder"
for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$DPORT" | grep -q . && break; sleep 0.1; done
check_exit 1 "make run refuses a taken device port" \
    bash -c "cd '$W' && VIGIL_BUILD=build VIGIL_DEVICE_PORT=$DPORT VIGIL_API_PORT=$APORT bash tools/dev/run.sh"
check_contains "it names the port" "port $DPORT (the device port) is taken" "$T/err"
check_contains "it names what holds it" "by python3 (pid $holder)" "$T/err"
check_contains "it says how to pick another" "VIGIL_DEVICE_PORT=" "$T/err"
check "it started nothing (no PostgreSQL under var/)" test ! -e "$W/var/pg"
check_exit 1 "make run refuses a taken operator port" \
    bash -c "cd '$W' && VIGIL_BUILD=build VIGIL_DEVICE_PORT=$APORT VIGIL_API_PORT=$DPORT bash tools/dev/run.sh"
check_contains "it names the operator port" "port $DPORT (the operator port) is taken" "$T/err"
check_contains "it says how to pick another operator port" "VIGIL_API_PORT=" "$T/err"
check_exit 2 "make run refuses a port that is not a number" \
    bash -c "cd '$W' && VIGIL_DEVICE_PORT=x bash tools/dev/run.sh"
check_contains "it says what a port is" "'x' is not a port" "$T/err"
kill "$holder"
wait "$holder" 2>/dev/null

check "make run starts on the ports given" make_run "$T/run.log"
check_contains "make run says which ports" "devices on 127.0.0.1:$DPORT, operators on http://127.0.0.1:$APORT" "$T/run.log"
check_eq "var/vigild.pid has vigild's PID" "$RUN_PID" "$(cat "$W/var/vigild.pid" 2>/dev/null)"
pg=$(head -n 1 "$W/var/pg/data/postmaster.pid" 2>/dev/null)

check "make status with both running exits 0" mk status
check_contains "make status gives vigild's PID" "vigild: running (pid $RUN_PID)" "$T/out"
check_contains "make status gives the device port" "devices on 127.0.0.1:$DPORT" "$T/out"
check_contains "make status gives the operator port" "operators on http://127.0.0.1:$APORT" "$T/out"
check_contains "make status gives /readyz" '"status":"ready"' "$T/out"
check_contains "make status gives PostgreSQL's PID" "PostgreSQL: running (pid $pg)" "$T/out"

check_exit 1 "make run refuses a second vigild" \
    bash -c "cd '$W' && VIGIL_BUILD=build VIGIL_DEVICE_PORT=$DPORT VIGIL_API_PORT=$APORT bash tools/dev/run.sh"
check_contains "it names the running one" "vigild is running already (pid $RUN_PID" "$T/err"
check "the first vigild still answers" curl -sf "http://127.0.0.1:$APORT/readyz"

check "make stop" mk stop
check_contains "make stop names the vigild it stopped" "stopped vigild (pid $RUN_PID)" "$T/out"
check_contains "make stop names the PostgreSQL it stopped" "stopped PostgreSQL (pid $pg, var/pg)" "$T/out"
# gone PID: no such process, or a zombie left for its parent to reap.
gone() { [ ! -d "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }
check "vigild is gone" gone "$RUN_PID"
check "PostgreSQL is gone" gone "$pg"
check_exit 3 "tools/dev/run.sh status after make stop exits 3" bash "$W/tools/dev/run.sh" status
check_contains "make status after make stop says so" "vigild: not running" "$T/out"

# Short compile lines, whole commands with V=1 (one object, in a build
# directory of the test's own).
check "make prints a short CC line" make -C "$REPO" --no-print-directory BUILD="$T/b" "$T/b/obj/protocol/hex.o"
check_eq "the CC line" "  CC   protocol/hex.c" "$(cat "$T/out")"
rm -f "$T/b/obj/protocol/hex.o"
check "make V=1 prints the whole command" make -C "$REPO" --no-print-directory V=1 BUILD="$T/b" "$T/b/obj/protocol/hex.o"
check_contains "the whole command" "-c protocol/hex.c -o $T/b/obj/protocol/hex.o" "$T/out"
finish
