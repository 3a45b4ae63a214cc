/*
 * cliopt.c - getopt_long with exact option names (see cliopt.h).
 */
#include "protocol/cliopt.h"

#include <stddef.h>
#include <string.h>

int cliopt_getopt_long(int argc, char *const argv[], const char *optstring,
                       const struct option *longopts, const char **at)
{
    int idx = -1;
    int c = getopt_long(argc, argv, optstring, longopts, &idx);
    *at = NULL;
    if (c == -1)
        return c;
    /* What getopt consumed ends at optind - 1 (even when it permutes):
     * the option, or its separate value with the option before it. */
    if (optind >= 1 && optind <= argc) {
        const char *last = argv[optind - 1];
        *at = optarg && optarg == last && optind >= 2 ? argv[optind - 2] : last;
    }
    if (c == '?' || c == ':' || idx < 0 || !*at || strncmp(*at, "--", 2) != 0)
        return c;
    size_t typed = strcspn(*at + 2, "=");
    if (strlen(longopts[idx].name) != typed || strncmp(longopts[idx].name, *at + 2, typed) != 0) {
        optopt = 0;
        return '?'; /* a prefix of the name is not the name */
    }
    return c;
}
