#!/usr/bin/env bash
# A key revoked for keyCompromise is never certified again: `device enroll`
# (single and batch) refuses it, saying which certificate carried it, since
# when it is listed and that the device must make a new key (vigil-device
# keygen); nothing is issued or recorded, and with --out FILE an existing
# certificate file is left as it was. --out writes atomically, mode 0644,
# only on success; ca chain, ca crl and cert show --pem take it too.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
D="$T/d"
mkdir -p "$D"
openssl ecparam -name prime256v1 -genkey -noout -out "$D/demo-1.key" 2>/dev/null
openssl req -new -key "$D/demo-1.key" -subj /CN=demo-1 -out "$D/demo-1.csr" 2>/dev/null

check "enroll --out" "$VIGILCTL" device enroll --csr "$D/demo-1.csr" --out "$D/demo-1.crt"
check_eq "nothing on stdout" "" "$(cat "$T/out")"
check_contains "says where the certificate is" "certificate in $D/demo-1.crt" "$T/err"
check "the file is the certificate" openssl x509 -in "$D/demo-1.crt" -noout
check_eq "mode 0644" "644" "$(stat -c %a "$D/demo-1.crt")"
check_eq "no temporary file left" "" "$(ls "$D" | grep tmp)"
serial=$(openssl x509 -in "$D/demo-1.crt" -noout -serial | cut -d= -f2)
cp "$D/demo-1.crt" "$T/demo-1.orig"

check_exit 1 "enrolling again is refused" "$VIGILCTL" device enroll --csr "$D/demo-1.csr" --out "$D/demo-1.crt"
check "and the certificate file is unchanged (not truncated)" cmp "$D/demo-1.crt" "$T/demo-1.orig"

check "cert revoke --reason keyCompromise" "$VIGILCTL" cert revoke --serial "$serial" --reason keyCompromise
before=$(sql "SELECT (SELECT count(*) FROM certificates) || '/' || (SELECT count(*) FROM devices) || '/' || (SELECT count(*) FROM audit_log)")
check_exit 1 "the same CSR again is refused (the README's step run twice)" "$VIGILCTL" device enroll --csr "$D/demo-1.csr" --out "$D/demo-1.crt"
check_contains "says the key was declared compromised" "was declared compromised" "$T/err"
check_contains "names the certificate" "certificate $serial of device demo-1" "$T/err"
check_contains "says since when" "compromised-keys list since 20" "$T/err"
check_contains "says what to do" "The device must make a new key and a new CSR (\`vigil-device keygen\`)" "$T/err"
check_contains "says nothing was issued" "Nothing was issued or recorded" "$T/err"
check "the existing certificate file is not truncated" cmp "$D/demo-1.crt" "$T/demo-1.orig"
check_eq "nothing recorded (certificates/devices/audit rows)" "$before" \
    "$(sql "SELECT (SELECT count(*) FROM certificates) || '/' || (SELECT count(*) FROM devices) || '/' || (SELECT count(*) FROM audit_log)")"
check_exit 1 "the same device with --replace too" "$VIGILCTL" device enroll --csr "$D/demo-1.csr" --replace
check_contains "the same refusal" "was declared compromised" "$T/err"
openssl req -new -key "$D/demo-1.key" -subj /CN=demo-3 -out "$D/demo-3.csr" 2>/dev/null
check_exit 1 "the key under another id, --json" "$VIGILCTL" device enroll --csr "$D/demo-3.csr" --json
check_contains "refused the same way" "was declared compromised" "$T/err"
check_eq "no JSON on stdout" "" "$(cat "$T/out")"
mkdir -p "$D/batch"
cp "$D/demo-1.csr" "$D/batch/a.csr"
check_exit 1 "a batch holding the key is refused" "$VIGILCTL" device enroll --csr-dir "$D/batch"
check_contains "with the same words" "was declared compromised" "$T/err"
check_eq "no certificate written by the batch" "a.csr" "$(ls "$D/batch")"

openssl ecparam -name prime256v1 -genkey -noout -out "$D/new.key" 2>/dev/null
openssl req -new -key "$D/new.key" -subj /CN=demo-1 -out "$D/new.csr" 2>/dev/null
check "a new key enrolls, replacing the file" "$VIGILCTL" device enroll --csr "$D/new.csr" --out "$D/demo-1.crt"
check_eq "the file holds the new certificate" \
    "$(openssl pkey -in "$D/new.key" -pubout 2>/dev/null)" "$(openssl x509 -in "$D/demo-1.crt" -noout -pubkey)"

# --out on the other commands whose output is redirected
check "ca chain --out" "$VIGILCTL" ca chain --out "$T/chain2.pem"
check "the same chain as on stdout" cmp "$T/chain2.pem" "$T/chain.pem"
check "ca crl --out" "$VIGILCTL" ca crl --out "$T/crl.pem"
check "a CRL listing the compromised certificate" grep -q "$serial" <(openssl crl -in "$T/crl.pem" -noout -text)
check "cert show --pem --out" "$VIGILCTL" cert show "$serial" --pem --out "$T/old.crt"
check "the certificate" cmp "$T/old.crt" "$T/demo-1.orig"
check_exit 2 "cert show --out without --pem" "$VIGILCTL" cert show "$serial" --out "$T/x"
check_exit 1 "--out into a missing directory" "$VIGILCTL" ca chain --out "$T/nope/chain.pem"
check_contains "names the file and the reason" "--out $T/nope/chain.pem: cannot create" "$T/err"
check_contains "in words" "No such file or directory" "$T/err"
check_exit 2 "--out with --csr-dir" "$VIGILCTL" device enroll --csr-dir "$D/batch" --out "$T/x"
check_exit 2 "--out on a command without it" "$VIGILCTL" device list --out "$T/x"
check "enroll --help documents --out" "$VIGILCTL" device enroll --help
check_contains "--out" "--out FILE" "$T/out"
finish
