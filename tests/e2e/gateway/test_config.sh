#!/usr/bin/env bash
# vigild's settings: a config file, the environment and flags, in that
# order of precedence; bad settings stop it with exit 2 and a reason.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
pa=$(free_port); pb=$(free_port); pc=$(free_port); papi=$(free_port)
# The operator port on a free port too: the default, 8080, may be a
# developer's `make run`.
cat >"$T/vigild.conf" <<CONF
# comments and blank lines are fine

database-url = $VIGIL_DATABASE_URL
ca-dir = $VIGIL_CA_DIR
tls-cert = $T/tls/server.crt
tls-key = $T/tls/server.key
device-listen = 127.0.0.1:$pa
api-listen = 127.0.0.1:$papi
workers = 1
log-level = debug
CONF
listens() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
up() {  # up PORT LOG: wait until vigild accepts on PORT
    for _ in $(seq 1 100); do listens "$1" && grep -q '"registry loaded"' "$2" && return 0; sleep 0.1; done
    return 1
}

"$VIGILD" --config "$T/vigild.conf" >"$T/a.log" 2>&1 & a=$!; at_exit "kill -9 $a"
check "the config file alone configures vigild" up "$pa" "$T/a.log"
check_contains "its log level applies" '"level":"debug"' "$T/a.log"
kill -TERM $a; wait $a

VIGIL_DEVICE_LISTEN="127.0.0.1:$pb" "$VIGILD" --config "$T/vigild.conf" >"$T/b.log" 2>&1 & b=$!; at_exit "kill -9 $b"
check "the environment beats the file" up "$pb" "$T/b.log"
check "and the file's port is unused" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$pa) 2>/dev/null"
kill -TERM $b; wait $b

VIGIL_DEVICE_LISTEN="127.0.0.1:$pb" "$VIGILD" --config "$T/vigild.conf" --device-listen "127.0.0.1:$pc" >"$T/c.log" 2>&1 & c=$!
at_exit "kill -9 $c"
check "a flag beats the environment" up "$pc" "$T/c.log"
kill -TERM $c; wait $c

echo "no-such-setting = 1" >"$T/bad.conf"
check_exit 2 "an unknown setting: exit 2" "$VIGILD" --config "$T/bad.conf"
check_contains "naming the line" "bad.conf:1" "$T/err"
check_exit 2 "a bad value: exit 2" "$VIGILD" --config "$T/vigild.conf" --idle-timeout soon
check_contains "naming the setting" "idle-timeout" "$T/err"
check_exit 4 "an unreadable TLS key: exit 4" "$VIGILD" --config "$T/vigild.conf" --tls-key "$T/nope.key"
check_contains "with a reason" "cannot load the device port certificate or key" "$T/err"
finish
