#!/usr/bin/env bash
# Lineage: a certificate renewed twice over EST, then revoked for
# keyCompromise. All three are revoked, the live connection of the newest
# closes within a second, all three serials are in the CRL, their keys are
# on the compromised-keys list (a renewal or an enrollment with one is
# refused), and `vigilctl cert show` shows the lineage both ways.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/est_calls.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port"
EST="https://127.0.0.1:$port/.well-known/est"
D="$T/dev"
"$VIGILCTL" device create --id dev --out-dir "$D" >/dev/null 2>&1

serial_of() { openssl x509 -in "$D/$1.crt" -noout -serial | cut -d= -f2; }
check "first renewal" est_renew dev dev "$port" r1
check "second renewal, from the first" est_renew dev r1 "$port" r2
s0=$(serial_of dev); s1=$(serial_of r1); s2=$(serial_of r2)
check_eq "the lineage is recorded" "$s0 $s1" \
    "$(sql "SELECT (SELECT renewed_from FROM certificates WHERE serial = '$s1') || ' ' || (SELECT renewed_from FROM certificates WHERE serial = '$s2')")"

check "cert show: the newest names its ancestors" "$VIGILCTL" cert show "$s2" --json
check_json "ancestors nearest first" "d['renewed_from']=='$s1' and d['ancestors']==['$s1','$s0']"
check "cert show: the original names its descendants" "$VIGILCTL" cert show "$s0" --json
check_json "both descendants" "sorted(x['serial'] if isinstance(x, dict) else x for x in d['descendants'])==sorted(['$s1','$s2'])"

hold_mtls "$D" r2 "$port" newest
sleep 0.5
check "the newest certificate's connection is open" still_open newest
t0=$(date +%s%N)
check "revoke the original for keyCompromise" "$VIGILCTL" cert revoke --serial "$s0" --reason keyCompromise --json
check_json "it names all three" "sorted(x['serial'] for x in d)==sorted(['$s0','$s1','$s2'])"
check "the newest certificate's connection closes within 1 s" closed_within newest "$t0" 1000
check_eq "all three are revoked" "3" \
    "$(sql "SELECT count(*) FROM certificates WHERE serial IN ('$s0','$s1','$s2') AND status = 'revoked' AND revocation_reason = 'keyCompromise'")"
check_eq "their keys are on the compromised-keys list" "3" "$(sql "SELECT count(*) FROM compromised_keys")"
check "the audit row lists the descendants" test "$(sql "SELECT count(*) FROM audit_log WHERE action = 'cert.revoke' AND details::text LIKE '%$s2%'")" -ge 1
check_fails "the newest is refused" dcurl "$D" r2 -H 'Content-Type: application/json' -d "$(report)" \
    "https://127.0.0.1:$port/v1/incidents" -f

check "ca crl" "$VIGILCTL" ca crl
openssl crl -in "$T/out" -noout -text >"$T/crl.txt"
for s in "$s0" "$s1" "$s2"; do check_contains "the CRL lists $s" "Serial Number: $s" "$T/crl.txt"; done

# the compromised keys cannot come back, by renewal or by enrollment
"$VIGILCTL" device create --id other --out-dir "$D" >/dev/null 2>&1
openssl req -new -key "$D/r2.key" -subj /CN=other -outform DER 2>/dev/null | base64 >"$T/burnt.csr"
check "a renewal with a compromised key: answered" dcurl "$D" other -H 'Content-Type: application/pkcs10' \
    --data-binary @"$T/burnt.csr" -o "$T/body" -w '%{http_code}' "$EST/simplereenroll"
check_eq "a renewal with a compromised key: 403" "403" "$(cat "$T/out")"
check_contains "compromised_key" '"error":"compromised_key"' "$T/body"
openssl req -new -key "$D/r1.key" -subj /CN=again -out "$T/again.csr" 2>/dev/null
check_exit 1 "an enrollment with a compromised key is refused" "$VIGILCTL" device enroll --csr "$T/again.csr" --id again
check_contains "and says why" "compromised" "$T/err"
finish
