#!/usr/bin/env bash
# Two writers at once: a release key init, or a release create, that waits
# for another transaction's per-class (or key) lock sees what that
# transaction committed and refuses as if it had come second in line
# (duplicate version, lower security version, a key exists already), with
# nothing stored; and the anti-rollback trigger holds under REPEATABLE
# READ, where a snapshot older than the lock would not see the newest
# release, while vigilctl works with a database whose default isolation
# is REPEATABLE READ.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null
export VIGIL_RELEASE_DIR="$T/release"
unset VIGIL_RELEASE_PASSPHRASE
head -c 5000 /dev/urandom >"$T/fw.bin"
head -c 6000 /dev/urandom >"$T/fw2.bin"

# hold LOCK SQL: a session that takes advisory lock LOCK, runs SQL and
# commits 3 s later, in the background; returns once it holds the lock.
hold() {
    printf "BEGIN;\nSELECT pg_advisory_xact_lock(hashtext('%s'));\n%s;\nSELECT pg_sleep(3);\nCOMMIT;\n" "$1" "$2" |
        "$PSQL" "$VIGIL_DATABASE_URL" -Atq >"$T/hold.out" 2>&1 &
    HOLD=$!
    for _ in $(seq 1 50); do
        [ "$(sql "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" -ge 1 ] && return 0
        sleep 0.1
    done
    return 1
}

# ---- keys: a second first key while another init commits ----
fake_kid=$(printf 'A%.0s' $(seq 1 43))
check "another session holds the key lock, adding a first key" \
    hold vigil_release_keys "INSERT INTO release_keys (kid, jwk, active, created_by) VALUES ('$fake_kid', '{\"kty\":\"EC\",\"x\":\"x\"}', true, 'test')"
check_exit 1 "release key init waiting for it is refused" "$VIGILCTL" release key init
wait "$HOLD"
check_contains "as a second first key" "a release key exists already" "$T/err"
check_eq "one key, the other session's, still active" "1|$fake_kid" "$(sql "SELECT count(*), min(kid) FROM release_keys WHERE active")"
check_eq "no key file left" "0" "$(find "$T/release" -name '*.key' 2>/dev/null | wc -l)"
sql "DELETE FROM release_keys" >/dev/null

"$VIGILCTL" release key init >/dev/null
"$VIGILCTL" release create --artifact "$T/fw.bin" --class sensor --version 1.0.0 --security-version 2 >/dev/null
rows() { sql "SELECT (SELECT count(*) FROM releases), (SELECT count(*) FROM artifacts), (SELECT count(*) FROM audit_log WHERE action = 'release.create')"; }
copy() { echo "INSERT INTO releases (version, device_class, security_version, artifact_sha256, size, kid, manifest, issued_at, expires_at, created_by) SELECT '$1', device_class, $2, artifact_sha256, size, kid, manifest, issued_at, expires_at, 'test' FROM releases WHERE id = 1"; }

# ---- releases: the same version, committed while create waits ----
check "another session holds the class lock, adding 2.0.0" hold vigil_release:sensor "$(copy 2.0.0 2)"
check_exit 1 "create 2.0.0 waiting for it is refused" \
    "$VIGILCTL" release create --artifact "$T/fw2.bin" --class sensor --version 2.0.0 --security-version 2
wait "$HOLD"
check_contains "as a version reused" "a version is never reused" "$T/err"
check_eq "nothing of it stored (2 releases, 1 artifact, 1 audit row)" "2|1|1" "$(rows)"

# ---- releases: a higher security version, committed while create waits ----
check "another session holds the class lock, adding security version 9" hold vigil_release:sensor "$(copy 3.0.0 9)"
check_exit 1 "create with security version 5 waiting for it is refused" \
    "$VIGILCTL" release create --artifact "$T/fw2.bin" --class sensor --version 4.0.0 --security-version 5
wait "$HOLD"
check_contains "by anti-rollback, naming the newest" "is below 9 (release 3.0.0), the newest of class sensor: anti-rollback forbids it" "$T/err"
check_eq "nothing of it stored" "3|1|1" "$(rows)"

# ---- the trigger under REPEATABLE READ ----
# The snapshot is taken before vigilctl commits security version 10; the
# insert after it must not pass with security version 3.
printf "BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT count(*) FROM releases;\n\\\\! %s release create --artifact %s --class sensor --version 5.0.0 --security-version 10 >/dev/null\n%s;\nCOMMIT;\n" \
    "$VIGILCTL" "$T/fw.bin" "$(copy 5.0.1 9)" >"$T/rr.sql"
run "$PSQL" "$VIGIL_DATABASE_URL" -Atq -v ON_ERROR_STOP=1 -f "$T/rr.sql"
check_eq "a rollback inserted under REPEATABLE READ is refused" "0" \
    "$(sql "SELECT count(*) FROM releases WHERE version = '5.0.1'")"
check_contains "saying why" "READ COMMITTED" "$T/err"
check_eq "the release vigilctl made is there" "10" "$(sql "SELECT security_version FROM releases WHERE version = '5.0.0'")"
check "vigilctl creates a release with REPEATABLE READ as the database default" \
    env PGOPTIONS="-c default_transaction_isolation=repeatable\\ read" \
    "$VIGILCTL" release create --artifact "$T/fw2.bin" --class sensor --version 6.0.0 --security-version 10
check "vigilctl rotates a key with REPEATABLE READ as the database default" \
    env PGOPTIONS="-c default_transaction_isolation=repeatable\\ read" "$VIGILCTL" release key rotate
finish
