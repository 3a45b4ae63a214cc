#!/usr/bin/env bash
# A staged rollout over 100 stub devices of one class on one vigild (the
# issue's Must show): at 10 % exactly the devices the hash predicts
# (printf '%s:%s' ROLLOUT DEVICE | sha256sum) get the manifest, the others
# 204 not_selected; a paused rollout offers nothing; widened to 50 % the
# first 10 % are all still in; injected install failures above the
# threshold halt it with the reason recorded, after which nothing more is
# offered; a second rollout (a new release) whose updated devices report
# crashes at 5x the rate of the others halts on health within seconds
# (vigild checks every 5 s) and its recorded reason shows both rates.
# Bounded: under 3 minutes.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port"
export VIGIL_RELEASE_DIR="$T/release-keys"
"$VIGILCTL" release key init >/dev/null 2>&1 || { echo "release key init failed" >&2; exit 1; }
"$VIGILCTL" release key export >"$T/keys.json"
D="$T/d"
N=100
ids=$(seq -f 'fleet-%03g' 1 "$N")
export T D port VIGIL_DEVICE

# 100 devices: each makes its own key and CSR, one batch enrollment
mkdir -p "$D"
echo "$ids" | xargs -P 2 -n 1 sh -c '"$VIGIL_DEVICE" keygen --id "$1" --out-dir "$D" >/dev/null 2>&1' _
check "100 devices of class fleet enrolled in one batch" "$VIGILCTL" device enroll --csr-dir "$D" --class fleet
check_eq "100 certificates" "$N" "$(ls "$D"/fleet-*.crt | wc -l)"

# bucket ROLLOUT DEVICE: the rollout's hash of a device, 0..9999
bucket() { echo $((16#$(printf '%s:%s' "$1" "$2" | sha256sum | cut -c1-8) % 10000)); }
# predicted ROLLOUT BASIS_POINTS: the devices in, sorted
predicted() { for id in $ids; do [ "$(bucket "$1" "$id")" -lt "$2" ] && echo "$id"; done; }
# ask: for each device id on stdin, "ID STATUS REASON" of GET /v1/update by
# a device that says it runs 0.0.1 (security version 0)
ask() {
    xargs -P 4 -n 1 sh -c 'h=$(curl -sS --max-time 10 --cacert "$T/chain.pem" --cert "$D/$1.crt" \
        --key "$D/$1.key" -o /dev/null -D - -H "X-Vigil-Version: 0.0.1" \
        -H "X-Vigil-Security-Version: 0" "https://127.0.0.1:$port/v1/update" | tr -d "\r")
        echo "$1 $(echo "$h" | awk "NR==1{print \$2}") $(echo "$h" | sed -n "s/^[Xx]-[Vv]igil-[Rr]eason: *//p")"' _ |
        sort
}
# upd ID [ENV...]: vigil-device update as ID (state of its own)
upd() {
    local id=$1; shift
    env "$@" timeout 60 "$VIGIL_DEVICE" update --server "127.0.0.1:$port" --cert "$D/$id.crt" \
        --key "$D/$id.key" --ca "$T/chain.pem" --keys "$T/keys.json" --state-dir "$T/st-$id" \
        --class fleet --json
}
rollout_col() { sql "SELECT $2 FROM rollouts WHERE id = $1"; }
# selection PERCENT: every device asks (answers in $T/askPERCENT); those
# answered the manifest ($T/gotPERCENT) must be those the hash predicts for
# rollout 1 ($T/predPERCENT)
selection() {
    predicted 1 $(($1 * 100)) >"$T/pred$1"
    echo "$ids" | ask >"$T/ask$1"
    awk '$2 == 200 {print $1}' "$T/ask$1" >"$T/got$1"
    cp "$T/ask$1" "$T/err"
    check_eq "$1 %: the devices answered the manifest are those the hash predicts ($(wc -l <"$T/pred$1"))" \
        "$(cat "$T/pred$1")" "$(cat "$T/got$1")"
}

# ---- rollout 1: 10 % ----
head -c 65536 /dev/urandom >"$T/fw1.bin"
check "release 1.0.0" "$VIGILCTL" release create --artifact "$T/fw1.bin" --version 1.0.0 \
    --security-version 1 --class fleet
check "rollout start 1.0.0 --percent 10" "$VIGILCTL" rollout start 1.0.0 --percent 10 \
    --error-threshold 0.25 --min-reports 10 --json
check_json "rollout 1 at 1000 basis points" "d['id'] == 1 and d['basis_points'] == 1000"
sleep 0.5
selection 10
check "10 %: some, not all" test "$(wc -l <"$T/got10")" -ge 3 -a "$(wc -l <"$T/got10")" -le 25
check_eq "10 %: every other device is told not_selected" "$((N - $(wc -l <"$T/pred10")))" \
    "$(awk '$2 == 204 && $3 == "not_selected"' "$T/ask10" | wc -l)"
check_eq "10 %: the offers are recorded" "$(wc -l <"$T/pred10")" \
    "$(sql "SELECT count(*) FROM rollout_devices WHERE rollout_id = 1 AND state = 'offered'")"

# ---- paused: nothing offered ----
check "rollout pause 1" "$VIGILCTL" rollout pause 1
sleep 0.5
ask <"$T/pred10" >"$T/askp"
cp "$T/askp" "$T/err"
check_eq "paused: every selected device gets 204 paused" "$(wc -l <"$T/pred10")" \
    "$(awk '$2 == 204 && $3 == "paused"' "$T/askp" | wc -l)"
check "rollout resume 1" "$VIGILCTL" rollout resume 1
sleep 0.5

# ---- widened to 50 %: the first 10 % are all still in ----
check "rollout widen 1 --percent 50" "$VIGILCTL" rollout widen 1 --percent 50
sleep 0.5
selection 50
check_eq "50 %: every device of the first 10 % is still in" "" "$(comm -23 "$T/got10" "$T/got50")"

# ---- install failures above the threshold halt it ----
# 8 devices install, then devices whose install fails: with at least 10
# reports and more than 25 % failed, the third failure halts it (3 of 11).
head -n 8 "$T/pred50" >"$T/ok1"
sed -n '9,20p' "$T/pred50" >"$T/fail1"
for id in $(cat "$T/ok1"); do upd "$id" >"$T/out" 2>"$T/err" || echo "$id: exit $?" >>"$T/upd1.log"; done
check_eq "8 devices installed 1.0.0" "8" \
    "$(sql "SELECT count(*) FROM rollout_devices WHERE rollout_id = 1 AND state = 'installed'")"
failed=0
for id in $(cat "$T/fail1"); do
    [ "$(rollout_col 1 state)" = halted ] && break
    upd "$id" VIGIL_DEVICE_INSTALL_FAIL="injected flash failure" >"$T/out" 2>"$T/err"
    [ $? -eq 17 ] && failed=$((failed + 1))
    echo "$id" >>"$T/failed1"
done
check_eq "halted by the third failure" "3 halted" "$failed $(rollout_col 1 state)"
sql "SELECT halt_reason FROM rollouts WHERE id = 1" >"$T/reason1.json"
check_json_in "$T/reason1.json" "the reason is recorded: 3 failed of 11, over 0.25" \
    "d['kind'] == 'install_failures' and d['failed'] == 3 and d['reported'] == 11 and d['threshold'] == 0.25"
check_eq "the halt is audited" "1" \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'rollout.halted' AND (details->>'rollout_id')::int = 1")"
sleep 0.5
comm -23 "$T/pred50" <(sort "$T/ok1" "$T/failed1") >"$T/rest1"
ask <"$T/rest1" >"$T/askh"
cp "$T/askh" "$T/err"
check_eq "halted: nothing more is offered to the other selected devices ($(wc -l <"$T/rest1"))" \
    "$(wc -l <"$T/rest1")" "$(awk '$2 == 204 && $3 == "halted"' "$T/askh" | wc -l)"
check "halted: vigil-device update installs nothing" upd "$(head -n 1 "$T/rest1")"
check_json "and says halted" "d['result'] == 'none' and d['reason'] == 'halted'"

# ---- rollout 2: updated devices crash 5x as often: halted on health ----
head -c 65536 /dev/urandom >"$T/fw2.bin"
check "release 2.0.0" "$VIGILCTL" release create --artifact "$T/fw2.bin" --version 2.0.0 \
    --security-version 2 --class fleet
check "rollout start 2.0.0 --percent 30 (supersedes the halted one)" "$VIGILCTL" rollout start \
    2.0.0 --percent 30 --error-threshold 1 --health-window 60s --health-ratio 3 --json
check_json "rollout 2" "d['id'] == 2"
check_eq "rollout 1 is superseded" "superseded" "$(rollout_col 1 state)"
sleep 0.5
predicted 2 3000 >"$T/pred30"
echo "$ids" | xargs -P 4 -n 1 sh -c 'timeout 60 "$VIGIL_DEVICE" update --server "127.0.0.1:$port" \
    --cert "$D/$1.crt" --key "$D/$1.key" --ca "$T/chain.pem" --keys "$T/keys.json" \
    --state-dir "$T/st-$1" --class fleet >"$T/upd2-$1.log" 2>&1 || echo "$1 exit $?"' _ >"$T/upd2.log"
cp "$T/upd2.log" "$T/err"
check_eq "every device checked without error" "" "$(cat "$T/upd2.log")"
check_eq "the devices that installed 2.0.0 are those the hash predicts ($(wc -l <"$T/pred30"))" \
    "$(cat "$T/pred30")" \
    "$(sql "SELECT device_id FROM rollout_devices WHERE rollout_id = 2 AND state = 'installed' ORDER BY 1")"
comm -23 <(echo "$ids") "$T/pred30" >"$T/control"
# report COUNT: each device on stdin reports COUNT crashes
report() {
    COUNT=$1 xargs -P 4 -n 1 sh -c 'timeout 60 "$VIGIL_DEVICE" report --server "127.0.0.1:$port" \
        --cert "$D/$1.crt" --key "$D/$1.key" --ca "$T/chain.pem" --queue-dir "$T/q-$1" \
        --type crash --count "$COUNT" >/dev/null 2>&1 || echo "$1 exit $?"' _
}
report 1 <"$T/control" >"$T/rep.log"
report 5 <"$T/pred30" >>"$T/rep.log"
sent=$(date +%s%N)
cp "$T/rep.log" "$T/err"
check_eq "every crash report stored" "" "$(cat "$T/rep.log")"
for _ in $(seq 1 100); do [ "$(rollout_col 2 state)" = halted ] && break; sleep 0.2; done
took=$((($(date +%s%N) - sent) / 1000000))
check_eq "rollout 2 halted" "halted" "$(rollout_col 2 state)"
check "on health within seconds of the last report (${took} ms)" test "$took" -le 12000
sql "SELECT halt_reason FROM rollouts WHERE id = 2" >"$T/reason2.json"
cat "$T/reason2.json"
check_json_in "$T/reason2.json" "the reason shows both rates, the updated over 3x the others" \
    "d['kind'] == 'health' and d['control_rate'] > 0 and d['updated_rate'] > 3 * d['control_rate'] and d['updated_crashes'] >= 3 and d['control_crashes'] > 0"
sleep 0.5
ask <"$T/pred30" >"$T/askh2"
check_eq "halted: nothing offered" "$(wc -l <"$T/pred30")" "$(awk '$2 == 204 && $3 == "halted"' "$T/askh2" | wc -l)"

check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
check "the whole test took under 3 minutes (${SECONDS} s)" test "$SECONDS" -lt 180
finish
