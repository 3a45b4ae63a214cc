# release_fixture.sh - sourced after harness.sh by the update tests: release
# keys, artifacts, signed manifests, releases and rollouts put into the
# database the way `vigilctl release ...` stores them (migration 0006),
# made with tools not written here: the `jose` CLI signs, psql inserts
# (every value passed as a psql variable, never spliced into SQL). It can
# also store what vigilctl never would: a manifest signed by an unknown
# key, a tampered payload, a chunk of the wrong length, so the tests can
# show what the server and a device do with them.
#
#   rf_key NAME                 an ES256 key ($RF/NAME.jwk, public half
#                               $RF/NAME.pub.jwk with kid, alg, use), stored
#                               as the active release key; prints its kid
#   rf_key_rotate OLD NEW       NEW becomes active, endorsed by OLD
#   rf_manifest KEY VERSION SV CLASS SHA SIZE IAT EXP [HEADER]
#                               a compact JWS of these claims, as
#                               protocol/manifest.c signs them
#   rf_artifact FILE [CHUNK]    stores FILE's chunks (COPY); prints its sha256
#   rf_release VERSION SV CLASS FILE [KEY] [EXP] [MANIFEST]
#                               stores artifact and release (EXP: Unix
#                               seconds, default a year on; MANIFEST:
#                               stored instead of a good one); prints its id
#   rf_rollout RELEASE_ID BASIS_POINTS [GROUP] [THRESHOLD MIN_REPORTS]
#                               starts a rollout, superseding the class's
#                               live one; prints its id
#   rf_move ROLLOUT_ID STATE    vigil_rollout_move (audited, notified)
#   rf_revoke RELEASE_ID        revokes a release (and notifies), leaving
#                               its rollout live
#   rf_wait_view LOG N          waits for vigild's N-th "update view loaded"
# shellcheck shell=bash

RF="$T/release-keys"
mkdir -p "$RF"
_rf_psql() { "$PSQL" "$VIGIL_DATABASE_URL" -X -Atq -v ON_ERROR_STOP=1 "$@"; }

rf_key() {
    local name=$1 kid
    jose jwk gen -i '{"alg":"ES256"}' -o "$RF/$name.jwk" || return 1
    kid=$(jose jwk thp -i "$RF/$name.jwk" -a S256) || return 1
    jq -c --arg kid "$kid" '{kty, crv, x, y, kid: $kid, alg: "ES256", use: "sig"}' \
        "$RF/$name.jwk" >"$RF/$name.pub.jwk"
    echo "$kid" >"$RF/$name.kid"
    _rf_psql -v kid="$kid" -v jwk="$(cat "$RF/$name.pub.jwk")" <<'SQL' >/dev/null || return 1
UPDATE release_keys SET active = false WHERE active;
INSERT INTO release_keys (kid, jwk, active, created_by) VALUES (:'kid', :'jwk'::jsonb, true, 'test');
SELECT vigil_update_notify('keys', 0);
SQL
    echo "$kid"
}

# _rf_sign KEY TYP PAYLOAD-FILE [HEADER-JSON]: a compact JWS
_rf_sign() {
    local key=$1 typ=$2 payload=$3 header=${4:-}
    [ -n "$header" ] || header=$(jq -nc --arg kid "$(cat "$RF/$key.kid")" --arg typ "$typ" \
        '{alg: "ES256", kid: $kid, typ: $typ}')
    jose jws sig -I "$payload" -k "$RF/$key.jwk" -s "{\"protected\":$header}" -c
}

rf_key_rotate() {
    local old=$1 new=$2 kid endorsement
    kid=$(rf_key "$new") || return 1
    jq -nc --slurpfile k "$RF/$new.pub.jwk" --argjson iat "$(date +%s)" \
        '{typ: "vigil-keys", keys: $k, iat: $iat}' | tr -d '\n' >"$RF/$new.endorsement.json"
    endorsement=$(_rf_sign "$old" vigil-keys "$RF/$new.endorsement.json") || return 1
    _rf_psql -v kid="$kid" -v e="$endorsement" -v by="$(cat "$RF/$old.kid")" <<'SQL' >/dev/null
UPDATE release_keys SET endorsement = :'e', endorsed_by = :'by' WHERE kid = :'kid';
SELECT vigil_update_notify('keys', 0);
SQL
    echo "$kid"
}

rf_manifest() {
    local key=$1 version=$2 sv=$3 class=$4 sha=$5 size=$6 iat=$7 exp=$8 header=${9:-}
    jq -nc --arg v "$version" --argjson sv "$sv" --arg c "$class" --arg sha "$sha" \
        --argjson size "$size" --argjson iat "$iat" --argjson exp "$exp" \
        --arg kid "$(cat "$RF/$key.kid")" \
        '{typ: "vigil-manifest", version: $v, security_version: $sv, class: $c,
          artifact: {sha256: $sha, size: $size, path: ("/v1/artifacts/" + $sha)},
          iat: $iat, exp: $exp, kid: $kid}' | tr -d '\n' >"$RF/payload.json"
    _rf_sign "$key" vigil-manifest "$RF/payload.json" "$header"
}

rf_artifact() {
    local file=$1 chunk=${2:-262144} sha size
    sha=$(sha256sum "$file" | cut -d' ' -f1)
    size=$(stat -c %s "$file")
    _rf_psql -v sha="$sha" -v size="$size" -v chunk="$chunk" >"$RF/stored" <<'SQL' || return 1
INSERT INTO artifacts (sha256, size, chunk_size) VALUES (:'sha', :size, :chunk)
ON CONFLICT DO NOTHING RETURNING 1;
SQL
    if [ -s "$RF/stored" ]; then
        python3 - "$file" "$sha" "$chunk" <<'PY' | _rf_psql -c "COPY artifact_chunks (sha256, idx, data) FROM STDIN" || return 1
import sys
path, sha, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = sys.stdout
with open(path, 'rb') as f:
    i = 0
    while True:
        b = f.read(chunk)
        if not b:
            break
        out.write('%s\t%d\t\\\\x%s\n' % (sha, i, b.hex()))
        i += 1
PY
    fi
    echo "$sha"
}

rf_release() {
    local version=$1 sv=$2 class=$3 file=$4 key=${5:-main} exp=${6:-$(($(date +%s) + 31536000))}
    local manifest=${7:-} sha size iat
    sha=$(rf_artifact "$file") || return 1
    size=$(stat -c %s "$file")
    iat=$(date +%s)
    [ "$exp" -gt "$iat" ] || iat=$((exp - 3600)) # an expired release was issued before
    [ -n "$manifest" ] || manifest=$(rf_manifest "$key" "$version" "$sv" "$class" "$sha" "$size" "$iat" "$exp") || return 1
    _rf_psql -v v="$version" -v sv="$sv" -v c="$class" -v sha="$sha" -v size="$size" \
        -v kid="$(cat "$RF/$key.kid")" -v m="$manifest" -v iat="$iat" -v exp="$exp" <<'SQL'
WITH r AS (
    INSERT INTO releases (version, device_class, security_version, artifact_sha256, size, kid,
                          manifest, issued_at, expires_at, created_by)
    VALUES (:'v', :'c', :sv, :'sha', :size, :'kid', :'m', to_timestamp(:iat), to_timestamp(:exp),
            'test')
    RETURNING id)
SELECT id FROM r, LATERAL (SELECT vigil_update_notify('release', r.id)) n;
SQL
}

rf_rollout() {
    local release=$1 bp=$2 group=${3:-} threshold=${4:-0.1} min_reports=${5:-5}
    _rf_psql -v rel="$release" -v bp="$bp" -v g="$group" -v th="$threshold" -v mr="$min_reports" <<'SQL'
SELECT count(vigil_rollout_move(o.id, 'superseded', 'os', 'test'))
  FROM rollouts o JOIN releases r ON r.device_class = o.device_class
 WHERE r.id = :rel AND o.state IN ('running', 'paused', 'halted') \gset old_
WITH o AS (
    INSERT INTO rollouts (release_id, device_class, group_tag, basis_points, error_threshold,
                          min_reports, created_by)
    SELECT id, device_class, nullif(:'g', ''), :bp, :th, :mr, 'test' FROM releases WHERE id = :rel
    RETURNING id)
SELECT id FROM o, LATERAL (SELECT vigil_update_notify('rollout', o.id)) n;
SQL
}

rf_move() {
    echo "SELECT vigil_rollout_move(:id, :'st', 'os', 'test')" |
        _rf_psql -v id="$1" -v st="$2" >/dev/null
}

rf_revoke() {
    _rf_psql -v id="$1" <<'SQL' >/dev/null
UPDATE releases SET revoked_at = now(), revoked_by = 'test', revoked_reason = 'test' WHERE id = :id;
SELECT vigil_update_notify('release', :id);
SQL
}

# rf_wait_view LOG N: vigild has loaded its update view N times (5 s).
rf_wait_view() {
    for _ in $(seq 1 50); do
        [ "$(grep -c '"update view loaded"' "$1" 2>/dev/null)" -ge "$2" ] && return 0
        sleep 0.1
    done
    echo "the update view was loaded $(grep -c '"update view loaded"' "$1") times, not $2" >&2
    return 1
}
