/*
 * test_cli.c - vigil-device's command line without a server: option names
 * matched exactly (a prefix such as --sever is refused, not taken for
 * --severity), options a command does not take, values quoted back when
 * they are wrong, the reports of `report` checked before any is queued;
 * an answer's head parsed without the body bytes read with it; and the
 * key pair's file problems said before any talk of .new/.prev recovery.
 * The real binary against vigild: tests/e2e/device/test_device_cli.sh.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cert-authority/ca.h"
#include "tests/unit/tmpdir.h"
#include "tools/vigil-device/cli.h"
#include "tools/vigil-device/client.h"
#include "tools/vigil-device/keygen.h"
#include "tools/vigil-device/pair.h"
#include "tools/vigil-device/report.h"
#include "tools/vigil-device/util.h"

TestSuite(device_cli, .init = setup, .fini = teardown);

static char err[512];

/* Parses "COMMAND ARGS..." (up to 15 words) as vigil-device would. */
static int parse(devcli_opts *o, const char *cmd, const char *const *args)
{
    char *argv[16] = {(char *)cmd};
    int argc = 1;
    while (args[argc - 1] && argc < 15) {
        argv[argc] = (char *)args[argc - 1];
        argc++;
    }
    memset(o, 0, sizeof(*o));
    err[0] = '\0';
    const devcli_command *c = devcli_find(cmd);
    cr_assert_not_null(c, "no command %s", cmd);
    return devcli_parse(c, argc, argv, o, err, sizeof(err));
}

#define CONN "--server", "localhost:8443", "--cert", "d.crt", "--key", "d.key", "--ca", "ca.pem"

Test(device_cli, full_names_are_taken)
{
    devcli_opts o;
    const char *args[] = {CONN, "--severity", "warning", "--max-time=2s", "--count", "3", NULL};
    cr_assert_eq(parse(&o, "report", args), DEVCLI_RUN, "%s", err);
    cr_assert_str_eq(o.server, "localhost:8443");
    cr_assert_str_eq(o.severity, "warning");
    cr_assert_eq(o.max_ms, 2000);
    cr_assert_eq(o.count, 3);
}

Test(device_cli, a_prefix_is_not_an_option)
{
    devcli_opts o;
    const char *args[] = {"--sever", "localhost:8443", CONN, NULL};
    cr_assert_eq(parse(&o, "report", args), DEVCLI_USAGE);
    cr_assert_str_eq(err,
                     "unknown option '--sever' (vigil-device report --help lists its options)");
    cr_assert_null(o.severity, "--sever was taken for --severity");
    const char *eq[] = {"--serv=localhost:8443", NULL};
    cr_assert_eq(parse(&o, "flush", eq), DEVCLI_USAGE);
    cr_assert(strstr(err, "unknown option '--serv'"), "%s", err);
    cr_assert_null(o.server);
}

Test(device_cli, options_of_another_command_are_refused)
{
    devcli_opts o;
    const char *args[] = {"--id", "s-1", "--out-dir", "d", "--server", "x:1", NULL};
    cr_assert_eq(parse(&o, "keygen", args), DEVCLI_USAGE);
    cr_assert(strstr(err, "--server is not an option of keygen"), "%s", err);
}

Test(device_cli, bad_values_are_quoted)
{
    devcli_opts o;
    const char *count[] = {CONN, "--count", "5x", NULL};
    cr_assert_eq(parse(&o, "report", count), DEVCLI_USAGE);
    cr_assert_str_eq(err, "--count '5x' is not a number from 1 to 100000");
    const char *dur[] = {CONN, "--max-time", "soon", NULL};
    cr_assert_eq(parse(&o, "flush", dur), DEVCLI_USAGE);
    cr_assert(strstr(err, "--max-time 'soon' is not a duration"), "%s", err);
    const char *kt[] = {CONN, "--key-type", "rsa", NULL};
    cr_assert_eq(parse(&o, "renew", kt), DEVCLI_USAGE);
    cr_assert_str_eq(err, "--key-type 'rsa' is not one of p256, p384, ed25519");
    const char *srv[] = {"--server", "localhost", "--cert", "c", "--key", "k", "--ca", "a", NULL};
    cr_assert_eq(parse(&o, "flush", srv), DEVCLI_USAGE);
    cr_assert(strstr(err, "--server 'localhost' is not HOST:PORT"), "%s", err);
}

Test(device_cli, a_missing_value_is_not_the_next_option)
{
    devcli_opts o;
    const char *args[] = {"--server", "--cert", "d.crt", NULL};
    cr_assert_eq(parse(&o, "flush", args), DEVCLI_USAGE);
    cr_assert_str_eq(err, "--server needs a value (got the option '--cert')");
    const char *last[] = {CONN, "--queue-dir", NULL};
    cr_assert_eq(parse(&o, "flush", last), DEVCLI_USAGE);
    cr_assert_str_eq(err, "--queue-dir needs a value");
}

Test(device_cli, what_is_missing_is_named)
{
    devcli_opts o;
    const char *args[] = {"--server", "h:1", "--key", "k", NULL};
    cr_assert_eq(parse(&o, "report", args), DEVCLI_USAGE);
    cr_assert_str_eq(err, "missing --cert and --ca (vigil-device report --help)");
}

Test(device_cli, help_and_version_are_asked_for)
{
    devcli_opts o;
    const char *help[] = {"--help", NULL}, *version[] = {"--version", NULL};
    cr_assert_eq(parse(&o, "report", help), DEVCLI_HELP);
    cr_assert_eq(parse(&o, "run", version), DEVCLI_VERSION);
    cr_assert(strstr(devcli_find("report")->help, "(default: crash)"));
    cr_assert(strstr(devcli_find("report")->help, "(default: error)"));
}

Test(device_cli, report_values_are_checked_before_queueing)
{
    devcli_opts o;
    const char *sev[] = {CONN, "--severity", "hgih", NULL};
    cr_assert_eq(parse(&o, "report", sev), DEVCLI_RUN);
    cr_assert_null(report_build(&o, err, sizeof(err)));
    cr_assert_str_eq(err, "--severity 'hgih' is not one of info, warning, error, critical");
    const char *type[] = {CONN, "--type", "Crash", NULL};
    cr_assert_eq(parse(&o, "report", type), DEVCLI_RUN);
    cr_assert_null(report_build(&o, err, sizeof(err)));
    cr_assert(strstr(err, "--type 'Crash' is not one of crash, "), "%s", err);
    const char *details[] = {CONN, "--details", "[1]", NULL};
    cr_assert_eq(parse(&o, "report", details), DEVCLI_RUN);
    cr_assert_null(report_build(&o, err, sizeof(err)));
    cr_assert_str_eq(err, "--details '[1]': must be a JSON object");
    const char *ok[] = {CONN, "--count", "2", "--component", "fw", NULL};
    cr_assert_eq(parse(&o, "report", ok), DEVCLI_RUN);
    json_t *r = report_build(&o, err, sizeof(err));
    cr_assert_not_null(r, "%s", err);
    cr_assert_eq(json_array_size(r), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r, 0), "type")), "crash");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(r, 0), "severity")), "error");
    json_decref(r);
}

Test(device_cli, a_file_with_fields_is_refused)
{
    devcli_opts o;
    const char *args[] = {CONN, "--file", "r.json", "--type", "crash", NULL};
    cr_assert_eq(parse(&o, "report", args), DEVCLI_USAGE);
    cr_assert(strstr(err, "--type cannot be given with it"), "%s", err);
}

/* Body bytes read with the head must not pass for headers. */
Test(device_cli, the_head_stops_at_the_blank_line)
{
    static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
                                 "\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n";
    size_t hlen = (size_t)(strstr(answer, "\r\n\r\n") + 4 - answer);
    devc_response r = {0};
    cr_assert_eq(devc_parse_head(answer, hlen, &r, err, sizeof(err)), DEVC_OK, "%s", err);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.length, -1, "a Content-Length of the body was taken");
    cr_assert_str_eq(r.content_type, "application/json");
    devc_response_free(&r);
    devc_response bad = {0};
    cr_assert_eq(devc_parse_head(answer, sizeof(answer) - 1, &bad, err, sizeof(err)), DEVC_RETRY);
    devc_response_free(&bad);
}

Test(device_cli, server_addresses)
{
    char host[256], port[16];
    cr_assert_eq(devc_parse_server("[::1]:8443", host, sizeof host, port, sizeof port), 0);
    cr_assert_str_eq(host, "::1");
    cr_assert_str_eq(port, "8443");
    cr_assert_eq(devc_parse_server("localhost:", host, sizeof host, port, sizeof port), -1);
    cr_assert_eq(devc_parse_server(":8443", host, sizeof host, port, sizeof port), -1);
    cr_assert_eq(devc_parse_server("host:84x", host, sizeof host, port, sizeof port), -1);
}

/* A key file of a fresh P-256 key at path. */
static void write_key(const char *path)
{
    ca_error e;
    EVP_PKEY *k = ca_key_generate(CA_KEY_P256, &e);
    char *pem = k ? keygen_key_pem(k) : NULL;
    cr_assert_not_null(pem);
    cr_assert_eq(devu_write_atomic(path, pem, strlen(pem), 0600), 0);
    free(pem);
    EVP_PKEY_free(k);
}

Test(device_cli, file_problems_come_first)
{
    char cert[128], key[128], msg[600];
    snprintf(cert, sizeof cert, "%s/nope.crt", dir);
    snprintf(key, sizeof key, "%s/d.key", dir);
    write_key(key);
    cr_assert_eq(pair_recover(cert, key, msg, sizeof msg), -1);
    cr_assert(strstr(msg, "nope.crt: No such file or directory"), "%s", msg);
    cr_assert_null(strstr(msg, ".prev"), "%s", msg);
    cr_assert_eq(devu_write_atomic(cert, "", 0, 0644), 0);
    cr_assert_eq(pair_recover(cert, key, msg, sizeof msg), -1);
    cr_assert(strstr(msg, "nope.crt is empty"), "%s", msg);
    cr_assert_eq(devu_write_atomic(cert, "hello\n", 6, 0644), 0);
    cr_assert_eq(pair_recover(cert, key, msg, sizeof msg), -1);
    cr_assert(strstr(msg, "nope.crt is not a PEM certificate"), "%s", msg);
}
