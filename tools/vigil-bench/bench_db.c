/*
 * bench_db.c - the database side of vigil-bench: enrolling many test
 * devices at once (keys and certificates from the CA library, recorded as
 * vigilctl records them, in one transaction with one audit row), and the
 * COPY reference that ingest is measured against.
 */
#include "tools/vigil-bench/bench.h"

#include "cert-authority/ca.h"
#include "db/db.h"
#include "protocol/incident.h"
#include "protocol/when.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* Issues one device's key and certificate into out_dir and records them
 * in the caller's transaction, as `vigilctl device create` does. */
static int enroll_one(ca_store *s, PGconn *db, const char *out_dir, const char *id)
{
    ca_error err = {0};
    db_error derr = {0};
    ca_issued issued;
    db_device_state state;
    char path[4096];
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
    char *pem = ca_cert_pem(issued.cert);
    db_cert row = {issued.serial,    id,  issued.issuer_ski, issued.fingerprint, issued.not_before,
                   issued.not_after, pem, issued.key_sha256};
    if (rc == 0 && !pem) {
        fprintf(stderr, "vigil-bench: out of memory\n");
        rc = -1;
    }
    if (rc == 0 && (db_device_lock(db, id, "bench", &state, &derr) < 0 ||
                    db_cert_insert(db, &row, &derr) < 0)) {
        fprintf(stderr, "vigil-bench: cannot record %s: %s\n", id, derr.msg);
        rc = -1;
    }
    free(pem);
    ca_issued_clear(&issued);
    EVP_PKEY_free(key);
    return rc;
}

int bench_enroll(const char *database_url, const char *ca_dir, const char *out_dir,
                 const char *prefix, int count)
{
    ca_error err = {0};
    db_error derr = {0};
    int rc = -1;
    ca_store *s = ca_store_open(ca_dir, &err);
    char *pass = getenv("VIGIL_CA_PASSPHRASE") ? ca_passphrase_load(NULL, "VIGIL_CA_PASSPHRASE", &err)
                                               : NULL;
    PGconn *db = NULL;
    if (!s || ca_store_unlock(s, pass, &err) < 0) {
        fprintf(stderr, "vigil-bench: %s\n", err.msg);
        goto done;
    }
    if (!(db = db_connect(database_url, &derr)) || db_begin(db, &derr) < 0) {
        fprintf(stderr, "vigil-bench: %s\n", derr.msg);
        goto done;
    }
    mkdir(out_dir, 0700);
    for (int i = 0; i < count; i++) {
        char id[80];
        snprintf(id, sizeof(id), "%s%06d", prefix, i);
        if (enroll_one(s, db, out_dir, id) < 0)
            goto done;
    }
    char details[200];
    snprintf(details, sizeof(details), "{\"count\":%d,\"prefix\":\"%s\"}", count, prefix);
    db_actor who = {"os", "vigil-bench"};
    if (db_audit(db, &who, "bench.enroll", NULL, NULL, details, &derr) < 0 ||
        db_commit(db, &derr) < 0) {
        fprintf(stderr, "vigil-bench: cannot record the devices: %s\n", derr.msg);
        goto done;
    }
    rc = 0;
done:
    if (db && rc < 0)
        db_rollback(db);
    db_close(db);
    ca_passphrase_free(pass);
    ca_store_close(s);
    return rc;
}

/* A COPY text row is under 256 bytes: a UUID, a device id, a timestamp
 * and short constants. */
#define COPY_ROW_MAX 256

/* Writes one row as COPY text at out (COPY_ROW_MAX bytes): what ingest
 * stores for one report. Returns its length. */
static size_t copy_row(char *out, long i)
{
    char id[37], when[32];
    incident_uuid_v4(id);
    incident_format_time(when_now_us(), when);
    int n = snprintf(out, COPY_ROW_MAX,
                     "%s\tbench-%06ld\tdevice\tcrash\terror\t%s\t1.4.2\tmain\t"
                     "{\"pc\":\"0x0800f00d\",\"line\":%ld}\t127.0.0.1\n",
                     id, i % 1000, when, i);
    return n > 0 && n < COPY_ROW_MAX ? (size_t)n : 0;
}

/* COPYs n rows from buf in one statement; 0 or -1 (printed). */
static int copy_batch(PGconn *db, const char *buf, size_t len)
{
    PGresult *res = PQexec(db, "COPY incidents (id, device_id, source, type, severity,"
                               " occurred_at, firmware_version, component, details,"
                               " source_address) FROM STDIN");
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    PQclear(res);
    ok = ok && PQputCopyData(db, buf, (int)len) == 1 && PQputCopyEnd(db, NULL) == 1;
    res = PQgetResult(db);
    ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok)
        fprintf(stderr, "vigil-bench: COPY failed: %s", PQerrorMessage(db));
    return ok ? 0 : -1;
}

int bench_copy(const char *database_url, long rows, int batch, double *rows_per_s)
{
    db_error err = {0};
    PGconn *db = db_connect(database_url, &err);
    struct timespec t0, t1;
    int rc = -1;
    char *buf = batch > 0 ? malloc((size_t)batch * COPY_ROW_MAX) : NULL;
    if (!db || !buf) {
        fprintf(stderr, "vigil-bench: %s\n", db ? "out of memory" : err.msg);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long done = 0; done < rows;) {
        long n = rows - done < batch ? rows - done : batch;
        size_t len = 0;
        for (long i = 0; i < n; i++)
            len += copy_row(buf + len, done + i);
        if (copy_batch(db, buf, len) < 0)
            goto done;
        done += n;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    *rows_per_s = (double)rows / secs;
    rc = 0;
done:
    free(buf);
    db_close(db);
    return rc;
}
