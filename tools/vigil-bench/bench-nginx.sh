#!/usr/bin/env bash
# bench-nginx.sh DIR PORT CERT KEY CA WORKERS LOCATIONS - runs nginx with the
# device port's mutual-TLS setup (nginx.conf.in: this server certificate and
# key, client certificates required and verified against CA) on
# 127.0.0.1:PORT, in the foreground (exec: the caller's $! is nginx's master;
# SIGTERM stops it). LOCATIONS is the server's location blocks: what it
# answers. Its configuration, pid file and logs go to DIR. Used by `make
# bench` for the reference and by tests/integration/bench for servers that
# answer what the benchmark must not count.
set -euo pipefail
[ $# -eq 7 ] || { echo "usage: bench-nginx.sh DIR PORT CERT KEY CA WORKERS LOCATIONS" >&2; exit 2; }
dir=$1
mkdir -p "$dir"
python3 - "$(dirname "$0")/nginx.conf.in" "$@" >"$dir/nginx.conf" <<'PY'
import sys
template, d, port, cert, key, ca, workers, locations = sys.argv[1:]
text = open(template).read()
for k, v in (("@WORKERS@", workers), ("@DIR@", d), ("@PORT@", port), ("@CERT@", cert),
             ("@KEY@", key), ("@CA@", ca), ("@LOCATIONS@", locations)):
    text = text.replace(k, v)
sys.stdout.write(text)
PY
exec /usr/sbin/nginx -c "$dir/nginx.conf" -e "$dir/nginx-error.log" 2>>"$dir/nginx-error.log"
