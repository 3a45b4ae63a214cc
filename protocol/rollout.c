/*
 * rollout.c - a device's bucket in a staged rollout (see rollout.h).
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
