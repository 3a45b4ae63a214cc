/*
 * bench_db.c - the database side of vigil-bench: enrolling many test
 * devices at once (keys and certificates from the CA library, recorded with
 * one statement per table and one audit row), and the COPY reference that
 * ingest is measured against.
 */
#include "tools/vigil-bench/bench.h"

#include "cert-authority/ca.h"
#include "db/db.h"
#include "protocol/incident.h"
#include "server/core/strbuf.h"

#include <inttypes.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { COL_ID, COL_SERIAL, COL_ISSUER, COL_FP, COL_NB, COL_NA, COL_PEM, N_COLS };

static const char insert_sql[] =
    "WITH d AS (INSERT INTO devices (id, device_class) SELECT unnest($1::text[]), 'bench'"
    "  ON CONFLICT (id) DO NOTHING)"
    " INSERT INTO certificates (serial, device_id, issuer, fingerprint_sha256, not_before,"
    "  not_after, pem)"
    " SELECT s, i, iss, fp, to_timestamp(nb), to_timestamp(na), pem FROM unnest($2::text[],"
    "  $1::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[])"
    "  AS t(s, i, iss, fp, nb, na, pem)";

static int issue_one(ca_store *s, const char *out_dir, const char *id, strbuf *cols)
{
    ca_error err = {0};
    ca_issued issued;
    char path[4096], nb[24], na[24];
    EVP_PKEY *key = ca_key_generate(CA_KEY_P256, &err);
    ca_device_request r = {id, key, 0, 0};
    if (!key || ca_issue_device(s, &r, &issued, &err) < 0) {
        fprintf(stderr, "vigil-bench: %s\n", err.msg);
        EVP_PKEY_free(key);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s.key", out_dir, id);
    int rc = ca_key_write(path, key, NULL, &err);
    snprintf(path, sizeof(path), "%s/%s.crt", out_dir, id);
    if (rc == 0)
        rc = ca_certs_write(path, &issued.cert, 1, &err);
    if (rc < 0)
        fprintf(stderr, "vigil-bench: %s\n", err.msg);
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    PEM_write_bio_X509(bio, issued.cert);
    long len = BIO_get_mem_data(bio, &pem);
    char *pem_copy = strndup(pem, (size_t)len);
    snprintf(nb, sizeof(nb), "%" PRId64, (int64_t)issued.not_before);
    snprintf(na, sizeof(na), "%" PRId64, (int64_t)issued.not_after);
    const char *vals[N_COLS] = {id, issued.serial, issued.issuer_ski, issued.fingerprint, nb, na,
                                pem_copy};
    for (int c = 0; c < N_COLS; c++)
        strbuf_array_elem(&cols[c], vals[c]);
    free(pem_copy);
    BIO_free(bio);
    ca_issued_clear(&issued);
    EVP_PKEY_free(key);
    return rc;
}

static int record(const char *url, strbuf *cols, const char *prefix, int count)
{
    db_error err = {0};
    PGconn *db = db_connect(url, &err);
    const char *params[N_COLS];
    char details[200];
    for (int c = 0; c < N_COLS; c++)
        params[c] = cols[c].data;
    snprintf(details, sizeof(details), "{\"count\":%d,\"prefix\":\"%s\"}", count, prefix);
    db_actor who = {"os", "vigil-bench"};
    PGresult *res = NULL;
    int ok = db && db_begin(db, &err) == 0 &&
             (res = db_query(db, insert_sql, N_COLS, params, &err)) != NULL &&
             db_audit(db, &who, "bench.enroll", NULL, NULL, details, &err) == 0 &&
             db_commit(db, &err) == 0;
    PQclear(res);
    if (!ok)
        fprintf(stderr, "vigil-bench: cannot record the devices: %s\n", err.msg);
    db_close(db);
    return ok ? 0 : -1;
}

int bench_enroll(const char *database_url, const char *ca_dir, const char *out_dir,
                 const char *prefix, int count)
{
    ca_error err = {0};
    strbuf cols[N_COLS];
    int rc = -1;
    ca_store *s = ca_store_open(ca_dir, &err);
    char *pass = getenv("VIGIL_CA_PASSPHRASE") ? ca_passphrase_load(NULL, "VIGIL_CA_PASSPHRASE", &err)
                                               : NULL;
    for (int c = 0; c < N_COLS; c++) {
        strbuf_init(&cols[c]);
        strbuf_array_open(&cols[c]);
    }
    if (!s || ca_store_unlock(s, pass, &err) < 0) {
        fprintf(stderr, "vigil-bench: %s\n", err.msg);
        goto done;
    }
    mkdir(out_dir, 0700);
    for (int i = 0; i < count; i++) {
        char id[80];
        snprintf(id, sizeof(id), "%s%06d", prefix, i);
        if (issue_one(s, out_dir, id, cols) < 0)
            goto done;
    }
    for (int c = 0; c < N_COLS; c++)
        strbuf_array_close(&cols[c]);
    rc = record(database_url, cols, prefix, count);
done:
    for (int c = 0; c < N_COLS; c++)
        strbuf_free(&cols[c]);
    ca_passphrase_free(pass);
    ca_store_close(s);
    return rc;
}

/* One row as COPY text: what ingest stores for one report. */
static void copy_row(strbuf *b, long i)
{
    char id[37], when[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    incident_uuid_v4(id);
    incident_format_time((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, when);
    strbuf_printf(b, "%s\tbench-%06ld\tdevice\tcrash\terror\t%s\t1.4.2\tmain\t"
                 "{\"pc\":\"0x0800f00d\",\"line\":%ld}\t127.0.0.1\n", id, i % 1000, when, i);
}

int bench_copy(const char *database_url, long rows, int batch, double *rows_per_s)
{
    db_error err = {0};
    PGconn *db = db_connect(database_url, &err);
    strbuf b;
    struct timespec t0, t1;
    if (!db) {
        fprintf(stderr, "vigil-bench: %s\n", err.msg);
        return -1;
    }
    strbuf_init(&b);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long done = 0; done < rows;) {
        long n = rows - done < batch ? rows - done : batch;
        strbuf_reset(&b);
        for (long i = 0; i < n; i++)
            copy_row(&b, done + i);
        PGresult *res = PQexec(db, "COPY incidents (id, device_id, source, type, severity,"
                                   " occurred_at, firmware_version, component, details,"
                                   " source_address) FROM STDIN");
        int ok = PQresultStatus(res) == PGRES_COPY_IN;
        PQclear(res);
        ok = ok && PQputCopyData(db, b.data, (int)b.len) == 1 && PQputCopyEnd(db, NULL) == 1;
        res = PQgetResult(db);
        ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            fprintf(stderr, "vigil-bench: COPY failed: %s", PQerrorMessage(db));
            strbuf_free(&b);
            db_close(db);
            return -1;
        }
        done += n;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    *rows_per_s = (double)rows / secs;
    strbuf_free(&b);
    db_close(db);
    return 0;
}
