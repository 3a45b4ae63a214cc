/*
 * device_id.h - the device id, the one name a device has everywhere: its
 * certificate's CN and SAN URI (urn:vigil:device:<id>), the registry's
 * key, a path segment of the operator API. 1 to 64 characters of
 * A-Z a-z 0-9 . _ - starting with a letter or digit, so that it is safe in
 * a file name, a URL, a log line and a shell word without quoting.
 */
#ifndef VIGIL_DEVICE_ID_H
#define VIGIL_DEVICE_ID_H

#define DEVICE_ID_MAX 64
/* The rule in words, for messages that refuse an id. */
#define DEVICE_ID_RULE "1-64 characters A-Z a-z 0-9 . _ - starting with a letter or digit"

/* 1 if id is a valid device id, 0 if not (or NULL). */
int device_id_valid(const char *id);

#endif
