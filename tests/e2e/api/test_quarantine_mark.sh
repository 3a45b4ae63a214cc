#!/usr/bin/env bash
# What quarantine does to a device (issue 13, item 18), with curl and a
# Python client holding one mTLS connection: a quarantined device still
# reports, and its reports are stored marked (incidents.quarantined);
# reports sent after its release are not; the quarantine applies to the
# next report on a connection that was already open. The mark is in the
# incident JSON and filters GET /v1/incidents, stats, groups and the
# export (CSV column); a bad value is a 400 quoting it. A quarantined
# device cannot renew (EST 403 quarantined), is offered no update (GET
# /v1/update 204 quarantined, artifact 403), and can again once released.
# A '+' in a since that arrives as a space is a 400 that quotes it.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/api_calls.sh"
. "$(dirname "$0")/../../lib/release_fixture.sh"
api_server
U="https://127.0.0.1:$dport"
D="$T/dev"
VIEWER=$(token viewer mark-viewer)
OPERATOR=$(token operator mark-operator)
for id in q-1 n-1; do "$VIGILCTL" device create --id "$id" --class sensor --out-dir "$D" >/dev/null 2>&1; done
uuid() { cat /proc/sys/kernel/random/uuid; }

# send ID REPORT-ID...: POST /v1/incidents as ID with one report per id; all stored
send() {
    local id=$1; shift
    local body="[" r
    for r in "$@"; do body="$body$([ "$body" = "[" ] || echo ,)$(report "$r")"; done
    dcurl "$D" "$id" -H 'Content-Type: application/json' -d "$body]" -o "$T/sent" "$U/v1/incidents" &&
        python3 -c "import json,sys; d=json.load(open('$T/sent')); sys.exit(0 if d['stored'] == $# else 1)"
}
mark() { sql "SELECT quarantined FROM incidents WHERE id = '$1'"; }
# upd ID: GET /v1/update as ID; prints "200" or "204 REASON"
upd() {
    local code
    code=$(dcurl "$D" "$1" -o "$T/upd" -D "$T/uh" -w '%{http_code}' \
        -H 'X-Vigil-Version: 1.0.0' -H 'X-Vigil-Security-Version: 1' "$U/v1/update") || return 1
    if [ "$code" = 204 ]; then echo "204 $(tr -d '\r' <"$T/uh" | sed -n 's/^x-vigil-reason: //Ip')"; else echo "$code"; fi
}
# await ID WANT: the update answer becomes WANT within 5 s: the view has heard the NOTIFY
await() {
    for _ in $(seq 1 50); do [ "$(upd "$1")" = "$2" ] && return 0; sleep 0.1; done
    echo "update answer $(upd "$1"), wanted $2" >&2
    return 1
}
csr() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.newkey" \
    -subj "/CN=$1" -outform DER 2>/dev/null | base64 >"$T/$1.csr"; }
renew() {
    dcurl "$D" "$1" -H 'Content-Type: application/pkcs10' --data-binary @"$T/$1.csr" \
        -o "$T/renew.body" -w '%{http_code}' "$U/.well-known/est/simplereenroll"
}

# An update every sensor is offered, so that a refusal can only be the quarantine.
head -c 20000 /dev/urandom >"$T/fw.bin"
rf_key main >/dev/null
rel=$(rf_release 2.0.0 5 sensor "$T/fw.bin")
rf_rollout "$rel" 10000 >/dev/null
SHA=$(sha256sum "$T/fw.bin" | cut -c1-64)
check "an active device is offered the update" await q-1 200

A1=$(uuid) N1=$(uuid)
check "an active device's report: stored" send q-1 "$A1"
check "another device's report: stored" send n-1 "$N1"
check_eq "  ... not marked" "f f" "$(mark "$A1") $(mark "$N1")"

# ---- quarantine, on a connection that stays open ----
cat >"$T/held.py" <<'EOF'
import http.client, json, ssl, subprocess, sys
host, port, crt, key, ca, hook, first, second = sys.argv[1:9]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(crt, key)
conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=20)
def send(rid):
    body = json.dumps({"id": rid, "type": "crash", "severity": "error",
                       "occurred_at": "2026-11-25T10:00:00Z"})
    conn.request("POST", "/v1/incidents", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    d = json.loads(r.read())
    assert r.status == 200 and d["stored"] == 1, (r.status, d)
send(first)
sock = conn.sock
subprocess.run(hook, shell=True, check=True)
send(second)
assert conn.sock is sock, "the second report went on another connection"
print("both on one connection")
EOF
A2=$(uuid) A3=$(uuid) A4=$(uuid) N2=$(uuid)
# the hook: quarantine q-1 through the API, then wait until this node's
# view has it (the update check says so)
cat >"$T/hook.sh" <<EOF
curl -sS -o /dev/null -H 'Authorization: Bearer $OPERATOR' -H 'Content-Type: application/json' \
    -d '{"reason":"crash loop"}' '$API/v1/devices/q-1/quarantine' || exit 1
for _ in \$(seq 1 50); do
    curl -sS --max-time 10 --cacert '$T/chain.pem' --cert '$D/q-1.crt' --key '$D/q-1.key' \
        -H 'X-Vigil-Version: 1.0.0' -H 'X-Vigil-Security-Version: 1' -o /dev/null -D '$T/hook.h' \
        '$U/v1/update' && grep -qi '^x-vigil-reason: quarantined' '$T/hook.h' && exit 0
    sleep 0.1
done
exit 1
EOF
check "quarantined between two reports on one open connection" python3 "$T/held.py" 127.0.0.1 "$dport" \
    "$D/q-1.crt" "$D/q-1.key" "$T/chain.pem" "bash $T/hook.sh" "$A2" "$A3"
check_eq "  ... the report before: not marked; the one after: marked" "f t" "$(mark "$A2") $(mark "$A3")"
check "a quarantined device still reports (a batch): stored" send q-1 "$A4" "$(uuid)"
check_eq "  ... marked" "t" "$(mark "$A4")"
check "another device meanwhile: stored" send n-1 "$N2"
check_eq "  ... not marked" "f" "$(mark "$N2")"

# ---- what a quarantined device may not do ----
check_eq "no update for a quarantined device: 204 quarantined" "204 quarantined" "$(upd q-1)"
check_eq "  ... while an active one is offered it" 200 "$(upd n-1)"
check_eq "no artifact for a quarantined device: 403" 403 \
    "$(dcurl "$D" q-1 -o "$T/art" -w '%{http_code}' "$U/v1/artifacts/$SHA")"
check_json_in "$T/art" "  ... error quarantined" "d['error'] == 'quarantined'"
csr q-1
check_eq "a quarantined device cannot renew: 403" 403 "$(renew q-1)"
check_json_in "$T/renew.body" "  ... error quarantined, saying it may still report" \
    "d['error'] == 'quarantined' and 'report' in d['reason']"

# ---- who quarantined it, when and why: in the device itself ----
call "$VIEWER" GET "/v1/devices/q-1"
expect "GET /v1/devices/q-1: the quarantine's reason, actor and time" 200 \
    "d['status'] == 'quarantined' and d['quarantine_reason'] == 'crash loop' and d['quarantined_by'].startswith('token:') and d['quarantined_at']"
call "$VIEWER" GET "/v1/devices/n-1"
expect "  ... an active device has none of it" 200 "'quarantine_reason' not in d and 'quarantined_by' not in d"

# ---- the mark through the API ----
sql "SELECT id FROM incidents WHERE quarantined" >"$T/marked"
call "$VIEWER" GET "/v1/incidents?quarantined=true"
expect "quarantined=true: the 3 marked reports, each with quarantined true" 200 \
    "sorted(i['id'] for i in d['items']) == sorted(open('$T/marked').read().split()) and len(d['items']) == 3 and all(i['quarantined'] is True for i in d['items'])"
call "$VIEWER" GET "/v1/incidents?quarantined=false&device_id=q-1&source=device"
expect "quarantined=false: q-1's reports from before" 200 \
    "sorted(i['id'] for i in d['items']) == sorted(['$A1', '$A2']) and all(i['quarantined'] is False for i in d['items'])"
call "$VIEWER" GET "/v1/incidents?device_id=n-1"
expect "every incident object has the mark" 200 "len(d['items']) == 2 and all(i['quarantined'] is False for i in d['items'])"
seq=$(sql "SELECT seq FROM incidents WHERE id = '$A3'")
call "$VIEWER" GET "/v1/incidents/$seq"
expect "one incident: quarantined true" 200 "d['id'] == '$A3' and d['quarantined'] is True"
call "$VIEWER" GET "/v1/incidents/stats?quarantined=true&since=1h&bucket=1h"
expect "stats filtered: 3" 200 "sum(s['count'] for s in d['series']) == 3"
call "$VIEWER" GET "/v1/incidents/stats?quarantined=false&source=device&since=1h&bucket=1h"
expect "stats of the others: 4" 200 "sum(s['count'] for s in d['series']) == 4"
call "$VIEWER" GET "/v1/incident-groups?quarantined=true"
expect "groups filtered: 3 incidents" 200 "sum(g['count'] for g in d['items']) == 3"
call "$VIEWER" GET "/v1/incidents/export?quarantined=true&format=csv"
check_eq "export CSV filtered: a header and 3 rows" 4 "$(wc -l <"$T/resp")"
check "  ... the header ends with quarantined, each row with true" python3 -c "
import csv, sys
rows = list(csv.reader(open('$T/resp', newline='')))
assert rows[0][-1] == 'quarantined' and rows[0][-2] == 'details', rows[0]
assert all(r[-1] == 'true' and len(r) == len(rows[0]) for r in rows[1:]), rows"
call "$VIEWER" GET "/v1/incidents/export?quarantined=false&device_id=q-1&source=device"
check_eq "export NDJSON filtered: 2 lines" 2 "$(wc -l <"$T/resp")"
call "$VIEWER" GET "/v1/incidents?quarantined=yes"
expect "quarantined=yes: 400 quoting the value" 400 \
    "d['parameter'] == 'quarantined' and d['reason'] == \"quarantined 'yes' must be one of: true, false\""

# ---- a '+' that arrives as a space (issue 13, item 15) ----
call "$VIEWER" GET "/v1/incidents?since=2026-12-01T10:00:00+01:00"
expect "since with a raw '+': 400 quoting the value received, and the fix" 400 \
    "d['parameter'] == 'since' and d['reason'].startswith(\"since '2026-12-01T10:00:00 01:00' is not an RFC 3339 time\") and 'write Z or %2B for +' in d['reason']"
call "$VIEWER" GET "/v1/incidents?since=2026-12-01T10:00:00%2B01:00"
expect "  ... with %2B: 200" 200
call "$VIEWER" GET "/v1/incidents?limit=5000"
expect "limit=5000: 400 quoting it" 400 "d['reason'] == \"limit '5000' must be a whole number from 1 to 1000\""

# ---- release ----
post "$OPERATOR" /v1/devices/q-1/release
expect "release: 200" 200 "d['status'] == 'active'"
check "a released device is offered the update again" await q-1 200
A5=$(uuid)
check "a released device's report: stored" send q-1 "$A5"
check_eq "  ... not marked" "f" "$(mark "$A5")"
check_eq "  ... and the marked ones stay marked" 3 "$(sql "SELECT count(*) FROM incidents WHERE quarantined")"
check_eq "a released device renews: 200" 200 "$(renew q-1)"

check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
