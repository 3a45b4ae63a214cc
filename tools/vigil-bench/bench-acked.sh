#!/usr/bin/env bash
# bench-acked.sh ACKED-LOG - whether every report the server acknowledged
# is stored exactly once: loads the ids of ACKED-LOG (`vigil-bench ingest
# --acked-log`: one id a line, each answered stored or duplicate) into a
# temporary table with psql's \copy and counts, for each distinct id, its
# rows in incidents, in $VIGIL_DATABASE_URL ($PSQL, default psql). Prints
# one line:
#   acked check: N acknowledged (D distinct): S stored once, M missing, X stored more than once: ok
# and exits 0 when every distinct id is stored once, 1 on any mismatch or
# when nothing was acknowledged (nothing checked is not a pass), 2 on bad
# usage or a database that could not be asked. Used by `make bench` after
# each ingest run against vigild, and by the tests.
set -uo pipefail
if [ $# -ne 1 ] || [ ! -r "$1" ] || [ -z "${VIGIL_DATABASE_URL:-}" ]; then
    echo "usage: VIGIL_DATABASE_URL=... bench-acked.sh ACKED-LOG (a readable file)" >&2
    exit 2
fi
counts=$("${PSQL:-psql}" -X -Atq -F ' ' -v ON_ERROR_STOP=1 "$VIGIL_DATABASE_URL" \
    -c 'CREATE TEMP TABLE acked (id uuid)' \
    -c '\copy acked FROM pstdin' \
    -c "WITH a AS (SELECT DISTINCT id FROM acked),
             s AS (SELECT i.id, count(*) AS n FROM incidents i JOIN a USING (id) GROUP BY i.id)
        SELECT (SELECT count(*) FROM acked), count(*), count(*) FILTER (WHERE s.n = 1),
               count(*) FILTER (WHERE s.n IS NULL), count(*) FILTER (WHERE s.n > 1)
        FROM a LEFT JOIN s USING (id)" <"$1") || { echo "acked check: could not ask PostgreSQL" >&2; exit 2; }
read -r total distinct once missing more <<<"$counts"
verdict=ok
[ "$distinct" -gt 0 ] && [ "$once" -eq "$distinct" ] || verdict=MISMATCH
[ "$distinct" -gt 0 ] || verdict="MISMATCH (nothing was acknowledged)"
echo "acked check: $total acknowledged ($distinct distinct): $once stored once, $missing missing," \
     "$more stored more than once: $verdict"
[ "$verdict" = ok ]
