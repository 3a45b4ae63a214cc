#!/usr/bin/env bash
# Runs on the release build too.
# Hostile values in every parameter of every operator API route: invalid
# UTF-8 (a lone byte, an overlong, a surrogate), NUL and control characters,
# malformed percent-escapes, times PostgreSQL cannot hold, cursors and
# integers that pass a format check but overflow, path arguments carrying
# %00. Each is a 400 naming the parameter (a 404 naming it for a path
# argument), decided before the database is asked: afterwards vigild's
# db_errors has not moved and its log has no error line. The export answers
# a bad filter with a 400 status line, not a 200 and then a cut stream, and
# a first page that fails with a 500. The widest values that are valid are
# answered 200, so the bounds are where PostgreSQL's are.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
vigild_start one "$(free_port)"
API="http://$(vigild_api one)"
ADMIN=$("$VIGILCTL" token create --role admin --name bad-input 2>/dev/null | tail -n 1)
"$VIGILCTL" device create --id plain-1 --out-dir "$T/dev" >/dev/null 2>&1
SERIAL=$(sql "SELECT serial FROM certificates WHERE device_id = 'plain-1'")
sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, firmware_version)
     SELECT gen_random_uuid(), 'plain-1', 'device', 'crash', 'error', now(), '1.0.0'
     FROM generate_series(1, 30)" >/dev/null
SEQ=$(sql "SELECT min(seq) FROM incidents")

# get PATH [curl args]: the status; the body is in $T/body, headers in $T/hdr.
get() {
    local p=$1; shift
    curl -sS --max-time 20 -o "$T/body" -D "$T/hdr" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$@" "$API$p" 2>/dev/null
}
# is_error CODE STATUS PARAM: the last answer was STATUS, Vigil's error body
# (errors_json: compact, in this order) with error CODE and "parameter"
# PARAM ("-": no parameter member).
is_error() {
    local want='"parameter":"'"$3"'"'
    [ "$3" = - ] && want=
    if [ "$got" = "$2" ] && grep -qxE '\{"error":"'"$1"'","reason":"([^"\\]|\\.)*"'"${want:+,$want}"'\}' "$T/body"; then
        return 0
    fi
    echo "expected $2 $1 parameter=$3, got $got: $(head -c 300 "$T/body")" >&2
    return 1
}
# bad PATH PARAM VALUE...: each ?PARAM=VALUE (sent as written: VALUE is
# percent-encoded already) is a 400 naming PARAM.
bad() {
    local p=$1 param=$2 v sep fails=0; shift 2
    for v in "$@"; do
        case $p in *\?*) sep='&' ;; *) sep='?' ;; esac
        got=$(get "$p$sep$param=$v")
        if ! is_error bad_request 400 "$param" 2>>"$T/err"; then
            echo "    $p$sep$param=$v" >>"$T/err"
            fails=1
        fi
    done
    return $fails
}
# checkbad PATH PARAM VALUE...: bad as one check.
checkbad() { : >"$T/err"; bad "$@"; _report $? "GET $1: $2=$(shift 2; echo "$*" | cut -c1-60): 400 naming $2"; }
# answers NAME PATH: GET PATH is a 200 (the body in $T/body).
answers() { got=$(get "$2"); check "$1" test "$got" = 200; }
metric() { curl -sS --max-time 10 "$API/metrics" | sed -n 's/^vigil_db_errors_total \([0-9]*\)$/\1/p'; }
errors_before=$(metric)
check "db_errors can be read from /metrics" test -n "$errors_before"

# Bytes that are never a parameter's text: invalid UTF-8 (a lone 0xFF, an
# overlong '.', a UTF-16 surrogate, a cut sequence), a NUL, malformed
# percent-escapes. Every parameter of every route refuses them.
ENCODING=(%FF %C0%AE %ED%A0%80 %E2%82 %F4%90%80%80 a%00b %00 %G1 abc% %2)
declare -A PARAMS=(
    [/v1/incidents]="device_id type severity source firmware_version since until group limit cursor"
    [/v1/incidents/stats]="device_id type severity source firmware_version since until bucket by"
    [/v1/incident-groups]="device_id type source firmware_version since until limit"
    [/v1/incidents/export]="device_id type severity source firmware_version since until group format"
    [/v1/devices]="status class firmware_version id_prefix seen_since seen_before limit cursor"
    [/v1/certificates]="device_id status limit cursor"
    [/v1/audit]="since until device_id action actor limit cursor"
    [/v1/releases]="class state limit"
    [/v1/rollouts]="live limit"
)
for route in /v1/incidents /v1/incidents/stats /v1/incident-groups /v1/incidents/export \
             /v1/devices /v1/certificates /v1/audit /v1/releases /v1/rollouts; do
    for param in ${PARAMS[$route]}; do
        checkbad "$route" "$param" "${ENCODING[@]}"
    done
done

# Free text (type, firmware_version, class, id_prefix, action, actor): no
# control characters (C0, DEL, C1), bounded.
CONTROL=(a%01b %1B%5B2J a%7F %C2%85 %C2%9F a%0Ab "$(printf 'x%.0s' $(seq 1 200))")
for rp in "/v1/incidents type" "/v1/incidents firmware_version" "/v1/incidents/stats type" \
          "/v1/incident-groups firmware_version" "/v1/incidents/export type" \
          "/v1/devices class" "/v1/devices firmware_version" "/v1/devices id_prefix" \
          "/v1/audit action" "/v1/audit actor"; do
    checkbad ${rp% *} ${rp#* } "${CONTROL[@]}"
done
checkbad /v1/incidents type "$(printf 'x%.0s' $(seq 1 600))"

# Times: year 0000 (also reached through an offset), past 9999 (through an
# offset), and the forms that are not RFC 3339.
TIMES=(0000-01-01T00:00:00Z 0000-12-31T23:59:59Z 0001-01-01T00:00:00%2B00:01
       9999-12-31T23:59:59-00:01 10000-01-01T00:00:00Z 2026-02-30T00:00:00Z -1h 1e3s)
for rp in "/v1/incidents since" "/v1/incidents until" "/v1/incidents/stats since" \
          "/v1/incidents/stats until" "/v1/incident-groups since" "/v1/incident-groups until" \
          "/v1/incidents/export since" "/v1/incidents/export until" "/v1/devices seen_since" \
          "/v1/devices seen_before" "/v1/audit since" "/v1/audit until"; do
    checkbad ${rp% *} ${rp#* } "${TIMES[@]}"
done

# Cursors that pass a format check but overflow, or are not this route's.
checkbad /v1/incidents cursor 99999999999999999999.1 9223372036854775807.1 1.ABC \
    1.99999999999999999999 253402300800000000.1 -1.1 1.0 1.-1 1. .1 1.2.3 "1.1%20"
checkbad /v1/certificates cursor 99999999999999999999.1 9223372036854775807.1 \
    253402300800000000.AB 1.ab 1.0A:1B 1.%FF -1.AB 1
checkbad /v1/audit cursor 99999999999999999999 9223372036854775808 0 -1 1.1
checkbad /v1/devices cursor -x a%2Fb .x "$(printf 'd%.0s' $(seq 1 65))"

# Integers out of range, negative limits, durations.
for rp in "/v1/incidents limit" "/v1/devices limit" "/v1/certificates limit" "/v1/audit limit" \
          "/v1/releases limit" "/v1/rollouts limit"; do
    checkbad ${rp% *} ${rp#* } -1 0 1001 99999999999999999999 9223372036854775808 1e3 %205 5%20 %2B5 0x10
done
checkbad /v1/incident-groups limit -1 0 501 99999999999999999999
checkbad /v1/incidents/stats bucket 0 0s -1h 99999999999999999999s 367d 500ms 1.5h
checkbad /v1/incidents/export format xml CSV
checkbad /v1/releases class a%01b caf%C3%A9 .x a%2Fb "$(printf 'c%.0s' $(seq 1 65))"
checkbad /v1/releases state Active revoked%20 ""
checkbad /v1/rollouts live TRUE 1 yes ""

# Names: unknown, repeated, without a value, or undecodable.
got=$(get "/v1/incidents?limit")
check "a parameter without a value: 400 naming it" is_error bad_request 400 limit
got=$(get "/v1/incidents?type=crash&type=crash")
check "a repeated parameter: 400 naming it" is_error bad_request 400 type
got=$(get "/v1/incidents?ty%FFpe=crash")
check "an undecodable name: 400, not echoed" is_error bad_request 400 -
answers "an encoded name is decoded: lim%69t is limit" "/v1/incidents?lim%69t=1"

# ---- path arguments: decoded with their length, checked, 404 naming them ----
answers "GET /v1/devices/plain-1 answers the device" "/v1/devices/plain-1"
for v in plain-1%00junk plain-1%00 %00plain-1 plain-1%FF plain%2D1%G1 plain-1%2F.. %C0%AE .plain-1 \
         "$(printf 'd%.0s' $(seq 1 65))"; do
    got=$(get "/v1/devices/$v")
    check "GET /v1/devices/$(echo "$v" | cut -c1-30): 404 naming id" is_error not_found 404 id
done
answers "an encoded id character is decoded: plain%2D1 is plain-1" "/v1/devices/plain%2D1"
for action in quarantine release decommission; do
    got=$(get "/v1/devices/plain-1%00junk/$action" -X POST -H 'Content-Type: application/json' -d '{}')
    check "POST /v1/devices/plain-1%00junk/$action: 404 naming id" is_error not_found 404 id
done
check_eq "  ... and plain-1 is still active" active "$(sql "SELECT status FROM devices WHERE id = 'plain-1'")"
answers "GET /v1/certificates/{serial} answers the certificate" "/v1/certificates/$SERIAL"
for v in "$SERIAL%00" "$SERIAL%00junk" "${SERIAL:0:4}%00${SERIAL:4}" "$SERIAL%FF" "XYZ" "%G1" \
         "$(printf 'A%.0s' $(seq 1 90))"; do
    got=$(get "/v1/certificates/$v")
    check "GET /v1/certificates/$(echo "$v" | cut -c1-30): 404 naming serial" is_error not_found 404 serial
done
got=$(get "/v1/certificates/$SERIAL%00junk/revoke" -X POST -H 'Content-Type: application/json' -d '{}')
check "POST /v1/certificates/{serial}%00junk/revoke: 404 naming serial" is_error not_found 404 serial
check_eq "  ... and the certificate is not revoked" active \
    "$(sql "SELECT CASE WHEN revoked_at IS NULL THEN 'active' ELSE 'revoked' END FROM certificates WHERE serial = '$SERIAL'")"
answers "GET /v1/incidents/{seq} answers the incident" "/v1/incidents/$SEQ"
for v in "$SEQ%00" "$SEQ%00junk" 0 -1 %2B1 99999999999999999999 9223372036854775808 1e3 "%FF" " 1"; do
    got=$(get "/v1/incidents/$(echo "$v" | sed 's/ /%20/g')")
    check "GET /v1/incidents/$v: 404 naming seq" is_error not_found 404 seq
done
got=$(get "/v1/incidents/9223372036854775807")
check "the largest seq is asked for: 404 without a parameter" is_error not_found 404 -

for v in 1%00 %001 %FF 0 %2F1.0 sensor%2F a%2Fb%2Fc .1 1.0%0A "$(printf 'v%.0s' $(seq 1 65))"; do
    got=$(get "/v1/releases/$v")
    check "GET /v1/releases/$(echo "$v" | cut -c1-30): 404 naming release" is_error not_found 404 release
done
got=$(get "/v1/releases/1%00junk/revoke" -X POST -H 'Content-Type: application/json' -d '{}')
check "POST /v1/releases/1%00junk/revoke: 404 naming release" is_error not_found 404 release
for v in 0 -1 %2B1 1%00 abc 9223372036854775808 1e3 "%FF"; do
    got=$(get "/v1/rollouts/$v")
    check "GET /v1/rollouts/$v: 404 naming rollout" is_error not_found 404 rollout
done
for action in widen pause resume abort; do
    got=$(get "/v1/rollouts/1%00junk/$action" -X POST -H 'Content-Type: application/json' -d '{}')
    check "POST /v1/rollouts/1%00junk/$action: 404 naming rollout" is_error not_found 404 rollout
done
got=$(get "/v1/rollouts/9223372036854775807")
check "the largest rollout id is asked for: 404 without a parameter" is_error not_found 404 -
got=$(get "/v1/releases/9223372036854775807")
check "the largest release id is asked for: 404 without a parameter" is_error not_found 404 -

# ---- request bodies ----
got=$(get /v1/devices/plain-1/quarantine -X POST -H 'Content-Type: application/json' -d '{"reason":"a\u0085b"}')
check "a C1 control character in a reason: 400 naming it" is_error bad_request 400 reason
got=$(get /v1/devices/plain-1/quarantine -X POST -H 'Content-Type: application/json' -d '{"reason":"a\u0000b"}')
check "a NUL in a reason: 400" test "$got" = 400
check_eq "  ... and plain-1 is still active" active "$(sql "SELECT status FROM devices WHERE id = 'plain-1'")"
got=$(get /v1/rollouts -X POST -H 'Content-Type: application/json' -d '{"release":"a\u0085b","percent":10}')
check "a C1 control character in a release: 400 naming it" is_error bad_request 400 release
got=$(get /v1/rollouts -X POST -H 'Content-Type: application/json' -d '{"release":"x/1","percent":10,"group":"a\u0000b"}')
check "a NUL in a group: 400 (jansson refuses the body)" is_error bad_request 400 -
got=$(get /v1/rollouts -X POST -H 'Content-Type: application/json' -d '{"release":9223372036854775807,"percent":10}')
check "the largest release id in a body: 404 naming release" is_error not_found 404 release
got=$(get /v1/rollouts -X POST -H 'Content-Type: application/json' -d '{"release":9223372036854775808,"percent":10}')
check "a release id past int64 in a body: 400 (jansson refuses the body)" is_error bad_request 400 -
got=$(get /v1/rollouts/1/widen -X POST -H 'Content-Type: application/json' -d '{"percent":1e400}')
check "a percent past a double: 400" test "$got" = 400
got=$(get /v1/releases/1/revoke -X POST -H 'Content-Type: application/json' -d '{"reason":"a\u009fb"}')
check "a C1 control character in a revocation reason: 400 naming it" is_error bad_request 400 reason

# ---- the export: a bad filter is a 400 status line ----
for q in "type=%FF" "firmware_version=%C0%AE" "since=0000-01-01T00:00:00Z" "device_id=a%00b" "format=csv&type=%ED%A0%80"; do
    got=$(get "/v1/incidents/export?$q")
    check "export?$q: 400 naming ${q##*&}" is_error bad_request 400 "$(echo "${q##*&}" | cut -d= -f1)"
    check "  ... in the status line, as JSON, not as an attachment" bash -c \
        "head -n 1 '$T/hdr' | grep -q '^HTTP/1.1 400' && grep -qi '^Content-Type: application/json' '$T/hdr' && ! grep -qi '^Content-Disposition' '$T/hdr'"
done

# ---- the widest valid values are answered, without a database error ----
answers "incidents from year 1 to the end of 9999: 200" "/v1/incidents?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59.999999Z"
check "  ... with every incident" python3 -c "import json; assert len(json.load(open('$T/body'))['items']) == 30"
answers "groups over the whole range: 200" "/v1/incident-groups?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59.999999Z"
answers "stats over the whole range in 366-day buckets: 200" "/v1/incidents/stats?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59.999999Z&bucket=366d"
answers "devices seen in the whole range: 200" "/v1/devices?seen_since=0001-01-01T00:00:00Z&seen_before=9999-12-31T23:59:59Z"
answers "audit in the whole range: 200" "/v1/audit?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z"
answers "the largest incident cursor: 200" "/v1/incidents?cursor=253402300799999999.9223372036854775807"
answers "the largest certificate cursor: 200" "/v1/certificates?cursor=253402300799999999.FF"
answers "the largest audit cursor: 200" "/v1/audit?cursor=9223372036854775807"
answers "UTF-8 text is a filter like any: 200" "/v1/incidents?type=caf%C3%A9&firmware_version=%E2%9C%93%F0%9F%98%80"
answers "  ... on devices too" "/v1/devices?class=%E6%B8%A9%E5%BA%A6&id_prefix=plain%2D"
answers "export over the whole range: 200" "/v1/incidents/export?since=0001-01-01T00:00:00Z&format=csv"
check "  ... with a header and every incident" test "$(wc -l <"$T/body")" = 31

check_eq "db_errors did not move" "$errors_before" "$(metric)"
check "the log has no error line" bash -c "! grep '\"level\":\"error\"' '$T/one.log' >&2"
check "no query failed in PostgreSQL" bash -c "! grep -E 'sqlstate|query failed' '$T/one.log' >&2"

# ---- the export's first page fails: a 500, not a 200 and a cut ----
sql "ALTER TABLE incidents RENAME TO incidents_away" >/dev/null
got=$(get "/v1/incidents/export?format=csv")
check "export whose first query fails: 500 in the status line" is_error internal 500 -
sql "ALTER TABLE incidents_away RENAME TO incidents" >/dev/null
check "  ... counted in db_errors" test "$(metric)" -gt "$errors_before"
answers "the export works again: 200" "/v1/incidents/export"
check "  ... every incident" test "$(wc -l <"$T/body")" = 30

check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
