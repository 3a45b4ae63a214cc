/*
 * track.h - what the process knows about its live device connections
 * across workers: how many come from each IP address (the per-address
 * limit) and from which addresses each certificate is connected (one
 * certificate in use from two addresses at once is a security event).
 * One mutex; touched once per connection open and close, never per request.
 */
#ifndef VIGIL_TRACK_H
#define VIGIL_TRACK_H

#include <stdint.h>

#define TRACK_ADDR_MAX 46

/* 1 and counted if addr has fewer than limit connections, else 0. */
int track_addr_acquire(const char *addr, int64_t limit);
void track_addr_release(const char *addr);

/* Counts a live connection of certificate fp from addr. Returns 1 when the
 * certificate is live from another address too (copied to other). */
int track_cert_acquire(const uint8_t fp[32], const char *addr, char other[TRACK_ADDR_MAX]);
void track_cert_release(const uint8_t fp[32], const char *addr);

void track_shutdown(void);

#endif
