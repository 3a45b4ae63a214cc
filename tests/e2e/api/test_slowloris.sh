#!/usr/bin/env bash
# Runs on the release build too.
# Slow clients on the operator port: a request trickled a byte at a time is
# cut at --api-header-timeout with a 408 and a close, whether its headers or
# its body trickle; an address past --api-max-connections-per-address is
# closed at once; and with every connection of the budget held by slow
# clients from four addresses, an operator from a fifth is answered at once
# (a slow connection is closed to make room). slowloris.py is the attacker.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
# A budget of 32, 8 per address: four addresses fill it. A 5 s deadline
# keeps the file short and leaves the attack seconds before any of it is cut.
vigild_start one "$(free_port)" VIGIL_API_MAX_CONNECTIONS=32 VIGIL_API_MAX_CONNECTIONS_PER_ADDRESS=8 \
    VIGIL_API_HEADER_TIMEOUT=5s
HOST=$(vigild_api one)
IP=${HOST%:*} PORT=${HOST##*:}
SLOW=(python3 "$(dirname "$0")/slowloris.py")

# --- the deadline: the headers trickle, or the body does (at the same time) ---
"${SLOW[@]}" trickle "$IP" "$PORT" --addr 127.0.0.6 >"$T/head.json" 2>&1 &
p1=$!
"${SLOW[@]}" trickle "$IP" "$PORT" --addr 127.0.0.7 --body >"$T/body.json" 2>&1 &
p2=$!
wait $p1 $p2
for f in head body; do
    check_json_in "$T/$f.json" "trickled $f: answered at the deadline (5 s), not before" '4.5 <= d["seconds"] <= 7.5'
    check_json_in "$T/$f.json" "  ... with a 408" 'd["status"] == "HTTP/1.1 408 Request Timeout"'
    check_json_in "$T/$f.json" "  ... in the error shape" 'json.loads(d["body"])["error"] == "timeout"'
    check_json_in "$T/$f.json" "  ... and the connection closed" 'd["closed"]'
done

# --- the budget ---
"${SLOW[@]}" attack "$IP" "$PORT" --addrs 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 --per 8 \
    --seconds 8 --status "$T/attack.json" &
attacker=$!
at_exit "kill $attacker"
full() {
    for _ in $(seq 1 40); do
        python3 -c "import json,sys; d=json.load(open('$T/attack.json')); sys.exit(0 if d['open'] == 32 else 1)" \
            2>/dev/null && return 0
        sleep 0.1
    done
    cat "$T/attack.json" >&2
    return 1
}
check "the attack holds all 32 connections, 8 from each of 4 addresses" full
sleep 0.5
check "an attacking address's ninth connection is closed at once" \
    bash -c "[ \"\$(${SLOW[*]} probe $IP $PORT --addr 127.0.0.2)\" = closed ]"
check "an operator from a fifth address is answered within a second" \
    curl -sS --max-time 1 --interface 127.0.0.9 -o /dev/null -w '%{http_code} %{time_total}\n' \
    "http://$HOST/healthz"
check_contains "  ... with a 200" "200 " "$T/out"
sleep 0.3 # the attacker's status file is 0.1 s behind
check_json_in "$T/attack.json" "  ... by closing an attacker's connection, not by the deadline" \
    'd["closes"] >= 1 and d["open"] >= 31'
check "  ... and again" curl -sS --max-time 1 --interface 127.0.0.10 "http://$HOST/healthz"
wait $attacker

check "after the attack the port answers" curl -sS --max-time 5 "http://$HOST/readyz"
check_contains "the guard logged what it closed" '"operator port: connections closed"' "$T/one.log"
check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
