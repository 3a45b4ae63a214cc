#!/usr/bin/env python3
"""update_raw.py SCENARIO HOST PORT CA CERT KEY ARGS... - what curl cannot do
on the update paths, over raw mutual-TLS sockets. Prints one JSON object.

  pipeline SHA SIZE   one connection, every request written at once: a Range
                      GET, a HEAD and a whole GET of the artifact, HEADs and
                      GETs of /v1/update and /v1/update/keys; each answer
                      read by its Content-Length (none after a HEAD or a
                      204), so a wrong length or a body after a HEAD shows as
                      a bad status line. {"statuses": [...], "lengths": [...],
                      "sha256": digest of the whole GET's body}
  hold SHA N SECS     N connections (small receive buffers) each send GET of
                      the artifact and never read; "holding" on stderr once
                      all are sent; closed after SECS: {"opened": N}
  heads SHA N         N connections each send GET of the artifact and read
                      only the status line: {"statuses": [...]} (the rest
                      is unread; the connections are then dropped)
  cut SHA N           N connections each read part of the body (a few KiB,
                      in the middle of a chunk), then reset the connection:
                      {"cut": N}
"""
import hashlib
import json
import socket
import ssl
import struct
import sys
import time

scenario, host, port, ca, cert, key = sys.argv[1:7]
args = sys.argv[7:]
port = int(port)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False


def connect(timeout=10):
    raw = socket.create_connection((host, port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def req(method, path, *headers):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: vigil"] + list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def fill(self, pred):
        while not pred():
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buf += chunk

    def answer(self, head):
        self.fill(lambda: b"\r\n\r\n" in self.buf)
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 "):
            raise ValueError("not a status line: %r" % lines[0][:60])
        status = int(lines[0][9:12])
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            if k.lower() in hdrs:
                raise ValueError("header %s twice" % k)
            hdrs[k.lower()] = v.strip()
        length = 0 if head or status == 204 else int(hdrs.get("content-length", "0"))
        self.fill(lambda: len(self.buf) >= length)
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, hdrs, body


def pipeline(sha, size):
    art = "/v1/artifacts/" + sha
    plan = [
        ("GET", art, ["Range: bytes=10-109"]),
        ("HEAD", art, []),
        ("GET", "/v1/update/keys", []),
        ("HEAD", "/v1/update/keys", []),
        ("HEAD", "/v1/update", []),
        ("GET", art, []),
        ("HEAD", art, ["Range: bytes=-5"]),
        ("GET", art, ["Range: bytes=%d-" % (int(size) - 3)]),
        ("GET", "/v1/update", ["X-Vigil-Version: 0.0.1"]),
        ("GET", "/v1/update/keys", []),
    ]
    s = connect()
    s.sendall(b"".join(req(m, p, *h) for m, p, h in plan))
    r = Reader(s)
    statuses, lengths, digest = [], [], None
    for m, p, h in plan:
        status, hdrs, body = r.answer(m == "HEAD")
        statuses.append(status)
        lengths.append(int(hdrs.get("content-length", "-1")))
        if m == "GET" and p == art and not h:
            digest = hashlib.sha256(body).hexdigest()
    # nothing more may follow the last answer
    s.settimeout(0.5)
    try:
        extra = s.recv(1)
    except (socket.timeout, ssl.SSLError):
        extra = b""
    s.close()
    return {"statuses": statuses, "lengths": lengths, "sha256": digest,
            "trailing": len(r.buf) + len(extra)}


def small_rcvbuf():
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect((host, port))
    return ctx.wrap_socket(raw, server_hostname="localhost")


def hold(sha, n, secs):
    socks = []
    for _ in range(int(n)):
        s = small_rcvbuf()
        s.sendall(req("GET", "/v1/artifacts/" + sha))
        socks.append(s)
    print("holding", flush=True, file=sys.stderr)
    time.sleep(float(secs))
    for s in socks:
        s.close()
    return {"opened": len(socks)}


def heads(sha, n):
    socks, statuses = [], []
    for _ in range(int(n)):
        s = small_rcvbuf()
        s.sendall(req("GET", "/v1/artifacts/" + sha))
        socks.append(s)
    for s in socks:
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(64)
            if not chunk:
                break
            buf += chunk
        statuses.append(int(buf[9:12]) if buf.startswith(b"HTTP/1.1 ") else 0)
    for s in socks:
        s.close()
    return {"statuses": statuses}


def cut(sha, n):
    for i in range(int(n)):
        s = connect()
        s.sendall(req("GET", "/v1/artifacts/" + sha, "Range: bytes=%d-" % (1000 * i)))
        got = 0
        while got < 3000 + 5000 * (i % 7):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += len(chunk)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # a reset, not a goodbye
    return {"cut": int(n)}


out = {"pipeline": pipeline, "hold": hold, "heads": heads, "cut": cut}[scenario](*args)
print(json.dumps(out))
