#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages Vigil needs, only those missing.
# Idempotent and quiet when everything is there. As root it runs apt-get;
# otherwise it prints the command to run and fails.
set -euo pipefail

packages=(
    build-essential pkg-config clang libclang-rt-14-dev
    openssl libssl-dev libpq-dev postgresql-15 postgresql-client-15
    libuv1-dev libjansson-dev libmicrohttpd-dev libcriterion-dev node-llhttp libjose-dev jose
    nginx-light curl ca-certificates procps iproute2 python3 prometheus
)

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

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "Vigil needs these Debian packages: ${missing[*]}" >&2
    echo "Run as root:  apt-get update && $cmd" >&2
    exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a system cluster when postgresql is installed; Vigil never
# uses it (tests and `make run` start their own), so leave it alone.
