#!/usr/bin/env bash
# vigilctl ca policy: shows the renewal policy (text and --json), changes it
# in one audited transaction (ca.policy with old and new), refuses bad
# values naming them, and with a CA directory refuses a renewal validity
# longer than the CA's max validity, naming both values.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null

check "shows the policy" "$VIGILCTL" ca policy
check_contains "same key allowed by default" "renew same key            allow" "$T/out"
check_contains "24 h validity by default" "renewal validity          86400s" "$T/out"
check_contains "superseded never revoked by default" "revoke superseded after   never" "$T/out"
check "shows it as JSON" "$VIGILCTL" ca policy --json
check_json "defaults in JSON" "d['renew_same_key'] is True and d['renewal_validity_seconds']==86400 and d['renewals_per_hour']==6 and d['revoke_superseded_after_seconds'] is None and d['updated_at'].endswith('Z')"

check "sets every field" "$VIGILCTL" ca policy --renew-same-key deny --renewal-validity 1m \
    --renewals-per-hour 12 --revoke-superseded-after 2h --json
check_json "the answer is the new policy" "d['renew_same_key'] is False and d['renewal_validity_seconds']==60 and d['renewals_per_hour']==12 and d['revoke_superseded_after_seconds']==7200"
check_eq "stored" "f|60|12|7200" "$(sql "SELECT renew_same_key, renewal_validity_s, renewals_per_hour, revoke_superseded_after_s FROM ca_policy")"
check_eq "one ca.policy audit row" "1" "$(sql "SELECT count(*) FROM audit_log WHERE action='ca.policy'")"
check_eq "with the old and the new values" "86400|60|true|false" \
    "$(sql "SELECT details->'old'->>'renewal_validity_seconds', details->'new'->>'renewal_validity_seconds', details->'old'->>'renew_same_key', details->'new'->>'renew_same_key' FROM audit_log WHERE action='ca.policy'")"
check "a single change keeps the rest" "$VIGILCTL" ca policy --renewal-validity 24h
check_eq "only the validity changed" "f|86400|12|7200" "$(sql "SELECT renew_same_key, renewal_validity_s, renewals_per_hour, revoke_superseded_after_s FROM ca_policy")"
check "60s works" "$VIGILCTL" ca policy --renewal-validity 60s
check "never turns automatic revocation off" "$VIGILCTL" ca policy --revoke-superseded-after never --renew-same-key allow
check_contains "text output" "revoke superseded after   never" "$T/out"
check_eq "grace is NULL again" "t||4" "$(sql "SELECT renew_same_key, revoke_superseded_after_s, (SELECT count(*) FROM audit_log WHERE action='ca.policy') FROM ca_policy")"

check_exit 2 "validity under 60 s" "$VIGILCTL" ca policy --renewal-validity 59s
check_contains "names the value" "59s" "$T/err"
check_exit 2 "validity without a unit" "$VIGILCTL" ca policy --renewal-validity 3600
check_contains "says to give a unit" "unit" "$T/err"
check_exit 2 "validity over ten years" "$VIGILCTL" ca policy --renewal-validity 11y
check_exit 2 "renewals per hour 0" "$VIGILCTL" ca policy --renewals-per-hour 0
check_contains "gives the range" "1 to 3600" "$T/err"
check_exit 2 "renewals per hour 3601" "$VIGILCTL" ca policy --renewals-per-hour 3601
check_exit 2 "same key maybe" "$VIGILCTL" ca policy --renew-same-key maybe
check_contains "names the choices" "allow or deny" "$T/err"
check_exit 2 "grace 'soon'" "$VIGILCTL" ca policy --revoke-superseded-after soon
check_exit 2 "a stray argument" "$VIGILCTL" ca policy extra
check_eq "refusals changed nothing" "4" "$(sql "SELECT count(*) FROM audit_log WHERE action='ca.policy'")"

export VIGIL_CA_DIR="$T/ca"
"$VIGILCTL" ca init --max-validity 30d >/dev/null
check_exit 1 "longer than the CA's max validity" "$VIGILCTL" ca policy --renewal-validity 31d
check_contains "names the value" "2678400s" "$T/err"
check_contains "and the CA's max" "2592000s" "$T/err"
check "the max itself is allowed" "$VIGILCTL" ca policy --renewal-validity 30d
check "--help" "$VIGILCTL" ca policy --help
check_contains "documents every option" "--revoke-superseded-after DUR|never" "$T/out"
finish
