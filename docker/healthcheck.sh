#!/bin/sh
# vigil-healthcheck - the image's HEALTHCHECK: vigild's /readyz on its
# operator port, which answers 200 when PostgreSQL is reachable and the CA
# is loaded, and 503 otherwise. The address comes from VIGIL_API_LISTEN (a
# wildcard means this container's loopback); https when VIGIL_API_TLS_CERT
# is set, with the certificate not checked: this is our own vigild on
# loopback, and a check is about readiness, not trust.
set -eu
listen=${VIGIL_API_LISTEN:-127.0.0.1:8080}
port=${listen##*:}
host=${listen%:*}
case "$host" in
'' | 0.0.0.0 | '*') host=127.0.0.1 ;;
'[::]') host='[::1]' ;;
esac
scheme=http
[ -n "${VIGIL_API_TLS_CERT:-}" ] && scheme=https
exec curl --silent --show-error --fail --insecure --max-time 4 --output /dev/null \
    "$scheme://$host:$port/readyz"
