/*
 * cliopt.h - getopt_long without abbreviations, for every program's
 * command line (vigild's config is parsed elsewhere, and takes no prefixes
 * either).
 *
 * glibc's getopt_long takes a unique prefix of a long option's name as the
 * option itself, so `--sever localhost:8443` silently becomes --severity.
 * A typo must be an error that names what was typed.
 */
#ifndef VIGIL_CLIOPT_H
#define VIGIL_CLIOPT_H

#include <getopt.h>

/* getopt_long, except that an option given by a prefix of its name is '?'
 * (unknown) like any other unknown option. *at is the argument the option
 * was read from, as typed ("--sever=x"), for the error message; NULL at
 * the end. optstring and permutation are getopt_long's. */
int cliopt_getopt_long(int argc, char *const argv[], const char *optstring,
                       const struct option *longopts, const char **at);

#endif
