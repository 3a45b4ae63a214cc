/*
 * test_incident.c - the incident report contract (protocol/incident.c):
 * every field's rule, canonical ids, times with offsets, batch verdicts and
 * whole-body refusals.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "protocol/incident.h"

#define NOW 1795580000000000LL   /* 2026-11-25 */

static incident_batch parse_ok(const char *body)
{
    incident_batch b;
    char reason[200] = "";
    cr_assert_eq(incident_batch_parse(body, strlen(body), 1000, NOW, &b, reason, sizeof(reason)), 0,
                 "%s", reason);
    return b;
}

static const char *verdict(const char *report)
{
    static char reason[sizeof(((incident_item *)0)->reason)];
    incident_batch b = parse_ok(report);
    snprintf(reason, sizeof(reason), "%s", b.items[0].ok ? "ok" : b.items[0].reason);
    incident_batch_free(&b);
    return reason;
}

#define R(extra) "{\"id\":\"7B0F2C9E-4C1A-4D7E-9B8A-1F2E3D4C5B6A\",\"type\":\"crash\"," \
                 "\"severity\":\"error\",\"occurred_at\":\"2026-11-25T10:00:00Z\"" extra "}"

Test(incident, valid_report_is_canonical)
{
    incident_batch b = parse_ok(R(",\"component\":\"main\",\"details\":{\"pc\":\"0x1\"},\"device_id\":\"x\""));
    cr_assert_eq(b.n, 1);
    cr_assert_eq(b.was_array, 0);
    cr_assert(b.items[0].ok);
    cr_assert_str_eq(b.items[0].report.id, "7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a");
    cr_assert_str_eq(b.items[0].report.details, "{\"pc\":\"0x1\"}");
    cr_assert_str_eq(b.items[0].report.component, "main");
    incident_batch_free(&b);
}

Test(incident, field_rules)
{
    cr_assert_str_eq(verdict(R("")), "ok");
    cr_assert_str_eq(verdict("{\"type\":\"crash\"}"),
                     "id: required, a UUID such as 7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a");
    cr_assert(strstr(verdict("{\"id\":7}"), "id: must be a string, a UUID"));
    cr_assert(strstr(verdict("{\"id\":\"7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a\",\"type\":\"Crash\","
                             "\"severity\":\"error\",\"occurred_at\":\"2026-11-25T10:00:00Z\"}"),
                     "type 'Crash' is not one of crash, "), "a value given is quoted, not 'required'");
    cr_assert_str_eq(verdict("{\"id\":\"7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a\",\"type\":\"x-my.custom_type-1\","
                             "\"severity\":\"info\",\"occurred_at\":\"2026-11-25T10:00:00Z\"}"), "ok");
    cr_assert(strstr(verdict("{\"id\":\"7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a\",\"type\":\"x-\","
                             "\"severity\":\"info\",\"occurred_at\":\"2026-11-25T10:00:00Z\"}"), "type 'x-' is not"));
    cr_assert(strstr(verdict("{\"id\":\"7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a\",\"type\":\"crash\","
                             "\"severity\":\"fatal\",\"occurred_at\":\"2026-11-25T10:00:00Z\"}"),
                     "severity 'fatal' is not one of info, warning, error, critical"));
    cr_assert(strstr(verdict("{\"id\":\"7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a\",\"type\":\"crash\","
                             "\"severity\":\"a\\u001b[2Jbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\","
                             "\"occurred_at\":\"2026-11-25T10:00:00Z\"}"),
                     "severity 'a\\x1B[2Jbbbbbbbbbbbbbbbbbbbbbbb'... is not one of info,"),
              "a hostile value is escaped and cut short, the reason whole");
    cr_assert(strstr(verdict(R(",\"firmware_version\":\"1 2\"")), "firmware_version:"));
    cr_assert(strstr(verdict(R(",\"component\":7")), "component:"));
    cr_assert(strstr(verdict(R(",\"details\":[1]")), "details:"));
    cr_assert(strstr(verdict(R(",\"details\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}")), "deeper"));
}

Test(incident, details_size_limit)
{
    char big[6000];
    snprintf(big, sizeof(big), R(",\"details\":{\"x\":\"%04090d\"}"), 0);
    cr_assert(strstr(verdict(big), "bytes"));
}

Test(incident, times)
{
    int64_t us;
    cr_assert_eq(incident_parse_time("2026-11-25T10:00:00Z", &us), 0);
    cr_assert_eq(us, 1795600800000000LL);
    cr_assert_eq(incident_parse_time("2026-11-25T12:00:00+02:00", &us), 0);
    cr_assert_eq(us, 1795600800000000LL);
    cr_assert_eq(incident_parse_time("2026-11-25T10:00:00.123456Z", &us), 0);
    cr_assert_eq(us, 1795600800123456LL);
    cr_assert_eq(incident_parse_time("2026-02-30T10:00:00Z", &us), -1);
    cr_assert_eq(incident_parse_time("2026-11-25 10:00:00Z", &us), -1);
    cr_assert_eq(incident_parse_time("2026-11-25T10:00:00", &us), -1);
    cr_assert_eq(incident_parse_time("2026-11-25T10:00Z", &us), -1);
    char out[32];
    cr_assert_eq(incident_format_time(1795600800123456LL, out), 0);
    cr_assert_str_eq(out, "2026-11-25T10:00:00.123456Z");
    cr_assert(strstr(verdict("{\"id\":\"7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6a\",\"type\":\"crash\","
                             "\"severity\":\"error\",\"occurred_at\":\"1999-12-31T23:59:59Z\"}"), "occurred_at"));
}

Test(incident, batches)
{
    incident_batch b = parse_ok("[" R("") ",{\"id\":\"7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6b\",\"type\":\"crash\"},7]");
    cr_assert_eq(b.n, 3);
    cr_assert(b.was_array);
    cr_assert(b.items[0].ok);
    cr_assert_not(b.items[1].ok);
    cr_assert_str_eq(b.items[1].id, "7b0f2c9e-4c1a-4d7e-9b8a-1f2e3d4c5b6b", "a rejected item keeps its id");
    cr_assert(strstr(b.items[1].reason, "severity"));
    cr_assert_not(b.items[2].ok);
    incident_batch_free(&b);
}

Test(incident, whole_body_refusals)
{
    incident_batch b;
    char reason[200];
    const char *bad[] = {"", "{", "[]", "\"x\"", "42", "{\"a\":1,\"a\":2}", "{\"id\":\"a\\u0000b\"}",
                         "{\"c\":\"\xff\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(
            incident_batch_parse(bad[i], strlen(bad[i]), 1000, NOW, &b, reason, sizeof(reason)),
            INCIDENT_REFUSED, "accepted: %s", bad[i]);
}

/* The bound is the caller's (--max-batch), not the protocol's: 1,001
 * reports are too many for 1000 and fine for 2000. */
Test(incident, batch_bound_is_the_callers)
{
    incident_batch b;
    char reason[200];
    static char many[1100 * 4];
    strcpy(many, "[");
    for (int i = 0; i < 1001; i++)
        strcat(many, i ? ",{}" : "{}");
    strcat(many, "]");
    cr_assert_eq(incident_batch_parse(many, strlen(many), 1000, NOW, &b, reason, sizeof(reason)),
                 INCIDENT_TOO_MANY);
    cr_assert(strstr(reason, "1001 reports in one request; at most 1000"), "%s", reason);
    cr_assert_eq(incident_batch_parse(many, strlen(many), 2000, NOW, &b, reason, sizeof(reason)), 0,
                 "%s", reason);
    cr_assert_eq(b.n, 1001);
    incident_batch_free(&b);
    cr_assert_eq(incident_batch_parse("[{}]", 4, 1, NOW, &b, reason, sizeof(reason)), 0);
    incident_batch_free(&b);
    cr_assert_eq(incident_batch_parse("[{},{}]", 7, 1, NOW, &b, reason, sizeof(reason)),
                 INCIDENT_TOO_MANY);
}

Test(incident, uuid_v4)
{
    char a[37], b[37];
    cr_assert_eq(incident_uuid_v4(a), 0);
    cr_assert_eq(incident_uuid_v4(b), 0);
    cr_assert_str_neq(a, b);
    cr_assert_eq(strlen(a), 36);
    cr_assert_eq(a[14], '4');
}
