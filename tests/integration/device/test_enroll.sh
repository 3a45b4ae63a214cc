#!/usr/bin/env bash
# vigilctl device enroll/create/list/show: an openssl-made CSR enrolled and
# verified, the certificate profile, bad input refused with nothing written,
# --replace, manufacturing batches.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca

counts() { sql "SELECT (SELECT count(*) FROM devices) || '/' || (SELECT count(*) FROM certificates) || '/' || (SELECT count(*) FROM audit_log)"; }
csr() {  # csr NAME SUBJECT [openssl newkey args...]
    local name=$1 subj=$2; shift 2
    openssl req -new -newkey "${@:-ec}" ${1:+} -nodes -keyout "$T/$name.key" -subj "$subj" -out "$T/$name.csr" 2>/dev/null
}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/dev-1.key" \
    -subj /CN=dev-1 -out "$T/dev-1.csr" 2>/dev/null

check "enroll an openssl P-256 CSR" "$VIGILCTL" device enroll --csr "$T/dev-1.csr"
cp "$T/out" "$T/dev-1.crt"
check "openssl verify accepts it against ca chain" openssl verify -CAfile "$T/chain.pem" "$T/dev-1.crt"
openssl x509 -in "$T/dev-1.crt" -noout -text >"$T/x509.txt"
check_contains "CN is the device id" "Subject: CN = dev-1" "$T/x509.txt"
check_contains "SAN URI" "URI:urn:vigil:device:dev-1" "$T/x509.txt"
check_contains "clientAuth" "TLS Web Client Authentication" "$T/x509.txt"
check_contains "digitalSignature" "Digital Signature" "$T/x509.txt"
check_contains "SKI" "Subject Key Identifier" "$T/x509.txt"
check_contains "AKI" "Authority Key Identifier" "$T/x509.txt"
check "basicConstraints CA:FALSE, critical" grep -A1 -q "Basic Constraints: critical" "$T/x509.txt"
check_contains "CA:FALSE" "CA:FALSE" "$T/x509.txt"
serial=$(openssl x509 -in "$T/dev-1.crt" -noout -serial | cut -d= -f2)
check "serial has at least 128 bits" test ${#serial} -ge 32
nb=$(date -d "$(openssl x509 -in "$T/dev-1.crt" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$T/dev-1.crt" -noout -enddate | cut -d= -f2)" +%s)
check_eq "default validity 30 days from now (notBefore a minute back for clock skew)" "2592060" "$((na - nb))"
check_eq "registered with its serial" "dev-1 active" "$(sql "SELECT device_id || ' ' || status FROM certificates WHERE serial = '$serial'")"
check_eq "default class" "default" "$(sql "SELECT device_class FROM devices WHERE id = 'dev-1'")"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$T/p384.key" -subj /CN=dev-384 -out "$T/p384.csr" 2>/dev/null
check "P-384 CSR with --validity 24h and --class" "$VIGILCTL" device enroll --csr "$T/p384.csr" --validity 24h --class sensor --json
check_json "--json result parses" "d['device_id']=='dev-384' and d['pem'].startswith('-----BEGIN')"
python3 -c "import json; print(json.load(open('$T/last.json'))['pem'], end='')" >"$T/p384.crt"
nb=$(date -d "$(openssl x509 -in "$T/p384.crt" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$T/p384.crt" -noout -enddate | cut -d= -f2)" +%s)
check_eq "24-hour certificate (and the minute of skew)" "86460" "$((na - nb))"
openssl req -new -newkey ed25519 -nodes -keyout "$T/ed.key" -subj /CN=dev-ed -out "$T/ed.csr" 2>/dev/null
check "Ed25519 CSR" "$VIGILCTL" device enroll --csr "$T/ed.csr"

# bad input: clear message, non-zero exit, nothing written
refused() {  # refused NAME CODE MESSAGE CMD...
    local name=$1 code=$2 msg=$3; shift 3
    local before; before=$(counts)
    check_exit "$code" "$name: exit $code" "$@"
    check_contains "$name: message" "$msg" "$T/err"
    check_eq "$name: nothing written" "$before" "$(counts)"
}
openssl req -in "$T/dev-1.csr" -outform DER -out "$T/good.der" 2>/dev/null
python3 - "$T/good.der" "$T/broken.der" <<'PY'
import sys
data = bytearray(open(sys.argv[1], 'rb').read())
data[-4] ^= 0x01          # inside the signature value
open(sys.argv[2], 'wb').write(data)
PY
refused "broken CSR signature" 1 "signature" "$VIGILCTL" device enroll --csr "$T/broken.der" --id other-1
echo "this is not a CSR" >"$T/junk.csr"
refused "not a CSR" 1 "not a certificate signing request" "$VIGILCTL" device enroll --csr "$T/junk.csr"
openssl req -new -newkey rsa:1024 -nodes -keyout "$T/rsa.key" -subj /CN=weak -out "$T/rsa.csr" 2>/dev/null
refused "RSA-1024" 1 "2048" "$VIGILCTL" device enroll --csr "$T/rsa.csr"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/dup.key" -subj /CN=dev-1 -out "$T/dup.csr" 2>/dev/null
refused "duplicate id" 1 "already has an active certificate" "$VIGILCTL" device enroll --csr "$T/dup.csr"
refused "illegal --id" 1 "invalid device id" "$VIGILCTL" device enroll --csr "$T/dup.csr" --id 'a/b'
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/bad.key" -subj "/CN=bad id!" -out "$T/badcn.csr" 2>/dev/null
refused "illegal CN" 1 "invalid device id" "$VIGILCTL" device enroll --csr "$T/badcn.csr"
refused "--id differs from CN" 1 "differs" "$VIGILCTL" device enroll --csr "$T/dup.csr" --id dev-2
refused "missing CA directory" 3 "no CA in" "$VIGILCTL" device enroll --csr "$T/p384.csr" --replace --ca-dir "$T/none"
check_exit 2 "unknown option: exit 2" "$VIGILCTL" device enroll --csr "$T/dup.csr" --bogus

check "--replace supersedes" "$VIGILCTL" device enroll --csr "$T/dup.csr" --replace
check_eq "old certificate revoked as superseded" "revoked superseded" \
    "$(sql "SELECT status || ' ' || revocation_reason FROM certificates WHERE serial = '$serial'")"
check_eq "one active certificate left" "1" "$(sql "SELECT count(*) FROM certificates WHERE device_id = 'dev-1' AND status = 'active'")"

# a manufacturing batch
mkdir -p "$T/batch"
for i in $(seq -w 1 20); do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
        -subj "/CN=line-$i" -out "$T/batch/line-$i.csr" 2>/dev/null
done
cp -r "$T/batch" "$T/badbatch"
echo garbage >"$T/badbatch/line-99.csr"
refused "a batch with a bad file" 1 "line-99.csr" "$VIGILCTL" device enroll --csr-dir "$T/badbatch" --out-dir "$T/badout"
check "no certificate files from the refused batch" test -z "$(ls "$T/badout" 2>/dev/null)"
check "a batch of 20" "$VIGILCTL" device enroll --csr-dir "$T/batch" --out-dir "$T/out20"
check_contains "progress" "enrolling: 20/20" "$T/err"
check_contains "summary" "enrolled 20 devices" "$T/err"
check_eq "20 certificates written" "20" "$(ls "$T/out20" | grep -c '\.crt$')"
check "each verifies" openssl verify -CAfile "$T/chain.pem" "$T/out20/line-07.crt"

check "device create" "$VIGILCTL" device create --id test-dev --out-dir "$T/created"
check_contains "says it is for tests only" "tests only" "$T/err"
check_eq "its key is 0600" "600" "$(stat -c %a "$T/created/test-dev.key")"
check "its certificate matches its key" bash -c "[ \"\$(openssl x509 -in $T/created/test-dev.crt -noout -pubkey)\" = \"\$(openssl pkey -in $T/created/test-dev.key -pubout)\" ]"

check "device list --json" "$VIGILCTL" device list --prefix line- --limit 5 --json
check_json "lists 5 line devices" "len(d)==5 and d[0]['id']=='line-01'"
check "device show --json" "$VIGILCTL" device show dev-1 --json
check_json "shows both certificates" "len(d['certificates'])==2"
check_exit 1 "unknown device" "$VIGILCTL" device show nobody
check "device list table" "$VIGILCTL" device list
check_contains "has a header" "FIRMWARE_VERSION" "$T/out"

pg_stop
refused_db() { check_exit 4 "$1" "${@:2}"; check_contains "$1: mentions the database" "PostgreSQL" "$T/err"; }
refused_db "database down: enroll exits 4" "$VIGILCTL" device enroll --csr "$T/p384.csr" --id dev-384 --replace
check "database down: no certificate file written" test ! -e "$T/dbdown"
refused_db "database down: create exits 4" "$VIGILCTL" device create --id dbdown --out-dir "$T/dbdown"
check "nothing written while the database is down" test ! -e "$T/dbdown"
finish
