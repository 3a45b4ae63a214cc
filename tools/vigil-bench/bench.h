/*
 * bench.h - vigil-bench's pieces: the load engine (bench_load.c), what
 * counts as a success in its answers (bench_answer.c), the renewal load's
 * pre-made CSRs (bench_renew.c), the update check and artifact download
 * loads' requests and checks (bench_update.c), test device
 * enrollment and the COPY reference (bench_db.c), the operator query
 * benchmark (bench_seed.c, bench_query.c), statistics (bench_stats.c) and
 * the command line (main.c).
 */
#ifndef VIGIL_BENCH_H
#define VIGIL_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum bench_mode {
    BM_HANDSHAKES,
    BM_INGEST,
    BM_IDLE,
    BM_QUERY,
    BM_RENEW,
    BM_UPDATE,  /* keep-alive GET /v1/update */
    BM_DOWNLOAD /* keep-alive GET /v1/artifacts/{sha256}, each body hashed */
} bench_mode;
typedef enum bench_query_kind { BQ_DEVICE_LATEST, BQ_STATS_24H } bench_query_kind;

typedef struct bench_cfg {
    bench_mode mode;
    const char *host, *port, *ca, *devices_dir, *prefix, *path, *acked_log;
    int connections, threads, batch, resume, count, devices;
    int reference;             /* the target is the nginx reference: a 2xx with no body succeeds */
    double duration, warmup;
    const char *server_pids;   /* "PID[,PID...]": the server's processes, RSS summed */
    const char *token;         /* query: the operator API's bearer token */
    bench_query_kind query_kind;
    double rate;               /* query: requests per second in all, 0 = as fast as answered */
    int keepalive;             /* renew: many renewals per connection (else one, then close) */
    int same_key;              /* renew: each CSR carries the device's current key */
    int keys;                  /* renew: new keys (CSRs) made per device before the run, 0 = auto */
    int expect;                /* update: the status that succeeds, 200 (a manifest) or 204 */
    const char *expect_reason; /* update: the X-Vigil-Reason a 204 must carry (NULL: any) */
    const char *manifest;      /* update: the compact JWS a 200 must carry (NULL: any JWS) */
    size_t manifest_len;
    const char *device_version, *security_version; /* update: what the device says it runs */
    const char *sha256;       /* download: the artifact's digest, 64 lowercase hex */
    unsigned char digest[32]; /* download: the same, decoded */
    double drain;             /* renew, download: seconds the answers in flight are waited for */
} bench_cfg;

/* What one answer to a load request was (bench_answer_judge): a success
 * or an error of one kind. */
typedef enum bench_verdict {
    BV_OK,
    BV_4XX,
    BV_5XX,
    BV_2XX,         /* a 2xx that is not a success (a report not acknowledged, ...) */
    BV_OTHER,       /* 1xx, 3xx, or an answer this client cannot frame */
    BV_TRANSPORT,   /* no answer: connect, TLS, a connection closed or failed */
    BV_COUNT
} bench_verdict;

/* Samples in microseconds (latencies, or the open loop's lateness). */
typedef struct bench_samples {
    uint32_t *v; /* owned */
    size_t n, cap;
} bench_samples;

/* The samples and the counts of a run. The load engine counts ok,
 * reports, resumed and the samples in the measured window, and errors (by
 * verdict), by_status and acked over the whole run. */
typedef struct bench_stats {
    bench_samples latency; /* answer time minus start (open loop: due) time */
    bench_samples late;    /* open loop: first byte sent minus due time */
    uint64_t ok, errors, reports, resumed, by_status[6];   /* 1xx..5xx, other */
    uint64_t verdicts[BV_COUNT];   /* answers (and failed exchanges) by verdict */
    uint64_t acked;                /* report ids the server acknowledged */
    uint64_t status_429, status_503; /* answers with these statuses (renew: the retry-laters) */
    uint64_t keys_reused;            /* renew: CSRs sent again after the device's pool ran out */
    uint64_t downloads;  /* download: bodies whose digest was right, over the whole run */
    uint64_t bytes;      /* download: their bytes received in the measured window */
    uint64_t bad_digest; /* download: whole 200 bodies whose digest was wrong */
} bench_stats;

/* The clock latencies are measured with: CLOCK_MONOTONIC, in microseconds. */
uint64_t bench_now_us(void);
/* The open loop's schedule (--rate, in all over --connections): one
 * connection's interval between requests in microseconds (0: a closed
 * loop, no --rate), and when connection slot's first request is due, the
 * run having begun at begin_us; its k-th is due k intervals later. */
double bench_interval_us(const bench_cfg *cfg);
double bench_first_due_us(const bench_cfg *cfg, double begin_us, int slot);
void samples_add(bench_samples *s, uint64_t us);
double samples_pct(bench_samples *s, double p); /* in ms; sorts in place */
void stats_add(bench_stats *s, uint64_t us);  /* a latency */
void stats_merge(bench_stats *into, bench_stats *from);
double stats_pct(bench_stats *s, double p);   /* of the latencies */
void stats_free(bench_stats *s);

/* Runs the load; fills total. Returns 0, or -1 with a message printed. */
int bench_run(const bench_cfg *cfg, bench_stats *total, double *elapsed);
/* Idle connections: server memory per connection in KiB. */
int bench_idle(const bench_cfg *cfg, double *kib_per_conn, int *opened);

int bench_enroll(const char *database_url, const char *ca_dir, const char *out_dir,
                 const char *prefix, int count);
int bench_copy(const char *database_url, long rows, int batch, double *rows_per_s);

/* Judges one whole answer of `status` with `body` to a load request that
 * carried the report ids `ids[0..n_ids)` (ingest), as the --help of
 * vigil-bench says. Calls acked(arg, id) for each report id a 2xx
 * answer's results mark stored or duplicate (acked may be NULL). */
typedef void bench_acked_fn(void *arg, const char *id);
bench_verdict bench_answer_judge(const bench_cfg *cfg, int status, const char *body,
                                 size_t body_len, const char (*ids)[37], int n_ids,
                                 bench_acked_fn *acked, void *arg);
/* The verdict of an answer of `status` that is not a success: its kind. */
bench_verdict bench_answer_error(int status);
/* The value of header `name` in the answer head [in, end) (after the
 * status line), its length in *len; NULL if absent. */
const char *bench_answer_header(const char *in, const char *end, const char *name, size_t *len);

/* What a renewal's answer must certify: the device's CN, the key of the
 * CSR sent (DER SubjectPublicKeyInfo), a certificate other than the one
 * the connection presented, signed by one of the CA certificates of the
 * --ca chain. */
struct x509_st;
struct stack_st_X509;
typedef struct bench_renewal {
    const char *device_id;
    const unsigned char *spki;
    size_t spki_len;
    const struct x509_st *presented;
    struct stack_st_X509 *issuers;
} bench_renewal;
/* Judges one answer to a simplereenroll (bench_answer.c): a success only
 * if it is a 200 with Content-Type application/pkcs7-mime;
 * smime-type=certs-only whose body is base64 of a PKCS#7 holding exactly
 * one certificate as *expect says. */
bench_verdict bench_answer_renewal(const bench_renewal *expect, int status, const char *ctype,
                                   size_t ctype_len, const char *body, size_t body_len);

/* The update and download loads (bench_update.c). The request of one
 * update check (GET /v1/update, saying cfg->device_version and
 * cfg->security_version) or one download (GET /v1/artifacts/{sha256}, or
 * cfg->path), malloc'd, its length in *len; NULL when out of memory. */
char *bench_update_request(const bench_cfg *cfg, size_t *len);
/* Judges an answer to an update check: the head [head, head_end) (after
 * the status line) and the body. With cfg->expect 200 a success is a 200
 * with Content-Type application/jose, an X-Vigil-Rollout id and a compact
 * JWS body (equal to cfg->manifest when set); with 204, a 204 with no
 * body and an X-Vigil-Reason (equal to cfg->expect_reason when set).
 * With cfg->reference: a 2xx with no body. */
bench_verdict bench_answer_update(const bench_cfg *cfg, int status, const char *head,
                                  const char *head_end, const char *body, size_t body_len);
/* Judges a whole download: a success only for a 200 whose body's SHA-256
 * is cfg->digest; a 2xx with another digest is a BV_2XX (*bad_digest
 * set). */
bench_verdict bench_answer_download(const bench_cfg *cfg, int status,
                                    const unsigned char digest[32], int *bad_digest);
/* Parses 64 lowercase hex digits into out; 0, or -1 if hex is not that. */
int bench_sha256_parse(const char *hex, unsigned char out[32]);
/* Reads the compact JWS a manifest answer must carry from path (one
 * line; a trailing newline is not part of it) into cfg->manifest. */
int bench_manifest_load(bench_cfg *cfg, const char *path);

/* The renewal load's requests (bench_renew.c), made before the run: for
 * each of the first n devices, cfg->keys CSRs with new P-256 keys (or one
 * with the device's own key, cfg->same_key), each a whole HTTP request. */
typedef struct renew_pool renew_pool;
struct evp_pkey_st;
renew_pool *renew_pool_make(const bench_cfg *cfg, struct x509_st *const *certs,
                            struct evp_pkey_st *const *keys, int n);
/* Device dev's next request (its length in *len), and what its answer
 * must certify in *expect (valid until the next call for dev); *reused is
 * 1 if this CSR was sent before in this run. One caller per device at a
 * time. */
const char *renew_pool_next(renew_pool *p, int dev, size_t *len, bench_renewal *expect,
                            int *reused);
void renew_pool_free(renew_pool *p);
/* The key count per device that renew_pool_make uses for cfg (cfg->keys
 * or the automatic one). */
int renew_pool_keys(const bench_cfg *cfg);

/* The query benchmark: seed a fleet's history in PostgreSQL
 * (bench_seed.c), then drive the operator API (bench_query.c). */
int bench_seed(const char *database_url, long incidents, int devices, int days, int json);
int bench_query(const bench_cfg *cfg, bench_stats *total, double *items_per_answer);

#endif
