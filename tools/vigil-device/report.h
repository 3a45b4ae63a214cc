/*
 * report.h - the reports of `vigil-device report`: built from the command
 * line's fields (or read from --file) and checked whole before any is
 * queued, so that a bad value queues nothing and is quoted back.
 */
#ifndef VIGIL_DEVICE_REPORT_H
#define VIGIL_DEVICE_REPORT_H

#include "tools/vigil-device/cli.h"

#include <jansson.h>
#include <stddef.h>

/* The reports o asks for, as a JSON array, each with its id: --count
 * copies of the report the field options describe (checked as the server
 * checks a report: a bad field says which option and quotes its value), or
 * those of --file (objects with a UUID id or none). NULL with err. */
json_t *report_build(const devcli_opts *o, char *err, size_t errlen);

/* Queues every report of the array in dir; 0, or -1 with err. */
int report_queue(const char *dir, json_t *reports, char *err, size_t errlen);

#endif
