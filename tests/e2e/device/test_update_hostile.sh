#!/usr/bin/env bash
# vigil-device update against a hostile server (evil_server.py: a man in
# the middle holding a server certificate the device trusts, replaying
# manifests the fleet owner signed): a manifest answer of 1 TiB, of
# 100 KB, or endless without a Content-Length; an artifact answer longer
# than the manifest says, one with an endless tail, wrong bytes, a
# Content-Range that does not answer the Range; a JWKS of 1 MiB of
# endorsements none of which a pinned key signed, one of 2 MiB; a head
# sent one byte a second. Each ends in bounded time (45 s) with its exit code,
# installs nothing it should not, keeps the floor, and writes nothing
# outside the device's state directory.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../../lib/release_fixture.sh"
pg_start
setup_ca
D="$T/dev"
"$VIGILCTL" device create --id e-1 --class sensor --out-dir "$D" >/dev/null 2>&1
rf_key main >/dev/null
rf_key stranger >/dev/null
jq -c '{keys: [.]}' "$RF/main.pub.jwk" >"$T/pinned.json"
head -c 200000 /dev/urandom >"$T/fw.bin"
SHA=$(sha256sum "$T/fw.bin" | cut -c1-64)
NOW=$(date +%s)
rf_manifest main 2.0.0 3 sensor "$SHA" 200000 "$NOW" $((NOW + 86400)) | tr -d '\n' >"$T/good.jws"
rf_manifest stranger 2.0.0 3 sensor "$SHA" 200000 "$NOW" $((NOW + 86400)) | tr -d '\n' >"$T/stranger.jws"
head -c 200000 /dev/urandom >"$T/wrong.bin"

eport=$(free_port)
echo '[]' >"$T/plan.json"
python3 "$REPO/tests/e2e/device/evil_server.py" "$eport" "$T/tls/server.crt" "$T/tls/server.key" \
    "$T/chain.pem" "$T/plan.json" "$T/requests.log" >"$T/evil.out" 2>&1 &
evil=$!
at_exit "kill $evil"
for _ in $(seq 1 50); do grep -q listening "$T/evil.out" && break; sleep 0.1; done

# plan JSON: what the server answers from now on
plan() { echo "$1" >"$T/plan.json"; }
MANIFEST="{\"path\": \"/v1/update/keys\", \"status\": 404, \"body\": \"\"},
 {\"path\": \"/v1/update/status\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/json\"}, \"body\": \"{}\"},
 {\"path\": \"/v1/update\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/jose\"}, \"body_file\": \"$T/good.jws\"}"
ART="{\"path\": \"/v1/artifacts/\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/octet-stream\"}"
# upd NAME: vigil-device update with a state directory of its own, at most 60 s; its JSON in $T/out
upd() {
    local name=$1
    timeout 60 "$VIGIL_DEVICE" update --server "127.0.0.1:$eport" --cert "$D/e-1.crt" --key "$D/e-1.key" \
        --ca "$T/chain.pem" --keys "$T/pinned.json" --state-dir "$T/st-$name" --class sensor --json
}
# hostile NAME CODE PLAN: the device exits CODE within 45 s (its JSON in
# $T/device.json); nothing installed
hostile() {
    local name=$1 code=$2 start
    plan "$3"
    start=$SECONDS
    check_exit "$code" "$name: exit $code" upd "$name"
    cp "$T/out" "$T/device.json"
    check "  ... within 45 s ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 45
    check "  ... nothing installed" test ! -e "$T/st-$name/install/firmware.bin"
    check "  ... the state directory holds less than 1 MiB" test "$(du -sk "$T/st-$name" | cut -f1)" -lt 1024
}
touch "$T/marker"

plan "[$MANIFEST, $ART, \"body_file\": \"$T/fw.bin\"}]"
check "the evil server works: a good update installs" upd good
check_json "  ... installed 2.0.0" "d['result'] == 'installed' and d['version'] == '2.0.0'"

hostile "a manifest answer of 1 TiB" 75 \
    "[{\"path\": \"/v1/update\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/jose\"}, \"body\": \"\", \"length\": 1099511627776}]"
hostile "a manifest of 100 KB" 4 \
    "[{\"path\": \"/v1/update\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/jose\"}, \"body\": \"$(printf 'A%.0s' $(seq 1 100000))\"}]"
hostile "a manifest answer without a Content-Length, endless" 18 \
    "[{\"path\": \"/v1/update\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/jose\"}, \"length\": null, \"extra\": \"endless\"}]"
hostile "an artifact answer of 1 TiB" 16 "[$MANIFEST, $ART, \"body\": \"\", \"length\": 1099511627776}]"
check_json_in "$T/device.json" "  ... size_mismatch, before any byte is stored" "d['reason'] == 'size_mismatch'"
hostile "the artifact's bytes but not those signed" 15 "[$MANIFEST, $ART, \"body_file\": \"$T/wrong.bin\"}]"
check "  ... the part is deleted" test ! -e "$T/st-the/artifact.part"
hostile "a 206 whose Content-Range does not answer the request" 4 \
    "[$MANIFEST, {\"path\": \"/v1/artifacts/\", \"status\": 206, \"headers\": {\"Content-Range\": \"bytes 5-199999/200000\"}, \"body_file\": \"$T/wrong.bin\", \"length\": 199995}]"
plan "[$MANIFEST, $ART, \"body_file\": \"$T/fw.bin\", \"extra\": \"endless\"}]"
start=$SECONDS
check "the artifact with an endless tail: the signed bytes are installed, the tail is not read" upd tail
check "  ... within 45 s" test $((SECONDS - start)) -le 45
check "  ... the image is the artifact" cmp "$T/fw.bin" "$T/st-tail/install/firmware.bin"

# keys: a manifest by a key not pinned makes the device ask for the JWKS
python3 - "$T/stranger.jws" "$T/junk-keys.json" "$(cat "$RF/main.kid")" <<'PY'
import base64, json, os, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
h, p, s = open(sys.argv[1]).read().split(".")
# endorsements that name the pinned key but that it never signed (each
# costs a signature check), repeated to nearly 1 MiB
hdr = b64(json.dumps({"alg": "ES256", "kid": sys.argv[3], "typ": "vigil-keys"}).encode())
body = b64(json.dumps({"typ": "vigil-keys", "keys": [], "iat": 1}).encode())
junk = [hdr + "." + body + "." + b64(os.urandom(64)) for _ in range(3000)]
n = (1000 * 1000) // (len(junk[0]) + 3)
json.dump({"keys": [], "endorsements": junk[:n]}, open(sys.argv[2], "w"))
PY
STRANGER="{\"path\": \"/v1/update/status\", \"status\": 200, \"body\": \"{}\"},
 {\"path\": \"/v1/update/keys\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/jwk-set+json\"}, \"body_file\": \"$T/junk-keys.json\"},
 {\"path\": \"/v1/update\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/jose\"}, \"body_file\": \"$T/stranger.jws\"}"
cp "$T/pinned.json" "$T/pinned.orig"
hostile "a manifest by a stranger's key and 1 MiB of endorsements that name the pinned key, forged" 11 "[$STRANGER]"
check "  ... the pinned keys are unchanged" cmp "$T/pinned.json" "$T/pinned.orig"
hostile "a JWKS answer of 2 MiB" 75 \
    "[{\"path\": \"/v1/update/keys\", \"status\": 200, \"body\": \"\", \"length\": 2097152}, {\"path\": \"/v1/update\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/jose\"}, \"body_file\": \"$T/stranger.jws\"}]"
check "  ... the pinned keys are unchanged" cmp "$T/pinned.json" "$T/pinned.orig"

hostile "a head sent one byte a second" 75 \
    "[{\"path\": \"/v1/update\", \"status\": 200, \"headers\": {\"Content-Type\": \"application/jose\", \"X-Pad\": \"$(printf 'p%.0s' $(seq 1 120))\"}, \"body_file\": \"$T/good.jws\", \"trickle\": 1}]"

check_eq "nothing written outside the state directories" "" \
    "$(find "$T" -newer "$T/marker" -type f ! -path "$T/st-*" ! -name requests.log ! -name plan.json \
        ! -name out ! -name err ! -name last.json ! -name device.json ! -name junk-keys.json ! -name pinned.orig | sort)"
finish
