/*
 * main.c - vigil-bench: enrolls test devices, drives the device port with
 * many mutual-TLS connections, and measures the references (nginx with
 * the same TLS setup, COPY into the same table), certificate renewal
 * over EST (renew), update checks and artifact downloads (update,
 * download). `make bench` runs the
 * whole comparison (tools/vigil-bench/bench.sh). For the operator API it
 * seeds a fleet's history and drives the incident queries; `make
 * bench-query` runs that (tools/vigil-bench/bench_query.sh).
 */
#include "tools/vigil-bench/bench.h"

#include "protocol/cliopt.h"
#include "protocol/manifest.h"
#include "protocol/version.h"

#include <signal.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: vigil-bench <command> [options]\n"
    "       vigil-bench --version   print the version and exit\n\n"
    "  enroll --count N --out-dir DIR [--prefix bench-]     test devices (needs\n"
    "         --database-url/VIGIL_DATABASE_URL and --ca-dir/VIGIL_CA_DIR)\n"
    "  handshakes [--resume]   connect, handshake, one request, close; again\n"
    "  ingest [--batch N] [--rate R]   keep-alive POSTs of reports, one answer at a\n"
    "         time; as fast as answered (a closed loop), or R requests/s in all on a\n"
    "         fixed schedule (an open loop: each request sent when due, or at once\n"
    "         when late, its latency counted from when it was due; update too;\n"
    "         send_late_*_ms: how late this client sent those that waited for\n"
    "         their time, its own share)\n"
    "  renew [--keepalive] [--same-key] [--keys K]   EST simplereenroll: connect,\n"
    "         handshake, one renewal, close (each connection the next device of\n"
    "         its share: the renewals spread over all --device-count devices); or\n"
    "         many renewals per connection, one device each (--keepalive). Each\n"
    "         CSR has a new P-256 key, K per device made before the run (default:\n"
    "         enough for 1,500 renewals/s; a device that runs out sends its CSRs\n"
    "         again, counted as keys_reused), or the device's own key (--same-key).\n"
    "         The server's renewal policy must allow the rate (ca_policy\n"
    "         renewals_per_hour, per device)\n"
    "  update [--expect 200|204] [--manifest FILE] [--reason CODE]\n"
    "         [--device-version V (bench-0)] [--security-version N (0)]   keep-alive\n"
    "         GET /v1/update, the device saying it runs V at security version N\n"
    "         (X-Vigil-Version, X-Vigil-Security-Version); one check at a time\n"
    "  download --sha256 HEX [--drain S (120)]   keep-alive GET /v1/artifacts/HEX\n"
    "         (or --path), each connection one download at a time, every body\n"
    "         read whole and its SHA-256 taken as it arrives. At the end no new\n"
    "         download starts and those begun are waited for (up to S seconds;\n"
    "         one not done by then is a transport error; renew waits the same way,\n"
    "         --drain 10 by default)\n"
    "  idle --count N --server-pid PID[,PID...]   server memory per idle connection\n"
    "  copy --rows N [--batch N]         the database reference: COPY into incidents\n"
    "  seed --incidents N --devices D [--days DAYS (30)]   a fleet's history for the\n"
    "         query benchmark: devices q-000000.., N incidents over the last DAYS days\n"
    "  query --api HOST:PORT --token-file F --kind device-latest|stats-24h\n"
    "         --device-count D [--connections C (4)] [--rate R]   the operator API:\n"
    "         one device's latest 50 incidents (a random q- device each time), or\n"
    "         24 h of hourly stats by type; R requests/s in all (latency counted\n"
    "         from when each was due), or as fast as answered\n\n"
    "Load options: --server HOST:PORT --ca CHAIN --devices DIR --device-count N\n"
    "  --connections C (default 50) --threads T (default 2) --duration S (10)\n"
    "  --warmup S (1) --path P (/v1/incidents; handshakes: /bench) --json\n"
    "  --reference        the target is the reference: nginx with the device port's\n"
    "                     TLS setup answering 204 with no body (nginx.conf.in). It\n"
    "                     stores nothing, so it has no report to acknowledge: this\n"
    "                     says so, and makes its 2xx with no body the success\n"
    "  --acked-log FILE   ingest: write each report id that a 2xx answered stored or\n"
    "                     duplicate, one a line (FILE is replaced); bench-acked.sh\n"
    "                     checks them in PostgreSQL. Not with --reference\n\n"
    "What counts (handshakes, ingest). A success, against a device port (vigild,\n"
    "docs/DEVICE-PORT.md): for ingest a 2xx whose results acknowledge every report\n"
    "sent, by its id, as stored or duplicate; for handshakes a 2xx, or the 404\n"
    "not_found that only an authorized device gets for the probe GET /bench. With\n"
    "--reference: a 2xx with no body. Every other outcome is an error, counted by\n"
    "kind: 4xx, 5xx, 2xx (not a success), other (1xx, 3xx, a body without\n"
    "Content-Length) and transport (connect, TLS, closed before its answer); --json\n"
    "has them as errors_4xx, errors_5xx, errors_2xx, errors_other, errors_transport.\n"
    "For update: with --expect 200 (the default: a rollout at 100 % of the class\n"
    "offers the device a release) a 200 with Content-Type application/jose, an\n"
    "X-Vigil-Rollout id and a body that is a compact JWS with an ES256 header of\n"
    "typ vigil-manifest, byte for byte the one in --manifest FILE when given;\n"
    "with --expect 204 a 204 with no body and an X-Vigil-Reason (the --reason\n"
    "CODE when given); with --reference a 2xx with no body. For download: a 200\n"
    "whose whole body has the SHA-256 --sha256 (a 2xx with another one is a \"2xx\n"
    "not a success\", counted apart as bad_digest), the same with --reference.\n"
    "Its rate is the bytes received in the measured window of the downloads\n"
    "whose digest was right, in MiB/s (mib_per_second), and such downloads\n"
    "ended in the window per second (per_second); \"downloads\" counts them over\n"
    "the whole run, and a download run with none is no success.\n"
    "For renew: a 200 with Content-Type application/pkcs7-mime; smime-type=certs-only\n"
    "whose body is base64 of a PKCS#7 with exactly one certificate, not the one\n"
    "presented, that verifies under --ca, has subject CN = the device and the CSR's\n"
    "public key (checked after the latency is taken, before it counts). At the end\n"
    "it waits for the renewals in flight, so \"renewed\" (every success, warm-up\n"
    "and the end included) is what the server recorded; 429s and 503s are also\n"
    "counted apart (status_429, status_503).\n"
    "Successes (the rate, latencies) count after --warmup; errors and acknowledged\n"
    "ids count over the whole run. A run with any error, or with no success, says\n"
    "ERRORS in its result line (\"clean\":false with --json) and exits 3.\n\n"
    "Exit status: 0 done (a load run: clean), 1 could not run, 2 usage,\n"
    "3 a load run with errors or no success.\n";

enum { O_SERVER = 1000, O_CA, O_DEVICES, O_DEVCOUNT, O_CONNS, O_THREADS, O_DURATION, O_WARMUP,
       O_PATH, O_REFERENCE, O_ACKED, O_JSON, O_RESUME, O_BATCH, O_COUNT, O_OUTDIR, O_PREFIX,
       O_DBURL, O_CADIR, O_PID, O_ROWS, O_API, O_TOKENFILE, O_KIND, O_INCIDENTS, O_DAYS, O_RATE,
       O_KEEPALIVE, O_SAMEKEY, O_KEYS, O_EXPECT, O_REASON, O_MANIFEST, O_DEVVERSION, O_SECVERSION,
       O_SHA256, O_DRAIN, O_VERSION };

typedef struct args {
    bench_cfg cfg;
    const char *db_url, *ca_dir, *out_dir, *server, *api, *token_file, *kind, *manifest_file;
    long rows, incidents;
    int json, days, connections_set;
} args;

static int parse(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"server", 1, 0, O_SERVER}, {"ca", 1, 0, O_CA}, {"devices", 1, 0, O_DEVICES},
        {"device-count", 1, 0, O_DEVCOUNT}, {"connections", 1, 0, O_CONNS},
        {"threads", 1, 0, O_THREADS}, {"duration", 1, 0, O_DURATION}, {"warmup", 1, 0, O_WARMUP},
        {"path", 1, 0, O_PATH}, {"reference", 0, 0, O_REFERENCE}, {"acked-log", 1, 0, O_ACKED},
        {"json", 0, 0, O_JSON}, {"resume", 0, 0, O_RESUME}, {"batch", 1, 0, O_BATCH},
        {"count", 1, 0, O_COUNT}, {"out-dir", 1, 0, O_OUTDIR}, {"prefix", 1, 0, O_PREFIX},
        {"database-url", 1, 0, O_DBURL}, {"ca-dir", 1, 0, O_CADIR}, {"server-pid", 1, 0, O_PID},
        {"rows", 1, 0, O_ROWS}, {"api", 1, 0, O_API}, {"token-file", 1, 0, O_TOKENFILE},
        {"kind", 1, 0, O_KIND}, {"incidents", 1, 0, O_INCIDENTS}, {"days", 1, 0, O_DAYS},
        {"rate", 1, 0, O_RATE}, {"keepalive", 0, 0, O_KEEPALIVE}, {"same-key", 0, 0, O_SAMEKEY},
        {"keys", 1, 0, O_KEYS}, {"expect", 1, 0, O_EXPECT}, {"reason", 1, 0, O_REASON},
        {"manifest", 1, 0, O_MANIFEST}, {"device-version", 1, 0, O_DEVVERSION},
        {"security-version", 1, 0, O_SECVERSION}, {"sha256", 1, 0, O_SHA256},
        {"drain", 1, 0, O_DRAIN}, {"version", 0, 0, O_VERSION},
        {"help", 0, 0, 'h'}, {0}};
    int c;
    const char *at;
    opterr = 0;
    while ((c = cliopt_getopt_long(argc, argv, ":h", opts, &at)) != -1) {
        switch (c) {
        case O_SERVER: a->server = optarg; break;
        case O_CA: a->cfg.ca = optarg; break;
        case O_DEVICES: a->cfg.devices_dir = optarg; break;
        case O_DEVCOUNT: a->cfg.devices = atoi(optarg); break;
        case O_CONNS: a->cfg.connections = atoi(optarg); a->connections_set = 1; break;
        case O_THREADS: a->cfg.threads = atoi(optarg); break;
        case O_DURATION: a->cfg.duration = atof(optarg); break;
        case O_WARMUP: a->cfg.warmup = atof(optarg); break;
        case O_PATH: a->cfg.path = optarg; break;
        case O_REFERENCE: a->cfg.reference = 1; break;
        case O_ACKED: a->cfg.acked_log = optarg; break;
        case O_JSON: a->json = 1; break;
        case O_RESUME: a->cfg.resume = 1; break;
        case O_BATCH: a->cfg.batch = atoi(optarg); break;
        case O_COUNT: a->cfg.count = atoi(optarg); break;
        case O_OUTDIR: a->out_dir = optarg; break;
        case O_PREFIX: a->cfg.prefix = optarg; break;
        case O_DBURL: a->db_url = optarg; break;
        case O_CADIR: a->ca_dir = optarg; break;
        case O_PID: a->cfg.server_pids = optarg; break;
        case O_ROWS: a->rows = atol(optarg); break;
        case O_API: a->api = optarg; break;
        case O_TOKENFILE: a->token_file = optarg; break;
        case O_KIND: a->kind = optarg; break;
        case O_INCIDENTS: a->incidents = atol(optarg); break;
        case O_DAYS: a->days = atoi(optarg); break;
        case O_RATE: a->cfg.rate = atof(optarg); break;
        case O_KEEPALIVE: a->cfg.keepalive = 1; break;
        case O_SAMEKEY: a->cfg.same_key = 1; break;
        case O_KEYS: a->cfg.keys = atoi(optarg); break;
        case O_EXPECT: a->cfg.expect = atoi(optarg); break;
        case O_REASON: a->cfg.expect_reason = optarg; break;
        case O_MANIFEST: a->manifest_file = optarg; break;
        case O_DEVVERSION: a->cfg.device_version = optarg; break;
        case O_SECVERSION: a->cfg.security_version = optarg; break;
        case O_SHA256: a->cfg.sha256 = optarg; break;
        case O_DRAIN: a->cfg.drain = atof(optarg); break;
        case 'h': fputs(usage, stdout); exit(0);
        case O_VERSION: version_print("vigil-bench"); exit(0);
        default:
            fprintf(stderr, "vigil-bench: bad option '%s'\n%s", at ? at : "?", usage);
            return -1;
        }
    }
    return 0;
}

static int refuse(const char *why)
{
    fprintf(stderr, "vigil-bench: %s\n", why);
    return -1;
}

/* The options of update and download: each only with its mode. */
static int check_update_args(args *a)
{
    bench_cfg *c = &a->cfg;
    const char *sv = c->security_version;
    if ((c->expect || c->expect_reason || a->manifest_file || c->device_version || sv) &&
        c->mode != BM_UPDATE)
        return refuse("--expect, --reason, --manifest, --device-version and --security-version "
                      "go with update");
    if (c->sha256 && c->mode != BM_DOWNLOAD)
        return refuse("--sha256 goes with download");
    if (c->drain >= 0 && c->mode != BM_DOWNLOAD && c->mode != BM_RENEW)
        return refuse("--drain goes with download and renew");
    if (c->mode == BM_DOWNLOAD && bench_sha256_parse(c->sha256, c->digest) < 0)
        return refuse("download needs --sha256, 64 lowercase hex");
    if (c->mode != BM_UPDATE)
        return 0;
    c->expect = c->expect ? c->expect : c->reference ? 204 : 200;
    c->device_version = c->device_version ? c->device_version : "bench-0";
    c->security_version = sv = sv ? sv : "0";
    if (c->expect != 200 && c->expect != 204)
        return refuse("--expect is 200 or 204");
    if (c->reference && (c->expect != 204 || a->manifest_file || c->expect_reason))
        return refuse("the reference answers 204 and nothing more (no --expect 200, --manifest "
                      "or --reason)");
    if ((c->expect_reason && c->expect != 204) || (a->manifest_file && c->expect != 200))
        return refuse("--reason goes with --expect 204, --manifest with --expect 200");
    if (!manifest_version_valid(c->device_version))
        return refuse("--device-version is not a version");
    if (!*sv || strlen(sv) > 16 || strspn(sv, "0123456789") != strlen(sv) ||
        strtoll(sv, NULL, 10) > 9007199254740992LL)
        return refuse("--security-version is 0 to 2^53");
    return a->manifest_file ? bench_manifest_load(c, a->manifest_file) : 0;
}

static int check_load_args(args *a)
{
    bench_cfg *c = &a->cfg;
    static char host[256], port[16];
    const char *colon = a->server ? strrchr(a->server, ':') : NULL;
    if (!colon || !c->ca || !c->devices_dir || c->devices < 1) {
        fprintf(stderr, "vigil-bench: --server HOST:PORT, --ca, --devices and --device-count "
                        "are required\n");
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - a->server), a->server);
    snprintf(port, sizeof(port), "%s", colon + 1);
    c->host = host;
    c->port = port;
    if (c->connections > c->devices && c->mode != BM_IDLE) {
        fprintf(stderr, "vigil-bench: %d connections need as many devices (have %d)\n",
                c->connections, c->devices);
        return -1;
    }
    if (c->keys < 0 || c->keys > 100000)
        return fprintf(stderr, "vigil-bench: --keys is 1 to 100000\n"), -1;
    if ((c->keepalive || c->same_key || c->keys) && c->mode != BM_RENEW)
        return fprintf(stderr, "vigil-bench: --keepalive, --same-key, --keys go with renew\n"), -1;
    if (c->mode == BM_RENEW && c->reference)
        return fprintf(stderr, "vigil-bench: renew has no reference (nginx signs nothing)\n"), -1;
    if (c->batch < 1 || c->batch > 1000)
        return fprintf(stderr, "vigil-bench: --batch is 1 to 1000\n"), -1;
    if (c->rate < 0 || c->rate > 1e7 || (c->rate > 0 && c->mode != BM_INGEST && c->mode != BM_UPDATE))
        return fprintf(stderr, "vigil-bench: --rate is 0 to 10000000 requests/s in all, with "
                               "ingest, update or query\n"), -1;
    if (c->acked_log && (c->mode != BM_INGEST || c->reference)) {
        fprintf(stderr, "vigil-bench: --acked-log goes with ingest against a device port "
                        "(not --reference)\n");
        return -1;
    }
    return check_update_args(a);
}

/* The successes of a run: downloads whose digest was right over the
 * whole run (one may take longer than the window), else those counted in
 * the window. */
static uint64_t successes(const args *a, const bench_stats *s)
{
    return a->cfg.mode == BM_DOWNLOAD ? s->downloads : s->ok;
}

/* The errors of a run by kind, as the result line shows them. */
static void print_errors(const args *a, const bench_stats *s)
{
    const uint64_t *v = s->verdicts;
    if (!s->errors && successes(a, s)) {
        printf("; no errors\n");
        return;
    }
    printf("; ERRORS: %llu (4xx %llu, 5xx %llu, 2xx not a success %llu, other %llu, "
           "transport %llu)%s\n",
           (unsigned long long)s->errors, (unsigned long long)v[BV_4XX],
           (unsigned long long)v[BV_5XX], (unsigned long long)v[BV_2XX],
           (unsigned long long)v[BV_OTHER], (unsigned long long)v[BV_TRANSPORT],
           successes(a, s) ? "" : ", no success: nothing was measured");
}

/* Renew: what the result line (or JSON object) adds: every renewal
 * answered and verified over the whole run, the retry-laters, the CSRs. */
static void renew_details(const args *a, const bench_stats *s)
{
    const bench_cfg *c = &a->cfg;
    int keys = renew_pool_keys(c), devices = c->keepalive ? c->connections : c->devices;
    const char *kind = c->same_key ? "same key" : "new keys";
    if (a->json)
        printf(",\"renewed\":%llu,\"status_429\":%llu,\"status_503\":%llu,\"keepalive\":%s,"
               "\"same_key\":%s,\"devices_used\":%d,\"keys_per_device\":%d,"
               "\"keys_reused\":%llu",
               (unsigned long long)s->verdicts[BV_OK], (unsigned long long)s->status_429,
               (unsigned long long)s->status_503, c->keepalive ? "true" : "false",
               c->same_key ? "true" : "false", devices, keys, (unsigned long long)s->keys_reused);
    else
        printf("; %llu renewed in all (warm-up and the end included), 429 %llu 503 %llu; "
               "%s connections, %d devices, %d CSR(s) each (%s), %llu sent again",
               (unsigned long long)s->verdicts[BV_OK], (unsigned long long)s->status_429,
               (unsigned long long)s->status_503, c->keepalive ? "keep-alive" : "fresh", devices,
               keys, kind, (unsigned long long)s->keys_reused);
}

/* Download: what the result line (or JSON object) adds: the throughput,
 * the downloads whose digest was right over the whole run, the wrong
 * digests. */
static void download_details(const args *a, const bench_stats *s, double elapsed)
{
    double mib = (double)s->bytes / (1024.0 * 1024.0) / elapsed;
    if (a->json)
        printf(",\"mib_per_second\":%.2f,\"bytes\":%llu,\"downloads\":%llu,\"bad_digest\":%llu,"
               "\"connections\":%d,\"sha256\":\"%s\"",
               mib, (unsigned long long)s->bytes, (unsigned long long)s->downloads,
               (unsigned long long)s->bad_digest, a->cfg.connections, a->cfg.sha256);
    else
        printf("; %.2f MiB/s (%llu bytes of right downloads in the window), %llu downloads "
               "with the right SHA-256 in all (the end included), %llu with a wrong one, over %d "
               "connections",
               mib, (unsigned long long)s->bytes, (unsigned long long)s->downloads,
               (unsigned long long)s->bad_digest, a->cfg.connections);
}

/* Prints a load run's result line (or JSON object); 0 if it was clean. */
static int report_load(const args *a, bench_stats *s, double elapsed)
{
    double rate = (double)s->ok / elapsed, reports = (double)s->reports / elapsed;
    double p50 = stats_pct(s, 50), p99 = stats_pct(s, 99), p999 = stats_pct(s, 99.9);
    const char *what = a->cfg.mode == BM_HANDSHAKES ? "handshakes"
                       : a->cfg.mode == BM_RENEW    ? "renewals"
                       : a->cfg.mode == BM_UPDATE   ? "update_checks"
                       : a->cfg.mode == BM_DOWNLOAD ? "downloads"
                                                    : "requests";
    const uint64_t *v = s->verdicts;
    int clean = successes(a, s) > 0 && s->errors == 0;
    if (a->json) {
        printf("{\"mode\":\"%s\",\"clean\":%s,\"ok\":%llu,\"per_second\":%.1f,"
               "\"reports_per_second\":%.1f,\"errors\":%llu,\"errors_4xx\":%llu,"
               "\"errors_5xx\":%llu,\"errors_2xx\":%llu,\"errors_other\":%llu,"
               "\"errors_transport\":%llu,\"acked\":%llu,\"resumed\":%llu,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"status_2xx\":%llu,\"status_4xx\":%llu,"
               "\"status_5xx\":%llu,\"scheduled_per_second\":%.1f",
               what, clean ? "true" : "false", (unsigned long long)s->ok, rate, reports,
               (unsigned long long)s->errors, (unsigned long long)v[BV_4XX],
               (unsigned long long)v[BV_5XX], (unsigned long long)v[BV_2XX],
               (unsigned long long)v[BV_OTHER], (unsigned long long)v[BV_TRANSPORT],
               (unsigned long long)s->acked, (unsigned long long)s->resumed, p50, p99, p999,
               (unsigned long long)s->by_status[1], (unsigned long long)s->by_status[3],
               (unsigned long long)s->by_status[4], a->cfg.rate);
        if (a->cfg.rate > 0)
            printf(",\"send_late_p50_ms\":%.3f,\"send_late_p99_ms\":%.3f,\"send_late_p999_ms\":%.3f",
                   samples_pct(&s->late, 50), samples_pct(&s->late, 99),
                   samples_pct(&s->late, 99.9));
        if (a->cfg.mode == BM_RENEW)
            renew_details(a, s);
        if (a->cfg.mode == BM_DOWNLOAD)
            download_details(a, s, elapsed);
        printf("}\n");
        return clean ? 0 : -1;
    }
    printf("%s: %.1f/s (%llu ok, %llu resumed), reports %.1f/s, latency p50 %.2f ms p99 %.2f ms "
           "p99.9 %.2f ms; answers 2xx %llu 4xx %llu 5xx %llu",
           what, rate, (unsigned long long)s->ok, (unsigned long long)s->resumed, reports, p50,
           p99, p999, (unsigned long long)s->by_status[1], (unsigned long long)s->by_status[3],
           (unsigned long long)s->by_status[4]);
    if (a->cfg.rate > 0)
        printf("; open loop at %.1f/s scheduled (latency from when each was due; sent late by "
               "p99 %.2f ms, p99.9 %.2f ms)",
               a->cfg.rate, samples_pct(&s->late, 99), samples_pct(&s->late, 99.9));
    if (a->cfg.acked_log)
        printf("; %llu acknowledged ids in %s", (unsigned long long)s->acked, a->cfg.acked_log);
    if (a->cfg.mode == BM_RENEW)
        renew_details(a, s);
    if (a->cfg.mode == BM_DOWNLOAD)
        download_details(a, s, elapsed);
    print_errors(a, s);
    return clean ? 0 : -1;
}

static int run_load(args *a)
{
    bench_stats s = {0};
    double elapsed = 0;
    if (check_load_args(a) < 0)
        return 2;
    int rc = bench_run(&a->cfg, &s, &elapsed) < 0 ? 1 : report_load(a, &s, elapsed) < 0 ? 3 : 0;
    stats_free(&s);
    free((char *)a->cfg.manifest);
    return rc;
}

/* The token is the file's first line, without surrounding blanks. */
static int read_token(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[512];
    if (!f || !fgets(line, sizeof(line), f)) {
        fprintf(stderr, "vigil-bench query: cannot read a token from %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    char *p = line, *e;
    while (*p == ' ' || *p == '\t')
        p++;
    e = p + strlen(p);
    while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    for (char *c = p; *c; c++)
        if (*c < 0x21 || *c > 0x7e) {
            fprintf(stderr, "vigil-bench query: %s does not hold a token\n", path);
            return -1;
        }
    if (!*p || strlen(p) >= cap)
        return fprintf(stderr, "vigil-bench query: %s does not hold a token\n", path), -1;
    snprintf(out, cap, "%s", p);
    return 0;
}

static int run_query(args *a)
{
    static char host[256], port[16], token[512];
    bench_cfg *c = &a->cfg;
    const char *colon = a->api ? strrchr(a->api, ':') : NULL;
    bench_stats s = {0};
    double items = 0;
    if (!colon || !a->token_file || !a->kind || c->devices < 1) {
        fprintf(stderr, "vigil-bench query: --api HOST:PORT, --token-file, --kind and "
                        "--device-count are required\n");
        return 2;
    }
    if (!strcmp(a->kind, "device-latest"))
        c->query_kind = BQ_DEVICE_LATEST;
    else if (!strcmp(a->kind, "stats-24h"))
        c->query_kind = BQ_STATS_24H;
    else
        return fprintf(stderr, "vigil-bench query: --kind is device-latest or stats-24h\n"), 2;
    snprintf(host, sizeof(host), "%.*s", (int)(colon - a->api), a->api);
    snprintf(port, sizeof(port), "%s", colon + 1);
    if (read_token(a->token_file, token, sizeof(token)) < 0)
        return 2;
    c->host = host;
    c->port = port;
    c->token = token;
    c->mode = BM_QUERY;
    if (!a->connections_set)
        c->connections = 4;
    if (bench_query(c, &s, &items) < 0)
        return 1;
    double rate = (double)s.ok / c->duration;
    double p50 = stats_pct(&s, 50), p99 = stats_pct(&s, 99), p999 = stats_pct(&s, 99.9),
           max = stats_pct(&s, 100);
    if (a->json)
        printf("{\"mode\":\"query\",\"kind\":\"%s\",\"connections\":%d,\"ok\":%llu,"
               "\"errors\":%llu,\"per_second\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
               "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"items_per_answer\":%.1f,\"rate\":%.1f,"
               "\"status_2xx\":%llu,\"status_4xx\":%llu,\"status_5xx\":%llu}\n",
               a->kind, c->connections, (unsigned long long)s.ok, (unsigned long long)s.errors,
               rate, p50, p99, p999, max, items, c->rate, (unsigned long long)s.by_status[1],
               (unsigned long long)s.by_status[3], (unsigned long long)s.by_status[4]);
    else
        printf("%s: %.1f requests/s (%s) over %d connections (%llu ok, %llu errors), "
               "latency p50 %.2f ms p99 %.2f ms p99.9 %.2f ms max %.2f ms; %.1f items per "
               "answer; 2xx %llu 4xx %llu 5xx %llu\n",
               a->kind, rate, c->rate > 0 ? "scheduled" : "closed loop", c->connections,
               (unsigned long long)s.ok, (unsigned long long)s.errors, p50, p99, p999, max, items,
               (unsigned long long)s.by_status[1], (unsigned long long)s.by_status[3],
               (unsigned long long)s.by_status[4]);
    stats_free(&s);
    return 0;
}

int main(int argc, char **argv)
{
    args a = {.cfg = {.connections = 50, .threads = 2, .duration = 10, .warmup = 1, .batch = 1,
                      .drain = -1},
              .days = 30};
    /* A server that refuses us closes the socket: a write must fail with
     * EPIPE (and the refusal be read), not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        version_print("vigil-bench");
        return 0;
    }
    const char *cmd = argv[1];
    if (parse(argc - 1, argv + 1, &a) < 0)
        return 2;
    a.db_url = a.db_url ? a.db_url : getenv("VIGIL_DATABASE_URL");
    a.ca_dir = a.ca_dir ? a.ca_dir : getenv("VIGIL_CA_DIR");
    if (!a.cfg.prefix)
        a.cfg.prefix = !strcmp(cmd, "query") ? "q-" : "bench-";
    if (!strcmp(cmd, "enroll")) {
        if (!a.db_url || !a.ca_dir || !a.out_dir || a.cfg.count < 1) {
            fprintf(stderr, "vigil-bench enroll: --count, --out-dir, a database and a CA dir "
                            "are required\n");
            return 2;
        }
        return bench_enroll(a.db_url, a.ca_dir, a.out_dir, a.cfg.prefix, a.cfg.count) ? 1 : 0;
    }
    if (!strcmp(cmd, "copy")) {
        double rate = 0;
        if (!a.db_url || a.rows < 1)
            return fprintf(stderr, "vigil-bench copy: --rows and a database are required\n"), 2;
        if (bench_copy(a.db_url, a.rows, a.cfg.batch > 1 ? a.cfg.batch : 1000, &rate) < 0)
            return 1;
        printf(a.json ? "{\"mode\":\"copy\",\"rows_per_second\":%.1f}\n"
                      : "copy: %.1f rows/s\n", rate);
        return 0;
    }
    if (!strcmp(cmd, "seed")) {
        /* --devices is a count here (elsewhere the directory of device keys). */
        int devices = a.cfg.devices_dir ? atoi(a.cfg.devices_dir) : a.cfg.devices;
        if (!a.db_url || a.incidents < 1 || devices < 1 || devices > 1000000 || a.days < 1 ||
            a.days > 3650)
            return fprintf(stderr, "vigil-bench seed: --incidents N, --devices D (1..1000000), "
                                   "--days (1..3650) and a database are required\n"), 2;
        return bench_seed(a.db_url, a.incidents, devices, a.days, a.json) < 0 ? 1 : 0;
    }
    if (!strcmp(cmd, "query"))
        return run_query(&a);
    if (!strcmp(cmd, "idle")) {
        double kib = 0;
        int opened = 0;
        a.cfg.mode = BM_IDLE;
        if (check_load_args(&a) < 0 || a.cfg.count < 1 || !a.cfg.server_pids)
            return fprintf(stderr, "vigil-bench idle: --count and --server-pid are required\n"), 2;
        if (bench_idle(&a.cfg, &kib, &opened) < 0)
            return 1;
        printf(a.json ? "{\"mode\":\"idle\",\"connections\":%d,\"kib_per_connection\":%.2f}\n"
                      : "idle: %d connections, %.2f KiB of server memory each\n", opened, kib);
        return 0;
    }
    if (!strcmp(cmd, "handshakes") || !strcmp(cmd, "ingest") || !strcmp(cmd, "renew") ||
        !strcmp(cmd, "update") || !strcmp(cmd, "download")) {
        a.cfg.mode = !strcmp(cmd, "ingest")     ? BM_INGEST
                     : !strcmp(cmd, "renew")    ? BM_RENEW
                     : !strcmp(cmd, "update")   ? BM_UPDATE
                     : !strcmp(cmd, "download") ? BM_DOWNLOAD
                                                : BM_HANDSHAKES;
        return run_load(&a);
    }
    fprintf(stderr, "vigil-bench: unknown command '%s'\n%s", cmd, usage);
    return 2;
}
