#!/usr/bin/env bash
# Runs on the release build too.
# Who may not renew, and how each refusal looks: its status, its error
# code and its security event. A CSR for another device, a broken CSR
# signature, weak and unsupported keys, a compromised key, a quarantined
# device, a certificate whose key was compromised through another, the
# same key when the policy wants a new one, a rate-limited device, a
# certificate renewed over an hour ago (and renewing twice from one
# certificate revokes the earlier child, loudly); an expired certificate
# without a grant, on a spent grant and on an expired grant; and a
# connection on a grant that tries anything else.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port" VIGIL_SECURITY_EVENTS_PER_ADDRESS=1000 VIGIL_SECURITY_EVENTS_PER_SECOND=1000
EST="https://127.0.0.1:$port/.well-known/est"
D="$T/dev"
mkdir -p "$D"

# csr OUT SUBJ [openssl req key args...]: a DER CSR, base64
csr() {
    local out=$1 subj=$2; shift 2
    openssl req -new "$@" -subj "$subj" -outform DER -out "$out.der" 2>/dev/null &&
        base64 "$out.der" >"$out"
}
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# renew ID CSRFILE: POST simplereenroll as device ID; status in $T/out, body in $T/body
renew() {
    dcurl "$D" "$1" -H 'Content-Type: application/pkcs10' --data-binary @"$2" \
        -o "$T/body" -D "$T/h" -w '%{http_code}' "$EST/simplereenroll"
}
events() {
    sql "SELECT count(*) FROM incidents WHERE source = 'server' AND type = 'auth_failure'
         AND details->>'reason' = '$1' ${2:+AND $2}"
}
wait_nonzero() {  # wait_nonzero SQL: its count becomes non-zero within 5 s
    for _ in $(seq 1 50); do [ "$(sql "$1")" != 0 ] && return 0; sleep 0.1; done
    return 1
}
wait_event() {  # wait_event REASON [SQL condition]
    for _ in $(seq 1 50); do [ "$(events "$1" "${2:-}")" -ge 1 ] && return 0; sleep 0.1; done
    return 1
}
# refused NAME STATUS CODE ID CSR: the renewal is refused with STATUS and CODE, and leaves an event
refused() {
    local name=$1 status=$2 code=$3
    check "$name: answered" renew "$4" "$5"
    check_eq "$name: $status" "$status" "$(cat "$T/out")"
    check_contains "$name: error $code" "\"error\":\"$code\"" "$T/body"
    check "$name: security event" wait_event "$code" "device_id = '$4'"
}

for id in dev other q rl sk; do "$VIGILCTL" device create --id "$id" --out-dir "$D" >/dev/null 2>&1; done
newkey "$D/k1"

csr "$T/other.csr" /CN=other -key "$D/k1"
refused "a CSR for another device" 403 wrong_identity dev "$T/other.csr"
check_contains "which says a device renews only itself" "renews only its own identity" "$T/body"
csr "$T/san.csr" /CN=dev -key "$D/k1" -addext "subjectAltName=URI:urn:vigil:device:other"
refused "a SAN naming another device" 403 wrong_identity dev "$T/san.csr"
check_eq "no certificate was issued for either" "0" \
    "$(sql "SELECT count(*) FROM certificates WHERE renewed_from IS NOT NULL")"

# flip a byte in the signature (the last bytes of the DER): still a CSR, no longer signed
csr "$T/good.csr" /CN=dev -key "$D/k1"
python3 - "$T/good.csr.der" "$T/broken.der" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read()); b[-3] ^= 0x01; open(sys.argv[2], 'wb').write(b)
PY
base64 "$T/broken.der" >"$T/broken.csr"
refused "a broken CSR signature" 400 bad_csr_signature dev "$T/broken.csr"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$D/weak.key" 2>/dev/null
csr "$T/weak.csr" /CN=dev -key "$D/weak.key"
refused "an RSA-1024 key" 400 weak_key dev "$T/weak.csr"
check_contains "which says what is accepted" "2048" "$T/body"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out "$D/k256k1.key" 2>/dev/null
csr "$T/curve.csr" /CN=dev -key "$D/k256k1.key"
refused "an unsupported curve" 400 weak_key dev "$T/curve.csr"
echo "not base64 at all!" >"$T/junk.csr"
refused "a body that is no CSR" 400 invalid_csr dev "$T/junk.csr"

newkey "$D/burnt.key"
csr "$T/burnt.csr" /CN=dev -key "$D/burnt.key"
burnt=$(openssl pkey -in "$D/burnt.key" -pubout -outform DER | sha256sum | cut -c1-64)
sql "INSERT INTO compromised_keys (key_sha256) VALUES ('$burnt')"
refused "a compromised key" 403 compromised_key dev "$T/burnt.csr"

# a key compromised through another certificate that carried it
"$VIGILCTL" device create --id keyholder --out-dir "$D" >/dev/null 2>&1
openssl req -new -key "$D/keyholder.key" -subj /CN=twin -out "$T/twin.csr" 2>/dev/null
"$VIGILCTL" device enroll --csr "$T/twin.csr" >"$D/twin.crt" 2>/dev/null
"$VIGILCTL" cert revoke --device twin --reason keyCompromise >/dev/null
csr "$T/kh.csr" /CN=keyholder -key "$D/k1"
refused "a certificate whose key was compromised elsewhere" 403 compromised_key keyholder "$T/kh.csr"

"$VIGILCTL" device quarantine q >/dev/null 2>&1 || sql "UPDATE devices SET status = 'quarantined' WHERE id = 'q'"
csr "$T/q.csr" /CN=q -key "$D/k1"
refused "a quarantined device" 403 quarantined q "$T/q.csr"
check_contains "with the reason" "quarantined" "$T/body"

sql "UPDATE ca_policy SET renew_same_key = false"
csr "$T/same.csr" /CN=sk -key "$D/sk.key"
refused "the same key, against the policy" 400 same_key sk "$T/same.csr"
sql "UPDATE ca_policy SET renew_same_key = true"
check "the same key, when the policy allows it: renewed" renew sk "$T/same.csr"
check_eq "the same key allowed: 200" "200" "$(cat "$T/out")"
check_eq "and its audit row says so" "true" \
    "$(sql "SELECT details->>'same_key' FROM audit_log WHERE action = 'cert.renew' AND device_id = 'sk'")"

sql "UPDATE ca_policy SET renewals_per_hour = 2"
csr "$T/rl.csr" /CN=rl -key "$D/k1"
renew rl "$T/rl.csr" >/dev/null; renew rl "$T/rl.csr" >/dev/null
refused "a rate-limited device" 429 rate_limited rl "$T/rl.csr"
check_contains "with Retry-After" "Retry-After: " "$T/h"
retry=$(sed -n 's/^Retry-After: \([0-9]*\).*/\1/p' "$T/h")
check "which is within the hour" test "$retry" -ge 3500 -a "$retry" -le 3600
sql "UPDATE ca_policy SET renewals_per_hour = 6"
check "renewed twice from one certificate: the earlier child is revoked within seconds" wait_nonzero \
    "SELECT count(*) FROM certificates WHERE device_id = 'rl' AND renewed_from IS NOT NULL AND status = 'revoked' AND revocation_reason = 'superseded'"
check_eq "with an audit row naming its replacement" "1" \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'cert.revoke' AND device_id = 'rl' AND details ? 'replaced_by'")"
check_eq "and the later one lives" "1" \
    "$(sql "SELECT count(*) FROM certificates WHERE device_id = 'rl' AND renewed_from IS NOT NULL AND status = 'active'")"
check "with a critical security event" wait_nonzero \
    "SELECT count(*) FROM incidents WHERE type = 'x-renewal-fork' AND severity = 'critical' AND device_id = 'rl'"
# an hour after its renewal, a certificate may not renew again
sql "UPDATE certificates SET superseded_at = now() - interval '61 minutes' WHERE device_id = 'rl' AND renewed_from IS NULL"
refused "a certificate renewed over an hour ago" 403 superseded rl "$T/rl.csr"

# Expired certificates: refused in the handshake unless a grant names them.
"$VIGILCTL" device create --id sleepy --out-dir "$D" --validity 1h --backdate 2h >/dev/null 2>&1
csr "$T/sleepy.csr" /CN=sleepy -key "$D/k1"
check_fails "an expired certificate without a grant: refused in the handshake" renew sleepy "$T/sleepy.csr"
check "with a security event that says no grant" wait_event expired \
    "details->>'claimed_device_id' = 'sleepy' AND details->>'renewal_grant' = 'none'"

grant() {  # grant DEVICE SECONDS: the operator lets DEVICE renew its newest certificate once
    "$VIGILCTL" device allow-renewal "$1" --until "${2}s" >/dev/null && sleep 0.5
}
grant sleepy 600
check "on a grant, a connection that reports instead: answered" dcurl "$D" sleepy \
    -H 'Content-Type: application/json' -d "$(report)" -o "$T/body" -w '%{http_code}' \
    "https://127.0.0.1:$port/v1/incidents"
check_eq "on a grant, reporting: 403" "403" "$(cat "$T/out")"
check_contains "on a grant, reporting: grant_only" '"error":"grant_only"' "$T/body"
check "and a security event" wait_event grant_only "device_id = 'sleepy'"
check "on a grant, cacerts: answered" dcurl "$D" sleepy -o "$T/body" -w '%{http_code}' "$EST/cacerts"
check_eq "on a grant, cacerts: 403" "403" "$(cat "$T/out")"
check "on a grant, simplereenroll: renewed" renew sleepy "$T/sleepy.csr"
check_eq "on a grant: 200" "200" "$(cat "$T/out")"
check_contains "and the connection closes after it" "Connection: close" "$T/h"
check_eq "the grant is spent" "1" \
    "$(sql "SELECT count(*) FROM renewal_grants WHERE device_id = 'sleepy' AND used_at IS NOT NULL")"
check_eq "its use is audited" "1" \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'device.renewal_grant_used' AND device_id = 'sleepy'")"
check_eq "the renewal's audit row says it rested on a grant" "true" \
    "$(sql "SELECT details->>'expired_grant' FROM audit_log WHERE action = 'cert.renew' AND device_id = 'sleepy'")"
base64 -d "$T/body" | openssl pkcs7 -inform DER -print_certs -out "$D/sleepy-new.crt" 2>/dev/null
cp "$D/k1" "$D/sleepy-new.key"
check "the renewed certificate reports" dcurl "$D" sleepy-new -H 'Content-Type: application/json' \
    -d "$(report)" "https://127.0.0.1:$port/v1/incidents"
check_fails "a second renewal on the spent grant: refused in the handshake" renew sleepy "$T/sleepy.csr"
check "with a security event that says the grant is spent" wait_event expired \
    "details->>'claimed_device_id' = 'sleepy' AND details->>'renewal_grant' = 'spent'"

"$VIGILCTL" device create --id late --out-dir "$D" --validity 1h --backdate 2h >/dev/null 2>&1
grant late 2
sleep 2.5
csr "$T/late.csr" /CN=late -key "$D/k1"
check_fails "an expired grant: refused in the handshake" renew late "$T/late.csr"
check "with a security event that says the grant expired" wait_event expired \
    "details->>'claimed_device_id' = 'late' AND details->>'renewal_grant' = 'expired'"
check_eq "nothing was issued to late" "0" "$(sql "SELECT count(*) FROM certificates WHERE device_id = 'late' AND renewed_from IS NOT NULL")"
check "vigild drains and exits 0 (no leak under the sanitizers)" vigild_stop main
check_fails "and its log has no sanitizer report" grep -q "Sanitizer" "$T/main.log"
finish
