#!/usr/bin/env bash
# vigilctl --version (no database needed, exit 0), and file errors that
# name the path and the reason, never OpenSSL's "system lib" / "PEM lib":
# --csr (missing, empty, a directory, not a CSR), --csr-dir, --passphrase-file,
# --artifact, --out, and a CA directory whose files are broken.
. "$(dirname "$0")/../../lib/harness.sh"

check "vigilctl --version without a database" env -u VIGIL_DATABASE_URL "$VIGILCTL" --version
check_eq "prints the program and the build's version" "1" "$(grep -cE '^vigilctl [0-9]+\.[0-9]+\.[0-9]+' "$T/out")"
check_eq "one line" "1" "$(wc -l <"$T/out")"
check "--help mentions --version" "$VIGILCTL" --help
check_contains "--version" "vigilctl --version" "$T/out"

pg_start
setup_ca
F="$T/f"
mkdir -p "$F/dir" "$F/batch"
: >"$F/empty.csr"
echo "not a csr" >"$F/junk.csr"
all_err="$T/all-errors"
: >"$all_err"
keep() { cat "$T/err" >>"$all_err"; }

check_exit 1 "--csr missing" "$VIGILCTL" device enroll --csr "$F/nope.csr"
check_contains "path and reason" "$F/nope.csr: No such file or directory" "$T/err"; keep
check_exit 1 "--csr empty" "$VIGILCTL" device enroll --csr "$F/empty.csr"
check_contains "says it is empty" "$F/empty.csr is empty" "$T/err"; keep
check_exit 1 "--csr a directory" "$VIGILCTL" device enroll --csr "$F/dir"
check_contains "says it is a directory" "$F/dir is a directory" "$T/err"; keep
check_exit 1 "--csr not a CSR" "$VIGILCTL" device enroll --csr "$F/junk.csr"
check_contains "says what it is not" "$F/junk.csr: not a certificate signing request" "$T/err"; keep
check_exit 1 "--csr-dir missing" "$VIGILCTL" device enroll --csr-dir "$F/nope"
check_contains "path and reason" "$F/nope: No such file or directory" "$T/err"; keep
cp "$F/empty.csr" "$F/junk.csr" "$F/batch/"
check_exit 1 "--csr-dir with bad files" "$VIGILCTL" device enroll --csr-dir "$F/batch"
check_contains "each named with its reason" "$F/batch/empty.csr is empty" "$T/err"
check_contains "the other" "$F/batch/junk.csr: not a certificate signing request" "$T/err"; keep
check_exit 1 "--csr-dir DIR/ (as the README writes csrs/)" "$VIGILCTL" device enroll --csr-dir "$F/batch/"
check_contains "names its files DIR/FILE, not DIR//FILE" "$F/batch/empty.csr is empty" "$T/err"; keep
check_exit 3 "--passphrase-file missing" "$VIGILCTL" ca crl --passphrase-file "$F/nope.pass"
check_contains "path and reason" "cannot read $F/nope.pass: No such file or directory" "$T/err"; keep
check_exit 3 "--passphrase-file a directory" "$VIGILCTL" ca crl --passphrase-file "$F/dir"
check_contains "path and reason" "cannot read $F/dir: Is a directory" "$T/err"; keep
: >"$F/empty.pass"
check_exit 3 "--passphrase-file empty" "$VIGILCTL" ca crl --passphrase-file "$F/empty.pass"
check_contains "says it is empty" "passphrase file: $F/empty.pass is empty" "$T/err"; keep
check_exit 2 "VIGIL_DATABASE_PASSWORD_FILE missing: exit 2 (a setting to mend)" \
    env VIGIL_DATABASE_PASSWORD_FILE="$F/nope.pw" "$VIGILCTL" devices
check_contains "names the variable, the file and the reason" \
    "VIGIL_DATABASE_PASSWORD_FILE: cannot read $F/nope.pw: No such file or directory" "$T/err"; keep
echo pw >"$F/db.pw"
check_exit 2 "VIGIL_DATABASE_PASSWORD_FILE beside a password in the URL: exit 2" \
    env VIGIL_DATABASE_PASSWORD_FILE="$F/db.pw" VIGIL_DATABASE_URL="postgresql://u:inline@127.0.0.1:1/x" "$VIGILCTL" devices
check_contains "says the URL's would win" "holds a password and a password file is given too" "$T/err"
check_eq "  ... without printing it" "0" "$(grep -c inline "$T/err")"; keep
check_exit 1 "--out in a missing directory" "$VIGILCTL" ca chain --out "$F/nope/chain.pem"
check_contains "names the file" "--out $F/nope/chain.pem" "$T/err"
check_contains "and the reason" "No such file or directory" "$T/err"; keep

# a CA directory with broken files: each named with the problem
cp -r "$VIGIL_CA_DIR" "$T/ca-empty"
: >"$T/ca-empty/root.crt"
check_exit 3 "an empty root certificate" "$VIGILCTL" ca show --ca-dir "$T/ca-empty"
check_contains "named, empty" "root.crt is empty" "$T/err"; keep
cp -r "$VIGIL_CA_DIR" "$T/ca-junk"
echo junk >"$T/ca-junk/root.crt"
check_exit 3 "a root certificate that is not PEM" "$VIGILCTL" ca show --ca-dir "$T/ca-junk"
check_contains "named" "root.crt" "$T/err"; keep
check_exit 3 "a CA directory that does not exist" "$VIGILCTL" ca show --ca-dir "$F/nope"
check_contains "names it and what to do" "no CA in $F/nope" "$T/err"; keep

# release artifacts
export VIGIL_RELEASE_DIR="$T/release"
"$VIGILCTL" release key init >/dev/null 2>&1
check_exit 1 "--artifact missing" "$VIGILCTL" release create --artifact "$F/nope.bin" --version 1.0.0 --security-version 1 --class default
check_contains "path and reason" "$F/nope.bin: No such file or directory" "$T/err"; keep
check_exit 1 "--artifact a directory" "$VIGILCTL" release create --artifact "$F/dir" --version 1.0.0 --security-version 1 --class default
check_contains "says it is not a file" "$F/dir is not a regular file" "$T/err"; keep

check_eq "no OpenSSL library text reached the user" "0" "$(grep -ciE 'system lib|PEM lib|error:[0-9A-F]{8}:' "$all_err")"
finish
