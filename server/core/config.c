/*
 * config.c - settings from defaults, file, environment and flags (see
 * config.h). One table describes every setting: its name, type, default and
 * help line.
 */
#include "server/core/config.h"

#include "protocol/version.h"
#include "protocol/when.h"
#include "server/core/addr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum opt_type { T_STR, T_INT, T_MS, T_BYTES } opt_type;

typedef struct setting {
    const char *name;
    opt_type type;
    size_t offset;
    const char *dflt;
    const char *help;
} setting;

#define S(name, type, field, dflt, help) {name, type, offsetof(config, field), dflt, help}

static const setting settings[] = {
    S("config", T_STR, config_file, NULL, "config file of `name = value` lines"),
    S("database-url", T_STR, database_url, NULL, "PostgreSQL, libpq URI or key=value (required)"),
    S("database-password-file", T_STR, database_password_file, NULL,
      "file whose first line is the database password (a Docker secret; or PGPASSWORD)"),
    S("ca-dir", T_STR, ca_dir, NULL, "CA directory made by `vigilctl ca init` (required)"),
    S("ca-passphrase-file", T_STR, ca_passphrase_file, NULL,
      "file whose first line decrypts the issuing CA key (or VIGIL_CA_PASSPHRASE)"),
    S("device-listen", T_STR, device_listen, "0.0.0.0:8443", "device port address:port"),
    S("api-listen", T_STR, api_listen, "127.0.0.1:8080", "operator port address:port"),
    S("api-tls-cert", T_STR, api_tls_cert, NULL,
      "operator port certificate, PEM (default: plain HTTP)"),
    S("api-tls-key", T_STR, api_tls_key, NULL, "operator port private key, PEM"),
    S("api-threads", T_INT, api_threads, "4",
      "operator port threads (each with a database connection)"),
    S("api-max-connections", T_INT, api_max_connections, "256",
      "operator port connections; when all are open, a new one closes an unfinished one"),
    S("api-max-connections-per-address", T_INT, api_max_connections_per_address, "16",
      "operator port connections from one IP address"),
    S("api-header-timeout", T_MS, api_header_timeout_ms, "10s",
      "operator port deadline for a whole request, headers and body"),
    S("tls-cert", T_STR, tls_cert, NULL, "device port certificate chain, PEM (required)"),
    S("tls-key", T_STR, tls_key, NULL, "device port private key, PEM (required)"),
    S("log-level", T_STR, log_level, "info", "debug, info, warn or error"),
    S("log-summary-interval", T_MS, log_summary_interval_ms, "60s",
      "how often to log what ingest did, if anything (0: never)"),
    S("database-wait", T_MS, database_wait_ms, "0s",
      "at start, wait this long for PostgreSQL and its schema (0: refuse at once)"),
    S("workers", T_INT, workers, "0", "device port event loops (0: one per core)"),
    S("max-connections", T_INT, max_connections, "100000", "device connections in total"),
    S("max-connections-per-address", T_INT, max_connections_per_address, "256",
      "device connections from one IP address"),
    S("handshake-timeout", T_MS, handshake_timeout_ms, "10s", "TLS handshake deadline"),
    S("header-timeout", T_MS, header_timeout_ms, "10s", "deadline for a whole request"),
    S("idle-timeout", T_MS, idle_timeout_ms, "300s", "keep-alive connection idle limit"),
    S("max-header-bytes", T_BYTES, max_header_bytes, "8k", "request line and headers"),
    S("max-body-bytes", T_BYTES, max_body_bytes, "1m", "request body"),
    S("max-batch", T_INT, max_batch, "1000", "incident reports per request"),
    S("device-rate", T_INT, device_rate, "50", "requests per second per device, sustained"),
    S("device-burst", T_INT, device_burst, "200", "requests per device above the rate"),
    S("flush-max-rows", T_INT, flush_max_rows, "5000", "reports per group commit"),
    S("security-events-per-second", T_INT, security_events_per_second, "50",
      "security events recorded per second (the rest are counted)"),
    S("security-events-per-address", T_INT, security_events_per_address, "10",
      "security events recorded per source address per 10 s"),
    S("drain-timeout", T_MS, drain_timeout_ms, "15s", "SIGTERM: longest wait for in-flight work"),
    S("retry-after", T_MS, retry_after_s, "2s", "Retry-After sent while the database is down"),
    S("artifact-cache-bytes", T_BYTES, artifact_cache_bytes, "128m",
      "artifact chunks kept in memory for every download to share (0: none)"),
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static const setting *find_setting(const char *name, size_t len)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (strlen(settings[i].name) == len && strncmp(settings[i].name, name, len) == 0)
            return &settings[i];
    return NULL;
}

/* "512", "8k", "1m". */
static int parse_bytes(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)v[0])) /* strtoll would take " 8k" and "+8k" */
        return -1;
    long long n = strtoll(v, &end, 10);
    if (errno || n < 0)
        return -1;
    int64_t mult = !*end ? 1 : (tolower((unsigned char)*end) == 'k' && !end[1]) ? 1024
                   : (tolower((unsigned char)*end) == 'm' && !end[1]) ? 1024 * 1024 : -1;
    if (mult < 0 || n > INT64_MAX / mult)
        return -1;
    *out = n * mult;
    return 0;
}

static int set_value(config *c, const setting *s, const char *value, const char *origin)
{
    void *field = (char *)c + s->offset;
    int64_t n = 0;
    int bad = 0;
    switch (s->type) {
    case T_STR: {
        char *copy = strdup(value);
        if (!copy)
            return -1;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case T_INT: {
        char *end;
        errno = 0;
        n = strtoll(value, &end, 10);
        bad = errno || !isdigit((unsigned char)value[0]) || *end || n < 0;
        break;
    }
    case T_MS:
        bad = (n = when_duration_ms(value, 1)) < 0;
        break; /* bare: milliseconds */
    case T_BYTES: bad = parse_bytes(value, &n) < 0; break;
    }
    if (bad) {
        fprintf(stderr, "vigild: %s: invalid value '%s' for %s\n", origin, value, s->name);
        return -1;
    }
    if (s->offset == offsetof(config, retry_after_s))
        n = (n + 999) / 1000;
    *(int64_t *)field = n;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int load_file(config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[4096], origin[600];
    int lineno = 0, rc = 0;
    if (!f) {
        fprintf(stderr, "vigild: cannot read config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && fgets(buf, sizeof(buf), f)) {
        lineno++;
        char *line = trim(buf), *eq = strchr(line, '=');
        if (!*line || *line == '#')
            continue;
        snprintf(origin, sizeof(origin), "%.500s:%d", path, lineno);
        if (!eq) {
            fprintf(stderr, "vigild: %s: expected `name = value`\n", origin);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(line), *value = trim(eq + 1);
        const setting *s = find_setting(name, strlen(name));
        if (!s || s->offset == offsetof(config, config_file)) {
            fprintf(stderr, "vigild: %s: unknown setting '%s'\n", origin, name);
            rc = -1;
        } else {
            rc = set_value(c, s, value, origin);
        }
    }
    if (rc == 0 && ferror(f)) { /* a directory, an I/O error: not an empty file */
        fprintf(stderr, "vigild: cannot read config file %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    return rc;
}

static int load_env(config *c)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char var[80] = "VIGIL_";
        size_t n = 6;
        for (const char *p = settings[i].name; *p && n < sizeof(var) - 1; p++)
            var[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        var[n] = '\0';
        const char *v = getenv(var);
        if (v && *v && set_value(c, &settings[i], v, var) < 0)
            return -1;
    }
    return 0;
}

static void print_help(void)
{
    printf("Usage: vigild [--name value ...]\n\n"
           "The Vigil server: the device port (mutual TLS: incident reports, certificate\n"
           "renewal, signed updates) and the operator port (REST, bearer tokens). Every\n"
           "setting below can also be given as an environment variable VIGIL_<NAME>\n"
           "(VIGIL_DEVICE_LISTEN for --device-listen) or as a line `name = value` in the\n"
           "--config file. Flags beat the environment, which beats the file. Durations:\n"
           "250ms, 10s, 5m; sizes: 512, 8k, 1m.\n\n"
           "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the device port's TLS\n"
           "certificate, key and the trusted CA set without dropping connections.\n\n");
    for (size_t i = 0; i < N_SETTINGS; i++)
        printf("  --%-30s %s%s%s%s\n", settings[i].name, settings[i].help,
               settings[i].dflt ? " [" : "", settings[i].dflt ? settings[i].dflt : "",
               settings[i].dflt ? "]" : "");
    printf("  --%-30s %s\n", "help", "this help");
    printf("  --%-30s %s\n", "version", "print the version and exit");
    printf("\nExit codes:\n"
           "  0  clean shutdown (SIGTERM/SIGINT drained), --help, --version\n"
           "  1  runtime failure (cannot listen, out of memory, ...)\n"
           "  2  bad command line or configuration\n"
           "  3  database unusable at start: cannot connect (not running, no such database,\n"
           "     bad credentials) or not migrated (run `vigilctl db migrate`)\n"
           "  4  TLS or CA files unusable: --tls-cert, --tls-key, --api-tls-cert,\n"
           "     --api-tls-key, --ca-dir (run `vigilctl ca init`), --ca-passphrase-file\n");
}

/* Finds --name value / --name=value pairs; pass 0 only takes --config. */
static int load_flags(config *c, int argc, char **argv, int pass)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            if (pass == 1)
                print_help();
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            if (pass == 0)
                version_print("vigild");
            return 2;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "vigild: unexpected argument '%s' (see vigild --help)\n", arg);
            return -1;
        }
        const char *eq = strchr(arg + 2, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        const setting *s = find_setting(arg + 2, len);
        if (!s) {
            fprintf(stderr, "vigild: unknown option '%s' (see vigild --help)\n", arg);
            return -1;
        }
        if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            fprintf(stderr, "vigild: option --%s needs a value\n", s->name);
            return -1;
        }
        int is_config = s->offset == offsetof(config, config_file);
        if (is_config == (pass == 0) && set_value(c, s, value, "command line") < 0)
            return -1;
    }
    return 0;
}

/* Both ports' addresses have one grammar (core/addr.h); a wrong one is a
 * bad setting, refused before anything starts. */
static int check_listen(const char *name, const char *value, const char *example,
                        struct sockaddr_storage *ss, socklen_t *len)
{
    const char *why;
    if (addr_parse_listen(value, ss, len, &why) == 0)
        return 0;
    fprintf(stderr, "vigild: --%s '%s': %s; use HOST:PORT, such as %s\n", name, value, why,
            example);
    return -1;
}

static int is_set(const char *s)
{
    return s && *s;
}

static int check_required(config *c)
{
    /* Empty is missing, whether it came from a flag or the environment. */
    const char *missing = !is_set(c->database_url) ? "database-url"
                          : !is_set(c->ca_dir)     ? "ca-dir"
                          : !is_set(c->tls_cert)   ? "tls-cert"
                          : !is_set(c->tls_key)    ? "tls-key"
                                                   : NULL;
    if (missing) {
        fprintf(stderr, "vigild: --%s is required (or VIGIL_", missing);
        for (const char *p = missing; *p; p++)
            fputc(*p == '-' ? '_' : toupper((unsigned char)*p), stderr);
        fprintf(stderr, "); see vigild --help\n");
        return -1;
    }
    if (c->max_batch < 1 || c->flush_max_rows < c->max_batch || c->flush_max_rows > 8000 ||
        c->max_body_bytes < 1024 ||
        c->max_header_bytes < 1024 || c->device_rate < 1) {
        fprintf(stderr, "vigild: inconsistent limits: need max-batch >= 1, max-batch <= "
                "flush-max-rows <= 8000, max-body-bytes and max-header-bytes >= 1k, device-rate >= 1\n");
        return -1;
    }
    if (c->api_max_connections < 1 || c->api_max_connections > 65536 ||
        c->api_max_connections_per_address < 1 ||
        c->api_max_connections_per_address > c->api_max_connections ||
        c->api_header_timeout_ms < 100) {
        fprintf(stderr, "vigild: inconsistent operator port limits: need 1 <= "
                        "api-max-connections-per-address <= api-max-connections <= 65536, "
                        "api-header-timeout >= 100ms\n");
        return -1;
    }
    if (check_listen("device-listen", c->device_listen, "0.0.0.0:8443 or [::]:8443",
                     &c->device_addr, &c->device_addr_len) < 0)
        return -1;
    if (config_api_enabled(c) &&
        check_listen("api-listen", c->api_listen, "127.0.0.1:8080 or [::1]:8080", &c->api_addr,
                     &c->api_addr_len) < 0)
        return -1;
    return 0;
}

int config_api_enabled(const config *c)
{
    return c->api_listen && c->api_listen[0] && strcmp(c->api_listen, "off") != 0;
}

int config_load(config *c, int argc, char **argv)
{
    int rc;
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].dflt && set_value(c, &settings[i], settings[i].dflt, "default") < 0)
            return -1;
    if ((rc = load_flags(c, argc, argv, 0)) != 0) {
        if (rc == 1)
            print_help();
        return rc > 0 ? 1 : rc;
    }
    const char *file = c->config_file ? c->config_file : getenv("VIGIL_CONFIG");
    if (file && *file && load_file(c, file) < 0)
        return -1;
    if (load_env(c) < 0)
        return -1;
    if ((rc = load_flags(c, argc, argv, 1)) != 0)
        return rc;
    return check_required(c);
}

void config_free(config *c)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (settings[i].type == T_STR) {
            char **field = (char **)((char *)c + settings[i].offset);
            free(*field);
            *field = NULL;
        }
}
