#!/usr/bin/env bash
# The operator API's rollouts against a running vigild: POST /v1/rollouts
# (every member checked, a 400 naming it before the database; the db
# layer's refusals as 404/409; defaults and every option; Location),
# GET /v1/rollouts (live filter) and /v1/rollouts/{rollout} (counts per
# state, eligible as the hash predicts, health figures, halt_reason), and
# widen, pause, resume, abort with their 409s; a halt on install failures
# and its resume; starting another supersedes the class's live rollout;
# viewer 403 on every write; audit rows name the token.
. "$(dirname "$0")/../../lib/harness.sh"
. "$(dirname "$0")/api_calls.sh"
. "$(dirname "$0")/release_calls.sh"
api_server
VIEWER=$(token viewer rol-viewer)
OPERATOR=$(token operator rol-operator)

# 100 sensors (10 of them tagged canary) and 5 gateways, by SQL: the API
# counts them, it never talks to them.
sql "INSERT INTO devices (id, device_class, tags)
     SELECT 'sensor-' || lpad(n::text, 3, '0'), 'sensor',
            CASE WHEN n <= 10 THEN '{canary}'::text[] ELSE '{}' END FROM generate_series(1, 100) n" >/dev/null
sql "INSERT INTO devices (id, device_class) SELECT 'gw-' || n, 'gw' FROM generate_series(1, 5) n" >/dev/null
release_key_init
old=$(release_make sensor 1.8.0 1 1s)
gone=$(release_make sensor 1.9.0 2)
"$VIGILCTL" release revoke sensor/1.9.0 >/dev/null 2>&1
rel=$(release_make sensor 2.0.0 3)
release_make gw 2.0.0 1 >/dev/null
gw=$(release_make gw 2.1.0 2)
expired() { [ "$(sql "SELECT expires_at <= now() FROM releases WHERE id = $old")" = t ]; }
for _ in $(seq 1 30); do expired && break; sleep 0.1; done
# eligible ID BP [TAG]: how many sensors the hash puts in rollout ID at BP
# basis points.
eligible() {
    sql "SELECT count(*) FROM devices WHERE device_class = 'sensor'
           AND vigil_rollout_bucket($1, id) < $2 ${3:+AND '$3' = ANY (tags)}"
}
id_of() { python3 -c "import json; print(json.load(open('$T/resp'))['id'])"; }

# ---- validation: each a 400 naming the member, nothing written ----
start() { post "$OPERATOR" /v1/rollouts "$1"; }
start '{}'
bad "release missing" release
start '{"release":"sensor/2.0.0"}'
bad "percent missing" percent
start '{"release":true,"percent":10}'
bad "release a boolean" release
start '{"release":0,"percent":10}'
bad "release id 0" release
start '{"release":"sensor/","percent":10}'
bad "release not a reference" release
start '{"release":"sensor/2.0.0","percent":"10"}'
bad "percent as text" percent
for p in 0 -5 100.5 12.345 1e9; do
    start "{\"release\":\"sensor/2.0.0\",\"percent\":$p}"
    bad "percent $p" percent
done
for v in 0 1.5 '"0.1"' -0.1; do
    start "{\"release\":\"sensor/2.0.0\",\"percent\":10,\"error_threshold\":$v}"
    bad "error_threshold $v" error_threshold
done
for v in 0 1.5 2000000 '"5"'; do
    start "{\"release\":\"sensor/2.0.0\",\"percent\":10,\"min_reports\":$v}"
    bad "min_reports $v" min_reports
done
for v in 3600 '"30s"' '"366d"' '"soon"' '"1500ms"' '""'; do
    start "{\"release\":\"sensor/2.0.0\",\"percent\":10,\"health_window\":$v}"
    bad "health_window $v" health_window
done
for v in 0.5 1001 '"2"' null; do
    start "{\"release\":\"sensor/2.0.0\",\"percent\":10,\"health_ratio\":$v}"
    bad "health_ratio $v" health_ratio
done
start '{"release":"sensor/2.0.0","percent":10,"health_min_crashes":0}'
bad "health_min_crashes 0" health_min_crashes
start '{"release":"sensor/2.0.0","percent":10,"group":"no tag"}'
bad "group not a tag" group
start '{"release":"sensor/2.0.0","percent":10,"group":5}'
bad "group a number" group
start '{"release":"sensor/2.0.0","percent":10,"colour":"red"}'
expect "unknown member: 400 listing the members" 400 "d['parameter']=='colour' and 'health_window' in d['reason']"
start '{"release":"sensor/2.0.0","percent":10,"percent":20}'
expect "duplicate member: 400" 400 "d['error']=='bad_request'"
call "$OPERATOR" POST /v1/rollouts -H 'Content-Type: text/plain' -d '{"release":1}'
expect "not JSON: 415" 415 "d['error']=='unsupported_media_type'"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big.json"
call "$OPERATOR" POST /v1/rollouts -H 'Content-Type: application/json' --data-binary "@$T/big.json"
expect "over 64 KiB: 413" 413 "d['error']=='payload_too_large'"
call "$OPERATOR" POST "/v1/rollouts?percent=10" -H 'Content-Type: application/json' -d '{}'
bad "no query parameters" percent
# ... and the db layer's refusals
start '{"release":999,"percent":10}'
expect "unknown release: 404 naming release" 404 "d['parameter']=='release' and '999' in d['reason']"
start '{"release":"2.0.0","percent":10}'
expect "a version of two classes: 400" 400 "d['parameter']=='release' and 'CLASS/2.0.0' in d['reason']"
start "{\"release\":$gone,\"percent\":10}"
expect "revoked release: 409" 409 "d['error']=='conflict' and 'revoked' in d['reason']"
start '{"release":"sensor/1.8.0","percent":10}'
expect "expired release: 409" 409 "d['error']=='conflict' and 'expired' in d['reason']"
post "$VIEWER" /v1/rollouts '{"release":"sensor/2.0.0","percent":10}'
expect "viewer cannot start: 403" 403 "d['error']=='forbidden'"
check_eq "refusals wrote nothing" "0|0" "$(sql "SELECT (SELECT count(*) FROM rollouts), (SELECT count(*) FROM audit_log WHERE action LIKE 'rollout.%')")"

# ---- start with the defaults ----
start '{"release":"sensor/2.0.0","percent":10}'
expect "operator starts: 201" 201 "d['state']=='running' and d['release_id']==$rel and d['version']=='2.0.0' and d['device_class']=='sensor' and d['percent']==10 and d['group_tag'] is None and d['created_by']=='token:rol-operator'"
expect "the defaults" 201 "d['error_threshold']==0.1 and d['min_reports']==5 and d['health_window_s']==86400 and d['health_ratio']==2 and d['health_min_crashes']==3 and d['halt_reason'] is None"
expect "no device yet: counts 0, health figures numbers" 201 "[d[k] for k in ('offered','downloading','installed','failed','updated_devices','updated_crashes')]==[0]*6 and all(isinstance(d[k],(int,float)) for k in ('updated_rate','control_rate','updated_device_hours','control_device_hours','control_devices'))"
documented "the start answers a RolloutDetail as documented" RolloutDetail
r1=$(id_of)
check_contains "Location names it" "Location: /v1/rollouts/$r1" "$T/headers"
call "$VIEWER" GET "/v1/rollouts/$r1"
expect "eligible is what the hash predicts" 200 "d['eligible']==$(eligible "$r1" 1000) and d['control_devices']==100"
documented "a rollout shown is a RolloutDetail" RolloutDetail
check_eq "audit row rollout.start names the token" "1|rol-operator|token|1000" \
    "$(sql "SELECT count(*), min(actor), min(actor_kind), min(details->>'basis_points') FROM audit_log WHERE action='rollout.start'")"

# ---- widen ----
widen() { post "${2:-$OPERATOR}" "/v1/rollouts/$r1/widen" "$1"; }
widen '{"percent":50}' "$VIEWER"
expect "viewer cannot widen: 403" 403 "d['error']=='forbidden'"
widen '{}'
bad "widen without percent" percent
widen '{"percent":"50"}'
bad "widen percent as text" percent
widen '{"percent":50,"now":true}'
bad "widen unknown member" now
widen '{"percent":5}'
expect "narrowing: 409" 409 "d['error']=='conflict' and 'only adds devices' in d['reason']"
widen '{"percent":10}'
expect "the same percent: 409" 409 "d['error']=='conflict'"
widen '{"percent":50}'
expect "widened to 50" 200 "d['percent']==50 and d['basis_points']==5000 and d['eligible']==$(eligible "$r1" 5000) and d['state']=='running'"
documented "widen answers a RolloutDetail" RolloutDetail
check_eq "audit rollout.widen" "rol-operator|1000|5000" \
    "$(sql "SELECT actor, details->>'from_basis_points', details->>'to_basis_points' FROM audit_log WHERE action='rollout.widen'")"

# ---- pause, resume ----
move() { post "${3:-$OPERATOR}" "/v1/rollouts/$1/$2" "${4:-}"; }
move "$r1" pause "$VIEWER"
expect "viewer cannot pause: 403" 403 "d['error']=='forbidden'"
move "$r1" pause "$OPERATOR" '{"reason":"x"}'
bad "pause takes no member" reason
move "$r1" pause
expect "paused" 200 "d['state']=='paused'"
documented "pause answers a RolloutDetail" RolloutDetail
move "$r1" pause
expect "pause a paused one: 409" 409 "d['error']=='conflict' and 'only a running rollout pauses' in d['reason']"
move "$r1" resume "$OPERATOR" '{}'
expect "resumed, with {} as the body" 200 "d['state']=='running'"
move "$r1" resume
expect "resume a running one: 409" 409 "d['error']=='conflict'"

# ---- halt on install failures, shown and resumed ----
# six sensors the hash puts in (vigil_update_offered refuses the others)
mapfile -t in < <(sql "SELECT id FROM devices WHERE device_class = 'sensor'
                         AND vigil_rollout_bucket($r1, id) < 5000 ORDER BY id LIMIT 6")
for d in "${in[@]}"; do
    sql "SELECT vigil_update_offered($r1, '$d')" >/dev/null
done
for d in "${in[@]:0:5}"; do
    sql "SELECT code FROM vigil_update_report('$d', '2.0.0', 'failed', 'flash write error',
         gen_random_uuid(), '127.0.0.1')" >/dev/null
done
call "$VIEWER" GET "/v1/rollouts/$r1"
expect "halted on install failures, counted" 200 "d['state']=='halted' and d['failed']==5 and d['offered']==1 and d['installed']==0 and d['halt_reason']['kind']=='install_failures' and d['halt_reason']['failed']==5 and d['halt_reason']['reported']==5"
move "$r1" pause
expect "pause a halted one: 409, resume or abort" 409 "'resume or abort' in d['reason']"
move "$r1" resume
expect "resume a halted one" 200 "d['state']=='running' and d['halt_reason'] is None"
call "$VIEWER" GET "/v1/rollouts?live=true"
expect "live list" 200 "[r['id'] for r in d['items']]==[$r1] and d['truncated'] is False and 'offered' not in d['items'][0]"
call "$VIEWER" GET "/v1/rollouts?live=maybe"
bad "live is true or false" live

# ---- abort ----
move "$r1" abort "$VIEWER"
expect "viewer cannot abort: 403" 403 "d['error']=='forbidden'"
move "$r1" abort
expect "aborted" 200 "d['state']=='aborted'"
for m in abort resume pause; do
    move "$r1" "$m"
    expect "$m an aborted one: 409" 409 "d['error']=='conflict' and 'aborted' in d['reason']"
done
widen '{"percent":60}'
expect "widen an aborted one: 409" 409 "d['error']=='conflict' and 'aborted' in d['reason']"
call "$VIEWER" GET "/v1/rollouts?live=true"
expect "nothing live" 200 "d['items']==[]"
check_eq "every operator move audited as the token" "rol-operator|2|1|1" \
    "$(sql "SELECT string_agg(DISTINCT actor, ','), count(*) FILTER (WHERE action='rollout.running'),
                   count(*) FILTER (WHERE action='rollout.paused'), count(*) FILTER (WHERE action='rollout.aborted')
              FROM audit_log WHERE action IN ('rollout.start','rollout.widen','rollout.running','rollout.paused','rollout.aborted')")"
check_eq "the halt audited as the server" "server|vigild|install_failures" \
    "$(sql "SELECT actor_kind, actor, details->'reason'->>'kind' FROM audit_log WHERE action='rollout.halted'")"

# ---- every option; a second start supersedes ----
start "{\"release\":$rel,\"percent\":2.5,\"error_threshold\":0.05,\"min_reports\":10,\"health_window\":\"90m\",\"health_ratio\":3,\"health_min_crashes\":4,\"group\":\"canary\"}"
expect "every option" 201 "d['percent']==2.5 and d['basis_points']==250 and d['error_threshold']==0.05 and d['min_reports']==10 and d['health_window_s']==5400 and d['health_ratio']==3 and d['health_min_crashes']==4 and d['group_tag']=='canary'"
r2=$(id_of)
call "$VIEWER" GET "/v1/rollouts/$r2"
expect "eligible counts the group only" 200 "d['eligible']==$(eligible "$r2" 250 canary) and d['control_devices']==10"
start '{"release":"sensor/2.0.0","percent":100}'
expect "100 percent" 201 "d['percent']==100 and d['state']=='running'"
r3=$(id_of)
call "$VIEWER" GET "/v1/rollouts/$r2"
expect "the earlier live one is superseded" 200 "d['state']=='superseded'"
start "{\"release\":\"gw/2.1.0\",\"percent\":0.01}"
expect "another class runs beside it" 201 "d['release_id']==$gw and d['percent']==0.01"
r4=$(id_of)
call "$VIEWER" GET /v1/rollouts
expect "list: newest first, no counts" 200 "[r['id'] for r in d['items']]==[$r4,$r3,$r2,$r1] and d['items'][0]['state']=='running' and 'eligible' not in d['items'][0]"
documented "a listed rollout is a Rollout as documented" Rollout list
call "$VIEWER" GET "/v1/rollouts?live=true"
expect "live: one per class" 200 "[r['id'] for r in d['items']]==[$r4,$r3]"
call "$VIEWER" GET "/v1/rollouts?limit=1"
expect "limit" 200 "[r['id'] for r in d['items']]==[$r4] and d['truncated'] is True"

# ---- unknown and impossible rollouts ----
call "$VIEWER" GET /v1/rollouts/999
expect "unknown rollout: 404" 404 "d['error']=='not_found' and '999' in d['reason']"
move 999 pause
expect "pause an unknown rollout: 404" 404 "d['error']=='not_found'"
post "$OPERATOR" /v1/rollouts/999/widen '{"percent":50}'
expect "widen an unknown rollout: 404" 404 "d['error']=='not_found'"
call "$VIEWER" GET /v1/rollouts/abc
expect "not an id: 404 naming rollout" 404 "d['parameter']=='rollout'"
call "$VIEWER" GET /v1/rollouts/0
expect "id 0: 404 naming rollout" 404 "d['parameter']=='rollout'"

check "SIGTERM: vigild exits 0" vigild_stop one
check "no sanitizer report" bash -c "! grep -q Sanitizer '$T/one.log'"
finish
