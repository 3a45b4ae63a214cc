#!/usr/bin/env bash
# check-layers.sh [ROOT] - `make check-layers`: fails when a source file
# includes a project header its layer may not see. Prints one line per
# offending include (file:line: what, and why it is refused) and "layers
# ok" when there is none. ROOT defaults to the repository.
#
# The layers, lowest first; each may include its own folder and those
# listed (../shared/DESIGN.md, "Layout"):
#
#   protocol/          (nothing)         wire formats, shared by server and tools
#   cert-authority/    protocol          the CA library
#   db/                protocol          the blocking libpq layer
#   server/core/       protocol          config, log, metrics, strbuf, pg_async, helpers:
#                                        no sibling of server/
#   server/registry/   core, protocol
#   server/ingest/     core, registry, protocol
#   server/gateway/    core, registry, ingest, protocol, cert-authority
#   server/api/        core, protocol, db, cert-authority
#                                        (gateway/ and api/ never include each other;
#                                        db/ blocks, so only api/'s threads use it,
#                                        never the loops of registry, ingest, gateway)
#   server/main.c      all of server/ and the libraries
#   tools/<program>/   its own folder, protocol, cert-authority, db: nothing of server/
#   tests/             anything
#
# Allowed exceptions: none. A project header is included by its path from
# the repository root ("server/core/log.h"), never by a bare or relative
# name that would hide which layer it comes from; <server/...> is checked
# like "server/...".
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root" || exit 2

# allowed LAYER: the folders a file of LAYER may include from.
allowed() {
    case "$1" in
    protocol) echo "protocol" ;;
    cert-authority) echo "cert-authority protocol" ;;
    db) echo "db protocol" ;;
    server/core) echo "server/core protocol" ;;
    server/registry) echo "server/registry server/core protocol" ;;
    server/ingest) echo "server/ingest server/registry server/core protocol" ;;
    server/gateway) echo "server/gateway server/ingest server/registry server/core protocol cert-authority" ;;
    server/api) echo "server/api server/core protocol db cert-authority" ;;
    server/main.c) echo "server protocol db cert-authority" ;;
    tools/*) echo "$1 protocol cert-authority db" ;;
    tests) echo "*" ;;
    *) echo "" ;;
    esac
}

# layer FILE: the layer a source file belongs to.
layer() {
    case "$1" in
    server/main.c) echo server/main.c ;;
    server/*/*) echo "${1%/*}" | cut -d/ -f1-2 ;;
    tools/*/*) echo "${1%/*}" | cut -d/ -f1-2 ;;
    protocol/* | cert-authority/* | db/*) echo "${1%%/*}" ;;
    tests/*) echo tests ;;
    *) echo unknown ;;
    esac
}

bad=0
files=$(find protocol cert-authority db server tools tests -name '*.[ch]' 2>/dev/null | sort)
for f in $files; do
    l=$(layer "$f")
    ok=$(allowed "$l")
    if [ -z "$ok" ]; then
        echo "$f: not in any layer: put it in one of the folders of tools/dev/check-layers.sh"
        bad=1
        continue
    fi
    while IFS=: read -r line inc; do
        [ -n "$line" ] || continue
        path=${inc#*\"}
        path=${path%%\"*}
        if [ ! -f "$path" ]; then
            echo "$f:$line: includes \"$path\", which is not a path from the repository root"
            bad=1
            continue
        fi
        [ "$ok" = "*" ] && continue
        fine=0
        for a in $ok; do
            case "$path" in "$a"/* | "$a") fine=1 ;; esac
        done
        if [ "$fine" -eq 0 ]; then
            echo "$f:$line: includes $path, but $l may only include from: $ok"
            bad=1
        fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*("|<(protocol|cert-authority|db|server|tools|tests)/)' "$f" |
        sed -E 's|<([^>]*)>|"\1"|')
done
if [ "$bad" -ne 0 ]; then
    echo "layers: refused (see tools/dev/check-layers.sh for the rules)"
    exit 1
fi
echo "ok - layers: $(echo "$files" | wc -w) files include only what their layer may"
