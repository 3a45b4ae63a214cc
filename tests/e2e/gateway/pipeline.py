#!/usr/bin/env python3
"""pipeline.py HOST PORT CA CERT KEY N OUT - writes N pipelined requests on one
mutual-TLS connection (written all at once, read as they come: tls_duplex.py),
mixing valid reports, 404s, 405s, 415s and HEADs, and checks that every one is
answered, in order, with the status its kind allows; a HEAD answer has no
body, so a body after it would show as a bad next status line. Writes the ids
answered "stored" to OUT, one per line, and those answered 429 to OUT.limited.
Exit status 1 on any missing, late or unexpected answer."""
import json
import os
import socket
import ssl
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_duplex import Duplex  # noqa: E402

host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
n, out = int(sys.argv[6]), sys.argv[7]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def post(body, ctype=b"application/json"):
    body = body.encode()
    return (b"POST /v1/incidents HTTP/1.1\r\nHost: vigil\r\nContent-Type: " + ctype +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


# kind -> (the request, the statuses it may get)
def request(i):
    kind = ("404", "405", "report", "415", "report", "head", "report")[i % 7]
    if kind == "report":
        rid = str(uuid.uuid4())
        body = json.dumps({"id": rid, "type": "crash", "severity": "info", "occurred_at": now})
        return kind, rid, post(body), (200, 429)
    if kind == "404":
        return kind, None, b"GET /nope/%d HTTP/1.1\r\nHost: vigil\r\n\r\n" % i, (404,)
    if kind == "405":
        return kind, None, b"GET /v1/incidents HTTP/1.1\r\nHost: vigil\r\n\r\n", (405,)
    if kind == "415":
        return kind, None, post("{}", ctype=b"text/plain"), (415,)
    return kind, None, b"HEAD /v1/incidents HTTP/1.1\r\nHost: vigil\r\n\r\n", (405,)


reqs = [request(i) for i in range(n)]
sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname="localhost")
conn = Duplex(sock)
conn.out = b"".join(r[2] for r in reqs)
start = time.time()

buf = b""


def read_until(pred):
    global buf
    while not pred():
        chunk = conn.pump(10)   # socket.timeout after 10 s of silence: a stall
        if conn.eof:
            raise EOFError("the server closed the connection")
        buf += chunk


def read_answer(head):
    """(status, headers dict, body) of the next answer."""
    global buf
    read_until(lambda: b"\r\n\r\n" in buf)
    top, buf = buf.split(b"\r\n\r\n", 1)
    lines = top.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 "):
        raise ValueError("not a status line: %r" % lines[0][:60])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    length = 0 if head else int(headers.get("content-length", "0"))
    read_until(lambda: len(buf) >= length)
    body, buf = buf[:length], buf[length:]
    return int(lines[0][9:12]), headers, body


stored, limited, problems = [], [], []
answered = 0
try:
    for kind, rid, _, allowed in reqs:
        i = answered
        status, headers, body = read_answer(kind == "head")
        if status not in allowed:
            problems.append("request %d (%s): %d %s" % (i, kind, status, body[:100]))
        elif status == 405 and headers.get("allow") != "POST":
            problems.append("request %d: 405 without Allow: POST" % i)
        elif kind == "report" and status == 200:
            results = json.loads(body)["results"]
            if results != [{"id": rid, "status": "stored"}]:
                problems.append("request %d: %s" % (i, body[:200]))
            stored.append(rid)
        elif kind == "report":
            limited.append(rid)
        elif kind != "head" and "error" not in json.loads(body):
            problems.append("request %d (%s): no error body" % (i, kind))
        answered += 1
except (socket.timeout, EOFError, ValueError) as e:
    problems.append("after %d answers: %s: %s" % (answered, type(e).__name__, e))
elapsed = time.time() - start
sock.close()
with open(out, "w") as f:
    f.write("".join(r + "\n" for r in stored))
with open(out + ".limited", "w") as f:
    f.write("".join(r + "\n" for r in limited))
print("%d requests in %.1f s: %d stored, %d rate-limited, %d problems"
      % (n, elapsed, len(stored), len(limited), len(problems)))
for p in problems[:10]:
    print("  " + p)
sys.exit(1 if problems else 0)
