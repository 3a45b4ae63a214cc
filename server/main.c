/*
 * main.c - vigild: configuration, the CA and TLS context, the registry, the
 * device-port workers, and the signals that drain (SIGTERM, SIGINT) and
 * reload (SIGHUP) them. The CA set is also reloaded when the database says
 * it changed (`vigilctl ca rotate`), with no signal.
 *
 * The main thread runs its own loop for the registry's and the update
 * view's LISTEN connections and the signals; it never serves a device.
 * Device connections live on the workers' loops (gateway/gw_worker.h).
 *
 * Before it listens, vigild checks what an operator must fix, and refuses
 * to start with the file or the database at fault, what is wrong and what
 * to do, and an exit code of its own (vigild --help): 2 a setting, 3 the
 * database (cannot connect, not migrated: `vigilctl db migrate`), 4 the
 * TLS and CA files. A database lost once vigild runs is an outage it
 * rides out (core/db_health.h), not a reason to exit.
 */
#include "db/db.h"
#include "protocol/version.h"
#include "server/api/api.h"
#include "server/core/config.h"
#include "server/core/log.h"
#include "server/core/metrics.h"
#include "server/gateway/gw_ca.h"
#include "server/gateway/gw_secevent.h"
#include "server/gateway/gw_tls.h"
#include "server/gateway/gw_track.h"
#include "server/gateway/gw_worker.h"
#include "server/ingest/ingest_maintain.h"
#include "server/ingest/ingest_summary.h"
#include "server/registry/reg_grant.h"
#include "server/registry/reg_sync.h"
#include "server/registry/reg_update.h"
#include "server/registry/reg_view.h"

#include <errno.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* vigild's exit codes, as vigild --help lists them (core/config.c). */
enum { EXIT_RUNTIME = 1, EXIT_CONFIG = 2, EXIT_DATABASE = 3, EXIT_FILES = 4 };

typedef struct server {
    config cfg;
    uv_loop_t *loop;
    uv_signal_t sig_term, sig_int, sig_hup;
    reg_sync *reg_sync;
    reg_update_sync *update_sync;
    ingest_maintain *ingest_maintain;
    ingest_summary *ingest_summary;
    api *api;
    gw_worker *workers;
    int n_workers;
    int stopping;
    char *ca_passphrase; /* NULL: the CA keys are not encrypted */
    uv_work_t reload;    /* CA directory and TLS files, read off the loop */
    gw_ca *reload_ca;
    SSL_CTX *reload_ctx;
    int reloading, reload_again;
} server;

/* ---- loading the CA and the TLS context ---- */

/* Blocking: at start, and on the thread pool for a reload. */
static int load_tls(server *s, gw_ca **ca, SSL_CTX **ctx)
{
    *ctx = NULL;
    if (!(*ca = gw_ca_load(s->cfg.ca_dir, s->ca_passphrase)))
        return -1;
    if (!(*ctx = gw_tls_build(s->cfg.tls_cert, s->cfg.tls_key, *ca))) {
        gw_ca_release(*ca);
        *ca = NULL;
        return -1;
    }
    return 0;
}

static void reload_work(uv_work_t *w)
{
    server *s = w->data;
    load_tls(s, &s->reload_ca, &s->reload_ctx);
}

static void start_reload(server *s);

static void reload_done(uv_work_t *w, int status)
{
    server *s = w->data;
    (void)status;
    s->reloading = 0;
    if (s->reload_ctx) {
        gw_ca_install(s->reload_ca);
        gw_tls_install(s->reload_ctx);
        log_info("reloaded the TLS certificate, key and trusted CAs", NULL);
        /* a CA no longer trusted would not pass a new handshake; live
         * connections keep their verified identity and registry checks */
    } else {
        log_error("reload failed: keeping the previous TLS configuration and CA set", NULL);
    }
    s->reload_ca = NULL;
    s->reload_ctx = NULL;
    if (s->reload_again && !s->stopping)
        start_reload(s);
}

/* One reload at a time; a request during one runs once it is done. */
static void start_reload(server *s)
{
    if (s->reloading) {
        s->reload_again = 1;
        return;
    }
    s->reload_again = 0;
    s->reloading = 1;
    s->reload.data = s;
    if (uv_queue_work(s->loop, &s->reload, reload_work, reload_done) != 0) {
        s->reloading = 0;
        log_error("cannot start a reload", NULL);
    }
}

static void on_ca_change(void *arg)
{
    server *s = arg;
    if (!s->stopping)
        start_reload(s);
}

static int load_passphrase(server *s)
{
    ca_error err = {0};
    if (ca_passphrase_find(s->cfg.ca_passphrase_file, NULL, "VIGIL_CA_PASSPHRASE",
                           &s->ca_passphrase, &err) < 0) {
        log_error("cannot read the CA passphrase (--ca-passphrase-file or VIGIL_CA_PASSPHRASE)",
                  "error", err.msg, NULL);
        return -1;
    }
    return 0;
}

static void on_registry_change(const char *device_id, void *arg)
{
    server *s = arg;
    if (!s->stopping)
        gw_workers_recheck(s->workers, s->n_workers, device_id);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    server *s = h->data;
    if (s->stopping)
        return;
    s->stopping = 1;
    log_info("draining", "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    gw_workers_drain(s->workers, s->n_workers);
    api_stop(s->api);
    s->api = NULL;
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    reg_sync_stop(s->reg_sync);
    s->reg_sync = NULL;
    reg_update_sync_stop(s->update_sync);
    s->update_sync = NULL;
    ingest_maintain_stop(s->ingest_maintain);
    s->ingest_maintain = NULL;
    ingest_summary_stop(s->ingest_summary);
    s->ingest_summary = NULL;
}

static void on_reload_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    start_reload(h->data);
}

static int worker_count(const config *cfg)
{
    if (cfg->workers > 0)
        return cfg->workers > 256 ? 256 : (int)cfg->workers;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Idle device connections are file descriptors: use all we may. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void start_signals(server *s)
{
    uv_signal_init(s->loop, &s->sig_term);
    uv_signal_init(s->loop, &s->sig_int);
    uv_signal_init(s->loop, &s->sig_hup);
    s->sig_term.data = s->sig_int.data = s->sig_hup.data = s;
    uv_signal_start(&s->sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&s->sig_hup, on_reload_signal, SIGHUP);
}

/* ---- what is checked before vigild starts ---- */

/* The operator port's files, which libmicrohttpd takes as PEM text and
 * would refuse with no reason. */
static int check_api_files(const config *cfg)
{
    ca_error err = {0};
    if (!cfg->api_tls_cert && !cfg->api_tls_key)
        return 0;
    if (!cfg->api_tls_cert || !cfg->api_tls_key) {
        log_error("operator port: give both --api-tls-cert and --api-tls-key, or neither", NULL);
        return EXIT_CONFIG;
    }
    /* Loaded once with OpenSSL too, for what libmicrohttpd would refuse
     * later as "cannot listen": a key of another certificate, an encrypted
     * key, a file that is not PEM. */
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int bad = !ctx ? ca_fail(&err, CA_ERR_IO, "out of memory")
                   : ca_tls_use_identity(ctx, cfg->api_tls_cert, cfg->api_tls_key, &err);
    SSL_CTX_free(ctx);
    if (bad) {
        log_error("cannot load the operator port certificate or key (--api-tls-cert, --api-tls-key)",
                  "error", err.msg, NULL);
        return EXIT_FILES;
    }
    return 0;
}

/* A --ca-dir that is not there or not a directory; what is in it is
 * gw_ca_load's to judge ("no CA in ...: create one with `vigilctl ca init`"). */
static int check_ca_dir(const char *dir)
{
    struct stat st;
    char why[600];
    int found = stat(dir, &st) == 0;
    if (found && S_ISDIR(st.st_mode))
        return 0;
    snprintf(why, sizeof(why), "%.500s: %s; create a CA with `vigilctl ca init`", dir,
             found ? "not a directory" : strerror(errno));
    log_error("cannot open the CA directory (--ca-dir)", "dir", dir, "error", why, NULL);
    return EXIT_FILES;
}

/* The hint after libpq's reason for a connection refused at start. */
static const char *connect_hint(const char *msg)
{
    if (strstr(msg, "database \"") && strstr(msg, "does not exist"))
        return "create the database (createdb), then run `vigilctl db migrate`";
    if (strstr(msg, "role \"") || strstr(msg, "authentication failed") || strstr(msg, "password"))
        return "check the user and password of --database-url (or VIGIL_DATABASE_URL)";
    return "is PostgreSQL running, and --database-url (or VIGIL_DATABASE_URL) right?";
}

/* One look at the database: 0 when vigild can use it, else 1 with the
 * reason in msg and a hint. */
static int database_usable(const char *url, char *msg, size_t size, const char **hint)
{
    db_error err = {0};
    int have = 0, need = 0, pending = 0, rc = -1;
    PGconn *conn = db_connect_as(url, "vigild-check", &err);
    if (conn)
        rc = db_schema_version(conn, &have, &need, &pending, &err);
    db_close(conn);
    *hint = NULL;
    if (!conn) {
        snprintf(msg, size, "%s", err.msg);
        *hint = connect_hint(err.msg);
    } else if (rc < 0) {
        snprintf(msg, size, "cannot read the schema version: %s", err.msg);
    } else if (pending > 0) {
        snprintf(msg, size,
                 "the database is not migrated (schema version %d, this vigild needs %d): "
                 "run `vigilctl db migrate`", have, need);
    } else {
        if (have > need)
            log_warn_fields("the database schema is newer than this vigild",
                            LOG_INT("schema_version", have), LOG_INT("needs", need));
        return 0;
    }
    return 1;
}

/* Blocking, before any loop runs: connects and checks the schema, for up
 * to --database-wait. 0, or EXIT_DATABASE once the reason is logged. */
static int check_database(const config *cfg)
{
    char msg[700];
    if (cfg->database_password_file) {
        db_error err = {0};
        if (db_password_file_use(cfg->database_password_file, cfg->database_url, &err) < 0) {
            log_error("cannot read the database password (--database-password-file)", "error",
                      err.msg, NULL);
            return EXIT_DATABASE;
        }
    }
    const char *hint;
    time_t deadline = time(NULL) + (time_t)((cfg->database_wait_ms + 999) / 1000);
    for (int tries = 0; database_usable(cfg->database_url, msg, sizeof(msg), &hint); tries++) {
        if (time(NULL) >= deadline) {
            if (hint)
                log_error(msg, "hint", hint, NULL);
            else
                log_error(msg, NULL);
            return EXIT_DATABASE;
        }
        if (tries == 0)
            log_info_fields("waiting for the database (--database-wait)", LOG_STR("error", msg),
                            LOG_NUM("seconds", (double)cfg->database_wait_ms / 1e3));
        sleep(1);
    }
    return 0;
}

/* The files, then the database; 0 or the exit code, the reason logged. */
static int start_checks(server *s, gw_ca **ca, SSL_CTX **ctx)
{
    int rc;
    if (!gw_workers_port_free(&s->cfg))
        return EXIT_RUNTIME;
    if ((rc = check_api_files(&s->cfg)) || (rc = check_ca_dir(s->cfg.ca_dir)))
        return rc;
    if (load_passphrase(s) < 0 || load_tls(s, ca, ctx) < 0)
        return EXIT_FILES;
    if ((rc = check_database(&s->cfg))) {
        gw_ca_release(*ca);
        SSL_CTX_free(*ctx);
        return rc;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static server s;
    if (argc == 2 && strcmp(argv[1], "--list-routes") == 0) {
        api_print_routes();
        return 0;
    }
    metrics_init();
    int rc = config_load(&s.cfg, argc, argv);
    if (rc != 0) {
        config_free(&s.cfg);
        return rc > 0 ? 0 : EXIT_CONFIG;
    }
    log_level level;
    if (log_level_parse(s.cfg.log_level, &level) < 0) {
        fprintf(stderr, "vigild: --log-level must be debug, info, warn or error\n");
        config_free(&s.cfg);
        return EXIT_CONFIG;
    }
    log_set_level(level);
    log_debug("configuration", "config_file", s.cfg.config_file, "ca_dir", s.cfg.ca_dir,
              "device_listen", s.cfg.device_listen, "tls_cert", s.cfg.tls_cert, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    gw_ca *ca = NULL;
    SSL_CTX *ctx = NULL;
    if (gw_tls_init() < 0 || reg_view_init() < 0)
        rc = EXIT_RUNTIME;
    else
        rc = start_checks(&s, &ca, &ctx);
    if (rc) {
        ca_passphrase_free(s.ca_passphrase);
        config_free(&s.cfg);
        return rc;
    }
    gw_ca_install(ca);
    gw_tls_install(ctx);
    gw_secevent_init(&s.cfg);
    s.loop = uv_default_loop();
    s.n_workers = worker_count(&s.cfg);
    /* A setting the operator must fix exits 2, like the other bad settings. */
    if ((rc = api_start(&s.cfg, gw_tls_ready, &s.api)) < 0)
        return rc == API_BAD_CONFIG ? EXIT_CONFIG : EXIT_RUNTIME;
    if (!(s.reg_sync = reg_sync_start(s.loop, s.cfg.database_url, on_registry_change, &s)) ||
        !(s.update_sync = reg_update_sync_start(s.loop, s.cfg.database_url)) ||
        !(s.ingest_maintain = ingest_maintain_start(s.loop, s.cfg.database_url)) ||
        gw_workers_start(&s.cfg, s.n_workers, &s.workers) < 0)
        return EXIT_RUNTIME;
    reg_sync_on_ca_change(s.reg_sync, on_ca_change, &s);
    start_signals(&s);
    s.ingest_summary = ingest_summary_start(s.loop, s.cfg.log_summary_interval_ms);
    log_info_fields("vigild started", LOG_STR("version", vigil_version),
                    LOG_STR("device_listen", s.cfg.device_listen), LOG_INT("workers", s.n_workers));
    uv_run(s.loop, UV_RUN_DEFAULT);
    gw_workers_join(s.workers, s.n_workers);
    uv_loop_close(s.loop);
    gw_tls_shutdown();
    gw_ca_shutdown();
    ca_passphrase_free(s.ca_passphrase);
    reg_view_shutdown();
    reg_update_shutdown();
    reg_grant_shutdown();
    gw_track_shutdown();
    config_free(&s.cfg);
    log_info("vigild stopped", NULL);
    return 0;
}
