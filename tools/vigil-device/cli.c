/*
 * cli.c - vigil-device's command line (see cli.h): the option table, the
 * exact-name getopt wrapper and the checks of every value, so that a
 * command acts only on a command line that is valid as a whole.
 */
#include "tools/vigil-device/cli.h"

#include "cert-authority/ca.h"
#include "protocol/cliopt.h"
#include "tools/vigil-device/client.h"
#include "tools/vigil-device/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT_MAX 100000

/* Indexed by devcli_opt; val is the devcli_opt itself. */
static const struct option options[] = {
    {"server", 1, 0, DO_SERVER},
    {"cert", 1, 0, DO_CERT},
    {"key", 1, 0, DO_KEY},
    {"ca", 1, 0, DO_CA},
    {"queue-dir", 1, 0, DO_QUEUE_DIR},
    {"max-time", 1, 0, DO_MAX_TIME},
    {"json", 0, 0, DO_JSON},
    {"file", 1, 0, DO_FILE},
    {"type", 1, 0, DO_TYPE},
    {"severity", 1, 0, DO_SEVERITY},
    {"component", 1, 0, DO_COMPONENT},
    {"firmware-version", 1, 0, DO_FIRMWARE},
    {"details", 1, 0, DO_DETAILS},
    {"occurred-at", 1, 0, DO_OCCURRED_AT},
    {"id", 1, 0, DO_ID},
    {"count", 1, 0, DO_COUNT},
    {"out-dir", 1, 0, DO_OUT_DIR},
    {"key-type", 1, 0, DO_KEY_TYPE},
    {"same-key", 0, 0, DO_SAME_KEY},
    {"out", 1, 0, DO_OUT},
    {"report-every", 1, 0, DO_REPORT_EVERY},
    {"keys", 1, 0, DO_KEYS},
    {"state-dir", 1, 0, DO_STATE_DIR},
    {"install-dir", 1, 0, DO_INSTALL_DIR},
    {"class", 1, 0, DO_CLASS},
    {"update-interval", 1, 0, DO_UPDATE_INTERVAL},
    {"help", 0, 0, DO_HELP},
    {"version", 0, 0, DO_VERSION},
    {0, 0, 0, 0},
};

_Static_assert(sizeof(options) / sizeof(options[0]) == DO_COUNT_OF + 1,
               "one option entry per devcli_opt, in order");

/* The message in err, and DEVCLI_USAGE for the caller to return. */
#define USAGE_ERROR(err, len, ...) (devu_format((err), (len), __VA_ARGS__), DEVCLI_USAGE)

int devcli_duration_ms(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    long long mult = !*end || strcmp(end, "s") == 0 ? 1000
                     : strcmp(end, "ms") == 0       ? 1
                     : strcmp(end, "m") == 0        ? 60000
                     : strcmp(end, "h") == 0        ? 3600000
                                                    : -1;
    if (end == s || errno || n < 0 || mult < 0 || n > 1000000000 || *s == '-' || *s == '+')
        return -1;
    *out = n * mult;
    return 0;
}

/* Why the value of option o is not of its form, or NULL if it is. */
static const char *bad_form(devcli_opt o, const char *v, devcli_opts *out)
{
    char host[256], port[16], *end;
    ca_key_type kt;
    switch (o) {
    case DO_MAX_TIME:
    case DO_REPORT_EVERY:
    case DO_UPDATE_INTERVAL:
        return devcli_duration_ms(v, o == DO_MAX_TIME       ? &out->max_ms
                                     : o == DO_REPORT_EVERY ? &out->report_every_ms
                                                            : &out->update_every_ms) < 0
                   ? "is not a duration such as 500ms, 30s, 2m or 1h"
                   : NULL;
    case DO_COUNT:
        errno = 0;
        out->count = strtol(v, &end, 10);
        return end == v || *end || errno || out->count < 1 || out->count > COUNT_MAX
                   ? "is not a number from 1 to 100000"
                   : NULL;
    case DO_KEY_TYPE:
        return ca_key_type_parse(v, &kt) < 0 ? "is not one of p256, p384, ed25519" : NULL;
    case DO_SERVER:
        return devc_parse_server(v, host, sizeof(host), port, sizeof(port)) < 0
                   ? "is not HOST:PORT (such as localhost:8443 or [::1]:8443)"
                   : NULL;
    default:
        return NULL;
    }
}

/* Where option o's value goes (NULL for flags and the checked numbers). */
static const char **slot(devcli_opts *o, devcli_opt id)
{
    const char **slots[DO_COUNT_OF] = {
        [DO_SERVER] = &o->server,
        [DO_CERT] = &o->cert,
        [DO_KEY] = &o->key,
        [DO_CA] = &o->ca,
        [DO_QUEUE_DIR] = &o->queue_dir,
        [DO_FILE] = &o->file,
        [DO_TYPE] = &o->type,
        [DO_SEVERITY] = &o->severity,
        [DO_COMPONENT] = &o->component,
        [DO_FIRMWARE] = &o->firmware,
        [DO_DETAILS] = &o->details,
        [DO_OCCURRED_AT] = &o->occurred_at,
        [DO_ID] = &o->id,
        [DO_OUT_DIR] = &o->out_dir,
        [DO_KEY_TYPE] = &o->key_type,
        [DO_OUT] = &o->out,
        [DO_KEYS] = &o->keys,
        [DO_STATE_DIR] = &o->state_dir,
        [DO_INSTALL_DIR] = &o->install_dir,
        [DO_CLASS] = &o->device_class,
    };
    return slots[id];
}

/* The option the scan stopped at, as typed (without "=value"). */
static void typed_name(const char *arg, char *out, size_t len)
{
    snprintf(out, len, "%.*s", (int)strcspn(arg ? arg : "?", "="), arg ? arg : "?");
}

static int unknown(const devcli_command *cmd, const char *arg, char *err, size_t len)
{
    char name[128];
    typed_name(arg, name, sizeof(name));
    for (int i = 0; i < DO_COUNT_OF; i++)
        if (strncmp(name, "--", 2) == 0 && strcmp(name + 2, options[i].name) == 0 &&
            strchr(arg, '='))
            return USAGE_ERROR(err, len, "%s takes no value (got '%s')", name, arg);
    return USAGE_ERROR(err, len, "unknown option '%s' (vigil-device %s --help lists its options)",
                       name, cmd->name);
}

/* One option with its value: stored, or DEVCLI_USAGE. */
static int take(const devcli_command *cmd, devcli_opt id, const char *v, devcli_opts *o, char *err,
                size_t len)
{
    const char *name = options[id].name, *why;
    if (!(cmd->takes & DO_BIT(id)))
        return USAGE_ERROR(err, len,
                           "--%s is not an option of %s (vigil-device %s --help lists them)", name,
                           cmd->name, cmd->name);
    o->given |= DO_BIT(id);
    if (id == DO_JSON || id == DO_SAME_KEY) {
        *(id == DO_JSON ? &o->json : &o->same_key) = 1;
        return DEVCLI_RUN;
    }
    if (!v[0])
        return USAGE_ERROR(err, len, "--%s needs a value, not ''", name);
    if (strncmp(v, "--", 2) == 0)
        return USAGE_ERROR(err, len, "--%s needs a value (got the option '%s')", name, v);
    if ((why = bad_form(id, v, o)))
        return USAGE_ERROR(err, len, "--%s '%s' %s", name, v, why);
    if (slot(o, id))
        *slot(o, id) = v;
    return DEVCLI_RUN;
}

/* "--a, --b and --c" of the options in mask. */
static void list_of(unsigned long mask, char *out, size_t len)
{
    int n = 0, total = __builtin_popcountl(mask);
    out[0] = '\0';
    for (int i = 0; i < DO_COUNT_OF; i++)
        if (mask & DO_BIT(i)) {
            size_t used = strlen(out);
            snprintf(out + used, len - used, "%s--%s",
                     n == 0           ? ""
                     : n == total - 1 ? " and "
                                      : ", ",
                     options[i].name);
            n++;
        }
}

/* What the options say together: nothing missing, nothing contradictory. */
static int check_together(const devcli_command *cmd, const devcli_opts *o, char *err, size_t len)
{
    const unsigned long fields = DO_BIT(DO_TYPE) | DO_BIT(DO_SEVERITY) | DO_BIT(DO_COMPONENT) |
                                 DO_BIT(DO_FIRMWARE) | DO_BIT(DO_DETAILS) | DO_BIT(DO_OCCURRED_AT) |
                                 DO_BIT(DO_ID) | DO_BIT(DO_COUNT);
    char names[512];
    unsigned long missing = cmd->needs & ~o->given;
    if (missing) {
        list_of(missing, names, sizeof(names));
        return USAGE_ERROR(err, len, "missing %s (vigil-device %s --help)", names, cmd->name);
    }
    if ((o->given & DO_BIT(DO_FILE)) && (o->given & fields)) {
        list_of(o->given & fields, names, sizeof(names));
        return USAGE_ERROR(err, len,
                           "--file takes the reports from the file: %s cannot be "
                           "given with it",
                           names);
    }
    const unsigned long update_only = DO_BIT(DO_UPDATE_INTERVAL) | DO_BIT(DO_CLASS) |
                                      DO_BIT(DO_STATE_DIR) | DO_BIT(DO_INSTALL_DIR);
    if (strcmp(cmd->name, "run") == 0 && (o->given & update_only) && !o->keys) {
        list_of(o->given & update_only, names, sizeof(names));
        return USAGE_ERROR(err, len, "%s: only with --keys (updates are checked only then)", names);
    }
    if (o->same_key && (o->given & DO_BIT(DO_KEY_TYPE)))
        return USAGE_ERROR(err, len,
                           "--same-key keeps the key: --key-type cannot be given with it");
    return DEVCLI_RUN;
}

int devcli_parse(const devcli_command *cmd, int argc, char **argv, devcli_opts *o, char *err,
                 size_t errlen)
{
    int c, asked = DEVCLI_RUN;
    optind = 0; /* glibc: start afresh (a test parses many command lines) */
    opterr = 0;
    const char *arg;
    while ((c = cliopt_getopt_long(argc, argv, "+:h", options, &arg)) != -1) {
        if (c == 'h' || c == DO_HELP || c == DO_VERSION) {
            asked = asked ? asked : c == DO_VERSION ? DEVCLI_VERSION : DEVCLI_HELP;
            continue;
        }
        if (c == ':') {
            char name[128];
            typed_name(arg, name, sizeof(name));
            return USAGE_ERROR(err, errlen, "%s needs a value", name);
        }
        if (c == '?' || c < 0 || c >= DO_COUNT_OF)
            return unknown(cmd, arg, err, errlen);
        if (take(cmd, (devcli_opt)c, optarg ? optarg : "", o, err, errlen) != DEVCLI_RUN)
            return DEVCLI_USAGE;
    }
    if (asked)
        return asked;
    if (optind < argc)
        return USAGE_ERROR(err, errlen, "unexpected argument '%s' (options are --name value)",
                           argv[optind]);
    return check_together(cmd, o, err, errlen);
}
