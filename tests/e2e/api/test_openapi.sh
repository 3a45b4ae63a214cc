#!/usr/bin/env bash
# The OpenAPI document (docs/openapi.json) against a linter not written here
# and against the server: it passes `redocly lint` with the recommended
# ruleset (tests/e2e/api/redocly.yaml), every operation it documents is
# served by vigild, and every route vigild serves is documented.
#
# The linter comes from the npm registry and is installed once into
# build/node (reused while its version matches). If npm cannot reach the
# registry the lint checks fail: they are never skipped.
. "$(dirname "$0")/../../lib/harness.sh"
HERE="$REPO/tests/e2e/api"
DOC="$REPO/docs/openapi.json"

# ---- the document alone ----------------------------------------------------

check "docs/openapi.json is valid JSON" python3 -m json.tool "$DOC"
# Pretty-printed with 2-space indentation and nothing else, so diffs stay
# readable (json.dumps keeps the document's key order).
check "docs/openapi.json is pretty-printed with 2-space indentation" python3 -c '
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
sys.exit(text != json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n")' "$DOC"

# Redocly CLI 1.x, pinned: 1.34.21, the newest 1.x at the time of writing,
# names a @redocly/respect-core release that the registry does not have, so
# `@redocly/cli@1` does not install.
REDOCLY_VERSION=1.34.20
NODE_DIR="$REPO/build/node"
REDOCLY="$NODE_DIR/node_modules/.bin/redocly"
export npm_config_update_notifier=false REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

install_redocly() {
    if [ -x "$REDOCLY" ] && [ "$(timeout 60 "$REDOCLY" --version 2>/dev/null)" = "$REDOCLY_VERSION" ]; then
        echo "reusing $REDOCLY ($REDOCLY_VERSION)"
        return 0
    fi
    # Into a directory of its own first, so an interrupted install never
    # leaves a half-installed linter behind to be reused.
    local tmp="$NODE_DIR.partial.$$"
    rm -rf "$tmp" && mkdir -p "$tmp" || return 1
    if ! timeout 300 npm install --prefix "$tmp" --no-audit --no-fund --no-save \
            --fetch-retries=1 "@redocly/cli@$REDOCLY_VERSION"; then
        echo "npm install @redocly/cli@$REDOCLY_VERSION failed (is the npm registry reachable?)" >&2
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$NODE_DIR" && mv "$tmp" "$NODE_DIR"
    [ "$(timeout 60 "$REDOCLY" --version)" = "$REDOCLY_VERSION" ]
}
lint() { timeout 120 "$REDOCLY" lint --format=stylish --config "$HERE/redocly.yaml" "$DOC"; }

check "redocly CLI $REDOCLY_VERSION is installed from the npm registry" install_redocly
check "docs/openapi.json passes redocly lint (recommended ruleset, tests/e2e/api/redocly.yaml)" lint

# ---- documented operations = served routes ---------------------------------

check "openapi_paths.py lists the documented operations" python3 "$HERE/openapi_paths.py" "$DOC"
LC_ALL=C sort "$T/out" >"$T/documented"
check "vigild --list-routes works" "$VIGILD" --list-routes
LC_ALL=C sort "$T/out" >"$T/served"
diff -u --label documented --label served "$T/documented" "$T/served" | tail -n +3 | sed 's/^/    /'
check_eq "every route vigild serves is documented, and only those" "$(cat "$T/documented")" "$(cat "$T/served")"

# ---- every documented operation answers ------------------------------------

pg_start
setup_ca
dev_port=$(free_port)
api_port=$(free_port)
# Without a server answering, the probes below would only repeat that.
failed_before=$FAILED
check "vigild starts with its operator port" vigild_start api "$dev_port" VIGIL_API_LISTEN="127.0.0.1:$api_port"
API="http://127.0.0.1:$api_port"

api_up() {
    for _ in $(seq 1 100); do
        curl -s -o /dev/null --max-time 2 "$API/healthz" && return 0
        sleep 0.1
    done
    echo "the operator port $API does not answer" >&2
    return 1
}
check "the operator port answers" api_up
[ "$FAILED" -eq "$failed_before" ] || finish

# An admin token: it may call every operation, so a 401 or 403 below is a bug.
"$VIGILCTL" token create --role admin --name openapi-test >"$T/token.out" 2>"$T/token.err"
TOKEN=$(tail -n 1 "$T/token.out")
token_ok() { [[ $TOKEN =~ ^vgl_[A-Za-z0-9_-]{43}$ ]] || { cat "$T/token.err" >&2; return 1; }; }
check "vigilctl token create prints a token as its last line" token_ok

"$VIGILCTL" device create --id dev-1 --out-dir "$T/dev" >/dev/null 2>&1
SERIAL=$("$VIGILCTL" cert list --device dev-1 --json 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["serial"])' 2>/dev/null)
check "a device and its certificate to address" test -n "$SERIAL"

# probe METHOD PATH: the documented operation answers with anything but
# "no such endpoint" (404 whose reason starts so) or 405, as the server
# routes it. Path parameters get plausible values ({seq} 1, {id} dev-1,
# {serial} that device's certificate, {release} and {rollout} 1); a 404 for
# a missing object is fine.
# Also, for the server to be answering for the route and not for something
# else: no 401/403 for an admin token, an error body is the API's JSON error,
# and a 2xx has one of the media types documented for its 200.
probe() {
    local method=$1 path=$2 url code
    url=${path//\{seq\}/1}
    url=${url//\{id\}/dev-1}
    url=${url//\{serial\}/$SERIAL}
    url=${url//\{release\}/1}
    url=${url//\{rollout\}/1}
    local args=(-sS --max-time 10 -o "$T/probe.body" -D "$T/probe.headers" -w '%{http_code}'
                -X "$method" -H "Authorization: Bearer $TOKEN")
    [ "$method" = POST ] && args+=(-H 'Content-Type: application/json' --data '{}')
    rm -f "$T/probe.body" "$T/probe.headers"
    code=$(curl "${args[@]}" "$API$url")
    touch "$T/probe.body" "$T/probe.headers"
    echo "$method $url -> ${code:-no answer}" >&2
    python3 - "$DOC" "$method" "$path" "${code:-000}" "$T/probe.headers" "$T/probe.body" <<'EOF'
import json, sys
doc_file, method, path, code, headers_file, body_file = sys.argv[1:]
code = int(code)
body = open(body_file, "rb").read()
ctype = ""
for line in open(headers_file, encoding="latin-1"):
    name, _, value = line.partition(":")
    if name.strip().lower() == "content-type":
        ctype = value.split(";")[0].strip().lower()
def fail(why):
    print(f"{method} {path}: {why}; body: {body[:300]!r}", file=sys.stderr)
    sys.exit(1)
if code == 0:
    fail("no answer")
if code == 405:
    fail("405: the server does not allow this method on this path")
if code in (401, 403):
    fail(f"{code} for an admin token")
if code >= 400:
    try:
        err = json.loads(body)
    except ValueError:
        fail(f"{code} without a JSON error body")
    if not (isinstance(err, dict) and isinstance(err.get("error"), str) and isinstance(err.get("reason"), str)):
        fail(f"{code} without an error and a reason")
    if code == 404 and err["error"] == "not_found" and err["reason"].startswith("no such endpoint"):
        fail("404 no such endpoint: documented but not served")
elif 200 <= code < 300:
    op = json.load(open(doc_file, encoding="utf-8"))["paths"][path][method.lower()]
    documented = {t.split(";")[0].strip().lower() for t in op["responses"].get("200", {}).get("content", {})}
    if documented and ctype not in documented:
        fail(f"{code} with Content-Type {ctype or '(none)'}, documented: {sorted(documented)}")
EOF
}

while read -r method path <&3; do
    [ -n "$method" ] && check "$method $path answers as documented" probe "$method" "$path"
done 3<"$T/documented"

check "SIGTERM: vigild exits 0" vigild_stop api
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/api.log'"
finish
