#!/usr/bin/env bash
# vigilctl ca init and ca rotate notify vigil_registry with
# {"event":"ca_changed","issuer":SKI} when they commit, so that every vigild
# reloads its trusted issuing CAs without SIGHUP (heard from a psql LISTEN).
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../listen.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null
export VIGIL_CA_DIR="$T/ca"
listen_start
check "ca init" "$VIGILCTL" ca init
listen_mark "after init"
check "ca rotate" "$VIGILCTL" ca rotate
check_contains "says vigild is told" "told to load it" "$T/out"
listen_stop
ski() { "$VIGILCTL" ca show --json | python3 -c "import json,sys; print(json.load(sys.stdin)['issuers'][$1]['ski'])"; }
check_contains "init announced its issuing CA" "{\"event\" : \"ca_changed\", \"issuer\" : \"$(ski 0)\"}" "$T/notify.txt"
check_contains "rotate announced the new one" "{\"event\" : \"ca_changed\", \"issuer\" : \"$(ski 1)\"}" "$T/notify.txt"
check_eq "init's before rotate's" "$(ski 0) $(ski 1)" "$(grep -o '"issuer" : "[0-9a-f]*"' "$T/notify.txt" | cut -d'"' -f4 | tr '\n' ' ' | sed 's/ $//')"
finish
