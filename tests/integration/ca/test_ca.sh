#!/usr/bin/env bash
# vigilctl ca: init (modes, encryption, refusal to overwrite), chain,
# server-cert, rotate, missing directory, wrong passphrase; audit rows.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null
export VIGIL_CA_DIR="$T/ca"

check "ca init" "$VIGILCTL" ca init
check_eq "root key is 0600" "600" "$(stat -c %a "$T/ca/root.key")"
check_eq "issuing key is 0600" "600" "$(stat -c %a "$T/ca/issuing/0001.key")"
check_contains "init warns about unencrypted keys" "NOT encrypted" "$T/out"
check_exit 1 "init refuses an existing CA" "$VIGILCTL" ca init
check "ca chain" "$VIGILCTL" ca chain
cp "$T/out" "$T/chain.pem"
check_eq "chain has issuer and root" "2" "$(grep -c 'BEGIN CERTIFICATE' "$T/chain.pem")"
check "chain parses with openssl" openssl crl2pkcs7 -nocrl -certfile "$T/chain.pem"
check "ca show --json" "$VIGILCTL" ca show --json
check_json "ca show output is JSON" "d['key_type']=='p256' and len(d['issuers'])==1"

check "server-cert" "$VIGILCTL" ca server-cert --dns localhost --ip 127.0.0.1 --ip ::1 --out-dir "$T/tls"
check_eq "server key is 0600" "600" "$(stat -c %a "$T/tls/server.key")"
openssl x509 -in "$T/tls/server.crt" -noout -text >"$T/srv.txt"
check_contains "server cert has serverAuth" "TLS Web Server Authentication" "$T/srv.txt"
check_contains "server cert names localhost" "DNS:localhost" "$T/srv.txt"
check_contains "server cert names 127.0.0.1" "IP Address:127.0.0.1" "$T/srv.txt"
check "server cert verifies" openssl verify -CAfile "$T/chain.pem" "$T/tls/server.crt"
check_exit 1 "server-cert refuses to overwrite" "$VIGILCTL" ca server-cert --dns localhost --out-dir "$T/tls"
check_exit 2 "server-cert needs a name" "$VIGILCTL" ca server-cert --out-dir "$T/tls2"

# rotation: certificates of both issuers verify against the chain
"$VIGILCTL" device create --id before --out-dir "$T/d" >/dev/null 2>&1
check "ca rotate" "$VIGILCTL" ca rotate
"$VIGILCTL" device create --id after --out-dir "$T/d" >/dev/null 2>&1
"$VIGILCTL" ca chain >"$T/chain2.pem"
check_eq "chain after rotation has two issuers and the root" "3" "$(grep -c 'BEGIN CERTIFICATE' "$T/chain2.pem")"
check "old issuer's certificate verifies" openssl verify -CAfile "$T/chain2.pem" "$T/d/before.crt"
check "new issuer's certificate verifies" openssl verify -CAfile "$T/chain2.pem" "$T/d/after.crt"
check_eq "the new one comes from issuer 0002" "$(openssl x509 -in "$T/ca/issuing/0002.crt" -noout -subject | sed 's/subject=//')" \
    "$(openssl x509 -in "$T/d/after.crt" -noout -issuer | sed 's/issuer=//')"

check_exit 3 "missing CA directory: exit 3" "$VIGILCTL" ca chain --ca-dir "$T/nope"
check_contains "and says what to do" "vigilctl ca init" "$T/err"

# passphrase-protected CA
printf 'correct horse battery staple\n' >"$T/pass"
printf 'wrong\n' >"$T/wrong"
check "init with a passphrase file" "$VIGILCTL" ca init --ca-dir "$T/enc" --passphrase-file "$T/pass"
check_exit 1 "encrypted key does not load without the passphrase" openssl pkey -in "$T/enc/root.key" -passin pass:
before=$(sql "SELECT count(*) FROM certificates")
check_exit 3 "wrong passphrase: exit 3" "$VIGILCTL" device create --ca-dir "$T/enc" --id x --out-dir "$T/x" --passphrase-file "$T/wrong"
check_contains "says the passphrase is wrong" "wrong passphrase" "$T/err"
check "nothing written on a wrong passphrase" test ! -e "$T/x"
check_eq "no certificate recorded" "$before" "$(sql "SELECT count(*) FROM certificates")"
check_exit 3 "no passphrase for an encrypted CA: exit 3" "$VIGILCTL" ca rotate --ca-dir "$T/enc"
export VIGIL_PASS_TEST="correct horse battery staple"
check "passphrase from an environment variable" "$VIGILCTL" device create --ca-dir "$T/enc" --id y --out-dir "$T/y" --passphrase-env VIGIL_PASS_TEST
check_exit 2 "no passphrase on the command line" "$VIGILCTL" ca init --ca-dir "$T/p" --passphrase secret
# VIGIL_CA_PASSPHRASE_FILE: the passphrase as a file (a Docker secret)
check "passphrase from VIGIL_CA_PASSPHRASE_FILE" \
    env VIGIL_CA_PASSPHRASE_FILE="$T/pass" "$VIGILCTL" device create --ca-dir "$T/enc" --id z --out-dir "$T/z"
check "  ... the device got its certificate" test -s "$T/z/z.crt"
check_exit 3 "VIGIL_CA_PASSPHRASE_FILE of the wrong passphrase: exit 3" \
    env VIGIL_CA_PASSPHRASE_FILE="$T/wrong" "$VIGILCTL" device create --ca-dir "$T/enc" --id w --out-dir "$T/w"
check_contains "  ... says it is wrong" "wrong passphrase" "$T/err"
check_exit 3 "VIGIL_CA_PASSPHRASE_FILE missing: exit 3" \
    env VIGIL_CA_PASSPHRASE_FILE="$T/nope.pass" "$VIGILCTL" ca rotate --ca-dir "$T/enc"
check_contains "  ... names the file" "cannot read $T/nope.pass: No such file or directory" "$T/err"
check_exit 3 "VIGIL_CA_PASSPHRASE and VIGIL_CA_PASSPHRASE_FILE both set: exit 3" \
    env VIGIL_CA_PASSPHRASE=x VIGIL_CA_PASSPHRASE_FILE="$T/pass" "$VIGILCTL" ca rotate --ca-dir "$T/enc"
check_contains "  ... says to unset one" "both VIGIL_CA_PASSPHRASE and VIGIL_CA_PASSPHRASE_FILE are set" "$T/err"

check_eq "one audit row per CA action" "ca.init ca.init ca.rotate ca.server_cert device.enroll device.enroll device.enroll device.enroll" \
    "$(sql "SELECT string_agg(action, ' ' ORDER BY action) FROM audit_log")"
check_eq "audit rows name the OS user" "$(id -un)" "$(sql "SELECT DISTINCT actor FROM audit_log")"
finish
