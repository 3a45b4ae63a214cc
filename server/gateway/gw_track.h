/*
 * gw_track.h - what the process knows about its live device connections
 * across workers: how many come from each IP address (the per-address
 * limit) and from which addresses each certificate is connected (one
 * certificate in use from two addresses at once is a security event).
 * One mutex; touched once per connection open and close, never per request.
 */
#ifndef VIGIL_GW_TRACK_H
#define VIGIL_GW_TRACK_H

#include <stdint.h>

#include "server/core/addr.h"

#define GW_TRACK_ADDR_MAX ADDR_TEXT_MAX

/* 1 and counted if addr has fewer than limit connections, else 0. */
int gw_track_addr_acquire(const char *addr, int64_t limit);
void gw_track_addr_release(const char *addr);

/* Counts a live connection of certificate fp from addr. Returns 1 when the
 * certificate is live from another address too (copied to other). */
int gw_track_cert_acquire(const uint8_t fp[32], const char *addr, char other[GW_TRACK_ADDR_MAX]);
void gw_track_cert_release(const uint8_t fp[32], const char *addr);

void gw_track_shutdown(void);

#endif
