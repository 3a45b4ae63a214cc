#!/usr/bin/env bash
# A PostgreSQL outage is one warning when it begins (with libpq's error)
# and one info line when it ends (with how long it lasted), whatever the
# number of connections that see it, and /metrics counts it
# (vigil_database_up, vigil_database_outages_total,
# vigil_database_outage_seconds_total). The periodic ingest summary line
# says what ingest did, its numbers typed as JSON numbers.
. "$(dirname "$0")/../../lib/harness.sh"
device_server VIGIL_LOG_SUMMARY_INTERVAL=1s VIGIL_RETRY_AFTER=1s
LOG="$T/main.log"
"$VIGILCTL" device create --id out-1 --out-dir "$D" >/dev/null 2>&1
VIEWER=$("$VIGILCTL" token create --role viewer --name outage-viewer 2>/dev/null | tail -n 1)
api_get() {  # prints the HTTP status of GET /v1/incidents on the operator port
    curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $VIEWER" \
        "http://$(vigild_api main)/v1/incidents?limit=1"
}
send() {  # send [ID]: prints the HTTP status of one report
    dcurl "$D" out-1 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "$(report "$@")" "$U/v1/incidents"
}
metric() { curl -sS --max-time 10 "http://$(vigild_api main)/metrics" | sed -n "s/^$1 \([0-9.]*\)\$/\1/p"; }
# until CMD...: CMD succeeds within 20 s
until_ok() { for _ in $(seq 1 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; "$@"; }
lines() { grep -c "\"msg\":\"$1\"" "$LOG"; }
is() { [ "$("${@:2}")" = "$1" ]; }
# summary PYTHON-EXPR: some "ingest summary" line of the log holds (bound to s)
summary() {
    python3 - "$LOG" "$1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"ingest summary"' in l]
sys.exit(0 if any(eval(sys.argv[2], {'s': s}) for s in rows) else 1)
PY
}

id=$(cat /proc/sys/kernel/random/uuid)
check_eq "a report is stored" "200" "$(send "$id")"
check_eq "  ... and sent again, a duplicate" "200" "$(send "$id")"
check "the ingest summary line comes within its interval" until_ok summary "s['stored'] >= 1"
check "  ... its numbers are JSON numbers" summary \
    "all(type(s[k]) is int for k in ('stored','duplicates','rejected','retries','flushes','failed_flushes')) and type(s['seconds']) in (int, float) and type(s['commit_p99_ms']) in (int, float) and type(s['commit_p99_over']) is bool"
check "  ... and it counted the duplicate" until_ok summary "s['duplicates'] >= 1"
check "'vigild started' gives workers as a number" \
    python3 -c "import json,sys; l=[json.loads(x) for x in open('$LOG') if 'vigild started' in x][0]; sys.exit(0 if l['workers'] == 2 else 1)"
check_eq "/metrics: vigil_database_up 1" "1" "$(metric vigil_database_up)"
check_eq "/metrics: no outage yet" "0" "$(metric vigil_database_outages_total)"
# the operator API keeps its database connection between requests: one
# made before the outage says nothing of the database until it is used
check_eq "the operator API answers before the outage" "200" "$(api_get)"

# -- the outage: every connection (2 workers' ingest lanes, registry and
# artifact connections, the registry, update and maintenance ones) loses
# the database, and each tries again and again while it is down
pg_stop
check "vigild sees the outage" until_ok is 0 metric vigil_database_up
check_eq "  ... and answers a report with 503" "503" "$(send)"
check_eq "  ... and the operator API with 503" "503" "$(api_get)"
check_eq "  ... every time (no warning line per request)" "503 503 503" "$(api_get) $(api_get) $(api_get)"
check_eq "  ... and a connection kept from before the outage does not end it" "0" \
    "$(metric vigil_database_up)"
check_eq "  ... nor says the database is back" "0" "$(lines "database back")"
sleep 3    # several reconnection rounds of every connection
check "vigild survives the outage" kill -0 "$(vigild_pid main)"
check_eq "/metrics: one outage" "1" "$(metric vigil_database_outages_total)"
pg_restart
check "vigild sees PostgreSQL back" until_ok is 1 metric vigil_database_up
check "a report is stored again" until_ok is 200 send
check "the operator API answers again" until_ok is 200 api_get
# every request stored was counted waiting for its flush, each flush once
waits=$(metric vigil_ingest_queue_wait_seconds_count) flushes=$(metric vigil_ingest_commit_seconds_count)
check "/metrics: each report request's queue wait ($waits, $flushes flushes)" \
    test "${waits:-0}" -ge 2 -a "${waits:-0}" -ge "${flushes:-1}"
check_eq "exactly one 'database unavailable' warning" "1" "$(lines "database unavailable")"
check_eq "exactly one 'database back' line" "1" "$(lines "database back")"
check "  ... the warning has libpq's error" python3 -c "
import json,sys
l=[json.loads(x) for x in open('$LOG') if '\"database unavailable\"' in x][0]
sys.exit(0 if l['level'] == 'warn' and l['error'] else 1)"
check "  ... the info line how long it was down, as a number" python3 -c "
import json,sys
l=[json.loads(x) for x in open('$LOG') if '\"database back\"' in x][0]
sys.exit(0 if l['level'] == 'info' and type(l['down_seconds']) is float and 2 < l['down_seconds'] < 60 else 1)"
check_eq "no other warning or error line than the outage's" "1" "$(grep -cE '"level":"(warn|error)"' "$LOG")"
check "every line of the log is a JSON object (no libpq notice on stderr)" python3 -c "
import json
for l in open('$LOG'):
    assert isinstance(json.loads(l), dict), l"
check_eq "/metrics: still one outage" "1" "$(metric vigil_database_outages_total)"
check "/metrics: the outage's seconds" python3 -c "import sys; sys.exit(0 if float('$(metric vigil_database_outage_seconds_total)') > 2 else 1)"
check "the summary counts the 503 as a retry" until_ok summary "s['retries'] >= 1"
check "SIGTERM: vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$LOG'"
finish
