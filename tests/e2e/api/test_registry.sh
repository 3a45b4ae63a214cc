#!/usr/bin/env bash
# The operator API's registry endpoints with curl against a running vigild:
# devices (every filter, keyset pages with rows arriving meanwhile, show
# with certificates and incident counts, quarantine / release /
# decommission and their 409s), certificates (filters, pages, show,
# revoke), the audit log (filters, pages, the token as actor); 401 without
# a token, 403 for too low a role, 404s, 400s naming the parameter; that
# decommissioning closes the device's live mTLS connection within a second
# and refuses its next handshake, that a quarantined device still reports,
# and that an API revocation is in the CRL.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/api_calls.sh"
api_server
DEV="https://127.0.0.1:$dport"
VIEWER=$(token viewer reg-viewer)
OPERATOR=$(token operator reg-operator)
ADMIN=$(token admin reg-admin)
D="$T/dev"
for id in dev-01 dev-02 dev-03; do "$VIGILCTL" device create --id "$id" --out-dir "$D" >/dev/null 2>&1; done
"$VIGILCTL" device create --id sensor-01 --class sensor --out-dir "$D" >/dev/null 2>&1
"$VIGILCTL" device create --id old-01 --out-dir "$D" --validity 1h --backdate 2h >/dev/null 2>&1

# walk.py API TOKEN PATH KEY LIMIT [HOOK]: follows next_cursor to the end
# and prints the KEY of every item as a JSON list; HOOK (a shell command)
# runs after the first page.
cat >"$T/walk.py" <<'EOF'
import json, subprocess, sys, urllib.parse, urllib.request
api, token, path, key, limit = sys.argv[1:6]
hook = sys.argv[6] if len(sys.argv) > 6 else None
seen, cursor, pages = [], None, 0
while True:
    q = path + ("&" if "?" in path else "?") + "limit=" + limit
    if cursor is not None:
        q += "&cursor=" + urllib.parse.quote(cursor, safe="")
    req = urllib.request.Request(api + q, headers={"Authorization": "Bearer " + token})
    d = json.load(urllib.request.urlopen(req, timeout=20))
    assert len(d["items"]) <= int(limit), "page longer than limit"
    assert d["next_cursor"] is None or len(d["items"]) == int(limit), "cursor after a short page"
    seen += [i[key] for i in d["items"]]
    pages += 1
    if pages == 1 and hook:
        subprocess.run(hook, shell=True, check=True)
    cursor = d["next_cursor"]
    if cursor is None or pages > 10000:
        break
print(json.dumps(seen))
EOF
walk() { python3 "$T/walk.py" "$API" "$@"; }
# same_list NAME FILE-A FILE-B: two JSON lists are equal.
same_list() {
    run python3 -c "import json,sys; a=[str(x) for x in json.load(open('$2'))]; b=[str(x) for x in json.load(open('$3'))]; print(len(a), len(b)); sys.exit(0 if a == b else 1)"
    _report $? "$1"
}
sql_list() { sql "$1" | python3 -c 'import json,sys; print(json.dumps([l.rstrip("\n") for l in sys.stdin]))'; }

# 250 more devices without certificates: half "sensor", seen 0..249 hours ago.
sql "INSERT INTO devices (id, device_class, last_seen_at, firmware_version)
     SELECT 'bulk-' || lpad(g::text, 3, '0'), CASE WHEN g % 2 = 0 THEN 'sensor' ELSE 'default' END,
       now() - g * interval '1 hour', CASE WHEN g % 5 = 0 THEN '2.0.0' ELSE '1.0.0' END
     FROM generate_series(0, 249) g" >/dev/null

# ---- authentication and roles ----
call "" GET /v1/devices
expect "no token: 401" 401 "d['error'] == 'unauthorized'"
check_contains "401 names the scheme" 'WWW-Authenticate: Bearer' "$T/headers"
call "vgl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" GET /v1/certificates
expect "unknown token: 401" 401 "d['error'] == 'unauthorized'"
post "$VIEWER" /v1/devices/dev-01/quarantine
expect "viewer cannot quarantine: 403" 403 "d['error'] == 'forbidden'"
post "$VIEWER" /v1/devices/dev-01/release
expect "viewer cannot release: 403" 403 "d['error'] == 'forbidden'"
post "$OPERATOR" /v1/devices/dev-01/decommission
expect "operator cannot decommission: 403" 403 "d['error'] == 'forbidden'"
call "$VIEWER" GET /v1/audit
expect "viewer cannot read the audit log: 403" 403 "d['error'] == 'forbidden'"
call "$OPERATOR" GET /v1/audit
expect "operator cannot read the audit log: 403" 403 "d['error'] == 'forbidden'"
post "$VIEWER" /v1/certificates/0A/revoke
expect "viewer cannot revoke: 403" 403 "d['error'] == 'forbidden'"
call "$VIEWER" DELETE /v1/devices/dev-01
expect "DELETE on a device: 405" 405 "d['error'] == 'method_not_allowed'"

# ---- device list ----
call "$VIEWER" GET "/v1/devices?id_prefix=dev-"
expect "list: items in id order, null cursor on a short page" 200 \
    "[i['id'] for i in d['items']] == ['dev-01','dev-02','dev-03'] and d['next_cursor'] is None"
expect "a device has the documented fields" 200 \
    "set(d['items'][0]) == {'id','class','status','firmware_version','last_seen_at','last_address','created_at','updated_at'}"
call "$VIEWER" GET "/v1/devices?class=sensor&limit=1000"
expect "class filter" 200 "len(d['items']) == 126 and all(i['class'] == 'sensor' for i in d['items'])"
call "$VIEWER" GET "/v1/devices?firmware_version=2.0.0&limit=1000"
expect "firmware_version filter" 200 "len(d['items']) == 50 and all(i['firmware_version'] == '2.0.0' for i in d['items'])"
call "$VIEWER" GET "/v1/devices?seen_since=10h&limit=1000"
expect "seen_since (relative)" 200 "sorted(i['id'] for i in d['items']) == ['bulk-%03d' % g for g in range(0, 10)]"
call "$VIEWER" GET "/v1/devices?seen_before=$(date -u -d '-240 hours -30 minutes' +%FT%TZ)&limit=1000"
expect "seen_before (RFC 3339)" 200 "sorted(i['id'] for i in d['items']) == ['bulk-%03d' % g for g in range(241, 250)]"
call "$VIEWER" GET "/v1/devices?seen_since=20h&seen_before=10h30m"
bad "seen_before=10h30m (two units): 400" seen_before
call "$VIEWER" GET "/v1/devices?seen_since=25h&seen_before=$(date -u -d '-15 hours -30 minutes' +%FT%TZ)&id_prefix=bulk-02"
expect "seen_since + seen_before + id_prefix" 200 "[i['id'] for i in d['items']] == ['bulk-%03d' % g for g in range(20, 25)]"
call "$VIEWER" GET "/v1/devices?status=active&limit=2"
expect "status + limit: a full page has a cursor" 200 "len(d['items']) == 2 and isinstance(d['next_cursor'], str)"
call "$VIEWER" GET "/v1/devices?status=bogus"
bad "status=bogus: 400" status
call "$VIEWER" GET "/v1/devices?limit=0"
bad "limit=0: 400" limit
call "$VIEWER" GET "/v1/devices?limit=1001"
bad "limit=1001: 400" limit
call "$VIEWER" GET "/v1/devices?limit=ten"
bad "limit=ten: 400" limit
call "$VIEWER" GET "/v1/devices?seen_since=yesterday"
bad "seen_since=yesterday: 400" seen_since
call "$VIEWER" GET "/v1/devices?cursor=%21%21"
bad "a malformed cursor: 400" cursor
call "$VIEWER" GET "/v1/devices?colour=red"
bad "an unknown parameter: 400" colour
call "$VIEWER" GET "/v1/devices?limit=1&limit=2"
bad "a repeated parameter: 400" limit
call "$VIEWER" GET "/v1/devices?class=%01"
bad "a control character: 400" class

# Pages of 7 while 20 devices are added after the first page: nothing
# repeated, nothing that existed before skipped, in id order.
sql_list "SELECT id FROM devices ORDER BY id" >"$T/dev_before.json"
walk "$VIEWER" /v1/devices id 7 \
    "'$PSQL' '$VIGIL_DATABASE_URL' -qc \"INSERT INTO devices (id) SELECT 'new-' || g FROM generate_series(1, 20) g\"" \
    >"$T/dev_walk.json"
sql_list "SELECT id FROM devices ORDER BY id" >"$T/dev_after.json"
run python3 -c "
import json, sys
before, walked, after = (json.load(open('$T/' + f)) for f in ('dev_before.json', 'dev_walk.json', 'dev_after.json'))
print(len(before), len(walked), len(after))
ok = len(walked) == len(set(walked)) and set(before) <= set(walked) \
     and [x for x in after if x in set(walked)] == walked and len(walked) >= len(before)
sys.exit(0 if ok else 1)"
_report $? "device pages: no repeats, no gaps, in order, while devices are added"
walk "$VIEWER" "/v1/devices?class=sensor&seen_since=100h" id 3 >"$T/dev_walk2.json"
sql_list "SELECT id FROM devices WHERE device_class = 'sensor' AND last_seen_at >= now() - interval '100 hours' ORDER BY id" >"$T/dev_sql2.json"
same_list "filtered device pages (limit 3) match the database" "$T/dev_sql2.json" "$T/dev_walk2.json"

# ---- device show ----
for _ in 1 2 3; do dcurl "$D" dev-01 -f -o /dev/null -H 'Content-Type: application/json' -d "$(report)" "$DEV/v1/incidents"; done
sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, received_at)
     VALUES (gen_random_uuid(), 'dev-01', 'device', 'crash', 'critical', now() - interval '2 days', now() - interval '2 days'),
            (gen_random_uuid(), 'dev-02', 'device', 'crash', 'info', now(), now())" >/dev/null
serial1=$(sql "SELECT serial FROM certificates WHERE device_id = 'dev-01'")
call "$VIEWER" GET /v1/devices/dev-01
expect "show: the device with its certificates" 200 \
    "d['id'] == 'dev-01' and d['status'] == 'active' and [c['serial'] for c in d['certificates']] == ['$serial1'] and d['certificates'][0]['status'] == 'active' and 'pem' not in d['certificates'][0] and 'created_us' not in d['certificates'][0]"
expect "show: incident counts" 200 \
    "d['incidents'] == {'total': 4, 'last_24h': 3, 'by_severity': {'info': 0, 'warning': 0, 'error': 3, 'critical': 1}}"
expect "show: last_seen_at and last_address come from the device's reports" 200 \
    "d['last_seen_at'] is not None and d['last_address'] == '127.0.0.1'"
call "$VIEWER" GET /v1/devices/bulk-007
expect "show: a device without certificates or incidents" 200 \
    "d['certificates'] == [] and d['incidents']['total'] == 0 and d['incidents']['by_severity']['info'] == 0"
call "$VIEWER" GET /v1/devices/no-such-device
expect "show: unknown device: 404" 404 "d['error'] == 'not_found' and 'no-such-device' in d['reason']"
call "$VIEWER" GET "/v1/devices/bad%21id"
expect "show: an id that cannot exist: 404" 404 "d['error'] == 'not_found'"
call "$VIEWER" GET "/v1/devices/dev-01?verbose=1"
bad "show: unknown parameter: 400" verbose

# ---- quarantine and release ----
upd=$(sql "SELECT updated_at FROM devices WHERE id = 'dev-01'")
post "$OPERATOR" /v1/devices/dev-01/quarantine '{"reason":"crash loop on 1.2.3"}'
expect "quarantine: 200 with the device" 200 "d['id'] == 'dev-01' and d['status'] == 'quarantined' and set(d) == {'id','class','status','firmware_version','last_seen_at','last_address','created_at','updated_at'}"
check_eq "quarantine: stored, updated_at moved" "quarantined t" \
    "$(sql "SELECT status, updated_at > '$upd' FROM devices WHERE id = 'dev-01'" | tr '|' ' ')"
post "$OPERATOR" /v1/devices/dev-01/quarantine
expect "quarantining a quarantined device: a no-op 200" 200 "d['status'] == 'quarantined'"
check_eq "one audit row for the two quarantines" 1 \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'device.quarantine' AND device_id = 'dev-01'")"
check_eq "the audit row names the token and the reason" "token|reg-operator|crash loop on 1.2.3|active" \
    "$(sql "SELECT actor_kind, actor, details->>'reason', details->>'from' FROM audit_log WHERE action = 'device.quarantine'")"
call "$VIEWER" GET "/v1/devices?status=quarantined"
expect "status=quarantined lists it" 200 "[i['id'] for i in d['items']] == ['dev-01']"
check "a quarantined device still reports" \
    dcurl "$D" dev-01 -f -o /dev/null -H 'Content-Type: application/json' -d "$(report)" "$DEV/v1/incidents"
post "$OPERATOR" /v1/devices/dev-01/quarantine '{"reason":42}'
bad "quarantine: a non-string reason: 400" reason
post "$OPERATOR" /v1/devices/dev-01/quarantine "{\"reason\":\"$(printf 'x%.0s' $(seq 257))\"}"
bad "quarantine: a reason over 256 characters: 400" reason
post "$OPERATOR" /v1/devices/dev-01/quarantine '{"reason":"é'"$(printf 'x%.0s' $(seq 255))"'"}'
expect "quarantine: 256 characters (not bytes) are accepted" 200 "d['status'] == 'quarantined'"
post "$OPERATOR" /v1/devices/dev-01/quarantine '{"reason":""}'
bad "quarantine: an empty reason: 400" reason
post "$OPERATOR" /v1/devices/dev-01/quarantine '{"reason":"a\nb"}'
bad "quarantine: a control character in the reason: 400" reason
post "$OPERATOR" /v1/devices/dev-01/quarantine '{"raeson":"typo"}'
bad "quarantine: an unknown body field: 400" raeson
post "$OPERATOR" /v1/devices/dev-01/quarantine '{"reason":'
expect "quarantine: malformed JSON: 400" 400 "d['error'] == 'bad_request'"
post "$OPERATOR" /v1/devices/dev-01/quarantine '["reason"]'
expect "quarantine: a body that is not an object: 400" 400 "d['error'] == 'bad_request'"
post "$OPERATOR" "/v1/devices/dev-01/quarantine?force=1"
bad "quarantine: a query parameter: 400" force
post "$OPERATOR" /v1/devices/nobody/quarantine
expect "quarantine: unknown device: 404" 404 "d['error'] == 'not_found'"
post "$OPERATOR" /v1/devices/dev-01/release '{"reason":"fixed in 1.2.4"}'
expect "release: back to active" 200 "d['status'] == 'active'"
post "$OPERATOR" /v1/devices/dev-01/release
expect "releasing an active device: a no-op 200" 200 "d['status'] == 'active'"
check_eq "release is audited once" "1 reg-operator" \
    "$(sql "SELECT count(*), min(actor) FROM audit_log WHERE action = 'device.release'" | tr '|' ' ')"
post "$OPERATOR" /v1/devices/nobody/release
expect "release: unknown device: 404" 404 "d['error'] == 'not_found'"

# ---- decommission ----
hold() { hold_mtls "$D" "$1" "$dport" "$2"; }   # hold ID NAME
hold dev-02 d2
hold dev-03 d3
sleep 1
check "the devices' connections are up" still_open d2
post "$OPERATOR" /v1/devices/dev-03/quarantine
sleep 0.5
check "quarantine leaves the live connection open" still_open d3
start=$(date +%s%N)
post "$ADMIN" /v1/devices/dev-02/decommission '{"reason":"returned to vendor"}'
expect "decommission: 200" 200 "d['status'] == 'decommissioned'"
check "decommission closes the device's connection within 1 s" closed_within d2 "$start" 1000
check "another device's connection stays open" still_open d3
check_fails "the decommissioned device's next handshake is refused" \
    dcurl "$D" dev-02 -f -o /dev/null -H 'Content-Type: application/json' -d "$(report)" "$DEV/v1/incidents"
post "$OPERATOR" /v1/devices/dev-02/quarantine
expect "quarantining a decommissioned device: 409" 409 "d['error'] == 'conflict' and 'decommissioned' in d['reason']"
post "$OPERATOR" /v1/devices/dev-02/release
expect "releasing a decommissioned device: 409" 409 "d['error'] == 'conflict'"
post "$ADMIN" /v1/devices/dev-02/decommission
expect "decommissioning again: a no-op 200" 200 "d['status'] == 'decommissioned'"
post "$ADMIN" /v1/devices/nobody/decommission
expect "decommission: unknown device: 404" 404 "d['error'] == 'not_found'"
check_eq "decommission is audited once, as the admin token" "1|token|reg-admin|returned to vendor" \
    "$(sql "SELECT count(*), min(actor_kind), min(actor), min(details->>'reason') FROM audit_log WHERE action = 'device.decommission'")"

# revoking through the API closes the live connection too
serial3=$(sql "SELECT serial FROM certificates WHERE device_id = 'dev-03'")
check "dev-03 is still connected" still_open d3
start=$(date +%s%N)
post "$OPERATOR" "/v1/certificates/$serial3/revoke" '{"reason":"keyCompromise"}'
expect "revoke: 200 with the certificate" 200 \
    "d['serial'] == '$serial3' and d['status'] == 'revoked' and d['revocation_reason'] == 'keyCompromise' and d['revoked_at'] and 'pem' not in d"
check "revocation closes the device's connection within 1 s" closed_within d3 "$start" 1000

# ---- certificates ----
call "$VIEWER" GET "/v1/certificates?device_id=dev-01"
expect "certificate list: device_id filter" 200 "[c['serial'] for c in d['items']] == ['$serial1'] and d['next_cursor'] is None"
expect "a certificate has the documented fields" 200 \
    "set(d['items'][0]) == {'serial','device_id','status','not_before','not_after','revoked_at','revocation_reason','issuer','fingerprint_sha256'}"
call "$VIEWER" GET "/v1/certificates?status=expired"
expect "status=expired" 200 "[c['device_id'] for c in d['items']] == ['old-01'] and d['items'][0]['status'] == 'expired'"
call "$VIEWER" GET "/v1/certificates?status=active&limit=1000"
expect "status=active leaves the expired and revoked ones out" 200 \
    "sorted(c['device_id'] for c in d['items']) == ['dev-01', 'dev-02', 'sensor-01']"
call "$VIEWER" GET "/v1/certificates?status=valid"
bad "certificate status=valid: 400" status
call "$VIEWER" GET "/v1/certificates?device_id=a%20b"
bad "certificate device_id with a space: 400" device_id
call "$VIEWER" GET "/v1/certificates?cursor=12.zz"
bad "certificate cursor malformed: 400" cursor
call "$VIEWER" GET "/v1/certificates?cursor=12"
bad "certificate cursor without a serial: 400" cursor

call "$VIEWER" GET "/v1/certificates/$serial1"
expect "show a certificate with its PEM" 200 \
    "d['serial'] == '$serial1' and d['device_id'] == 'dev-01' and d['pem'].startswith('-----BEGIN CERTIFICATE-----')"
call "$VIEWER" GET "/v1/certificates/$(echo "$serial1" | tr 'A-F' 'a-f')"
expect "a lowercase serial finds it too" 200 "d['serial'] == '$serial1'"
call "$VIEWER" GET /v1/certificates/ABCDEF0123
expect "unknown serial: 404" 404 "d['error'] == 'not_found'"
call "$VIEWER" GET /v1/certificates/not-hex
expect "a serial that cannot exist: 404" 404 "d['error'] == 'not_found'"

# 150 recorded certificates made in one statement (one created_at: the
# serial breaks the tie) and 30 older ones; pages of 9.
sql "INSERT INTO certificates (serial, device_id, issuer, fingerprint_sha256, not_before, not_after, pem, created_at)
     SELECT upper(to_hex(1048576 + g)), 'bulk-' || lpad((g % 20)::text, 3, '0'), 'AA',
       md5(g::text) || md5('x' || g), now() - interval '1 day', now() + interval '1 year', 'not a PEM',
       CASE WHEN g <= 150 THEN now() - interval '1 hour' ELSE now() - g * interval '1 minute' END
     FROM generate_series(1, 180) g" >/dev/null
walk "$VIEWER" /v1/certificates serial 9 >"$T/cert_walk.json"
sql_list "SELECT serial FROM certificates ORDER BY created_at DESC, serial" >"$T/cert_sql.json"
same_list "certificate pages: newest first, no repeats, no gaps" "$T/cert_sql.json" "$T/cert_walk.json"
walk "$VIEWER" "/v1/certificates?device_id=bulk-010&status=active" serial 1 >"$T/cert_walk2.json"
sql_list "SELECT serial FROM certificates WHERE device_id = 'bulk-010' ORDER BY created_at DESC, serial" >"$T/cert_sql2.json"
same_list "filtered certificate pages (limit 1)" "$T/cert_sql2.json" "$T/cert_walk2.json"

# ---- revocation ----
serials=$(sql "SELECT serial FROM certificates WHERE device_id = 'sensor-01'")
post "$OPERATOR" "/v1/certificates/$serials/revoke" '{"reason":"bogus"}'
bad "revoke: an unknown reason: 400" reason
post "$OPERATOR" "/v1/certificates/$serials/revoke" '{"reason":"certificateHold"}'
bad "revoke: certificateHold is not offered: 400" reason
post "$OPERATOR" "/v1/certificates/$serials/revoke" '{"reason":1}'
bad "revoke: a non-string reason: 400" reason
post "$OPERATOR" "/v1/certificates/$serials/revoke" '{"reason":"keyCompromise","why":"x"}'
bad "revoke: an unknown body field: 400" why
post "$OPERATOR" "/v1/certificates/$serials/revoke?now=1"
bad "revoke: a query parameter: 400" now
post "$OPERATOR" /v1/certificates/ABCDEF0123/revoke
expect "revoke: unknown serial: 404" 404 "d['error'] == 'not_found'"
post "$OPERATOR" /v1/certificates/xyz/revoke
expect "revoke: a serial that cannot exist: 404" 404 "d['error'] == 'not_found'"
check_eq "nothing was revoked by the refusals" active "$(sql "SELECT status FROM certificates WHERE serial = '$serials'")"
post "$OPERATOR" "/v1/certificates/$serial3/revoke" '{"reason":"superseded"}'
expect "revoking twice: 409" 409 "d['error'] == 'conflict' and 'keyCompromise' in d['reason']"
post "$OPERATOR" "/v1/certificates/$serials/revoke"
expect "revoke without a body: reason unspecified" 200 "d['revocation_reason'] == 'unspecified'"
call "$VIEWER" GET "/v1/certificates?status=revoked"
expect "status=revoked lists both" 200 "sorted(c['serial'] for c in d['items']) == sorted(['$serial3', '$serials'])"
check_eq "the revocation is audited as the token" "token|reg-operator|dev-03|keyCompromise" \
    "$(sql "SELECT actor_kind, actor, device_id, details->>'reason' FROM audit_log WHERE action = 'cert.revoke' AND serial = '$serial3'")"
"$VIGILCTL" ca crl >"$T/crl.pem" 2>"$T/err"
openssl crl -in "$T/crl.pem" -noout -text >"$T/crl.txt" 2>&1
check_contains "the CRL lists the API revocation" "Serial Number: $serial3" "$T/crl.txt"
check "the CRL entry has reason Key Compromise" \
    bash -c "grep -A4 'Serial Number: $serial3' '$T/crl.txt' | grep -q 'Key Compromise'"
check_contains "the CRL lists the other API revocation" "Serial Number: $serials" "$T/crl.txt"

# ---- the audit log ----
sql "INSERT INTO audit_log (actor_kind, actor, action, device_id, details)
     SELECT 'os', 'seed', 'seed.row', 'bulk-' || lpad((g % 3)::text, 3, '0'), jsonb_build_object('n', g)
     FROM generate_series(1, 300) g" >/dev/null
call "$ADMIN" GET "/v1/audit?limit=1"
expect "audit: newest first, with the documented fields" 200 \
    "set(d['items'][0]) == {'id','at','actor_kind','actor','action','device_id','serial','details'} and d['items'][0]['id'] == $(sql "SELECT max(id) FROM audit_log") and d['next_cursor']"
call "$ADMIN" GET "/v1/audit?action=device.quarantine"
expect "audit: action filter" 200 \
    "len(d['items']) == 2 and all(i['action'] == 'device.quarantine' and i['actor_kind'] == 'token' and i['actor'] == 'reg-operator' for i in d['items'])"
call "$ADMIN" GET "/v1/audit?actor=reg-admin"
expect "audit: actor filter" 200 "[i['action'] for i in d['items']] == ['device.decommission'] and d['items'][0]['details']['reason'] == 'returned to vendor'"
call "$ADMIN" GET "/v1/audit?device_id=dev-01&limit=1000"
expect "audit: device_id filter" 200 "d['items'] and all(i['device_id'] == 'dev-01' for i in d['items']) and 'device.release' in [i['action'] for i in d['items']]"
call "$ADMIN" GET "/v1/audit?since=1h&action=cert.revoke"
expect "audit: since (relative)" 200 "sorted(i['serial'] for i in d['items']) == sorted(['$serial3', '$serials'])"
call "$ADMIN" GET "/v1/audit?until=$(date -u -d '-1 hour' +%FT%TZ)"
expect "audit: until in the past" 200 "d['items'] == [] and d['next_cursor'] is None"
call "$ADMIN" GET "/v1/audit?since=soon"
bad "audit: since=soon: 400" since
call "$ADMIN" GET "/v1/audit?cursor=abc"
bad "audit: cursor=abc: 400" cursor
call "$ADMIN" GET "/v1/audit?device_id=%2E%2E"
bad "audit: device_id=..: 400" device_id
call "$ADMIN" GET "/v1/audit?who=me"
bad "audit: unknown parameter: 400" who
walk "$ADMIN" /v1/audit id 13 >"$T/audit_walk.json"
sql_list "SELECT id FROM audit_log ORDER BY id DESC" >"$T/audit_sql.json"
same_list "audit pages: newest first, no repeats, no gaps" "$T/audit_sql.json" "$T/audit_walk.json"
walk "$ADMIN" "/v1/audit?device_id=bulk-001&action=seed.row" id 7 >"$T/audit_walk2.json"
sql_list "SELECT id FROM audit_log WHERE device_id = 'bulk-001' AND action = 'seed.row' ORDER BY id DESC" >"$T/audit_sql2.json"
same_list "filtered audit pages" "$T/audit_sql2.json" "$T/audit_walk2.json"

check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
