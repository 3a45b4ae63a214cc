#!/usr/bin/env bash
# test_install.sh - README.md's "Run it on a server of your own", as written:
# its ```sh install blocks (see the comment at the top of README.md) run in
# one root shell, in order, with these differences only: `make install` gets
# PREFIX and SYSCONFDIR in a temporary root (and the release build of
# build/), /etc/vigil and ~ are mapped into it, ports 8443/8080 become free
# ones (also in the installed vigild.conf), PGHOST points createuser,
# vigilctl and vigild at a temporary PostgreSQL cluster, and `systemctl` is a
# stand-in that runs the installed unit's ExecStart as its User= (systemd
# does not run here). The unit is checked with `systemd-analyze verify` when
# that works here. Then the server must be up as user vigil, ready, with the
# first device's report stored; SIGTERM stops it; `make install DESTDIR=`
# stages a package tree and `make uninstall` removes what was installed. The
# user vigil is created if missing (and removed at exit then).
source "$(dirname "$0")/../../lib/harness.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "ok - skipped: the README's server installation runs as root (useradd, runuser)"
    finish
fi
build=${VIGIL_RELEASE_BUILD:-build}
if [ ! -x "$REPO/$build/vigild" ] && [ ! -x "$build/vigild" ]; then
    echo "FAIL - no $build/vigild: run 'make programs' first"
    exit 1
fi

chmod 0755 "$T"      # the user vigil reads the installed tree
D="$T/root"
mkdir -p "$D/home" "$T/shim" "$T/blocks"
dport=$(free_port)
aport=$(free_port)
while [ "$aport" = "$dport" ]; do aport=$(free_port); done
if ! id vigil >/dev/null 2>&1; then
    at_exit "userdel vigil"
fi
pg_start
chmod 0755 "$PGDIR"     # the user vigil reaches the socket
# A cluster as Debian's package makes it: no database vigil yet.
"$PSQL" "postgresql:///postgres?host=$PGDIR/sock&user=postgres" -qc 'DROP DATABASE vigil' >/dev/null
export PGHOST="$PGDIR/sock"
unset VIGIL_DATABASE_URL VIGIL_RELEASE_DIR
conf="$D/etc/vigil/vigild.conf"
unit="$D/usr/local/lib/systemd/system/vigild.service"

# The stand-in for systemctl: daemon-reload does nothing; enable --now
# starts the unit's ExecStart as its User= and Group= (setpriv execs it, so
# the PID is vigild's), in a clean environment but for PGHOST.
cat >"$T/shim/systemctl" <<SHIM
#!/usr/bin/env bash
case "\$*" in
daemon-reload) exit 0 ;;
"enable --now vigild") ;;
*) echo "systemctl stand-in: \$* is not supported" >&2; exit 1 ;;
esac
user=\$(sed -n 's/^User=//p' '$unit')
group=\$(sed -n 's/^Group=//p' '$unit')
exec_start=\$(sed -n 's/^ExecStart=//p' '$unit')
# shellcheck disable=SC2086
env -i PATH=/usr/bin:/bin PGHOST='$PGHOST' setpriv --reuid="\$user" --regid="\$group" --init-groups \\
    -- \$exec_start >'$T/vigild.log' 2>&1 &
echo \$! >'$T/vigild.pid'
SHIM
chmod +x "$T/shim/systemctl"
at_exit "[ -s '$T/vigild.pid' ] && kill -TERM \$(cat '$T/vigild.pid')"

# shellcheck disable=SC2088 # "~/" is the README's text, mapped to $D/home/
n=$(python3 "$REPO/tests/e2e/readme/readme_blocks.py" extract "$REPO/README.md" "sh install" "$T/blocks" \
    "/etc/vigil=$D/etc/vigil" "~/=$D/home/" ":8443=:$dport" ":8080=:$aport" \
    "make install=make -s install PREFIX=$D/usr/local SYSCONFDIR=$D/etc BUILD=$build && sed -i -e 's/:8443/:$dport/' -e 's/:8080/:$aport/' $conf")
check "README.md has the server installation's blocks ($n)" test "$n" -ge 2
cat "$T"/blocks/*.sh >"$T/install.sh"

: >"$T/fails"
(cd "$REPO" && PATH="$T/shim:$D/usr/local/bin:$PATH" HOME="$D/home" README_FAILS="$T/fails" \
    timeout 240 bash "$T/install.sh") >"$T/out" 2>"$T/err"
python3 "$REPO/tests/e2e/readme/readme_blocks.py" judge "$T/install.sh" "$T/fails" 1 >>"$T/err"
_report $? "the README's server installation runs as written"
cp "$T/err" "$T/install.err"

check "make install put the programs in PREFIX/bin" \
    test -x "$D/usr/local/bin/vigild" -a -x "$D/usr/local/bin/vigilctl" -a -x "$D/usr/local/bin/vigil-device"
check "make install put the sample config and the sysusers entry" \
    test -f "$conf" -a -f "$D/etc/vigil/vigild.conf.sample" -a -f "$D/usr/local/lib/sysusers.d/vigil.conf"
check_contains "the unit runs the installed vigild with the installed config" \
    "ExecStart=$D/usr/local/bin/vigild --config $conf" "$unit"
check_contains "the unit runs as the user vigil" "User=vigil" "$unit"
pid=$(cat "$T/vigild.pid" 2>/dev/null)
check_eq "vigild runs as the user vigil" vigil "$(ps -o user= -p "${pid:-0}" 2>/dev/null)"
check "vigild is ready" curl -sf "http://127.0.0.1:$aport/readyz"
check_eq "the first device's report is stored" 1 \
    "$("$PSQL" "postgresql:///vigil?host=$PGDIR/sock&user=postgres" -Atqc \
        "SELECT count(*) FROM incidents WHERE device_id = 'device-0001'" 2>/dev/null)"

if command -v systemd-analyze >/dev/null 2>&1; then
    if run systemd-analyze verify "$unit"; then
        _report 0 "systemd-analyze verify accepts the unit"
    elif grep -q 'vigild.service' "$T/err"; then
        _report 1 "systemd-analyze verify accepts the unit"
    else
        echo "ok - skipped: systemd-analyze verify cannot run here ($(head -n 1 "$T/err"))"
    fi
else
    echo "ok - skipped: no systemd-analyze to verify the unit"
fi

stop_vigild() {
    kill -TERM "$pid" || return 1
    local i
    for ((i = 0; i < 300; i++)); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    return 1
}
check "SIGTERM stops vigild" stop_vigild
: >"$T/vigild.pid"

check "make install DESTDIR= stages a package tree" \
    make -s -C "$REPO" install DESTDIR="$T/stage" PREFIX=/usr BUILD="$build"
check "the staged tree has the programs" test -x "$T/stage/usr/bin/vigild"
check_contains "the staged unit names the final paths" \
    "ExecStart=/usr/bin/vigild --config /etc/vigil/vigild.conf" "$T/stage/usr/lib/systemd/system/vigild.service"
check "make install again keeps an edited vigild.conf" bash -c \
    "echo '# edited' >> '$conf' && make -s -C '$REPO' install PREFIX='$D/usr/local' SYSCONFDIR='$D/etc' BUILD='$build' && grep -q '# edited' '$conf'"
check "make uninstall" make -s -C "$REPO" uninstall PREFIX="$D/usr/local" SYSCONFDIR="$D/etc"
check "make uninstall removed the programs and the unit" test ! -e "$D/usr/local/bin/vigild" -a ! -e "$unit"
check "make uninstall kept vigild.conf" test -f "$conf"
finish
