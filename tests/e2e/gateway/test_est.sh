#!/usr/bin/env bash
# Runs on the release build too.
# EST (RFC 7030) on the device port with tools not written here: curl and
# openssl alone fetch cacerts and csrattrs and renew a certificate with
# simplereenroll; the new certificate verifies against the chain from
# cacerts, authenticates at once on this vigild and on a second one, and
# the old one keeps working until it expires, or until the policy's grace
# period revokes it. A database outage is a 503 with nothing issued.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
port2=$(free_port)
vigild_start main "$port"
vigild_start second "$port2"
EST="https://127.0.0.1:$port/.well-known/est"
D="$T/dev"
"$VIGILCTL" device create --id dev1 --out-dir "$D" >/dev/null 2>&1

# cacerts: base64 PKCS#7 certs-only, the root and the issuing CA
check "cacerts: 200" dcurl "$D" dev1 -o "$T/cacerts.b64" -D "$T/cacerts.h" -w '%{http_code}' "$EST/cacerts"
check_eq "cacerts: status" "200" "$(cat "$T/out")"
check_contains "cacerts: PKCS#7 certs-only" "application/pkcs7-mime; smime-type=certs-only" "$T/cacerts.h"
check_contains "cacerts: base64 transfer encoding" "Content-Transfer-Encoding: base64" "$T/cacerts.h"
base64 -d "$T/cacerts.b64" | openssl pkcs7 -inform DER -print_certs -out "$T/cacerts.pem" 2>"$T/err"
check_eq "cacerts: openssl reads two certificates" "2" "$(grep -c 'BEGIN CERTIFICATE' "$T/cacerts.pem")"
check_eq "cacerts: the same chain as vigilctl ca chain" \
    "$(openssl crl2pkcs7 -nocrl -certfile "$T/chain.pem" | openssl pkcs7 -print_certs | grep -c subject)" \
    "$(grep -c subject "$T/cacerts.pem")"

# csrattrs: base64 DER that openssl can parse, naming the device's CN
check "csrattrs: 200" dcurl "$D" dev1 -o "$T/attrs.b64" -w '%{http_code}' "$EST/csrattrs"
base64 -d "$T/attrs.b64" | openssl asn1parse -inform DER >"$T/attrs.txt" 2>&1
check_contains "csrattrs: ecPublicKey with P-256" "prime256v1" "$T/attrs.txt"
check_contains "csrattrs: the subject CN is the device id" "dev1" "$T/attrs.txt"

# simplereenroll with a CSR from openssl req and a new key
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/new.key" \
    -subj /CN=dev1 -outform DER -out "$T/new.csr" 2>/dev/null
base64 "$T/new.csr" >"$T/new.csr.b64"
check "simplereenroll: 200" dcurl "$D" dev1 -H 'Content-Type: application/pkcs10' \
    --data-binary @"$T/new.csr.b64" -o "$T/new.p7.b64" -D "$T/new.h" -w '%{http_code}' "$EST/simplereenroll"
check_eq "simplereenroll: status" "200" "$(cat "$T/out")"
check_contains "simplereenroll: PKCS#7 certs-only" "application/pkcs7-mime; smime-type=certs-only" "$T/new.h"
base64 -d "$T/new.p7.b64" | openssl pkcs7 -inform DER -print_certs -out "$D/new.crt" 2>"$T/err"
check "the new certificate verifies against the chain from cacerts" \
    openssl verify -CAfile "$T/cacerts.pem" -purpose sslclient "$D/new.crt"
check_eq "its subject is the device" "subject=CN = dev1" "$(openssl x509 -in "$D/new.crt" -noout -subject)"
check_eq "its key is the new key" "$(openssl pkey -in "$D/new.key" -pubout)" \
    "$(openssl x509 -in "$D/new.crt" -noout -pubkey)"
new_serial=$(openssl x509 -in "$D/new.crt" -noout -serial | cut -d= -f2)
old_serial=$(openssl x509 -in "$D/dev1.crt" -noout -serial | cut -d= -f2)
check_eq "the registry records its lineage" "$old_serial" \
    "$(sql "SELECT renewed_from FROM certificates WHERE serial = '$new_serial'")"
check_eq "the old one is superseded by it" "$new_serial" \
    "$(sql "SELECT superseded_by FROM certificates WHERE serial = '$old_serial'")"
check_eq "an audit row in the same transaction" "1" \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'cert.renew' AND serial = '$new_serial' AND details->>'renewed_from' = '$old_serial' AND details->>'same_key' = 'false'")"
check_eq "validity from the renewal policy (24 h by default, from now; notBefore a minute back for clock skew)" "86460" \
    "$(sql "SELECT extract(epoch FROM not_after - not_before)::int FROM certificates WHERE serial = '$new_serial'")"

check "the new certificate authenticates here" dcurl "$D" new -H 'Content-Type: application/json' \
    -d "$(report)" "https://127.0.0.1:$port/v1/incidents"
check_contains "and its report is stored" '"status":"stored"' "$T/out"
check "and on a second vigild at once" dcurl "$D" new -H 'Content-Type: application/json' \
    -d "$(report)" "https://127.0.0.1:$port2/v1/incidents"
check_contains "stored there too" '"status":"stored"' "$T/out"
check "the old certificate still works" dcurl "$D" dev1 -H 'Content-Type: application/json' \
    -d "$(report)" "https://127.0.0.1:$port/v1/incidents"
check_contains "until it expires" '"status":"stored"' "$T/out"

# the policy's grace period: superseded certificates are revoked by vigild,
# and their live connections close
hold_mtls "$D" dev1 "$port" old
sleep 0.5
check "the superseded certificate's connection is open" still_open old
t0=$(date +%s%N)
check "ca policy --revoke-superseded-after 1s" "$VIGILCTL" ca policy --revoke-superseded-after 1s
for _ in $(seq 1 60); do [ -s "$T/old.closed" ] && break; sleep 0.1; done  # the chore runs every 2 s
check "vigild revokes it and closes its connection within 5 s" closed_within old "$t0" 5000
check_eq "revoked as superseded, with an audit row by vigild" "revoked superseded 1" \
    "$(sql "SELECT status || ' ' || revocation_reason || ' ' || (SELECT count(*) FROM audit_log WHERE action = 'cert.revoke' AND actor = 'vigild' AND serial = '$old_serial') FROM certificates WHERE serial = '$old_serial'")"
check "the new certificate still works" dcurl "$D" new -H 'Content-Type: application/json' \
    -d "$(report)" "https://127.0.0.1:$port/v1/incidents"
"$VIGILCTL" ca policy --revoke-superseded-after never >/dev/null

# a PEM body, HEAD, wrong methods and the paths Vigil does not serve
openssl req -new -key "$D/new.key" -subj /CN=dev1 -out "$T/pem.csr" 2>/dev/null
check "a PEM body: answered" dcurl "$D" new -H 'Content-Type: application/pkcs10' \
    --data-binary @"$T/pem.csr" -o "$T/body" -w '%{http_code}' "$EST/simplereenroll"
check_eq "a PEM body: 400" "400" "$(cat "$T/out")"
check_contains "which says what to send" '"error":"invalid_csr"' "$T/body"
check "wrong media type: answered" dcurl "$D" new -H 'Content-Type: application/json' \
    --data-binary @"$T/new.csr.b64" -o "$T/body" -w '%{http_code}' "$EST/simplereenroll"
check_eq "wrong media type: 415" "415" "$(cat "$T/out")"
check "GET simplereenroll: answered" dcurl "$D" new -o "$T/body" -D "$T/h" -w '%{http_code}' "$EST/simplereenroll"
check_eq "GET simplereenroll: 405" "405" "$(cat "$T/out")"
check_contains "with Allow: POST" "Allow: POST" "$T/h"
check "simpleenroll: answered" dcurl "$D" new -H 'Content-Type: application/pkcs10' \
    --data-binary @"$T/new.csr.b64" -o "$T/body" -w '%{http_code}' "$EST/simpleenroll"
check_eq "simpleenroll: 403, not 404" "403" "$(cat "$T/out")"
check_contains "enrollment is the operator's" '"error":"enrollment_by_operator"' "$T/body"
check "serverkeygen: answered" dcurl "$D" new -H 'Content-Type: application/pkcs10' \
    --data-binary @"$T/new.csr.b64" -o "$T/body" -w '%{http_code}' "$EST/serverkeygen"
check_eq "serverkeygen: 403" "403" "$(cat "$T/out")"
check_contains "keys never leave the device" '"error":"serverkeygen_refused"' "$T/body"
check "an EST label: answered" dcurl "$D" new -o "$T/body" -w '%{http_code}' "$EST/arbitrary/cacerts"
check_eq "an EST label: 404" "404" "$(cat "$T/out")"
check "HEAD cacerts: answered" dcurl "$D" new -I -o "$T/h" -w '%{http_code}' "$EST/cacerts"
check_eq "HEAD cacerts: 200" "200" "$(cat "$T/out")"
# the database goes away: a 503 with Retry-After, nothing issued; back: renewed
n_before=$(sql "SELECT count(*) FROM certificates")
pg_stop >/dev/null 2>&1
check "database down: answered" dcurl "$D" new -H 'Content-Type: application/pkcs10' \
    --data-binary @"$T/new.csr.b64" -o "$T/body" -D "$T/h" -w '%{http_code}' "$EST/simplereenroll"
check_eq "database down: 503" "503" "$(cat "$T/out")"
check_contains "with Retry-After" "Retry-After:" "$T/h"
check_contains "and the error shape" '"error":"unavailable"' "$T/body"
pg_restart >/dev/null 2>&1
check_eq "nothing was issued meanwhile" "$n_before" "$(sql "SELECT count(*) FROM certificates")"
renewed_after_outage() {
    for _ in $(seq 1 50); do
        dcurl "$D" new -H 'Content-Type: application/pkcs10' --data-binary @"$T/new.csr.b64" \
            -o "$T/body" -w '%{http_code}' "$EST/simplereenroll" 2>/dev/null | grep -q 200 && return 0
        sleep 0.2
    done
    return 1
}
check "database back: renewed" renewed_after_outage
check "vigild drains and exits 0 (no leak under the sanitizers)" vigild_stop main
check_fails "and its log has no sanitizer report" grep -q "Sanitizer" "$T/main.log"
finish
