# api_calls.sh - sourced by the operator API tests (after harness.sh, with
# $API set): curl calls with a token and checks of their JSON answers.
# shellcheck shell=bash

# call TOKEN METHOD PATH [curl args...]: the HTTP status in $code, the body
# in $T/resp. TOKEN "" sends no Authorization header.
call() {
    local tok=$1 method=$2 path=$3; shift 3
    local auth=()
    [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
    code=$(curl -sS --max-time 20 -o "$T/resp" -D "$T/headers" -w '%{http_code}' -X "$method" \
        "${auth[@]}" "$@" "$API$path")
}
# post TOKEN PATH [JSON]: a POST with a JSON body (none when JSON is empty).
post() {
    if [ -n "${3:-}" ]; then call "$1" POST "$2" -H 'Content-Type: application/json' -d "$3"
    else call "$1" POST "$2"; fi
}
# expect NAME STATUS [PYTHON-EXPR]: the last call answered STATUS and its
# JSON body (bound to d) satisfies the expression.
expect() {
    local name=$1 want=$2 expr=${3:-True}
    cp "$T/resp" "$T/out"
    if [ "$code" != "$want" ]; then
        echo "    expected HTTP $want, got $code: $(head -c 400 "$T/resp")" >"$T/err"
        : >"$T/out"
        _report 1 "$name"
        return
    fi
    check_json "$name" "$expr"
}
# bad NAME PARAM: a 400 naming PARAM.
bad() { expect "$1" 400 "d['error'] == 'bad_request' and d.get('parameter') == '$2' and d['reason']"; }

# api_server: a PostgreSQL cluster, a CA and vigild "one" with its device
# port on $dport and its operator port at $API.
api_server() {
    pg_start
    setup_ca
    dport=$(free_port)
    aport=$(free_port)
    vigild_start one "$dport" VIGIL_API_LISTEN="127.0.0.1:$aport"
    API="http://127.0.0.1:$aport"
}
# token ROLE NAME: prints a new API token of ROLE named NAME.
token() { "$VIGILCTL" token create --role "$1" --name "$2" 2>/dev/null | tail -n 1; }
