#!/usr/bin/env bash
# make check-layers (tools/dev/check-layers.sh): the tree as it is passes,
# and each kind of layering break, made in a copy of the sources, is
# refused with the file and line that break it.
. "$(dirname "$0")/../../lib/harness.sh"
CHECK="$REPO/tools/dev/check-layers.sh"

check "the repository follows its layers" bash "$CHECK" "$REPO"

mkdir -p "$T/pristine"
(cd "$REPO" && find protocol cert-authority db server tools tests -name '*.[ch]' -print0 |
    xargs -0 cp --parents -t "$T/pristine")

# refused NAME FILE LINE EXPECTED: FILE (in a fresh copy) gets LINE at its
# top; the check must fail and name FILE and EXPECTED.
refused() {
    local name=$1 file=$2 line=$3 expected=$4
    rm -rf "$T/tree" && cp -r "$T/pristine" "$T/tree"
    mkdir -p "$(dirname "$T/tree/$file")"
    { echo "$line"; cat "$T/tree/$file" 2>/dev/null; } >"$T/new" && mv "$T/new" "$T/tree/$file"
    check_exit 1 "$name" bash "$CHECK" "$T/tree"
    check_contains "  ... naming $file" "$file:1: $expected" "$T/out"
}

refused "protocol/ including server/" protocol/incident.c '#include "server/core/log.h"' \
    "includes server/core/log.h, but protocol may only include from: protocol"
refused "cert-authority/ including db/" cert-authority/ca_issue.c '#include "db/db.h"' \
    "includes db/db.h"
refused "db/ including server/" db/db_conn.c '#include "server/core/strbuf.h"' \
    "includes server/core/strbuf.h"
refused "tools/ including server/" tools/vigil-bench/bench_db.c '#include "server/core/strbuf.h"' \
    "includes server/core/strbuf.h, but tools/vigil-bench may only include from"
refused "one tool including another" tools/vigil-device/send.c '#include "tools/vigilctl/cli.h"' \
    "includes tools/vigilctl/cli.h"
refused "server/core/ including a sibling" server/core/config.c '#include "server/registry/reg_view.h"' \
    "includes server/registry/reg_view.h, but server/core may only include from"
refused "api/ including gateway/" server/api/api_ops.c '#include "server/gateway/gw_tls.h"' \
    "includes server/gateway/gw_tls.h, but server/api may only include from"
refused "gateway/ including api/" server/gateway/gw_conn.c '#include "server/api/api.h"' \
    "includes server/api/api.h, but server/gateway may only include from"
refused "an event-loop subsystem including the blocking db/" server/registry/reg_sync.c '#include "db/db.h"' \
    "includes db/db.h, but server/registry may only include from"
refused "an angle-bracket include of a project header" server/api/api.c '#include <server/gateway/gw_conn.h>' \
    "includes server/gateway/gw_conn.h, but server/api may only include from"
refused "a bare include that hides its layer" server/core/log.c '#include "strbuf.h"' \
    "includes \"strbuf.h\", which is not a path from the repository root"
rm -rf "$T/tree" && cp -r "$T/pristine" "$T/tree" && echo 'int x;' >"$T/tree/server/stray.c"
check_exit 1 "a source file outside every layer" bash "$CHECK" "$T/tree"
check_contains "  ... naming it" "server/stray.c: not in any layer" "$T/out"
rm -rf "$T/tree" && cp -r "$T/pristine" "$T/tree"
sed -i '1i #include "server/gateway/gw_tls.h"' "$T/tree/tests/unit/protocol/test_when.c"
check "tests/ may include any layer" bash "$CHECK" "$T/tree"
finish
