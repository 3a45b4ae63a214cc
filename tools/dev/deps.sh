#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages Vigil needs, only those missing.
# Idempotent and quiet when everything is there. Otherwise it says which
# packages it installs and runs apt-get with its usual progress output: as
# root directly, as another user through `sudo` (which asks for a password
# if it needs one); without root or sudo it prints the command to run as
# root and fails.
set -euo pipefail

# The lists: tools/dev/packages/ (build.txt is also the Docker build
# stage's, runtime.txt the Docker image's).
lists=$(cd "$(dirname "$0")/packages" && pwd)
mapfile -t packages < <(cat "$lists/build.txt" "$lists/runtime.txt" "$lists/test.txt" \
    | sed 's/#.*//; s/[[:space:]]//g; /^$/d' | sort -u)

missing=()
# The OpenAPI lint runs a linter from the npm registry: any Node.js with npx
# will do, Debian's when there is none.
command -v npx >/dev/null 2>&1 || missing+=(nodejs npm)
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "Vigil needs these Debian packages: ${missing[*]}" >&2
        echo "Run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    as_root=(sudo)
    echo "make deps: not root, so apt-get runs through sudo" >&2
fi
echo "make deps: installing ${#missing[@]} Debian packages (a first install takes a few minutes):" >&2
echo "  ${missing[*]}" >&2
echo "make deps: apt-get update" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
echo "make deps: apt-get install" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
echo "make deps: done" >&2
# Debian starts a system cluster when postgresql is installed; Vigil never
# uses it (tests and `make run` start their own), so leave it alone.
