#!/bin/sh
# Container entrypoint: bring the schema up to date, then run the command
# (vigild by default). Migrations are idempotent and safe when several
# containers start at once.
set -eu
: "${VIGIL_DATABASE_URL:?set VIGIL_DATABASE_URL}"
vigilctl db migrate
exec "$@"
