/*
 * test_ca_util.c - serials and reason names
 * (cert-authority/ca_util.c): the CLI's input validation rests on these.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "cert-authority/ca.h"

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
