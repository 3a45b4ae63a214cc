#!/usr/bin/env bash
# test_docker.sh - `make docker-test`: the image and the compose file, built
# and run with podman on a machine with no container registry and no Docker
# engine.
#
# tools/dev/docker-base.sh installs podman and podman-compose and makes the
# base images once (debian:12-slim from debootstrap, postgres:15 from
# Debian's package; podman's storage is the cache). Then, in a copy of the
# checkout (so that the README's secrets and device files never land in the
# developer's tree): the compose file through a parser not written here
# (docker-compose 1.29's `config`) and the Dockerfile through a linter
# (dockerfilelint from the npm registry), each also shown a broken file;
# the build context, with keys, a token and a database planted in the copy;
# README.md's ```sh docker blocks run in order with tests/docker/bin/docker
# (podman and podman-compose behind the `docker` command). Then what the
# README does not show: the image's size, user and contents, the
# entrypoint's refusals, vigil-device through the published port, `podman
# stop` draining, `down`/`up` keeping the data and the CA, and the README's
# upgrade block run on an image built from another commit. Everything the
# test starts is removed at exit (containers, volumes, network); images
# stay, as the cache of the next run.
source "$(dirname "$0")/../lib/harness.sh"
CHECK_TIMEOUT=600
START=$SECONDS

say() { echo "# $*"; }
elapsed() { echo "$((SECONDS - START)) s"; }

# -- podman and the base images ------------------------------------------------
check "podman, podman-compose and the base images (tools/dev/docker-base.sh)" \
    bash "$REPO/tools/dev/docker-base.sh"
[ "$FAILED" -eq 0 ] || finish
# shellcheck source=/dev/null
. "$REPO/var/podman/env"
say "base images ready at $(elapsed)"
# The checkers: Debian's docker-compose 1.29 only parses here (no engine;
# without --no-install-recommends it would bring docker.io), and npx for
# the Dockerfile linter when `make test` has not installed it already.
need=()
dpkg-query -W -f='${Status}' docker-compose 2>/dev/null | grep -q "install ok installed" || need+=(docker-compose)
command -v npx >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" \
        >"$T/apt.log" 2>&1 || { cat "$T/apt.log"; echo "FAIL - cannot install ${need[*]}"; exit 1; }
fi

# -- a copy of the checkout: the folders the image is built from, copied ----
W="$T/checkout"
mkdir -p "$W"
for entry in Makefile .dockerignore cert-authority db docker docs protocol server tools; do
    cp -a "$REPO/$entry" "$W/"
done
rm -rf "$W/docker/secrets" "$W/docker/devices"
P="vigiltest$$"
IMAGE="localhost/vigil-test:ci"
DPORT=$(free_port)
APORT=$(free_port)
while [ "$APORT" = "$DPORT" ]; do APORT=$(free_port); done
export COMPOSE_PROJECT_NAME=$P VIGIL_IMAGE=$IMAGE VIGIL_DEVICE_PORT=$DPORT VIGIL_API_PORT=$APORT
unset VIGIL_COMMIT
SHIM="$REPO/tests/docker/bin"
VIGIL="${P}_vigil_1"
DB="${P}_db_1"
at_exit "podman-compose -p '$P' -f '$W/docker/compose.yaml' down -v; podman rm -f '$VIGIL' '$DB' '${P}_probe'; \
podman volume rm -f '${P}_pgdata' '${P}_vigil-home' '${P}_probe-home'; podman network rm -f '${P}_default' '${P}_database'"

# -- the compose file and the Dockerfile, checked by tools not written here --
mkdir -p "$W/docker/secrets"
echo placeholder >"$W/docker/secrets/db-password"
check "docker-compose config accepts docker/compose.yaml" \
    docker-compose -f "$W/docker/compose.yaml" config -q
sed 's/condition: service_healthy/condition: service_healty/' "$W/docker/compose.yaml" >"$T/bad-compose.yaml"
cp "$T/bad-compose.yaml" "$W/docker/bad-compose.yaml"
check_fails "  ... and refuses one with a misspelt condition (it does check)" \
    docker-compose -f "$W/docker/bad-compose.yaml" config -q
rm -f "$W/docker/bad-compose.yaml" "$W/docker/secrets/db-password"
check "dockerfilelint finds nothing in docker/Dockerfile" \
    npx --yes dockerfilelint@1.8.0 "$W/docker/Dockerfile"
printf 'FROM debian\nRUN apt-get update\nRUN apt-get install curl\nADD . /\nEXPOSE 99999\n' >"$T/Bad.Dockerfile"
check_fails "  ... and finds something in a bad one (it does check)" \
    npx --yes dockerfilelint@1.8.0 "$T/Bad.Dockerfile"

# -- the build context: no key, token or database, whatever lies around -----
mkdir -p "$W/var/ca" "$W/var/pg/data" "$W/build" "$W/.git" "$W/docker/secrets"
planted=(var/ca/ca.key var/admin-token var/pg/data/PG_VERSION var/pg/data/pg_hba.conf tools/dev/stray.key
    tools/dev/stray.pem build/vigild .git/config docker/secrets/db-password docker/db-password
    docker/ca-passphrase server/.env server/core/server.key~ db/dump.sql.gz tools/dev/api.token
    protocol/id_ed25519 cert-authority/.pgpass core.1234 docs/viewer-token)
for f in "${planted[@]}"; do
    echo "planted" >"$W/$f"
done
printf 'FROM debian:12-slim\nCOPY . /ctx\n' >"$T/Context.Dockerfile"
check "a throwaway image of the build context" \
    podman build -q --pull=never -f "$T/Context.Dockerfile" -t "localhost/${P}-context" "$W"
check "  ... lists its files" \
    bash -c "podman run --rm 'localhost/${P}-context' find /ctx -type f > '$T/context.txt'"
podman rmi -f "localhost/${P}-context" >/dev/null 2>&1
# Every file of the context is a source file: C, SQL, the build's scripts
# and package lists, the OpenAPI document, the Makefile.
grep -vE '^/ctx/(Makefile|[a-z0-9/_-]+\.[ch]|db/migrations/[0-9a-z_]+\.sql|[a-z0-9/_-]+\.sh|tools/dev/packages/[a-z]+\.txt|docs/openapi\.json)$' \
    "$T/context.txt" >"$T/planted.txt"
check_eq "  ... none of the ${#planted[@]} planted files (keys, tokens, a database, secrets, build, .git)" "" \
    "$(tr '\n' ' ' <"$T/planted.txt")"
check_contains "  ... but the sources (db/db_token.c: no *token* pattern)" "/ctx/db/db_token.c" "$T/context.txt"
check_contains "  ... and the Makefile" "/ctx/Makefile" "$T/context.txt"
say "context: $(wc -l <"$T/context.txt") files"
for f in "${planted[@]}"; do rm -f "$W/$f"; done
rm -rf "$W/var" "$W/build" "$W/.git" "$W/docker/secrets"

# -- README.md's Docker blocks, in order ------------------------------------
# The copy is a git repository of its own, as a checkout is: the README's
# builds name its commit, and the upgrade below is to a later one.
gitw() { git -C "$W" -c user.name=vigil-test -c user.email=test@vigil.invalid "$@"; }
gitw init -q && gitw add -A && gitw commit -qm "the checkout under test"
COMMIT1=$(gitw rev-parse --short HEAD)
mkdir -p "$T/blocks"
n=$(python3 "$REPO/tests/e2e/readme/readme_blocks.py" extract "$REPO/README.md" "sh docker" "$T/blocks")
check "README.md has Docker blocks to run ($n)" test "$n" -ge 4
run_block() {
    local b=$1 rc
    : >"$T/fails"
    (cd "$W" && PATH="$SHIM:$PATH" README_FAILS="$T/fails" timeout 600 bash "$b") >"$T/out" 2>"$T/err"
    rc=$?
    [ "$rc" -eq 124 ] && echo "    timed out" >>"$T/err"
    python3 "$REPO/tests/e2e/readme/readme_blocks.py" judge "$b" "$T/fails" 1 >>"$T/err"
    _report $? "README Docker block $(basename "$b" .sh) ($(sed -n 4p "$b" | cut -c3-))"
    cp "$T/out" "$T/block-$(basename "$b" .sh).out"
}
failed_before=$FAILED
blocks=("$T"/blocks/*.sh)
last=${blocks[-1]}
for b in "${blocks[@]}"; do
    [ "$b" = "$last" ] && break
    run_block "$b"
    say "block $(basename "$b" .sh) done at $(elapsed)"
done
# The rest needs what the blocks made.
[ "$FAILED" -eq "$failed_before" ] || { podman logs "$VIGIL" 2>&1 | tail -20; finish; }
check_contains "the README's curl report was stored" '"status":"stored"' "$T/block-03.out"
check_contains "the README's REST query returned it" '"device_id":"dev-1"' "$T/block-04.out"

# -- the image ---------------------------------------------------------------
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
say "image $IMAGE: $((size / 1000000)) MB"
check "the image is under 150 MB ($((size / 1000000)) MB)" test "$size" -lt 150000000
check_eq "it runs as the user vigil" "vigil" "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")"
check_eq "  ... uid 10001, not root" "10001" "$(podman run --rm --entrypoint id "$IMAGE" -u 2>/dev/null)"
check_fails "it holds no compiler (cc, gcc, clang, as, ld)" podman run --rm --entrypoint sh "$IMAGE" -c \
    'for c in cc gcc clang tcc as ld make; do command -v $c && exit 0; done; ls /usr/lib/gcc 2>/dev/null && exit 0; exit 1'
check_contains "a HEALTHCHECK on /readyz" "vigil-healthcheck" \
    <(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
check "vigild --help needs no database" podman run --rm "$IMAGE" --help
check_contains "  ... it is vigild's" "Usage: vigild" "$T/out"
check "--version needs none either" podman run --rm "$IMAGE" --version
check_contains "  ... and names the commit it was built from" "vigild 0.13" "$T/out"
check_contains "  ... (VIGIL_COMMIT, as the README builds it)" "(commit $COMMIT1)" "$T/out"
check "vigilctl runs as it is (no migration first)" podman run --rm "$IMAGE" vigilctl --help
check_contains "  ... vigilctl's help" "Usage: vigilctl" "$T/out"

# -- the entrypoint's refusals -------------------------------------------------
check_exit 2 "no VIGIL_DATABASE_URL: exit 2" podman run --rm "$IMAGE"
check_contains "  ... says what to set" "VIGIL_DATABASE_URL is not set" "$T/err"
check_exit 3 "PostgreSQL that never answers: exit 3 after VIGIL_DATABASE_WAIT" podman run --rm \
    -e VIGIL_DATABASE_URL=postgresql://vigil:hunter2@127.0.0.1:1/vigil -e VIGIL_DATABASE_WAIT=2s "$IMAGE"
check_contains "  ... says so, with the URL" "PostgreSQL at postgresql://vigil:***@127.0.0.1:1/vigil is not usable after" "$T/err"
check_eq "  ... and never prints the password" "0" "$(grep -c hunter2 "$T/err")"
# db_run SECONDS PASSWORD-FILE OPTIONS... IMAGE [COMMAND...]: a container on
# the project's database network, given PASSWORD-FILE as its database
# secret, bounded by SECONDS.
db_run() {
    local bound=$1 secret=$2
    shift 2
    timeout "$bound" podman run --rm --network "${P}_database" \
        -v "$secret:/run/secrets/db-password:ro" -e VIGIL_DATABASE_URL=postgresql://vigil@db/vigil \
        -e VIGIL_DATABASE_PASSWORD_FILE=/run/secrets/db-password "$@"
}
# A second vigil on the project's database, with a home of its own; bounded
# by 60 s, so that one which waits when it should refuse fails its check.
probe_run() {
    db_run 60 "$W/docker/secrets/db-password" --name "${P}_probe" -v "${P}_probe-home:/var/lib/vigil" \
        "$@" "$IMAGE"
}
check_exit 4 "no CA, VIGIL_CA_WAIT=0: exit 4" probe_run -e VIGIL_CA_WAIT=0
check_contains "  ... prints the command that makes the CA" "docker compose exec vigil vigilctl ca init" "$T/err"
check_contains "  ... and the server certificate" "vigilctl ca server-cert --dns HOST" "$T/err"
check_contains "  ... after migrating (the database is reached with the secret)" "database schema is up to date" "$T/out"
check_exit 3 "a password in the URL and a password file: exit 3 at once" probe_run \
    -e VIGIL_DATABASE_URL=postgresql://vigil:inline@db/vigil -e VIGIL_CA_WAIT=0 -e VIGIL_DATABASE_WAIT=10m
check_contains "  ... says which would win" "the database URL holds a password and a password file" "$T/err"
check_eq "  ... and never prints the URL's password" "0" "$(grep -c inline "$T/err")"
check_exit 2 "VIGIL_DATABASE_WAIT that is not a duration: exit 2" probe_run -e VIGIL_DATABASE_WAIT=soon
check_contains "  ... says what it takes" "give a duration such as 60s" "$T/err"
echo wrong >"$T/wrong-password"
# Bounded by timeout 60 with a wait of 10 minutes: a refused password must
# end the start at once, as waiting cannot mend it.
check_exit 3 "a wrong database password: exit 3 at once, whatever VIGIL_DATABASE_WAIT" \
    db_run 60 "$T/wrong-password" -e VIGIL_DATABASE_WAIT=10m "$IMAGE"
check_contains "  ... PostgreSQL's reason" "password authentication failed" "$T/err"
check_contains "  ... and what to do" "PostgreSQL's image sets its password only when its data volume is new" "$T/err"
(umask 077 && echo unreadable >"$T/root-only-password")
check_exit 2 "a secret file vigil cannot read: exit 2 at once" \
    db_run 60 "$T/root-only-password" -e VIGIL_DATABASE_WAIT=10m "$IMAGE"
check_contains "  ... names it, the uid and what to do" \
    "VIGIL_DATABASE_PASSWORD_FILE=/run/secrets/db-password: cannot read it as uid 10001 (vigil)" "$T/err"

# -- the running service -------------------------------------------------------
check "the vigil container is healthy (its HEALTHCHECK)" podman healthcheck run "$VIGIL"
check_eq "vigild runs with no capability (cap_drop: ALL)" "0000000000000000" \
    "$(podman exec "$VIGIL" sed -n 's/^CapEff:\t//p' /proc/1/status)"
check_eq "  ... and no new privileges (no setuid escape)" "1" \
    "$(podman exec "$VIGIL" sed -n 's/^NoNewPrivs:\t//p' /proc/1/status)"
check_eq "PostgreSQL is on an internal network alone with vigil" "true ${P}_database" \
    "$(podman network inspect --format '{{.Internal}}' "${P}_database") $(podman inspect --format '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$DB")"
check "/readyz on the published operator port" curl -sS --fail "http://127.0.0.1:$APORT/readyz"
check_json "  ... database and CA ok" 'd["database"] == "ok" and d["ca"] == "ok"'
ss -Hltn >"$T/listen.txt"
check_contains "the operator port is published on loopback" "127.0.0.1:$APORT " "$T/listen.txt"
check_eq "  ... only" "0" "$(grep -cE "(0\.0\.0\.0|\*|\[::\]):$APORT " "$T/listen.txt")"
check_contains "the device port on every address" "0.0.0.0:$DPORT " "$T/listen.txt"

# vigil-device from the image, as a device on this host, through the published port.
mkdir -p "$T/dev"
cp "$W/docker/devices/dev-1.crt" "$W/docker/devices/dev-1.key" "$W/docker/devices/ca-chain.pem" "$T/dev/"
chmod 0755 "$T/dev" && chmod 0644 "$T/dev"/*
check "vigil-device (the image's) reports through the published device port" \
    podman run --rm --network host -v "$T/dev:/dev-files:ro" --entrypoint vigil-device "$IMAGE" report \
    --server "127.0.0.1:$DPORT" --ca /dev-files/ca-chain.pem --cert /dev-files/dev-1.crt \
    --key /dev-files/dev-1.key --queue-dir /tmp/queue --type watchdog_reset --component main
check_contains "  ... stored" "1 stored" "$T/err"
# The root key left the volume (the README moves it out); vigilctl ca
# rotate takes it back on stdin and writes the new issuing CA to the
# volume; vigild follows without a restart, and a device of the new
# issuing CA reports.
check_fails "the root CA key is not in the volume" podman exec "$VIGIL" test -e /var/lib/vigil/ca/root.key
check "  ... but kept aside, 0600" test "$(stat -c %a "$W/docker/secrets/root-ca.key")" = 600
check_exit 3 "vigilctl ca rotate without it: exit 3" podman exec "$VIGIL" vigilctl ca rotate
check "vigilctl ca rotate --root-key /dev/stdin in the container" \
    bash -c "podman exec -i '$VIGIL' vigilctl ca rotate --root-key /dev/stdin < '$W/docker/secrets/root-ca.key'"
check_fails "  ... and the key did not land on its disk" podman exec "$VIGIL" test -e /var/lib/vigil/ca/root.key
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/dev/dev-2.key" \
    -out "$T/dev/dev-2.csr" -subj /CN=dev-2 2>/dev/null
check "  ... a device enrolled after it" bash -c \
    "podman exec -i '$VIGIL' vigilctl device enroll --csr /dev/stdin < '$T/dev/dev-2.csr' > '$T/dev/dev-2.crt'"
podman exec "$VIGIL" vigilctl ca chain >"$T/dev/ca-chain-2.pem"
dev2_report() {
    curl -sS --fail-with-body --cert "$T/dev/dev-2.crt" --key "$T/dev/dev-2.key" \
        --cacert "$T/dev/ca-chain-2.pem" -H 'Content-Type: application/json' -d "$(report)" \
        "https://127.0.0.1:$DPORT/v1/incidents"
}
reported_within() {  # vigild picks up the new issuing CA within a second
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do dev2_report && return 0; sleep 0.5; done
    return 1
}
check "  ... reports (vigild trusts the new issuing CA, no restart)" reported_within
check_contains "  ... stored" '"status":"stored"' "$T/out"
# docs/DOCKER.md's renewal of the device port's certificate: made beside
# the old one, moved into place, loaded on SIGHUP (docker compose kill).
serial() { echo | openssl s_client -connect "127.0.0.1:$DPORT" -servername localhost 2>/dev/null \
    | openssl x509 -noout -serial; }
serial_before=$(serial)
check "a new device port certificate, made as docs/DOCKER.md says" bash -c "podman exec -i '$VIGIL' sh -c \
    'mkdir -p /var/lib/vigil/tls.new && vigilctl ca server-cert --dns localhost --ip 127.0.0.1 \
     --out-dir /var/lib/vigil/tls.new && mv /var/lib/vigil/tls.new/server.key \
     /var/lib/vigil/tls.new/server.crt /var/lib/vigil/tls/ && rmdir /var/lib/vigil/tls.new'"
check "  ... docker compose kill -s HUP vigil" bash -c "cd '$W/docker' && PATH='$SHIM:$PATH' docker compose kill -s HUP vigil"
new_serial() {
    local i
    for i in $(seq 20); do [ "$(serial)" != "$serial_before" ] && return 0; sleep 0.25; done
    return 1
}
check "  ... the device port serves it (no restart)" new_serial
podman logs "$VIGIL" >"$T/vigil-hup.log" 2>&1
check_contains "  ... and vigild said so" "reloaded the TLS certificate, key and trusted CAs" "$T/vigil-hup.log"
# docs/DOCKER.md: a release is signed in a one-off container that alone
# gets the key (from the operator's machine, read-only) and the artifact,
# against the same database; the server never holds the key, and serves
# the release to devices.
mkdir -p -m 0700 "$T/release-keys"
chown 10001:10001 "$T/release-keys"
head -c 300000 /dev/urandom >"$T/fw.bin"
chmod 0644 "$T/fw.bin"
one_off() { db_run 120 "$W/docker/secrets/db-password" -e VIGIL_RELEASE_DIR=/keys "$@"; }
check "a release key made in a one-off container, kept on the host" \
    one_off -v "$T/release-keys:/keys" "$IMAGE" vigilctl release key init
kid=$(basename "$(ls "$T"/release-keys/*.key 2>/dev/null | head -1)" .key)
check "a release signed the same way (the key mounted read-only)" one_off -v "$T/release-keys:/keys:ro" \
    -v "$T/fw.bin:/fw.bin:ro" "$IMAGE" vigilctl release create --artifact /fw.bin --version 1.2.0 \
    --security-version 3 --class default
check_eq "  ... and the server's container holds no release key" "" \
    "$(podman exec "$VIGIL" find / -xdev -name "$kid.key" 2>/dev/null)"
check "a rollout of it, from the server's container (no key needed)" \
    podman exec "$VIGIL" vigilctl rollout start 1.2.0 --percent 100 --class default
update_check() {
    curl -sS --fail-with-body -D "$T/update.hdr" -o "$T/manifest.jws" --cert "$T/dev/dev-1.crt" \
        --key "$T/dev/dev-1.key" --cacert "$T/dev/ca-chain.pem" -H 'X-Vigil-Version: 1.0.0' \
        -H 'X-Vigil-Security-Version: 1' "https://127.0.0.1:$DPORT/v1/update" &&
        grep -qi '^content-type: application/jose' "$T/update.hdr"
}
offered_within() {  # every vigild hears of a rollout within a second
    local i
    for i in $(seq 10); do update_check && return 0; sleep 0.5; done
    return 1
}
check "dev-1 is offered the signed manifest" offered_within
sha=$(sha256sum <"$T/fw.bin" | cut -d' ' -f1)
check "  ... and downloads the artifact through the published port" \
    curl -sS --fail-with-body -o "$T/fw.got" --cert "$T/dev/dev-1.crt" --key "$T/dev/dev-1.key" \
    --cacert "$T/dev/ca-chain.pem" "https://127.0.0.1:$DPORT/v1/artifacts/$sha"
check_eq "  ... byte for byte" "$sha" "$(sha256sum <"$T/fw.got" | cut -d' ' -f1)"
count() { podman exec "$DB" psql -U vigil -d vigil -Atc "SELECT count(*) FROM incidents WHERE device_id = 'dev-1'"; }
check_eq "PostgreSQL holds both of dev-1's reports" "2" "$(count)"
ca_sum() { podman exec "$VIGIL" vigilctl ca chain | sha256sum; }
ca_before=$(ca_sum)

# -- podman stop drains; down and up keep the data and the CA ------------------
check "podman stop" podman stop -t 20 "$VIGIL"
check_eq "  ... vigild exited 0" "0" "$(podman inspect --format '{{.State.ExitCode}}' "$VIGIL")"
podman logs "$VIGIL" >"$T/vigil.log" 2>&1
check_contains "  ... after draining (SIGTERM)" '"msg":"draining","signal":"SIGTERM"' "$T/vigil.log"
check_contains "  ... and said so" '"msg":"vigild stopped"' "$T/vigil.log"
check "docker compose down (volumes kept)" bash -c "cd '$W/docker' && PATH='$SHIM:$PATH' docker compose down"
check_eq "  ... no container left" "" "$(podman ps -a --filter "label=io.podman.compose.project=$P" --format '{{.Names}}')"
check "docker compose up -d --wait again" bash -c "cd '$W/docker' && PATH='$SHIM:$PATH' docker compose up -d --wait"
check_eq "  ... the reports are still there" "2" "$(count)"
check_eq "  ... and the same CA" "$ca_before" "$(ca_sum)"
say "down/up done at $(elapsed)"

# -- the README's upgrade, to an image of another commit -----------------------
old_id=$(podman inspect --format '{{.Id}}' "$VIGIL")
gitw commit -q --allow-empty -m "a later commit (git pull)"
COMMIT2=$(gitw rev-parse --short HEAD)
run_block "$last"
check_contains "  ... the new vigild runs" "(commit $COMMIT2)" "$T/block-$(basename "$last" .sh).out"
check "  ... in a new container" test "$old_id" != "$(podman inspect --format '{{.Id}}' "$VIGIL")"
check_eq "  ... with the reports" "2" "$(count)"
check_eq "  ... and the CA" "$ca_before" "$(ca_sum)"
say "upgrade done at $(elapsed)"

# The cache for the next run: the build stage tagged (so that removing the
# dangling images of earlier runs keeps it), then those removed.
podman build -q --pull=never --target build --build-arg VIGIL_COMMIT="$COMMIT2" -f "$W/docker/Dockerfile" \
    -t localhost/vigil-test:build "$W" >/dev/null 2>&1
podman image prune -f >/dev/null 2>&1
say "took $(elapsed)"
finish
