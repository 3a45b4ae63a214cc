#!/usr/bin/env bash
# The ingest statement is planned once per connection, not once per flush.
# With plan_cache_mode at its default, PostgreSQL planned it again for every
# group commit: its generic plan (array parameters of unknown length) looks
# dearer than a custom one, so it never switched, and a flush of one report
# cost PostgreSQL 40% more CPU (docs/PERFORMANCE.md). pg_stat_statements,
# with track_planning, counts the plans and the calls of each statement:
# 40 reports sent one at a time are 40 flushes, each its own call, planned
# at most once on each of the ingest connections.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
sql "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
pg_stop >/dev/null && pg_restart || { echo "cannot restart PostgreSQL" >&2; exit 1; }
sql "ALTER SYSTEM SET pg_stat_statements.track_planning = on" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
sql "CREATE EXTENSION pg_stat_statements" >/dev/null
check_eq "pg_stat_statements counts plans" on "$(sql 'SHOW pg_stat_statements.track_planning')"
setup_ca
port=$(free_port)
vigild_start main "$port" VIGIL_WORKERS=1
"$VIGILCTL" device create --id planner --out-dir "$T/d" >/dev/null 2>&1

send_reports() {
    local i answer
    for i in $(seq 1 40); do
        answer=$(dcurl "$T/d" planner -H 'content-type: application/json' --data "$(report)" \
            "https://127.0.0.1:$port/v1/incidents") || return 1
        case "$answer" in *'"stored"'*) ;; *) echo "report $i: $answer" >&2; return 1 ;; esac
    done
}
check "40 reports, one at a time, are stored" send_reports
check_eq "they are 40 incidents" 40 "$(sql 'SELECT count(*) FROM incidents')"
# calls and plans of the ingest statement (the one inserting into incident_keys)
stats=$(sql "SELECT sum(calls) || ' ' || sum(plans) FROM pg_stat_statements
             WHERE query LIKE '%INSERT INTO incident_keys%'")
echo "ingest statement: calls and plans: $stats"
calls=${stats% *} plans=${stats#* }
check "the ingest statement ran once per report (40 flushes)" test "${calls:-0}" -ge 40
# two lanes, one worker: at most two connections prepare it
check "and was planned once or twice, once per ingest connection" test "${plans:-0}" -ge 1 -a "${plans:-99}" -le 2
vigild_stop main
check_eq "vigild exits 0" "0" "$?"
finish
