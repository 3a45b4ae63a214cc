#!/usr/bin/env bash
# One error shape on both ports (protocol/errors.h), with real curl calls:
# the device port and the operator port answer a 404, a 405, a 401 (no
# client certificate; no token) and a 400 with bodies of exactly the same
# members and types, {"error": string, "reason": string}, plus
# "parameter": string only where one named input is at fault (the API's
# bad query parameter names it; the device port names none); the same
# status gets the same code on both; no error body has a "message"; and
# the device port's 503 to a report keeps its results next to error and
# reason.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port"
DEV="https://127.0.0.1:$port"
API="http://$(vigild_api main)"
D="$T/dev"
"$VIGILCTL" device create --id shape-1 --out-dir "$D" >/dev/null 2>&1
VIEWER=$("$VIGILCTL" token create --role viewer --name shape-viewer 2>/dev/null | tail -n 1)
mkdir -p "$T/bodies"
JSON=(-H 'Content-Type: application/json')

# ask NAME STATUS CURL-ARGS...: the answer has STATUS; its body is kept as
# $T/bodies/NAME for the comparisons below.
ask() {
    local name=$1 want=$2; shift 2
    local got
    got=$(curl -sS --max-time 10 -o "$T/bodies/$name" -w '%{http_code}' "$@" 2>"$T/err")
    check_eq "$name: $want" "$want" "$got"
}
# on_device / on_api NAME STATUS CURL-ARGS...: ask as the registered device, as a viewer.
on_device() { ask "$1" "$2" --cacert "$T/chain.pem" --cert "$D/shape-1.crt" --key "$D/shape-1.key" "${@:3}"; }
on_api() { ask "$1" "$2" -H "Authorization: Bearer $VIEWER" "${@:3}"; }

on_device "device 404" 404 "$DEV/v1/nothing"
on_api "api 404" 404 "$API/v1/nothing"
on_device "device 405" 405 "$DEV/v1/incidents"
on_api "api 405" 405 -X DELETE "$API/v1/incidents"
ask "device 401" 401 --cacert "$T/chain.pem" "${JSON[@]}" -d "$(report)" "$DEV/v1/incidents"
ask "api 401" 401 "$API/v1/incidents"
on_device "device 400" 400 "${JSON[@]}" -d '{"id":' "$DEV/v1/incidents"
on_api "api 400" 400 "$API/v1/incidents?limit=many"

# shape NAME CODE [PARAMETER]: the body is a JSON object of string members
# error (= CODE) and reason (not empty), and parameter (= PARAMETER) when
# one is given; nothing else.
shape() {
    python3 - "$T/bodies/$1" "$2" "${3:-}" <<'EOF'
import json, sys
path, code, parameter = sys.argv[1:]
text = open(path, encoding="utf-8").read()
print("body:", text.rstrip("\n"), file=sys.stderr)
d = json.loads(text)
want = {"error", "reason"} | ({"parameter"} if parameter else set())
assert isinstance(d, dict), "not an object"
assert set(d) == want, f"members {sorted(d)}, expected {sorted(want)}"
assert all(isinstance(v, str) for v in d.values()), "a member that is not a string"
assert d["error"] == code, f"error {d['error']!r}, expected {code!r}"
assert d["reason"], "an empty reason"
assert not parameter or d["parameter"] == parameter, f"parameter {d.get('parameter')!r}"
EOF
}
for port_name in device api; do
    check "$port_name 404: error and reason" shape "$port_name 404" not_found
    check "$port_name 405: error and reason" shape "$port_name 405" method_not_allowed
    check "$port_name 401: error and reason" shape "$port_name 401" unauthorized
done
check "api 400: error, reason and the parameter at fault" shape "api 400" bad_request limit
check "device 400: error and reason, no parameter" shape "device 400" bad_request

# members() NAME: the body's member names and JSON types, sorted, on one line.
members() {
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))
print(" ".join(sorted(f"{k}:{type(v).__name__}" for k, v in d.items())))' "$T/bodies/$1" 2>/dev/null
}
for status in 404 405 401; do
    check_eq "$status: the same members and types on both ports" "$(members "api $status")" "$(members "device $status")"
done
check_eq "400: the device port's members are the API's less parameter" \
    "$(members "api 400" | sed 's/ *parameter:str//')" "$(members "device 400")"

# The 503 to a report: its results, and error and reason from the same
# function (the database is stopped; vigild's view of the registry still
# lets the device in).
pg_stop
on_device "device 503" 503 "${JSON[@]}" -d "$(report)" "$DEV/v1/incidents"
check "device 503: results, then error and reason" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("body:", d, file=sys.stderr)
assert set(d) == {"results", "stored", "duplicate", "rejected", "retry", "error", "reason"}, sorted(d)
assert d["error"] == "unavailable" and isinstance(d["reason"], str) and d["reason"]
assert [r["status"] for r in d["results"]] == ["retry"]' "$T/bodies/device 503"
pg_restart

check "no error body on either port has a message member" python3 -c '
import glob, json, sys
bodies = sorted(glob.glob(sys.argv[1] + "/*"))
assert len(bodies) == 9, bodies
for path in bodies:
    assert "message" not in json.load(open(path)), path' "$T/bodies"
check "SIGTERM: vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
