/*
 * cliopt.c - getopt_long with exact option names (see cliopt.h).
 */
#include "protocol/cliopt.h"

#include <stddef.h>
#include <string.h>

/* Whether typed ("--name" or "--name=value") is longopts' idx-th option
 * by its whole name; idx < 0: any of them. */
static int exact_name(const struct option *longopts, int idx, const char *typed)
{
    size_t n = strcspn(typed + 2, "=");
    for (int i = idx < 0 ? 0 : idx; longopts[i].name && (idx < 0 || i == idx); i++)
        if (strlen(longopts[i].name) == n && strncmp(longopts[i].name, typed + 2, n) == 0)
            return 1;
    return 0;
}

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
    if (c == '?' || !*at || strncmp(*at, "--", 2) != 0)
        return c;
    /* A missing value is reported without the option's index: the name
     * typed must still be one of them, or it is unknown. */
    if (c == ':' ? exact_name(longopts, -1, *at) : idx < 0 || exact_name(longopts, idx, *at))
        return c;
    optopt = 0;
    return '?'; /* a prefix of the name is not the name */
}
