#!/usr/bin/env bash
# run.sh - `make run`: a working local Vigil from a fresh checkout. Starts a
# PostgreSQL cluster under var/pg, applies the schema, makes a development
# CA (var/ca), a TLS certificate for localhost (var/tls) and a release
# signing key (var/release) if missing, writes var/env, says what it did,
# then runs vigild in the foreground.
# Safe to run again: it reuses what is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
build=${VIGIL_BUILD:-build}
ctl="$build/vigilctl"

mkdir -p var
url=$(bash tools/dev/pg.sh start var/pg)
echo "PostgreSQL: running in var/pg ($url); stop it with 'make stop'"
export VIGIL_DATABASE_URL="$url" VIGIL_CA_DIR="$root/var/ca"
"$ctl" db migrate | sed 's/^/schema: /'

if [ ! -f var/ca/ca.json ]; then
    "$ctl" ca init --org "Vigil Dev" >/dev/null
    echo "CA: created a development CA in var/ca (keys unencrypted: for development only)"
else
    echo "CA: using var/ca"
fi
if [ ! -f var/tls/server.crt ]; then
    "$ctl" ca server-cert --dns localhost --ip 127.0.0.1 --ip ::1 --out-dir var/tls >/dev/null
    echo "TLS: issued var/tls/server.crt for localhost, 127.0.0.1, ::1"
fi
"$ctl" ca chain > var/ca-chain.pem
# The release key signs update manifests: its own directory, not the CA's.
export VIGIL_RELEASE_DIR="$root/var/release"
unset VIGIL_RELEASE_PASSPHRASE
if ! "$ctl" release key export >/dev/null 2>&1; then
    "$ctl" release key init >/dev/null
    echo "Releases: created a release signing key in var/release (unencrypted: for development only)"
else
    echo "Releases: using the release key of the database (its file is in var/release)"
fi

port=${VIGIL_DEVICE_PORT:-8443}
api_port=${VIGIL_API_PORT:-8080}
# An admin token for the operator API, made once; only its hash is in the
# database, the token itself is kept in var/admin-token (0600).
if [ ! -s var/admin-token ]; then
    (umask 077; "$ctl" token create --role admin --name dev-admin | tail -n 1 > var/admin-token)
    echo "API: created an admin token in var/admin-token"
fi
cat > var/env <<ENV
export VIGIL_DATABASE_URL='$url'
export VIGIL_CA_DIR='$root/var/ca'
export VIGIL_RELEASE_DIR='$root/var/release'
export VIGIL_TLS_CERT='$root/var/tls/server.crt'
export VIGIL_TLS_KEY='$root/var/tls/server.key'
export VIGIL_DEVICE_LISTEN='127.0.0.1:$port'
export VIGIL_API_LISTEN='127.0.0.1:$api_port'
ENV
echo "Environment: var/env (source it: . var/env)"
cat <<MSG

Next, in another shell:
  . var/env
  $ctl device create --id demo-1 --out-dir var/devices      # a test device
  curl --cacert var/ca-chain.pem --cert var/devices/demo-1.crt --key var/devices/demo-1.key \\
       -H 'Content-Type: application/json' https://localhost:$port/v1/incidents \\
       -d '{"id":"'\$(cat /proc/sys/kernel/random/uuid)'","type":"crash","severity":"error","occurred_at":"'\$(date -u +%FT%TZ)'"}'
  curl -H "Authorization: Bearer \$(cat var/admin-token)" http://127.0.0.1:$api_port/v1/incidents
  $ctl incidents --since 1h

MSG
# shellcheck disable=SC1091
. var/env
if [ -x "$build/vigild" ]; then
    echo "Starting vigild: devices on 127.0.0.1:$port, operators on 127.0.0.1:$api_port (Ctrl-C stops it; PostgreSQL keeps running)"
    exec "$build/vigild"
fi
echo "vigild is not built; run 'make' first"
