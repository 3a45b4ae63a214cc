#!/usr/bin/env bash
# vigilctl release create|list|show|revoke: the artifact is stored in
# 256 KiB chunks that reassemble to the file's sha256sum and is reused by
# digest; the stored manifest verifies with `jose jws ver -k` and the
# exported JWKS, and a tampered payload or header fails there; every
# refusal (no key, empty, unreadable or non-regular file, duplicate
# version, lower security version, bad values, key file or passphrase
# problems) leaves no row behind; the anti-rollback trigger stands behind
# the CLI's check; revoke aborts the release's live rollout.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null
export VIGIL_RELEASE_DIR="$T/release"
unset VIGIL_RELEASE_PASSPHRASE

head -c 600000 /dev/urandom >"$T/fw1.bin"
head -c 5000 /dev/urandom >"$T/fw2.bin"
: >"$T/empty.bin"
sha1=$(sha256sum "$T/fw1.bin" | cut -d' ' -f1)

# rows that a refusal must not leave: releases, artifacts, chunks, audit
rows() { sql "SELECT (SELECT count(*) FROM releases), (SELECT count(*) FROM artifacts), (SELECT count(*) FROM artifact_chunks), (SELECT count(*) FROM audit_log WHERE action LIKE 'release.%')"; }
create() { "$VIGILCTL" release create --class sensor --expires 30d "$@"; }

check_exit 1 "no release key yet" create --artifact "$T/fw1.bin" --version 1.0.0 --security-version 1
check_contains "says to make one" "release key init" "$T/err"
check_eq "no key: nothing stored" "0|0|0|0" "$(rows)"

echo 's3cret' >"$T/pass"
"$VIGILCTL" release key init --passphrase-file "$T/pass" >/dev/null
kid=$(sql "SELECT kid FROM release_keys WHERE active")
base=$(rows)

check "create" create --artifact "$T/fw1.bin" --version 1.0.0 --security-version 3 --notes "first one" \
    --passphrase-file "$T/pass" --json
check_json "the release" "d['id']==1 and d['version']=='1.0.0' and d['device_class']=='sensor' and d['security_version']==3 and d['size']==600000 and d['artifact_sha256']=='$sha1' and d['kid']=='$kid' and d['state']=='active' and d['notes']=='first one' and d['artifact_reused'] is False"
check_eq "three chunks of 256 KiB, the last shorter" "3|262144|75712" \
    "$(sql "SELECT count(*), max(length(data)), min(length(data)) FROM artifact_chunks WHERE sha256 = '$sha1'")"
check_eq "the chunks reassemble to the file's sha256sum" "$sha1" \
    "$(sql "SELECT encode(sha256(string_agg(data, ''::bytea ORDER BY idx)), 'hex') FROM artifact_chunks WHERE sha256 = '$sha1'")"
check_eq "the artifact row" "600000|262144" "$(sql "SELECT size, chunk_size FROM artifacts WHERE sha256 = '$sha1'")"
check_eq "audited release.create" "1.0.0|$sha1" "$(sql "SELECT details->>'version', details->>'sha256' FROM audit_log WHERE action = 'release.create'")"

"$VIGILCTL" release key export >"$T/keys.json"
check "show --json" "$VIGILCTL" release show sensor/1.0.0 --json
check_json "claims and signature" "d['signature_valid'] is True and d['claims']['artifact']['sha256']=='$sha1' and d['claims']['kid']=='$kid'"
python3 -c "import json; open('$T/m.jws','w').write(json.load(open('$T/last.json'))['manifest'])"
check_eq "the stored manifest has no newline" "$(sql "SELECT manifest FROM releases WHERE id = 1")" "$(cat "$T/m.jws")"
check "jose jws ver -k <export> verifies the manifest" jose jws ver -i "$T/m.jws" -k "$T/keys.json" -O "$T/claims.json"
check_json_in "$T/claims.json" "every claim" "d['typ']=='vigil-manifest' and d['version']=='1.0.0' and d['security_version']==3 and d['class']=='sensor' and d['artifact']=={'sha256':'$sha1','size':600000,'path':'/v1/artifacts/$sha1'} and d['exp']-d['iat']==30*86400 and d['kid']=='$kid'"
python3 - "$T/m.jws" "$T" <<'PY'
import base64, json, sys
h, p, s = open(sys.argv[1]).read().split('.')
dec = lambda x: json.loads(base64.urlsafe_b64decode(x + '=' * (-len(x) % 4)))
enc = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).decode().rstrip('=')
claims = dec(p); claims['security_version'] = 99
open(sys.argv[2] + '/payload.jws', 'w').write('.'.join([h, enc(claims), s]))
hdr = dec(h); hdr['typ'] = 'JWT'
open(sys.argv[2] + '/header.jws', 'w').write('.'.join([enc(hdr), p, s]))
PY
check_fails "a tampered payload fails jose jws ver" jose jws ver -i "$T/payload.jws" -k "$T/keys.json"
check_fails "a tampered header fails jose jws ver" jose jws ver -i "$T/header.jws" -k "$T/keys.json"

check "show (text)" "$VIGILCTL" release show 1
check_contains "prints the claims" "\"security_version\": 3" "$T/out"
check_contains "says the signature verifies" "signature: verifies with release key $kid" "$T/out"
check_contains "prints the JWS" "$(cut -c1-60 "$T/m.jws")" "$T/out"

export VIGIL_RELEASE_PASSPHRASE=s3cret
check "the same file again is reused" create --artifact "$T/fw1.bin" --version 1.0.1 --security-version 3 --json
check_json "reused" "d['artifact_reused'] is True and d['artifact_sha256']=='$sha1'"
check_eq "one artifact, three chunks" "1|3" "$(sql "SELECT count(*), (SELECT count(*) FROM artifact_chunks) FROM artifacts")"

base=$(rows)
check_exit 1 "an empty artifact" create --artifact "$T/empty.bin" --version 1.1.0 --security-version 4
check_contains "says it is empty" "is empty" "$T/err"
check_exit 1 "a missing artifact" create --artifact "$T/none.bin" --version 1.1.0 --security-version 4
check_contains "names it" "$T/none.bin" "$T/err"
check_exit 1 "a directory as artifact" create --artifact "$T" --version 1.1.0 --security-version 4
check_contains "says it is not a regular file" "not a regular file" "$T/err"
if [ "$(id -u)" -ne 0 ]; then
    cp "$T/fw2.bin" "$T/locked.bin"; chmod 000 "$T/locked.bin"
    check_exit 1 "an unreadable artifact" create --artifact "$T/locked.bin" --version 1.1.0 --security-version 4
    check_contains "says why" "Permission denied" "$T/err"
fi
check_exit 1 "a duplicate version" create --artifact "$T/fw2.bin" --version 1.0.0 --security-version 3
check_contains "names the release" "has a release 1.0.0 already" "$T/err"
check_exit 1 "a lower security version" create --artifact "$T/fw2.bin" --version 1.1.0 --security-version 2
check_contains "names the newest" "below 3, the newest of class sensor" "$T/err"
check_exit 2 "a bad version" create --artifact "$T/fw2.bin" --version "1 0" --security-version 4
check_exit 2 "a bad class" "$VIGILCTL" release create --class "a/b" --artifact "$T/fw2.bin" --version 1.1.0 --security-version 4
check_exit 2 "a negative security version" create --artifact "$T/fw2.bin" --version 1.1.0 --security-version -1
check_exit 2 "a security version over 2^53" create --artifact "$T/fw2.bin" --version 1.1.0 --security-version 9007199254740993
check_exit 2 "expires without a unit" create --artifact "$T/fw2.bin" --version 1.1.0 --security-version 4 --expires 30
check_exit 2 "no --artifact" create --version 1.1.0 --security-version 4
check_exit 3 "a passphrase variable that is not set" create --artifact "$T/fw2.bin" --version 1.1.0 --security-version 4 --passphrase-env NOPE_UNSET
VIGIL_RELEASE_PASSPHRASE=wrong run create --artifact "$T/fw2.bin" --version 1.1.0 --security-version 4
check_eq "a wrong passphrase: exit 3" "3" "$?"
check_contains "says so" "wrong passphrase" "$T/err"
VIGIL_RELEASE_PASSPHRASE= run create --artifact "$T/fw2.bin" --version 1.1.0 --security-version 4
check_eq "no passphrase for an encrypted key: exit 3" "3" "$?"
check_contains "says how to give it" "VIGIL_RELEASE_PASSPHRASE" "$T/err"
check_exit 3 "the key file missing" create --artifact "$T/fw2.bin" --version 1.1.0 --security-version 4 --release-dir "$T/elsewhere"
check_contains "names the file" "$T/elsewhere/$kid.key" "$T/err"
check_eq "every refusal left no row" "$base" "$(rows)"
check_eq "and no new artifact" "0" "$(sql "SELECT count(*) FROM artifacts WHERE sha256 <> '$sha1'")"

run sql "INSERT INTO releases (version, device_class, security_version, artifact_sha256, size, kid, manifest, issued_at, expires_at, created_by) SELECT '9.9.9', 'sensor', 1, artifact_sha256, size, kid, manifest, issued_at, expires_at, 'test' FROM releases WHERE id = 1"
check_contains "the trigger refuses a lower security version behind the CLI" "security version 1 is below 3" "$T/err"

pg_listen vigil_update "$VIGILCTL" release create --class sensor --artifact "$T/fw2.bin" --version 1.0.2 --security-version 3 >"$T/notify"
check_contains "a new release notifies vigil_update" "{\"kind\" : \"release\", \"id\" : $(sql "SELECT id FROM releases WHERE version = '1.0.2'")}" "$T/notify"
check "an equal security version is allowed" create --artifact "$T/fw2.bin" --version 1.1.0 --security-version 3
check "a higher one" create --artifact "$T/fw2.bin" --version 1.2.0 --security-version 4
check "another class may go lower" "$VIGILCTL" release create --class gateway --artifact "$T/fw2.bin" --version 1.2.0 --security-version 1
check_exit 1 "a version two classes have is ambiguous" "$VIGILCTL" release show 1.2.0
check_contains "names both classes" "gateway, sensor" "$T/err"
check "CLASS/VERSION names it" "$VIGILCTL" release show gateway/1.2.0 --json
check_json "the gateway release" "d['device_class']=='gateway' and d['security_version']==1"
check_exit 1 "an unknown release" "$VIGILCTL" release show sensor/7.7.7
check_contains "says so" "no release sensor/7.7.7" "$T/err"
check_contains "and where to look" "vigilctl release list" "$T/err"
check_exit 1 "revoke an unknown release" "$VIGILCTL" release revoke sensor/7.7.7
check_contains "says where to look" "vigilctl release list" "$T/err"

check "list" "$VIGILCTL" release list
check_contains "a header" "SECURITY_VERSION" "$T/out"
check_eq "one line per release" "7" "$(wc -l <"$T/out")"
check "list --class --json" "$VIGILCTL" release list --class sensor --json
check_json "newest first, one class" "[r['version'] for r in d]==['1.2.0','1.1.0','1.0.2','1.0.1','1.0.0']"

sql "INSERT INTO devices (id, device_class) VALUES ('dev-1', 'sensor')" >/dev/null
"$VIGILCTL" rollout start sensor/1.2.0 --percent 10 >/dev/null
pg_listen vigil_update "$VIGILCTL" release revoke sensor/1.2.0 --reason "'bricks devices'" --json >"$T/notify"
check_contains "revoking notifies the release" "{\"kind\" : \"release\", \"id\" : $(sql "SELECT id FROM releases WHERE device_class = 'sensor' AND version = '1.2.0'")}" "$T/notify"
check_contains "and the aborted rollout" '{"kind" : "rollout", "id" : 1}' "$T/notify"
check "show the revoked release" "$VIGILCTL" release show sensor/1.2.0 --json
check_json "the release is revoked" "d['state']=='revoked' and d['revoked_reason']=='bricks devices' and d['revoked_by'].startswith('os:')"
check_eq "its live rollout is aborted" "aborted" "$(sql "SELECT state FROM rollouts WHERE id = 1")"
check_eq "audited release.revoke, listing the rollout" "[1]|bricks devices" "$(sql "SELECT details->>'aborted_rollouts', details->>'reason' FROM audit_log WHERE action = 'release.revoke'")"
check_eq "and rollout.aborted with the reason" "release_revoked" "$(sql "SELECT details->'reason'->>'kind' FROM audit_log WHERE action = 'rollout.aborted'")"
check_exit 1 "revoked twice" "$VIGILCTL" release revoke sensor/1.2.0
check_contains "says when" "was revoked already" "$T/err"
check_exit 1 "a revoked release is not rolled out" "$VIGILCTL" rollout start sensor/1.2.0 --percent 10
check_contains "says it is revoked" "is revoked" "$T/err"
check "list shows it revoked" "$VIGILCTL" release list --class sensor --json
check_json "state revoked" "d[0]['state']=='revoked' and d[1]['state']=='active'"
check_exit 1 "a revoked release still counts for anti-rollback" create --artifact "$T/fw2.bin" --version 1.3.0 --security-version 3
check_contains "below the revoked one's" "below 4" "$T/err"

for c in create list show revoke; do
    check "release $c --help" "$VIGILCTL" release "$c" --help
    check_contains "release $c --help has usage" "Usage: vigilctl release $c" "$T/out"
done
finish
