#!/usr/bin/env bash
# The operator port's settings: optional TLS (a certificate from our own CA,
# checked by curl), IPv6 loopback, "off", and refusals that exit 2 or 1
# with a reason: a bad address, half a TLS configuration, a port in use.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca

api_tls=$(free_port)
vigild_start tls "$(free_port)" VIGIL_API_LISTEN="127.0.0.1:$api_tls" \
    VIGIL_API_TLS_CERT="$T/tls/server.crt" VIGIL_API_TLS_KEY="$T/tls/server.key"
check "TLS on the operator port: curl verifies it against the CA chain" \
    curl -sS --max-time 10 --cacert "$T/chain.pem" "https://127.0.0.1:$api_tls/healthz"
check_contains "  ... and gets an answer" '"status":"ok"' "$T/out"
check_fails "plain HTTP to the TLS port fails" curl -sS --max-time 5 "http://127.0.0.1:$api_tls/healthz"

api6=$(free_port)
vigild_start six "$(free_port)" VIGIL_API_LISTEN="[::1]:$api6"
check "IPv6 loopback" curl -sS --max-time 10 "http://[::1]:$api6/healthz"

vigild_start off "$(free_port)" VIGIL_API_LISTEN=off
check_contains "api-listen=off starts no operator port" "vigild started" "$T/off.log"
check "  ... and says nothing of one" bash -c "! grep -q 'operator port listening' '$T/off.log'"

common=(env VIGIL_CA_DIR="$VIGIL_CA_DIR" VIGIL_TLS_CERT="$T/tls/server.crt" VIGIL_TLS_KEY="$T/tls/server.key")
check_exit 2 "a malformed --api-listen exits 2" "${common[@]}" "$VIGILD" --device-listen "127.0.0.1:$(free_port)" --api-listen nonsense
check_contains "  ... saying what to write" "HOST:PORT" "$T/err"
check_exit 2 "a certificate without a key exits 2" "${common[@]}" "$VIGILD" --device-listen "127.0.0.1:$(free_port)" \
    --api-listen "127.0.0.1:$(free_port)" --api-tls-cert "$T/tls/server.crt"
check_contains "  ... saying give both" "give both" "$T/err"
check_exit 1 "an operator port in use exits 1" "${common[@]}" "$VIGILD" --device-listen "127.0.0.1:$(free_port)" \
    --api-listen "127.0.0.1:$api_tls"
check_contains "  ... saying it cannot listen" "cannot listen" "$T/err"
check "vigild --help lists the operator port settings" bash -c "'$VIGILD' --help | grep -q -- --api-tls-cert"

for n in tls six off; do check "SIGTERM: $n exits 0" vigild_stop "$n"; done
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T'/*.log"
finish
