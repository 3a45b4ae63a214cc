/*
 * percent.c - percent-decoding (see percent.h).
 */
#include "protocol/percent.h"

#include "protocol/hex.h"

int percent_decode(const char *in, size_t len, int plus, char *out, size_t max, size_t *out_len)
{
    size_t o = 0;
    int rc = 0;
    for (size_t i = 0; i < len;) {
        char c = in[i];
        if (c == '%') {
            int hi = i + 2 < len ? hex_digit(in[i + 1]) : -1,
                lo = hi < 0 ? -1 : hex_digit(in[i + 2]);
            if (lo < 0) {
                rc = -1;
                break;
            }
            c = (char)(hi * 16 + lo);
            i += 3;
        } else {
            if (plus && c == '+')
                c = ' ';
            i++;
        }
        if (o == max) {
            rc = -2;
            break;
        }
        out[o++] = c; /* o < i: in place, nothing unread is overwritten */
    }
    out[o] = '\0';
    *out_len = o;
    return rc;
}
