#!/usr/bin/env python3
"""rawhttp.py HOST PORT [--header 'Name: value'...] REQUEST... - sends the
REQUESTs ("METHOD TARGET"; a header or request as "@FILE" is read from a
file, for what is too long for a command line), each with the headers,
pipelined on one connection, reads until the
server closes it or is silent for --quiet seconds, and splits what came back
into responses the way a client must: no body after HEAD, 204 or 304,
otherwise Content-Length bytes or chunks. Prints JSON: the responses (status,
headers with lower-case names, body), the bytes left over after them (a body
a client did not expect shows up there), whether the server closed, and the
seconds it took. For tests/e2e/api/test_head.sh and test_request_limits.sh.
"""
import argparse
import json
import socket
import time


def split_responses(data, methods):
    out = []
    for method in methods:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        head, data = data[:end].decode("latin1").split("\r\n"), data[end + 4:]
        status = int(head[0].split(" ")[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if method != "HEAD" and status not in (204, 304) and status >= 200:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size_end = data.find(b"\r\n")
                    size = int(data[:size_end], 16)
                    body += data[size_end + 2:size_end + 2 + size]
                    data = data[size_end + 2 + size + 2:]
                    if size == 0:
                        break
            elif "content-length" in headers:
                n = int(headers["content-length"])
                body, data = data[:n], data[n:]
            else:
                body, data = data, b""  # framed by the close
        out.append({"status": status, "headers": headers, "body": body.decode("latin1")})
    return out, data


def text(arg):
    """arg, or for "@FILE" the first line of FILE."""
    if not arg.startswith("@"):
        return arg
    with open(arg[1:], "rb") as f:
        return f.read().decode("latin1").strip("\r\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("requests", nargs="+")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--quiet", type=float, default=1.5)
    a = p.parse_args()
    lines, methods = [], []
    extra = "".join(text(h) + "\r\n" for h in a.header)
    for r in a.requests:
        r = text(r)
        methods.append(r.split(" ", 1)[0])
        lines.append((r + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n").encode("latin1"))
    start = time.monotonic()
    s = socket.create_connection((a.host, a.port), timeout=5)
    try:
        s.sendall(b"".join(lines))
    except OSError:
        pass  # refused while sending: what came back still counts
    s.settimeout(a.quiet)
    data, closed = b"", False
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    responses, left = split_responses(data, methods)
    print(json.dumps({"responses": responses, "leftover": left.decode("latin1"), "closed": closed,
                      "seconds": round(time.monotonic() - start, 3)}))


if __name__ == "__main__":
    main()
