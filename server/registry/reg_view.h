/*
 * reg_view.h - vigild's in-memory view of the device registry: for every
 * certificate it has seen, whether it may authenticate, and for every
 * device, its status, its last network and its request budget.
 *
 * Authentication decisions are made here, not by a query per handshake,
 * and so are update decisions (GET /v1/update): each device's class, tags
 * and status, and the rollout whose offer this process has recorded.
 * The view is loaded once, kept current by the NOTIFYs on channel
 * vigil_registry (reg_sync.c), and filled on a miss by the worker that
 * saw an unknown certificate (a certificate issued a moment ago on another
 * node). Shared by all worker threads under a read-write lock.
 *
 * Ordering rule that makes the miss path safe: a miss result is only
 * inserted when the fingerprint is absent, and a revocation for an absent
 * fingerprint inserts a revoked entry, so a NOTIFY that overtakes a lookup
 * is never undone by it.
 */
#ifndef VIGIL_REG_VIEW_H
#define VIGIL_REG_VIEW_H

#include <stdint.h>
#include <time.h>

#include "protocol/device_id.h"

#define REG_FP_LEN 32
#define REG_ID_MAX DEVICE_ID_MAX

typedef enum reg_verdict {
    REG_OK = 0,
    REG_MISS,             /* unknown here: ask the database */
    REG_REVOKED,
    REG_UNREGISTERED,     /* signed by our CA but not in the registry */
    REG_EXPIRED,
    REG_DECOMMISSIONED,
} reg_verdict;

typedef enum reg_device_status { REG_DEV_ACTIVE = 0, REG_DEV_QUARANTINED, REG_DEV_DECOMMISSIONED } reg_device_status;

typedef struct reg_answer {
    reg_verdict verdict;
    char device_id[REG_ID_MAX + 1];
    reg_device_status device_status;
} reg_answer;

int reg_view_init(void);
void reg_view_shutdown(void);

const char *reg_view_verdict_name(reg_verdict v); /* "revoked", ... */
int reg_view_device_status_parse(const char *s, reg_device_status *out);

reg_answer reg_view_lookup(const uint8_t fp[REG_FP_LEN], time_t now);

/* What the database said about one certificate (miss path, or loading).
 * status_active: the certificate row is 'active'. found = 0: no such row. */
typedef struct reg_cert_row {
    int found;
    const char *device_id;
    int cert_active;
    time_t not_after;
    const char *device_status;   /* "active" | "quarantined" | "decommissioned" */
    const char *last_address;    /* may be NULL */
    const char *device_class;    /* may be NULL (unknown) */
    const char *tags;            /* REG_TAGS form ("\na\nb\n"); NULL: none */
} reg_cert_row;

/* Inserts unless present (see the ordering rule above). */
void reg_view_learn(const uint8_t fp[REG_FP_LEN], const reg_cert_row *row);
/* Replaces everything (a full reload after the LISTEN connection was lost):
 * call reg_view_load_begin, reg_view_load_row for each row, reg_view_load_commit. */
void reg_view_load_begin(void);
void reg_view_load_row(const uint8_t fp[REG_FP_LEN], const reg_cert_row *row);
void reg_view_load_commit(void);

/* Applied from NOTIFYs. */
void reg_view_revoke(const uint8_t fp[REG_FP_LEN], const char *device_id);
void reg_view_set_device_status(const char *device_id, reg_device_status status);

/* A device's tags as the view keeps them: each tag framed by newlines
 * ("\nlab\nbeta\n"), so a membership test is one strstr; at most
 * REG_TAGS_MAX tags, each a device-id-like word (DEVICE_ID_RULE). */
#define REG_TAGS_MAX 32

/* Applied from the NOTIFY {"event":"device_tags","device_id":..,"tags":[..]}:
 * replaces the device's tags (words that break the rule are skipped). */
void reg_view_set_device_tags(const char *device_id, const char *const *tags, size_t n);

/* What an update decision needs to know about a device. */
typedef struct reg_device_facts {
    reg_device_status status;
    char device_class[REG_ID_MAX + 1]; /* "" when unknown */
    int in_group;                      /* has the tag asked about (1 if none was) */
    int64_t offered_rollout;           /* the rollout whose offer this process last
                                          recorded for the device, 0 if none */
} reg_device_facts;

/* 0 and *out filled, or -1 when the device is not in the view. tag may be
 * NULL (no group). */
int reg_view_device_facts(const char *device_id, const char *tag, reg_device_facts *out);

/* The tag a device of device_class is asked about (its rollout's group),
 * or NULL for none. Called under the view's lock: it may not call into
 * the view. */
typedef const char *reg_view_group_fn(const char *device_class, const void *arg);

/* reg_view_device_facts with the tag group(device class, arg) names, in
 * one read of the device's record: for a decision whose group depends on
 * the device's class. */
int reg_view_device_facts_group(const char *device_id, reg_view_group_fn *group, const void *arg,
                                reg_device_facts *out);
/* vigil_update_offered(rollout_id, device) has committed: the next answers
 * for this rollout come from memory. */
void reg_view_note_offered(const char *device_id, int64_t rollout_id);

/* Artifact downloads a device has in progress, on every worker: 1 (and
 * one more counted) when fewer than max are, 0 otherwise or when the
 * device is not in the view. Each 1 is given back with download_end. A
 * full reload starts the counts again at 0 (a device may then hold up to
 * max more until its earlier downloads end). */
int reg_view_download_begin(const char *device_id, int max);
void reg_view_download_end(const char *device_id);

/* Request budget (GCRA): 1 if the device may make one more request now. */
int reg_view_allow_request(const char *device_id, int64_t now_ns, int64_t rate_per_s,
                           int64_t burst);

/* Remembers the network (/24 or /48 of addr, text) the device is seen
 * from; returns 1 when it differs from a known previous one. */
int reg_view_note_network(const char *device_id, const char *network);

/* 1 when the device's last-seen time is due to be written again (at most
 * once a minute per device per process): a fleet reconnecting in a storm
 * must not become a storm of UPDATEs. */
int reg_view_touch_due(const char *device_id, int64_t now_s);

/* 1 when firmware_hash differs from the one this process last noted for the
 * device (and notes it): the device's firmware version is written only when
 * it changes, not with every report. 0 for a device not in the view. */
int reg_view_firmware_changed(const char *device_id, uint64_t firmware_hash);

/* What was noted for the device could not be written (reg_touch.c): its
 * next connection is due and its next firmware counts as a change. */
void reg_view_forget_touch(const char *device_id);

size_t reg_view_count(void);

#endif
