/*
 * db_json.c - query results as JSON objects, keyed by column name, so that
 * the SQL that selects a resource also fixes its JSON shape: vigilctl's
 * --json output and the operator API print the same fields the same way.
 * Numbers stay numbers (integers, float8 and numeric: a rollout's percent
 * and health rates).
 */
#include "db/db.h"

#include <math.h>
#include <stdlib.h>

/* Type OIDs from PostgreSQL's pg_type.dat; stable across releases. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
    OID_JSON = 114,
    OID_FLOAT4 = 700,
    OID_FLOAT8 = 701,
    OID_NUMERIC = 1700,
    OID_JSONB = 3802
};

static json_t *column_json(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    const char *v = PQgetvalue(res, row, col);
    switch (PQftype(res, col)) {
    case OID_BOOL:
        return json_boolean(v[0] == 't');
    case OID_INT8:
    case OID_INT4:
    case OID_INT2:
        return json_integer(strtoll(v, NULL, 10));
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC: {
        /* NaN and Infinity have no JSON form */
        double d = strtod(v, NULL);
        return isfinite(d) ? json_real(d) : json_null();
    }
    case OID_JSON:
    case OID_JSONB: {
        /* PostgreSQL only hands out valid JSON; a failure here is memory. */
        json_t *j = json_loadb(v, (size_t)PQgetlength(res, row, col),
                               JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        return j ? j : json_null();
    }
    default:
        return json_string(v);
    }
}

json_t *db_row_json(PGresult *res, int row)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (int c = 0; c < PQnfields(res); c++) {
        json_t *val = column_json(res, row, c);
        if (!val || json_object_set_new(obj, PQfname(res, c), val) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

json_t *db_rows_json(PGresult *res, int n, const char *drop)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < n; i++) {
        json_t *obj = db_row_json(res, i);
        if (obj && drop)
            json_object_del(obj, drop);
        if (!obj || json_array_append_new(arr, obj) < 0) { /* append_new frees obj */
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}
