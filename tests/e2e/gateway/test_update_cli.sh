#!/usr/bin/env bash
# The device port follows what the operator does with vigilctl, with no
# restart: `release key init`, `release create`, `rollout start --percent`
# (the devices offered are those sha256sum predicts), `rollout widen`
# (keeps them), `rollout pause`, `device tag` with `rollout start --group`,
# `release key rotate` (GET /v1/update/keys then carries the endorsement,
# which jose verifies with the old key, and a new release verifies with the
# new key), `release revoke` (no offer, no artifact). The manifest verifies
# with jose against `vigilctl release key export`, the pinned keys.
. "$(dirname "$0")/../../lib/harness.sh"
device_server
export VIGIL_RELEASE_DIR="$T/release"
for i in $(seq -w 1 12); do
    "$VIGILCTL" device create --id "c-$i" --class cam --out-dir "$D" >/dev/null 2>&1
done
head -c 400000 /dev/urandom >"$T/fw.bin"
upd() {  # upd ID: "200" or "204 REASON"
    local code
    code=$(dcurl "$D" "$1" -o "$T/body" -D "$T/h" -w '%{http_code}' "$U/v1/update") || return 1
    [ "$code" = 204 ] && code="204 $(tr -d '\r' <"$T/h" | sed -n 's/^x-vigil-reason: //Ip')"
    echo "$code"
}
await() {  # await ID WANT: within 5 s
    for _ in $(seq 1 50); do [ "$(upd "$1")" = "$2" ] && return 0; sleep 0.1; done
    echo "answer: $(upd "$1"), wanted $2" >&2
    return 1
}
bucket() { echo $((16#$(printf '%s:%s' "$1" "$2" | sha256sum | cut -c1-8) % 10000)); }
offered_set() {  # offered_set ROLLOUT BP: "want|got" over the devices
    local want="" got=""
    for i in $(seq -w 1 12); do
        [ "$(bucket "$1" "c-$i")" -lt "$2" ] && want+="c-$i "
        [ "$(upd "c-$i")" = 200 ] && got+="c-$i "
    done
    echo "$want|$got"
}

check "vigilctl release key init" "$VIGILCTL" release key init
check "vigilctl release create" "$VIGILCTL" release create --artifact "$T/fw.bin" --version 1.1.0 \
    --security-version 2 --class cam --json
check_json "  ... release 1" "d['id'] == 1 and d['version'] == '1.1.0'"
check "vigilctl rollout start --percent 40" "$VIGILCTL" rollout start 1.1.0 --percent 40 --json
ro=$(python3 -c "import json; print(json.load(open('$T/out'))['id'])")
first=$(seq -w 1 12 | while read -r i; do [ "$(bucket "$ro" "c-$i")" -lt 4000 ] && echo "c-$i" && break; done)
check "the rollout reaches the view" await "${first:-c-01}" "$([ -n "$first" ] && echo 200 || echo '204 not_selected')"
sets=$(offered_set "$ro" 4000)
echo "at 40 %: $sets" >&2
check_eq "at 40 %: the devices sha256sum predicts, and only those" "${sets%|*}" "${sets#*|}"
check "vigilctl rollout widen --percent 80" "$VIGILCTL" rollout widen "$ro" --percent 80
wide() {  # the offered set is the predicted one at 80 % (within 6 s)
    local sets
    for _ in $(seq 1 30); do
        sets=$(offered_set "$ro" 8000)
        [ "${sets%|*}" = "${sets#*|}" ] && return 0
        sleep 0.2
    done
    echo "at 80 %: $sets" >&2
    return 1
}
check "at 80 %: the devices sha256sum predicts (the 40 % ones among them)" wide
check "vigilctl release key export" "$VIGILCTL" release key export
cp "$T/out" "$T/pinned.json"
dcurl "$D" "$first" -o "$T/m.jws" "$U/v1/update"
check "the manifest verifies with jose against the exported (pinned) keys" \
    jose jws ver -i "$T/m.jws" -k "$T/pinned.json" -O "$T/claims.json"
check_json_in "$T/claims.json" "  ... claims of release 1.1.0 for cam" "d['version'] == '1.1.0' and d['class'] == 'cam' and d['security_version'] == 2"
check "GET /v1/update/keys" dcurl "$D" "$first" -o "$T/keys.json" "$U/v1/update/keys"
check_json_in "$T/keys.json" "  ... the same keys as the export" \
    "d['keys'] == json.load(open('$T/pinned.json'))['keys']"

check "vigilctl rollout pause" "$VIGILCTL" rollout pause "$ro"
check "  ... 204 paused" await "$first" "204 paused"
check "vigilctl rollout resume" "$VIGILCTL" rollout resume "$ro"
check "  ... 200 again" await "$first" 200

# a rotation: the served JWKS carries the endorsement by the pinned key
check "vigilctl release key rotate" "$VIGILCTL" release key rotate
check "vigilctl release create signed by the new key" "$VIGILCTL" release create --artifact "$T/fw.bin" \
    --version 1.2.0 --security-version 2 --class cam
check "vigilctl device tag c-01 lab" "$VIGILCTL" device tag c-01 lab
check "vigilctl rollout start --group lab --percent 100" "$VIGILCTL" rollout start 1.2.0 --percent 100 --group lab
check "the tagged device gets 1.2.0" await c-01 200
dcurl "$D" c-01 -o "$T/m2.jws" "$U/v1/update"
check "a device outside the group: not_selected" await c-02 "204 not_selected"
dcurl "$D" c-01 -o "$T/keys2.json" "$U/v1/update/keys"
check_json_in "$T/keys2.json" "GET /v1/update/keys: two keys, one endorsement" \
    "len(d['keys']) == 2 and len(d['endorsements']) == 1"
jq -r '.endorsements[0]' "$T/keys2.json" | tr -d '\n' >"$T/endorsement.jws"
check "the endorsement verifies with the pinned (old) key alone" \
    jose jws ver -i "$T/endorsement.jws" -k "$T/pinned.json" -O "$T/endorsed.json"
check_json_in "$T/endorsed.json" "  ... and lists the new key" \
    "d['typ'] == 'vigil-keys' and d['keys'][0]['kid'] == json.load(open('$T/keys2.json'))['keys'][1]['kid']"
check_fails "the new manifest does not verify with the old pinned key" \
    jose jws ver -i "$T/m2.jws" -k "$T/pinned.json"
check "  ... it does with the endorsed key" jose jws ver -i "$T/m2.jws" -k "$T/endorsed.json"
check "vigilctl device untag: the device leaves the group" "$VIGILCTL" device untag c-01 lab
check "  ... 204 not_selected" await c-01 "204 not_selected"

# a revoked release: no offer (its rollout is aborted), no artifact
sha=$(sha256sum "$T/fw.bin" | cut -c1-64)
"$VIGILCTL" device tag c-01 lab >/dev/null
check "tagged again: 200" await c-01 200
check "vigilctl release revoke 1.2.0" "$VIGILCTL" release revoke cam/1.2.0 --reason test
check "  ... no rollout any more (it was aborted)" await c-01 "204 no_rollout"
check "  ... the artifact is still served: release 1.1.0 has it too" \
    dcurl "$D" c-01 -o /dev/null -w '%{http_code}' "$U/v1/artifacts/$sha"
check_eq "  ... 200" 200 "$(cat "$T/out")"

check "SIGTERM: vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
