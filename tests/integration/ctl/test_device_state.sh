#!/usr/bin/env bash
# vigilctl device quarantine|release|decommission: the status change of
# the operator API (db_device_transition), with the same audit rows
# (checked through `vigilctl audit --json` and psql) and NOTIFY; a no-op
# writes nothing; decommissioning is final; `device show` says who
# quarantined the device, when and why; `vigilctl audit` filters and pages.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/../listen.sh"
pg_start
setup_ca
D="$T/d"
mkdir -p "$D"
"$VIGILCTL" device create --id dev-q --out-dir "$D" >/dev/null 2>&1
"$VIGILCTL" device create --id dev-x --out-dir "$D" >/dev/null 2>&1
me=$(id -un)

check "device quarantine --help" "$VIGILCTL" device quarantine --help
check_contains "says what quarantine does" "cannot renew" "$T/out"
check_contains "documents the exit codes" "Exit codes: 0 done, 1 no such device" "$T/out"
check "device release --help" "$VIGILCTL" device release --help
check "device decommission --help" "$VIGILCTL" device decommission --help
check_contains "says it closes the connections" "closes its live connections" "$T/out"
check "device --help lists them" "$VIGILCTL" device --help
check_contains "quarantine listed" "quarantine" "$T/out"
check_contains "decommission listed" "decommission" "$T/out"

# ---- quarantine ----
listen_start
check "quarantine with a reason" "$VIGILCTL" device quarantine dev-q --reason "camera case opened at site 4"
check_contains "says what it did" "device dev-q quarantined" "$T/out"
listen_mark after-quarantine
check_contains "the NOTIFY every vigild follows" '"event" : "device_status", "device_id" : "dev-q", "status" : "quarantined"' "$T/notify.txt"
check_eq "the status in the database" "quarantined" "$(sql "SELECT status FROM devices WHERE id='dev-q'")"
check_eq "one audit row, as the API writes it (psql)" \
    "os|$me|device.quarantine|dev-q|{\"to\": \"quarantined\", \"from\": \"active\", \"reason\": \"camera case opened at site 4\"}" \
    "$(sql "SELECT actor_kind, actor, action, device_id, details FROM audit_log WHERE action='device.quarantine'")"
check "audit --json --action device.quarantine" "$VIGILCTL" audit --json --action device.quarantine
check_json "the row through vigilctl audit" \
    "len(d)==1 and d[0]['actor_kind']=='os' and d[0]['actor']=='$me' and d[0]['device_id']=='dev-q' and d[0]['details']=={'from':'active','to':'quarantined','reason':'camera case opened at site 4'} and d[0]['at'].endswith('Z') and isinstance(d[0]['id'], int)"

check "device show of a quarantined device" "$VIGILCTL" device show dev-q
check_contains "the reason" "camera case opened at site 4" "$T/out"
check_contains "who" "quarantined_by       os:$me" "$T/out"
check_contains "when" "quarantined_at       20" "$T/out"
check "device show --json" "$VIGILCTL" device show dev-q --json
check_json "reason, who and when in JSON" \
    "d['status']=='quarantined' and d['quarantine_reason']=='camera case opened at site 4' and d['quarantined_by']=='os:$me' and d['quarantined_at'].endswith('Z') and len(d['certificates'])==1"

check "quarantine again (no-op)" "$VIGILCTL" device quarantine dev-q --json
check_json "unchanged, changed false" "d['status']=='quarantined' and d['changed'] is False"
check_eq "no second audit row" "1" "$(sql "SELECT count(*) FROM audit_log WHERE action='device.quarantine'")"

# ---- release ----
check "release" "$VIGILCTL" device release dev-q --json
check_json "active again, changed" "d['status']=='active' and d['changed'] is True and d['id']=='dev-q'"
check_eq "the release's audit row (psql)" "os|$me|{\"to\": \"active\", \"from\": \"quarantined\"}" \
    "$(sql "SELECT actor_kind, actor, details FROM audit_log WHERE action='device.release' AND device_id='dev-q'")"
check "device show of an active device" "$VIGILCTL" device show dev-q --json
check_json "no quarantine fields" "'quarantine_reason' not in d and d['status']=='active'"

# ---- decommission ----
check "decommission" "$VIGILCTL" device decommission dev-x --reason "returned to vendor"
check_contains "says the connections close" "its connections are closed" "$T/out"
listen_mark after-decommission
check_contains "its NOTIFY" '"device_id" : "dev-x", "status" : "decommissioned"' "$T/notify.txt"
listen_stop
check_eq "the decommission's audit row (psql)" "os|$me|device.decommission|{\"to\": \"decommissioned\", \"from\": \"active\", \"reason\": \"returned to vendor\"}" \
    "$(sql "SELECT actor_kind, actor, action, details FROM audit_log WHERE device_id='dev-x' AND action LIKE 'device.decom%'")"
check "audit --device dev-x --json" "$VIGILCTL" audit --device dev-x --json
check_json "newest first: decommission, then the enrollment" \
    "[r['action'] for r in d]==['device.decommission','device.enroll'] and d[0]['id']>d[1]['id']"
check "device show of a decommissioned device" "$VIGILCTL" device show dev-x --json
check_json "who and why" "d['decommission_reason']=='returned to vendor' and d['decommissioned_by']=='os:$me'"
check_exit 1 "release of a decommissioned device is refused" "$VIGILCTL" device release dev-x
check_contains "says it is final" "decommissioning is final" "$T/err"
check_exit 1 "quarantine of it too" "$VIGILCTL" device quarantine dev-x
check_eq "still decommissioned, no other audit row" "decommissioned|1" \
    "$(sql "SELECT status, (SELECT count(*) FROM audit_log WHERE device_id='dev-x' AND action<>'device.enroll') FROM devices WHERE id='dev-x'")"
check "decommission again (no-op)" "$VIGILCTL" device decommission dev-x
check_contains "says nothing changed" "already decommissioned: nothing changed" "$T/out"

# ---- refusals and usage ----
check_exit 1 "an unknown device" "$VIGILCTL" device quarantine nope-1
check_contains "names it and says where to look" "no device nope-1 (see \`vigilctl device list\`)" "$T/err"
check_exit 2 "no id" "$VIGILCTL" device quarantine
check_contains "says what is missing" "missing device id" "$T/err"
check_exit 2 "a bad id" "$VIGILCTL" device quarantine 'bad id'
check_exit 2 "a reason with a control character" "$VIGILCTL" device quarantine dev-q --reason "$(printf 'a\tb')"
check_contains "says what a reason may be" "--reason must be 1 to 256 characters" "$T/err"
check_exit 2 "an empty reason" "$VIGILCTL" device quarantine dev-q --reason ""
check_exit 4 "no database" env -u VIGIL_DATABASE_URL "$VIGILCTL" device quarantine dev-q
check_eq "nothing was written by the refusals" "active" "$(sql "SELECT status FROM devices WHERE id='dev-q'")"

# ---- vigilctl audit: filters, paging ----
sql "INSERT INTO audit_log (actor_kind, actor, action, device_id, details)
     SELECT 'token', 'ops-bot', 'test.bulk', 'dev-q', jsonb_build_object('n', g) FROM generate_series(1, 250) g"
check "audit (table)" "$VIGILCTL" audit --limit 5
check_eq "a header and five rows" "6" "$(wc -l <"$T/out")"
check_contains "the header" "ID" "$T/out"
check_contains "the next page's cursor" "next page: --after " "$T/err"
check "audit --actor ops-bot --limit 100 --json" "$VIGILCTL" audit --actor ops-bot --limit 100 --json
ids=$(python3 -c "import json; print(','.join(str(r['id']) for r in json.load(open('$T/out'))))")
cursor=$(sed -n 's/^next page: --after //p' "$T/err")
check_json "100 of the actor's rows" "len(d)==100 and all(r['actor']=='ops-bot' for r in d)"
check "the next page" "$VIGILCTL" audit --actor ops-bot --limit 100 --after "$cursor" --json
check_json "the next 100, older, no repeat" "len(d)==100 and max(r['id'] for r in d) < min(int(x) for x in '$ids'.split(','))"
check "audit --all --actor ops-bot --json" "$VIGILCTL" audit --all --actor ops-bot --json
check_json "every row, once" "len(d)==250 and len(set(r['id'] for r in d))==250"
check "audit --since 1h --action device.release" "$VIGILCTL" audit --since 1h --action device.release --json
check_json "the release" "len(d)==1 and d[0]['device_id']=='dev-q'"
check "audit --until of an old time" "$VIGILCTL" audit --until 2020-01-01T00:00:00Z --json
check_json "nothing" "d==[]"
check_exit 2 "a bad --after" "$VIGILCTL" audit --after abc
check_contains "says what a cursor is" "is not a row id" "$T/err"
check_exit 2 "a bad --since" "$VIGILCTL" audit --since yesterday
check_exit 2 "--all with --after" "$VIGILCTL" audit --all --after 5
check "audit --help" "$VIGILCTL" audit --help
check_contains "documents --after" "--after ID" "$T/out"
finish
