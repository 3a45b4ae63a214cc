#!/usr/bin/env bash
# vigilctl release key init|rotate|export: the first key is made once
# (refused when the database or the directory has one), its file is 0600
# and encrypted with a passphrase, which every later use then needs; the
# kid is the RFC 7638 thumbprint (`jose jwk thp -a S256`); a rotation
# keeps the old key in the JWKS with an endorsement of the new key that
# `jose jws ver` verifies with the old key alone; the JWKS holds no
# private key; each change is audited.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null
unset VIGIL_RELEASE_DIR VIGIL_RELEASE_PASSPHRASE
echo 'correct horse' >"$T/pass"
echo 'wrong horse' >"$T/wrong"

check_exit 3 "init without a release directory" "$VIGILCTL" release key init
check_contains "says how to give one" "VIGIL_RELEASE_DIR" "$T/err"
check_exit 1 "export before any key" "$VIGILCTL" release key export
check_contains "says to make one" "release key init" "$T/err"

mkdir -p "$T/stray"
echo junk >"$T/stray/old.key"
check_exit 1 "init refuses a directory that holds a key file" "$VIGILCTL" release key init --release-dir "$T/stray"
check_contains "names the file" "old.key" "$T/err"
check_eq "nothing stored" "0" "$(sql "SELECT count(*) FROM release_keys")"

export VIGIL_RELEASE_DIR="$T/release"
check "init with a passphrase" "$VIGILCTL" release key init --passphrase-file "$T/pass" --json
check_json "answers kid, path, encrypted" "len(d['kid'])==43 and d['encrypted'] is True and d['path'].endswith(d['kid'] + '.key')"
kid1=$(python3 -c "import json; print(json.load(open('$T/last.json'))['kid'])")
key1="$T/release/$kid1.key"
check_eq "the key file is 0600" "600" "$(stat -c %a "$key1")"
check_eq "the directory is 0700" "700" "$(stat -c %a "$T/release")"
check_contains "the key file is encrypted PKCS#8" "BEGIN ENCRYPTED PRIVATE KEY" "$key1"
check_fails "the file does not open without the passphrase" openssl pkey -in "$key1" -passin pass:
check "it opens with the passphrase" openssl pkey -in "$key1" -passin "file:$T/pass" -noout
check_eq "one active key stored" "$kid1|t" "$(sql "SELECT kid, active FROM release_keys")"
check_eq "stored without its private half" "f" "$(sql "SELECT jwk ? 'd' FROM release_keys")"
check_eq "audited release.key_init" "$kid1" "$(sql "SELECT details->>'kid' FROM audit_log WHERE action = 'release.key_init'")"

check_exit 1 "a second init is refused" "$VIGILCTL" release key init --passphrase-file "$T/pass"
check_contains "points at rotate" "release key rotate" "$T/err"
check_exit 1 "also into another directory" "$VIGILCTL" release key init --release-dir "$T/other"
check_eq "still one key" "1" "$(sql "SELECT count(*) FROM release_keys")"

check "export" "$VIGILCTL" release key export
cp "$T/out" "$T/jwks1.json"
check_json "one public key, no endorsement" "len(d['keys'])==1 and d['endorsements']==[] and 'd' not in d['keys'][0] and d['keys'][0]['kid']=='$kid1' and d['keys'][0]['alg']=='ES256' and d['keys'][0]['use']=='sig'"
python3 -c "import json; print(json.dumps(json.load(open('$T/jwks1.json'))['keys'][0]))" >"$T/old.jwk"
check "jose computes a thumbprint" jose jwk thp -i "$T/old.jwk" -a S256
check_eq "the kid is the RFC 7638 thumbprint" "$kid1" "$(cat "$T/out")"

check_exit 3 "rotate without the passphrase" "$VIGILCTL" release key rotate
check_contains "says the key is encrypted" "is encrypted" "$T/err"
check_exit 3 "rotate with a wrong passphrase" "$VIGILCTL" release key rotate --passphrase-file "$T/wrong"
check_contains "says so" "wrong passphrase" "$T/err"
check_exit 3 "rotate with the key file elsewhere" "$VIGILCTL" release key rotate --release-dir "$T/stray" --passphrase-file "$T/pass"
check_contains "names the missing file" "$T/stray/$kid1.key" "$T/err"
check_eq "refused rotations stored nothing" "1|1" "$(sql "SELECT count(*), (SELECT count(*) FROM audit_log WHERE action LIKE 'release.key%') FROM release_keys")"
check_eq "and left no file" "1" "$(ls "$T/release" | wc -l)"

export VIGIL_RELEASE_PASSPHRASE='correct horse'
check "rotate (passphrase from VIGIL_RELEASE_PASSPHRASE)" "$VIGILCTL" release key rotate --json
check_json "answers the new kid endorsed by the old" "d['kid']!='$kid1' and d['endorsed_by']=='$kid1' and d['encrypted'] is True"
kid2=$(python3 -c "import json; print(json.load(open('$T/last.json'))['kid'])")
check_eq "the new file is 0600" "600" "$(stat -c %a "$T/release/$kid2.key")"
check_eq "the new key is the active one" "$kid2" "$(sql "SELECT kid FROM release_keys WHERE active")"
check_eq "the old key stays" "2" "$(sql "SELECT count(*) FROM release_keys")"
check_eq "audited release.key_rotate" "$kid2|$kid1" "$(sql "SELECT details->>'kid', details->>'endorsed_by' FROM audit_log WHERE action = 'release.key_rotate'")"

check "export after the rotation" "$VIGILCTL" release key export
cp "$T/out" "$T/jwks2.json"
check_json "both keys, oldest first, and one endorsement" "[k['kid'] for k in d['keys']]==['$kid1','$kid2'] and len(d['endorsements'])==1 and not any('d' in k for k in d['keys'])"
python3 -c "import json; d=json.load(open('$T/jwks2.json')); print(json.dumps(d['keys'][1])); open('$T/endorsement.jws','w').write(d['endorsements'][0])" >"$T/new.jwk"
check "jose: the new key's thumbprint" jose jwk thp -i "$T/new.jwk" -a S256
check_eq "is its kid" "$kid2" "$(cat "$T/out")"
check "jose verifies the endorsement with the old key alone" jose jws ver -i "$T/endorsement.jws" -k "$T/old.jwk" -O "$T/endorsed.json"
check_json_in "$T/endorsed.json" "the endorsement lists the new key" "d['typ']=='vigil-keys' and [k['kid'] for k in d['keys']]==['$kid2'] and 'd' not in d['keys'][0]"
check_fails "the new key does not verify it (it is not self-signed)" jose jws ver -i "$T/endorsement.jws" -k "$T/new.jwk"
python3 - "$T/endorsement.jws" "$T/tampered.jws" <<'PY'
import base64, json, sys
h, p, s = open(sys.argv[1]).read().split('.')
claims = json.loads(base64.urlsafe_b64decode(p + '=' * (-len(p) % 4)))
claims['iat'] += 1
p = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip('=')
open(sys.argv[2], 'w').write('.'.join([h, p, s]))
PY
check_fails "a tampered endorsement fails" jose jws ver -i "$T/tampered.jws" -k "$T/old.jwk"
check "jose accepts the JWKS as exported" jose jws ver -i "$T/endorsement.jws" -k "$T/jwks2.json"

check "a second rotation" "$VIGILCTL" release key rotate
check_eq "three keys, the second endorses the third" "3|$kid2" "$(sql "SELECT count(*), (SELECT endorsed_by FROM release_keys WHERE active) FROM release_keys")"

# The connection is lost during the commit of a rotation: whether the key
# was stored is unknown, so its file must stay (a stored active key
# without its private half could sign nothing and endorse no successor).
sql "CREATE FUNCTION t_lose() RETURNS trigger LANGUAGE plpgsql AS \$\$
       BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END \$\$;
     CREATE CONSTRAINT TRIGGER t_lose AFTER INSERT ON release_keys
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION t_lose()" >/dev/null
before=$(find "$VIGIL_RELEASE_DIR" -name '*.key' | wc -l)
check_exit 4 "a rotation whose commit loses the connection" "$VIGILCTL" release key rotate
check_eq "keeps the new key file" "$((before + 1))" "$(find "$VIGIL_RELEASE_DIR" -name '*.key' | wc -l)"
check_contains "says the outcome is unknown and what to do" "release key export" "$T/err"
sql "DROP TRIGGER t_lose ON release_keys; DROP FUNCTION t_lose()" >/dev/null
check_eq "(here it was not stored)" "3" "$(sql "SELECT count(*) FROM release_keys")"

for c in init rotate export; do
    check "release key $c --help" "$VIGILCTL" release key "$c" --help
    check_contains "release key $c --help has usage" "Usage: vigilctl release key $c" "$T/out"
done
check "release key --help" "$VIGILCTL" release key --help
check_contains "lists the commands" "rotate" "$T/out"
check_exit 2 "release key frob" "$VIGILCTL" release key frob
finish
