/*
 * hash.c - 64-bit FNV-1a (see hash.h).
 */
#include "server/core/hash.h"

#define FNV1A_PRIME 1099511628211ULL

uint64_t hash_fnv1a_more(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * FNV1A_PRIME;
    return h;
}

uint64_t hash_fnv1a(const char *s)
{
    return hash_fnv1a_more(HASH_FNV1A_INIT, s);
}
