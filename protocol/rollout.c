/*
 * rollout.c - a device's bucket in a staged rollout, and the percent an
 * operator gives for its reach (see rollout.h).
 */
#include "protocol/rollout.h"

#include "protocol/device_id.h"

#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

int rollout_bucket(int64_t rollout_id, const char *device_id)
{
    char text[32 + DEVICE_ID_MAX];
    int n = snprintf(text, sizeof text, "%lld:%s", (long long)rollout_id, device_id);
    if (n < 0 || (size_t)n >= sizeof text)
        return -1;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)text, (size_t)n, md);
    uint32_t v = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
    return (int)(v % ROLLOUT_BASIS_POINTS);
}

int rollout_includes(int64_t rollout_id, const char *device_id, int basis_points)
{
    int b = rollout_bucket(rollout_id, device_id);
    return b >= 0 && b < basis_points;
}

int rollout_percent_parse(const char *text, int *basis_points)
{
    int whole = 0, frac = 0, digits = 0, decimals = 0;
    const char *p = text;
    if (!p)
        return -1;
    for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
        whole = whole * 10 + (*p - '0');
    if (digits == 0)
        return -1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9' && decimals < 2; p++, decimals++)
            frac = frac * 10 + (*p - '0');
        if (decimals == 0)
            return -1;
        if (decimals == 1)
            frac *= 10;
    }
    if (*p == '%')
        p++;
    int bp = whole * 100 + frac;
    if (*p || bp < 1 || bp > ROLLOUT_BASIS_POINTS)
        return -1;
    *basis_points = bp;
    return 0;
}

int rollout_percent_format(int basis_points, char out[ROLLOUT_PERCENT_LEN])
{
    int bp = basis_points;
    if (bp < 0 || bp > ROLLOUT_BASIS_POINTS) {
        out[0] = '\0';
        return -1;
    }
    if (bp % 100 == 0)
        snprintf(out, ROLLOUT_PERCENT_LEN, "%d", bp / 100);
    else if (bp % 10 == 0)
        snprintf(out, ROLLOUT_PERCENT_LEN, "%d.%d", bp / 100, bp % 100 / 10);
    else
        snprintf(out, ROLLOUT_PERCENT_LEN, "%d.%02d", bp / 100, bp % 100);
    return 0;
}
