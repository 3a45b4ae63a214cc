#!/usr/bin/env bash
# vigil-bench's database side, which `make bench` rests on: `enroll` makes
# real test devices (keys, certificates that openssl verifies, registry
# rows as vigilctl records them, one audit row, all or nothing), and `copy`
# (the COPY reference) stores exactly the rows it says it stored.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
BENCH="$VIGIL_BUILD/vigil-bench"

check "enroll 5 devices" "$BENCH" enroll --count 5 --out-dir "$T/dev" --prefix bt-
check_eq "  ... five certificates in the registry" 5 \
    "$(sql "SELECT count(*) FROM certificates c JOIN devices d ON d.id = c.device_id WHERE d.id LIKE 'bt-%' AND c.status = 'active'")"
check_eq "  ... each with its fingerprint as openssl computes it" \
    "$(openssl x509 -in "$T/dev/bt-000003.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)" \
    "$(sql "SELECT fingerprint_sha256 FROM certificates WHERE device_id = 'bt-000003'")"
check "  ... which openssl verifies against the CA chain" openssl verify -CAfile "$T/chain.pem" "$T/dev/bt-000004.crt"
check "  ... with its key beside it, 0600" test "$(stat -c %a "$T/dev/bt-000000.key")" = 600
check_eq "  ... and one audit row" 1 "$(sql "SELECT count(*) FROM audit_log WHERE action = 'bench.enroll'")"
check "vigilctl sees them as enrolled devices" "$VIGILCTL" device show bt-000001 --json
check_json "  ... with an active certificate" "d['certificates'][0]['status'] == 'active'"

check_fails "enrolling the same ids again is refused" "$BENCH" enroll --count 5 --out-dir "$T/dev" --prefix bt-
check_eq "  ... and records nothing more" 5 "$(sql "SELECT count(*) FROM certificates WHERE device_id LIKE 'bt-%'")"

before=$(sql "SELECT count(*) FROM incidents")
check "copy 2500 rows in batches of 1000" "$BENCH" copy --rows 2500 --batch 1000 --json
check_json "  ... reports a rate" "d['rows_per_second'] > 0"
check_eq "  ... and the table has 2500 more" $((before + 2500)) "$(sql "SELECT count(*) FROM incidents")"
finish
