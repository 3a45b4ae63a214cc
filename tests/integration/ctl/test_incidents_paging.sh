#!/usr/bin/env bash
# vigilctl incidents past 1,000 rows (--after keyset paging with the next
# cursor printed, --all), --quarantined true|false and the QUARANTINED
# column, and `vigilctl incidents stats` (the API's counts per bucket and
# type or severity, db_incidents_stats).
. "$(dirname "$0")/../../lib/harness.sh"
pg_start
"$VIGILCTL" db migrate >/dev/null || { echo "migrate failed" >&2; exit 1; }
sql "INSERT INTO devices (id) VALUES ('dev-a'), ('dev-q')"
# 2,500 reports over the last ~42 minutes, one a second; every tenth from
# a quarantined device (marked), severities in turn
sql "INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, received_at, details, quarantined)
     SELECT gen_random_uuid(), CASE WHEN g % 10 = 0 THEN 'dev-q' ELSE 'dev-a' END, 'device',
            CASE WHEN g % 2 = 0 THEN 'crash' ELSE 'watchdog_reset' END,
            (ARRAY['info','warning','error','critical'])[g % 4 + 1],
            now() - g * interval '1 second', now() - g * interval '1 second', '{}', g % 10 = 0
       FROM generate_series(1, 2500) g"

check "a page of 1000" "$VIGILCTL" incidents --limit 1000 --since 1h --json
cursor=$(sed -n 's/^next page: --after //p' "$T/err")
cp "$T/out" "$T/p1.json"
check_eq "the next cursor is printed" "1" "$(grep -c '^next page: --after [0-9]*\.[0-9]*$' "$T/err")"
check_json "1000 rows" "len(d)==1000"
seen() { python3 -c "import json,sys; print(len(set(i['seq'] for f in sys.argv[1:] for i in json.load(open(f)))))" "$@"; }
check "page 2" "$VIGILCTL" incidents --limit 1000 --since 1h --json --after "$cursor"
cursor=$(sed -n 's/^next page: --after //p' "$T/err"); cp "$T/out" "$T/p2.json"
check "page 3" "$VIGILCTL" incidents --limit 1000 --since 1h --json --after "$cursor"
cp "$T/out" "$T/p3.json"
check_eq "the last page has 500 and no next cursor" "500|0" "$(python3 -c "import json; print(len(json.load(open('$T/p3.json'))))")|$(grep -c 'next page' "$T/err")"
check_eq "three pages: 2500 distinct incidents" "2500" "$(seen "$T/p1.json" "$T/p2.json" "$T/p3.json")"
check_eq "newest first across pages" "True" \
    "$(python3 -c "import json; r=[i['received_at'] for f in ['$T/p1.json','$T/p2.json','$T/p3.json'] for i in json.load(open(f))]; print(r==sorted(r, reverse=True))")"
check "--all --json" "$VIGILCTL" incidents --all --json
check_json "one array of every incident" "len(d)==2500 and len(set(i['seq'] for i in d))==2500"
check "--all (table)" "$VIGILCTL" incidents --all
cp "$T/out" "$T/table"
check_eq "one header and 2500 rows" "2501" "$(wc -l <"$T/table")"
check_eq "no next-page line" "0" "$(grep -c 'next page' "$T/err")"
check_contains "the table has the QUARANTINED column" "QUARANTINED" "$T/table"
check "a marked row says yes" grep -Eq 'dev-q .* yes$' "$T/table"
check "an unmarked one no" grep -Eq 'dev-a .* no$' "$T/table"
check_exit 2 "a bad cursor" "$VIGILCTL" incidents --after 12x
check_contains "says what a cursor is" "is not a cursor" "$T/err"
check_exit 2 "--all with --after" "$VIGILCTL" incidents --all --after 1.2

# ---- --quarantined ----
check "--quarantined true --all --json" "$VIGILCTL" incidents --quarantined true --all --json
check_json "only the quarantined device's 250" "len(d)==250 and all(i['quarantined'] is True and i['device_id']=='dev-q' for i in d)"
check "--quarantined false --all --json" "$VIGILCTL" incidents --quarantined false --all --json
check_json "the other 2250" "len(d)==2250 and not any(i['quarantined'] for i in d)"
check_exit 2 "--quarantined yes" "$VIGILCTL" incidents --quarantined yes
check_contains "says the values" "--quarantined must be true or false, not 'yes'" "$T/err"

# ---- incidents stats ----
check "incidents stats --json" "$VIGILCTL" incidents stats --since 1h --json
check_json "the API's object, counted by type" \
    "d['by']=='type' and d['bucket_seconds']==3600 and sum(p['count'] for p in d['series'])==2500 and {p['key'] for p in d['series']}=={'crash','watchdog_reset'} and sum(p['count'] for p in d['series'] if p['key']=='crash')==1250"
check "--by severity --bucket 10m" "$VIGILCTL" incidents stats --since 1h --by severity --bucket 10m --json
check_json "per severity, ten-minute buckets" \
    "d['by']=='severity' and d['bucket_seconds']==600 and sum(p['count'] for p in d['series'] if p['key']=='critical')==625 and len({p['bucket'] for p in d['series']})>=5"
check_eq "the same totals as SQL" \
    "$(sql "SELECT count(*) FROM incidents WHERE severity='critical'")" \
    "$(python3 -c "import json; print(sum(p['count'] for p in json.load(open('$T/last.json'))['series'] if p['key']=='critical'))")"
check "--quarantined true --by type" "$VIGILCTL" incidents stats --since 1h --quarantined true --json
check_json "only the marked reports (all crashes)" "sum(p['count'] for p in d['series'])==250 and {p['key'] for p in d['series']}=={'crash'}"
check "stats as a table" "$VIGILCTL" incidents stats --since 1h
check_contains "the header" "BUCKET" "$T/out"
check_contains "the total" "total 2500" "$T/out"
check_exit 2 "too many buckets" "$VIGILCTL" incidents stats --since 30d --bucket 1m
check_contains "says what to do" "use a larger --bucket or a shorter range" "$T/err"
check_exit 2 "--by colour" "$VIGILCTL" incidents stats --by colour
check_exit 2 "--bucket without a unit" "$VIGILCTL" incidents stats --bucket 60
check "incidents stats --help" "$VIGILCTL" incidents stats --help
check_contains "documents --by" "--by KEY" "$T/out"
check "incidents --help documents paging" "$VIGILCTL" incidents --help
check_contains "--after" "--after CURSOR" "$T/out"
check_contains "--quarantined" "--quarantined B" "$T/out"
finish
