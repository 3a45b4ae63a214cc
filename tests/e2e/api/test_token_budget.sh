#!/usr/bin/env bash
# The operator API's budget of failed token attempts (issue 13, item 10),
# with curl: it limits an address's failures, never its successes. The
# first 10 failures from one address within 60 s are 401 with the reason,
# the 11th and later 429 with Retry-After and no reason (an unknown, a
# revoked and a missing token look alike); a valid token from the same
# address is served all along, before and after the budget is spent, as
# docs/openapi.json says ("More than 10 failed ..."); another address is
# not affected; one warning is logged when the address passes the budget.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/api_calls.sh"
api_server
VIEWER=$(token viewer budget-viewer)
OLD=$(token viewer budget-old)
"$VIGILCTL" token revoke budget-old >/dev/null 2>&1
WRONG=vgl_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA

# attempt TOKEN [curl args]: GET /v1/incidents?limit=1 with TOKEN; prints the status
attempt() {
    local tok=$1; shift
    curl -sS --max-time 20 -o "$T/resp" -D "$T/headers" -w '%{http_code}' \
        -H "Authorization: Bearer $tok" "$@" "$API/v1/incidents?limit=1"
}
failures() { curl -sS "$API/metrics" | sed -n 's/^vigil_api_auth_failures_total //p'; }

check_eq "the document and the server agree: 'More than 10 failed'" 1 \
    "$(grep -c 'More than 10 failed authentication attempts from one address within 60 s' "$REPO/docs/openapi.json")"

codes=""
for i in $(seq 1 9); do
    codes="$codes $(attempt "$WRONG")"
    [ "$i" = 5 ] && check_eq "a valid token between failures: 200" 200 "$(attempt "$VIEWER")"
done
check_eq "failures 1 to 9: 401" " 401 401 401 401 401 401 401 401 401" "$codes"
check_eq "failure 10 (the last of the budget): still 401" 401 "$(attempt "$WRONG")"
check_json_in "$T/resp" "  ... with the reason" "d['error'] == 'unauthorized' and 'not known' in d['reason']"
check_eq "failure 11: 429" 429 "$(attempt "$WRONG")"
check_contains "  ... with Retry-After" "Retry-After:" "$T/headers"
check_json_in "$T/resp" "  ... and no reason for the token" \
    "d['error'] == 'too_many_requests' and 'not known' not in d['reason'] and 'more than 10 times within 60 s' in d['reason']"
check "  ... Retry-After is the rest of the window (1 to 60 s)" bash -c \
    "s=\$(tr -d '\r' <'$T/headers' | sed -n 's/^Retry-After: //Ip'); [ \"\$s\" -ge 1 ] && [ \"\$s\" -le 60 ]"
check_eq "a revoked token past the budget: 429, like any failure" 429 "$(attempt "$OLD")"
check "  ... that does not say it was revoked" bash -c "! grep -q revoked '$T/resp'"
check_eq "no token at all past the budget: 429" 429 \
    "$(curl -sS -o /dev/null -w '%{http_code}' "$API/v1/incidents?limit=1")"

check_eq "a valid token from the same address past the budget: 200" 200 "$(attempt "$VIEWER")"
check "  ... without Retry-After" bash -c "! grep -qi '^Retry-After:' '$T/headers'"
check_json_in "$T/resp" "  ... with its page" "'items' in d"
for _ in $(seq 1 20); do attempt "$WRONG" >/dev/null; done
check_eq "however many more failures: the valid token is still served" 200 "$(attempt "$VIEWER")"
check_eq "and an operator token too" 200 "$(curl -sS -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $(token operator budget-op)" "$API/v1/devices?limit=1")"

check_eq "another address (127.0.0.2) has its own budget: 401" 401 \
    "$(attempt "$WRONG" --interface 127.0.0.2)"
check_eq "every failure is counted in /metrics" 34 "$(failures)"
check_eq "one warning when the address passed the budget" 1 \
    "$(grep -c 'passed its budget of failed token attempts' "$T/one.log")"
check_eq "  ... and 10 refusals logged with their reason, not one per failure" 10 \
    "$(grep '"msg":"operator API: refused a token"' "$T/one.log" | grep -c '"address":"127.0.0.1"')"

check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
