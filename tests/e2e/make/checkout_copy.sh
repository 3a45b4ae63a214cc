# checkout_copy.sh - sourced (after tests/lib/harness.sh) by the tests of
# `make run`/`stop`/`status` and of the README: a throwaway copy of the
# checkout in $W ($T/checkout: the top-level entries linked, build/ linked
# to the release build, var/ its own, so the developer's var/ is never
# touched), free ports $DPORT and $APORT, and make_run, which starts
# `make run`'s script there in the background (the programs are built
# already; `make run` would build them). Everything it starts is stopped at
# exit by `make stop`'s script.
# shellcheck shell=bash

COPY_BUILD=${VIGIL_RELEASE_BUILD:-build}
case "$COPY_BUILD" in /*) ;; *) COPY_BUILD="$REPO/$COPY_BUILD" ;; esac
if [ ! -x "$COPY_BUILD/vigild" ]; then
    echo "FAIL - no $COPY_BUILD/vigild: run 'make programs' first"
    exit 1
fi
W="$T/checkout"
mkdir -p "$W"
chmod 0755 "$T"     # var/pg in the copy belongs to postgres when we are root
for _entry in "$REPO"/* "$REPO/.gitignore"; do
    case "${_entry##*/}" in var | build) ;; *) ln -s "$_entry" "$W/${_entry##*/}" ;; esac
done
ln -s "$COPY_BUILD" "$W/build"
DPORT=$(free_port)
APORT=$(free_port)
while [ "$APORT" = "$DPORT" ]; do APORT=$(free_port); done
unset VIGIL_RELEASE_DIR VIGIL_TLS_CERT VIGIL_TLS_KEY VIGIL_DEVICE_LISTEN VIGIL_API_LISTEN VIGIL_API_URL
at_exit "cd '$W' && bash tools/dev/run.sh stop"

# make_run LOG: run.sh in the copy, in the background (its PID, vigild's
# after the exec, in $RUN_PID), until /readyz answers (bounded).
make_run() {
    (cd "$W" && VIGIL_BUILD=build VIGIL_DEVICE_PORT=$DPORT VIGIL_API_PORT=$APORT exec bash tools/dev/run.sh) \
        >"$1" 2>&1 &
    RUN_PID=$!
    local i
    for ((i = 0; i < 600; i++)); do
        curl -sf --max-time 1 "http://127.0.0.1:$APORT/readyz" >/dev/null 2>&1 && return 0
        [ -d "/proc/$RUN_PID" ] || break
        sleep 0.1
    done
    cat "$1" >&2
    return 1
}
