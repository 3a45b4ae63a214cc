/*
 * keygen.h - `vigil-device keygen`: the device's own key and its CSR.
 */
#ifndef VIGIL_DEVICE_KEYGEN_H
#define VIGIL_DEVICE_KEYGEN_H

/* Writes OUT_DIR/ID.key (0600) and OUT_DIR/ID.csr; returns an exit code. */
int keygen_command(const char *id, const char *out_dir, const char *key_type);

#endif
