/*
 * incident.h - the incident report, the one wire format devices send
 * (POST /v1/incidents): parsing and validation for the server, building
 * blocks (ids, times) for the device stub.
 *
 * A request body is one report object or an array of 1..max_items of them
 * (the server's --max-batch; the body's size is bounded where it is read).
 * Whole-body problems (not JSON, wrong type, empty, too many) refuse the
 * whole body; a problem in one report only refuses that report,
 * with a reason that names the field, so a device knows which of its
 * reports will never be accepted and why.
 */
#ifndef VIGIL_INCIDENT_H
#define VIGIL_INCIDENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define INCIDENT_DETAILS_MAX 4096
#define INCIDENT_DETAILS_DEPTH 8
#define INCIDENT_TEXT_MAX 64

typedef struct incident {
    char id[37];                       /* canonical lowercase UUID */
    char type[64];
    char severity[9];
    int64_t occurred_at_us;            /* since the epoch, UTC */
    char firmware_version[INCIDENT_TEXT_MAX + 1];   /* "" when absent */
    char component[INCIDENT_TEXT_MAX + 1];
    char *details;                     /* compact JSON object, malloc'd */
} incident;

typedef struct incident_item {
    int ok;
    incident report;                   /* valid when ok */
    char id[37];                       /* the report's id if it had a valid one, else "" */
    char reason[200];                  /* why it was rejected */
} incident_item;

typedef struct incident_batch {
    incident_item *items;
    size_t n;
    int was_array;
} incident_batch;

/* Whole-body refusals of incident_batch_parse. */
#define INCIDENT_REFUSED (-1)  /* not JSON, not a report or an array, empty */
#define INCIDENT_TOO_MANY (-2) /* more than max_items reports */

/* 0 with out filled (items may individually be rejected), or
 * INCIDENT_REFUSED / INCIDENT_TOO_MANY with reason when the whole body is
 * refused. now_us bounds occurred_at. */
int incident_batch_parse(const char *body, size_t len, size_t max_items, int64_t now_us,
                         incident_batch *out, char *reason, size_t reason_len);
void incident_batch_free(incident_batch *b);

/* Validates one report object. 0 or -1 with reason. */
int incident_validate(json_t *obj, int64_t now_us, incident *out, char *reason, size_t len);
void incident_clear(incident *r);

/* A UUID as text (8-4-4-4-12 hex digits, either case) in its canonical
 * lowercase form: 0, or -1 when text is not one. */
int incident_uuid_canonical(const char *text, char out[37]);
/* A random (version 4) UUID, lowercase. */
int incident_uuid_v4(char out[37]);
/* "2026-11-25T10:00:00.123456Z" */
int incident_format_time(int64_t us, char out[32]);
/* RFC 3339 (seconds required, optional fraction, Z or +hh:mm) to us. */
int incident_parse_time(const char *text, int64_t *us);

#endif
