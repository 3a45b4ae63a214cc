#!/usr/bin/env bash
# The operator API's incident endpoints with curl against a running vigild:
# every filter, keyset pagination across 10,000 incidents while more are
# being inserted (no item skipped or repeated), one incident, stats, groups,
# the NDJSON and CSV export; tokens (none, wrong, expired, revoked, the
# failure budget), malformed parameters, /metrics through promtool, and a
# database outage (503 + Retry-After, then service again).
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
vigild_start one "$(free_port)"
API="http://$(vigild_api one)"
VIEWER=$("$VIGILCTL" token create --role viewer --name inc-viewer 2>/dev/null | tail -n 1)
api() { curl -sS --max-time 20 -H "Authorization: Bearer $VIEWER" "$@"; }
# status URL [curl args]: prints the HTTP status; the body is in $T/out.
status() { local u=$1; shift; curl -sS --max-time 20 -o "$T/body" -w '%{http_code}' "$@" "$u"; }

sql "INSERT INTO devices (id) VALUES ('dev-a'), ('dev-b')"
# 10,000 incidents over the last 10 hours: dev-a crashes on two firmwares,
# dev-b has watchdog resets; a few server events.
sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, received_at,
       firmware_version, component, details)
     SELECT gen_random_uuid(), CASE WHEN g % 4 = 0 THEN 'dev-b' ELSE 'dev-a' END, 'device',
       CASE WHEN g % 4 = 0 THEN 'watchdog_reset' ELSE 'crash' END,
       CASE WHEN g % 10 = 0 THEN 'critical' ELSE 'error' END,
       now() - g * interval '3.6 s', now() - g * interval '3.6 s',
       CASE WHEN g % 2 = 0 THEN '1.0.0' ELSE '1.1.0' END, 'main',
       jsonb_build_object('pc', '0x' || (g % 3))
     FROM generate_series(1, 10000) g"
sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, details)
     VALUES (gen_random_uuid(), NULL, 'server', 'auth_failure', 'warning', now(), '{\"reason\":\"expired\"}')"

# ---- filters ----
api "$API/v1/incidents?device_id=dev-b&limit=1000" >"$T/out"
check_json "device_id filter" "len(d['items']) == 1000 and all(i['device_id'] == 'dev-b' for i in d['items'])"
api "$API/v1/incidents?type=watchdog_reset&severity=critical&limit=1000" >"$T/out"
check_json "type + severity" "len(d['items']) == 500 and all(i['type'] == 'watchdog_reset' and i['severity'] == 'critical' for i in d['items'])"
api "$API/v1/incidents?source=server" >"$T/out"
check_json "source=server" "len(d['items']) == 1 and d['items'][0]['device_id'] is None and d['next_cursor'] is None"
api "$API/v1/incidents?firmware_version=1.1.0&limit=1000" >"$T/out"
check_json "firmware_version" "all(i['firmware_version'] == '1.1.0' for i in d['items'])"
api "$API/v1/incidents?since=1h&limit=1000" >"$T/out"
check_json "since=1h (relative)" "999 <= len(d['items']) <= 1002"
api "$API/v1/incidents?since=$(date -u -d '-2 hours' +%FT%TZ)&until=$(date -u -d '-1 hour' +%FT%TZ)&limit=1000" >"$T/out"
check_json "since/until as RFC 3339" "998 <= len(d['items']) <= 1001"
group=$(api "$API/v1/incidents?device_id=dev-a&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["group"])')
api "$API/v1/incidents?group=$group&limit=1000" >"$T/out"
check_json "group filter" "len(d['items']) > 0 and all(i['group'] == '$group' for i in d['items'])"
api "$API/v1/incidents?limit=1" >"$T/out"
check_json "an incident has the documented fields" "set(d['items'][0]) == {'seq','id','device_id','source','type','severity','occurred_at','received_at','firmware_version','component','details','source_address','group','quarantined'}"

# ---- one incident ----
seq=$(api "$API/v1/incidents?device_id=dev-a&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["seq"])')
api "$API/v1/incidents/$seq" >"$T/out"
check_json "GET /v1/incidents/{seq}" "d['seq'] == $seq and d['device_id'] == 'dev-a' and d['details']['pc'].startswith('0x')"
check_eq "unknown seq: 404" 404 "$(status "$API/v1/incidents/999999999" -H "Authorization: Bearer $VIEWER")"
check_eq "non-numeric seq: 404" 404 "$(status "$API/v1/incidents/abc" -H "Authorization: Bearer $VIEWER")"

# ---- pagination while reports keep arriving ----
sql "SELECT seq FROM incidents ORDER BY seq" | sort >"$T/before"
( for _ in $(seq 1 60); do
      sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at)
           SELECT gen_random_uuid(), 'dev-a', 'device', 'crash', 'error', now() FROM generate_series(1, 20)" >/dev/null
      sleep 0.05
  done ) &
writer=$!
paginate() {
    local cursor="" n=0
    : >"$T/pages"
    while :; do
        api "$API/v1/incidents?limit=700${cursor:+&cursor=$cursor}" >"$T/page.json" || return 1
        python3 -c "import json; d=json.load(open('$T/page.json')); print('\n'.join(str(i['seq']) for i in d['items']))" >>"$T/pages"
        cursor=$(python3 -c "import json; c=json.load(open('$T/page.json'))['next_cursor']; print(c or '')")
        n=$((n + 1))
        [ -n "$cursor" ] && [ "$n" -lt 100 ] || break
    done
    echo "$n pages" >&2
}
check "page through everything while inserts run" paginate
wait "$writer"
check_eq "no incident repeated across pages" "" "$(sort "$T/pages" | uniq -d | head -3)"
check_eq "every incident that existed before is on a page" "" "$(comm -23 "$T/before" <(sort "$T/pages") | head -3)"
check "the writer really inserted while we paged" test "$(sql "SELECT count(*) FROM incidents")" -gt 10001

# ---- stats ----
api "$API/v1/incidents/stats?since=10h&bucket=1h&by=type" >"$T/out"
check_json "stats by type" "d['bucket_seconds'] == 3600 and d['by'] == 'type' and sum(s['count'] for s in d['series'] if s['key'] == 'watchdog_reset') >= 2400"
api "$API/v1/incidents/stats?since=24h&by=severity&device_id=dev-b" >"$T/out"
check_json "stats by severity for one device" "sum(s['count'] for s in d['series']) == 2500 and {s['key'] for s in d['series']} == {'critical','error'}"
api "$API/v1/incidents/stats?since=24h&bucket=1d&by=firmware_version&source=device" >"$T/out"
check_json "stats by firmware_version" "{'1.0.0','1.1.0'} <= {s['key'] for s in d['series']}"
# Fleet-wide hourly stats read the hourly counts vigild folds in the
# background plus raw incidents at the edges: the same numbers as counting
# every row. The since/until are off the hour on purpose.
sleep 3
since=$(date -u -d '-9 hours -17 minutes' +%FT%TZ); until=$(date -u -d '+5 minutes' +%FT%TZ)
api "$API/v1/incidents/stats?since=$since&until=$until&bucket=1h&by=severity" >"$T/out"
python3 -c "import json; d=json.load(open('$T/out')); print('\n'.join('%s %s %d' % (s['bucket'], s['key'], s['count']) for s in d['series']))" >"$T/api-stats"
sql "SELECT to_char(date_bin('1 hour', received_at, 'epoch') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), severity, count(*)
     FROM incidents WHERE received_at >= '$since' AND received_at < '$until' GROUP BY 1, 2 ORDER BY 1, 2" | tr '|' ' ' >"$T/sql-stats"
check "the hourly counts are being kept" test "$(sql "SELECT upto > now() - interval '1 minute' FROM incident_counts_state")" = t
check_eq "stats from the counts equal a count of every row" "$(cat "$T/sql-stats")" "$(cat "$T/api-stats")"
api "$API/v1/incidents/stats?since=$since&until=$until&bucket=1d&by=type&source=device" >"$T/out"
check_json "daily buckets from the counts" "sum(s['count'] for s in d['series']) == $(sql "SELECT count(*) FROM incidents WHERE source = 'device' AND received_at >= '$since' AND received_at < '$until'")"
check_eq "too many buckets: 400" 400 "$(status "$API/v1/incidents/stats?since=30d&bucket=1s" -H "Authorization: Bearer $VIEWER")"
check_contains "  ... naming the parameter" '"parameter":"bucket"' "$T/body"

# ---- groups ----
api "$API/v1/incident-groups?since=1d" >"$T/out"
check_json "groups: crash x 3 pcs, watchdog x 3 pcs, the server event" "len(d['items']) >= 7 and all(set(g) == {'group','type','component','signature','count','devices','first_seen','last_seen','firmware_versions'} for g in d['items'])"
api "$API/v1/incident-groups?since=1d" >"$T/out"
check_json "  ... most frequent first, with firmware versions" "d['items'][0]['count'] >= d['items'][-1]['count'] and d['items'][0]['type'] == 'crash' and d['items'][0]['devices'] == 1 and d['items'][0]['firmware_versions']"
api "$API/v1/incident-groups?since=1d&type=watchdog_reset&limit=2" >"$T/out"
check_json "groups filtered by type, limited" "len(d['items']) == 2 and all(g['type'] == 'watchdog_reset' for g in d['items'])"

# ---- export ----
total=$(sql "SELECT count(*) FROM incidents WHERE device_id = 'dev-b'")
api "$API/v1/incidents/export?device_id=dev-b" >"$T/export.ndjson"
check_eq "NDJSON export has every row of the filter" "$total" "$(wc -l <"$T/export.ndjson")"
check "  ... each line a JSON incident" python3 -c "import json; [json.loads(l)['seq'] for l in open('$T/export.ndjson')]"
api "$API/v1/incidents/export?device_id=dev-b&format=csv" >"$T/export.csv"
check "CSV export parses with a header and every row" python3 -c "
import csv; rows = list(csv.DictReader(open('$T/export.csv', newline='')))
assert len(rows) == $total, len(rows); assert rows[0]['device_id'] == 'dev-b' and rows[0]['details'].startswith('{')"
sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, component) VALUES
     (gen_random_uuid(), 'dev-b', 'device', 'crash', 'error', now(), '=HYPERLINK(\"x\")')"
api "$API/v1/incidents/export?device_id=dev-b&format=csv&since=1m" >"$T/export.csv"
check_contains "CSV: a formula from a device is defused" "\"'=HYPERLINK(\"\"x\"\")\"" "$T/export.csv"

# ---- malformed parameters: 400 naming the parameter ----
bad() {  # bad NAME QUERY PARAM
    local code; code=$(status "$API/v1/incidents$2" -H "Authorization: Bearer $VIEWER")
    [ "$code" = 400 ] && grep -q "\"parameter\":\"$3\"" "$T/body" || { echo "got $code: $(cat "$T/body")" >&2; return 1; }
}
check "limit=0" bad x "?limit=0" limit
check "limit=abc" bad x "?limit=abc" limit
check "severity=fatal" bad x "?severity=fatal" severity
check "source=cloud" bad x "?source=cloud" source
check "since=yesterday" bad x "?since=yesterday" since
check "device_id with a slash" bad x "?device_id=a%2Fb" device_id
check "group not hex" bad x "?group=zzzz" group
check "a forged cursor" bad x "?cursor=1;DROP" cursor
check "an unknown parameter" bad x "?colour=red" colour
check "a repeated parameter" bad x "?limit=1&limit=2" limit
check "a control character in type" bad x "?type=a%01b" type
check_eq "since after until: 400" 400 "$(status "$API/v1/incidents/stats?since=1h&until=2h" -H "Authorization: Bearer $VIEWER")"
check_eq "unknown path: 404" 404 "$(status "$API/v1/nothing" -H "Authorization: Bearer $VIEWER")"
check_contains "  ... says no such endpoint" "no such endpoint" "$T/body"
check_eq "DELETE on a GET path: 405" 405 "$(status "$API/v1/incidents" -X DELETE -H "Authorization: Bearer $VIEWER")"
curl -sS -D "$T/hdr" -o /dev/null -X DELETE -H "Authorization: Bearer $VIEWER" "$API/v1/incidents"
check_contains "  ... with Allow" "Allow: GET" "$T/hdr"

# ---- tokens ----
check_eq "no token: 401" 401 "$(status "$API/v1/incidents")"
check_contains "  ... with a JSON reason" '"error":"unauthorized"' "$T/body"
curl -sS -D "$T/hdr" -o /dev/null "$API/v1/incidents"
check_contains "  ... and WWW-Authenticate" "WWW-Authenticate: Bearer" "$T/hdr"
check_eq "a wrong token: 401" 401 "$(status "$API/v1/incidents" -H "Authorization: Bearer vgl_not-a-real-token")"
OLD=$("$VIGILCTL" token create --role viewer --name soon-expired 2>/dev/null | tail -n 1)
sql "UPDATE api_tokens SET expires_at = now() - interval '1 s' WHERE name = 'soon-expired'" >/dev/null
check_eq "an expired token: 401" 401 "$(status "$API/v1/incidents" -H "Authorization: Bearer $OLD")"
check_contains "  ... saying so" "expired" "$T/body"
GONE=$("$VIGILCTL" token create --role admin --name gone 2>/dev/null | tail -n 1)
check_eq "a token works ..." 200 "$(status "$API/v1/audit" -H "Authorization: Bearer $GONE")"
"$VIGILCTL" token revoke gone >/dev/null
check_eq "... and is refused on the next request after revocation" 401 "$(status "$API/v1/audit" -H "Authorization: Bearer $GONE")"
check_eq "a viewer reading the audit log: 403" 403 "$(status "$API/v1/audit" -H "Authorization: Bearer $VIEWER")"
check_contains "  ... naming the role needed" "admin role" "$T/body"
check_eq "the public endpoints need no token" "200 200 200" \
    "$(status "$API/healthz") $(status "$API/readyz") $(status "$API/metrics")"

# ---- metrics ----
curl -sS "$API/metrics" >"$T/metrics.txt"
check "promtool check metrics accepts /metrics" bash -c "promtool check metrics <'$T/metrics.txt' 2>&1 | tee /dev/stderr | (! grep -q .)"
check "API requests are counted by route" grep -qE '^vigil_api_requests_total\{route="GET /v1/incidents",status="2xx"\} [1-9]' "$T/metrics.txt"
check "failed token attempts are counted" bash -c "grep -E '^vigil_api_auth_failures_total [1-9]' '$T/metrics.txt'"

# ---- the access log ----
check "each answer is logged with its route, status and token" \
    grep -q '"msg":"api request","route":"GET /v1/incidents","status":200,"ms":[0-9.]*,"token":"inc-viewer"' "$T/one.log"
check "an unmatched path is logged as such, not as the text sent" \
    bash -c "grep -q '\"route\":\"unmatched\",\"status\":404' '$T/one.log' && ! grep -q 'v1/nothing' '$T/one.log'"

# ---- database outage ----
pg_stop
check_eq "database down: readyz 503" 503 "$(status "$API/readyz")"
check_eq "database down: a query gets 503" 503 "$(curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' -H "Authorization: Bearer $VIEWER" "$API/v1/incidents")"
check_contains "  ... with Retry-After" "Retry-After:" "$T/hdr"
check_eq "healthz still 200 (the process is alive)" 200 "$(status "$API/healthz")"
check "a probe that fails is logged (readyz 503)" \
    grep -q '"msg":"api request","route":"GET /readyz","status":503' "$T/one.log"
check "  ... one that passes is not, at info (a HEALTHCHECK every 10 s)" \
    bash -c "! grep -qE '\"route\":\"GET /(readyz|healthz)\",\"status\":200' '$T/one.log'"
pg_restart
sleep 1
check_eq "database back: queries work again" 200 "$(status "$API/v1/incidents?limit=1" -H "Authorization: Bearer $VIEWER")"
check_eq "database back: ready" 200 "$(status "$API/readyz")"

# ---- the failure budget (last: it refuses this address's bad tokens for a minute) ----
for _ in $(seq 1 8); do status "$API/v1/incidents" -H "Authorization: Bearer wrong" >/dev/null; done
check_eq "failed attempts past the budget: 429" 429 "$(status "$API/v1/incidents" -D "$T/hdr" -H "Authorization: Bearer wrong")"
check_contains "  ... with Retry-After" "Retry-After:" "$T/hdr"
check_eq "  ... but a good token is still served (test_token_budget.sh has the boundary)" 200 \
    "$(status "$API/v1/incidents" -H "Authorization: Bearer $VIEWER")"

check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
