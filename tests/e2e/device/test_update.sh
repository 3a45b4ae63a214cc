#!/usr/bin/env bash
# vigil-device update against vigild's update paths: a good update end to
# end (manifest verified against the pinned keys, download, install, the
# status rows, the device's firmware version follows); a download cut in
# the middle (and a kill -9 at the cut) resumes with Range on a second
# vigild and ends with the right digest; a crash between download and
# install; an injected install failure; two key rotations learned through
# the endorsements (a chain); and one test per refusal on the device: bad
# signature, unknown key id, expired, wrong class, lower security version,
# digest mismatch, size mismatch (and a manifest that is not one). Each
# refusal exits with its own code, installs nothing, keeps the stored
# security version and is reported failed (rollout_devices and an
# update_failure incident). Last, vigil-device run checks on its interval.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
port2=$(free_port)
# main has no chunk cache (artifact-cache-bytes 0), so that the refusals
# below that damage the stored artifact reach the device (a cached good copy
# would hide the damage); second caches, as by default
vigild_start main "$port" VIGIL_ARTIFACT_CACHE_BYTES=0
vigild_start second "$port2"
export VIGIL_RELEASE_DIR="$T/release-keys"
D="$T/d"
"$VIGILCTL" release key init >/dev/null 2>&1 || { echo "release key init failed" >&2; exit 1; }
"$VIGILCTL" release key export >"$T/keys.json"

# $UPD ID [ARGS...]: vigil-device update as device ID (pinned keys, state
# and install directory of its own) against the first vigild (UPD_PORT:
# another); a script, so that env and timeout can run it
UPD="$T/upd"
cat >"$UPD" <<SCRIPT
#!/usr/bin/env bash
id=\$1; shift
[ -e "$T/keys-\$id.json" ] || cp "$T/keys.json" "$T/keys-\$id.json"
exec "$VIGIL_DEVICE" update --server "127.0.0.1:\${UPD_PORT:-$port}" --cert "$D/\$id.crt" \\
    --key "$D/\$id.key" --ca "$T/chain.pem" --keys "$T/keys-\$id.json" --state-dir "$T/st-\$id" \\
    --json "\$@"
SCRIPT
chmod +x "$UPD"
enroll() { "$VIGILCTL" device create --id "$1" --class sensor --out-dir "$D" >/dev/null 2>&1; }
sv_of() { python3 -c "import json;print(json.load(open('$T/st-$1/state.json'))['security_version'])" 2>/dev/null || echo 0; }
rstate() { sql "SELECT state || '|' || coalesce(reason, '') FROM rollout_devices WHERE device_id = '$1' ORDER BY rollout_id DESC LIMIT 1"; }
incidents() { sql "SELECT count(*) FROM incidents WHERE device_id = '$1' AND type = 'update_failure'"; }
# refused ID CODE REASON [ENV...]: a refusal's checks (exit code, nothing
# installed, the security version kept, reported failed with REASON)
refused() {
    local id=$1 code=$2 reason=$3; shift 3
    local sv_before
    sv_before=$(sv_of "$id")
    check_exit "$code" "$reason: exit $code" env "$@" "$UPD" "$id" --class "${REFUSE_CLASS:-sensor}"
    check_json "$reason: the summary says refused, $reason" "d['result'] == 'refused' and d['reason'] == '$reason'"
    check "$reason: nothing installed" test ! -e "$T/st-$id/install/firmware.bin"
    check_eq "$reason: the stored security version is kept" "$sv_before" "$(sv_of "$id")"
    check_eq "$reason: reported failed" "failed|$reason" "$(rstate "$id" | cut -d: -f1)"
    check_eq "$reason: one update_failure incident" "1" "$(incidents "$id")"
}

# ---- a release, a rollout to every sensor ----
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$T/fw1.bin"
sha1=$(sha256sum "$T/fw1.bin" | cut -c1-64)
size1=$(stat -c %s "$T/fw1.bin")
check "release 1.0.0" "$VIGILCTL" release create --artifact "$T/fw1.bin" --version 1.0.0 \
    --security-version 1 --class sensor
check "rollout of 1.0.0 to every sensor (failures never halt it here)" "$VIGILCTL" rollout start \
    1.0.0 --percent 100 --error-threshold 1
sleep 0.5
for id in dev-a dev-b dev-c dev-d; do enroll "$id"; done

# ---- a good update ----
check "dev-a: update" "$UPD" dev-a --class sensor
check_json "installed 1.0.0, security version 1, from byte 0" \
    "d['result'] == 'installed' and d['version'] == '1.0.0' and d['security_version'] == 1 and d['resumed_from'] == 0 and d['fetched'] == $size1 and d['reported']"
check "the installed image is the artifact" cmp "$T/fw1.bin" "$T/st-dev-a/install/firmware.bin"
check_json_in "$T/st-dev-a/state.json" "the state stores version, security version and class" \
    "d == {'class': 'sensor', 'version': '1.0.0', 'security_version': 1}"
check_eq "rollout_devices: installed" "installed|" "$(rstate dev-a)"
check_eq "the device's firmware version follows" "1.0.0" \
    "$(sql "SELECT firmware_version FROM devices WHERE id = 'dev-a'")"
check_eq "no status report left unsent" "0" "$(ls "$T/st-dev-a/status/"*.json 2>/dev/null | wc -l)"
check "dev-a: again" "$UPD" dev-a
check_json "nothing to do: up_to_date (the class is stored)" "d['result'] == 'none' and d['reason'] == 'up_to_date'"
check_exit 2 "dev-a: another --class is refused" "$UPD" dev-a --class camera
check_contains "it says why" "a class never changes" "$T/err"

# ---- a download cut in the middle resumes with Range, on a second vigild ----
check_exit 75 "dev-b: the link cut after 1 MB: exit 75 (retry later)" \
    env VIGIL_DEVICE_CUT_AFTER=1000000 "$UPD" dev-b --class sensor
check_json "the summary says retry, network" "d['result'] == 'retry' and d['reason'] == 'network' and d['fetched'] == 1000000"
check_eq "1 MB kept in the part" "1000000" "$(stat -c %s "$T/st-dev-b/artifact.part")"
check_eq "rollout_devices: downloading" "downloading|" "$(rstate dev-b)"
VIGIL_DEVICE_CUT_AFTER=500000 VIGIL_DEVICE_CRASH_AT=download-cut "$UPD" dev-b >"$T/out" 2>"$T/err"
check_eq "dev-b: killed -9 at the next cut (exit 137)" "137" "$?"
check_eq "1.5 MB kept in the part" "1500000" "$(stat -c %s "$T/st-dev-b/artifact.part")"
check "dev-b: the rerun, on the second vigild" env UPD_PORT="$port2" "$UPD" dev-b
check_contains "it said so" "resuming the download at byte 1500000" "$T/err"
check_json "resumed at byte 1500000 and installed" \
    "d['result'] == 'installed' and d['resumed_from'] == 1500000 and d['fetched'] == $size1 - 1500000 and not d['restarted']"
check_eq "the right digest" "$sha1" "$(sha256sum "$T/st-dev-b/install/firmware.bin" | cut -c1-64)"
check_eq "no part left" "" "$(ls "$T/st-dev-b"/artifact.part* 2>/dev/null)"

# ---- a crash between download and install ----
VIGIL_DEVICE_CRASH_AT=after-download "$UPD" dev-c --class sensor >"$T/out" 2>"$T/err"
check_eq "dev-c: killed after the download (exit 137)" "137" "$?"
check "nothing installed" test ! -e "$T/st-dev-c/install/firmware.bin"
check_eq "no version stored" "none" "$(python3 -c "import json;print(json.load(open('$T/st-dev-c/state.json')).get('version','none'))")"
check "dev-c: the rerun installs from the verified part" "$UPD" dev-c
check_json "without fetching again" "d['result'] == 'installed' and d['fetched'] == 0 and d['resumed_from'] == $size1"
check "the image is the artifact" cmp "$T/fw1.bin" "$T/st-dev-c/install/firmware.bin"

# ---- an install failure is reported; the part is kept for the next try ----
REFUSE_CLASS=sensor refused dev-d 17 install_failed VIGIL_DEVICE_INSTALL_FAIL="flash write error"
check_eq "the reason is the install's" "failed|install_failed: flash write error" "$(rstate dev-d)"
check "dev-d: installs on the next try" "$UPD" dev-d
check_json "from the kept part" "d['result'] == 'installed' and d['fetched'] == 0"
check_eq "rollout_devices: installed after the failure" "installed|" "$(rstate dev-d)"

# ---- two key rotations, learned through the chain of endorsements ----
check "release key rotate" "$VIGILCTL" release key rotate
check "release key rotate again" "$VIGILCTL" release key rotate
head -c 300000 /dev/urandom >"$T/fw2.bin"
sha2=$(sha256sum "$T/fw2.bin" | cut -c1-64)
check "release 1.1.0, signed by the third key" "$VIGILCTL" release create --artifact "$T/fw2.bin" \
    --version 1.1.0 --security-version 2 --class sensor
check "rollout of 1.1.0" "$VIGILCTL" rollout start 1.1.0 --percent 100 --error-threshold 1
sleep 0.5
check_eq "dev-a pins only the first key" "1" "$(python3 -c "import json;print(len(json.load(open('$T/keys-dev-a.json'))['keys']))")"
check "dev-a: update" "$UPD" dev-a
check_json "learned two keys and installed 1.1.0" \
    "d['result'] == 'installed' and d['version'] == '1.1.0' and d['learned_keys'] == 2"
kids() { python3 -c "import json,sys;print(sorted(k['kid'] for k in json.load(sys.stdin)['keys']))"; }
check_eq "the pinned file now has the three keys the server exports" \
    "$("$VIGILCTL" release key export | kids)" "$(kids <"$T/keys-dev-a.json")"
check "and no private key" bash -c "! grep -q '\"d\"' '$T/keys-dev-a.json'"
check_eq "security version 2 stored" "2" "$(sv_of dev-a)"
check_eq "firmware version 1.1.0" "1.1.0" "$(sql "SELECT firmware_version FROM devices WHERE id = 'dev-a'")"

# ---- every refusal on the device, against release 1.1.0 ----
rel=$(sql "SELECT id FROM releases WHERE version = '1.1.0'")
notify() { sql "SELECT vigil_update_notify('release', $rel)" >/dev/null; sleep 0.5; }
for id in dev-sig dev-unk dev-exp dev-cls dev-rb dev-dig dev-size; do enroll "$id"; done

# bad signature: the stored manifest's signature changed in the database
good=$(sql "SELECT manifest FROM releases WHERE id = $rel")
bad=$(python3 -c "import sys; h,p,s=sys.argv[1].split('.'); i=len(s)//2; s=s[:i]+('A' if s[i]!='A' else 'B')+s[i+1:]; print('.'.join([h,p,s]))" "$good")
sql "UPDATE releases SET manifest = '$bad' WHERE id = $rel" >/dev/null
notify
refused dev-sig 10 bad_signature
sql "UPDATE releases SET manifest = '$good' WHERE id = $rel" >/dev/null
notify

# unknown key id: a device pinned to another key set
jose jwk gen -i '{"alg":"ES256"}' -o "$T/other.jwk"
python3 - "$T/other.jwk" "$(jose jwk thp -i "$T/other.jwk")" >"$T/keys-dev-unk.json" <<'EOF'
import json, sys
k = json.load(open(sys.argv[1]))
k.pop("d", None); k.pop("key_ops", None); k["kid"] = sys.argv[2]
print(json.dumps({"keys": [k]}))
EOF
cp "$T/keys-dev-unk.json" "$T/keys-dev-unk.orig"
refused dev-unk 11 unknown_key
check "unknown_key: the pinned file is unchanged (no endorsement chains to it)" \
    cmp "$T/keys-dev-unk.json" "$T/keys-dev-unk.orig"

# expired: the device's clock is 200 days ahead (the manifest is good for 90)
refused dev-exp 12 expired VIGIL_DEVICE_TEST_CLOCK_SKEW=$((200 * 86400))

# wrong class: a sensor whose own class says camera
REFUSE_CLASS=camera refused dev-cls 13 wrong_class

# lower security version: a device that stored 5 (as after installing a
# release of security version 5) claims 0, so the server offers 1.1.0 (2)
mkdir -p "$T/st-dev-rb"
echo '{"class":"sensor","version":"0.9.0","security_version":5}' >"$T/st-dev-rb/state.json"
check "dev-rb: saying its real security version, nothing is offered" "$UPD" dev-rb
check_json "the server says security_version" "d['result'] == 'none' and d['reason'] == 'security_version'"
refused dev-rb 14 rollback VIGIL_DEVICE_TEST_CLAIM_SECURITY_VERSION=0
check_eq "rollback: still 5" "5" "$(sv_of dev-rb)"

# digest mismatch: one byte of the stored artifact flipped
sql "UPDATE artifact_chunks SET data = set_byte(data, 1000, (get_byte(data, 1000) + 1) % 256) WHERE sha256 = '$sha2' AND idx = 0" >/dev/null
notify
refused dev-dig 15 digest_mismatch
check_eq "digest_mismatch: the bad part is not kept" "" "$(ls "$T/st-dev-dig"/artifact.part* 2>/dev/null)"
sql "UPDATE artifact_chunks SET data = set_byte(data, 1000, (get_byte(data, 1000) + 255) % 256) WHERE sha256 = '$sha2' AND idx = 0" >/dev/null

# size mismatch: the artifact's last chunk gone, its size told accordingly
sql "CREATE TABLE saved_chunk AS SELECT * FROM artifact_chunks WHERE sha256 = '$sha2' AND idx = 1;
     DELETE FROM artifact_chunks WHERE sha256 = '$sha2' AND idx = 1;
     UPDATE artifacts SET size = 262144 WHERE sha256 = '$sha2';
     UPDATE releases SET size = 262144 WHERE id = $rel" >/dev/null
notify
refused dev-size 16 size_mismatch
sql "INSERT INTO artifact_chunks SELECT * FROM saved_chunk;
     UPDATE artifacts SET size = 300000 WHERE sha256 = '$sha2';
     UPDATE releases SET size = 300000 WHERE id = $rel" >/dev/null
notify
check "with the artifact restored, dev-size installs" "$UPD" dev-size
check_eq "the right digest" "$sha2" "$(sha256sum "$T/st-dev-size/install/firmware.bin" | cut -c1-64)"

# not a manifest: the protected header says alg none (the payload is intact)
enroll dev-mal
none=$(printf '{"alg":"none","typ":"vigil-manifest"}' | base64 -w0 | tr '+/' '-_' | tr -d '=')
sql "UPDATE releases SET manifest = '$none.' || split_part(manifest, '.', 2) || '.' || split_part(manifest, '.', 3) WHERE id = $rel" >/dev/null
notify
refused dev-mal 18 malformed
sql "UPDATE releases SET manifest = '$good' WHERE id = $rel" >/dev/null
notify

# vigil-device run checks every --update-interval, ±20 %
enroll dev-run
cp "$T/keys.json" "$T/keys-dev-run.json"
check_exit 5 "run: stops at --max-time with nothing queued (exit 5)" "$VIGIL_DEVICE" run \
    --server "127.0.0.1:$port" --cert "$D/dev-run.crt" --key "$D/dev-run.key" --ca "$T/chain.pem" \
    --queue-dir "$T/q-run" --keys "$T/keys-dev-run.json" --state-dir "$T/st-dev-run" --class sensor \
    --update-interval 2s --max-time 7s --json
cp "$T/err" "$T/run.log"
check_contains "run: installed 1.1.0" "update result=installed reason=installed version=1.1.0" "$T/run.log"
check_contains "run: then up to date" "update result=none reason=up_to_date" "$T/run.log"
check_json "run: its summary counts one update" "d['updates'] == 1 and d['stopped'] == 'max-time'"
check "run: each next check 1.6 to 2.4 s away" python3 -c "
import re, sys
waits = [int(w) for w in re.findall(r'update next in=(\d+)ms', open('$T/run.log').read())]
sys.exit(0 if len(waits) >= 2 and all(1600 <= w <= 2400 for w in waits) else 1)"
check "run: the image is the artifact" cmp "$T/fw2.bin" "$T/st-dev-run/install/firmware.bin"

check "vigild exits 0" vigild_stop main
check "the second vigild exits 0" vigild_stop second
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log' '$T/second.log'"
finish
