/*
 * rollout.h - which devices a staged rollout reaches. A device is in a
 * rollout at p basis points (0..10000) when its bucket is below p, so
 * widening a rollout only adds devices and never drops one. The SQL
 * function vigil_rollout_bucket (db/migrations/0006_updates.sql) is the
 * same computation, for the operator's counts. Operators give the share
 * as a percent with up to two decimals: one basis point is 0.01 %.
 */
#ifndef VIGIL_ROLLOUT_H
#define VIGIL_ROLLOUT_H

#include <stdint.h>

#define ROLLOUT_BASIS_POINTS 10000

/* The bucket 0..9999 of a device in a rollout: the first four bytes of
 * SHA-256("<rollout id>:<device id>") as a big-endian number, modulo
 * 10000. -1 if device_id is too long. */
int rollout_bucket(int64_t rollout_id, const char *device_id);

/* 1 if the device is in a rollout at basis_points. */
int rollout_includes(int64_t rollout_id, const char *device_id, int basis_points);

/* A percent as an operator writes it ("10", "2.5", "0.01", "100", an
 * optional trailing "%"): at most two decimals, 0.01 to 100. 0 and the
 * basis points (1..10000) in *basis_points, or -1. */
int rollout_percent_parse(const char *text, int *basis_points);

/* Basis points as the shortest percent that reads back the same ("10",
 * "2.5", "0.01"); -1 (and "") when out of 0..10000. */
#define ROLLOUT_PERCENT_LEN 8
int rollout_percent_format(int basis_points, char out[ROLLOUT_PERCENT_LEN]);

#endif
