#!/usr/bin/env bash
# Schema migrations: a fresh database, a second run that applies nothing,
# two runs at once, and the audit log refusing changes.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start

check "migrate a fresh database" "$VIGILCTL" db migrate
check_contains "first run applies 0001" "applied 0001_init" "$T/out"
check "migrate again" "$VIGILCTL" db migrate
check_contains "second run applies nothing" "0 applied now" "$T/out"

# Two at once on a second, empty database.
"$PSQL" "$VIGIL_DATABASE_URL" -qc "CREATE DATABASE vigil2" >/dev/null
url2=${VIGIL_DATABASE_URL/\/vigil\?/\/vigil2?}
"$VIGILCTL" db migrate --database-url "$url2" >"$T/a.out" 2>&1 & a=$!
"$VIGILCTL" db migrate --database-url "$url2" >"$T/b.out" 2>&1 & b=$!
wait $a; ra=$?; wait $b; rb=$?
check_eq "concurrent migrations both succeed" "0 0" "$ra $rb"
check_eq "each migration recorded once" "1" \
    "$("$PSQL" "$url2" -Atqc "SELECT count(*) FROM schema_migrations WHERE name = '0001_init'")"
check_eq "exactly one run applied it" "1" "$(cat "$T/a.out" "$T/b.out" | grep -c 'applied 0001_init')"

sql "INSERT INTO audit_log (actor_kind, actor, action) VALUES ('os', 'test', 'test.row')"
check_exit 1 "audit_log refuses UPDATE" "$PSQL" "$VIGIL_DATABASE_URL" -v ON_ERROR_STOP=1 -qc "UPDATE audit_log SET actor = 'x'"
check_contains "with a reason" "append-only" "$T/err"
check_exit 1 "audit_log refuses DELETE" "$PSQL" "$VIGIL_DATABASE_URL" -v ON_ERROR_STOP=1 -qc "DELETE FROM audit_log"
check_exit 1 "audit_log refuses TRUNCATE" "$PSQL" "$VIGIL_DATABASE_URL" -v ON_ERROR_STOP=1 -qc "TRUNCATE audit_log"

check "incidents are partitioned by month" test "$(sql "SELECT count(*) FROM pg_inherits WHERE inhparent = 'incidents'::regclass")" -ge 3
sql "INSERT INTO incident_keys (device_id, report_id) VALUES ('d', '3baf6bf0-33af-4ed4-90a5-4632caeb8641')"
check_exit 1 "a report is unique per device and id" "$PSQL" "$VIGIL_DATABASE_URL" -v ON_ERROR_STOP=1 -qc \
    "INSERT INTO incident_keys (device_id, report_id) VALUES ('d', '3baf6bf0-33af-4ed4-90a5-4632caeb8641')"

pg_stop
check_exit 4 "database down: exit 4" "$VIGILCTL" db migrate
check_contains "and says so" "cannot connect to PostgreSQL" "$T/err"
check_exit 4 "no database given: exit 4" env -u VIGIL_DATABASE_URL "$VIGILCTL" db migrate --database-url ""
finish
