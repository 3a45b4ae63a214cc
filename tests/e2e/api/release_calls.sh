# release_calls.sh - sourced by the operator API's release and rollout
# tests (after harness.sh and setup_ca): releases to read, revoke and roll
# out. The API never creates a release (vigilctl does, with the release
# key), so the tests make theirs with vigilctl, or with SQL for what
# vigilctl refuses to make (an expired release).
# shellcheck shell=bash

RELEASE_DIR="$T/release-keys"

# release_key_sql: an inactive release key row (a public JWK of no use for
# verifying: the API never verifies) for SQL-made releases; after
# `vigilctl release key init`, which wants no key before its first.
release_key_sql() {
    sql "INSERT INTO release_keys (kid, jwk, active, created_by)
         VALUES (repeat('K', 43), '{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}', false, 'test')
         ON CONFLICT DO NOTHING"
}

# release_sql CLASS VERSION SECURITY_VERSION [EXPIRES]: a release row made
# with SQL (EXPIRES an SQL time, a year ahead by default); prints its id.
release_sql() {
    local cls=$1 ver=$2 sv=$3 exp=${4:-"now() + interval '365 days'"}
    sql "INSERT INTO artifacts (sha256, size, chunk_size) VALUES (repeat('a', 64), 100, 4096)
         ON CONFLICT DO NOTHING" >/dev/null
    sql "INSERT INTO releases (version, device_class, security_version, artifact_sha256, size, kid,
                               manifest, issued_at, expires_at, created_by)
         VALUES ('$ver', '$cls', $sv, repeat('a', 64), 100, repeat('K', 43), 'eyJ.eyJ.sig',
                 least(now(), $exp) - interval '1 day', $exp, 'os:test') RETURNING id" | head -n 1
}

# documented NAME SCHEMA [list]: the last answer has exactly the members
# that docs/openapi.json's components.schemas.SCHEMA lists (with list: so
# has every item of its "items").
documented() {
    cp "$T/resp" "$T/shape.json"
    run python3 - "$REPO/docs/openapi.json" "$2" "${3:-}" "$T/shape.json" <<'PY'
import json, sys
doc, name, is_list, answer = sys.argv[1:]
want = set(json.load(open(doc, encoding="utf-8"))["components"]["schemas"][name]["properties"])
d = json.load(open(answer))
for obj in (d["items"] if is_list else [d]):
    if set(obj) != want:
        sys.exit(f"undocumented: {sorted(set(obj) - want)}; missing: {sorted(want - set(obj))}")
PY
    _report $? "$1"
}
