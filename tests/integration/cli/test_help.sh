#!/usr/bin/env bash
# Every command answers --help with exit 0 and a usage line; unknown
# commands and options exit 2.
. "$(dirname "$0")/../../lib/harness.sh"
for c in "db migrate" "ca init" "ca show" "ca chain" "ca server-cert" "ca crl" "ca rotate" "ca policy" \
         "device enroll" "device create" "device list" "device show" "device allow-renewal" \
         "cert revoke" "cert list" "cert show" "token create" "token list" "token revoke" \
         "incidents" "incidents groups" "devices" "device tag" "device untag" \
         "release key init" "release key rotate" "release key export" "release create" \
         "release list" "release show" "release revoke" "rollout start" "rollout widen" \
         "rollout pause" "rollout resume" "rollout abort" "rollout status" "rollout list"; do
    # shellcheck disable=SC2086
    check "vigilctl $c --help" "$VIGILCTL" $c --help
    check_contains "vigilctl $c --help has usage" "Usage: vigilctl $c" "$T/out"
done
check "vigilctl --help" "$VIGILCTL" --help
check_contains "vigilctl --help lists ca policy" "ca        policy" "$T/out"
check_contains "vigilctl --help lists device allow-renewal" "device    allow-renewal" "$T/out"
check_contains "vigilctl --help lists release create" "release   create" "$T/out"
check_contains "vigilctl --help lists rollout start" "rollout   start" "$T/out"
check_contains "vigilctl --help names the release key directory" "VIGIL_RELEASE_DIR" "$T/out"
for g in db ca device cert token release rollout; do
    check "vigilctl $g --help" "$VIGILCTL" $g --help
    check_contains "vigilctl $g --help has usage" "Usage: vigilctl $g <command>" "$T/out"
done
"$VIGILCTL" device --help >"$T/out"
check_contains "vigilctl device --help lists allow-renewal" "allow-renewal" "$T/out"
"$VIGILCTL" ca --help >"$T/out"
check_contains "vigilctl ca --help lists policy" "policy" "$T/out"
check_exit 2 "no command: exit 2" "$VIGILCTL"
check_exit 2 "unknown command: exit 2" "$VIGILCTL" ca frobnicate
check_exit 2 "unknown group: exit 2" "$VIGILCTL" frob
check_exit 2 "a typo in a command: exit 2" "$VIGILCTL" device enrol
check_contains "  ... names it" "unknown command 'device enrol'" "$T/err"
check_contains "  ... lists the commands of its group" "  enroll         sign a device's CSR" "$T/err"
check "  ... and only those (not the whole --help)" bash -c "! grep -q 'rollout   start' '$T/err'"
check_exit 2 "a group without a command: exit 2" "$VIGILCTL" device
check_contains "  ... says a command is missing" "vigilctl device: which command?" "$T/err"
check "vigild --help" "$VIGILD" --help
check_contains "vigild --help lists settings" "--device-listen" "$T/out"
check_exit 2 "vigild without configuration: exit 2" "$VIGILD"
check_contains "and says what is missing" "database-url is required" "$T/err"
finish
