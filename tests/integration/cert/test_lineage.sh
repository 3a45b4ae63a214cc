#!/usr/bin/env bash
# Certificate lineage: renewals recorded with vigil_renew (as vigild does,
# with certificates signed here by the issuing CAs with openssl), shown by
# `vigilctl cert show` in both directions; revoking for keyCompromise
# revokes every descendant (one NOTIFY and audit row each), leaves an
# already-revoked one as it is, puts every key of the lineage on
# compromised_keys (hashing the pem where key_sha256 is NULL), and each
# revoked certificate is in its own issuer's CRL; enrollment then refuses
# those keys, single and batch.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../listen.sh"
pg_start
setup_ca
D="$T/d"
mkdir -p "$D"
"$VIGILCTL" device create --id dev-l --out-dir "$D" >/dev/null 2>&1
"$VIGILCTL" device create --id dev-o --out-dir "$D" >/dev/null 2>&1

serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
fp_of() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f; }
key_of() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1; }
ski_of() { openssl x509 -in "$1" -noout -ext subjectKeyIdentifier | tail -n 1 | tr -d ' :' | tr A-F a-f; }
# renew AUTH_CERT KEY OUT ISSUING: what vigild records for a renewal: a
# certificate for KEY signed by issuing CA ISSUING (NNNN), and vigil_renew.
renew() {
    local auth=$1 key=$2 out=$3 iss=$4 n=$((RANDOM * 32768 + RANDOM + 4096))
    openssl req -new -key "$key" -subj /CN=dev-l -out "$out.csr" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\nsubjectAltName=URI:urn:vigil:device:dev-l\n' >"$out.ext"
    openssl x509 -req -in "$out.csr" -CA "$VIGIL_CA_DIR/issuing/$iss.crt" -CAkey "$VIGIL_CA_DIR/issuing/$iss.key" \
        -set_serial "$n" -days 1 -extfile "$out.ext" -out "$out" 2>/dev/null
    local same=false
    [ "$(key_of "$out")" = "$(key_of "$auth")" ] && same=true
    sql "SELECT coalesce(code, 'ok') FROM vigil_renew('dev-l', '$(serial_of "$auth")', '$(key_of "$out")', $same, false,
         '$(serial_of "$out")', '$(ski_of "$VIGIL_CA_DIR/issuing/$iss.crt")', '$(fp_of "$out")',
         $(date +%s), $(date -d '+1 day' +%s), \$pem\$$(cat "$out")
\$pem\$, 'test', '127.0.0.1')"
}
c0=$(serial_of "$D/dev-l.crt")
check_eq "first renewal (same key) recorded" "ok" "$(renew "$D/dev-l.crt" "$D/dev-l.key" "$D/c1.crt" 0001)"
c1=$(serial_of "$D/c1.crt")
"$VIGILCTL" ca rotate >/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$D/k2.key" 2>/dev/null
check_eq "second renewal (new key, new issuing CA) recorded" "ok" "$(renew "$D/c1.crt" "$D/k2.key" "$D/c2.crt" 0002)"
c2=$(serial_of "$D/c2.crt")
openssl ecparam -name prime256v1 -genkey -noout -out "$D/k3.key" 2>/dev/null
check_eq "third renewal recorded" "ok" "$(renew "$D/c2.crt" "$D/k3.key" "$D/c3.crt" 0002)"
c3=$(serial_of "$D/c3.crt")
"$VIGILCTL" cert revoke --serial "$c3" --reason superseded >/dev/null

check "cert show of the original" "$VIGILCTL" cert show "$c0" --json
check_json "descendants with depth, no ancestors" "d['ancestors']==[] and d['descendants']==[{'serial':'$c1','depth':1},{'serial':'$c2','depth':2},{'serial':'$c3','depth':3}] and d['renewed_from'] is None and d['superseded_by']=='$c1' and d['superseded_at'].endswith('Z') and d['key_sha256']=='$(key_of "$D/dev-l.crt")'"
check "cert show of a renewal" "$VIGILCTL" cert show "$c2" --json
check_json "ancestors nearest first" "d['ancestors']==['$c1','$c0'] and d['renewed_from']=='$c1' and d['descendants']==[{'serial':'$c3','depth':1}] and d['superseded_by']=='$c3'"
check "cert show in text" "$VIGILCTL" cert show "$c1"
check_contains "names its parent" "renewed_from         $c0" "$T/out"
check_contains "lists ancestors" "ancestors            [\"$c0\"]" "$T/out"
check "cert list still lists" "$VIGILCTL" cert list --device dev-l --json
check_json "four certificates, the list's fields" "len(d)==4 and set(d[0])>={'serial','device_id','status','not_before','not_after','issuer','fingerprint_sha256'}"

# An old row without key_sha256: the revocation reads the key from the pem.
sql "UPDATE certificates SET key_sha256 = NULL WHERE serial = '$c2'"

listen_start
check "revoke the original for keyCompromise" "$VIGILCTL" cert revoke --serial "$c0" --reason keyCompromise --json
check_json "lists the three revoked, descendants with via" "[c['serial'] for c in d]==['$c0','$c1','$c2'] and 'via' not in d[0] and d[1]['via']=='$c0' and d[2]['via']=='$c0' and all(c['reason']=='keyCompromise' for c in d)"
listen_stop
for s in "$c0" "$c1" "$c2"; do
    check_contains "NOTIFY certificate_revoked for $s" "\"event\" : \"certificate_revoked\", \"serial\" : \"$s\"" "$T/notify.txt"
done
check_eq "no NOTIFY for the one already revoked" "0" "$(grep -c "\"serial\" : \"$c3\"" "$T/notify.txt")"
check_eq "all three revoked for keyCompromise" "3" "$(sql "SELECT count(*) FROM certificates WHERE serial IN ('$c0','$c1','$c2') AND status='revoked' AND revocation_reason='keyCompromise'")"
check_eq "the already-revoked descendant is left as it was" "revoked|superseded" "$(sql "SELECT status, revocation_reason FROM certificates WHERE serial='$c3'")"
check_eq "every key of the lineage is listed (three keys)" "3" "$(sql "SELECT count(*) FROM compromised_keys")"
check_eq "the key hashed from the pem is the key" "$c2|dev-l" "$(sql "SELECT serial, device_id FROM compromised_keys WHERE key_sha256='$(key_of "$D/c2.crt")'")"
check_eq "the already-revoked one's key too" "1" "$(sql "SELECT count(*) FROM compromised_keys WHERE key_sha256='$(key_of "$D/c3.crt")'")"
check_eq "the compromised one's audit row lists the descendants" "[\"$c1\", \"$c2\", \"$c3\"]" \
    "$(sql "SELECT details->'descendants' FROM audit_log WHERE action='cert.revoke' AND serial='$c0'")"
check_eq "one audit row per descendant revoked, with via" "$c1|$c0
$c2|$c0" "$(sql "SELECT serial, details->>'via' FROM audit_log WHERE action='cert.revoke' AND details->>'reason'='keyCompromise' AND details ? 'via' ORDER BY serial = '$c2', serial")"
check_eq "the other device is untouched" "active" "$(sql "SELECT status FROM certificates WHERE device_id='dev-o'")"

check "ca crl" "$VIGILCTL" ca crl
awk -v d="$T/crl" '/BEGIN X509 CRL/{n++} {print > (d "." n ".pem")}' "$T/out"
for f in "$T"/crl.*.pem; do openssl crl -in "$f" -noout -text >"$f.txt"; done
iss1=$(openssl x509 -in "$VIGIL_CA_DIR/issuing/0001.crt" -noout -subject | sed 's/^subject=//')
iss2=$(openssl x509 -in "$VIGIL_CA_DIR/issuing/0002.crt" -noout -subject | sed 's/^subject=//')
crl_of() { grep -l "Serial Number: $1" "$T"/crl.*.pem.txt | head -n 1; }
check_contains "the original in the first issuer's CRL" "Issuer: $iss1" "$(crl_of "$c0")"
check_contains "the first renewal there too" "Serial Number: $c1" "$(crl_of "$c0")"
check_contains "the renewal by the new issuing CA in that CA's CRL" "Issuer: $iss2" "$(crl_of "$c2")"
check_contains "as keyCompromise" "Key Compromise" "$(crl_of "$c2")"
"$VIGILCTL" ca chain >"$T/chain2.pem"
"$VIGILCTL" ca crl >"$T/crl.pem"
check_exit 2 "openssl refuses the grandchild with the CRLs" openssl verify -crl_check -CRLfile "$T/crl.pem" -CAfile "$T/chain2.pem" "$D/c2.crt"
check_contains "as revoked" "certificate revoked" "$T/err"

check_exit 1 "revoking it again is refused" "$VIGILCTL" cert revoke --serial "$c0" --reason keyCompromise
check_contains "already" "already revoked" "$T/err"

openssl req -new -key "$D/dev-l.key" -subj /CN=dev-new -out "$T/k0.csr" 2>/dev/null
check_exit 1 "enroll refuses a compromised key" "$VIGILCTL" device enroll --csr "$T/k0.csr"
check_contains "says it is on the list" "compromised-keys list" "$T/err"
check_contains "and that the device must make a new key" "must make a new key" "$T/err"
mkdir -p "$T/batch"
openssl req -new -key "$D/k2.key" -subj /CN=dev-b1 -out "$T/batch/b1.csr" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/fresh.key" 2>/dev/null
openssl req -new -key "$T/fresh.key" -subj /CN=dev-b2 -out "$T/batch/b2.csr" 2>/dev/null
check_exit 1 "a batch with a compromised key is refused" "$VIGILCTL" device enroll --csr-dir "$T/batch"
check_contains "says it is on the list" "compromised-keys list" "$T/err"
check_eq "nothing of the batch enrolled" "0" "$(sql "SELECT count(*) FROM devices WHERE id IN ('dev-b1','dev-b2','dev-new')")"
check "a new key enrolls" "$VIGILCTL" device enroll --csr "$T/batch/b2.csr"

"$VIGILCTL" device create --id dev-m --out-dir "$D" >/dev/null 2>&1
check "keyCompromise by device" "$VIGILCTL" cert revoke --device dev-m --reason keyCompromise
check_contains "text names it" "revoked $(serial_of "$D/dev-m.crt") (device dev-m, keyCompromise)" "$T/out"
check_contains "and the list" "1 key put on the compromised-keys list" "$T/out"
check_eq "its key is listed" "1" "$(sql "SELECT count(*) FROM compromised_keys WHERE device_id='dev-m'")"
finish
