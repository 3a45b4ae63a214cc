/*
 * hash.h - the one string hash of the server: 64-bit FNV-1a, for the
 * open-addressing tables of device ids, addresses and report keys. Fast
 * and well spread for short keys; not for anything an attacker must not
 * predict (the tables bound their probes or are lossy on purpose).
 */
#ifndef VIGIL_HASH_H
#define VIGIL_HASH_H

#include <stdint.h>

/* FNV-1a's 64-bit offset basis, 14695981039346656037: the hash of the
 * empty string. (Six copies before this one had 1469598103934665603, a
 * digit short; only in-memory tables used it, so nothing stored changed.) */
#define HASH_FNV1A_INIT 0xcbf29ce484222325ULL

/* The hash of the NUL-terminated s. */
uint64_t hash_fnv1a(const char *s);
/* Continues h (a previous result, or HASH_FNV1A_INIT) over s, so that
 * hash_fnv1a_more(hash_fnv1a(a), b) hashes a's bytes then b's. */
uint64_t hash_fnv1a_more(uint64_t h, const char *s);

#endif
