#!/usr/bin/env bash
# vigilctl cert revoke / ca crl: the CRL lists the serial with its reason
# and nextUpdate, and openssl's CRL check refuses the revoked certificate.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
"$VIGILCTL" device create --id dev-a --out-dir "$T/d" >/dev/null 2>&1
"$VIGILCTL" device create --id dev-b --out-dir "$T/d" >/dev/null 2>&1
serial=$(openssl x509 -in "$T/d/dev-a.crt" -noout -serial | cut -d= -f2)

"$VIGILCTL" ca crl >"$T/crl0.pem"
check "verifies with a CRL before revocation" openssl verify -crl_check -CRLfile "$T/crl0.pem" -CAfile "$T/chain.pem" "$T/d/dev-a.crt"
check "revoke by serial" "$VIGILCTL" cert revoke --serial "$serial" --reason keyCompromise
check_contains "says what it did" "revoked $serial" "$T/out"
check "ca crl" "$VIGILCTL" ca crl --next-update 2d
cp "$T/out" "$T/crl.pem"
openssl crl -in "$T/crl.pem" -noout -text >"$T/crl.txt"
check_contains "CRL lists the serial" "Serial Number: $serial" "$T/crl.txt"
check_contains "with its reason" "Key Compromise" "$T/crl.txt"
check_contains "and a next update" "Next Update:" "$T/crl.txt"
check "CRL signature verifies" openssl crl -in "$T/crl.pem" -CAfile "$T/chain.pem" -noout
check_exit 2 "openssl verify -crl_check refuses the revoked certificate" \
    openssl verify -crl_check -CRLfile "$T/crl.pem" -CAfile "$T/chain.pem" "$T/d/dev-a.crt"
check_contains "as revoked" "certificate revoked" "$T/err"
check "the other device still verifies" openssl verify -crl_check -CRLfile "$T/crl.pem" -CAfile "$T/chain.pem" "$T/d/dev-b.crt"

check_exit 1 "revoking again says it is revoked already" "$VIGILCTL" cert revoke --serial "$serial" --reason keyCompromise
check_contains "already" "already revoked" "$T/err"
check_exit 1 "unknown serial" "$VIGILCTL" cert revoke --serial 0A0B0C --reason superseded
check_exit 2 "unknown reason lists the valid ones" "$VIGILCTL" cert revoke --serial "$serial" --reason stolen
check_contains "valid names" "cessationOfOperation" "$T/err"
check_exit 2 "serial and device together" "$VIGILCTL" cert revoke --serial "$serial" --device dev-b --reason superseded

"$VIGILCTL" device create --id dev-b2 --out-dir "$T/d" >/dev/null 2>&1
check "revoke by device" "$VIGILCTL" cert revoke --device dev-b --reason cessationOfOperation --json
check_json "json lists one certificate" "len(d)==1 and d[0]['device_id']=='dev-b'"
check_eq "dev-b has no active certificate" "0" "$(sql "SELECT count(*) FROM certificates WHERE device_id='dev-b' AND status='active'")"
check_eq "one audit row per revocation, with serial" "2" "$(sql "SELECT count(*) FROM audit_log WHERE action='cert.revoke' AND serial IS NOT NULL")"

check "cert list --json" "$VIGILCTL" cert list --status revoked --json
check_json "two revoked" "len(d)==2 and all(c['status']=='revoked' for c in d)"
check "cert show" "$VIGILCTL" cert show "$serial"
check_contains "shows the reason" "keyCompromise" "$T/out"
check "cert show --pem" "$VIGILCTL" cert show "$serial" --pem
cp "$T/out" "$T/shown.pem"
check "--pem is the certificate" cmp "$T/shown.pem" "$T/d/dev-a.crt"
finish
