#!/usr/bin/env bash
# The operator API's releases against a running vigild: GET /v1/releases
# (filters class and state, limit, truncated), GET /v1/releases/{release}
# by id, CLASS/VERSION and version (ambiguous: 400), POST
# /v1/releases/{release}/revoke (admin only: viewer and operator 403; the
# token in the audit row and in revoked_by; a second revocation 409; every
# body refusal a 400 naming the member before the database), and that
# revoking a release aborts its live rollout. No route creates a release.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/api_calls.sh"
. "$(dirname "$0")/release_calls.sh"
api_server
VIEWER=$(token viewer rel-viewer)
OPERATOR=$(token operator rel-operator)
ADMIN=$(token admin rel-admin)

release_key_init
gw_old=$(release_make gw 0.9.0 0 1s)
gw_new=$(release_make gw 1.0.0 1)
s_10=$(release_make sensor 1.0.0 1)
s_11=$(release_make sensor 1.1.0 2)
size_11=$(stat -c %s "$T/artifact-sensor-1.1.0.bin")
sha_11=$(sha256sum "$T/artifact-sensor-1.1.0.bin" | cut -d' ' -f1)
expired() { [ "$(sql "SELECT expires_at <= now() FROM releases WHERE id = $gw_old")" = t ]; }
for _ in $(seq 1 30); do expired && break; sleep 0.1; done
"$VIGILCTL" release key export >"$T/jwks.json"

# ---- reads ----
call "" GET /v1/releases
expect "no token: 401" 401 "d['error']=='unauthorized'"
call "$VIEWER" GET /v1/releases
expect "viewer lists every release, newest first, without manifests" 200 \
    "[r['id'] for r in d['items']]==[$s_11,$s_10,$gw_new,$gw_old] and d['truncated'] is False and all('manifest' not in r for r in d['items'])"
expect "a release's fields" 200 \
    "d['items'][0]['version']=='1.1.0' and d['items'][0]['device_class']=='sensor' and d['items'][0]['security_version']==2 and d['items'][0]['size']==$size_11 and d['items'][0]['artifact_sha256']=='$sha_11' and d['items'][0]['state']=='active' and d['items'][0]['revoked_at'] is None and d['items'][0]['issued_at'].endswith('Z')"
documented "a listed release is a Release as documented" Release list
call "$VIEWER" GET "/v1/releases?class=sensor"
expect "class filter" 200 "[r['id'] for r in d['items']]==[$s_11,$s_10]"
call "$VIEWER" GET "/v1/releases?state=expired"
expect "state filter: expired" 200 "[r['id'] for r in d['items']]==[$gw_old] and d['items'][0]['state']=='expired'"
call "$VIEWER" GET "/v1/releases?state=active&class=gw"
expect "both filters" 200 "[r['id'] for r in d['items']]==[$gw_new]"
call "$VIEWER" GET "/v1/releases?limit=1"
expect "limit: one, truncated" 200 "[r['id'] for r in d['items']]==[$s_11] and d['truncated'] is True"
call "$VIEWER" GET "/v1/releases?limit=3&state=active"
expect "limit after the state filter" 200 "[r['id'] for r in d['items']]==[$s_11,$s_10,$gw_new] and d['truncated'] is False"
call "$VIEWER" GET "/v1/releases?state=gone"
bad "unknown state: 400" state
call "$VIEWER" GET "/v1/releases?class=no%20class"
bad "class not a class: 400" class
call "$VIEWER" GET "/v1/releases?limit=0"
bad "limit 0: 400" limit
call "$VIEWER" GET "/v1/releases?colour=red"
bad "unknown parameter: 400" colour

call "$VIEWER" GET "/v1/releases/$s_10"
expect "show by id, with the manifest" 200 "d['id']==$s_10 and d['version']=='1.0.0' and d['manifest']=='$(sql "SELECT manifest FROM releases WHERE id = $s_10")'"
python3 -c "import json; print(json.load(open('$T/resp'))['manifest'], end='')" >"$T/manifest.jws"
check "the manifest shown verifies with the exported keys (jose jws ver)" jose jws ver -i "$T/manifest.jws" -k "$T/jwks.json" -O "$T/claims.json"
check_json_in "$T/claims.json" "  ... and states the release" "d['version']=='1.0.0' and d['class']=='sensor' and d['security_version']==1"
documented "a release shown is a ReleaseDetail as documented" ReleaseDetail
call "$VIEWER" GET "/v1/releases/sensor%2F1.1.0"
expect "show by CLASS/VERSION" 200 "d['id']==$s_11"
call "$VIEWER" GET "/v1/releases/0.9.0"
expect "show by a version one class has" 200 "d['id']==$gw_old and d['state']=='expired'"
call "$VIEWER" GET "/v1/releases/1.0.0"
expect "a version of two classes: 400 naming both" 400 "d['error']=='bad_request' and 'gw' in d['reason'] and 'sensor' in d['reason']"
call "$VIEWER" GET /v1/releases/999
expect "unknown id: 404" 404 "d['error']=='not_found' and '999' in d['reason']"
call "$VIEWER" GET /v1/releases/sensor%2F9.9
expect "unknown CLASS/VERSION: 404" 404 "d['error']=='not_found'"
call "$VIEWER" GET /v1/releases/%2F1.0
expect "not a reference: 404 naming it" 404 "d['parameter']=='release'"
call "$VIEWER" GET "/v1/releases/$s_10?x=1"
bad "show takes no parameter" x
post "$ADMIN" /v1/releases '{"version":"2.0"}'
expect "no route creates a release: 405" 405 "d['error']=='method_not_allowed'"

# ---- revoke ----
post "$VIEWER" "/v1/releases/$s_10/revoke" '{"reason":"bad"}'
expect "viewer cannot revoke: 403" 403 "d['error']=='forbidden'"
post "$OPERATOR" "/v1/releases/$s_10/revoke" '{"reason":"bad"}'
expect "operator cannot revoke: 403" 403 "d['error']=='forbidden' and 'admin' in d['reason']"
post "$ADMIN" "/v1/releases/$s_10/revoke" '{"reason":"bad","force":true}'
bad "unknown member: 400" force
post "$ADMIN" "/v1/releases/$s_10/revoke" '{"reason":7}'
bad "reason not text: 400" reason
post "$ADMIN" "/v1/releases/$s_10/revoke" '{"reason":""}'
bad "empty reason: 400" reason
post "$ADMIN" "/v1/releases/$s_10/revoke" "{\"reason\":\"$(printf 'x%.0s' $(seq 1 257))\"}"
bad "reason over 256 characters: 400" reason
post "$ADMIN" "/v1/releases/$s_10/revoke" '{"reason":"a\u0007b"}'
bad "control character: 400" reason
post "$ADMIN" "/v1/releases/$s_10/revoke" '["reason"]'
expect "body not an object: 400" 400 "d['error']=='bad_request'"
call "$ADMIN" POST "/v1/releases/$s_10/revoke" -H 'Content-Type: text/plain' -d 'reason'
expect "body not JSON: 415" 415 "d['error']=='unsupported_media_type'"
post "$ADMIN" /v1/releases/999/revoke
expect "unknown release: 404" 404 "d['error']=='not_found'"
post "$ADMIN" /v1/releases/1.0.0/revoke
expect "ambiguous version: 400" 400 "d['error']=='bad_request' and 'CLASS/1.0.0' in d['reason']"
check_eq "refusals wrote nothing" "0|0" "$(sql "SELECT (SELECT count(*) FROM audit_log WHERE action='release.revoke'), (SELECT count(*) FROM releases WHERE revoked_at IS NOT NULL)")"

post "$ADMIN" "/v1/releases/$s_10/revoke" '{"reason":"bricks devices with 2 MiB flash"}'
expect "admin revokes" 200 "d['id']==$s_10 and d['state']=='revoked' and d['revoked_by']=='token:rel-admin' and d['revoked_reason']=='bricks devices with 2 MiB flash' and d['revoked_at'].endswith('Z') and 'manifest' in d"
documented "the revocation answers a ReleaseDetail" ReleaseDetail
check_eq "audit row names the token" "1|rel-admin|token|$s_10" \
    "$(sql "SELECT count(*), min(actor), min(actor_kind), min(details->>'release_id') FROM audit_log WHERE action='release.revoke'")"
post "$ADMIN" "/v1/releases/$s_10/revoke"
expect "again: 409" 409 "d['error']=='conflict' and 'revoked already' in d['reason']"
call "$VIEWER" GET "/v1/releases?state=revoked"
expect "listed as revoked" 200 "[r['id'] for r in d['items']]==[$s_10]"
post "$ADMIN" "/v1/releases/gw%2F1.0.0/revoke"
expect "revoke by CLASS/VERSION, no body" 200 "d['id']==$gw_new and d['state']=='revoked' and d['revoked_reason'] is None"

# ---- revoking a release aborts its live rollout ----
post "$OPERATOR" /v1/rollouts "{\"release\":$s_11,\"percent\":10}"
expect "a rollout of sensor/1.1.0" 201 "d['state']=='running'"
rollout=$(python3 -c "import json; print(json.load(open('$T/resp'))['id'])")
post "$ADMIN" /v1/releases/sensor%2F1.1.0/revoke '{"reason":"regression"}'
expect "revoke the rolling release" 200 "d['state']=='revoked'"
call "$VIEWER" GET "/v1/rollouts/$rollout"
expect "its rollout is aborted" 200 "d['state']=='aborted'"
check_eq "aborted as the token, and said why" "rel-admin|release_revoked|$s_11" \
    "$(sql "SELECT actor, details->'reason'->>'kind', details->'reason'->>'release_id' FROM audit_log WHERE action='rollout.aborted'")"
check_eq "the revocation lists the rollout" "[$rollout]" \
    "$(sql "SELECT details->>'aborted_rollouts' FROM audit_log WHERE action='release.revoke' AND details->>'release_id'='$s_11'")"
post "$OPERATOR" /v1/rollouts "{\"release\":$s_11,\"percent\":10}"
expect "a revoked release does not roll out: 409" 409 "d['error']=='conflict' and 'revoked' in d['reason']"

# ---- a fleet with more than 10 000 releases: a state filter still finds the old ones ----
sql "INSERT INTO releases (version, device_class, security_version, artifact_sha256, size, kid, manifest,
                           issued_at, expires_at, created_by)
     SELECT 'b' || n, 'bulk' || (n % 100), 1, artifact_sha256, size, kid, manifest, now(),
            now() + interval '1 day', 'test'
       FROM releases, generate_series(1, 10001) n WHERE id = $s_10" >/dev/null
call "$VIEWER" GET "/v1/releases?state=revoked"
expect "the revoked releases under 10 001 newer ones" 200 "sorted(r['id'] for r in d['items'])==sorted([$s_10,$gw_new,$s_11]) and d['truncated'] is False"
call "$VIEWER" GET "/v1/releases?state=active&limit=2"
expect "a page of active ones, truncated" 200 "len(d['items'])==2 and d['truncated'] is True and all(r['state']=='active' for r in d['items'])"

check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
