#!/usr/bin/env bash
# Runs on the release build too.
# Who gets in on the device port, with stock curl: a registered device is
# served; everyone else is refused and leaves a security event row: no
# client certificate, self-signed, another CA, expired, not yet valid,
# revoked, signed by our CA key but not in the registry, registered but
# without clientAuth, decommissioned.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port" VIGIL_SECURITY_EVENTS_PER_ADDRESS=100
URL="https://127.0.0.1:$port/v1/incidents"
H=(-H 'Content-Type: application/json')
D="$T/dev"
"$VIGILCTL" device create --id good --out-dir "$D" >/dev/null 2>&1

check "a registered device is served" dcurl "$D" good "${H[@]}" -d "$(report)" "$URL"
check_contains "and its report is stored" '"status":"stored"' "$T/out"

events() { sql "SELECT count(*) FROM incidents WHERE source = 'server' AND type = 'auth_failure' AND details->>'reason' = '$1'"; }
wait_event() {  # wait_event REASON: the security event reaches the table (group commit)
    for _ in $(seq 1 50); do [ "$(events "$1")" -ge 1 ] && return 0; sleep 0.1; done
    return 1
}

check_exit 0 "no client certificate: answered" curl -sS --max-time 10 --cacert "$T/chain.pem" -o "$T/body" -w '%{http_code}' "${H[@]}" -d "$(report)" "$URL"
check_eq "no client certificate: 401" "401" "$(cat "$T/out")"
check_contains "with a JSON reason" "client certificate" "$T/body"
check "no client certificate: security event" wait_event no_certificate

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/self.key" -out "$D/self.crt" \
    -subj /CN=good -days 2 -addext extendedKeyUsage=clientAuth 2>/dev/null
check_fails "self-signed: refused in the handshake" dcurl "$D" self "${H[@]}" -d "$(report)" "$URL"
check "self-signed: security event" wait_event self_signed
check_eq "which names the claimed identity" "good" \
    "$(sql "SELECT details->>'claimed_device_id' FROM incidents WHERE details->>'reason' = 'self_signed' LIMIT 1")"

"$VIGILCTL" ca init --ca-dir "$T/other" >/dev/null
"$VIGILCTL" device create --ca-dir "$T/other" --id stranger --out-dir "$D" >/dev/null 2>&1
check_fails "another CA: refused" dcurl "$D" stranger "${H[@]}" -d "$(report)" "$URL"
check "another CA: security event" wait_event unknown_issuer

"$VIGILCTL" device create --id old --out-dir "$D" --validity 1h --backdate 2h >/dev/null 2>&1
check_fails "expired: refused" dcurl "$D" old "${H[@]}" -d "$(report)" "$URL"
check "expired: security event" wait_event expired

# Certificates the CA key signs outside vigilctl: with openssl ca.
mkdir -p "$T/oca"; : >"$T/oca/index.txt"; echo 1000 >"$T/oca/serial"
cat >"$T/oca.cnf" <<CNF
[ca]
default_ca = c
[c]
database = $T/oca/index.txt
new_certs_dir = $T/oca
serial = $T/oca/serial
default_md = sha256
policy = p
x509_extensions = ext
unique_subject = no
[p]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[noeku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
authorityKeyIdentifier = keyid
[servereku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
CNF
sign() {  # sign NAME CN START END [EXTENSIONS]
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/$1.key" -subj "/CN=$2" -out "$T/$1.csr" 2>/dev/null
    openssl ca -batch -config "$T/oca.cnf" -cert "$VIGIL_CA_DIR/issuing/0001.crt" -keyfile "$VIGIL_CA_DIR/issuing/0001.key" \
        -in "$T/$1.csr" -out "$D/$1.crt" -startdate "$3" -enddate "$4" -notext -extensions "${5:-ext}" 2>/dev/null
}
register() {  # register NAME DEVICE: records a certificate signed outside vigilctl
    local serial fp
    serial=$(openssl x509 -in "$D/$1.crt" -noout -serial | cut -d= -f2)
    fp=$(openssl x509 -in "$D/$1.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
    sql "INSERT INTO certificates (serial, device_id, issuer, fingerprint_sha256, not_before, not_after, pem)
         SELECT '$serial', '$2', issuer, '$fp', now() - interval '1 minute', now() + interval '1 day', '$(cat "$D/$1.crt")'
         FROM certificates WHERE device_id = '$2' LIMIT 1" >/dev/null
}
now_minus() { date -u -d '-1 min' +%Y%m%d%H%M%SZ; }
tomorrow() { date -u -d '+1 day' +%Y%m%d%H%M%SZ; }

# A certificate our CA signed and the registry holds, but without clientAuth:
# OpenSSL's client purpose takes no extendedKeyUsage at all as any purpose.
sign witheku good "$(now_minus)" "$(tomorrow)"
register witheku good
check "signed outside vigilctl with clientAuth and registered: served" dcurl "$D" witheku "${H[@]}" -d "$(report)" "$URL"
sign noeku good "$(now_minus)" "$(tomorrow)" noeku
register noeku good
check "signed by our CA, registered, no extendedKeyUsage: verifies with openssl" openssl verify -CAfile "$T/chain.pem" "$D/noeku.crt"
check_fails "but is refused in the handshake" dcurl "$D" noeku "${H[@]}" -d "$(report)" "$URL"
check "no extendedKeyUsage: security event" wait_event not_client_cert
sign servereku good "$(now_minus)" "$(tomorrow)" servereku
register servereku good
check_fails "registered with serverAuth only: refused in the handshake" dcurl "$D" servereku "${H[@]}" -d "$(report)" "$URL"
sign future good 20991231000000Z 21001231000000Z
check_fails "not yet valid: refused" dcurl "$D" future "${H[@]}" -d "$(report)" "$URL"
check "not yet valid: security event" wait_event not_yet_valid

sign forged good "$(date -u -d '-1 min' +%Y%m%d%H%M%SZ)" "$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)"
check "signed by our CA key, not in the registry: verifies with openssl" openssl verify -CAfile "$T/chain.pem" "$D/forged.crt"
dcurl "$D" forged -o "$T/body" -w '%{http_code}' "${H[@]}" -d "$(report)" "$URL" >"$T/code" 2>/dev/null
check_eq "unregistered: 403" "403" "$(cat "$T/code")"
check_contains "unregistered: says why" "not registered" "$T/body"
check "unregistered: security event" wait_event unregistered

"$VIGILCTL" device create --id revoked-dev --out-dir "$D" >/dev/null 2>&1
"$VIGILCTL" cert revoke --device revoked-dev --reason keyCompromise >/dev/null
dcurl "$D" revoked-dev -o "$T/body" -w '%{http_code}' "${H[@]}" -d "$(report)" "$URL" >"$T/code" 2>/dev/null
check_eq "revoked: 403" "403" "$(cat "$T/code")"
check_contains "revoked: says why" "revoked" "$T/body"
check "revoked: security event" wait_event revoked
check_eq "the event names the device" "revoked-dev" "$(sql "SELECT device_id FROM incidents WHERE details->>'reason' = 'revoked' LIMIT 1")"

"$VIGILCTL" device create --id retired --out-dir "$D" >/dev/null 2>&1
sql "UPDATE devices SET status = 'decommissioned' WHERE id = 'retired'; SELECT pg_notify('vigil_registry', '{\"event\":\"device_status\",\"device_id\":\"retired\",\"status\":\"decommissioned\"}')" >/dev/null
sleep 0.3
dcurl "$D" retired -o "$T/body" -w '%{http_code}' "${H[@]}" -d "$(report)" "$URL" >"$T/code" 2>/dev/null
check_eq "decommissioned: 403" "403" "$(cat "$T/code")"
check "decommissioned: security event" wait_event decommissioned

check "the registered device is still served" dcurl "$D" good "${H[@]}" -d "$(report)" "$URL"
check_eq "no report was stored for a refused peer" "3" "$(sql "SELECT count(*) FROM incidents WHERE source = 'device'")"
check "vigild drains and exits 0 on SIGTERM" vigild_stop main
check "no sanitizer report" bash -c "! grep -q 'Sanitizer' '$T/main.log'"
finish
