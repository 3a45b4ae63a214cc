#!/usr/bin/env bash
# Runs on the release build too.
# Renewal attacks found in review: a keep-alive connection held open past
# its certificate's expiry may neither renew (that needs a grant, checked
# on a new handshake) nor report; the database refuses a renewal by an
# expired certificate that does not rest on a grant, whatever vigild says;
# and a renewal racing a revocation of its certificate is refused.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port" VIGIL_SECURITY_EVENTS_PER_ADDRESS=1000 VIGIL_SECURITY_EVENTS_PER_SECOND=1000
D="$T/dev"
mkdir -p "$D"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$D/k1" 2>/dev/null
openssl req -new -key "$D/k1" -subj /CN=ka -outform DER 2>/dev/null | base64 >"$T/ka.csr"

# keepalive ID STEP...: one mTLS connection of device ID; a step is
# "GET path", "POST path file" (a CSR) or "sleep s"; prints each status line
keepalive() {
    local id=$1; shift
    python3 - "$port" "$T/chain.pem" "$D/$id.crt" "$D/$id.key" "$@" <<'PY'
import socket, ssl, sys, time
port, ca, cert, key, *steps = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
ctx.load_cert_chain(cert, key)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), timeout=10))
def answer():
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return "closed"
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, v = line.split(b":", 1)
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return head.split(b"\r\n")[0].decode() + " " + rest[:n].decode(errors="replace")
i = 0
while i < len(steps):
    op = steps[i]
    if op == "sleep":
        time.sleep(float(steps[i + 1])); i += 2; continue
    if op == "GET":
        s.sendall(f"GET {steps[i + 1]} HTTP/1.1\r\nHost: x\r\n\r\n".encode()); i += 2
    else:
        body = open(steps[i + 2], "rb").read()
        s.sendall(f"POST {steps[i + 1]} HTTP/1.1\r\nHost: x\r\nContent-Type: application/pkcs10\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body); i += 3
    try:
        print(answer())
    except OSError as e:
        print("closed", e)
PY
}

# in date for about 8 more seconds
"$VIGILCTL" device create --id ka --out-dir "$D" --validity 68s --backdate 60s >/dev/null 2>&1
left=$(($(date -d "$(openssl x509 -in "$D/ka.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)))
check "the certificate is in date for a few seconds ($left s)" test "$left" -ge 3 -a "$left" -le 10
check "one connection: in date, then held past the expiry" keepalive ka \
    GET /.well-known/est/cacerts sleep $((left / 2)) GET /.well-known/est/csrattrs \
    sleep $((left - left / 2 + 2)) POST /.well-known/est/simplereenroll "$T/ka.csr" \
    GET /.well-known/est/cacerts
check_eq "requests while in date: answered" "2" "$(grep -c '^HTTP/1.1 200' "$T/out")"
check_contains "the renewal after the expiry: 403" 'HTTP/1.1 403 Forbidden {"error":"forbidden","reason":"this certificate has expired"}' "$T/out"
check_eq "and the connection is closed" "closed" "$(tail -n 1 "$T/out" | cut -d' ' -f1)"
check_eq "nothing was issued" "0" \
    "$(sql "SELECT count(*) FROM certificates WHERE device_id = 'ka' AND renewed_from IS NOT NULL")"
check_eq "with a security event" "1" \
    "$(sql "SELECT count(*) FROM incidents WHERE source = 'server' AND device_id = 'ka'
            AND details->>'reason' = 'expired' AND details->>'when' = 'mid_connection'")"

# The database's own rule, for a vigild that asks without a grant.
serial=$(openssl x509 -in "$D/ka.crt" -noout -serial | cut -d= -f2)
key=$(openssl pkey -in "$D/k1" -pubout -outform DER | sha256sum | cut -c1-64)
check_eq "vigil_renewal_precheck: an expired certificate off a grant is refused" "expired" \
    "$(sql "SELECT code FROM vigil_renewal_precheck('ka', '$serial', '$key', false, false)")"
check_eq "vigil_renew too, and records nothing" "expired|0" \
    "$(sql "SELECT code FROM vigil_renew('ka', '$serial', '$key', false, false, 'AB', 'x',
            repeat('0', 64), 0, 1, 'pem', 'test', '127.0.0.1');
            SELECT count(*) FROM certificates WHERE serial = 'AB'" | paste -sd'|')"

# A revocation holds the certificate's row (FOR UPDATE, as the lineage's
# revocation does) while a renewal from it arrives: the renewal waits for it
# and is refused, so no active child of a revoked certificate is recorded.
"$VIGILCTL" device create --id rv --out-dir "$D" >/dev/null 2>&1
rv=$(openssl x509 -in "$D/rv.crt" -noout -serial | cut -d= -f2)
openssl req -new -key "$D/k1" -subj /CN=rv -outform DER 2>/dev/null | base64 >"$T/rv.csr"
sql "BEGIN; SELECT 1 FROM certificates WHERE serial = '$rv' FOR UPDATE; SELECT pg_sleep(2);
     UPDATE certificates SET status = 'revoked', revoked_at = now(),
            revocation_reason = 'keyCompromise' WHERE serial = '$rv'; COMMIT" >/dev/null &
revoker=$!
sleep 0.5
check "a renewal racing a revocation: answered" dcurl "$D" rv -H 'Content-Type: application/pkcs10' \
    --data-binary @"$T/rv.csr" -o "$T/body" -w '%{http_code}' \
    "https://127.0.0.1:$port/.well-known/est/simplereenroll"
wait "$revoker"
check_eq "refused: 403" "403" "$(cat "$T/out")"
check_contains "as revoked" '"error":"revoked"' "$T/body"
check_eq "and no child of the revoked certificate exists" "0" \
    "$(sql "SELECT count(*) FROM certificates WHERE renewed_from = '$rv'")"

check "vigild drains and exits 0 (no leak under the sanitizers)" vigild_stop main
check_fails "and its log has no sanitizer report" grep -q "Sanitizer" "$T/main.log"
finish
