#!/usr/bin/env bash
# vigilctl device allow-renewal: a one-time renewal grant for the device's
# newest certificate, until an RFC 3339 time or a duration from now; a new
# grant replaces the open one; the audit row and the NOTIFY vigild follows
# (heard from a psql LISTEN); and each refusal: unknown and decommissioned
# devices, no certificate, a revoked newest certificate, an until in the
# past or more than 30 days ahead.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../listen.sh"
pg_start
setup_ca
D="$T/d"
"$VIGILCTL" device create --id dev-a --out-dir "$D" --validity 1h --backdate 2h >/dev/null 2>&1
fp_a=$(openssl x509 -in "$D/dev-a.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
serial_a=$(openssl x509 -in "$D/dev-a.crt" -noout -serial | cut -d= -f2)


listen_start
until=$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ)
check "grant until an RFC 3339 time (certificate expired)" "$VIGILCTL" device allow-renewal dev-a --until "$until" --json
check_json "the grant object" "d['device_id']=='dev-a' and d['serial']=='$serial_a' and d['fingerprint_sha256']=='$fp_a' and d['expires_at']=='$until' and d['granted_at'].endswith('Z') and d['replaced'] is None"
listen_stop
epoch=$(date -u -d "$until" +%s)
check_contains "NOTIFY renewal_grant, open, with the expiry in epoch seconds" \
    "{\"event\" : \"renewal_grant\", \"device_id\" : \"dev-a\", \"fingerprint\" : \"$fp_a\", \"state\" : \"open\", \"expires_at\" : $epoch}" "$T/notify.txt"
check_eq "one open grant" "1|$serial_a|os:$(id -un)" "$(sql "SELECT count(*), min(serial), min(granted_by) FROM renewal_grants WHERE device_id='dev-a' AND used_at IS NULL")"
check_eq "audit row device.allow_renewal" "$serial_a|$fp_a|$until|null" \
    "$(sql "SELECT serial, details->>'fingerprint', details->>'expires_at', details->'replaced' FROM audit_log WHERE action='device.allow_renewal'")"

check "a duration replaces it" "$VIGILCTL" device allow-renewal dev-a --until 90m
check_contains "says it replaced a grant" "replaces the open grant" "$T/out"
check_eq "still one open grant, now 90 min ahead" "1|t" \
    "$(sql "SELECT count(*), bool_and(abs(extract(epoch FROM expires_at - now()) - 5400) < 60) FROM renewal_grants WHERE device_id='dev-a' AND used_at IS NULL")"
check_eq "one row, updated in place" "1" "$(sql "SELECT count(*) FROM renewal_grants")"
check_eq "the audit row names the replaced grant" "$until" \
    "$(sql "SELECT details->'replaced'->>'expires_at' FROM audit_log WHERE action='device.allow_renewal' ORDER BY id DESC LIMIT 1")"
check "7d works" "$VIGILCTL" device allow-renewal dev-a --until 7d

# The newest certificate is the one granted, even with an older one active.
"$VIGILCTL" device create --id dev-b --out-dir "$D" >/dev/null 2>&1
openssl ecparam -name prime256v1 -genkey -noout -out "$T/b.key" 2>/dev/null
openssl req -new -key "$T/b.key" -subj /CN=dev-b -out "$T/b.csr" 2>/dev/null
"$VIGILCTL" device enroll --csr "$T/b.csr" --replace --validity 60d >"$T/b.crt" 2>/dev/null
newest=$(openssl x509 -in "$T/b.crt" -noout -serial | cut -d= -f2)
check "grant for a device with several certificates" "$VIGILCTL" device allow-renewal dev-b --until 1d --json
check_json "names the newest" "d['serial']=='$newest'"

check_exit 1 "unknown device" "$VIGILCTL" device allow-renewal nobody --until 1d
check_contains "says so" "no device nobody" "$T/err"
sql "INSERT INTO devices (id) VALUES ('bare')"
check_exit 1 "device without a certificate" "$VIGILCTL" device allow-renewal bare --until 1d
check_contains "says so" "has no certificate" "$T/err"
"$VIGILCTL" device create --id dev-r --out-dir "$D" >/dev/null 2>&1
"$VIGILCTL" cert revoke --device dev-r --reason superseded >/dev/null
check_exit 1 "newest certificate revoked" "$VIGILCTL" device allow-renewal dev-r --until 1d
check_contains "says to re-enroll" "re-enroll" "$T/err"
"$VIGILCTL" device create --id dev-x --out-dir "$D" >/dev/null 2>&1
sql "UPDATE devices SET status='decommissioned' WHERE id='dev-x'"
check_exit 1 "decommissioned device" "$VIGILCTL" device allow-renewal dev-x --until 1d
check_contains "says so" "decommissioned" "$T/err"
check_exit 1 "until in the past" "$VIGILCTL" device allow-renewal dev-a --until 2020-01-01T00:00:00Z
check_contains "says so" "not in the future" "$T/err"
check_exit 1 "more than 30 days ahead" "$VIGILCTL" device allow-renewal dev-a --until 31d
check_contains "says the limit" "30 days" "$T/err"
check_exit 1 "until that is no time" "$VIGILCTL" device allow-renewal dev-a --until tomorrow
check_contains "names the value" "'tomorrow'" "$T/err"
check_exit 2 "--until missing" "$VIGILCTL" device allow-renewal dev-a
check_exit 2 "device id missing" "$VIGILCTL" device allow-renewal --until 1d
check_eq "refusals wrote no grant or audit row" "2|4" \
    "$(sql "SELECT (SELECT count(*) FROM renewal_grants), (SELECT count(*) FROM audit_log WHERE action='device.allow_renewal')")"
check "--help" "$VIGILCTL" device allow-renewal --help
check_contains "documents --until" "--until TIME" "$T/out"
finish
