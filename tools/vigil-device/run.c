/*
 * run.c - the device loop (see run.h). One thread, blocking I/O with
 * deadlines (client.h), a tick of 100 ms between events. Every event is
 * one line on stderr: "vigil-device run: EVENT key=value ...".
 */
#include "tools/vigil-device/run.h"

#include "protocol/incident.h"
#include "protocol/when.h"
#include "tools/vigil-device/cacerts.h"
#include "tools/vigil-device/pair.h"
#include "tools/vigil-device/queue.h"
#include "tools/vigil-device/send.h"
#include "tools/vigil-device/util.h"

#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TICK_MS 100
#define SEND_BUDGET_MS 2000
#define FINAL_FLUSH_MS 5000
#define RENEW_BACKOFF_BASE_MS 1000
#define RENEW_BACKOFF_CAP_MS 60000
#define SEND_BACKOFF_BASE_MS 500
#define SEND_BACKOFF_CAP_MS 30000
#define UPDATE_EVERY_MS (3600LL * 1000)
#define UPDATE_BACKOFF_BASE_MS 5000

static volatile sig_atomic_t run_signal;

static void on_signal(int sig)
{
    run_signal = sig;
}

typedef struct run_state {
    const run_opts *o;
    devc c;
    char id[256];
    time_t nb, na;
    long long renew_at;                                   /* wall clock, ms */
    long long renew_retry_at, send_retry_at, next_report; /* monotonic, ms */
    long long next_update;                                /* monotonic, ms; 0: never */
    int renew_attempt, send_attempt, update_attempt;
    long renewals, reports, seq, updates;
    int stop; /* exit code once stopping, else -1 */
    const char *why;
} run_state;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vigil-device run: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void stop(run_state *st, int code, const char *why)
{
    st->stop = code;
    st->why = why;
}

/* Two thirds of the lifetime, ±5% of it at random. */
static void schedule(run_state *st)
{
    long long life = ((long long)st->na - st->nb) * 1000, jitter = 0;
    if (life / 10 > 0)
        jitter = devu_random_between(0, life / 10) - life / 20;
    st->renew_at = (long long)st->nb * 1000 + life * 2 / 3 + jitter;
    say("renewal scheduled in=%llds not_after_in=%llds", (st->renew_at - devu_wall_ms()) / 1000,
        ((long long)st->na * 1000 - devu_wall_ms()) / 1000);
}

/* (Re)loads the pair from disk and connects with it; -1: unusable. */
static int load(run_state *st)
{
    char msg[600], err[512];
    const renew_opts *r = &st->o->renew;
    devc_free(&st->c);
    if (pair_recover(r->cert, r->key, msg, sizeof(msg)) < 0) {
        say("identity error=\"%s\"", msg);
        return -1;
    }
    if (msg[0])
        say("recovered what=\"%s\"", msg);
    if (devc_init(&st->c, r->server, r->cert, r->key, r->ca, err, sizeof(err)) != DEVC_OK) {
        say("identity error=\"%s\"", err);
        return -1;
    }
    if (renew_identity(r->cert, st->id, sizeof(st->id), &st->nb, &st->na) < 0) {
        say("identity error=\"cannot read the device id (CN) and validity of %s\"", r->cert);
        return -1;
    }
    say("identity device=%s", st->id);
    schedule(st);
    return 0;
}

static void queue_heartbeat(run_state *st)
{
    char id[37], when[32];
    incident_format_time(when_now_us(), when);
    if (incident_uuid_v4(id) < 0)
        return;
    json_t *r = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:I}}", "id", id, "type", "x-heartbeat",
                          "severity", "info", "occurred_at", when, "component", "vigil-device",
                          "details", "seq", (json_int_t)++st->seq);
    if (r && devq_put(st->o->queue_dir, id, r) == 0) {
        st->reports++;
        say("queued report=%s seq=%ld", id, st->seq);
    } else
        say("error=\"cannot queue a report in %s\"", st->o->queue_dir);
    json_decref(r);
}

static void send_queue(run_state *st)
{
    long long now = devu_now_ms();
    dev_totals t = {0};
    if (now < st->send_retry_at || devq_count(st->o->queue_dir) == 0 ||
        devu_wall_ms() >= (long long)st->na * 1000)
        return; /* an expired certificate waits for its renewal */
    dev_send_queue(&st->c, st->o->queue_dir, SEND_BUDGET_MS, &t);
    const renew_opts *r = &st->o->renew;
    if (t.identity_error) {
        if (pair_has_prev(r->cert, r->key) && pair_rollback(r->cert, r->key) == 0) {
            say("identity refused: restored the previous pair");
            if (load(st) == 0)
                return;
        }
        stop(st, RUN_EXIT_IDENTITY, "identity");
        return;
    }
    if (t.stored + t.duplicate > 0 && pair_has_prev(r->cert, r->key))
        pair_confirm(r->cert, r->key); /* the new pair works */
    if (t.stored + t.duplicate + t.rejected > 0)
        say("sent stored=%zu duplicate=%zu rejected=%zu queued=%zu", t.stored, t.duplicate,
            t.rejected, t.queued);
    if (t.queued > 0) {
        long long wait =
            devu_backoff_ms(st->send_attempt++, SEND_BACKOFF_BASE_MS, SEND_BACKOFF_CAP_MS);
        st->send_retry_at = devu_now_ms() + wait;
        say("backoff what=send in=%lldms queued=%zu", wait, t.queued);
    } else
        st->send_attempt = 0;
}

static void refresh_cacerts(run_state *st)
{
    est_result r;
    int n = 0;
    const char *ca = st->o->renew.ca;
    if (devu_wall_ms() >= (long long)st->na * 1000)
        return; /* an expired certificate's connection may only renew */
    if (cacerts_refresh(&st->c, ca, ca, &r, &n) == EST_OK)
        say("cacerts certificates=%d file=%s", n, ca);
    else
        say("cacerts failed=%s error=%s reason=\"%s\"", est_outcome_name(r.outcome), r.code,
            r.reason);
}

static void renew(run_state *st)
{
    renew_info info;
    if (devu_wall_ms() < st->renew_at || devu_now_ms() < st->renew_retry_at)
        return;
    refresh_cacerts(st);
    devc_disconnect(&st->c);
    est_outcome out = renew_once(&st->o->renew, &info);
    if (out == EST_OK) {
        st->renewals++;
        st->renew_attempt = 0;
        say("renewed serial=%s not_after=%s confirmed=%s renewals=%ld", info.serial, info.not_after,
            info.confirmed ? "yes" : "no", st->renewals);
        if (load(st) < 0)
            stop(st, RUN_EXIT_IDENTITY, "identity");
        return;
    }
    say("renew failed=%s status=%d error=%s reason=\"%s\"", est_outcome_name(out), info.r.status,
        info.r.code, info.r.reason);
    if (out == EST_REFUSED) {
        stop(st, RUN_EXIT_REFUSED, "refused");
        return;
    }
    if (out == EST_IDENTITY) {
        stop(st, RUN_EXIT_IDENTITY, "identity");
        return;
    }
    long long wait =
        info.r.retry_after >= 0
            ? (long long)info.r.retry_after * 1000
            : devu_backoff_ms(st->renew_attempt++, RENEW_BACKOFF_BASE_MS, RENEW_BACKOFF_CAP_MS);
    if (wait < TICK_MS)
        wait = TICK_MS;
    st->renew_retry_at = devu_now_ms() + wait;
    say("backoff what=renew in=%lldms", wait);
}

static long long update_every(const run_opts *o)
{
    return o->update_every_ms > 0 ? o->update_every_ms : UPDATE_EVERY_MS;
}

/* The next check: the interval ±20%; sooner, with backoff, after a retry. */
static void schedule_update(run_state *st, const update_result *r)
{
    long long every = update_every(st->o), wait;
    if (r && r->code == UPDATE_EXIT_RETRY) {
        wait = r->retry_after >= 0
                   ? (long long)r->retry_after * 1000
                   : devu_backoff_ms(st->update_attempt++, UPDATE_BACKOFF_BASE_MS, every);
        if (wait < TICK_MS)
            wait = TICK_MS;
    } else {
        st->update_attempt = 0;
        wait = devu_random_between(every - every / 5, every + every / 5);
    }
    st->next_update = devu_now_ms() + wait;
    say("update next in=%lldms", wait);
}

static void check_update(run_state *st)
{
    update_result r;
    if (!st->next_update || devu_now_ms() < st->next_update ||
        devu_wall_ms() >= (long long)st->na * 1000)
        return; /* an expired certificate waits for its renewal */
    update_once(&st->c, &st->o->update, &r);
    if (r.code == UPDATE_EXIT_OK && strcmp(r.result, "installed") == 0)
        st->updates++;
    say("update result=%s reason=%s version=%s exit=%d detail=\"%s\"", r.result, r.reason,
        r.version[0] ? r.version : "-", r.code, r.detail);
    if (r.code == UPDATE_EXIT_IDENTITY) {
        stop(st, RUN_EXIT_IDENTITY, "identity");
        return;
    }
    schedule_update(st, &r);
}

static void loop(run_state *st)
{
    const run_opts *o = st->o;
    long long deadline = o->max_ms > 0 ? devu_now_ms() + o->max_ms : 0;
    st->next_report = devu_now_ms();
    while (st->stop < 0) {
        long long now = devu_now_ms();
        if (run_signal) {
            stop(st, RUN_EXIT_SIGNAL, "signal");
            return;
        }
        if (deadline && now >= deadline) {
            stop(st, RUN_EXIT_MAXTIME, "max-time");
            return;
        }
        if (o->report_every_ms > 0 && now >= st->next_report) {
            queue_heartbeat(st);
            st->next_report += o->report_every_ms;
            if (st->next_report < now)
                st->next_report = now + o->report_every_ms;
        }
        renew(st);
        if (st->stop < 0)
            send_queue(st);
        if (st->stop < 0)
            check_update(st);
        if (st->stop < 0)
            devu_sleep_ms(TICK_MS);
    }
}

int run_command(const run_opts *o)
{
    run_state st = {.o = o, .c = {.fd = -1}, .stop = -1};
    struct sigaction sa = {.sa_handler = on_signal};
    const renew_opts *r = &o->renew;
    if (!r->server || !r->cert || !r->key || !r->ca) {
        fprintf(stderr, "vigil-device run: --server, --cert, --key and --ca are required\n");
        return 2;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (load(&st) < 0)
        stop(&st, RUN_EXIT_IDENTITY, "identity");
    else {
        if (o->update.keys) /* the first check within a fifth of the interval */
            st.next_update = devu_now_ms() + devu_random_between(TICK_MS, update_every(o) / 5);
        loop(&st);
    }
    dev_totals t = {0};
    if (st.stop != RUN_EXIT_IDENTITY && devq_count(o->queue_dir) > 0)
        dev_send_queue(&st.c, o->queue_dir, FINAL_FLUSH_MS, &t);
    size_t queued = devq_count(o->queue_dir);
    devc_free(&st.c);
    if (queued > 0 && (st.stop == RUN_EXIT_SIGNAL || st.stop == RUN_EXIT_MAXTIME))
        st.stop = RUN_EXIT_QUEUED;
    say("stopped why=%s renewals=%ld reports=%ld updates=%ld queued=%zu exit=%d", st.why,
        st.renewals, st.reports, st.updates, queued, st.stop);
    if (o->json)
        printf("{\"stopped\":\"%s\",\"renewals\":%ld,\"reports\":%ld,\"updates\":%ld,"
               "\"queued\":%zu}\n",
               st.why, st.renewals, st.reports, st.updates, queued);
    return st.stop;
}
