#!/usr/bin/env bash
# vigil-device's command line and its errors, the real binary against a real
# vigild: a server that refuses the certificate's issuer (self-signed, or
# from another CA) is an identity refusal in words (exit 3), not a retry; an
# abbreviated or unknown option and a bad value are usage errors (exit 2)
# that quote what was given and queue nothing; certificate and key file
# problems name the file and the reason; each command has its own --help
# with its defaults; --version (vigil-device, vigil-bench).
. "$(dirname "$0")/../../lib/harness.sh"
device_server
mkdir -p "$D"
VIGIL_BENCH="$VIGIL_BUILD/vigil-bench"
Q="$T/queue"
# dev CERT KEY CMD [ARGS...]: vigil-device CMD with that pair and the fleet chain
# (and the queue $Q for the commands that have one)
dev() {
    local cert=$1 key=$2 cmd=$3 q=(); shift 3
    case $cmd in report | flush | run) q=(--queue-dir "$Q") ;; esac
    "$VIGIL_DEVICE" "$cmd" --server "127.0.0.1:$port" --cert "$cert" --key "$key" --ca "$T/chain.pem" \
        "${q[@]}" "$@"
}
good() { dev "$D/sensor-1.crt" "$D/sensor-1.key" "$@"; }
queued() { find "$Q" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
# no_blank_lines: stderr has no bare "vigil-device: " line and no retrying
no_blank_lines() { ! grep -qxE 'vigil-device: *' "$T/err" && ! grep -q 'retrying' "$T/err"; }
# refused WHAT CERT KEY WORDS: report, flush, renew and cacerts exit 3 with
# WORDS, no retries
refused() {
    local what=$1 cert=$2 key=$3 words=$4
    check_exit 3 "$what: report exits 3 (identity refused)" dev "$cert" "$key" report --max-time 20s
    check_contains "$what: in words" "$words" "$T/err"
    check "$what: no blank lines, no retries" no_blank_lines
    check_exit 3 "$what: flush exits 3 too" dev "$cert" "$key" flush --max-time 20s
    check_exit 3 "$what: renew exits 3" dev "$cert" "$key" renew
    check_contains "$what: renew says why" "$words" "$T/err"
    check_exit 3 "$what: cacerts exits 3" dev "$cert" "$key" cacerts --out "$T/anchors.pem"
    check_contains "$what: cacerts says why" "$words" "$T/err"
    rm -rf "$Q"
}

"$VIGIL_DEVICE" keygen --id sensor-1 --out-dir "$D" >/dev/null
"$VIGILCTL" device enroll --csr "$D/sensor-1.csr" >"$D/sensor-1.crt" 2>/dev/null

# ---- --version, --help ----
# version PROGRAM [ARGS...]: its --version line is "NAME X.Y.Z..."
version() { "$@" --version | grep -qE "^$(basename "$1") [0-9]+\.[0-9]+\.[0-9]+"; }
check "vigil-device --version" version "$VIGIL_DEVICE"
check "vigil-device report --version" version "$VIGIL_DEVICE" report
check "vigil-bench --version" version "$VIGIL_BENCH"
check "report --help" "$VIGIL_DEVICE" report --help
check_contains "is report's own help" "Usage: vigil-device report --server" "$T/out"
check_contains "with --type's default" "(default: crash)" "$T/out"
check_contains "with --severity's default" "info, warning, error or critical (default: error)" "$T/out"
check_contains "and its exit codes" "75 reports still queued" "$T/out"
for cmd in flush queue keygen renew cacerts update run; do
    check "$cmd --help is its own" "$VIGIL_DEVICE" "$cmd" --help
    check_contains "$cmd --help: its usage line" "Usage: vigil-device $cmd " "$T/out"
done
check_contains "the global help points at them" "vigil-device COMMAND --help" <("$VIGIL_DEVICE" --help)

# ---- the whole command line is checked before anything is queued ----
check_exit 2 "--sever is not --severity: exit 2" good report --sever "localhost:$port"
check_contains "names the unknown option" "unknown option '--sever'" "$T/err"
check_eq "nothing queued" "0" "$(queued)"
check_exit 2 "--serv=... is not --server either" "$VIGIL_DEVICE" flush --serv="127.0.0.1:$port"
check_contains "names it" "unknown option '--serv'" "$T/err"
check_exit 2 "a bad --severity: exit 2" good report --severity hgih
check_contains "quotes the value" "--severity 'hgih' is not one of info, warning, error, critical" "$T/err"
check "and never says required" bash -c "! grep -q required '$T/err'"
check_eq "nothing queued" "0" "$(queued)"
check_exit 2 "a bad --count" good report --count 0
check_contains "quotes it" "--count '0' is not a number from 1 to 100000" "$T/err"
check_exit 2 "a bad --max-time" good report --max-time 5x
check_contains "quotes it" "--max-time '5x' is not a duration" "$T/err"
check_exit 2 "a bad --occurred-at" good report --occurred-at yesterday
check_contains "quotes it" "--occurred-at 'yesterday' is not RFC 3339" "$T/err"
check_exit 2 "an option of another command" good report --out-dir "$D"
check_contains "says whose it is not" "--out-dir is not an option of report" "$T/err"
check_exit 2 "a value missing" good report --type
check_contains "says which" "--type needs a value" "$T/err"
check_eq "still nothing queued" "0" "$(queued)"
check_exit 2 "keygen: a bad --id" "$VIGIL_DEVICE" keygen --id 'a/b' --out-dir "$D"
check_contains "quotes it" "--id 'a/b' is not a device id" "$T/err"
cp "$D/sensor-1.key" "$T/sensor-1.key.before"
check_exit 1 "keygen again: refused" "$VIGIL_DEVICE" keygen --id sensor-1 --out-dir "$D"
check_contains "names the file that exists, and what to do" \
    "$D/sensor-1.key exists already; keygen never replaces a device's key" "$T/err"
check "the key is untouched" cmp -s "$D/sensor-1.key" "$T/sensor-1.key.before"
: >"$T/not-a-dir"
check_exit 1 "keygen into a file, not a directory" "$VIGIL_DEVICE" keygen --id x-1 --out-dir "$T/not-a-dir"
check_contains "the path and the reason" "cannot write $T/not-a-dir/x-1.key: Not a directory" "$T/err"
check_exit 3 "report to the operator port (plain HTTP): exit 3" "$VIGIL_DEVICE" report \
    --server "$(vigild_api main)" --cert "$D/sensor-1.crt" --key "$D/sensor-1.key" \
    --ca "$T/chain.pem" --queue-dir "$Q" --max-time 2s
check_contains "says it is not a TLS port, and what to check" \
    "did not answer in TLS; is it vigild's device port" "$T/err"
rm -rf "$Q"

check "report with the defaults" good report --json
check_json "stored" "d['stored']==1 and d['queued']==0"
check_eq "as crash/error" "crash error" "$(sql "SELECT type || ' ' || severity FROM incidents WHERE device_id = 'sensor-1'")"
check "--name=value is the full name too" good report --severity=warning --type=tamper
check_eq "stored" "1" "$(sql "SELECT count(*) FROM incidents WHERE type = 'tamper' AND severity = 'warning'")"

# ---- certificate and key files: the path and the reason ----
# files FILE WORDS NAME CERT KEY: exit 3, WORDS, nothing queued, no OpenSSL-speak
files() {
    local words=$1 name=$2 cert=$3 key=$4
    check_exit 3 "$name: exit 3" dev "$cert" "$key" report
    check_contains "$name: the path and the reason" "$words" "$T/err"
    check "$name: not about .new/.prev or OpenSSL" \
        bash -c "! grep -qE 'matching certificate|system lib|PEM lib' '$T/err'"
    check_eq "$name: nothing queued" "0" "$(queued)"
}
: >"$D/empty.crt"
echo "not a certificate" >"$D/text.crt"
"$VIGIL_DEVICE" keygen --id other --out-dir "$D" >/dev/null
files "$D/nope.crt: No such file or directory" "--cert nope.crt" "$D/nope.crt" "$D/sensor-1.key"
files "$D/empty.crt is empty" "an empty certificate" "$D/empty.crt" "$D/sensor-1.key"
files "$D/text.crt is not a PEM certificate" "a non-PEM certificate" "$D/text.crt" "$D/sensor-1.key"
files "$D/nope.key: No such file or directory" "--key nope.key" "$D/sensor-1.crt" "$D/nope.key"
files "$D/other.key does not match the certificate in $D/sensor-1.crt" "a key of another pair" \
    "$D/sensor-1.crt" "$D/other.key"
check_eq "a mismatch with nothing to recover from leaves the files alone" "" \
    "$(ls "$D" | grep -E '\.(new|prev)$')"
# a certificate this user cannot read (root reads anything: run as nobody then)
P=$(mktemp -d /tmp/vigil-test-dev-perm.XXXXXX)
at_exit "rm -rf '$P'"
chmod 755 "$P"
cp "$D/sensor-1.crt" "$D/sensor-1.key" "$T/chain.pem" "$P/"
chmod 644 "$P/sensor-1.key" "$P/chain.pem"
chmod 000 "$P/sensor-1.crt"
mkdir -m 777 "$P/q"
as_user() { if [ "$(id -u)" = 0 ]; then setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; else "$@"; fi; }
check_exit 3 "an unreadable certificate: exit 3" as_user "$VIGIL_DEVICE" report --server "127.0.0.1:$port" \
    --cert "$P/sensor-1.crt" --key "$P/sensor-1.key" --ca "$P/chain.pem" --queue-dir "$P/q"
check_contains "the path and Permission denied" "$P/sensor-1.crt: Permission denied" "$T/err"

# ---- a server that refuses this certificate: exit 3, in words ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/self.key" \
    -out "$D/self.crt" -subj /CN=sensor-1 -days 2 -addext extendedKeyUsage=clientAuth 2>/dev/null
refused "a self-signed certificate" "$D/self.crt" "$D/self.key" \
    "the server refused this certificate: unknown issuer"
VIGIL_CA_DIR="$T/ca2" "$VIGILCTL" ca init >/dev/null
"$VIGIL_DEVICE" keygen --id sensor-2 --out-dir "$D" >/dev/null
VIGIL_CA_DIR="$T/ca2" "$VIGILCTL" device enroll --csr "$D/sensor-2.csr" >"$D/sensor-2.crt" 2>/dev/null
refused "a certificate of another CA" "$D/sensor-2.crt" "$D/sensor-2.key" \
    "the server refused this certificate: unknown issuer"
check_exit 3 "run: a refused issuer stops it (exit 3)" dev "$D/self.crt" "$D/self.key" run \
    --report-every 1s --max-time 20s
check_contains "in words" "the server refused this certificate: unknown issuer" "$T/err"
rm -rf "$Q"
"$VIGILCTL" cert revoke --device sensor-1 --reason superseded >/dev/null
check_exit 3 "a revoked certificate: exit 3" good report
check_contains "the server's reason in words" \
    "the server refused this certificate (HTTP 403 forbidden): this certificate is revoked" "$T/err"

check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
