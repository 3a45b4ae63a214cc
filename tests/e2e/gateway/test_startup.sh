#!/usr/bin/env bash
# vigild refuses to start on what an operator must fix, before it logs
# "vigild started" or listens, with the file or the database at fault, the
# reason, what to do, and the exit code `vigild --help` documents:
# 3 the database (missing, unreachable, wrong role, not migrated),
# 4 the TLS and CA files. --version needs no setting at all.
. "$(dirname "$0")/../../lib/harness.sh"

check "--version with no setting: exit 0" "$VIGILD" --version
check_eq "  ... one line, from the build's version" "1" "$(wc -l <"$T/out")"
cp "$T/out" "$T/version"
check "  ... 'vigild <version>'" grep -qE '^vigild [0-9]+\.[0-9]+\.[0-9]+' "$T/version"
check "--help documents exit codes 3 and 4" "$VIGILD" --help
check_contains "  ... 3: the database" "3  database unusable at start" "$T/out"
check_contains "  ... 4: the files" "4  TLS or CA files unusable" "$T/out"

pg_start
setup_ca
export VIGIL_TLS_CERT="$T/tls/server.crt" VIGIL_TLS_KEY="$T/tls/server.key" VIGIL_WORKERS=1
export VIGIL_DEVICE_LISTEN="127.0.0.1:$(free_port)" VIGIL_API_LISTEN="127.0.0.1:$(free_port)"
good_url=$VIGIL_DATABASE_URL
url_of() { echo "${good_url/\/vigil\?//$1?}"; }   # the same cluster, database $1
not_started() { ! grep -q '"vigild started"' "$T/err"; }

# -- the database --
check_exit 3 "a database that does not exist: exit 3" \
    env VIGIL_DATABASE_URL="$(url_of nosuchdb)" "$VIGILD"
check_contains "  ... libpq's reason" 'database \"nosuchdb\" does not exist' "$T/err"
check_contains "  ... and what to do" "createdb" "$T/err"
check "  ... before 'vigild started'" not_started

check_exit 3 "no PostgreSQL there: exit 3" \
    env VIGIL_DATABASE_URL="postgresql:///vigil?host=$T/nosock" "$VIGILD"
check_contains "  ... libpq's reason" "No such file or directory" "$T/err"
check_contains "  ... and what to do" "is PostgreSQL running" "$T/err"

check_exit 3 "a role that does not exist: exit 3" \
    env VIGIL_DATABASE_URL="${good_url/user=*/user=nobody}" "$VIGILD"
check_contains "  ... libpq's reason" 'role \"nobody\" does not exist' "$T/err"
check_contains "  ... and what to do" "check the user and password" "$T/err"

sql "CREATE DATABASE fresh" >/dev/null
need=$(ls "$REPO"/db/migrations/*.sql | wc -l)
check_exit 3 "a database never migrated: exit 3" env VIGIL_DATABASE_URL="$(url_of fresh)" "$VIGILD"
check_contains "  ... says so, and what to run" \
    "the database is not migrated (schema version 0, this vigild needs $need): run \`vigilctl db migrate\`" "$T/err"
check "  ... before 'vigild started'" not_started
check_eq "  ... and touched nothing" "" \
    "$("$PSQL" "$(url_of fresh)" -Atqc "SELECT to_regclass('schema_migrations')")"

sql "CREATE DATABASE behind" >/dev/null
VIGIL_DATABASE_URL="$(url_of behind)" "$VIGILCTL" db migrate >/dev/null
last=$("$PSQL" "$(url_of behind)" -Atqc "SELECT max(name) FROM schema_migrations")
"$PSQL" "$(url_of behind)" -Atqc "DELETE FROM schema_migrations WHERE name = '$last'" >/dev/null
check_exit 3 "a database one migration behind: exit 3" env VIGIL_DATABASE_URL="$(url_of behind)" "$VIGILD"
check_contains "  ... with its version" "(schema version $((need - 1)), this vigild needs $need)" "$T/err"

check_exit 3 "--database-wait 1s: still refused once the wait is over" \
    env VIGIL_DATABASE_URL="$(url_of fresh)" "$VIGILD" --database-wait 1s
check_contains "  ... it said it was waiting" "waiting for the database" "$T/err"
check_contains "  ... and why it gave up" "vigilctl db migrate" "$T/err"

# --database-wait: a database migrated while vigild waits (docker compose)
sql "CREATE DATABASE later" >/dev/null
VIGIL_DATABASE_URL="$(url_of later)" "$VIGILD" --database-wait 50s >"$T/later.log" 2>&1 &
later=$!
at_exit "kill -9 $later"
logged() { for _ in $(seq 1 100); do grep -q "$1" "$2" && return 0; sleep 0.1; done; return 1; }
check "--database-wait: vigild waits for the schema" logged "waiting for the database" "$T/later.log"
check "  ... and has not started" bash -c "! grep -q '\"vigild started\"' '$T/later.log'"
VIGIL_DATABASE_URL="$(url_of later)" "$VIGILCTL" db migrate >/dev/null
check "  ... it starts once the database is migrated" logged '"registry loaded"' "$T/later.log"
kill -TERM "$later"
drained() { wait "$later"; }
check "  ... and drains: exit 0" drained

# -- the files --
check_exit 4 "--tls-key /nope: exit 4" "$VIGILD" --tls-key /nope
check_contains "  ... the path and the reason" "/nope: No such file or directory" "$T/err"
check_contains "  ... which setting" "--tls-key" "$T/err"
check "  ... before 'vigild started'" not_started
check_exit 3 "--database-password-file /nope: exit 3 (the database's credentials)" \
    "$VIGILD" --database-password-file /nope
check_contains "  ... the path and the reason" "cannot read /nope: No such file or directory" "$T/err"
: >"$T/empty-password"
check_exit 3 "VIGIL_DATABASE_PASSWORD_FILE of an empty file: exit 3" \
    env VIGIL_DATABASE_PASSWORD_FILE="$T/empty-password" "$VIGILD"
check_contains "  ... says it is empty" "$T/empty-password is empty" "$T/err"
: >"$T/empty.crt"
check_exit 4 "an empty --tls-cert: exit 4" "$VIGILD" --tls-cert "$T/empty.crt"
check_contains "  ... says so" "$T/empty.crt is empty" "$T/err"
check_exit 4 "a --tls-cert that is a key: exit 4" "$VIGILD" --tls-cert "$T/tls/server.key"
check_contains "  ... says so" "is not a PEM certificate" "$T/err"

check_exit 4 "--api-tls-cert /nope/api.crt: exit 4" \
    "$VIGILD" --api-tls-cert /nope/api.crt --api-tls-key "$T/tls/server.key"
check_contains "  ... the path and the reason" "/nope/api.crt: No such file or directory" "$T/err"
check_exit 4 "--api-tls-key that is a certificate: exit 4" \
    "$VIGILD" --api-tls-cert "$T/tls/server.crt" --api-tls-key "$T/tls/server.crt"
check_contains "  ... says so" "server.crt is not a PEM private key" "$T/err"
"$VIGILCTL" device create --id other --out-dir "$T/other" >/dev/null 2>&1
check_exit 4 "--tls-key of another certificate: exit 4" "$VIGILD" --tls-key "$T/other/other.key"
check_contains "  ... says it does not match (not 'not a valid key')" \
    "$T/other/other.key does not match the certificate in $T/tls/server.crt" "$T/err"
check_exit 4 "--api-tls-key of another certificate: exit 4 (not 1, 'cannot listen')" \
    "$VIGILD" --api-tls-cert "$T/tls/server.crt" --api-tls-key "$T/other/other.key"
check_contains "  ... says it does not match" \
    "$T/other/other.key does not match the certificate in $T/tls/server.crt" "$T/err"
check "  ... before 'vigild started'" not_started
check_exit 2 "--api-tls-cert without --api-tls-key: exit 2 (a setting)" \
    "$VIGILD" --api-tls-cert "$T/tls/server.crt"

check_exit 4 "--ca-dir that does not exist: exit 4" "$VIGILD" --ca-dir "$T/noca"
check_contains "  ... the path and the reason" "$T/noca: No such file or directory" "$T/err"
check_contains "  ... and what to do" "vigilctl ca init" "$T/err"
mkdir "$T/emptyca"
check_exit 4 "--ca-dir with no CA in it: exit 4" "$VIGILD" --ca-dir "$T/emptyca"
check_contains "  ... says so, and what to do" "no CA in $T/emptyca: create one with \`vigilctl ca init\`" "$T/err"
check_exit 4 "--ca-passphrase-file /nope: exit 4" "$VIGILD" --ca-passphrase-file /nope
check_contains "  ... the path and the reason" "/nope: No such file or directory" "$T/err"

# -- the device port held by another process (another vigild): the workers
# bind with SO_REUSEPORT, which would share the port without a word --
held=$(free_port)
python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("up", flush=True); time.sleep(60)' \
    "$held" >"$T/held.out" 2>&1 &
holder=$!
at_exit "kill $holder"
for _ in $(seq 1 50); do grep -q up "$T/held.out" && break; sleep 0.1; done
check_exit 1 "a device port another process listens on (SO_REUSEPORT too): exit 1" \
    "$VIGILD" --device-listen "127.0.0.1:$held"
check_contains "  ... says the port is in use" "the device port is in use by another process" "$T/err"
check "  ... before 'vigild started'" not_started
check_exit 1 "an operator port another process listens on: exit 1" \
    "$VIGILD" --api-listen "127.0.0.1:$held"
check_contains "  ... says it is in use, and what to do" \
    "in use by another process (another vigild?)" "$T/err"
check_contains "  ... naming the setting" "give --api-listen another address" "$T/err"
check "  ... before 'vigild started'" not_started
kill "$holder"

check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/later.log'"
finish
