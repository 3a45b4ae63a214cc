/*
 * pinned.h - the release keys a device trusts: a JWKS file written at
 * provisioning (`vigilctl release key export > FILE`), grown only by key
 * endorsements (protocol/manifest.h) that verify against a key already in
 * it, so the server can never make the device trust a key of its own.
 */
#ifndef VIGIL_DEVICE_PINNED_H
#define VIGIL_DEVICE_PINNED_H

#include <jansson.h>
#include <stddef.h>

#define PINNED_MAX_BYTES (256 * 1024)
#define PINNED_MAX_KEYS 64

/* The JWKS in path: an object whose "keys" are 1..PINNED_MAX_KEYS public
 * EC P-256 keys, each named by its own thumbprint. NULL (why says why). */
json_t *pinned_load(const char *path, char *why, size_t why_len);
/* Adds to jwks every key an endorsement in endorsements (an array of
 * compact JWS, any order) vouches for with a key jwks already holds,
 * repeating until a pass adds nothing, so a chain of rotations is
 * followed. Returns how many keys were added. */
int pinned_learn(json_t *jwks, const json_t *endorsements);
/* Replaces path with jwks atomically (0644); 0 or -1. */
int pinned_save(const char *path, const json_t *jwks);

#endif
