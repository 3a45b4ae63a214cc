# est_calls.sh - sourced by the device port's EST tests (after harness.sh,
# with $D the directory of the devices' key pairs): a renewal with stock
# openssl and curl.
# shellcheck shell=bash

# est_renew DEVICE PAIR PORT OUT: DEVICE renews over the key pair
# $D/PAIR.crt/.key at 127.0.0.1:PORT with a new P-256 key; the new key is
# $D/OUT.key, the new certificate $D/OUT.crt. Prints the HTTP status.
est_renew() {
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/$4.key" \
        -subj "/CN=$1" -outform DER 2>/dev/null | base64 >"$T/$4.csr"
    dcurl "$D" "$2" -H 'Content-Type: application/pkcs10' --data-binary @"$T/$4.csr" \
        -o "$T/$4.p7" -w '%{http_code}' "https://127.0.0.1:$3/.well-known/est/simplereenroll" &&
        base64 -d "$T/$4.p7" | openssl pkcs7 -inform DER -print_certs -out "$D/$4.crt"
}
