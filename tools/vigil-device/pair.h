/*
 * pair.h - the device's key and certificate on disk, replaced crash-safely.
 *
 * A renewal writes KEY.new and CERT.new (synced), copies the current pair
 * to KEY.prev and CERT.prev, then renames KEY.new over KEY and CERT.new
 * over CERT (the directory synced after each step). The previous pair is
 * kept until the new one has completed a request with the server
 * (pair_confirm), so it can be restored (pair_rollback) if the server does
 * not accept the new one.
 *
 * pair_recover, run before every use of the pair, repairs what a crash at
 * any point left: a complete KEY.new + CERT.new is committed; a new key
 * already in place is completed with CERT.new; a mismatched pair is
 * replaced by the previous one; a lone KEY.new is dropped (its certificate
 * was never saved). After it, KEY and CERT are a matching pair or it fails.
 */
#ifndef VIGIL_DEVICE_PAIR_H
#define VIGIL_DEVICE_PAIR_H

#include "tools/vigil-device/client.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

/* 0: CERT and KEY match (what was repaired, if anything, is in msg; "" if
 * nothing); -1: no working pair (msg says why). */
int pair_recover(const char *cert, const char *key, char *msg, size_t msglen);
/* What a command does before it connects: pair_recover (what it repaired
 * or why it failed printed on stderr after "WHO: "), then devc_init of c
 * with the pair. 0, or -1 (the identity is unusable; c needs devc_free). */
int pair_connect(devc *c, const char *server, const char *cert, const char *key, const char *ca,
                 const char *who);
/* Writes KEY.new and CERT.new; 0 or -1. */
int pair_stage(const char *cert, const char *key, X509 *new_cert, EVP_PKEY *new_key);
/* Keeps the current pair as .prev and puts the staged one in place. */
int pair_commit(const char *cert, const char *key);
/* The new pair works: the previous one is dropped. */
int pair_confirm(const char *cert, const char *key);
/* 1 if a previous pair is kept (the current one is not yet confirmed). */
int pair_has_prev(const char *cert, const char *key);
/* Puts the previous pair back (the server refused the new one); 0 or -1. */
int pair_rollback(const char *cert, const char *key);

#endif
