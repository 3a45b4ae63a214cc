#!/usr/bin/env bash
# vigil_update_offered, the write vigild makes before it first answers a
# device a rollout's manifest, re-checks vigild's decision against what is
# committed: a view that a NOTIFY has not reached yet (its LISTEN
# connection down, a reload in flight) must not let out the manifest of a
# revoked or expired release, of a paused, halted, aborted or superseded
# rollout, or reach a quarantined, decommissioned, untagged, other-class or
# out-of-bucket device. Each of those raises and records nothing; an
# eligible device is recorded once.
. "$(dirname "$0")/../../lib/harness.sh"
release_db_start
head -c 3000 /dev/urandom >"$T/fw.bin"
mk() { "$VIGILCTL" release create --artifact "$T/fw.bin" --class "$1" --version "$2" --security-version 1 ${3:+--expires "$3"} >/dev/null; }
mk sensor 1.0.0
mk sensor 1.1.0
mk other 1.0.0

sql "INSERT INTO devices (id, device_class) SELECT 'dev-' || i, 'sensor' FROM generate_series(1, 200) i;
     INSERT INTO devices (id, device_class) VALUES ('oth-1', 'other')" >/dev/null
"$VIGILCTL" rollout start sensor/1.0.0 --percent 50 >/dev/null
# in ROLLOUT: an active sensor the hash puts in; out: one it leaves out
in_bucket() { sql "SELECT id FROM devices WHERE device_class = 'sensor' AND status = 'active' AND tags = '{}' AND vigil_rollout_bucket($1, id) < (SELECT basis_points FROM rollouts WHERE id = $1) AND id NOT IN (SELECT device_id FROM rollout_devices) ORDER BY id LIMIT 1"; }
out_bucket() { sql "SELECT id FROM devices WHERE device_class = 'sensor' AND vigil_rollout_bucket($1, id) >= (SELECT basis_points FROM rollouts WHERE id = $1) ORDER BY id LIMIT 1"; }
offer() { "$PSQL" "$VIGIL_DATABASE_URL" -Atqc "SELECT vigil_update_offered($1, '$2')"; }
offers() { sql "SELECT count(*) FROM rollout_devices"; }

d=$(in_bucket 1)
check "an eligible device is recorded" offer 1 "$d"
check_eq "offered once" "1|offered" "$(sql "SELECT count(*), min(state) FROM rollout_devices WHERE rollout_id = 1 AND device_id = '$d'")"
check "a second offer to it changes nothing" offer 1 "$d"
check_eq "still one row" "1" "$(offers)"

check_fails "a device out of the bucket" offer 1 "$(out_bucket 1)"
check_contains "says why" "not in rollout 1" "$T/err"
check_fails "a device of another class" offer 1 oth-1
check_contains "says why" "class other" "$T/err"
check_fails "an unknown device" offer 1 nobody
check_fails "an unknown rollout" offer 99 "$d"
q=$(in_bucket 1)
sql "UPDATE devices SET status = 'quarantined' WHERE id = '$q'" >/dev/null
check_fails "a quarantined device" offer 1 "$q"
check_contains "says why" "quarantined" "$T/err"
sql "UPDATE devices SET status = 'decommissioned' WHERE id = '$q'" >/dev/null
check_fails "a decommissioned device" offer 1 "$q"
check_eq "the refusals recorded nothing" "1" "$(offers)"

"$VIGILCTL" rollout pause 1 >/dev/null
check_fails "a paused rollout" offer 1 "$(in_bucket 1)"
check_contains "says why" "rollout 1 is paused" "$T/err"
sql "SELECT vigil_rollout_move(1, 'running', 'os', 't'), vigil_rollout_move(1, 'halted', 'server', 'vigild')" >/dev/null
check_fails "a halted rollout" offer 1 "$(in_bucket 1)"
check_contains "says why" "rollout 1 is halted" "$T/err"
"$VIGILCTL" rollout resume 1 >/dev/null
check "resumed, an eligible device is recorded again" offer 1 "$(in_bucket 1)"

"$VIGILCTL" rollout start sensor/1.1.0 --percent 100 --group canary >/dev/null
check_fails "a superseded rollout" offer 1 "$(in_bucket 1)"
check_contains "says why" "rollout 1 is superseded" "$T/err"
check_fails "a device without the rollout's group tag" offer 2 dev-1
check_contains "says why" "not tagged canary" "$T/err"
"$VIGILCTL" device tag dev-1 canary >/dev/null
check "tagged, it is recorded" offer 2 dev-1

"$VIGILCTL" release revoke sensor/1.1.0 >/dev/null
# revoking aborts the rollout; a view that missed both still holds it
# running: undo the abort to see the release check on its own
sql "UPDATE rollouts SET state = 'running' WHERE id = 2" >/dev/null
"$VIGILCTL" device tag dev-2 canary >/dev/null
check_fails "a revoked release" offer 2 dev-2
check_contains "says why" "revoked" "$T/err"
sql "UPDATE rollouts SET state = 'aborted' WHERE id = 2" >/dev/null
check_fails "an aborted rollout" offer 2 dev-2
check_contains "says why" "rollout 2 is aborted" "$T/err"

mk sensor 1.2.0 3s
"$VIGILCTL" rollout start sensor/1.2.0 --percent 100 >/dev/null
for _ in $(seq 1 40); do [ "$(sql "SELECT expires_at <= now() FROM releases WHERE version = '1.2.0'")" = t ] && break; sleep 0.1; done
check_fails "an expired release" offer 3 dev-3
check_contains "says why" "expired" "$T/err"
check_eq "only the eligible offers were recorded" "3" "$(offers)"
finish
