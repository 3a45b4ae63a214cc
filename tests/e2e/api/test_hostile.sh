#!/usr/bin/env bash
# Hostile requests to the operator port: oversize and malformed bodies,
# wrong media types, deep nesting, huge headers, encoded path tricks and
# junk bytes each get a 4xx or a closed connection, nothing is changed,
# and the port keeps answering everyone else.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
vigild_start one "$(free_port)"
API="http://$(vigild_api one)"
HOST=${API#http://}
OP=$("$VIGILCTL" token create --role admin --name hostile 2>/dev/null | tail -n 1)
"$VIGILCTL" device create --id dev-h --out-dir "$T/dev" >/dev/null 2>&1
# code URL [curl args]: the HTTP status ("000" when the connection was cut).
code() { local u=$1; shift; curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $OP" "$@" "$u" 2>/dev/null; }
Q="$API/v1/devices/dev-h/quarantine"

head -c 70000 /dev/zero | tr '\0' 'a' >"$T/big"
check_eq "a body over 64 KiB: 413" 413 "$(code "$Q" -H 'Content-Type: application/json' --data-binary @"$T/big")"
check_eq "a body that is not JSON: 400" 400 "$(code "$Q" -H 'Content-Type: application/json' -d '{"reason":')"
check_eq "JSON of the wrong type: 400" 400 "$(code "$Q" -H 'Content-Type: application/json' -d '["reason"]')"
check_eq "a reason of the wrong type: 400" 400 "$(code "$Q" -H 'Content-Type: application/json' -d '{"reason":{"a":1}}')"
check_contains "  ... naming it" '"parameter":"reason"' "$T/body"
check_eq "a body as text/plain: 415" 415 "$(code "$Q" -H 'Content-Type: text/plain' -d 'quarantine!')"
python3 -c "print('{\"reason\":' + '['*5000 + ']'*5000 + '}')" >"$T/deep"
check_eq "deeply nested JSON: 400" 400 "$(code "$Q" -H 'Content-Type: application/json' --data-binary @"$T/deep")"
check_eq "duplicate keys: 400" 400 "$(code "$Q" -H 'Content-Type: application/json' -d '{"reason":"a","reason":"b"}')"
check_eq "invalid UTF-8 in the reason: 400" 400 "$(code "$Q" -H 'Content-Type: application/json' --data-binary $'{"reason":"\xff\xfe"}')"
check_eq "after all that the device is still active" active "$(sql "SELECT status FROM devices WHERE id = 'dev-h'")"
check_eq "and no audit row was written" 0 "$(sql "SELECT count(*) FROM audit_log WHERE action = 'device.quarantine'")"

check_eq "an id with an encoded slash: 404" 404 "$(code "$API/v1/devices/dev-h%2F..%2Fx")"
check_eq "an id with an encoded NUL: 404" 404 "$(code "$API/v1/devices/dev%00h")"
check_eq "a dot-dot path: 404" 404 "$(code "$API/v1/devices/../audit" --path-as-is)"
check_eq "a query value with a NUL: 400" 400 "$(code "$API/v1/incidents?type=a%00b")"
check_eq "a 2,000-character parameter: 400" 400 "$(code "$API/v1/incidents?type=$(head -c 2000 /dev/zero | tr '\0' x)")"
check_eq "a limit past int64: 400" 400 "$(code "$API/v1/incidents?limit=99999999999999999999999")"
{ printf 'X-Big: '; head -c 200000 /dev/zero | tr '\0' h; echo; } >"$T/header"
check "a 200 KB header is refused or cut" bash -c "c=\$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H @'$T/header' '$API/healthz' 2>/dev/null); echo \$c >&2; [ \"\$c\" != 200 ]"
check "junk bytes instead of HTTP: connection closed, no crash" \
    bash -c "head -c 4096 /dev/urandom | timeout 5 python3 -c 'import socket,sys; s=socket.create_connection((\"${HOST%:*}\", ${HOST##*:})); s.sendall(sys.stdin.buffer.read()); s.settimeout(4); s.recv(100)' ; true"
check "an unfinished request then silence does not hold the port" \
    bash -c "(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n' | timeout 3 python3 -c 'import socket,sys,time; s=socket.create_connection((\"${HOST%:*}\", ${HOST##*:})); s.sendall(sys.stdin.buffer.read()); time.sleep(2)') & curl -sS --max-time 5 '$API/healthz'"
check_eq "the port still answers" 200 "$(code "$API/readyz")"
check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
