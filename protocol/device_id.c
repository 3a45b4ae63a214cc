/*
 * device_id.c - the device id rule (see device_id.h).
 */
#include "protocol/device_id.h"

#include <string.h>

/* ASCII only: isalnum() would follow the locale. */
static int id_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

int device_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > DEVICE_ID_MAX || !id_char((unsigned char)id[0]) || strchr("._-", id[0]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!id_char((unsigned char)id[i]))
            return 0;
    return 1;
}
