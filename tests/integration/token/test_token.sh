#!/usr/bin/env bash
# vigilctl token create/list/revoke: the token is printed once as the last
# line of stdout, the database holds only its SHA-256, names are unique among
# live tokens, every change writes an audit row, bad input exits 1 or 2.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null || { echo "migrate failed" >&2; exit 1; }

check "create a viewer token" "$VIGILCTL" token create --role viewer --name ci-bot
cp "$T/out" "$T/create.out"
cp "$T/err" "$T/create.err"
token=$(tail -n1 "$T/create.out")
check_eq "the last line of stdout is a 47-character token" "47" "${#token}"
check "it is vgl_ and 43 base64url characters" grep -Eqx 'vgl_[A-Za-z0-9_-]{43}' "$T/create.out"
check_eq "stdout holds the token alone" "1" "$(wc -l <"$T/create.out")"
check_contains "stderr says it is shown once" "only this once" "$T/create.err"
hash=$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)
check_eq "the database holds its sha256" "ci-bot viewer" \
    "$(sql "SELECT name || ' ' || role FROM api_tokens WHERE token_sha256 = '$hash'")"
/usr/lib/postgresql/15/bin/pg_dump "$VIGIL_DATABASE_URL" >"$T/dump.sql"
check_contains "a dump of the database has the hash" "$hash" "$T/dump.sql"
check "but never the token" bash -c "! grep -qF -- '${token#vgl_}' '$T/dump.sql'"
check_eq "no expiry by default" "" "$(sql "SELECT expires_at FROM api_tokens WHERE name = 'ci-bot'")"
check_eq "created_by is the OS user" "$(id -un)" "$(sql "SELECT created_by FROM api_tokens WHERE name = 'ci-bot'")"
check_eq "one token.create audit row" "os ci-bot viewer" \
    "$(sql "SELECT actor_kind || ' ' || (details->>'name') || ' ' || (details->>'role') FROM audit_log WHERE action = 'token.create'")"

check "a second create makes another token" "$VIGILCTL" token create --role admin --name ops@example.com --expires 30d
token2=$(tail -n1 "$T/out")
check "tokens differ" test "$token" != "$token2"
exp=$(sql "SELECT extract(epoch FROM expires_at - created_at)::int FROM api_tokens WHERE name = 'ops@example.com'")
check "--expires 30d expires in 30 days" test "$exp" -ge 2591990 -a "$exp" -le 2592010

check "--json" "$VIGILCTL" token create --role operator --name script --expires 12h --json
check_json "--json has name, role, expires_at and the token" \
    "set(d) == {'name','role','expires_at','token'} and d['role'] == 'operator' and d['name'] == 'script' and len(d['token']) == 47 and d['token'].startswith('vgl_') and d['expires_at'].endswith('Z')"
jtoken=$(python3 -c "import json; print(json.load(open('$T/last.json'))['token'])")
jhash=$(printf '%s' "$jtoken" | sha256sum | cut -d' ' -f1)
check_eq "--json token is the stored one" "script" "$(sql "SELECT name FROM api_tokens WHERE token_sha256 = '$jhash'")"

# list: every token, its status, no hash
check "token list" "$VIGILCTL" token list
check_contains "lists ci-bot" "ci-bot" "$T/out"
check_contains "with its status" "active" "$T/out"
check "no hash in the list" bash -c "! grep -q '$hash' '$T/out'"
check "token list --json" "$VIGILCTL" token list --json
check_json "three active tokens, no hash" \
    "len(d) == 3 and all(t['status'] == 'active' for t in d) and not any('hash' in k or 'sha' in k for t in d for k in t) and set(d[0]) == {'name','role','status','created_at','created_by','expires_at','revoked_at','last_used_at'}"

# duplicates and bad input
before=$(sql "SELECT count(*) FROM api_tokens")/$(sql "SELECT count(*) FROM audit_log")
check_exit 1 "a duplicate live name is refused" "$VIGILCTL" token create --role viewer --name ci-bot
check_contains "saying what to do" "revoke it first" "$T/err"
check_eq "and prints no token" "" "$(cat "$T/out")"
check_exit 2 "bad role: exit 2" "$VIGILCTL" token create --role root --name x
check_contains "names the roles" "viewer, operator or admin" "$T/err"
check_exit 2 "missing --role: exit 2" "$VIGILCTL" token create --name x
check_exit 2 "bad name: exit 2" "$VIGILCTL" token create --role viewer --name 'bad name'
check_exit 2 "bad --expires: exit 2" "$VIGILCTL" token create --role viewer --name x --expires soon
check_exit 2 "unknown option: exit 2" "$VIGILCTL" token create --role viewer --name x --bogus
check_eq "nothing written by refused commands" "$before" "$(sql "SELECT count(*) FROM api_tokens")/$(sql "SELECT count(*) FROM audit_log")"

# expired tokens show as such
sql "UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE name = 'script'"
check "token list after expiry" "$VIGILCTL" token list --json
check_json "the expired token shows as expired" "[t['status'] for t in d if t['name'] == 'script'] == ['expired']"

# revoke
check "revoke" "$VIGILCTL" token revoke ci-bot
check_contains "says what it did" "revoked token 'ci-bot'" "$T/out"
check_eq "revoked_at set" "1" "$(sql "SELECT count(*) FROM api_tokens WHERE name = 'ci-bot' AND revoked_at IS NOT NULL")"
check_eq "one token.revoke audit row with name and role" "ci-bot viewer" \
    "$(sql "SELECT (details->>'name') || ' ' || (details->>'role') FROM audit_log WHERE action = 'token.revoke'")"
check_exit 1 "revoking it again: exit 1" "$VIGILCTL" token revoke ci-bot
check_contains "no live token" "no live token named 'ci-bot'" "$T/err"
check_exit 1 "revoke unknown: exit 1" "$VIGILCTL" token revoke nobody
check_exit 2 "revoke without a name: exit 2" "$VIGILCTL" token revoke
check_eq "refused revokes write no audit row" "1" "$(sql "SELECT count(*) FROM audit_log WHERE action = 'token.revoke'")"
check "token list --json" "$VIGILCTL" token list --json
check_json "ci-bot is revoked and listed last" "d[-1]['name'] == 'ci-bot' and d[-1]['status'] == 'revoked' and d[-1]['revoked_at']"
check "the name is free again" "$VIGILCTL" token create --role viewer --name ci-bot
check_eq "two rows named ci-bot, one live" "2 1" \
    "$(sql "SELECT count(*) || ' ' || count(*) FILTER (WHERE revoked_at IS NULL) FROM api_tokens WHERE name = 'ci-bot'")"
check "revoke --json" "$VIGILCTL" token revoke script --json
check_json "revoke --json" "d['name'] == 'script' and d['role'] == 'operator' and d['revoked_at'].endswith('Z')"
check_eq "audit rows: 4 creates, 2 revokes" "4 2" \
    "$(sql "SELECT count(*) FILTER (WHERE action = 'token.create') || ' ' || count(*) FILTER (WHERE action = 'token.revoke') FROM audit_log")"

for c in create list revoke; do
    check "token $c --help" "$VIGILCTL" token "$c" --help
    check_contains "token $c --help has usage" "Usage: vigilctl token $c" "$T/out"
done

pg_stop >/dev/null 2>&1
check_exit 4 "database down: exit 4" "$VIGILCTL" token create --role viewer --name late
check_eq "and no token printed" "" "$(cat "$T/out")"
check_exit 4 "token list with the database down: exit 4" "$VIGILCTL" token list
finish
