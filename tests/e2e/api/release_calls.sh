# release_calls.sh - sourced by the operator API's release and rollout
# tests (after harness.sh and setup_ca): releases to read, revoke and roll
# out. The API never creates a release: vigilctl does, with the release
# key, as an operator would.
# shellcheck shell=bash

export VIGIL_RELEASE_DIR="$T/release-keys"

# release_key_init: the first release key (vigilctl release key init).
release_key_init() {
    "$VIGILCTL" release key init >"$T/key.out" 2>&1 || { cat "$T/key.out" >&2; exit 1; }
}

# release_make CLASS VERSION SECURITY_VERSION [EXPIRES]: vigilctl release
# create of an artifact of its own (EXPIRES a duration, vigilctl's default
# when absent); prints the release's id.
release_make() {
    local cls=$1 ver=$2 sv=$3 art="$T/artifact-$1-$2.bin"
    printf 'firmware %s for %s\n' "$ver" "$cls" >"$art"
    "$VIGILCTL" release create --artifact "$art" --version "$ver" --security-version "$sv" \
        --class "$cls" ${4:+--expires "$4"} --json >"$T/create.json" 2>"$T/create.err" ||
        { cat "$T/create.err" >&2; exit 1; }
    python3 -c "import json; print(json.load(open('$T/create.json'))['id'])"
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
