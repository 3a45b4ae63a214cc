#!/usr/bin/env bash
# Runs on the release build too.
# vigil-bench renew against a real vigild and PostgreSQL: over fresh and
# over keep-alive connections, with new keys and with --same-key, a clean
# run exits 0 and the database holds exactly as many new certificates
# (renewed_from set) as the bench says it renewed over the whole run
# ("renewed": warm-up and the answers waited for at the end included),
# each with a key of its own (or the device's own key). It counts errors
# honestly: at renewals_per_hour = 1 the answers are 429s, counted as 4xx
# errors, and the run says ERRORS and exits 3; a CA that requires new keys
# refuses --same-key (400s); and nginx answering 200 with the right
# content type and a PKCS#7 of the device's own certificate, or of the CA
# chain, counts no success. No timing is asserted; each run is 1-2 s.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/bench_calls.sh"
bench_setup 8
sql "UPDATE ca_policy SET renewals_per_hour = 3600" >/dev/null
vport=$(free_port)
vigild_start main "$vport" VIGIL_DEVICE_RATE=1000000 VIGIL_DEVICE_BURST=1000000 || exit 1

renew() {  # renew [OPTIONS...]: a 1 s run of 4 connections over 8 devices to vigild, JSON out
    "$BENCH" renew --server "127.0.0.1:$vport" --ca "$T/chain.pem" --devices "$T/dev" --device-count 8 \
        --connections 4 --threads 2 --warmup 0.3 --duration 1 --json "$@"
}
renewed() { sql "SELECT count(*) FROM certificates WHERE renewed_from IS NOT NULL"; }
# since T0 COLUMN: the distinct COLUMN values of the renewals since T0.
since() { sql "SELECT count(DISTINCT $2) FROM certificates WHERE renewed_from IS NOT NULL AND created_at > '$1'"; }
last() { python3 -c "import json; print(json.load(open('$T/last.json'))['$1'])"; }
clean="d['clean'] and d['mode'] == 'renewals' and d['ok'] > 0 and d['errors'] == 0 \
and d['renewed'] >= d['ok'] and d['keys_reused'] == 0"

# renewed_by NAME BEFORE: the last run's "renewed" is the database's count
# of new certificates since BEFORE.
renewed_by() { check_eq "$1" "$(($2 + $(last renewed)))" "$(renewed)"; }

before=$(renewed) t0=$(sql "SELECT now()")
check "fresh connections: a clean run, exit 0" renew
check_json "  ... successes, no errors, no key sent twice" "$clean and not d['keepalive'] and d['devices_used'] == 8"
renewed_by "  ... as many new certificates in PostgreSQL as it renewed" "$before"
check_eq "  ... each with a key of its own" "$(last renewed)" "$(since "$t0" key_sha256)"
check_eq "  ... spread over all 8 devices" 8 "$(since "$t0" device_id)"

before=$(renewed) t0=$(sql "SELECT now()")
check "keep-alive: a clean run, exit 0" renew --keepalive
check_json "  ... successes, no errors, one device per connection" "$clean and d['keepalive'] and d['devices_used'] == 4"
renewed_by "  ... as many new certificates in PostgreSQL as it renewed" "$before"
check_eq "  ... on the 4 devices of its connections" 4 "$(since "$t0" device_id)"

before=$(renewed) t0=$(sql "SELECT now()")
check "keep-alive with --same-key: clean" renew --keepalive --same-key
check_json "  ... one CSR per device" "$clean and d['same_key'] and d['keys_per_device'] == 1"
renewed_by "  ... as many new certificates in PostgreSQL as it renewed" "$before"
check_eq "  ... each with the key of the certificate it renews" 0 \
    "$(sql "SELECT count(*) FROM certificates n JOIN certificates o ON o.serial = n.renewed_from
             WHERE n.created_at > '$t0' AND n.key_sha256 <> o.key_sha256")"

before=$(renewed) t0=$(sql "SELECT now()")
check "a pool of 2 keys per device: the CSRs sent again are counted" renew --keepalive --keys 2
check_json "  ... as keys_reused" \
    "d['ok'] > 0 and d['errors'] == 0 and d['keys_per_device'] == 2 and d['keys_reused'] >= d['renewed'] - 8 > 0"
renewed_by "  ... and still each recorded" "$before"
check_eq "  ... with the 8 keys of the pool" 8 "$(since "$t0" key_sha256)"

sql "UPDATE ca_policy SET renewals_per_hour = 1" >/dev/null
check_exit 3 "renewals_per_hour = 1: exit 3" renew --keepalive
check_json "  ... the 429s counted as 4xx errors, no success" \
    "not d['clean'] and d['ok'] == 0 and d['renewed'] == 0 and d['status_429'] > 0 \
and d['errors_4xx'] == d['status_429'] and d['errors'] == d['errors_4xx']"
check_exit 3 "  ... the result line says ERRORS" "$BENCH" renew --server "127.0.0.1:$vport" --ca "$T/chain.pem" \
    --devices "$T/dev" --device-count 8 --connections 4 --warmup 0 --duration 1
check_contains "  ... with the 429s" "ERRORS:" "$T/out"
sql "UPDATE ca_policy SET renewals_per_hour = 3600, renew_same_key = false" >/dev/null
check_exit 3 "a CA that wants new keys: --same-key is refused, exit 3" renew --same-key
check_json "  ... 400s, 4xx errors" "not d['clean'] and d['ok'] == 0 and d['errors_4xx'] > 0 and d['status_429'] == 0"
sql "UPDATE ca_policy SET renew_same_key = true" >/dev/null

# nginx answering 200 with the content type and a PKCS#7 that is not the
# renewal: the device's own certificate, or the CA chain (two certificates).
p7() { openssl crl2pkcs7 -nocrl -certfile "$1" -outform DER | base64 -w0; }
bench_nginx "default_type 'application/pkcs7-mime; smime-type=certs-only';
     location = /old { return 200 '$(p7 "$T/dev/bench-000000.crt")'; }
     location = /chain { return 200 '$(p7 "$T/chain.pem")'; }
     location / { return 200 'not base64'; }"
for what in old chain garbage; do
    check_exit 3 "nginx's 200 with a PKCS#7 ($what) is no renewal: exit 3" \
        renew --same-key --path "/$what" --server "127.0.0.1:$nport"
    check_json "  ... a 2xx error each" "d['ok'] == 0 and d['renewed'] == 0 and d['errors_2xx'] > 0"
done

check "vigild exits 0" vigild_stop main
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
