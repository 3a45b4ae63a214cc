/*
 * db_sql.h - SQL fragments shared by the db/ files (private to db/): how a
 * timestamp is written and which columns make a device or a certificate
 * object, so vigilctl and the operator API print them the same way.
 */
#ifndef VIGIL_DB_SQL_H
#define VIGIL_DB_SQL_H

#include <stdio.h>

/* RFC 3339 UTC text for a timestamptz column; TSUS with microseconds. */
#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define TSUS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* The device object; the column names are its JSON keys. */
#define DEVICE_COLUMNS                                                                             \
    "id, device_class AS class, status, firmware_version,"                                         \
    " " TS("last_seen_at") " AS last_seen_at, host(last_address) AS last_address,"                 \
                           " " TS("created_at") " AS created_at, " TS(                             \
                               "updated_at") " AS updated_at"

/* The certificate object: status is the effective one (an active
 * certificate past its not_after is expired). */
#define CERT_STATUS                                                                                \
    "CASE WHEN status = 'active' AND not_after <= now() THEN 'expired' ELSE status END"
#define CERT_COLUMNS                                                                               \
    "serial, device_id, " CERT_STATUS " AS status,"                                                \
    " " TS("not_before") " AS not_before, " TS(                                                    \
        "not_after") " AS not_after,"                                                              \
                     " " TS("revoked_at") " AS revoked_at, revocation_reason, issuer, "            \
                                          "fingerprint_sha256"

/* A LIMIT parameter: limit <= 0 means 100. */
static inline void db_limit_text(int limit, char out[16])
{
    snprintf(out, 16, "%d", limit > 0 ? limit : 100);
}

#endif
