#!/usr/bin/env bash
# Runs on the release build too.
# A corpus of hostile requests from an authenticated device (hostile.py):
# each gets a 4xx or a closed connection, while another device keeps being
# served, and the server stays up with its sanitizers clean.
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
setup_ca
port=$(free_port)
vigild_start main "$port" VIGIL_HEADER_TIMEOUT=2s VIGIL_DEVICE_BURST=1000
for id in mallory alice; do "$VIGILCTL" device create --id "$id" --out-dir "$T/d" >/dev/null 2>&1; done
URL="https://127.0.0.1:$port/v1/incidents"

# alice reports once a second for as long as the corpus runs
( while [ ! -e "$T/stop" ]; do
      code=$(dcurl "$T/d" alice -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$(report)" "$URL")
      echo "$code" >>"$T/alice.codes"
      sleep 0.3
  done ) &
alice=$!
run python3 "$(dirname "$0")/hostile.py" 127.0.0.1 "$port" "$T/chain.pem" "$T/d/mallory.crt" "$T/d/mallory.key"
rc=$?
cp "$T/out" "$T/hostile.out"
cat "$T/hostile.out"
_report $rc "every hostile request got a 4xx or a closed connection"
touch "$T/stop"; wait "$alice"
check "alice was served throughout" test "$(sort -u "$T/alice.codes")" = "200"
check "alice made requests meanwhile" test "$(wc -l <"$T/alice.codes")" -ge 5
check "no hostile body was stored" test "$(sql "SELECT count(*) FROM incidents WHERE device_id = 'mallory' AND source = 'device'")" -eq 0

# two requests in one write (pipelining) get two answers, in order
pipelined() {
    python3 - "$port" "$T/chain.pem" "$T/d/alice.crt" "$T/d/alice.key" <<'PY'
import socket, ssl, sys, uuid, time
port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca); ctx.load_cert_chain(cert, key); ctx.check_hostname = False
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
def req(i):
    body = '{"id":"%s","type":"crash","severity":"info","occurred_at":"%s"}' % (uuid.uuid4(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return ("POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)).encode()
t.sendall(req(1) + req(2) + b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while data.count(b"HTTP/1.1 ") < 3:
    chunk = t.recv(65536)
    if not chunk:
        break
    data += chunk
codes = [int(part[:3]) for part in data.split(b"HTTP/1.1 ")[1:]]
print(codes)
sys.exit(0 if codes == [200, 200, 404] else 1)
PY
}
check "pipelined requests are answered in order" pipelined

# a flood of failed handshakes is itself rate-limited in the database
flood=()
for _ in $(seq 1 40); do curl -s --max-time 5 --cacert "$T/chain.pem" -o /dev/null "$URL" -d x & flood+=($!); done
wait "${flood[@]}"
sleep 0.5
check "failed handshakes from one address are capped" \
    test "$(sql "SELECT count(*) FROM incidents WHERE details->>'reason' = 'no_certificate'")" -lt 40
vigild_stop main
check_eq "vigild exits 0 after the corpus" "0" "$?"
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/main.log'"
finish
