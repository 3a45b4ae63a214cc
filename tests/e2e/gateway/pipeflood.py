#!/usr/bin/env python3
"""pipeflood.py HOST PORT CA CERT KEY CONNECTIONS SECONDS - CONNECTIONS mutual-TLS
connections that each stream pipelined `GET /nope` requests as fast as the
server takes them (written as the socket takes them, the 404s read between:
tls_duplex.py; a thread per connection),
for SECONDS. Prints how many answers came back in all. A peer that never
lets its worker go would starve every other connection of that worker."""
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tls_duplex import Duplex  # noqa: E402

host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
n, seconds = int(sys.argv[6]), float(sys.argv[7])
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
ctx.check_hostname = False
blob = b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" * 2000
end = time.time() + seconds
answers = [0] * n


def flood(i):
    t = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname="localhost")
    conn = Duplex(t)
    try:
        while time.time() < end:
            if len(conn.out) < len(blob):
                conn.out += blob
            data = conn.pump(10)
            if conn.eof:
                break
            answers[i] += data.count(b"HTTP/1.1 404")
    except OSError:
        pass
    t.close()


threads = [threading.Thread(target=flood, args=(i,)) for i in range(n)]
for th in threads:
    th.start()
for th in threads:
    th.join()
print("%d answers to %d flooding connections in %.0f s" % (sum(answers), n, seconds))
