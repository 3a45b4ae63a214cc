#!/usr/bin/env bash
# test_readme.sh - README.md cannot drift from the product: its ```sh blocks
# are extracted (tests/e2e/readme/readme_blocks.py; the convention is in a
# comment at the top of README.md: ```sh blocks run, ```sh install blocks are
# test_install.sh's, ```console and ```text blocks are only shown; a command
# commented `fails:` must fail, one commented `again:` may be refused on a
# second run) and run in order, in a throwaway copy of the checkout (its
# top-level entries linked, var/ its own, so the developer's var/ is never
# touched) against a `make run` the test starts there on free ports, with
# the programs already built in build/ (`make run` would build them). Then
# `make stop`, `make run` again and the commands its banner suggests (which
# must work after the README's flow), and every block a second time: the
# README's commands are safe to run twice. Everything started is stopped.
source "$(dirname "$0")/../../lib/harness.sh"

source "$REPO/tests/e2e/make/checkout_copy.sh"
mkdir -p "$T/blocks"

# run_blocks RUN: every block in order; each must meet its annotations.
run_blocks() {
    local run=$1 b rc
    for b in "$T"/blocks/*.sh; do
        : >"$T/fails"
        (cd "$W" && README_FAILS="$T/fails" timeout 180 bash "$b") >"$T/out" 2>"$T/err"
        rc=$?
        [ "$rc" -eq 124 ] && echo "    timed out" >>"$T/err"
        python3 "$REPO/tests/e2e/readme/readme_blocks.py" judge "$b" "$T/fails" "$run" >>"$T/err"
        _report $? "run $run: README block $(basename "$b" .sh) ($(sed -n 4p "$b" | cut -c3-))"
    done
}

n=$(python3 "$REPO/tests/e2e/readme/readme_blocks.py" extract "$REPO/README.md" sh "$T/blocks")
check "README.md has shell blocks to run ($n)" test "$n" -ge 6

check "make run starts vigild and PostgreSQL in the copy" make_run "$T/run1.log"
[ "$FAILED" -eq 0 ] || finish
check_contains "make run says where the admin token is" "the admin token is in var/admin-token" "$T/run1.log"
run grep -c "shown only this once" "$T/run1.log"
check_eq "make run does not claim to show a token it does not show" 0 "$(cat "$T/out")"
check_contains "make run's next step is the README's" "README.md, \"Report an incident\"" "$T/run1.log"

run_blocks 1

# Stopped and started again, make run reuses what is there; its banner's
# commands work after the README's flow.
check "make stop stops vigild and PostgreSQL" bash -c "cd '$W' && bash tools/dev/run.sh stop"
check_contains "make stop names the vigild it stopped" "stopped vigild (pid" "$T/out"
check_contains "make stop names the PostgreSQL it stopped" "stopped PostgreSQL (pid" "$T/out"
check "make run starts again on what is there" make_run "$T/run2.log"
check_contains "make run reuses the CA" "CA: using var/ca" "$T/run2.log"
{
    echo "set -e"
    sed -n "/^Next, in another shell/,/^'make status'/p" "$T/run2.log" | sed '1d;$d'
} >"$T/next.sh"
check "the banner's next commands work after the README's flow" \
    bash -c "cd '$W' && timeout 120 bash '$T/next.sh'"

run_blocks 2

# What the two runs leave is whole: demo-1's certificate and key match and
# verify against the chain the device holds.
check "demo-1's certificate is not empty" test -s "$W/var/devices/demo-1.crt"
check "demo-1's certificate verifies against its CA file" \
    openssl verify -CAfile "$W/var/ca-chain.pem" "$W/var/devices/demo-1.crt"
check_eq "demo-1's certificate and key match" \
    "$(openssl x509 -in "$W/var/devices/demo-1.crt" -noout -pubkey 2>/dev/null | sha256sum)" \
    "$(openssl pkey -in "$W/var/devices/demo-1.key" -pubout 2>/dev/null | sha256sum)"
check "vigild is still ready" curl -sf "http://127.0.0.1:$APORT/readyz"

check "make stop at the end" bash -c "cd '$W' && bash tools/dev/run.sh stop"
check_contains "make stop stopped vigild" "stopped vigild (pid" "$T/out"
finish
