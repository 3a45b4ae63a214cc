#!/usr/bin/env python3
"""hostile.py HOST PORT CA CERT KEY - sends a corpus of hostile requests to the
device port over mutual TLS, one connection each, and checks that each gets a
4xx answer (with a JSON body) or a closed connection, never a 2xx or a hang;
a case that names a status must get exactly that one.
Prints one line per case: "ok - name: what happened" or "FAIL - ...".
Exit status 1 if any case failed."""
import json
import socket
import ssl
import sys
import time
import uuid

host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False


def report(**over):
    r = {"id": str(uuid.uuid4()), "type": "crash", "severity": "error",
         "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    r.update(over)
    return r


def post(body, extra=b"", ctype=b"application/json"):
    if isinstance(body, str):
        body = body.encode()
    return (b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)


def exchange(payload, timeout=8.0, slow=None):
    """Returns (status or None, body bytes, how it ended)."""
    s = socket.create_connection((host, port), timeout=timeout)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    data = b""
    try:
        if slow:
            for chunk in slow:
                t.sendall(chunk)
                time.sleep(0.5)
        else:
            t.sendall(payload)
        while True:
            chunk = t.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ssl.SSLError, ConnectionError, socket.timeout, OSError) as e:
        if not data:
            return None, b"", type(e).__name__
    finally:
        t.close()
    if not data.startswith(b"HTTP/1.1 "):
        return None, data, "closed"
    status = int(data[9:12])
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    return status, body, "answered"


cases = [
    ("broken request line", b"GARBAGE\r\n\r\n"),
    ("bad HTTP version", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("huge header", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 20000 + b"\r\n\r\n"),
    ("endless headers", b"POST /v1/incidents HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(500)) + b"\r\n"),
    ("non-numeric Content-Length", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}"),
    ("conflicting Content-Length", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}"),
    ("Content-Length with chunked", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("invalid chunk size", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ("enormous chunk size", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n{}"),
    ("chunked past the body limit", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(b"10000\r\n" + b"a" * 0x10000 + b"\r\n" for _ in range(20)) + b"0\r\n\r\n"),
    ("Content-Length over the limit", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999\r\n\r\n"),
    ("NUL in a header", b"POST /v1/incidents HTTP/1.1\r\nHost: x\0y\r\n\r\n"),
    ("obs-fold header", b"POST /v1/incidents HTTP/1.1\r\nHost: x\r\nX-A: b\r\n  c\r\nContent-Length: 0\r\n\r\n", 400),
    ("URI too long", b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("invalid JSON", post("{\"id\": ")),
    ("deep nesting", post("[" * 100000 + "]" * 100000)),
    ("deep details", post(json.dumps(report(details=json.loads("{\"a\":" * 20 + "1" + "}" * 20))))),
    ("wrong types", post(json.dumps(report(id=12345, severity=["error"])))),
    ("oversize details", post(json.dumps(report(details={"blob": "x" * 5000})))),
    ("invalid UTF-8", post(b'{"id":"' + str(uuid.uuid4()).encode() + b'","type":"crash","severity":"error","occurred_at":"2026-11-25T00:00:00Z","component":"\xff\xfe"}')),
    ("NUL escape in a string", post(json.dumps(report(component="a\u0000b")))),
    ("empty batch", post("[]")),
    ("too many reports", post(json.dumps([report() for _ in range(1001)])), 413),
    ("not JSON media type", post(json.dumps(report()), ctype=b"text/plain")),
    ("unknown path", b"GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("wrong method", b"GET /v1/incidents HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("future occurred_at", post(json.dumps(report(occurred_at="2999-01-01T00:00:00Z")))),
    ("CONNECT", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    ("Upgrade", b"GET /v1/incidents HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
    # RFC 9112 section 3.2: exactly one valid Host on HTTP/1.1
    ("no Host", post(json.dumps(report())).replace(b"Host: x\r\n", b""), 400),
    ("two different Hosts", post(json.dumps(report()), extra=b"Host: y\r\n"), 400),
    ("the same Host twice", post(json.dumps(report()), extra=b"host: x\r\n"), 400),
    ("Host with a path", post(json.dumps(report())).replace(b"Host: x", b"Host: x/evil"), 400),
    ("Host with user info", post(json.dumps(report())).replace(b"Host: x", b"Host: u@x"), 400),
    ("Host with a space", post(json.dumps(report())).replace(b"Host: x", b"Host: x y"), 400),
    ("Host too long", post(json.dumps(report())).replace(b"Host: x", b"Host: " + b"h" * 300), 400),
]

failed = 0
for name, payload, *expected in cases:
    status, body, how = exchange(payload)
    ok = status is None or 400 <= status < 500
    if expected:
        ok = status == expected[0]
    if status is not None and ok:
        try:
            ok = "error" in json.loads(body)
        except ValueError:
            ok = False
    print("%s - %s: %s" % ("ok" if ok else "FAIL", name, status if status else how))
    failed += 0 if ok else 1

# slowloris: the header trickles in; the server must give up (408 or close)
start = time.time()
status, body, how = exchange(None, timeout=20,
                             slow=[b"POST /v1/incidents HTTP/1.1\r\n"] + [b"X-%d: y\r\n" % i for i in range(30)])
elapsed = time.time() - start
ok = (status == 408 or status is None) and elapsed < 10
print("%s - slowloris: %s after %.1f s" % ("ok" if ok else "FAIL", status if status else how, elapsed))
failed += 0 if ok else 1
sys.exit(1 if failed else 0)
