/*
 * main.c - vigil-device, a small device stub: it makes its own key and CSR,
 * reports incidents to vigild's device port over mutual TLS, keeps what
 * the server has not acknowledged in an on-disk queue that survives its
 * own crash, renews its certificate over EST (RFC 7030), refreshes its
 * trust anchors and installs signed updates, once or in a long-running
 * loop. It drives the end-to-end tests; it is also a reference for a
 * device implementation (docs/DEVICE-PORT.md).
 */
#include "protocol/incident.h"
#include "protocol/when.h"
#include "tools/vigil-device/cacerts.h"
#include "tools/vigil-device/client.h"
#include "tools/vigil-device/keygen.h"
#include "tools/vigil-device/pair.h"
#include "tools/vigil-device/queue.h"
#include "tools/vigil-device/renew.h"
#include "tools/vigil-device/run.h"
#include "tools/vigil-device/send.h"
#include "tools/vigil-device/update.h"

#include <signal.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2, EXIT_IDENTITY = 3, EXIT_QUEUED = 75 };

static const char usage[] =
    "Usage: vigil-device <command> [options]\n\n"
    "Commands:\n"
    "  report   queue one or more incident reports and send the queue\n"
    "  flush    send what is queued\n"
    "  queue    list what is queued\n"
    "  keygen   make this device's key and a CSR for `vigilctl device enroll`\n"
    "  renew    renew this device's certificate (EST simplereenroll), new key by default\n"
    "  cacerts  refresh the trust anchors file from the server (EST cacerts)\n"
    "  update   check for a signed update; verify, download (resuming) and install it\n"
    "  run      the device loop: report, renew at 2/3 of the lifetime, refresh cacerts,\n"
    "           check for updates (with --keys)\n\n"
    "Connection (report, flush, renew, cacerts, update, run):\n"
    "  --server HOST:PORT      vigild's device port\n"
    "  --cert FILE --key FILE  this device's certificate and key\n"
    "  --ca FILE               the fleet CA chain (`vigilctl ca chain`)\n"
    "  --queue-dir DIR         the on-disk queue (default: vigil-queue)\n"
    "  --max-time DUR          report/flush: give up retrying after DUR (default 60s;\n"
    "                          500ms, 2m); run: stop after DUR (default: never)\n"
    "  --json                  print a summary object at the end\n\n"
    "Report (report):\n"
    "  --type T  --severity S  --component C  --firmware-version V\n"
    "  --details JSON  --occurred-at RFC3339  --id UUID  --count N\n"
    "  --file FILE             reports from a JSON file (an object or an array);\n"
    "                          an id is added to each report without one\n\n"
    "Keygen: --id ID --out-dir DIR [--key-type p256|p384|ed25519]\n\n"
    "Renew: [--key-type p256|p384|ed25519] (default p256) [--same-key]\n"
    "  The key and certificate at --key/--cert are replaced crash-safely: the\n"
    "  previous pair is kept as FILE.prev until the new pair has made a request;\n"
    "  every command repairs an interrupted renewal (FILE.new/.prev) on start.\n"
    "Cacerts: [--out FILE] (default: replace --ca); a set without the root --ca\n"
    "  trusts, or with another root, is refused.\n"
    "Update: --keys FILE [--class CLASS] [--state-dir DIR] [--install-dir DIR]\n"
    "  --keys FILE        the pinned release keys (the JWKS of `vigilctl release key\n"
    "                     export`, written at provisioning); a rotated key is added\n"
    "                     to it only from an endorsement by a key already in it\n"
    "  --class CLASS      this device's class: needed the first time, then stored;\n"
    "                     another class later is refused (exit 2)\n"
    "  --state-dir DIR    installed version and security version (the floor), the\n"
    "                     partial download, unsent status reports (default:\n"
    "                     vigil-update beside the --queue-dir)\n"
    "  --install-dir DIR  where the artifact is installed, as firmware.bin\n"
    "                     (default: STATE-DIR/install)\n"
    "  Exit codes: 0 installed, or nothing to install (the server's reason is\n"
    "  printed); 1 refused by the server (4xx); 3 identity; 4 bad answer; 6 the\n"
    "  keys file or state is unusable; 10 bad signature; 11 unknown key id;\n"
    "  12 expired manifest; 13 wrong class; 14 security version below the stored\n"
    "  one; 15 digest mismatch; 16 size mismatch; 17 install failed; 18 not a\n"
    "  valid manifest; 75 retry later (network, 429/503, a download cut: the part\n"
    "  is kept and resumed). Each of 10-18 is reported to the server as failed.\n"
    "Run: --queue-dir DIR [--report-every DUR] [--max-time DUR] [--key-type T]\n"
    "  [--same-key] [--keys FILE [--update-interval DUR] (default 1h, +-20%\n"
    "  jitter) and the update options]; stops on SIGTERM/SIGINT (after flushing\n"
    "  what it can). DUR: 500ms, 30s, 2m, 1h.\n\n"
    "Exit codes: 0 done (run: stopped by a signal, nothing queued); 1 refused for\n"
    "good (report: some rejected, see QUEUE/rejected; renew/run: a 4xx refusal,\n"
    "e.g. quarantined, same key refused, no grant); 2 usage; 3 identity refused\n"
    "(certificate, key, CA, or the server refused this certificate); 4 the server's\n"
    "answer failed the checks (renew, cacerts: nothing installed); 5 run: --max-time\n"
    "ran out, nothing queued; 75 retry later (renew, cacerts: 429/503/network, the\n"
    "delay is printed; report/flush/run: reports still queued).\n";

typedef struct opts {
    const char *server, *cert, *key, *ca, *queue_dir, *file, *type, *severity, *component,
        *firmware, *details, *occurred_at, *id, *out_dir, *key_type, *out, *keys, *state_dir,
        *install_dir, *device_class;
    long long max_ms, report_every_ms, update_every_ms;
    long count;
    int json, same_key;
} opts;

enum {
    O_SERVER = 1000,
    O_CERT,
    O_KEY,
    O_CA,
    O_QUEUE,
    O_FILE,
    O_TYPE,
    O_SEVERITY,
    O_COMPONENT,
    O_FIRMWARE,
    O_DETAILS,
    O_OCCURRED,
    O_ID,
    O_COUNT,
    O_MAXTIME,
    O_JSON,
    O_OUTDIR,
    O_KEYTYPE,
    O_SAMEKEY,
    O_OUT,
    O_EVERY,
    O_KEYS,
    O_STATEDIR,
    O_INSTALLDIR,
    O_CLASS,
    O_UPDATE_EVERY
};

static int parse_ms(const char *s, long long *out)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    long long mult = !*end || strcmp(end, "s") == 0 ? 1000
                     : strcmp(end, "ms") == 0       ? 1
                     : strcmp(end, "m") == 0        ? 60000
                     : strcmp(end, "h") == 0        ? 3600000
                                                    : -1;
    if (end == s || n < 0 || mult < 0 || n > 1000000000)
        return -1;
    *out = n * mult;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    static const struct option longopts[] = {{"server", 1, 0, O_SERVER},
                                             {"cert", 1, 0, O_CERT},
                                             {"key", 1, 0, O_KEY},
                                             {"ca", 1, 0, O_CA},
                                             {"queue-dir", 1, 0, O_QUEUE},
                                             {"file", 1, 0, O_FILE},
                                             {"type", 1, 0, O_TYPE},
                                             {"severity", 1, 0, O_SEVERITY},
                                             {"component", 1, 0, O_COMPONENT},
                                             {"firmware-version", 1, 0, O_FIRMWARE},
                                             {"details", 1, 0, O_DETAILS},
                                             {"occurred-at", 1, 0, O_OCCURRED},
                                             {"id", 1, 0, O_ID},
                                             {"count", 1, 0, O_COUNT},
                                             {"max-time", 1, 0, O_MAXTIME},
                                             {"json", 0, 0, O_JSON},
                                             {"out-dir", 1, 0, O_OUTDIR},
                                             {"key-type", 1, 0, O_KEYTYPE},
                                             {"same-key", 0, 0, O_SAMEKEY},
                                             {"out", 1, 0, O_OUT},
                                             {"report-every", 1, 0, O_EVERY},
                                             {"keys", 1, 0, O_KEYS},
                                             {"state-dir", 1, 0, O_STATEDIR},
                                             {"install-dir", 1, 0, O_INSTALLDIR},
                                             {"class", 1, 0, O_CLASS},
                                             {"update-interval", 1, 0, O_UPDATE_EVERY},
                                             {"help", 0, 0, 'h'},
                                             {0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case O_SERVER: o->server = optarg; break;
        case O_CERT: o->cert = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_CA: o->ca = optarg; break;
        case O_QUEUE: o->queue_dir = optarg; break;
        case O_FILE: o->file = optarg; break;
        case O_TYPE: o->type = optarg; break;
        case O_SEVERITY: o->severity = optarg; break;
        case O_COMPONENT: o->component = optarg; break;
        case O_FIRMWARE: o->firmware = optarg; break;
        case O_DETAILS: o->details = optarg; break;
        case O_OCCURRED: o->occurred_at = optarg; break;
        case O_ID: o->id = optarg; break;
        case O_OUTDIR: o->out_dir = optarg; break;
        case O_KEYTYPE: o->key_type = optarg; break;
        case O_JSON: o->json = 1; break;
        case O_SAMEKEY:
            o->same_key = 1;
            break;
        case O_OUT:
            o->out = optarg;
            break;
        case O_KEYS:
            o->keys = optarg;
            break;
        case O_STATEDIR:
            o->state_dir = optarg;
            break;
        case O_INSTALLDIR:
            o->install_dir = optarg;
            break;
        case O_CLASS:
            o->device_class = optarg;
            break;
        case O_COUNT:
            o->count = strtol(optarg, NULL, 10);
            if (o->count < 1 || o->count > 100000) {
                fprintf(stderr, "vigil-device: --count must be 1..100000\n");
                return -1;
            }
            break;
        case O_MAXTIME:
        case O_EVERY:
        case O_UPDATE_EVERY:
            if (parse_ms(optarg, c == O_MAXTIME ? &o->max_ms
                                 : c == O_EVERY ? &o->report_every_ms
                                                : &o->update_every_ms) < 0) {
                fprintf(stderr, "vigil-device: %s: use 30s, 500ms, 2m or 1h\n", argv[optind - 1]);
                return -1;
            }
            break;
        case 'h': fputs(usage, stdout); exit(EXIT_OK);
        default:
            fprintf(stderr, "vigil-device: unknown or incomplete option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "vigil-device: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* ---- building reports ---- */

static json_t *report_from_options(const opts *o, char id[37])
{
    char when[32];
    incident_format_time(when_now_us(), when);
    json_t *r = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "type", o->type ? o->type : "crash",
                          "severity", o->severity ? o->severity : "error", "occurred_at",
                          o->occurred_at ? o->occurred_at : when);
    if (o->component)
        json_object_set_new(r, "component", json_string(o->component));
    if (o->firmware)
        json_object_set_new(r, "firmware_version", json_string(o->firmware));
    if (o->details) {
        json_t *d = json_loads(o->details, 0, NULL);
        if (!d) {
            fprintf(stderr, "vigil-device: --details is not JSON\n");
            json_decref(r);
            return NULL;
        }
        json_object_set_new(r, "details", d);
    }
    return r;
}

/* Queues one report, giving it an id when it has none. */
static int enqueue(const char *dir, json_t *r)
{
    char id[37];
    const char *have = json_string_value(json_object_get(r, "id"));
    if (!have) {
        if (incident_uuid_v4(id) < 0)
            return -1;
        json_object_set_new(r, "id", json_string(id));
        have = id;
    }
    if (devq_put(dir, have, r) < 0) {
        fprintf(stderr, "vigil-device: cannot queue report %s in %s (ids are lowercase UUIDs)\n",
                have, dir);
        return -1;
    }
    return 0;
}

static int queue_reports(const opts *o, const char *dir)
{
    if (o->file) {
        json_error_t e;
        json_t *root = json_load_file(o->file, 0, &e), *item;
        size_t i;
        if (!root || (!json_is_object(root) && !json_is_array(root))) {
            fprintf(stderr, "vigil-device: %s: not a report or an array of reports (%s)\n",
                    o->file, root ? "wrong type" : e.text);
            json_decref(root);
            return -1;
        }
        int rc = json_is_object(root) ? enqueue(dir, root) : 0;
        json_array_foreach(json_is_array(root) ? root : NULL, i, item)
            if (rc == 0 && json_is_object(item))
                rc = enqueue(dir, item);
        json_decref(root);
        return rc;
    }
    for (long n = 0; n < (o->count ? o->count : 1); n++) {
        char id[37];
        if (o->id)
            snprintf(id, sizeof(id), "%s", o->id);
        else if (incident_uuid_v4(id) < 0)
            return -1;
        json_t *r = report_from_options(o, id);
        int rc = r ? enqueue(dir, r) : -1;
        json_decref(r);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- commands ---- */

static int send_and_summarize(const opts *o, const char *dir)
{
    devc c;
    dev_totals t = {0};
    if (!o->server || !o->cert || !o->key || !o->ca) {
        fprintf(stderr, "vigil-device: --server, --cert, --key and --ca are required\n");
        return EXIT_USAGE;
    }
    /* A renewal cut short by a crash is finished (or undone) first. */
    if (pair_connect(&c, o->server, o->cert, o->key, o->ca, "vigil-device") < 0) {
        devc_free(&c);
        return EXIT_IDENTITY;
    }
    dev_send_queue(&c, dir, o->max_ms > 0 ? o->max_ms : 60000, &t);
    devc_free(&c);
    if (o->json)
        printf("{\"stored\":%zu,\"duplicate\":%zu,\"rejected\":%zu,\"queued\":%zu}\n", t.stored,
               t.duplicate, t.rejected, t.queued);
    else
        fprintf(stderr, "vigil-device: %zu stored, %zu duplicate, %zu rejected, %zu queued\n",
                t.stored, t.duplicate, t.rejected, t.queued);
    return t.identity_error ? EXIT_IDENTITY : t.queued ? EXIT_QUEUED
           : t.rejected ? EXIT_REJECTED : EXIT_OK;
}

static int list_queue(const char *dir)
{
    devq_entry *e = NULL;
    size_t n = 0;
    if (devq_load(dir, 100000, &e, &n) < 0)
        return EXIT_USAGE;
    for (size_t i = 0; i < n; i++) {
        char *text = json_dumps(e[i].report, JSON_COMPACT);
        printf("%s\n", text ? text : "");
        free(text);
    }
    devq_free(e, n);
    return EXIT_OK;
}

/* --state-dir's default: vigil-update beside the queue directory. */
static void default_state_dir(const char *queue, char *out, size_t len)
{
    const char *slash = strrchr(queue, '/');
    if (!slash)
        snprintf(out, len, "vigil-update");
    else
        snprintf(out, len, "%.*s/vigil-update", (int)(slash - queue), queue);
}

int main(int argc, char **argv)
{
    opts o = {0};
    /* A server that refuses us closes the socket: a write must fail with
     * EPIPE (and the refusal be read), not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *cmd = argv[1];
    if (parse_args(argc - 1, argv + 1, &o) < 0)
        return EXIT_USAGE;
    const char *dir = o.queue_dir ? o.queue_dir : "vigil-queue";
    renew_opts r = {o.server, o.cert, o.key, o.ca, o.key_type, o.same_key};
    char state_dir[4096];
    default_state_dir(dir, state_dir, sizeof(state_dir));
    update_opts u = {o.server,      o.cert,        o.key,
                     o.ca,          o.keys,        o.state_dir ? o.state_dir : state_dir,
                     o.install_dir, o.device_class};
    if (strcmp(cmd, "keygen") == 0)
        return keygen_command(o.id, o.out_dir, o.key_type);
    if (strcmp(cmd, "renew") == 0)
        return renew_command(&r, o.json);
    if (strcmp(cmd, "update") == 0)
        return update_command(&u, o.json);
    if (strcmp(cmd, "cacerts") == 0)
        return cacerts_command(o.server, o.cert, o.key, o.ca, o.out, o.json);
    if (strcmp(cmd, "report") && strcmp(cmd, "flush") && strcmp(cmd, "queue") &&
        strcmp(cmd, "run")) {
        fprintf(stderr, "vigil-device: unknown command '%s'\n\n%s", cmd, usage);
        return EXIT_USAGE;
    }
    if (devq_open(dir) < 0) {
        fprintf(stderr, "vigil-device: cannot use the queue directory %s\n", dir);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "queue") == 0)
        return list_queue(dir);
    if (strcmp(cmd, "run") == 0) {
        run_opts ro = {.renew = r,
                       .queue_dir = dir,
                       .report_every_ms = o.report_every_ms,
                       .max_ms = o.max_ms,
                       .json = o.json,
                       .update = u,
                       .update_every_ms = o.update_every_ms};
        return run_command(&ro);
    }
    if (strcmp(cmd, "report") == 0 && queue_reports(&o, dir) < 0)
        return EXIT_USAGE;
    return send_and_summarize(&o, dir);
}
