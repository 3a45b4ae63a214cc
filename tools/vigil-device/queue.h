/*
 * queue.h - vigil-device's on-disk queue of reports not yet acknowledged.
 *
 * One file per report (DIR/<id>.json), written atomically (temporary file,
 * fsync, rename, fsync of the directory), so a crash or power cut leaves
 * each report either whole in the queue or not there. A report leaves the
 * queue only when the server answered stored or duplicate for its id;
 * rejected ones move to DIR/rejected/ with the reason beside them.
 */
#ifndef VIGIL_DEVICE_QUEUE_H
#define VIGIL_DEVICE_QUEUE_H

#include <jansson.h>
#include <stddef.h>

/* A rejected report's reason (the server's answer) is kept up to this
 * many bytes, and DIR/rejected/ keeps at most this many reports: whatever
 * a server answers, the queue's disk use is bounded. */
#define DEVQ_REASON_MAX 4096
#define DEVQ_REJECTED_MAX 128

typedef struct devq_entry {
    char id[37];
    json_t *report;
} devq_entry;

int devq_open(const char *dir);                         /* creates DIR and DIR/rejected */
int devq_put(const char *dir, const char *id, json_t *report);
/* Loads up to max entries (oldest first by mtime); caller frees with devq_free. */
int devq_load(const char *dir, size_t max, devq_entry **out, size_t *n);
void devq_free(devq_entry *entries, size_t n);
size_t devq_count(const char *dir);
int devq_remove(const char *dir, const char *id);
int devq_reject(const char *dir, const char *id, const char *reason);

#endif
