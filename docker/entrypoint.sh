#!/bin/sh
# vigil-entrypoint - the image's entrypoint. `vigild` (the default command,
# or any arguments that start with `-`) is the server: wait for PostgreSQL
# (bounded), apply the migrations, wait for the CA and the device port's
# certificate (an operator makes them with `vigilctl` in this container),
# then exec vigild, so that it is PID 1 and gets docker stop's SIGTERM
# (it drains and exits 0). `vigild --help` and `--version` need none of
# that; any other command (vigilctl, vigil-device, sh) runs as it is.
#
# Settings (all optional but the first; durations as vigild's: 250ms, 60s,
# 5m, 1h, a bare number being milliseconds):
#   VIGIL_DATABASE_URL            PostgreSQL, e.g. postgresql://vigil@db/vigil
#   VIGIL_DATABASE_PASSWORD_FILE  its password, first line (a Docker secret)
#   VIGIL_DATABASE_WAIT           how long to wait for PostgreSQL (default 60s;
#                                 vigild's --database-wait, which reads it too)
#   VIGIL_CA_WAIT                 how long to wait for the CA and the server
#                                 certificate (default: until they exist; 0:
#                                 exit 4 at once)
#   VIGIL_CA_PASSPHRASE_FILE      the CA keys' passphrase, first line
# Exit codes are vigild's: 2 configuration, 3 database, 4 CA or TLS files.
set -eu

# printf, not echo: dash's echo expands backslashes in what it is given.
say() { printf 'vigil-entrypoint: %s\n' "$*" >&2; }

case "${1:-vigild}" in
-*) set -- vigild "$@" ;;
esac
[ $# -gt 0 ] || set -- vigild
[ "$1" = vigild ] || exec "$@"
for arg in "$@"; do
    case "$arg" in
    --help | -h | --version) exec "$@" ;;
    esac
done

# docker stop while waiting: leave at once (sh as PID 1 ignores SIGTERM
# unless it traps it).
trap 'say "stopped while waiting"; exit 143' TERM INT

# One second, in the background: the TERM trap runs at once, not after it.
nap() {
    sleep 1 &
    wait $! || true
}

# The URL without its passwords, for messages: in a URI everything from the
# first ':' of the user part to the last '@' (a password may hold ':', '/'
# or, wrongly unencoded, '@'); in either syntax every password= and
# sslpassword=, with spaces around '=' and a quoted value ('a b', 'it\'s).
url_shown() {
    q="'"
    printf '%s' "$VIGIL_DATABASE_URL" | sed -E \
        -e 's#^(postgres(ql)?://[^:@/]*):.*@#\1:***@#' \
        -e "s#(^|[[:space:]?&])((ssl)?password)[[:space:]]*=[[:space:]]*($q([^$q\\\\]|\\\\.)*$q|[^[:space:]&]*)#\\1\\2=***#g"
}

# A duration (vigild's syntax) in whole seconds, rounded up, on stdout; 1
# when it is not one. At most 9 digits: test(1) in dash refuses larger
# numbers, and an `if` would take that for "not yet".
seconds_of() {
    case "$1" in
    '' | ??????????* | *[!0-9a-z]*) return 1 ;;
    esac
    n=${1%%[a-z]*}
    unit=${1#"$n"}
    [ -n "$n" ] || return 1
    case "$unit" in
    '' | ms) echo $(((n + 999) / 1000)) ;;
    s) echo "$n" ;;
    m) echo $((n * 60)) ;;
    h) echo $((n * 3600)) ;;
    *) return 1 ;;
    esac
}

# A secret file the vigil user cannot read: said now, not after the wait.
check_secret_file() {  # VARIABLE VALUE
    f=$2
    [ -n "$f" ] || return 0
    if [ ! -r "$f" ] || [ ! -f "$f" ]; then
        say "$1=$f: cannot read it as uid $(id -u) ($(id -un))."
        say "  On the host, make the secret file readable by that uid: chown $(id -u):$(id -g) FILE, mode 0600."
        exit 2
    fi
}

wait_for_database() {
    if [ -z "${VIGIL_DATABASE_URL:-}" ]; then
        say "VIGIL_DATABASE_URL is not set: give the PostgreSQL URL, e.g."
        say "  VIGIL_DATABASE_URL=postgresql://vigil@db/vigil VIGIL_DATABASE_PASSWORD_FILE=/run/secrets/db-password"
        exit 2
    fi
    wait_d=${VIGIL_DATABASE_WAIT:-60s}
    wait_s=$(seconds_of "$wait_d") || { say "VIGIL_DATABASE_WAIT=$wait_d: give a duration such as 60s or 5m"; exit 2; }
    check_secret_file VIGIL_DATABASE_PASSWORD_FILE "${VIGIL_DATABASE_PASSWORD_FILE:-}"
    check_secret_file VIGIL_CA_PASSPHRASE_FILE "${VIGIL_CA_PASSPHRASE_FILE:-}"
    start=$(date +%s)
    said=0
    # vigilctl exits 4 for a database it cannot use; anything else is final,
    # and so is a refused password: waiting will not change it.
    while :; do
        rc=0
        out=$(vigilctl db migrate 2>&1) || rc=$?
        [ "$rc" -eq 0 ] && { printf '%s\n' "$out"; return 0; }
        waited=$(($(date +%s) - start))
        case "$out" in
        *"password authentication failed"* | *"no password supplied"*)
            printf '%s\n' "$out" >&2
            say "PostgreSQL at $(url_shown) refused the password (VIGIL_DATABASE_PASSWORD_FILE)."
            say "  PostgreSQL's image sets its password only when its data volume is new: use the"
            say "  password it was made with, or change it there (ALTER ROLE ... PASSWORD)."
            exit 3
            ;;
        esac
        if [ "$rc" -ne 4 ] || [ "$waited" -ge "$wait_s" ]; then
            printf '%s\n' "$out" >&2
            say "PostgreSQL at $(url_shown) is not usable after ${waited} s (VIGIL_DATABASE_WAIT=$wait_d): see above"
            exit 3
        fi
        if [ "$said" -eq 0 ]; then
            say "waiting up to $wait_s s for PostgreSQL at $(url_shown)"
            said=1
        fi
        nap
    done
}

# 0 when the CA directory and the device port's certificate are there.
have_ca() {
    vigilctl ca show >/dev/null 2>&1 && [ -s "$VIGIL_TLS_CERT" ] && [ -s "$VIGIL_TLS_KEY" ]
}

wait_for_ca() {
    have_ca && return 0
    ca_wait=
    if [ -n "${VIGIL_CA_WAIT:-}" ] && ! ca_wait=$(seconds_of "$VIGIL_CA_WAIT"); then
        say "VIGIL_CA_WAIT=$VIGIL_CA_WAIT: give a duration such as 10m, or leave it unset"
        exit 2
    fi
    say "vigild needs a CA in $VIGIL_CA_DIR and a certificate for the device port in $VIGIL_TLS_CERT."
    say "Make them in this container (HOST: the name devices connect to):"
    say "  docker compose exec vigil vigilctl ca init"
    say "  docker compose exec vigil vigilctl ca server-cert --dns HOST [--ip ADDR] --out-dir $(dirname "$VIGIL_TLS_CERT")"
    say "(without compose: docker exec CONTAINER vigilctl ...); vigild starts as soon as both exist."
    [ "$ca_wait" = 0 ] && exit 4
    start=$(date +%s)
    last=$start
    until have_ca; do
        now=$(date +%s)
        if [ -n "$ca_wait" ] && [ $((now - start)) -ge "$ca_wait" ]; then
            say "no CA or server certificate after $ca_wait s (VIGIL_CA_WAIT=$VIGIL_CA_WAIT)"
            exit 4
        fi
        if [ $((now - last)) -ge 60 ]; then
            say "still waiting for the CA and the server certificate (see above)"
            last=$now
        fi
        nap
    done
    say "CA and server certificate found"
}

wait_for_database
wait_for_ca
trap - TERM INT
exec "$@"
