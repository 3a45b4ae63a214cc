#!/usr/bin/env python3
"""evil_server.py PORT CERT KEY CA PLAN LOG - a hostile update server for
vigil-device (a man in the middle with a server certificate the device
trusts): TLS with CERT/KEY, client certificates asked for (CA) but not
required. For each request it reads the JSON file PLAN again and answers
from the first entry whose "path" prefixes the request's path:

  {"path": "/v1/update", "status": 200, "headers": {"Content-Type": "..."},
   "body": "text" | "body_file": "FILE",
   "length": N (the Content-Length sent; default the body's; null: none),
   "extra": "endless" | N (bytes after the body, then close),
   "trickle": S (send the head one byte every S seconds)}

No entry: 404. Each request is logged to LOG as one JSON line: method,
path, headers, body."""
import json
import socket
import ssl
import sys
import threading
import time

port, cert, key, ca, plan_file, log_file = sys.argv[1:7]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.load_verify_locations(ca)
ctx.verify_mode = ssl.CERT_OPTIONAL
log_lock = threading.Lock()


def read_request(conn, buf):
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        chunk = conn.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    body, buf = buf[:n], buf[n:]
    return (method, path, headers, body.decode("latin-1")), buf


def answer(conn, req):
    method, path, headers, body = req
    with log_lock, open(log_file, "a") as f:
        f.write(json.dumps({"method": method, "path": path, "headers": headers, "body": body}) + "\n")
    with open(plan_file) as f:
        plan = json.load(f)
    spec = next((e for e in plan if path.startswith(e["path"])), None)
    if spec is None:
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True
    data = spec.get("body", "").encode("latin-1")
    if "body_file" in spec:
        with open(spec["body_file"], "rb") as f:
            data = f.read()
    length = spec.get("length", len(data))
    head = "HTTP/1.1 %d X\r\n" % spec.get("status", 200)
    for k, v in spec.get("headers", {}).items():
        head += "%s: %s\r\n" % (k, v)
    if length is not None:
        head += "Content-Length: %d\r\n" % length
    head = (head + "\r\n").encode()
    if "trickle" in spec:
        for i in range(len(head)):
            conn.sendall(head[i:i + 1])
            time.sleep(spec["trickle"])
    else:
        conn.sendall(head)
    if method != "HEAD":
        conn.sendall(data)
    extra = spec.get("extra")
    if extra == "endless":
        junk = b"\0" * 65536
        while True:
            conn.sendall(junk)
    if extra:
        conn.sendall(b"\0" * int(extra))
        return False
    return length is not None


def serve(conn):
    buf = b""
    try:
        while True:
            req, buf = read_request(conn, buf)
            if req is None or not answer(conn, req):
                break
    except (OSError, ssl.SSLError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(port)))
srv.listen(64)
print("listening", flush=True)
while True:
    raw, _ = srv.accept()
    try:
        raw.settimeout(30)
        conn = ctx.wrap_socket(raw, server_side=True)
    except (OSError, ssl.SSLError):
        raw.close()
        continue
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
