#!/usr/bin/env bash
# The operator API's renewal administration against a running vigild:
# POST /v1/devices/{id}/allow-renewal (RFC 3339 and duration, replacement,
# 400/404/409 with reasons, the token in the audit row, viewer 403),
# GET /v1/certificates/{serial} with its lineage, and POST
# /v1/certificates/{serial}/revoke with keyCompromise revoking the
# descendants and listing their keys.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/api_calls.sh"
api_server
VIEWER=$(token viewer ren-viewer)
OPERATOR=$(token operator ren-operator)
D="$T/dev"
mkdir -p "$D"
"$VIGILCTL" device create --id dev-e --out-dir "$D" --validity 1h --backdate 2h >/dev/null 2>&1
serial_e=$(openssl x509 -in "$D/dev-e.crt" -noout -serial | cut -d= -f2)

until=$(date -u -d '+5 days' +%Y-%m-%dT%H:%M:%SZ)
post "$OPERATOR" /v1/devices/dev-e/allow-renewal "{\"until\":\"$until\"}"
expect "operator grants until an RFC 3339 time" 200 "d['device_id']=='dev-e' and d['serial']=='$serial_e' and len(d['fingerprint_sha256'])==64 and d['expires_at']=='$until' and d['granted_at'].endswith('Z') and d['replaced'] is None"
post "$OPERATOR" /v1/devices/dev-e/allow-renewal '{"until":"7d"}'
expect "a duration replaces the open grant" 200 "d['replaced']['expires_at']=='$until' and d['expires_at']!='$until'"
check_eq "one open grant" "1" "$(sql "SELECT count(*) FROM renewal_grants WHERE device_id='dev-e' AND used_at IS NULL")"
check_eq "audit rows name the token" "2|ren-operator|token" "$(sql "SELECT count(*), min(actor), min(actor_kind) FROM audit_log WHERE action='device.allow_renewal'")"
post "$VIEWER" /v1/devices/dev-e/allow-renewal '{"until":"7d"}'
expect "viewer: 403" 403 "d['error']=='forbidden'"
post "$OPERATOR" /v1/devices/nobody/allow-renewal '{"until":"7d"}'
expect "unknown device: 404" 404 "d['error']=='not_found' and 'nobody' in d['reason']"
post "$OPERATOR" /v1/devices/dev-e/allow-renewal '{"until":"31d"}'
expect "more than 30 days: 400 naming until" 400 "d['parameter']=='until' and '30 days' in d['reason']"
post "$OPERATOR" /v1/devices/dev-e/allow-renewal '{"until":"2020-01-01T00:00:00Z"}'
expect "in the past: 400" 400 "d['parameter']=='until' and 'future' in d['reason']"
post "$OPERATOR" /v1/devices/dev-e/allow-renewal '{}'
expect "until missing: 400" 400 "d['parameter']=='until'"
post "$OPERATOR" /v1/devices/dev-e/allow-renewal '{"until":"7d","extra":1}'
expect "unknown member: 400" 400 "d['parameter']=='extra'"
post "$OPERATOR" /v1/devices/dev-e/allow-renewal '{"until":7}'
expect "until not a string: 400" 400 "d['parameter']=='until'"
"$VIGILCTL" device create --id dev-r --out-dir "$D" >/dev/null 2>&1
"$VIGILCTL" cert revoke --device dev-r --reason superseded >/dev/null
post "$OPERATOR" /v1/devices/dev-r/allow-renewal '{"until":"1d"}'
expect "revoked newest certificate: 409, re-enroll" 409 "d['error']=='conflict' and 're-enroll' in d['reason']"
sql "INSERT INTO devices (id) VALUES ('bare')"
post "$OPERATOR" /v1/devices/bare/allow-renewal '{"until":"1d"}'
expect "no certificate: 409" 409 "'no certificate' in d['reason']"
check_eq "refusals wrote nothing" "2" "$(sql "SELECT count(*) FROM audit_log WHERE action='device.allow_renewal'")"

# Lineage: dev-e renewed twice (recorded with vigil_renew as vigild does;
# the certificates are signed here by the issuing CA).
key_of() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
ski=$(openssl x509 -in "$VIGIL_CA_DIR/issuing/0001.crt" -noout -ext subjectKeyIdentifier | tail -n 1 | tr -d ' :' | tr A-F a-f)
renew() {
    local auth=$1 out=$2 n=$3
    openssl req -new -key "$D/dev-e.key" -subj /CN=dev-e -out "$out.csr" 2>/dev/null
    openssl x509 -req -in "$out.csr" -CA "$VIGIL_CA_DIR/issuing/0001.crt" -CAkey "$VIGIL_CA_DIR/issuing/0001.key" \
        -set_serial "$n" -days 1 -out "$out" 2>/dev/null
    local fp
    fp=$(openssl x509 -in "$out" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
    sql "SELECT coalesce(code, 'ok') FROM vigil_renew('dev-e', '$(openssl x509 -in "$auth" -noout -serial | cut -d= -f2)',
         '$(key_of "$out")', true, $4, '$(openssl x509 -in "$out" -noout -serial | cut -d= -f2)', '$ski', '$fp',
         $(date +%s), $(date -d '+1 day' +%s), \$p\$$(cat "$out")\$p\$, 'test', '127.0.0.1')"
}
check_eq "expired certificate renews on the grant" "ok" "$(renew "$D/dev-e.crt" "$D/r1.crt" 1000001 true)"
check_eq "the grant is spent" "1" "$(sql "SELECT count(*) FROM renewal_grants WHERE device_id='dev-e' AND used_at IS NOT NULL")"
check_eq "renewed again" "ok" "$(renew "$D/r1.crt" "$D/r2.crt" 1000002 false)"
r1=$(openssl x509 -in "$D/r1.crt" -noout -serial | cut -d= -f2)
r2=$(openssl x509 -in "$D/r2.crt" -noout -serial | cut -d= -f2)
call "$VIEWER" GET "/v1/certificates/$r2"
expect "GET a renewal: ancestors nearest first" 200 "d['ancestors']==['$r1','$serial_e'] and d['renewed_from']=='$r1' and d['descendants']==[] and d['key_sha256']=='$(key_of "$D/r2.crt")' and d['superseded_by'] is None"
call "$VIEWER" GET "/v1/certificates/$serial_e"
expect "GET the original: descendants with depth" 200 "d['ancestors']==[] and d['descendants']==[{'serial':'$r1','depth':1},{'serial':'$r2','depth':2}] and d['superseded_by']=='$r1' and d['superseded_at'].endswith('Z')"

post "$VIEWER" "/v1/certificates/$serial_e/revoke" '{"reason":"keyCompromise"}'
expect "viewer cannot revoke: 403" 403 "d['error']=='forbidden'"
post "$OPERATOR" "/v1/certificates/$serial_e/revoke" '{"reason":"keyCompromise"}'
expect "keyCompromise revokes the lineage" 200 "d['status']=='revoked' and d['revocation_reason']=='keyCompromise' and [c['serial'] for c in d['revoked']]==['$serial_e','$r1','$r2'] and d['revoked'][2]['via']=='$serial_e' and d['compromised_keys_added']==1"
check_eq "all three revoked" "3" "$(sql "SELECT count(*) FROM certificates WHERE device_id='dev-e' AND status='revoked' AND revocation_reason='keyCompromise'")"
check_eq "audit rows by the token, one per certificate" "3|ren-operator" "$(sql "SELECT count(*), min(actor) FROM audit_log WHERE action='cert.revoke' AND details->>'reason'='keyCompromise'")"
check_eq "the shared key is listed once" "1" "$(sql "SELECT count(*) FROM compromised_keys WHERE key_sha256='$(key_of "$D/dev-e.crt")'")"
post "$OPERATOR" "/v1/certificates/$serial_e/revoke" '{"reason":"keyCompromise"}'
expect "again: 409" 409 "d['error']=='conflict' and 'already revoked' in d['reason']"
"$VIGILCTL" device create --id dev-s --out-dir "$D" >/dev/null 2>&1
post "$OPERATOR" "/v1/certificates/$(openssl x509 -in "$D/dev-s.crt" -noout -serial | cut -d= -f2)/revoke" '{"reason":"superseded"}'
expect "another reason revokes only the one" 200 "d['status']=='revoked' and len(d['revoked'])==1 and d['compromised_keys_added']==0"
finish
