/*
 * bench_seed.c - `vigil-bench seed`: a fleet's history for the query
 * benchmark, made inside PostgreSQL. D devices (q-000000, q-000001, ...) and
 * N incidents spread evenly over the last DAYS days, each on a random device,
 * with the variety of a real fleet: the contract's incident types in
 * realistic proportions, severities that depend on the type, ten firmware
 * versions rolled out over the period, a few components, and details whose
 * signature (a crash's "pc", otherwise a "reason") comes from a few hundred
 * values, so that incident groups are meaningful. Every incident has its row
 * in incident_keys (the ingest dedupe table), as ingest would have left it.
 *
 * Rows are made server-side, INSERT ... SELECT FROM generate_series, one
 * million per statement so that progress shows; then VACUUM (ANALYZE), so
 * that statistics and the visibility map are as on a long-running system
 * (autovacuum would have got there). Sequence numbers are reserved from
 * incidents_seq, so seeded rows never share a seq with ingested ones.
 */
#include "tools/vigil-bench/bench.h"

#include "db/db.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 1000000L

/* Monthly partitions named as vigil_ensure_incident_partitions() names
 * them, for the months before this one that the seed reaches back into
 * (the migration creates this month and the ones ahead; a system that has
 * run for a while has the past ones). %d: days. */
static const char partitions_sql[] =
    "DO $$ DECLARE m date := date_trunc('month', (now() - interval '%d days') AT TIME ZONE"
    " 'UTC')::date; name text; BEGIN"
    " WHILE m <= (now() AT TIME ZONE 'UTC')::date LOOP"
    "  name := format('incidents_%%s', to_char(m, 'YYYYMM'));"
    "  IF to_regclass(name) IS NULL THEN"
    "   EXECUTE format('CREATE TABLE %%I PARTITION OF incidents FOR VALUES FROM (%%L) TO (%%L)',"
    "    name, m::timestamp AT TIME ZONE 'UTC', (m + interval '1 month')::timestamp AT TIME ZONE"
    "    'UTC');"
    "  END IF;"
    "  m := (m + interval '1 month')::date;"
    " END LOOP; END $$";

/* $1 devices. Firmware and last-seen are what the fleet would show. */
static const char devices_sql[] =
    "INSERT INTO devices (id, device_class, created_at, updated_at, last_seen_at, last_address,"
    " firmware_version, firmware_reported_at)"
    " SELECT 'q-' || lpad(d::text, 6, '0'),"
    "  (ARRAY['sensor', 'gateway', 'tracker', 'meter'])[1 + d % 4],"
    "  now() - interval '400 days', now() - interval '1 day', seen, '10.0.0.0'::inet + d,"
    "  (ARRAY['2.3.0', '2.3.1', '2.4.0'])[1 + d % 3], seen"
    " FROM (SELECT d, now() - random() * interval '1 hour' AS seen"
    "  FROM generate_series(0, $1::int - 1) d OFFSET 0) s"
    " ON CONFLICT (id) DO NOTHING";

/* One chunk: rows $1 .. $2-1 of $3, over $4 devices, received from epoch
 * second $5 for $6 seconds, seq from $7. The keys go in in index order
 * (one pass over the key index per chunk instead of a random probe per
 * row); the incidents in time order, as they arrive in a real system. */
static const char chunk_sql[] =
    "WITH g AS ("
    " SELECT i, r1, r2, r3, r4, r5, r6, r7,"
    "  to_timestamp($5::float8 + (i + 0.5) * $6::float8 / $3::float8) AS at,"
    "  floor(r5 * $4::int)::int AS d,"
    "  CASE WHEN r1 < .35 THEN 'crash' WHEN r1 < .55 THEN 'watchdog_reset'"
    "   WHEN r1 < .70 THEN 'network_anomaly' WHEN r1 < .82 THEN 'resource_exhaustion'"
    "   WHEN r1 < .90 THEN 'auth_failure' WHEN r1 < .97 THEN 'update_failure'"
    "   ELSE 'tamper' END AS type"
    " FROM (SELECT i, random() r1, random() r2, random() r3, random() r4, random() r5,"
    "  random() r6, random() r7 FROM generate_series($1::int8, $2::int8 - 1) i OFFSET 0) s),"
    " ins AS ("
    " INSERT INTO incidents (seq, received_at, id, device_id, source, type, severity,"
    "  occurred_at, firmware_version, component, details, source_address)"
    " SELECT $7::int8 + i, at, gen_random_uuid(), 'q-' || lpad(d::text, 6, '0'),"
    "  CASE WHEN type = 'auth_failure' AND r7 < .5 THEN 'server' ELSE 'device' END, type,"
    "  CASE type WHEN 'crash' THEN CASE WHEN r3 < .8 THEN 'error' ELSE 'critical' END"
    "   WHEN 'tamper' THEN 'critical'"
    "   WHEN 'watchdog_reset' THEN CASE WHEN r3 < .7 THEN 'warning' ELSE 'error' END"
    "   WHEN 'network_anomaly' THEN CASE WHEN r3 < .6 THEN 'info' ELSE 'warning' END"
    "   ELSE CASE WHEN r3 < .3 THEN 'info' WHEN r3 < .65 THEN 'warning' WHEN r3 < .93"
    "    THEN 'error' ELSE 'critical' END END,"
    "  at - r4 * interval '30 seconds',"
    "  (ARRAY['1.0.0', '1.1.0', '1.2.0', '1.2.1', '1.3.0', '1.4.0', '1.4.2', '2.3.0', '2.3.1',"
    "   '2.4.0'])[1 + least(9, floor((i + 0.5) / $3::float8 * 7 + r6 * 3)::int)],"
    "  (ARRAY['main', 'net', 'sensor', 'storage', 'ota', 'power', 'crypto', 'ble'])"
    "   [1 + floor(r7 * 8)::int],"
    "  CASE WHEN type = 'crash' THEN jsonb_build_object("
    "    'pc', '0x0800' || lpad(to_hex(4096 + 4 * floor(300 * r2 * r2)::int), 4, '0'),"
    "    'lr', '0x0800' || lpad(to_hex(8192 + 4 * floor(64 * r4)::int), 4, '0'),"
    "    'uptime_s', floor(r6 * 864000)::int)"
    "   ELSE jsonb_build_object('reason', (CASE type"
    "    WHEN 'watchdog_reset' THEN ARRAY['task_wdt:net', 'task_wdt:sensor', 'task_wdt:main',"
    "     'task_wdt:ota', 'int_wdt', 'rtc_wdt', 'brownout_wdt', 'task_wdt:storage']"
    "    WHEN 'network_anomaly' THEN ARRAY['dns_failure', 'tls_alert', 'reconnect_storm',"
    "     'port_scan', 'unexpected_peer', 'packet_loss', 'new_network', 'rst_flood']"
    "    WHEN 'resource_exhaustion' THEN ARRAY['heap', 'stack', 'fd', 'flash', 'queue',"
    "     'dma', 'mbuf', 'timers']"
    "    WHEN 'auth_failure' THEN ARRAY['expired', 'unknown_issuer', 'revoked', 'unregistered',"
    "     'no_certificate', 'bad_signature', 'decommissioned', 'expired']"
    "    WHEN 'update_failure' THEN ARRAY['download_timeout', 'digest_mismatch',"
    "     'signature_invalid', 'rollback_refused', 'flash_write', 'no_space', 'manifest_expired',"
    "     'boot_failed']"
    "    ELSE ARRAY['case_open', 'voltage_glitch', 'clock_glitch', 'debug_port',"
    "     'secure_boot_fail', 'light_sensor', 'case_open', 'debug_port'] END)"
    "    [1 + floor(r2 * 8)::int], 'uptime_s', floor(r6 * 864000)::int) END,"
    "  '10.0.0.0'::inet + d"
    " FROM g"
    " RETURNING device_id, source, id, received_at)"
    " INSERT INTO incident_keys (device_id, report_id, received_at)"
    " SELECT CASE WHEN source = 'server' THEN '~server' ELSE device_id END, id, received_at"
    " FROM ins ORDER BY 1, 2";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(PGconn *db, const char *sql, int n, const char *const *params, PGresult **out)
{
    db_error err = {0};
    PGresult *res = db_query(db, sql, n, params, &err);
    if (!res) {
        fprintf(stderr, "vigil-bench seed: %s\n", err.msg);
        return -1;
    }
    if (out)
        *out = res;
    else
        PQclear(res);
    return 0;
}

int bench_seed(const char *database_url, long incidents, int devices, int days, int json)
{
    db_error err = {0};
    PGconn *db = db_connect(database_url, &err);
    PGresult *res = NULL;
    char sql[sizeof(partitions_sql) + 16], p[7][32];
    const char *params[7];
    if (!db) {
        fprintf(stderr, "vigil-bench seed: %s\n", err.msg);
        return -1;
    }
    for (int i = 0; i < 7; i++)
        params[i] = p[i];
    double t0 = now_s();
    /* A bulk load: a big sort for the keys, no wait on the WAL flush per
     * chunk (each chunk is its own transaction; a lost chunk is a rerun). */
    if (run(db, "SET work_mem = '256MB'", 0, NULL, NULL) < 0 ||
        run(db, "SET maintenance_work_mem = '1GB'", 0, NULL, NULL) < 0 ||
        run(db, "SET synchronous_commit = off", 0, NULL, NULL) < 0)
        goto fail;
    snprintf(sql, sizeof(sql), partitions_sql, days);
    if (run(db, sql, 0, NULL, NULL) < 0)
        goto fail;
    snprintf(p[0], sizeof(p[0]), "%d", devices);
    if (run(db, devices_sql, 1, params, NULL) < 0)
        goto fail;
    /* Reserve N sequence numbers; the window ends now. */
    snprintf(p[0], sizeof(p[0]), "%ld", incidents);
    if (run(db, "SELECT setval('incidents_seq', nextval('incidents_seq') + $1::int8 - 1) - $1::int8"
                " + 1, extract(epoch FROM now())::float8",
            1, params, &res) < 0)
        goto fail;
    long long seq0 = atoll(PQgetvalue(res, 0, 0));
    double end = atof(PQgetvalue(res, 0, 1)), span = (double)days * 86400.0;
    PQclear(res);
    res = NULL;
    if (!json)
        printf("seed: %d devices, %ld incidents over %d days, %ld per statement\n", devices,
               incidents, days, CHUNK);
    double ti = now_s();
    for (long from = 0; from < incidents; from += CHUNK) {
        long to = from + CHUNK < incidents ? from + CHUNK : incidents;
        snprintf(p[0], sizeof(p[0]), "%ld", from);
        snprintf(p[1], sizeof(p[1]), "%ld", to);
        snprintf(p[2], sizeof(p[2]), "%ld", incidents);
        snprintf(p[3], sizeof(p[3]), "%d", devices);
        snprintf(p[4], sizeof(p[4]), "%.6f", end - span);
        snprintf(p[5], sizeof(p[5]), "%.6f", span);
        snprintf(p[6], sizeof(p[6]), "%lld", seq0);
        double tc = now_s();
        if (run(db, chunk_sql, 7, params, NULL) < 0)
            goto fail;
        double t = now_s();
        if (!json)
            printf("  %10ld / %ld rows  %8.0f rows/s this chunk, %8.0f rows/s so far\n", to,
                   incidents, (double)(to - from) / (t - tc), (double)to / (t - ti));
        fflush(stdout);
    }
    double insert_s = now_s() - ti, tv = now_s();
    if (!json) {
        printf("  VACUUM (ANALYZE) ...\n");
        fflush(stdout);
    }
    if (run(db, "VACUUM (ANALYZE) incidents", 0, NULL, NULL) < 0 ||
        run(db, "VACUUM (ANALYZE) incident_keys", 0, NULL, NULL) < 0 ||
        run(db, "VACUUM (ANALYZE) devices", 0, NULL, NULL) < 0)
        goto fail;
    double vacuum_s = now_s() - tv, total_s = now_s() - t0;
    if (run(db, "SELECT pg_size_pretty(pg_total_relation_size('incident_keys') + (SELECT"
                " sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid ="
                " i.inhrelid WHERE i.inhparent = 'incidents'::regclass))::text",
            0, NULL, &res) < 0)
        goto fail;
    if (json)
        printf("{\"mode\":\"seed\",\"incidents\":%ld,\"devices\":%d,\"days\":%d,"
               "\"insert_seconds\":%.1f,\"rows_per_second\":%.0f,\"vacuum_seconds\":%.1f,"
               "\"total_seconds\":%.1f,\"size\":\"%s\"}\n",
               incidents, devices, days, insert_s, (double)incidents / insert_s, vacuum_s,
               total_s, PQgetvalue(res, 0, 0));
    else
        printf("seed: %ld incidents in %.1f s (%.0f rows/s with their keys and indexes), "
               "VACUUM (ANALYZE) %.1f s, %.1f s in all; incidents and keys now take %s\n",
               incidents, insert_s, (double)incidents / insert_s, vacuum_s, total_s,
               PQgetvalue(res, 0, 0));
    PQclear(res);
    db_close(db);
    return 0;
fail:
    PQclear(res);
    db_close(db);
    return -1;
}
