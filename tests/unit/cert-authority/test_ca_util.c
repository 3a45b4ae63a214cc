/*
 * test_ca_util.c - identifiers, durations, serials and reason names
 * (cert-authority/ca_util.c): the CLI's input validation rests on these.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "cert-authority/ca.h"

Test(ca_util, device_ids)
{
    char max[65], over[66];
    memset(max, 'a', 64);
    max[64] = '\0';
    memset(over, 'a', 65);
    over[65] = '\0';
    cr_assert(ca_device_id_valid("dev-1"));
    cr_assert(ca_device_id_valid("A.b_c-9"));
    cr_assert(ca_device_id_valid(max));
    cr_assert_not(ca_device_id_valid(over));
    cr_assert_not(ca_device_id_valid(""));
    cr_assert_not(ca_device_id_valid("-dev"));
    cr_assert_not(ca_device_id_valid(".dev"));
    cr_assert_not(ca_device_id_valid("a/b"));
    cr_assert_not(ca_device_id_valid("bad id"));
    cr_assert_not(ca_device_id_valid("caf\xc3\xa9"));
    cr_assert_not(ca_device_id_valid(NULL));
}

Test(ca_util, durations)
{
    ca_error err = {0};
    int64_t s = 0;
    cr_assert_eq(ca_parse_duration("24h", &s, &err), 0);
    cr_assert_eq(s, 86400);
    cr_assert_eq(ca_parse_duration("90s", &s, &err), 0);
    cr_assert_eq(s, 90);
    cr_assert_eq(ca_parse_duration("15m", &s, &err), 0);
    cr_assert_eq(s, 900);
    cr_assert_eq(ca_parse_duration("30d", &s, &err), 0);
    cr_assert_eq(s, 30 * 86400);
    cr_assert_eq(ca_parse_duration("2w", &s, &err), 0);
    cr_assert_eq(s, 14 * 86400);
    cr_assert_eq(ca_parse_duration("1y", &s, &err), 0);
    cr_assert_eq(s, 365 * 86400);
    const char *bad[] = {"", "0d", "-1d", "10", "d", "1x", "1d2", "99999999999999999999y",
                         "9223372036854775807y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(ca_parse_duration(bad[i], &s, &err), -1, "'%s' accepted", bad[i]);
}

Test(ca_util, serials)
{
    ca_error err = {0};
    char out[CA_SERIAL_HEX_MAX];
    /* canonical = OpenSSL's byte-wise hex, as the registry stores it */
    cr_assert_eq(ca_serial_normalize("0a:1B", out, &err), 0);
    cr_assert_str_eq(out, "0A1B");
    cr_assert_eq(ca_serial_normalize("0x0A1B", out, &err), 0);
    cr_assert_str_eq(out, "0A1B");
    cr_assert_eq(ca_serial_normalize("a1b", out, &err), 0);
    cr_assert_str_eq(out, "0A1B");
    cr_assert_eq(ca_serial_normalize("00ff", out, &err), 0);
    cr_assert_str_eq(out, "FF");
    cr_assert_eq(ca_serial_normalize("xyz", out, &err), -1);
    cr_assert_eq(ca_serial_normalize("", out, &err), -1);
    char long_serial[100];
    memset(long_serial, 'F', 99);
    long_serial[99] = '\0';
    cr_assert_eq(ca_serial_normalize(long_serial, out, &err), -1);
}

Test(ca_util, reasons)
{
    cr_assert_eq(ca_reason_from_name("keyCompromise"), 1);
    cr_assert_eq(ca_reason_from_name("superseded"), 4);
    cr_assert_eq(ca_reason_from_name("unspecified"), 0);
    cr_assert_str_eq(ca_reason_name(1), "keyCompromise");
    cr_assert_eq(ca_reason_from_name("certificateHold"), -1, "holds are not offered");
    cr_assert_eq(ca_reason_from_name("KEYCOMPROMISE"), 1, "names are case-insensitive");
    cr_assert_eq(ca_reason_from_name("nonsense"), -1);
    cr_assert_null(ca_reason_name(99));
}
