#!/usr/bin/env bash
# vigilctl incidents / incidents groups / devices: filters, relative and
# RFC 3339 times, the --json shapes of the operator API, group counts,
# readable tables, bad values (exit 2 saying what to do), database down
# (exit 4).
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null || { echo "migrate failed" >&2; exit 1; }

sql "INSERT INTO devices (id, device_class, status, firmware_version, last_seen_at, last_address) VALUES
  ('dev-a', 'thermostat', 'active', '1.0.0', now(), '10.0.0.1'),
  ('dev-b', 'camera', 'active', '1.1.0', now() - interval '2 days', '10.0.0.2'),
  ('dev-c', 'camera', 'quarantined', '1.1.0', NULL, NULL),
  ('lab-1', 'thermostat', 'decommissioned', NULL, NULL, NULL)"
# inc ID DEVICE SOURCE TYPE SEVERITY RECEIVED_AT FIRMWARE COMPONENT DETAILS
inc() {
    sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, received_at,
           firmware_version, component, details)
         VALUES ('$1', $2, '$3', '$4', '$5', $6 - interval '1 second', $6, $7, $8, '$9')"
}
U=00000000-0000-4000-8000-00000000000
inc "${U}1" "'dev-a'" device crash error "now() - interval '10 minutes'" "'1.0.0'" "'main'" '{"pc":"0x0800abcd"}'
inc "${U}2" "'dev-b'" device crash critical "now() - interval '30 minutes'" "'1.1.0'" "'main'" '{"pc":"0x0800abcd"}'
inc "${U}3" "'dev-a'" device crash error "now() - interval '3 hours'" "'1.0.0'" "'main'" '{"pc":"0x0800abcd"}'
inc "${U}4" "'dev-a'" device watchdog_reset warning "now() - interval '5 hours'" "'1.0.0'" "'wdt'" '{"reason":"task main starved for 5000 ms while waiting on the flash mutex"}'
inc "${U}5" NULL server auth_failure warning "now() - interval '2 days'" NULL NULL '{"reason":"unknown_ca"}'
inc "${U}6" "'dev-c'" device tamper critical "now() - interval '10 days'" "'1.1.0'" "'case'" '{"code":7}'
inc "${U}7" "'dev-b'" device x-brownout info "'2026-01-15T10:00:00Z'::timestamptz" "'1.1.0'" "'power'" '{"code":"vdd_low"}'
# a component with a terminal escape sequence, as hostile data would have
sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, received_at, component, details)
     VALUES ('${U}8', 'dev-c', 'device', 'x-evil', 'info', now() - interval '1 hour', now() - interval '1 hour',
             E'red\x1b[31mX', '{}')"

# check_json reads $T/out, and its own run replaces it: table/again keep a copy.
table() { cp "$T/out" "$T/table"; }
again() { cp "$T/last.json" "$T/out"; }
ids() { python3 -c "import json; print(' '.join(i['id'][-1] for i in json.load(open('$T/out'))))"; }

# ---- listing and filters ----
check "incidents" "$VIGILCTL" incidents
table
check_contains "a table with a header" "RECEIVED_AT" "$T/table"
check_contains "group column" "GROUP" "$T/table"
check "no details in the table" bash -c "! grep -q 0x0800abcd '$T/table'"
check "no control characters in the table" bash -c "! grep -q $'\x1b' '$T/table'"
check_contains "they are shown as ?" "red?[31mX" "$T/table"
check_eq "one line per incident and the header" "9" "$(wc -l <"$T/table")"
check_eq "lines stay readable (under 140 columns)" "" "$(awk 'length > 140' "$T/table")"
check "timestamps to the second in the table" grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z  ' "$T/table"

check "incidents --json" "$VIGILCTL" incidents --json
check_json "an array of full incident objects, newest first" \
    "len(d) == 8 and set(d[0]) == {'seq','id','device_id','source','type','severity','occurred_at','received_at','firmware_version','component','details','source_address','group','quarantined'} and [i['received_at'] for i in d] == sorted((i['received_at'] for i in d), reverse=True)"
again
check_json "details are objects, seq an integer, received_at with microseconds" \
    "d[0]['details'] == {'pc':'0x0800abcd'} and isinstance(d[0]['seq'], int) and len(d[0]['received_at']) == 27 and len(d[0]['group']) == 16"
check "--device dev-a --since 1h" "$VIGILCTL" incidents --device dev-a --since 1h --json
check_eq "only dev-a's last hour" "1" "$(ids)"
check "--device dev-a --since 4h" "$VIGILCTL" incidents --device dev-a --since 4h --json
check_eq "relative --since 4h" "1 3" "$(ids)"
check "--since 240m" "$VIGILCTL" incidents --device dev-a --since 240m --json
check_eq "minutes" "1 3" "$(ids)"
check "--since 1d --until 2h" "$VIGILCTL" incidents --since 1d --until 2h --json
check_eq "relative --until" "3 4" "$(ids)"
check "--severity critical" "$VIGILCTL" incidents --severity critical --json
check_eq "critical ones" "2 6" "$(ids)"
check "--type crash --firmware 1.1.0" "$VIGILCTL" incidents --type crash --firmware 1.1.0 --json
check_eq "type and firmware" "2" "$(ids)"
check "--source server" "$VIGILCTL" incidents --source server --json
check_json "server events have no device" "len(d) == 1 and d[0]['source'] == 'server' and d[0]['device_id'] is None"
check "RFC 3339 range" "$VIGILCTL" incidents --since 2026-01-15T10:00:00Z --until 2026-01-15T10:00:01Z --json
check_eq "since inclusive" "7" "$(ids)"
check "RFC 3339 with offsets" "$VIGILCTL" incidents --since 2026-01-15T10:59:59.5+01:00 --until 2026-01-15T12:00:00+02:00 --json
check_eq "offsets are honoured (until 10:00:00Z excludes 10:00:00Z)" "" "$(ids)"
check "RFC 3339 with offsets" "$VIGILCTL" incidents --since 2026-01-15T10:59:59.5+01:00 --until 2026-01-15T12:00:00.000001+02:00 --json
check_eq "offsets and fractions are honoured" "7" "$(ids)"
check "x- types" "$VIGILCTL" incidents --type x-brownout --json
check_eq "custom type" "7" "$(ids)"
group=$(sql "SELECT fingerprint FROM incidents WHERE id = '${U}1'")
check_eq "rows written by SQL get their group from the trigger" "0" \
    "$(sql "SELECT count(*) FROM incidents WHERE fingerprint IS DISTINCT FROM vigil_incident_group(type, component, details)")"
check_exit 1 "a group cannot be taken away" "$PSQL" "$VIGIL_DATABASE_URL" -Atqc \
    "UPDATE incidents SET fingerprint = NULL WHERE id = '${U}1'"
check_contains "the constraint says so" "incidents_fingerprint_set" "$T/err"
check "--group" "$VIGILCTL" incidents --group "$(tr a-f A-F <<<"$group")" --json
check_eq "the group's three crashes (hex in any case)" "1 2 3" "$(ids)"
check "--limit 2" "$VIGILCTL" incidents --limit 2
check_eq "two rows and the header" "3" "$(wc -l <"$T/out")"
check_contains "says where the next page starts" "next page: --after " "$T/err"
check "unknown device: empty" "$VIGILCTL" incidents --device nobody --json
check_eq "an empty array" "[]" "$(tr -d ' \n' <"$T/out")"

# ---- bad values: exit 2, saying what to do, before touching the database ----
bad() {  # bad NAME MESSAGE ARGS...
    local name=$1 msg=$2; shift 2
    check_exit 2 "$name: exit 2" "$VIGILCTL" "$@" --database-url "postgresql:///nowhere?host=/nonexistent"
    check_contains "$name: message" "$msg" "$T/err"
}
bad "--severity fatal" "--severity must be info, warning, error or critical" incidents --severity fatal
bad "--source cloud" "--source must be device or server" incidents --source cloud
bad "--since yesterday" "neither an RFC 3339 time nor a duration" incidents --since yesterday
bad "--since 5x" "15m, 1h, 7d" incidents --since 5x
bad "--since without zone" "RFC 3339" incidents --since 2026-01-15T10:00:00
bad "--since on Feb 30" "RFC 3339" incidents --since 2026-02-30T10:00:00Z
bad "--until before --since" "must be before --until" incidents --since 1h --until 2h
bad "--device with a slash" "not a device id" incidents --device a/b
bad "--type with spaces" "not an incident type" incidents --type 'no such'
bad "--firmware with a space" "printable ASCII" incidents --firmware '1 0'
bad "--group too short" "16 hex digits" incidents --group abc
bad "--limit 0" "from 1 to 1000" incidents --limit 0
bad "--limit 1001" "from 1 to 1000" incidents --limit 1001
bad "--limit x" "from 1 to 1000" incidents --limit x
bad "unknown option" "unknown option" incidents --colour
bad "groups --limit 501" "from 1 to 500" incidents groups --limit 501
bad "groups --severity (not a groups filter)" "unknown option" incidents groups --severity error
check_exit 2 "unknown subcommand: exit 2" "$VIGILCTL" incidents frob
check_contains "named" "unknown command 'incidents frob'" "$T/err"

# ---- groups ----
check "incidents groups" "$VIGILCTL" incidents groups
table
check_contains "a table" "SIGNATURE" "$T/table"
check_contains "the crash group" "0x0800abcd" "$T/table"
check "signatures that are too long are cut" grep -q 'task main starved.*\.\.\.' "$T/table"
check_eq "lines stay readable (under 140 columns)" "" "$(awk 'length > 140' "$T/table")"
check "incidents groups --json" "$VIGILCTL" incidents groups --json
check_json "groups of the last 7 days by default, most frequent first" \
    "[g['type'] for g in d][0] == 'crash' and len(d) == 4 and 'tamper' not in [g['type'] for g in d] and 'x-brownout' not in [g['type'] for g in d]"
again
check_json "the crash group: 3 reports, 2 devices, two firmware versions" \
    "d[0]['group'] == '$group' and d[0]['count'] == 3 and d[0]['devices'] == 2 and d[0]['signature'] == '0x0800abcd' and sorted(d[0]['firmware_versions']) == ['1.0.0','1.1.0'] and set(d[0]) == {'group','type','component','signature','count','devices','first_seen','last_seen','firmware_versions'}"
check "groups --since 30d" "$VIGILCTL" incidents groups --since 30d --json
check_json "30 days include the tamper report" "'tamper' in [g['type'] for g in d] and len(d) == 5"
check "groups --device dev-a --since 2h" "$VIGILCTL" incidents groups --device dev-a --since 2h --json
check_json "one device, recent: one crash" "len(d) == 1 and d[0]['count'] == 1 and d[0]['devices'] == 1"
check "groups --type watchdog_reset" "$VIGILCTL" incidents groups --type watchdog_reset --json
check_json "signature from details.reason" "len(d) == 1 and d[0]['signature'].startswith('task main starved')"
check "groups --limit 1" "$VIGILCTL" incidents groups --limit 1 --json
check_json "limit" "len(d) == 1"

# ---- devices ----
check "devices" "$VIGILCTL" devices
table
check_contains "a table" "LAST_SEEN_AT" "$T/table"
check_eq "four devices and the header" "5" "$(wc -l <"$T/table")"
check "devices --status quarantined --json" "$VIGILCTL" devices --status quarantined --json
check_json "filtered by status" "[x['id'] for x in d] == ['dev-c']"
check "devices --class camera --prefix dev --limit 1 --json" "$VIGILCTL" devices --class camera --prefix dev --limit 1 --json
check_json "class, prefix, limit" "[x['id'] for x in d] == ['dev-b']"
check_exit 2 "devices --status bad: exit 2" "$VIGILCTL" devices --status gone
check_contains "says which" "active, quarantined or decommissioned" "$T/err"

for c in "incidents" "incidents groups" "devices"; do
    # shellcheck disable=SC2086
    check "vigilctl $c --help" "$VIGILCTL" $c --help
    check_contains "vigilctl $c --help has usage" "Usage: vigilctl $c" "$T/out"
done

# ---- database down ----
pg_stop >/dev/null 2>&1
check_exit 4 "incidents with the database down: exit 4" "$VIGILCTL" incidents --since 1h
check_contains "says what to check" "PostgreSQL running" "$T/err"
check_exit 4 "incidents groups with the database down: exit 4" "$VIGILCTL" incidents groups
check_exit 4 "devices with the database down: exit 4" "$VIGILCTL" devices
finish
