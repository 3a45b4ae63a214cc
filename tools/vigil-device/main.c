/*
 * main.c - vigil-device, a small device stub: it makes its own key and CSR,
 * reports incidents to vigild's device port over mutual TLS, keeps what
 * the server has not acknowledged in an on-disk queue that survives its
 * own crash, renews its certificate over EST (RFC 7030), refreshes its
 * trust anchors and installs signed updates, once or in a long-running
 * loop. It drives the end-to-end tests; it is also a reference for a
 * device implementation (docs/DEVICE-PORT.md).
 */
#include "protocol/device_id.h"
#include "protocol/version.h"
#include "tools/vigil-device/cacerts.h"
#include "tools/vigil-device/cli.h"
#include "tools/vigil-device/client.h"
#include "tools/vigil-device/keygen.h"
#include "tools/vigil-device/pair.h"
#include "tools/vigil-device/queue.h"
#include "tools/vigil-device/renew.h"
#include "tools/vigil-device/report.h"
#include "tools/vigil-device/run.h"
#include "tools/vigil-device/send.h"
#include "tools/vigil-device/update.h"

#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EXIT_OK = 0, EXIT_REJECTED = 1, EXIT_USAGE = 2, EXIT_IDENTITY = 3, EXIT_QUEUED = 75 };

typedef devcli_opts opts;

/* ---- commands ---- */

static int summarize(const opts *o, const dev_totals *t)
{
    if (o->json)
        printf("{\"stored\":%zu,\"duplicate\":%zu,\"rejected\":%zu,\"queued\":%zu}\n", t->stored,
               t->duplicate, t->rejected, t->queued);
    else
        fprintf(stderr, "vigil-device: %zu stored, %zu duplicate, %zu rejected, %zu queued\n",
                t->stored, t->duplicate, t->rejected, t->queued);
    return t->identity_error ? EXIT_IDENTITY : t->queued ? EXIT_QUEUED
           : t->rejected ? EXIT_REJECTED : EXIT_OK;
}

/* report and flush: the reports (report) are built and checked, the
 * identity loaded (a renewal cut short by a crash finished or undone
 * first), and only then is anything queued and the queue sent. */
static int send_command(const opts *o, const char *dir, int reporting)
{
    devc c;
    dev_totals t = {0};
    char err[512];
    json_t *reports = reporting ? report_build(o, err, sizeof(err)) : NULL;
    if (reporting && !reports) {
        fprintf(stderr, "vigil-device report: %s (nothing queued)\n", err);
        return EXIT_USAGE;
    }
    if (devq_open(dir) < 0) {
        fprintf(stderr, "vigil-device: cannot use the queue directory %s\n", dir);
        json_decref(reports);
        return EXIT_USAGE;
    }
    if (pair_connect(&c, o->server, o->cert, o->key, o->ca, "vigil-device") < 0) {
        if (reports)
            fprintf(stderr, "vigil-device report: nothing queued\n");
        json_decref(reports);
        devc_free(&c);
        return EXIT_IDENTITY;
    }
    int queued = !reports || report_queue(dir, reports, err, sizeof(err)) == 0;
    json_decref(reports);
    if (!queued) {
        fprintf(stderr, "vigil-device report: %s\n", err);
        devc_free(&c);
        return EXIT_USAGE;
    }
    dev_send_queue(&c, dir, o->max_ms > 0 ? o->max_ms : 60000, &t);
    devc_free(&c);
    return summarize(o, &t);
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

static int keygen(const opts *o)
{
    if (!device_id_valid(o->id)) {
        fprintf(stderr, "vigil-device keygen: --id '%s' is not a device id (%s)\n", o->id,
                DEVICE_ID_RULE);
        return EXIT_USAGE;
    }
    return keygen_command(o->id, o->out_dir, o->key_type);
}

static int dispatch(const char *cmd, const opts *o)
{
    const char *dir = o->queue_dir ? o->queue_dir : "vigil-queue";
    renew_opts r = {o->server, o->cert, o->key, o->ca, o->key_type, o->same_key};
    char state_dir[4096];
    default_state_dir(dir, state_dir, sizeof(state_dir));
    update_opts u = {o->server,      o->cert,        o->key,
                     o->ca,          o->keys,        o->state_dir ? o->state_dir : state_dir,
                     o->install_dir, o->device_class};
    if (strcmp(cmd, "keygen") == 0)
        return keygen(o);
    if (strcmp(cmd, "renew") == 0)
        return renew_command(&r, o->json);
    if (strcmp(cmd, "update") == 0)
        return update_command(&u, o->json);
    if (strcmp(cmd, "cacerts") == 0)
        return cacerts_command(o->server, o->cert, o->key, o->ca, o->out, o->json);
    if (strcmp(cmd, "report") == 0 || strcmp(cmd, "flush") == 0)
        return send_command(o, dir, strcmp(cmd, "report") == 0);
    if (devq_open(dir) < 0) {
        fprintf(stderr, "vigil-device: cannot use the queue directory %s\n", dir);
        return EXIT_USAGE;
    }
    if (strcmp(cmd, "queue") == 0)
        return list_queue(dir);
    run_opts ro = {.renew = r,
                   .queue_dir = dir,
                   .report_every_ms = o->report_every_ms,
                   .max_ms = o->max_ms,
                   .json = o->json,
                   .update = u,
                   .update_every_ms = o->update_every_ms};
    return run_command(&ro);
}

int main(int argc, char **argv)
{
    opts o = {0};
    char err[512];
    /* A server that refuses us closes the socket: a write must fail with
     * EPIPE (and the refusal be read), not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(devcli_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        version_print("vigil-device");
        return EXIT_OK;
    }
    const devcli_command *cmd = devcli_find(argv[1]);
    if (!cmd) {
        fprintf(stderr, "vigil-device: unknown command '%s' (vigil-device --help lists them)\n",
                argv[1]);
        return EXIT_USAGE;
    }
    switch (devcli_parse(cmd, argc - 1, argv + 1, &o, err, sizeof(err))) {
    case DEVCLI_HELP:
        fputs(cmd->help, stdout);
        return EXIT_OK;
    case DEVCLI_VERSION:
        version_print("vigil-device");
        return EXIT_OK;
    case DEVCLI_USAGE:
        fprintf(stderr, "vigil-device %s: %s\n", cmd->name, err);
        return EXIT_USAGE;
    default:
        return dispatch(cmd->name, &o);
    }
}
