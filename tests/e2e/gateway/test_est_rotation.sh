#!/usr/bin/env bash
# The CA set followed live: after `vigilctl ca rotate` every vigild trusts
# the new issuing CA within a second, with no SIGHUP: a device enrolled by
# it connects, cacerts lists it next to the old one, renewals come from it,
# and certificates from the old issuing CA keep working until they expire.
# With an encrypted CA, vigild signs with the passphrase from a file and
# without the root key.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/est_calls.sh"
pg_start
export VIGIL_CA_DIR="$T/ca"
"$VIGILCTL" db migrate >/dev/null
echo "correct horse battery staple" >"$T/pass"
chmod 600 "$T/pass"
PF=(--passphrase-file "$T/pass")
"$VIGILCTL" ca init "${PF[@]}" >/dev/null
"$VIGILCTL" ca server-cert "${PF[@]}" --dns localhost --ip 127.0.0.1 --out-dir "$T/tls" >/dev/null
"$VIGILCTL" ca chain >"$T/chain.pem"
# the root key goes offline: vigild needs only the issuing CA's key
mv "$VIGIL_CA_DIR/root.key" "$T/offline-root.key"
port=$(free_port)
port2=$(free_port)
vigild_start main "$port" VIGIL_CA_PASSPHRASE_FILE="$T/pass"
vigild_start second "$port2" VIGIL_CA_PASSPHRASE_FILE="$T/pass"
EST="https://127.0.0.1:$port/.well-known/est"
D="$T/dev"
"$VIGILCTL" device create "${PF[@]}" --id old --out-dir "$D" >/dev/null 2>&1
check_fails "the passphrase never reaches the log" grep -q "battery" "$T/main.log"

issuer_of() { openssl x509 -in "$1" -noout -issuer | sed 's/.*CN = //'; }
check "before the rotation: renewed" est_renew old old "$port" before
old_issuer=$(issuer_of "$D/before.crt")

"$VIGILCTL" ca rotate "${PF[@]}" --root-key "$T/offline-root.key" >/dev/null
t0=$(date +%s%N)
"$VIGILCTL" device create "${PF[@]}" --id fresh --out-dir "$D" >/dev/null 2>&1
# present the leaf alone: a device that sends the issuing CA along chains
# to the root without the server knowing that CA
openssl x509 -in "$D/fresh.crt" -out "$D/fresh.crt"
new_issuer=$(issuer_of "$D/fresh.crt")
check "the new issuing CA is another one" test "$new_issuer" != "$old_issuer"
# curl keeps the chain from before the rotation: given the new one, OpenSSL
# would send the new issuing CA along with the leaf
accepted() {  # accepted ID PORT: a report with ID's certificate is stored, within 2 s
    for _ in $(seq 1 40); do
        dcurl "$D" "$1" -H 'Content-Type: application/json' -d "$(report)" \
            "https://127.0.0.1:$2/v1/incidents" 2>/dev/null | grep -q '"stored":1' && return 0
        sleep 0.05
    done
    return 1
}
check "a device of the new issuing CA is accepted without SIGHUP" accepted fresh "$port"
echo "accepted $(( ($(date +%s%N) - t0) / 1000000 )) ms after the rotation" >&2
check "and on the second vigild" accepted fresh "$port2"
check "a certificate of the old issuing CA still works" accepted before "$port"

check "cacerts after the rotation" dcurl "$D" fresh -o "$T/cacerts.b64" "$EST/cacerts"
base64 -d "$T/cacerts.b64" | openssl pkcs7 -inform DER -print_certs -out "$T/cacerts.pem"
check_eq "cacerts lists the root and both issuing CAs" "3" "$(grep -c 'BEGIN CERTIFICATE' "$T/cacerts.pem")"
check_contains "including the new one" "$new_issuer" "$T/cacerts.pem"
check "a renewal after the rotation" est_renew old before "$port" after
check_eq "comes from the new issuing CA" "$new_issuer" "$(issuer_of "$D/after.crt")"
check "and verifies against cacerts" openssl verify -CAfile "$T/cacerts.pem" "$D/after.crt"
check "and authenticates" accepted after "$port2"
finish
