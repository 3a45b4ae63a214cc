/*
 * fwstate.h - what `vigil-device update` keeps about the installed
 * release: the device class (fixed at first use), the installed version
 * and its security version (the anti-rollback floor: a manifest below it
 * is refused). One JSON file, DIR/state.json, replaced atomically (a
 * temporary file, fsync, rename, fsync of the directory), so a power cut
 * leaves the old state or the new one, never a floor of zero.
 */
#ifndef VIGIL_DEVICE_FWSTATE_H
#define VIGIL_DEVICE_FWSTATE_H

#include "protocol/device_id.h"
#include "protocol/manifest.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fwstate {
    char device_class[DEVICE_ID_MAX + 1];   /* "" before first use */
    char version[MANIFEST_VERSION_MAX + 1]; /* "" while unknown */
    int64_t security_version;               /* 0 while nothing was installed */
} fwstate;

/* Creates dir (0700) when missing and reads its state: 0 (a missing file
 * is an empty state), -1 when the file is unreadable or wrong (why says
 * why; the caller must not guess a floor). */
int fwstate_load(const char *dir, fwstate *s, char *why, size_t why_len);
/* Replaces the state file atomically and durably; 0 or -1. */
int fwstate_save(const char *dir, const fwstate *s);

#endif
