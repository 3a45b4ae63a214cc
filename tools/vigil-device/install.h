/*
 * install.h - what the stub does for "install": the verified artifact
 * becomes DIR/firmware.bin atomically (a rename of the verified part, or a
 * synced copy and a rename when DIR is on another file system), so DIR
 * holds the old image or the new one, whole. A real device would write
 * its inactive slot here and switch to it.
 *
 * Test hook: VIGIL_DEVICE_INSTALL_FAIL=REASON makes every install fail
 * with REASON (reported to the server as the failure's reason).
 */
#ifndef VIGIL_DEVICE_INSTALL_H
#define VIGIL_DEVICE_INSTALL_H

#include <stddef.h>

#define INSTALL_FILE "firmware.bin"

/* Moves the file part into dir (created 0755 when missing) as
 * INSTALL_FILE; 0, or -1 with why. */
int install_artifact(const char *part, const char *dir, char *why, size_t why_len);

#endif
